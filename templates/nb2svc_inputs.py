# Written by nb2svc @nb2svc_version@: part of the service's runtime (see README.md).
"""A model's inputs in the notebook's own data: recorded as the notebook trains,
replayed by the service's prediction routes.

A student's notebook reads a CSV, label-encodes `island`, one-hot encodes `sex` with
`pd.get_dummies`, scales the measurements, and fits a model on what is left. The model
then wants encoded floats; a person calling the service has `"island": "Biscoe"`. This
module closes that gap without re-implementing the notebook's preprocessing.

While the notebook trains, it watches:

- every frame pandas reads (`read_csv` and the other readers): a copy of it, the raw
  data, with the cell that read it;
- every fit and transform of a scikit-learn style estimator (also xgboost, lightgbm,
  catboost and imbalanced-learn): which object was fitted on which named columns, and
  which array each transform returned, from what;
- `train_test_split` on arrays, so that rows stay known after a split;
- new columns the notebook's code assigns (`X["ratio"] = X["a"] / X["b"]`), with the
  statement's source.

When a model is fitted, the frame it was given is matched against the raw data by index:
each of its columns is found to be a raw column as it was, a raw column scaled
(`a * x + b`, which is what every scikit-learn scaler does to one column), a function of
one raw category (label, ordinal and one-hot encodings, `get_dummies`, `map`,
`replace`), or the value of a statement the notebook wrote, evaluated again. Every rule
is checked on every training row before it is used, so a route replays only what
reproduces the notebook's own features exactly. Arrays a transformer made are replayed
with a copy of that fitted transformer, taken when it ran. The target is matched the
same way, so that an answer is the notebook's label (`"Adelie"`), not its code (`0`).

Matching by name and value is a heuristic: a column renamed, or rows re-indexed with
`reset_index`, cannot be traced; the recipe then says why, and the route takes the
model's own features. nb2svc ships this module with the services that serve the models
their notebook saves as it trains.
"""

from __future__ import annotations

import ast
import copy
import functools
import linecache
import logging
import math
import threading
import weakref
from collections.abc import Callable
from typing import Any

NB2SVC_VERSION = "@nb2svc_version@"
log = logging.getLogger("nb2svc")

RECIPE_VERSION = 1
# pandas functions that read data from outside the process.
_READERS = (
    "read_csv",
    "read_table",
    "read_fwf",
    "read_excel",
    "read_json",
    "read_parquet",
    "read_feather",
    "read_orc",
    "read_pickle",
    "read_sql",
    "read_sql_query",
    "read_sql_table",
    "read_stata",
    "read_sas",
    "read_spss",
    "read_xml",
    "read_hdf",
)
# Packages whose estimators follow scikit-learn's fit/transform/predict.
_FITTING_PACKAGES = frozenset(
    ("sklearn", "xgboost", "lightgbm", "catboost", "imblearn")
)
_WATCHED_METHODS = ("fit", "fit_transform", "transform")
# A column with more distinct values than this is not a category a person picks.
TEXT_CATEGORIES_LIMIT = 1000
NUMBER_CATEGORIES_LIMIT = 50
# Encoders whose fitted object turns an unseen category into zeros instead of failing.
_UNKNOWN_TOLERANT = frozenset(("ignore", "infrequent_if_exist"))

_state = threading.local()
_lock = threading.RLock()
_observing = False
_locate: Callable[[], dict[str, Any]] = dict
_is_notebook_code: Callable[[str], bool] = bool
_real_file: Callable[[str], str] = str
# What training saw: raw frames, traced arrays, fitted transformers, model recipes.
_raw_frames: list[dict[str, Any]] = []
_nodes: dict[int, tuple[Any, dict[str, Any]]] = {}
_snapshots: dict[int, tuple[Any, Any]] = {}
_recipes: dict[int, tuple[Any, dict[str, Any]]] = {}
# Where each named column was fitted, encoded or assigned: the cells a route cites.
# Keyed by (column, "encoding" or "scaling"): a scaler fitted later on a frame holding
# an encoded column must not be cited as that column's encoder.
_column_fits: dict[tuple[str, str], dict[str, Any]] = {}
_assignments: dict[str, dict[str, Any]] = {}


# --- Recording, while the notebook trains -------------------------------------------


def start(
    locate: Callable[[], dict[str, Any]],
    is_notebook_code: Callable[[str], bool],
    real_file: Callable[[str], str],
) -> None:
    """Starts watching. `locate` names the notebook cell and line of the caller,
    `is_notebook_code` tells the notebook's files, `real_file` finds a code file."""
    global _observing, _locate, _is_notebook_code, _real_file
    _locate, _is_notebook_code, _real_file = locate, is_notebook_code, real_file
    _observing = True


def stop() -> None:
    """Stops watching: the service's own predictions are not the notebook's training."""
    global _observing
    _observing = False


def watches(module_name: str) -> bool:
    """Whether `module_name` has something to watch once imported."""
    root = module_name.partition(".")[0]
    return root in _FITTING_PACKAGES or module_name == "pandas"


def patch_module(name: str, module: Any) -> None:
    """Wraps what a module just imported offers: readers, estimators, splits."""
    root = name.partition(".")[0]
    if name == "pandas":
        _patch_pandas(module)
    if root not in _FITTING_PACKAGES:
        return
    if name == "sklearn.datasets":
        _patch_datasets(module)
    split = module.__dict__.get("train_test_split")
    if callable(split) and getattr(split, "__module__", "") == name:
        if not hasattr(split, "_nb2svc_real"):
            module.train_test_split = _tracing_split(split)
    for value in list(module.__dict__.values()):
        if isinstance(value, type) and value.__module__ == name:
            _patch_class(value)


def _patch_pandas(pandas: Any) -> None:
    for reader in _READERS:
        real = getattr(pandas, reader, None)
        if callable(real) and not hasattr(real, "_nb2svc_real"):
            setattr(pandas, reader, _recording_reader(real, reader))
    frame = pandas.DataFrame
    real_setitem = frame.__dict__.get("__setitem__")
    if real_setitem is not None and not hasattr(real_setitem, "_nb2svc_real"):
        frame.__setitem__ = _recording_setitem(real_setitem)
    for method in ("to_numpy",):
        real = frame.__dict__.get(method)
        if real is not None and not hasattr(real, "_nb2svc_real"):
            setattr(frame, method, _tracing_to_numpy(real))
    values = frame.__dict__.get("values")
    if isinstance(values, property) and not hasattr(values.fget, "_nb2svc_real"):
        frame.values = property(_tracing_to_numpy(values.fget))


def _patch_datasets(datasets: Any) -> None:
    """scikit-learn's bundled datasets, loaded `as_frame=True`, are raw data too."""
    for name, real in list(datasets.__dict__.items()):
        if name.startswith("load_") and callable(real):
            if not hasattr(real, "_nb2svc_real"):
                setattr(datasets, name, _recording_dataset(real, name))


def _recording_dataset(real: Any, name: str) -> Any:
    @functools.wraps(real)
    def load(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if _observing:
            _guarded(_add_dataset, result, name)
        return result

    load._nb2svc_real = real
    return load


def _add_dataset(result: Any, name: str) -> None:
    import pandas

    frame = getattr(result, "frame", None)
    if frame is None and isinstance(result, tuple) and len(result) == 2:
        data, target = result
        if isinstance(data, pandas.DataFrame) and isinstance(target, pandas.Series):
            frame = pandas.concat([data, target], axis=1)
    if isinstance(frame, pandas.DataFrame):
        _add_raw_frame(frame, name, [f"sklearn.datasets.{name}()"])


def _called_from_notebook(depth: int = 2) -> bool:
    return _is_notebook_code(_caller_file(depth + 1))


def _caller_file(depth: int) -> str:
    import sys

    try:
        return sys._getframe(depth).f_code.co_filename
    except ValueError:
        return "<unknown>"


def _recording_reader(real: Any, reader: str) -> Any:
    @functools.wraps(real)
    def read(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if _observing:
            _guarded(
                _add_raw_frame, result, reader, args[:1] or list(kwargs.values())[:1]
            )
        return result

    read._nb2svc_real = real
    return read


def _add_raw_frame(frame: Any, reader: str, source: list) -> None:
    import pandas

    if not isinstance(frame, pandas.DataFrame) or not frame.index.is_unique:
        return
    shown = str(source[0]) if source and isinstance(source[0], (str, bytes)) else reader
    with _lock:
        # A copy: the notebook goes on to change the frame it read in place.
        _raw_frames.append({"frame": frame.copy(), "source": shown, **_locate()})


def _recording_setitem(real: Any) -> Any:
    @functools.wraps(real)
    def setitem(self: Any, key: Any, value: Any) -> None:
        real(self, key, value)
        if _observing and isinstance(key, str) and _called_from_notebook():
            _guarded(_note_assignment, key, _caller_line())

    setitem._nb2svc_real = real
    return setitem


def _caller_line() -> tuple[str, int]:
    """The file and line of the code that called the function calling this one."""
    import sys

    frame = sys._getframe(2)
    return frame.f_code.co_filename, frame.f_lineno


def _note_assignment(column: str, where: tuple[str, int]) -> None:
    """Keeps the statement that assigned `column`: `name[column] = expression`."""
    statement = _assignment_at(where[0], where[1], column)
    if statement is not None:
        _assignments[column] = {**statement, **_locate()}


@functools.lru_cache(maxsize=64)
def _parsed(filename: str) -> tuple[ast.Module, str] | None:
    source = "".join(linecache.getlines(_real_file(filename)))
    try:
        return ast.parse(source), source
    except (SyntaxError, ValueError):
        return None


def _assignment_at(filename: str, line: int, column: str) -> dict[str, str] | None:
    parsed = _parsed(filename)
    if parsed is None:
        return None
    tree, source = parsed
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        if not node.lineno <= line <= (node.end_lineno or node.lineno):
            continue
        target = node.targets[0]
        if (
            isinstance(target, ast.Subscript)
            and isinstance(target.value, ast.Name)
            and isinstance(target.slice, ast.Constant)
            and target.slice.value == column
        ):
            expression = ast.get_source_segment(source, node.value)
            if expression and _row_wise(node.value):
                return {"expression": expression, "frame": target.value.id}
    return None


# Calls an expression may make and stay a function of one row: arithmetic and numpy's
# element-wise functions. A `fit`, an aggregate (`mean`, `sum`) or a lookup into other
# data would make the replayed value differ from the trained one.
_ROW_WISE_CALLS = frozenset(
    """log log1p log2 log10 exp expm1 sqrt abs absolute square power sin cos tan floor
    ceil round clip where maximum minimum sign astype fillna float int""".split()
)


def _row_wise(expression: ast.expr) -> bool:
    for node in ast.walk(expression):
        if isinstance(node, ast.Call):
            function = node.func
            name = getattr(function, "attr", None) or getattr(function, "id", None)
            if name not in _ROW_WISE_CALLS:
                return False
        elif isinstance(node, (ast.Lambda, ast.NamedExpr, ast.Await, ast.Yield)):
            return False
    return True


def _tracing_to_numpy(real: Any) -> Any:
    """`DataFrame.to_numpy` (and `.values`), remembering the frame of the array."""

    @functools.wraps(real)
    def to_numpy(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = real(self, *args, **kwargs)
        if _observing and _called_from_notebook():
            _guarded(
                _remember, result, {"kind": "frame", "frame": self, "pandas": False}
            )
        return result

    to_numpy._nb2svc_real = real
    return to_numpy


def _tracing_split(real: Any) -> Any:
    """`train_test_split`, remembering which rows of a traced array each part holds."""

    @functools.wraps(real)
    def split(*arrays: Any, **options: Any) -> Any:
        # pandas parts keep their row labels; a traced array needs its rows told.
        traced = [
            None if hasattr(array, "index") else _node_of(array)
            for array in (arrays if _observing else ())
        ]
        if all(node is None for node in traced):
            return real(*arrays, **options)
        import numpy

        *parts, train_rows, test_rows = real(
            *arrays, numpy.arange(len(arrays[0])), **options
        )
        for index, node in enumerate(traced):
            if node is not None:
                _remember(parts[2 * index], _rows_node(node, train_rows))
                _remember(parts[2 * index + 1], _rows_node(node, test_rows))
        return parts

    split._nb2svc_real = real
    return split


def _rows_node(node: dict[str, Any], positions: Any) -> dict[str, Any]:
    return {"kind": "rows", "input": node, "positions": positions}


def _patch_class(klass: type) -> None:
    import inspect

    for method in _WATCHED_METHODS:
        real = klass.__dict__.get(method)
        # Only a plain function stays a method once wrapped (not `available_if`).
        if inspect.isfunction(real) and not hasattr(real, "_nb2svc_real"):
            setattr(klass, method, _watching(real, method))


def _watching(real: Any, method: str) -> Any:
    """An estimator's method, observed when the notebook's code calls it and it is the
    outermost such call: a Pipeline's fit is one fit, not one per step, and neither the
    trees a forest fits in its threads nor the folds of `cross_val_score` are the
    notebook's."""

    @functools.wraps(real)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not _observing or getattr(_state, "depth", 0) or not _called_from_notebook():
            return real(self, *args, **kwargs)
        _state.depth = 1
        try:
            result = real(self, *args, **kwargs)
        finally:
            _state.depth = 0
        _guarded(_observe, self, method, args, kwargs, result)
        return result

    call._nb2svc_real = real
    return call


def _guarded(function: Callable[..., Any], *args: Any) -> None:
    """Watching must never fail the notebook's own code."""
    try:
        function(*args)
    except Exception:
        log.debug("nb2svc: could not trace %s", function.__name__, exc_info=True)


def _predicts(estimator: Any) -> bool:
    try:
        return callable(getattr(estimator, "predict", None))
    except Exception:
        return False


def _observe(
    estimator: Any, method: str, args: tuple, kwargs: dict, result: Any
) -> None:
    data = args[0] if args else kwargs.get("X", kwargs.get("y"))
    if method == "fit" and _predicts(estimator):
        target = args[1] if len(args) > 1 else kwargs.get("y")
        recipe = _recipe(estimator, data, target)
        with _lock:
            _recipes[id(estimator)] = (estimator, recipe)
            best = getattr(estimator, "best_estimator_", None)
            if best is not None:  # a search saves its best estimator, not itself
                _recipes[id(best)] = (best, recipe)
        return
    if method in ("fit", "fit_transform"):
        with _lock:
            _snapshots[id(estimator)] = (estimator, _snapshot(estimator))
        _note_fit(estimator, data)
    if method in ("fit_transform", "transform") and data is not None:
        held = _snapshots.get(id(estimator))
        fitted = held[1] if held and held[0] is estimator else _snapshot(estimator)
        node = {
            "kind": "transformed",
            "transformer": fitted,
            "type": type(estimator).__name__,
            "input": _node_of(data),
            **_locate(),
        }
        _remember(result, node)


def _snapshot(estimator: Any) -> Any:
    """A copy as fitted now: notebooks refit one encoder on column after column."""
    try:
        return copy.deepcopy(estimator)
    except Exception:
        return estimator


def _note_fit(estimator: Any, data: Any) -> None:
    names = _column_names(data)
    fit = {"type": type(estimator).__name__, **_locate()}
    unknown = getattr(estimator, "handle_unknown", None)
    if unknown in _UNKNOWN_TOLERANT:
        fit["unknown"] = "ignored"
    learnt = ("classes_", "categories_")
    kind = "encoding" if any(hasattr(estimator, a) for a in learnt) else "scaling"
    with _lock:
        for name in names:
            _column_fits[(name, kind)] = fit


def _column_names(data: Any) -> list[str]:
    name = getattr(data, "name", None)
    if isinstance(name, str) and getattr(data, "ndim", 0) == 1:
        return [name]
    columns = getattr(data, "columns", None)
    return [c for c in columns if isinstance(c, str)] if columns is not None else []


def _remember(result: Any, node: dict[str, Any]) -> None:
    key = id(result)
    try:
        held: Any = weakref.ref(result, lambda _ref: _nodes.pop(key, None))
    except TypeError:
        held = result  # a list or tuple: kept alive, so that its id stays its own
    with _lock:
        _nodes[key] = (held, node)


def _node_of(data: Any) -> dict[str, Any] | None:
    """How `data` came to be, as far as it was watched."""
    with _lock:
        held = _nodes.get(id(data))
    if held is not None:
        target = held[0]() if isinstance(held[0], weakref.ref) else held[0]
        if target is data:
            return held[1]
    if hasattr(data, "index") and hasattr(data, "ndim"):
        return {"kind": "frame", "frame": data, "pandas": True}
    return None


def recipe_for(obj: Any) -> dict[str, Any] | None:
    """The recipe recorded when `obj` was fitted, if it was fitted in this process."""
    with _lock:
        held = _recipes.get(id(obj))
    return held[1] if held is not None and held[0] is obj else None


# --- From a fitted model back to the raw data ---------------------------------------


class _Untraceable(Exception):
    """Why a model's inputs cannot be replayed from the raw data."""


def _recipe(model: Any, data: Any, target: Any) -> dict[str, Any]:
    try:
        node = _node_of(data)
        if node is None:
            raise _Untraceable(
                "the model was fitted on an array that nb2svc cannot trace back to a "
                "frame the notebook read"
            )
        chain, bottom, positions = _unwind(node)
        frame = _resolve_frame(bottom["frame"])
        rows = frame.pop("rows")
        if positions is not None:
            rows = rows[positions]
        raw = frame.pop("raw_frame")
        recipe = {
            "version": RECIPE_VERSION,
            "replayable": True,
            **frame,
            "pandas": bottom.get("pandas", True),
            "transformers": chain,
            "target": _target(model, raw, rows, target, frame["columns"]),
        }
        recipe["example"] = _example(raw, rows, recipe["columns"])
        return recipe
    except _Untraceable as why:
        return {"version": RECIPE_VERSION, "replayable": False, "reason": str(why)}


def _unwind(node: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any], Any]:
    """The transformers from the bottom frame up, the frame, and the rows kept."""
    chain: list[dict[str, Any]] = []
    positions = None
    while node["kind"] != "frame":
        if node["kind"] == "rows":
            kept = node["positions"]
            positions = kept if positions is None else kept[positions]
        elif node["kind"] == "transformed":
            step = {k: node.get(k) for k in ("type", "cell", "cell_id", "line")}
            chain.insert(0, {**step, "object": node["transformer"]})
        if node.get("input") is None:
            raise _Untraceable(
                f"{node.get('type', 'a transformer')} was applied to an array nb2svc "
                "cannot trace back to a frame the notebook read"
            )
        node = node["input"]
    return chain, node, positions


def _resolve_frame(data: Any) -> dict[str, Any]:
    """Each column of `data` as a step from one raw column, checked on every row."""
    import pandas

    frame = data.to_frame() if isinstance(data, pandas.Series) else data
    if not isinstance(frame, pandas.DataFrame):
        raise _Untraceable("the model's input is not a pandas frame")
    if not frame.index.is_unique:
        raise _Untraceable("the model's input has repeated row labels")
    best: tuple[int, dict[str, Any], list[str]] | None = None
    with _lock:
        raws = list(reversed(_raw_frames))
    for raw in raws:
        for aligned in _alignments(frame, raw["frame"]):
            features, missing = _resolve_columns(aligned, raw["frame"])
            if best is None or len(features) > best[0]:
                found = {"raw": raw, "features": features, "frame": aligned}
                best = (len(features), found, missing)
            if not missing:
                break
        if best is not None and not best[2]:
            break
    if best is None:
        raise _Untraceable(
            "no frame the notebook read with pandas holds the rows the model was "
            "fitted on"
        )
    _found, found, missing = best
    if missing:
        raise _Untraceable(
            f"the model's input column(s) {', '.join(missing[:5])} are neither columns "
            f"of {found['raw']['source']} (read in {_where(found['raw'])}) nor a "
            "function of one of them that nb2svc could verify"
        )
    raw, aligned = found["raw"], found["frame"]
    common = aligned.index.intersection(raw["frame"].index, sort=False)
    return {
        "source": {k: raw.get(k) for k in ("source", "cell", "cell_id", "line")},
        "features": found["features"],
        "columns": _request_columns(raw["frame"], found["features"], common),
        "rows": aligned.index.to_numpy(),
        "raw_frame": raw["frame"],
    }


def _resolve_columns(frame: Any, source: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The steps found for `frame`'s columns from the raw rows of the same labels, and
    the columns that have none."""
    common = frame.index.intersection(source.index, sort=False)
    trained, original = frame.loc[common], source.loc[common]
    features: list[dict[str, Any]] = []
    missing: list[str] = []
    for column in frame.columns:
        step = _resolve_column(column, trained, original, features)
        if step is None:
            missing.append(str(column))
        else:
            features.append(step)
    return features, missing


def _alignments(frame: Any, source: Any):
    """`frame` with row labels of the raw `source`: its own labels, when most are raw
    ones; then, for a frame shuffled or re-indexed (`reset_index`), the labels of the
    raw rows with the same values in the columns that kept them."""
    common = frame.index.intersection(source.index, sort=False)
    if len(common) >= max(1, len(frame.index) // 2):
        yield frame
    relabeled = _matched_by_values(frame, source)
    if relabeled is not None:
        yield relabeled


def _matched_by_values(frame: Any, source: Any) -> Any:
    """A heuristic: rows found again by their values in the columns that still hold
    raw values (the same name, and only values the raw column has)."""
    import pandas

    kept = []
    for column in frame.columns:
        if not isinstance(column, str) or column not in source.columns:
            continue
        try:
            seen = set(source[column].dropna().unique())
            if set(frame[column].dropna().unique()) <= seen:
                kept.append(column)
        except TypeError:
            continue
    if not kept:
        return None
    keys = source[kept].drop_duplicates(keep=False)
    labels = pandas.Series(keys.index, index=pandas.MultiIndex.from_frame(keys))
    wanted = pandas.MultiIndex.from_frame(frame[kept])
    found = labels.reindex(wanted)
    matched = found.notna().to_numpy()
    if matched.mean() < 0.9:
        return None
    # Rows not found keep a label no raw row has: positions must stay the model's.
    labels = [
        label if hit else f"nb2svc-unmatched-{position}"
        for position, (label, hit) in enumerate(zip(found.to_numpy(), matched))  # noqa: B905 - equal lengths; strict= needs 3.10
    ]
    if matched.all():
        labels = pandas.Index(labels).astype(source.index.dtype)
    relabeled = frame.copy()
    relabeled.index = pandas.Index(labels)
    return relabeled if relabeled.index.is_unique else None


def _resolve_column(
    column: Any, trained: Any, original: Any, done: list[dict[str, Any]]
) -> dict[str, Any] | None:
    if not isinstance(column, str):
        return None
    values = trained[column]
    if column in original.columns:
        step = _same_column(column, values, original[column])
        if step is not None:
            return step
    # A one-hot column is named after its source: island_Dream, sex=MALE.
    prefixed = [
        name
        for name in original.columns
        if isinstance(name, str)
        and len(column) > len(name)
        and column.startswith(name)
        and not column[len(name)].isalnum()
    ]
    for name in sorted(prefixed, key=len, reverse=True):
        step = _lookup(name, column, values, original[name])
        if step is not None:
            return step
    return _expression(column, values, original, done)


def _same_column(column: str, values: Any, raw: Any) -> dict[str, Any] | None:
    from pandas.api import types

    step = {"name": column, "from": column}
    if _equal(values, raw):
        return {**step, "step": "passthrough"}
    numeric = types.is_numeric_dtype(raw) and not types.is_bool_dtype(raw)
    if numeric and types.is_numeric_dtype(values):
        scale = _affine(raw, values)
        if scale is not None:
            fit = _column_fits.get((column, "scaling"), {})
            return {**step, "step": "scale", "scale": scale, **_cited(fit)}
    return _lookup(column, column, values, raw)


def _equal(values: Any, raw: Any) -> bool:
    import numpy
    from pandas.api import types

    if len(values) != len(raw):
        return False
    if types.is_numeric_dtype(values) and types.is_numeric_dtype(raw):
        try:
            left = values.to_numpy(dtype=float)
            right = raw.to_numpy(dtype=float)
        except (TypeError, ValueError):
            return False
        return bool(numpy.allclose(left, right, rtol=1e-9, atol=1e-12, equal_nan=True))
    both_missing = values.isna().to_numpy() & raw.isna().to_numpy()
    same = values.astype(object).to_numpy() == raw.astype(object).to_numpy()
    return bool((same | both_missing).all())


def _affine(raw: Any, values: Any) -> list[float] | None:
    """[a, b] with values = a * raw + b on every row where both are known."""
    import numpy

    known = (raw.notna() & values.notna()).to_numpy()
    x = raw.to_numpy(dtype=float)[known]
    y = values.to_numpy(dtype=float)[known]
    if len(x) < 2 or x.max() == x.min():
        return None
    low, high = int(x.argmin()), int(x.argmax())
    a = (y[high] - y[low]) / (x[high] - x[low])
    b = y[low] - a * x[low]
    tolerance = 1e-9 * max(1.0, float(numpy.abs(y).max()))
    if not numpy.allclose(a * x + b, y, rtol=1e-7, atol=tolerance):
        return None
    return [float(a), float(b)]


def _lookup(source: str, column: str, values: Any, raw: Any) -> dict[str, Any] | None:
    """The column as a function of one raw column's categories, if it is one."""
    import pandas
    from pandas.api import types

    known = raw.notna().to_numpy()
    limit = (
        NUMBER_CATEGORIES_LIMIT
        if types.is_numeric_dtype(raw) and not types.is_bool_dtype(raw)
        else TEXT_CATEGORIES_LIMIT
    )
    pairs = pandas.DataFrame(
        {"raw": raw.to_numpy()[known], "value": values.to_numpy()[known]}
    )
    if pairs.empty or pairs["raw"].nunique() > limit:
        return None
    try:
        per_category = pairs.groupby("raw", sort=False)["value"].nunique(dropna=False)
    except TypeError:  # categories that cannot be compared with each other
        return None
    if (per_category > 1).any():
        return None
    table = pairs.drop_duplicates("raw")
    entries = [
        [_native(key), _native(value)]
        for key, value in zip(table["raw"], table["value"])  # noqa: B905 - equal lengths; strict= needs 3.10
    ]
    entries.sort(key=lambda entry: str(entry[0]))
    step: dict[str, Any] = {
        "name": column,
        "from": source,
        "step": "lookup",
        "table": entries,
    }
    fit = (
        _column_fits.get((source, "encoding"))
        or _column_fits.get((column, "encoding"))
        or {}
    )
    step.update(_cited(fit))
    if fit.get("unknown") == "ignored" and column != source:
        # One-hot with unknowns ignored: an unseen category is "not island_Dream", the
        # value every other category has.
        named = column[len(source) + 1 :]
        others = {str(value) for key, value in entries if str(key) != named}
        if len(others) == 1 and len(entries) > 1:
            step["unknown"] = next(v for k, v in entries if str(k) != named)
    return step


def _expression(
    column: str, values: Any, original: Any, done: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """A column the notebook computed with `frame[column] = expression`, if evaluating
    that expression again, on the raw columns and the features found so far, gives the
    same values on every row, and on single rows too."""
    statement = _assignments.get(column)
    if statement is None:
        return None
    scope = _replay_scope()
    frame = _features_frame(original, done)
    try:
        whole = _evaluate(statement, frame, scope)
        if not _equal_values(whole, values):
            return None
        for position in (0, len(frame) // 2, len(frame) - 1):
            one = _evaluate(statement, frame.iloc[[position]], scope)
            if not _equal_values(one, values.iloc[[position]]):
                return None
    except Exception:
        return None
    used = [
        name
        for name in original.columns
        if isinstance(name, str) and _mentions(statement["expression"], name)
    ]
    if not used:
        return None
    return {
        "name": column,
        "from": used[0],
        "uses": used,
        "step": "expression",
        "expression": statement["expression"],
        "frame": statement["frame"],
        **_cited(statement),
    }


def _mentions(expression: str, name: str) -> bool:
    return (
        repr(name) in expression
        or f'"{name}"' in expression
        or f".{name}" in expression
    )


def _features_frame(original: Any, done: list[dict[str, Any]]) -> Any:
    """The raw columns, with the features found so far in their place."""
    frame = original.copy()
    for step in done:
        if step["name"] != step["from"] or step["step"] != "passthrough":
            frame[step["name"]] = _apply(step, frame[step["from"]], frame)
    return frame


def _equal_values(computed: Any, values: Any) -> bool:
    import pandas

    if not isinstance(computed, pandas.Series) or len(computed) != len(values):
        return False
    return _equal(computed.reset_index(drop=True), values.reset_index(drop=True))


@functools.lru_cache(maxsize=1)
def _replay_scope() -> dict[str, Any]:
    """What a notebook's expression may name: numpy and pandas, as usually imported."""
    import numpy
    import pandas

    return {
        "__builtins__": {"abs": abs, "round": round, "float": float, "int": int},
        "np": numpy,
        "numpy": numpy,
        "pd": pandas,
        "pandas": pandas,
        "math": math,
    }


def _evaluate(statement: dict[str, Any], frame: Any, scope: dict[str, Any]) -> Any:
    code = _compiled(statement["expression"])
    return eval(code, dict(scope), {statement["frame"]: frame})  # noqa: S307 - the notebook's own expression


@functools.lru_cache(maxsize=256)
def _compiled(expression: str) -> Any:
    return compile(expression, "<notebook expression>", "eval")


def _request_columns(raw: Any, features: list[dict[str, Any]], rows: Any) -> list:
    """The raw columns a request sends, in the data's order, with their kind."""
    from pandas.api import types

    sources: dict[str, list[dict[str, Any]]] = {}
    for step in features:
        for name in step.get("uses") or [step["from"]]:
            sources.setdefault(name, []).append(step)
    columns = []
    for name in raw.columns:
        if name not in sources:
            continue
        steps = sources[name]
        series = raw[name]
        column: dict[str, Any] = {"name": name}
        lookups = [s for s in steps if s["step"] == "lookup" and s["from"] == name]
        if lookups:
            values = {str(k): k for s in lookups for k, _ in s["table"]}
            column["kind"] = "category"
            column["values"] = sorted(values.values(), key=str)
            if all("unknown" in s for s in lookups):
                column["unknown"] = "allowed"
        elif types.is_bool_dtype(series):
            column["kind"] = "boolean"
        elif types.is_integer_dtype(series):
            column["kind"] = "integer"
        elif types.is_numeric_dtype(series):
            column["kind"] = "number"
        else:
            column["kind"] = "text"
            known = series.loc[rows].dropna().unique()
            if 0 < len(known) <= TEXT_CATEGORIES_LIMIT:
                column["seen"] = sorted((_native(v) for v in known), key=str)
        columns.append(column)
    return columns


def _target(
    model: Any, raw: Any, rows: Any, target: Any, columns: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The raw column the model learnt to predict, and its labels per class."""
    import numpy
    import pandas

    if target is None or rows is None:
        return None
    values = numpy.asarray(target)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or len(values) != len(rows):
        return None
    present = numpy.asarray(pandas.Index(rows).isin(raw.index))
    if not present.any():
        return None
    kept_rows, wanted = rows[present], pandas.Series(values[present])
    used = {column["name"] for column in columns}
    name = getattr(target, "name", None)
    if name is None and hasattr(target, "columns") and len(target.columns) == 1:
        name = target.columns[0]
    candidates = [name] if name in raw.columns else []
    candidates += [c for c in raw.columns if c not in used and c not in candidates]
    classifies = getattr(model, "classes_", None) is not None
    for candidate in candidates:
        original = raw[candidate].loc[kept_rows].reset_index(drop=True)
        if _equal(wanted, original):
            return {"column": _native(candidate), "labels": None}
        if not classifies:
            continue
        forward = _lookup(candidate, candidate, wanted, original)
        backward = _lookup(candidate, candidate, original, wanted)
        if forward is not None and backward is not None:
            labels = [[code, label] for label, code in forward["table"]]
            fit = _column_fits.get((str(candidate), "encoding"), {})
            return {"column": _native(candidate), "labels": labels, **_cited(fit)}
    return None


def _example(raw: Any, rows: Any, columns: list[dict[str, Any]]) -> dict[str, Any]:
    """A real row of the training data, as raw as the notebook read it."""
    names = [column["name"] for column in columns]
    present = [row for row in rows[:1000] if row in raw.index]
    picked = raw.loc[present, names].dropna()
    if picked.empty:
        picked = raw[names].dropna()
    if picked.empty:
        return {}
    # Column by column: a row of mixed columns would turn integers into floats.
    return {name: _native(picked[name].iloc[0]) for name in names}


def _native(value: Any) -> Any:
    """A value JSON can carry: numpy scalars become Python ones."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (str, bytes)):
        try:
            value = item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _cited(location: dict[str, Any]) -> dict[str, Any]:
    keys = ("type", "cell", "cell_id", "line")
    return {
        f"fit_{k}" if k == "type" else k: location[k] for k in keys if k in location
    }


def _where(location: dict[str, Any]) -> str:
    if location.get("cell") is None:
        return "the notebook"
    return f"cell {location['cell']}, line {location['line']}"


# --- Replaying, in the service ------------------------------------------------------


def _apply(step: dict[str, Any], value: Any, frame: Any = None) -> Any:
    """One feature from its raw value (a scalar or a column)."""
    kind = step["step"]
    if kind == "passthrough":
        return value
    if kind == "scale":
        a, b = step["scale"]
        return value * a + b
    if kind == "lookup":
        table = _table(step)
        if hasattr(value, "map"):
            return value.map(lambda v: table.get(_key(v), step.get("unknown")))
        return table.get(_key(value), step.get("unknown"))
    if kind == "expression":
        return _evaluate(step, frame, _replay_scope())
    raise ValueError(f"unknown step {kind!r}")


def _table(step: dict[str, Any]) -> dict[Any, Any]:
    table = step.get("_table")
    if table is None:
        table = step["_table"] = {_key(k): v for k, v in step["table"]}
    return table


def _key(value: Any) -> Any:
    value = _native(value)
    return str(value) if isinstance(value, str) else value


class Replay:
    """A prediction route's way from a raw request to the model and back to a label."""

    def __init__(self, recipe: dict[str, Any]) -> None:
        self.recipe = recipe
        self.columns = recipe["columns"]
        self.features = recipe["features"]
        self.transformers = recipe.get("transformers") or []
        target = recipe.get("target") or {}
        self.labels = {_key(code): label for code, label in target.get("labels") or []}

    def inputs(self, body: dict[str, Any]) -> Any:
        """The model's input for one request, as the notebook made it."""
        import pandas

        raw = pandas.DataFrame([body], columns=[c["name"] for c in self.columns])
        built = raw.copy()
        for step in self.features:
            if step["step"] == "expression":
                built[step["name"]] = _apply(step, None, built)
            else:
                built[step["name"]] = _apply(step, raw[step["from"]].iloc[0])
        frame = built[[step["name"] for step in self.features]]
        data: Any = frame if self.recipe.get("pandas", True) else frame.to_numpy()
        for transformer in self.transformers:
            data = transformer["object"].transform(data)
        return data

    def label(self, prediction: Any) -> Any:
        """The notebook's label for what the model answered."""
        return self.labels.get(_key(prediction), _native(prediction))

    def describe(self) -> dict[str, Any]:
        """What /models shows: the route's input and every step it takes, with cells."""
        target = self.recipe.get("target") or {}
        return {
            "replayed": True,
            "data": self.recipe["source"],
            "columns": [
                {k: v for k, v in column.items() if not k.startswith("_")}
                for column in self.columns
            ],
            "steps": describe_steps(self.recipe),
            "answers": (
                f"the notebook's labels of {target['column']!r}"
                if target.get("labels")
                else f"values of {target['column']!r}"
                if target.get("column") is not None
                else "the model's own output"
            ),
        }


def describe_steps(recipe: dict[str, Any]) -> list[str]:
    """The replayed preprocessing in words, one line a step, citing the notebook."""
    lines = []
    for step in recipe["features"]:
        cited = f" ({_where(step)})" if step.get("cell") is not None else ""
        fitted = f"{step['fit_type']}" if step.get("fit_type") else ""
        kind = step["step"]
        if kind == "passthrough":
            continue
        if kind == "scale":
            a, b = step["scale"]
            how = fitted or "scaled"
            lines.append(f"{step['name']}: {how}, x * {a:.6g} + {b:.6g}{cited}")
        elif kind == "lookup":
            codes = ", ".join(f"{k} -> {_native(v)}" for k, v in step["table"][:8])
            more = ", ..." if len(step["table"]) > 8 else ""
            how = f"{fitted} encoding" if fitted else "encoding"
            table = f"({codes}{more})"
            lines.append(f"{step['name']}: {how} of {step['from']} {table}{cited}")
        elif kind == "expression":
            lines.append(f"{step['name']}: {step['expression']}{cited}")
    for transformer in recipe.get("transformers") or []:
        cited = (
            f" ({_where(transformer)})" if transformer.get("cell") is not None else ""
        )
        lines.append(f"then {transformer['type']}.transform, as fitted{cited}")
    target = recipe.get("target") or {}
    if target.get("labels"):
        cited = f" ({_where(target)})" if target.get("cell") is not None else ""
        lines.append(f"answer: the class decoded to {target['column']}{cited}")
    return lines


def request_fields(
    recipe: dict[str, Any],
    identifier: Callable[[str, int], str],
    known: dict[str, list],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pydantic fields for the raw columns, and an example: a real training row."""
    from typing import Literal

    from pydantic import Field

    example = recipe.get("example") or {}
    fields: dict[str, Any] = {}
    for index, column in enumerate(recipe["columns"]):
        name = column["name"]
        key = identifier(name, index)
        annotation: Any
        if column["kind"] == "text" and known.get(name):
            # A pipeline's own encoder knows this column's categories.
            annotation = Literal[tuple(known[name])]
        elif column["kind"] == "category" and column.get("unknown") != "allowed":
            annotation = Literal[tuple(column["values"])]
        elif column["kind"] == "category":
            annotation = type(column["values"][0]) if column["values"] else str
        else:
            annotation = {"boolean": bool, "integer": int, "number": float}.get(
                column["kind"], str
            )
        extra = {"examples": [example[name]]} if name in example else {}
        described = column.get("values") or column.get("seen")
        if described:
            shown = ", ".join(str(value) for value in described[:20])
            extra["description"] = f"as in the training data: {shown}"
        fields[key] = (
            annotation,
            Field(..., alias=name if key != name else None, **extra),
        )
    return fields, example
