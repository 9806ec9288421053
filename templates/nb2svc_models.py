# Written by nb2svc @nb2svc_version@: part of the service's runtime (see README.md).
"""The service's models: the artifacts the notebook saved (as the training recorded
them in `DATA_DIR/.nb2svc/manifest.json`) or ships, loaded the way they were written,
and a prediction route for each that can predict, at `POST /predict/NAME`, with a
default one at `POST /predict`; `GET /models` describes them. A model whose
preprocessing the training recorded takes the notebook's raw columns and answers in its
labels (`nb2svc_inputs.py` replays it). nb2svc ships this module with the services that
serve saved models.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from . import nb2svc_runtime as runtime

NB2SVC_VERSION = "@nb2svc_version@"
log = runtime.log


# --- Loading what the notebook saved --------------------------------------------------


def load_recorded_artifacts(state: runtime.ServiceState) -> None:
    """Loads every artifact of the manifest into `state`, as the notebook wrote it."""
    entries = runtime.read_manifest()
    gone = [entry for entry in entries if not _recorded_file(entry).exists()]
    if any(not entry.get("outside_data") for entry in gone):
        raise FileNotFoundError("\n".join(_gone(entry) for entry in gone))
    for entry in entries:
        if entry in gone:
            # A file outside data/ was scratch (a temporary file), not what is served.
            log.warning("nb2svc: %s", _gone(entry))
            continue
        # Outside DATA_DIR, only the file's name: /models never shows machine paths.
        shown = PurePosixPath(entry["path"]).name if entry.get("outside_data") else None
        _load_into(state, entry["name"], _recorded_file(entry), entry, shown)
        if entry.get("inputs"):
            state.recipes[entry["name"]] = _load_recipe(entry)
        elif entry.get("predicts"):
            state.recipes[entry["name"]] = {
                "replayable": False,
                "reason": runtime.UNWATCHED_FIT,
            }


def _load_recipe(entry: dict[str, Any]) -> dict[str, Any]:
    """The recorded way to a model's inputs; when it cannot be read, why, so that
    /models says it and the route takes the model's own features."""
    import pickle

    try:
        with open(runtime.DATA_DIR / entry["inputs"], "rb") as handle:
            return pickle.load(handle)
    except Exception as error:
        log.warning("nb2svc: reading %s: %s", entry["inputs"], error)
        return {"replayable": False, "reason": f"reading {entry['inputs']}: {error}"}


def _recorded_file(entry: dict[str, Any]) -> Path:
    path = Path(entry["path"])
    return path if entry.get("outside_data") else runtime.DATA_DIR / path


def _gone(entry: dict[str, Any]) -> str:
    return (
        f"artifact {entry['path']} is gone: {runtime.location_text(entry)} saved it "
        "when the notebook trained (was data/ replaced, by a volume mounted over it "
        "for instance?)"
    )


def load_artifact(
    state: runtime.ServiceState, name: str, relative: str, serializer: str
) -> None:
    """Loads a file the notebook only reads (shipped in data/) as `name`."""
    path = runtime.DATA_DIR / relative
    if not path.exists():
        raise FileNotFoundError(
            f"artifact data/{relative} not found: the notebook loads it, so the "
            "service must ship it (put it there, or pass --include to nb2svc)"
        )
    _load_into(state, name, path, {"path": relative, "serializer": serializer})


def _load_into(
    state: runtime.ServiceState,
    name: str,
    path: Path,
    entry: dict[str, Any],
    shown: str | None = None,
) -> None:
    digest, size = runtime.file_digest(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loaded = _deserialize(path, entry["serializer"], entry.get("type"))
        except Exception as error:
            # scikit-learn says which version pickled the file: the likely cause.
            said = "; ".join(dict.fromkeys(str(w.message) for w in caught))
            detail = f" ({said})" if said else ""
            raise RuntimeError(
                f"loading {shown or entry['path']} failed: {error}{detail}"
            ) from error
    for warning in caught:
        log.warning("nb2svc: loading %s: %s", shown or entry["path"], warning.message)
    state.artifacts[name] = loaded
    state.artifact_files[name] = {
        "path": shown or PurePosixPath(entry["path"]).as_posix(),
        "bytes": size,
        "sha256": digest,
        "cell": entry.get("cell"),
        "line": entry.get("line"),
        "serializer": entry["serializer"],
    }


def _deserialize(path: Path, serializer: str, type_name: str | None = None) -> Any:
    """Reads an artifact the way the notebook wrote it."""
    return _LOADERS.get(serializer, _load_pickle)(path, type_name or "")


def _load_pickle(path: Path, _type_name: str) -> Any:
    import pickle

    with open(path, "rb") as handle:
        return pickle.load(handle)


def _load_joblib(path: Path, _type_name: str) -> Any:
    import joblib

    return joblib.load(path)


def _load_pandas(path: Path, _type_name: str) -> Any:
    import pandas

    return pandas.read_pickle(path)


def _load_skops(path: Path, _type_name: str) -> Any:
    import skops.io

    # The service loads only what its own training wrote: its types are trusted.
    if hasattr(skops.io, "get_untrusted_types"):
        return skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    return skops.io.load(path, trusted=True)


def _load_keras(path: Path, type_name: str) -> Any:
    import importlib

    # The package that defined the model's class reads it: Keras, tf_keras or TF's.
    root = type_name.partition(".")[0]
    if root in ("keras", "tf_keras"):
        keras = importlib.import_module(root)
    else:
        from tensorflow import keras
    return keras.models.load_model(path)


def _load_torch(path: Path, _type_name: str) -> Any:
    import torch

    # A whole model, not only weights: the notebook's training wrote it, it is trusted.
    try:
        return torch.load(path, weights_only=False)
    except TypeError as error:  # torch before 1.13 knows no weights_only
        if "weights_only" not in str(error):
            raise
        return torch.load(path)


def _sklearn_style(package: Any, type_name: str, base: type) -> Any:
    """A new instance of the package's class the manifest names (`XGBClassifier`)."""
    if not type_name.startswith(f"{package.__name__}."):
        return None
    cls = getattr(package, type_name.rpartition(".")[2], None)
    return cls() if isinstance(cls, type) and issubclass(cls, base) else None


def _load_xgboost(path: Path, type_name: str) -> Any:
    import xgboost

    model = _sklearn_style(xgboost, type_name, xgboost.XGBModel) or xgboost.Booster()
    model.load_model(str(path))
    return model


def _load_lightgbm(path: Path, _type_name: str) -> Any:
    import lightgbm

    # Only a Booster has save_model in lightgbm: its sklearn classes cannot read one.
    return lightgbm.Booster(model_file=str(path))


def _load_catboost(path: Path, type_name: str) -> Any:
    import catboost

    model = (
        _sklearn_style(catboost, type_name, catboost.CatBoost) or catboost.CatBoost()
    )
    model.load_model(str(path), format="json" if path.suffix == ".json" else "cbm")
    return model


_LOADERS: dict[str, Callable[[Path, str], Any]] = {
    "pickle": _load_pickle,
    "joblib": _load_joblib,
    "pandas": _load_pandas,
    "skops": _load_skops,
    "keras": _load_keras,
    "torch": _load_torch,
    "xgboost": _load_xgboost,
    "lightgbm": _load_lightgbm,
    "catboost": _load_catboost,
}


def _inputs() -> Any:
    """The replay of a model's recorded preprocessing (app/nb2svc_inputs.py), which
    ships with every service whose training records it."""
    inputs = runtime.feature("nb2svc_inputs")
    if inputs is None:
        raise RuntimeError(
            "app/nb2svc_inputs.py is missing: the training recorded how a model's "
            "inputs are made, and only it can replay that (regenerate the service)"
        )
    return inputs


# --- Prediction routes ----------------------------------------------------------------


def _walk_estimators(model: Any):
    """Every estimator inside a scikit-learn pipeline or column transformer, and its
    columns."""
    stack = [(model, None)]
    while stack:
        estimator, columns = stack.pop()
        yield estimator, columns
        for _name, step in getattr(estimator, "steps", None) or []:
            stack.append((step, columns))
        for _name, transformer, cols in getattr(estimator, "transformers_", None) or []:
            if not isinstance(transformer, str):
                stack.append((transformer, cols))


def feature_hints(model: Any):
    """Per input column: the categories an encoder knows, or a typical number."""
    categories: dict[str, list] = {}
    typical: dict[str, float] = {}
    for estimator, columns in _walk_estimators(model):
        if columns is None or isinstance(columns, (str, slice)) or callable(columns):
            continue
        columns = [column for column in columns if isinstance(column, str)]
        known = getattr(estimator, "categories_", None)
        if known is not None and len(known) == len(columns):
            for column, values in zip(columns, known):  # noqa: B905 - equal lengths; strict= needs 3.10
                categories[column] = [
                    str(value) for value in values if isinstance(value, str)
                ]
        for attribute in ("mean_", "statistics_"):
            values = getattr(estimator, attribute, None)
            if values is not None and len(values) == len(columns):
                for column, value in zip(columns, values):  # noqa: B905 - equal lengths; strict= needs 3.10
                    try:
                        typical.setdefault(column, round(float(value), 3))
                    except (TypeError, ValueError):
                        pass
    return categories, typical


def _identifier(column: str, index: int) -> str:
    name = re.sub(r"\W", "_", column)
    if not name or name[0].isdigit() or name.startswith("_"):
        name = f"f{index}_{name}"
    return name


def request_model_for(name: str, model: Any, replay: Any = None):
    """A pydantic model of the route's body, so that Swagger's "Try it out" works: the
    raw columns of the notebook's data when its preprocessing replays, else the
    model's own features."""
    from typing import Literal

    from pydantic import ConfigDict, Field, create_model

    parts = re.split(r"\W|_", name)
    title = "".join(part.capitalize() for part in parts if part) or "Model"
    # Infinity, NaN and 1e999 are no input a model was trained on: a 422, not a 500.
    # A field the route does not know is a 422 too: it would be silently ignored.
    config = ConfigDict(
        populate_by_name=True,
        protected_namespaces=(),
        allow_inf_nan=False,
        extra="forbid",
    )
    if replay is not None:
        known, _typical = feature_hints(model)
        fields, example = _inputs().request_fields(replay.recipe, _identifier, known)
        config["json_schema_extra"] = {"example": example}
        request = create_model(f"{title}Request", __config__=config, **fields)
        return request, [], example
    columns = [str(column) for column in getattr(model, "feature_names_in_", [])]
    if not columns:
        count = int(getattr(model, "n_features_in_", 0) or 0)
        field = Field(..., min_length=count or None, max_length=count or None)
        example = {"features": [0.0] * count}
        config["json_schema_extra"] = {"example": example}
        features = (list[float], field)
        request = create_model(f"{title}Features", __config__=config, features=features)
        return request, None, example
    categories, typical = feature_hints(model)
    fields: dict[str, Any] = {}
    example: dict[str, Any] = {}
    for index, column in enumerate(columns):
        identifier = _identifier(column, index)
        alias = column if identifier != column else None
        if categories.get(column):
            annotation: Any = Literal[tuple(categories[column])]
            example[column] = categories[column][0]
        elif column in categories:
            annotation = str
            example[column] = ""
        else:
            annotation = float
            example[column] = typical.get(column, 0.0)
        fields[identifier] = (annotation, Field(..., alias=alias))
    config["json_schema_extra"] = {"example": example}
    request = create_model(f"{title}Request", __config__=config, **fields)
    return request, columns, example


# A prediction faster than this is answered on the event loop: handing it to a worker
# thread costs more than the prediction itself (measured: 0.56x the throughput of an
# `async def` route for the penguins pipeline). Slower models run in the thread pool so
# that /health stays responsive.
FAST_PREDICTION_SECONDS = 0.02


def replay_for(name: str, recipe: dict[str, Any] | None) -> Any:
    """The replay of a model's preprocessing, or None (the route takes its features)."""
    if recipe is None:
        return None
    if not recipe.get("replayable"):
        log.warning(
            "nb2svc: /predict/%s takes the model's own features: %s",
            name,
            recipe.get("reason"),
        )
        return None
    return _inputs().Replay(recipe)


def predict_route(name: str, model: Any, replay: Any = None):
    """The route function answering predictions for one loaded model."""
    request_model, columns, example = request_model_for(name, model, replay)

    def features_of(values: dict[str, Any]) -> Any:
        if replay is not None:
            return replay.inputs(values)
        if columns is None:
            import numpy

            return numpy.asarray([values["features"]])
        import pandas

        return pandas.DataFrame([values], columns=columns)

    def answer(body: Any) -> dict[str, Any]:
        features = features_of(body.model_dump(by_alias=True))
        prediction = model.predict(features)[0]
        if replay is not None:
            prediction = replay.label(prediction)
        return {"model": name, "prediction": runtime.to_jsonable(prediction)}

    if _is_fast(model, features_of(example)):

        async def predict(body: Any) -> dict[str, Any]:
            return answer(body)

    else:

        def predict(body: Any) -> dict[str, Any]:
            return answer(body)

    # The body's model exists only here; FastAPI reads it from the annotations, which
    # this module's `from __future__ import annotations` would otherwise leave as text.
    predict.__annotations__ = {"body": request_model, "return": dict[str, Any]}
    return predict


def _is_fast(model: Any, features: Any) -> bool:
    """Times one prediction on the example input (the best of three)."""
    import time

    best = float("inf")
    try:
        for _ in range(3):
            start = time.perf_counter()
            model.predict(features)
            best = min(best, time.perf_counter() - start)
    except Exception:  # an example the model rejects says nothing about speed
        return False
    return best < FAST_PREDICTION_SECONDS


def predictors(state: runtime.ServiceState) -> dict[str, Any]:
    """The loaded artifacts that can predict, by name (a bundle by its predictor)."""
    models = {name: runtime.model_in(obj) for name, obj in state.artifacts.items()}
    return {name: model for name, model in models.items() if model is not None}


def add_model_routes(
    app: Any, state: runtime.ServiceState, default_model: str | None
) -> None:
    """Adds `POST /predict/NAME` per model, and `/predict` for the default, first."""
    models = predictors(state)
    if not models:
        return
    default, state.default_because = choose_default(
        models, default_model, set(state.recipes)
    )
    state.default_model = default
    placeholders = list(app.router.routes)
    app.router.routes.clear()
    for name, model in models.items():
        replay = replay_for(name, state.recipes.get(name))
        state.replays[name] = replay
        handler = predict_route(name, model, replay)
        route = {"methods": ["POST"], "tags": ["models"]}
        if name == default:
            summary = f"Predict with {name} (default)"
            app.add_api_route("/predict", handler, summary=summary, **route)
        app.add_api_route(
            f"/predict/{name}", handler, summary=f"Predict with {name}", **route
        )
    app.router.routes.extend(placeholders)
    # Rebuilt on the next /openapi.json, now with the model routes.
    app.openapi_schema = None


# A model saved under a name like these is the one the notebook chose (a heuristic).
_CHOSEN_NAME = re.compile(
    r"(^|_)(best|default|champion|final|selected|production)(_|$)"
)


def choose_default(
    models: dict[str, Any], planned: str | None, recorded: set[str]
) -> tuple[str, str]:
    """The model POST /predict answers with, and why it is that one. `recorded` are the
    models the training saved: their order is the order the notebook saved them in."""
    chosen = os.environ.get("NB2SVC_DEFAULT_MODEL")
    if chosen in models:
        return chosen, "NB2SVC_DEFAULT_MODEL names it"
    registry = _notebook_choice(models)
    if registry is not None:
        return registry
    named = [name for name in models if _CHOSEN_NAME.search(name)]
    if len(named) == 1:
        return named[0], "the notebook saved it under a name that says it chose it"
    saved = [name for name in models if name in recorded]
    if saved:
        return saved[0], "the first model the notebook saved as it trained"
    if planned in models:
        return planned, "the first model the notebook loads"
    return next(iter(models)), "the first model loaded"


def _notebook_choice(models: dict[str, Any]) -> tuple[str, str] | None:
    """The model the notebook's own registry names: by name, file name or stem."""
    try:
        choice = json.loads(runtime.CHOICE_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    named = str(choice.get("named", ""))
    stem = PurePosixPath(named.replace("\\", "/")).stem
    where = runtime.location_text(choice)
    why = f"the notebook's registry {choice.get('file')} ({where}) names it"
    key = runtime.artifact_name(stem, set())
    for name in models:
        if name in (named, stem, key):
            return name, why
    # {"best_model": "RandomForest"} for randomforest_model.pkl: a part of the name.
    parts = [name for name in models if key in name.split("_")]
    return (parts[0], why) if len(parts) == 1 else None


def describe_artifacts(state: runtime.ServiceState) -> dict[str, Any]:
    """What GET /models shows per artifact: type, file (relative to data/), and for a
    model what its route takes, step by step, and whether it is the default."""
    listing = {}
    for name, obj in state.artifacts.items():
        model = runtime.model_in(obj)
        features = getattr(
            model if model is not None else obj, "feature_names_in_", None
        )
        listing[name] = {
            "type": type(obj).__name__,
            "predicts": model is not None,
            "features": None if features is None else [str(f) for f in features],
            "file": state.artifact_files.get(name),
        }
        if model is not None:
            listing[name]["inputs"] = _describe_inputs(state, name)
            if name == state.default_model:
                listing[name]["default"] = state.default_because
    return listing


def _describe_inputs(state: runtime.ServiceState, name: str) -> dict[str, Any]:
    replay = state.replays.get(name)
    if replay is not None:
        return replay.describe()
    recipe = state.recipes.get(name)
    if recipe is not None:
        reason = recipe.get("reason", "")
    else:
        reason = (
            "the service did not see this model trained (it is loaded from a file the "
            "project ships), so how the notebook made its inputs is unknown"
        )
    return {"replayed": False, "reason": reason, "takes": "the model's own features"}
