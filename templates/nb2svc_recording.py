# Written by nb2svc @nb2svc_version@: part of the service's runtime (see README.md).
"""Records every artifact the notebook's code saves while it trains (joblib, pickle,
pandas, skops, keras, torch, xgboost, lightgbm, catboost), as it is written, in
`DATA_DIR/.nb2svc/manifest.json`; the service loads what is listed there
(`nb2svc_models.py`). In a service whose routes replay the notebook's preprocessing,
with each model goes how its inputs came from the data the notebook read
(`nb2svc_inputs.py`).

Writes the notebook's code makes create the folder they write into when it is missing
(a student's `models/` is often gitignored). A file written to a temporary name and
renamed into place is followed. nb2svc ships this module with the services whose
notebook trains; `nb2svc_runtime.training()` starts it.
"""

from __future__ import annotations

import builtins
import functools
import json
import os
import re
import sys
import threading
from pathlib import Path, PurePosixPath
from typing import Any

from . import nb2svc_runtime as runtime

NB2SVC_VERSION = "@nb2svc_version@"
log = runtime.log

_install_lock = threading.Lock()
_recording = False
_manifest_cleared = False

# --- Recording the artifacts the notebook writes --------------------------------------

# The writers an artifact is saved with, per module: (attribute, serializer, name of the
# object argument, name of the path argument). Methods take the object as `self`.
_WRITERS: dict[str, list[tuple[str, str, str, str]]] = {
    "pickle": [("dump", "pickle", "obj", "file")],
    "joblib": [("dump", "joblib", "value", "filename")],
    "cloudpickle": [("dump", "pickle", "obj", "file")],
    "dill": [("dump", "pickle", "obj", "file")],
    "pandas": [
        ("to_pickle", "pandas", "obj", "filepath_or_buffer"),
        ("DataFrame.to_pickle", "pandas", "self", "path"),
        ("Series.to_pickle", "pandas", "self", "path"),
    ],
    "skops.io": [("dump", "skops", "obj", "file")],
    "torch": [("save", "torch", "obj", "f")],
    "xgboost": [
        ("Booster.save_model", "xgboost", "self", "fname"),
        ("XGBModel.save_model", "xgboost", "self", "fname"),
    ],
    "lightgbm": [("Booster.save_model", "lightgbm", "self", "filename")],
    "catboost": [("CatBoost.save_model", "catboost", "self", "fname")],
    # Not artifacts, but writes a notebook makes into folders its repository had (often
    # gitignored): the folder is created, nothing is recorded (serializer "").
    "matplotlib.pyplot": [("savefig", "", "", "fname")],
    "matplotlib.figure": [("Figure.savefig", "", "self", "fname")],
    "numpy": [("save", "", "", "file"), ("savetxt", "", "", "fname")],
    # A notebook's own registry: {"best_model": "rf"} says which model it chose.
    "json": [("dump", "choice", "obj", "fp")],
}
_PANDAS_FILE_WRITERS = ("to_csv", "to_excel", "to_json", "to_parquet", "to_feather")
for _owner in ("DataFrame", "Series"):
    _WRITERS["pandas"] += [
        (f"{_owner}.{method}", "", "self", "path_or_buf")
        for method in _PANDAS_FILE_WRITERS
    ]
# Keras answers under many module names (keras, keras.models, tf_keras, and for
# tensorflow.keras keras.api._v2.keras.models...): each module of the family gets these.
_KERAS_WRITERS = [
    ("Model.save", "keras", "self", "filepath"),
    ("save_model", "keras", "model", "filepath"),
]
_WRITE_MODES = frozenset("wax")
_manifest_lock = threading.Lock()


def _writers_for(module_name: str) -> list[tuple[str, str, str, str]]:
    root = module_name.partition(".")[0]
    in_tensorflow = root == "tensorflow" and "keras" in module_name
    keras = root in ("keras", "tf_keras") or in_tensorflow
    return _WRITERS.get(module_name, []) + (_KERAS_WRITERS if keras else [])


def start(clear_manifest: bool) -> None:
    """Patches the writers: now in the modules already imported, at import in others."""
    global _recording, _manifest_cleared
    with _install_lock:
        if clear_manifest and not _manifest_cleared:
            _manifest_cleared = True
            runtime.MANIFEST_FILE.unlink(missing_ok=True)
            runtime.CHOICE_FILE.unlink(missing_ok=True)
        if _recording:
            return
        _recording = True
        import pickle

        _patch_module("pickle", pickle)
        # What the notebook's models were fitted on, to replay it in prediction routes.
        inputs = _inputs()
        if inputs is not None:
            inputs.start(
                runtime.innermost_notebook_location,
                runtime.is_notebook_code,
                runtime.real_file,
            )
        sys.meta_path.insert(0, _WriterFinder())
        for name, module in list(sys.modules.items()):
            if module is not None:
                _patch_module(name, module)
        builtins.open = _opening_with_parent(builtins.open)
        import shutil

        # A careful notebook writes to a temporary file, then renames it into place.
        os.replace = _following_moves(os.replace)
        os.rename = _following_moves(os.rename)
        shutil.move = _following_moves(shutil.move)


def _following_moves(real: Any) -> Any:
    """`real` (a rename), moving the manifest entry of a recorded file along with it."""

    @functools.wraps(real)
    def move(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
        result = real(src, dst, *args, **kwargs)
        if runtime.is_notebook_code(sys._getframe(1).f_code.co_filename):
            source, target = _path_of(src), _path_of(dst)
            if source is not None and target is not None:
                _moved(Path(os.path.realpath(source)), Path(os.path.realpath(target)))
        return result

    move._nb2svc_real = real
    return move


def _moved(source: Path, target: Path) -> None:
    if target.is_dir():
        target = target / source.name
    with _manifest_lock:
        entries = runtime.read_manifest()
        shown = _shown_path(source)
        moved = [e for e in entries if e.get("path") == shown]
        if not moved:
            return
        entries = [
            e for e in entries if e.get("path") not in (shown, _shown_path(target))
        ]
        taken = {str(e.get("name")) for e in entries}
        entry = moved[0]
        entry["path"] = _shown_path(target)
        entry.pop("outside_data", None)
        if runtime.DATA_DIR not in target.parents:
            entry["outside_data"] = True
        entry["name"] = runtime.artifact_name(target.stem, taken)
        entries.append(entry)
        _write_manifest(entries)
    log.info("nb2svc: recorded the move of %s to %s", shown, entry["path"])


def _shown_path(path: Path) -> str:
    """A file's path as the manifest shows it: relative to DATA_DIR when inside it."""
    inside = runtime.DATA_DIR in path.parents
    return path.relative_to(runtime.DATA_DIR).as_posix() if inside else path.as_posix()


class _WriterFinder:
    """Patches a writer module once it has run, wrapping its loader's exec_module."""

    def __init__(self) -> None:
        self._finding = threading.local()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        busy = self._finding.__dict__.setdefault("names", set())
        inputs = _inputs()
        watched = _writers_for(fullname) or (
            inputs is not None and inputs.watches(fullname)
        )
        if fullname in busy or not watched:
            return None
        busy.add(fullname)
        try:
            spec = self._real_spec(fullname, path, target)
        finally:
            busy.discard(fullname)
        loader = getattr(spec, "loader", None)
        # A loader that is a class (builtin, frozen) serves every such module.
        if loader is not None and not isinstance(loader, type):
            _wrap_exec_module(loader)
        return spec

    def _real_spec(self, fullname: str, path: Any, target: Any) -> Any:
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if finder is not self and find_spec is not None:
                spec = find_spec(fullname, path, target)
                if spec is not None:
                    return spec
        return None


def _wrap_exec_module(loader: Any) -> None:
    real = getattr(loader, "exec_module", None)
    if real is None or hasattr(real, "_nb2svc_real"):
        return

    def exec_module(module: Any) -> None:
        real(module)
        _patch_module(module.__name__, module)

    exec_module._nb2svc_real = real
    try:
        loader.exec_module = exec_module
    except AttributeError:
        log.debug("nb2svc: cannot watch the loader %r", loader)


def _patch_module(name: str, module: Any) -> None:
    inputs = _inputs()
    if inputs is not None and inputs.watches(name):
        inputs.patch_module(name, module)
    for attribute, serializer, obj_name, path_name in _writers_for(name):
        owner_name, _, method = attribute.rpartition(".")
        owner = getattr(module, owner_name, None) if owner_name else module
        if owner is not None:
            _wrap_writer(owner, method, (serializer, obj_name, path_name))


def _wrap_writer(owner: Any, attribute: str, how: tuple[str, str, str]) -> None:
    if isinstance(owner, type):
        # Only a plain function stays a method once wrapped; a staticmethod would not.
        current = _class_attribute(owner, attribute)
        if not hasattr(current, "__code__"):
            return
    else:
        current = getattr(owner, attribute, None)
        if not callable(current) or isinstance(current, type):
            return
    if hasattr(current, "_nb2svc_real"):
        return
    try:
        setattr(owner, attribute, _recording_writer(current, *how))
    except (AttributeError, TypeError):
        log.debug("nb2svc: cannot watch %r.%s", owner, attribute)


def _class_attribute(owner: type, attribute: str) -> Any:
    """The attribute as the class (or a base) stores it, not as it is bound."""
    for klass in owner.__mro__:
        if attribute in klass.__dict__:
            return klass.__dict__[attribute]
    return None


def _recording_writer(real: Any, serializer: str, obj_name: str, path_name: str) -> Any:
    """`real`, recording what the notebook's own code saves with it."""

    @functools.wraps(real)
    def writer(*args: Any, **kwargs: Any) -> Any:
        if not runtime.is_notebook_code(sys._getframe(1).f_code.co_filename):
            return real(*args, **kwargs)
        if obj_name:
            obj = args[0] if args else kwargs.get(obj_name)
            target = args[1] if len(args) > 1 else kwargs.get(path_name)
        else:
            obj, target = None, args[0] if args else kwargs.get(path_name)
        _create_parent(target)
        result = real(*args, **kwargs)
        if serializer == "choice":
            _record_choice(obj, target)
        elif serializer:
            _record(serializer, obj, target)
        return result

    writer._nb2svc_real = real
    return writer


def _opening_with_parent(real: Any) -> Any:
    """`open` while recording: a write from the notebook's code creates its folder."""

    @functools.wraps(real)
    def opening(file: Any, mode: Any = "r", *args: Any, **kwargs: Any) -> Any:
        if (
            isinstance(mode, str)
            and not _WRITE_MODES.isdisjoint(mode)
            and runtime.is_notebook_code(sys._getframe(1).f_code.co_filename)
        ):
            _create_parent(file)
        return real(file, mode, *args, **kwargs)

    return opening


def _path_of(target: Any) -> Path | None:
    """The local path a path argument names (a container path as served from data/);
    None for a file object, a fd or a URL."""
    if isinstance(target, (str, bytes, os.PathLike)):
        path = os.fsdecode(runtime.container_path_on_disk(target))
        return None if "://" in path else Path(path)
    return None


def _create_parent(target: Any) -> None:
    """Creates the folder a path lives in: a student's `models/` is often gitignored."""
    path = _path_of(target)
    if path is None or path.parent.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # the write itself reports the problem, with the notebook's own path
    log.info(
        "nb2svc: created the missing folder %s/ for %s", path.parent.as_posix(), path
    )


# Keys of a registry the notebook writes that name its chosen model (a heuristic).
_CHOICE_KEY = re.compile(
    r"^(best|default|chosen|selected|champion)(_?model)?(_?name)?$"
)


def _record_choice(obj: Any, target: Any) -> None:
    """Keeps the model a JSON file of the notebook names as its best or default."""
    if not isinstance(obj, dict):
        return
    named = [
        value
        for key, value in obj.items()
        if isinstance(key, str)
        and isinstance(value, str)
        and _CHOICE_KEY.match(key.lower())
    ]
    path = _path_of(
        getattr(target, "name", None) if hasattr(target, "write") else target
    )
    if not named or path is None:
        return
    choice = {
        "named": named[0],
        "file": _shown_path(Path(os.path.realpath(path))),
        **runtime.innermost_notebook_location(),
    }
    with _manifest_lock:
        runtime.write_atomically(
            runtime.CHOICE_FILE, (json.dumps(choice, indent=2) + "\n").encode()
        )


def _record(serializer: str, obj: Any, target: Any) -> None:
    """Adds what was just written to the manifest; a file object is known by name."""
    path = _path_of(target)
    if path is None and hasattr(target, "write"):
        path = _path_of(getattr(target, "name", None))
    if path is None:
        return
    try:
        if hasattr(target, "flush") and not getattr(target, "closed", True):
            target.flush()  # what the object wrote may still sit in its buffer
        entry = _entry(serializer, obj, Path(os.path.realpath(path)))
        with _manifest_lock:
            _save_entry(entry)
    except Exception:  # the notebook's own write succeeded: recording must not fail it
        log.warning("nb2svc: could not record %s in the manifest", path, exc_info=True)
        return
    log.info(
        "nb2svc: recorded %s (%s) from %s",
        entry["path"],
        entry["type"],
        runtime.location_text(entry),
    )


def _entry(serializer: str, obj: Any, path: Path) -> dict[str, Any]:
    kind = type(obj)
    inside = runtime.DATA_DIR in path.parents
    digest, size = runtime.file_digest(path)
    entry: dict[str, Any] = {
        "name": "",  # given when it joins the manifest
        "path": _shown_path(path),
        "serializer": serializer,
        "type": f"{kind.__module__}.{kind.__qualname__}",
        "predicts": callable(_attribute(obj, "predict")),
        "features": _features(obj),
        "n_features": _n_features(obj),
        "classes": _classes(obj),
        **runtime.innermost_notebook_location(),
        "sha256": digest,
        "bytes": size,
    }
    if not inside:
        entry["outside_data"] = True
    inputs = _inputs()
    recipe = None if inputs is None else inputs.recipe_for(runtime.model_in(obj))
    if recipe is not None:
        entry["inputs"] = _save_recipe(recipe, digest)
    return entry


def _save_recipe(recipe: dict[str, Any], digest: str) -> str:
    """Writes how a model's inputs come from the raw data beside the manifest; returns
    its path relative to DATA_DIR."""
    import pickle

    path = runtime.INPUTS_DIR / f"{digest[:20]}.pkl"
    path.parent.mkdir(parents=True, exist_ok=True)
    runtime.write_atomically(
        path, pickle.dumps(recipe, protocol=pickle.HIGHEST_PROTOCOL)
    )
    return _shown_path(path)


def _inputs() -> Any:
    """The module that records a model's inputs (app/nb2svc_inputs.py), or None in a
    service with no prediction route to replay them (one that serves functions)."""
    return runtime.feature("nb2svc_inputs")


def _attribute(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name, None)
    except Exception:  # a property of an unfitted model may raise anything
        return None


def _features(obj: Any) -> list[str] | None:
    names = _attribute(obj, "feature_names_in_")
    return None if names is None else [str(name) for name in names]


def _n_features(obj: Any) -> int | None:
    try:
        return int(_attribute(obj, "n_features_in_"))
    except (TypeError, ValueError):
        return None


def _classes(obj: Any) -> list[Any] | None:
    classes = _attribute(obj, "classes_")
    jsonable = None if classes is None else runtime.to_jsonable(classes)
    return jsonable if isinstance(jsonable, list) else None


def _save_entry(entry: dict[str, Any]) -> None:
    # Read back each time: a process the training started may have added entries.
    entries = runtime.read_manifest()
    for index, existing in enumerate(entries):
        if existing.get("path") == entry["path"]:
            entry["name"] = existing["name"]
            entries[index] = entry
            break
    else:
        taken = {str(existing.get("name")) for existing in entries}
        entry["name"] = runtime.artifact_name(PurePosixPath(entry["path"]).stem, taken)
        entries.append(entry)
    _write_manifest(entries)


def _write_manifest(entries: list[dict[str, Any]]) -> None:
    document = {"version": 1, "artifacts": entries}
    runtime.write_atomically(
        runtime.MANIFEST_FILE, (json.dumps(document, indent=2) + "\n").encode()
    )


def report_inputs() -> None:
    """Says, for each model the training saved, what its prediction route will take:
    only in a service with prediction routes (which ships nb2svc_inputs.py)."""
    import pickle

    if _inputs() is None:
        return
    for entry in runtime.read_manifest():
        if not entry.get("predicts"):
            continue
        if not entry.get("inputs"):
            log.warning(
                "nb2svc: %s takes the model's own features: %s",
                entry["path"],
                runtime.UNWATCHED_FIT,
            )
            continue
        with open(runtime.DATA_DIR / entry["inputs"], "rb") as handle:
            recipe = pickle.load(handle)
        if recipe.get("replayable"):
            names = ", ".join(str(column["name"]) for column in recipe["columns"])
            log.info(
                "nb2svc: %s takes the raw columns of %s: %s",
                entry["path"],
                recipe["source"]["source"],
                names,
            )
        else:
            log.warning(
                "nb2svc: %s takes the model's own features: %s",
                entry["path"],
                recipe.get("reason"),
            )
