"""Tests of the runtime's core (templates/nb2svc_runtime.py), the recording of what a
notebook saves (nb2svc_recording.py), the loading of it (nb2svc_models.py) and the
data fetches (nb2svc_fetch.py), with the helpers the other test files share.

Run with pytest (`python -m pytest tests/runtime`), offline: conftest.py refuses every
connection beyond 127.0.0.1, in this process and in the ones the tests start. Each test
builds its own project in a temporary folder: `app/` (the runtime modules and a small
notebook.py) and `data/`. What patches the process (training, recording) runs in a
subprocess, as it does in the image build.
"""

import hashlib
import http.server
import importlib.util
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import threading
import unittest
import zipfile
from pathlib import Path
from typing import Any, Optional
from unittest import mock

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
RUNTIME = TEMPLATES / "nb2svc_runtime.py"
# Every module of the runtime; a project gets those it is given, all by default.
MODULES = (
    "nb2svc_runtime",
    "nb2svc_recording",
    "nb2svc_inputs",
    "nb2svc_models",
    "nb2svc_fetch",
)
# What clean_env puts first on the path of every Python a test starts: no network.
OFFLINE = Path(__file__).resolve().parent / "offline"

# What every generated notebook.py starts with: the notebook's folder is data/sub/dir.
HEADER = """\
from app import nb2svc_runtime as _nb2svc
if __name__ == "__main__":
    _nb2svc.train_as_module("app.notebook")
_nb2svc.enter_notebook_folder("sub/dir")
_nb2svc_training = _nb2svc.training()
"""


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def make_project(
    root: Path,
    notebook: str,
    modules: Optional[dict] = None,
    runtime: tuple = MODULES,
) -> Path:
    """A generated project in `root`: app/ (the `runtime` modules, notebook.py, the
    `modules` given as {file: source}) and data/."""
    app = root / "app"
    app.mkdir(parents=True)
    (app / "__init__.py").write_text("")
    for name in runtime:
        shutil.copy(TEMPLATES / f"{name}.py", app / f"{name}.py")
    (app / "notebook.py").write_text(HEADER + textwrap.dedent(notebook))
    for name, source in (modules or {}).items():
        (app / name).write_text(textwrap.dedent(source))
    (root / "data").mkdir()
    return root


def clean_env(**extra: str) -> dict:
    """The environment without this machine's NB2SVC_ settings, offline (the guard of
    offline/sitecustomize.py first on the path)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NB2SVC_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(OFFLINE)] + [p for p in [env.get("PYTHONPATH")] if p]
    )
    return env


def run_python(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def read_manifest(project: Path) -> list:
    manifest = project / "data" / ".nb2svc" / "manifest.json"
    return json.loads(manifest.read_text())["artifacts"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def import_app(project: Path, data: Path) -> dict:
    """A fresh import of the project's `app` package, DATA_DIR in `data`: its runtime
    modules by name (those it ships). The caller restores sys.path, and calls
    forget_app() when done."""
    forget_app()
    sys.path.insert(0, str(project))
    modules = {}
    with mock.patch.dict(os.environ, {"NB2SVC_DATA_DIR": str(data)}):
        for path in sorted((project / "app").glob("nb2svc_*.py")):
            modules[path.stem] = importlib.import_module(f"app.{path.stem}")
    return modules


def forget_app() -> None:
    """Takes the `app` package a test imported out of sys.modules."""
    for name in [n for n in sys.modules if n == "app" or n.startswith("app.")]:
        del sys.modules[name]


class InProcess(unittest.TestCase):
    """Imports a fresh copy of the runtime, with DATA_DIR in a temporary project:
    `self.runtime` is the core, `self.models` and `self.fetch` two of its modules."""

    def setUp(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="nb2svc-runtime-")).resolve()
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        cwd, path = os.getcwd(), list(sys.path)
        self.addCleanup(os.chdir, cwd)
        self.addCleanup(sys.path.__setitem__, slice(None), path)
        self.addCleanup(forget_app)
        self.project = make_project(self.root / "project", "")
        self.data = self.project / "data"
        modules = import_app(self.project, self.data)
        self.runtime = modules["nb2svc_runtime"]
        self.models = modules["nb2svc_models"]
        self.fetch = modules["nb2svc_fetch"]


class ArtifactNameTest(InProcess):
    def test_names_are_identifiers_from_the_stem(self) -> None:
        name = self.runtime.artifact_name
        self.assertEqual(name("RF Model (v2)", set()), "rf_model_v2")
        self.assertEqual(name("2024-model", set()), "model_2024_model")
        self.assertEqual(name("modèle", set()), "mod_le")
        self.assertEqual(name("---", set()), "model")
        self.assertEqual(name("rf", {"rf"}), "rf_2")
        self.assertEqual(name("rf", {"rf", "rf_2"}), "rf_3")


class ApplySettingsTest(InProcess):
    def test_defaults_fill_only_unset_settings(self) -> None:
        with mock.patch.dict(os.environ, {"NB2SVC_TEST_SET": "mine"}):
            self.runtime.apply_settings(
                {"NB2SVC_TEST_SET": "default", "NB2SVC_TEST_UNSET": "out/model.pkl"},
                {},
            )
            self.assertEqual(os.environ["NB2SVC_TEST_SET"], "mine")
            self.assertEqual(os.environ["NB2SVC_TEST_UNSET"], "out/model.pkl")

    def test_a_missing_required_setting_names_the_cell(self) -> None:
        with mock.patch.dict(os.environ, {"NB2SVC_TEST_PRESENT": ""}):
            with self.assertRaises(RuntimeError) as raised:
                self.runtime.apply_settings(
                    {},
                    {
                        "NB2SVC_TEST_PRESENT": "cell 1, line 1",
                        "NB2SVC_TEST_TOKEN": "cell 3, line 2",
                    },
                )
        self.assertEqual(
            str(raised.exception),
            "setting NB2SVC_TEST_TOKEN is not set: cell 3, line 2 reads it with no "
            "default; set it in the environment (docker-compose.yaml lists it)",
        )


class SeedTest(InProcess):
    def test_the_seed_makes_the_global_generators_repeat(self) -> None:
        import random

        import numpy

        def draws() -> tuple[float, float]:
            with mock.patch.dict(os.environ, {"NB2SVC_SEED": "7"}):
                self.runtime.seed_global_generators()
            return random.random(), float(numpy.random.rand())

        self.assertEqual(draws(), draws())

    def test_no_seed_seeds_nothing_and_a_bad_one_is_an_error(self) -> None:
        import random

        random.seed(1)
        expected = random.random()
        random.seed(1)
        with mock.patch.dict(os.environ, {"NB2SVC_SEED": ""}):
            self.runtime.seed_global_generators()
        self.assertEqual(random.random(), expected)
        with mock.patch.dict(os.environ, {"NB2SVC_SEED": "forty-two"}):
            with self.assertRaisesRegex(RuntimeError, "NB2SVC_SEED='forty-two'"):
                self.runtime.seed_global_generators()


class EnterNotebookFolderTest(InProcess):
    def test_enters_the_folder_and_pins_relative_import_paths(self) -> None:
        os.chdir(self.root)
        sys.path[:0] = ["", "."]
        folder = self.runtime.enter_notebook_folder("nb/folder")
        self.assertEqual(folder, self.data / "nb" / "folder")
        self.assertTrue(folder.is_dir())
        self.assertEqual(Path.cwd().resolve(), folder)
        self.assertNotIn("", sys.path)
        self.assertNotIn(".", sys.path)
        self.assertEqual(sys.path[:2], [str(self.root), str(self.root)])
        self.assertIn(str(self.project / "app"), sys.path)

        path = list(sys.path)
        self.assertEqual(self.runtime.enter_notebook_folder("nb/folder"), folder)
        self.assertEqual(sys.path, path)

    def test_relative_paths_mean_what_they_meant_in_jupyter(self) -> None:
        self.runtime.enter_notebook_folder("nb")
        with open("out.txt", "w") as handle:
            handle.write(os.getcwd())
        written = self.data / "nb" / "out.txt"
        self.assertEqual(Path(written.read_text()).resolve(), written.parent)

    def test_the_project_root_itself(self) -> None:
        self.assertEqual(self.runtime.enter_notebook_folder(""), self.data)


class ManifestLoadingTest(InProcess):
    def write_manifest(self, *entries: dict) -> None:
        folder = self.data / ".nb2svc"
        folder.mkdir()
        document = {"version": 1, "artifacts": list(entries)}
        (folder / "manifest.json").write_text(json.dumps(document))

    def entry(self, name: str, path: str, **fields: Any) -> dict:
        where = {"cell": 4, "cell_id": "x", "line": 2}
        return {"name": name, "path": path, "serializer": "pickle", **where, **fields}

    def test_no_manifest_is_an_empty_one(self) -> None:
        self.assertEqual(self.runtime.read_manifest(), [])

    def test_loads_each_recorded_artifact_with_its_relative_path(self) -> None:
        model = self.data / "nb" / "models" / "m.pkl"
        model.parent.mkdir(parents=True)
        model.write_bytes(pickle.dumps({"weights": [1, 2]}))
        self.write_manifest(self.entry("m", "nb/models/m.pkl"))
        state = self.runtime.ServiceState()
        self.models.load_recorded_artifacts(state)
        self.assertEqual(state.artifacts, {"m": {"weights": [1, 2]}})
        self.assertEqual(
            state.artifact_files["m"],
            {
                "path": "nb/models/m.pkl",
                "bytes": model.stat().st_size,
                "sha256": sha256(model),
                "cell": 4,
                "line": 2,
                "serializer": "pickle",
            },
        )
        listing = self.models.describe_artifacts(state)
        self.assertEqual(listing["m"]["type"], "dict")
        self.assertNotIn(str(self.root), json.dumps(listing))

    def test_a_file_gone_from_data_names_the_cell_that_saved_it(self) -> None:
        self.write_manifest(self.entry("m", "nb/models/m.pkl"))
        with self.assertRaises(FileNotFoundError) as raised:
            self.models.load_recorded_artifacts(self.runtime.ServiceState())
        self.assertIn("nb/models/m.pkl", str(raised.exception))
        self.assertIn("cell 4 (id x), line 2", str(raised.exception))

    def test_outside_data_only_the_file_name_is_shown(self) -> None:
        outside = self.root / "elsewhere" / "o.pkl"
        outside.parent.mkdir()
        outside.write_bytes(pickle.dumps(7))
        gone = self.root / "scratch.pkl"
        self.write_manifest(
            self.entry("o", outside.as_posix(), outside_data=True),
            self.entry("scratch", gone.as_posix(), outside_data=True),
        )
        state = self.runtime.ServiceState()
        with self.assertLogs("nb2svc", "WARNING"):
            self.models.load_recorded_artifacts(state)
        self.assertEqual(state.artifacts, {"o": 7})
        self.assertEqual(state.artifact_files["o"]["path"], "o.pkl")

    def test_load_artifact_reads_a_shipped_file_relative_to_data(self) -> None:
        (self.data / "lookup.pkl").write_bytes(pickle.dumps(["a", "b"]))
        state = self.runtime.ServiceState()
        self.models.load_artifact(state, "lookup", "lookup.pkl", "pickle")
        self.assertEqual(state.artifacts["lookup"], ["a", "b"])
        self.assertEqual(state.artifact_files["lookup"]["path"], "lookup.pkl")
        with self.assertRaises(FileNotFoundError) as raised:
            self.models.load_artifact(state, "nope", "nope.pkl", "pickle")
        self.assertIn("data/nope.pkl", str(raised.exception))


class ToJsonableTest(InProcess):
    def test_plain_values(self) -> None:
        value = {"a": (1, 2.5, float("nan")), 3: {"z", "y"}, "b": b"x"}
        expected = {"a": [1, 2.5, None], "3": ["y", "z"], "b": "x"}
        self.assertEqual(self.runtime.to_jsonable(value), expected)


class _Files(http.server.BaseHTTPRequestHandler):
    """Serves `files` by path, 404 for the rest, and counts the requests."""

    files: dict = {}
    requests: list = []

    def do_GET(self) -> None:
        self.requests.append(self.path)
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *_args: Any) -> None:
        pass


class DownloadTest(InProcess):
    def setUp(self) -> None:
        super().setUp()
        handler = type("Files", (_Files,), {"files": {}, "requests": []})
        handler.files["/penguins.csv"] = b"species,mass\nAdelie,3750\n"
        self.handler = handler
        # Only the loopback interface: the test never talks to any other address.
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        self.base = f"http://127.0.0.1:{server.server_address[1]}"
        proxyless = {"no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
        patcher = mock.patch.dict(os.environ, proxyless)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.runtime.enter_notebook_folder("nb")

    def test_fetches_relative_to_the_notebook_folder_then_skips(self) -> None:
        url = f"{self.base}/penguins.csv"
        self.fetch.download(url, "raw/penguins.csv")
        target = self.data / "nb" / "raw" / "penguins.csv"
        self.assertEqual(target.read_bytes(), b"species,mass\nAdelie,3750\n")
        self.assertEqual(os.listdir(target.parent), ["penguins.csv"])

        with self.assertLogs("nb2svc", "INFO") as logs:
            self.fetch.download(url, "raw/penguins.csv")
        self.assertEqual(self.handler.requests, ["/penguins.csv"])
        self.assertIn("already there", "\n".join(logs.output))

    def test_a_failed_fetch_names_the_url_and_leaves_nothing(self) -> None:
        url = f"{self.base}/missing.csv"
        with self.assertRaises(OSError) as raised:
            self.fetch.download(url, "raw/missing.csv")
        self.assertIn(url, str(raised.exception))
        self.assertIn("raw/missing.csv", str(raised.exception))
        self.assertEqual(os.listdir(self.data / "nb" / "raw"), [])


class UnpackTest(InProcess):
    def setUp(self) -> None:
        super().setUp()
        self.folder = self.runtime.enter_notebook_folder("nb")

    def zip_of(self, name: str, members: dict) -> str:
        with zipfile.ZipFile(name, "w") as bundle:
            for member, content in members.items():
                bundle.writestr(member, content)
        return name

    def tar_of(self, name: str, members: list) -> str:
        with tarfile.open(name, "w:gz") as bundle:
            for info, content in members:
                bundle.addfile(info, io.BytesIO(content) if content else None)
        return name

    def file_info(self, name: str, content: bytes) -> tuple:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        return info, content

    def test_zip_unpacks_once(self) -> None:
        archive = self.zip_of("bundle.zip", {"a.txt": "A", "dir/b.txt": "B"})
        self.fetch.unpack(archive, "out")
        self.assertEqual((self.folder / "out" / "dir" / "b.txt").read_text(), "B")
        (self.folder / "out" / "a.txt").write_text("edited")
        self.fetch.unpack(archive, "out")
        self.assertEqual((self.folder / "out" / "a.txt").read_text(), "edited")
        (self.folder / "out" / "dir" / "b.txt").unlink()
        self.fetch.unpack(archive, "out")
        self.assertTrue((self.folder / "out" / "dir" / "b.txt").exists())

    def test_tar_is_told_by_content_and_unpacks_here_by_default(self) -> None:
        archive = self.tar_of("bundle.dat", [self.file_info("t/x.csv", b"1,2\n")])
        self.fetch.unpack(archive)
        self.assertEqual((self.folder / "t" / "x.csv").read_bytes(), b"1,2\n")

    def test_a_member_escaping_dest_is_refused_before_anything_is_written(self) -> None:
        archive = self.zip_of("evil.zip", {"ok.txt": "fine", "../evil.txt": "gotcha"})
        with self.assertRaises(ValueError) as raised:
            self.fetch.unpack(archive, "out")
        self.assertIn("../evil.txt", str(raised.exception))
        self.assertFalse((self.folder / "evil.txt").exists())
        self.assertFalse((self.folder / "out").exists())

    def test_absolute_members_and_escaping_links_are_refused(self) -> None:
        absolute = self.tar_of("abs.tar", [self.file_info("/abs/evil.txt", b"x")])
        with self.assertRaises(ValueError):
            self.fetch.unpack(absolute, "out")
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "../../outside"
        with self.assertRaises(ValueError):
            self.fetch.unpack(self.tar_of("link.tar", [(link, b"")]), "out")
        self.assertFalse((self.folder / "out").exists())

    def test_neither_zip_nor_tar(self) -> None:
        Path("plain.txt").write_text("not an archive")
        with self.assertRaises(ValueError):
            self.fetch.unpack("plain.txt")


TRAINING_NOTEBOOK = """\
# %% cell 1 (id defs), line 1
import os
import pickle
import subprocess
import sys


class Scaler:
    def __init__(self, factor):
        self.factor = factor
        self.feature_names_in_ = ["x"]
        self.n_features_in_ = 1
        self.classes_ = (0, 1)

    def predict(self, rows):
        return [row[0] * self.factor for row in rows]


if _nb2svc_training:  # this cell trains: it writes models/{name}.pkl
    # %% cell 2 (id train), line 1
    print("TRAINING", os.environ.get("NB2SVC_TRAINING"))
    for name, factor in [("small", 2), ("large", 10)]:
        pickle.dump(Scaler(factor), open(f"models/{name}.pkl", "wb"))
    # A worker that imports the notebook (to unpickle a Scaler, say) does not retrain.
    child = "import app.notebook as nb; print('CHILD TRAINS', nb._nb2svc_training)"
    path = {**os.environ, "PYTHONPATH": str(_nb2svc.APP_DIR.parent)}
    subprocess.run([sys.executable, "-c", child], env=path, check=True)
"""

SERVICE = """\
import json, os
from app import nb2svc_models, nb2svc_runtime as runtime
import app.notebook
import app.later  # after the chdir: '' on sys.path was pinned
state = runtime.ServiceState()
nb2svc_models.load_recorded_artifacts(state)
print(json.dumps({
    "training": app.notebook._nb2svc_training,
    "types": {n: f"{type(o).__module__}.{type(o).__name__}"
              for n, o in state.artifacts.items()},
    "predictions": {n: o.predict([[3]]) for n, o in state.artifacts.items()},
    "models": nb2svc_models.describe_artifacts(state),
    "cwd": os.getcwd(),
}))
"""


class TrainAsModuleTest(unittest.TestCase):
    def setUp(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="nb2svc-train-")).resolve()
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)

    def test_trains_then_the_service_unpickles_the_notebooks_classes(self) -> None:
        later = {"later.py": "VALUE = 1\n"}
        project = make_project(self.root, TRAINING_NOTEBOOK, later)
        trained = run_python(project, "-m", "app.notebook")
        self.assertEqual(trained.returncode, 0, trained.stderr)
        # Once: never as __main__, nor in the process it starts.
        self.assertEqual(trained.stdout, "TRAINING 1\nCHILD TRAINS False\n")
        self.assertIn("created the missing folder models/", trained.stderr)

        models = project / "data" / "sub" / "dir" / "models"
        entries = read_manifest(project)
        self.assertEqual([e["name"] for e in entries], ["small", "large"])
        small = entries[0]
        self.assertEqual(
            small,
            {
                "name": "small",
                "path": "sub/dir/models/small.pkl",
                "serializer": "pickle",
                "type": "app.notebook.Scaler",
                "predicts": True,
                "features": ["x"],
                "n_features": 1,
                "classes": [0, 1],
                "cell": 2,
                "cell_id": "train",
                "line": 3,
                "sha256": sha256(models / "small.pkl"),
                "bytes": (models / "small.pkl").stat().st_size,
            },
        )

        served = run_python(project, "-c", SERVICE)
        self.assertEqual(served.returncode, 0, served.stderr)
        self.assertNotIn("TRAINING", served.stdout)
        report = json.loads(served.stdout)
        self.assertFalse(report["training"])
        self.assertEqual(report["types"]["large"], "app.notebook.Scaler")
        self.assertEqual(report["predictions"], {"small": [6], "large": [30]})
        self.assertEqual(report["models"]["small"]["file"]["path"], small["path"])
        self.assertEqual(Path(report["cwd"]), project / "data" / "sub" / "dir")
        self.assertEqual(read_manifest(project), entries)

    def test_a_failure_names_the_cell_and_how_to_ship_the_missing_file(self) -> None:
        notebook = """\
        # %% cell 1 (id first), line 1
        import csv
        # %% cell 2 (id reads), line 1
        rows = []
        with open("inputs/train.csv") as handle:
            rows = list(csv.reader(handle))
        """
        project = make_project(self.root, notebook)
        trained = run_python(project, "-m", "app.notebook")
        self.assertEqual(trained.returncode, 1)
        lines = trained.stderr.splitlines()
        self.assertTrue(
            lines[0].startswith(
                "nb2svc: training failed in cell 2 (id reads), line 2: "
                "FileNotFoundError: "
            ),
            trained.stderr,
        )
        self.assertEqual(
            lines[1],
            "the notebook reads inputs/train.csv (relative to its folder), which the "
            "service does not ship: pass --include inputs/train.csv to nb2svc, or put "
            "it under data/sub/dir/inputs/train.csv",
        )
        self.assertEqual(lines[2], "Traceback (most recent call last):")
        self.assertIn('app/notebook.py", line', lines[3])  # from the notebook's frame
        self.assertFalse((project / "data" / "sub" / "dir" / "inputs").exists())

    def test_other_threads_can_pickle_the_notebooks_functions_meanwhile(self) -> None:
        # As a multiprocessing pool's task handler does: under a plain import it would
        # wait for the import lock that the training itself holds.
        notebook = """\
        # %% cell 1 (id defs), line 1
        import pickle
        import threading


        def square(x):
            return x * x


        if _nb2svc_training:  # this cell trains
            # %% cell 2 (id pool), line 1
            pickled = []
            worker = threading.Thread(
                target=lambda: pickled.append(pickle.dumps(square)), daemon=True
            )
            worker.start()
            worker.join(timeout=20)
            print(b"app.notebook" in pickled[0] if pickled else "stuck")
        """
        project = make_project(self.root, notebook)
        trained = run_python(project, "-m", "app.notebook")
        self.assertEqual((trained.returncode, trained.stdout), (0, "True\n"))

    def test_the_service_trains_at_start_over_a_stale_manifest(self) -> None:
        project = make_project(self.root, TRAINING_NOTEBOOK, {"later.py": ""})
        stale = project / "data" / ".nb2svc" / "manifest.json"
        stale.parent.mkdir()
        entry = {"name": "old", "path": "old.pkl", "serializer": "pickle"}
        stale.write_text(json.dumps({"version": 1, "artifacts": [entry]}))
        served = run_python(project, "-c", SERVICE, NB2SVC_TRAIN_AT="start")
        self.assertEqual(served.returncode, 0, served.stderr)
        self.assertIn("TRAINING 1\nCHILD TRAINS False\n", served.stdout)
        report = json.loads(served.stdout.splitlines()[-1])
        self.assertTrue(report["training"])
        self.assertEqual(sorted(report["predictions"]), ["large", "small"])


RECORDING_NOTEBOOK = """\
# %% cell 1 (id setup), line 1
import io
import os
import pickle
import sys

import helpers

sys.path.insert(0, os.environ["EXTLIB"])
import extlib

# %% cell 2 (id saves), line 1
pickle.dump({"a": 1}, open("models/dict.pkl", "wb"))
helpers.save([1, 2], "models/nested/list.pkl")
with open("logs/run.txt", "w") as log:
    log.write("opened for writing: logs/ was created")
pickle.dump(1, io.BytesIO())
extlib.save(2, "models/ext.pkl")
pickle.dump("again", open("models/dict.pkl", "wb"))
pickle.dump(3, open("../other/2024 Model!.pkl", "wb"))
pickle.dump(4, open(os.path.join(os.environ["OUTSIDE"], "dict.pkl"), "wb"))
"""

HELPERS = """\
import pickle


def save(obj, path):
    with open(path, "wb") as handle:
        pickle.dump(obj, handle)
"""


# Stand-ins for xgboost and keras, with their shapes: a method saving through another
# (XGBModel.save_model calls Booster.save_model, Model.save calls save_model) must count
# once, and each must be watched although it is imported after the recording starts.
FAKE_LIBRARIES = {
    "xgboost/__init__.py": """\
from xgboost.core import Booster
from xgboost.sklearn import XGBClassifier, XGBModel
""",
    "xgboost/core.py": """\
class Booster:
    def save_model(self, fname):
        with open(fname, "w") as handle:
            handle.write("booster")

    def load_model(self, fname):
        with open(fname) as handle:
            self.loaded = handle.read()
""",
    "xgboost/sklearn.py": """\
from xgboost.core import Booster


class XGBModel:
    def save_model(self, fname):
        Booster().save_model(fname)

    def load_model(self, fname):
        self.booster = Booster()
        self.booster.load_model(fname)

    def predict(self, rows):
        return [1 for _ in rows]


class XGBClassifier(XGBModel):
    pass
""",
    "keras/__init__.py": "from keras import models\nfrom keras.models import Model\n",
    "keras/models.py": """\
import json


class Model:
    def save(self, filepath):
        save_model(self, filepath)


def save_model(model, filepath):
    with open(filepath, "w") as handle:
        json.dump({"class": type(model).__name__}, handle)


def load_model(filepath):
    with open(filepath) as handle:
        return {"keras": json.load(handle)}
""",
}

FAKES_NOTEBOOK = """\
# %% cell 1 (id fit), line 1
import keras
import xgboost

xgboost.XGBClassifier().save_model("boosters/clf.json")
xgboost.Booster().save_model("boosters/raw.json")
keras.Model().save("nets/net.keras")
keras.models.save_model(keras.Model(), "nets/other.keras")
"""

FAKES_SERVICE = """\
import json
from app import nb2svc_models, nb2svc_runtime as runtime
import app.notebook
state = runtime.ServiceState()
nb2svc_models.load_recorded_artifacts(state)
def shown(obj):  # a booster's content, what a keras stand-in loaded
    return vars(getattr(obj, "booster", obj)) if hasattr(obj, "__dict__") else obj
print(json.dumps({n: [type(o).__name__, shown(o)] for n, o in state.artifacts.items()}))
"""


class RecordingTest(unittest.TestCase):
    def setUp(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="nb2svc-record-")).resolve()
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)

    def test_records_what_the_notebooks_code_writes(self) -> None:
        extlib, outside = self.root / "extlib", self.root / "outside"
        extlib.mkdir()
        outside.mkdir()
        (extlib / "extlib.py").write_text(HELPERS)  # a library: its writes are its own
        modules = {"helpers.py": HELPERS}
        project = make_project(self.root / "project", RECORDING_NOTEBOOK, modules)
        env = {"EXTLIB": str(extlib), "OUTSIDE": str(outside)}
        trained = run_python(project, "-m", "app.notebook", **env)
        self.assertEqual(trained.returncode, 0, trained.stderr)

        folder = project / "data" / "sub" / "dir"
        self.assertTrue((folder / "logs" / "run.txt").exists())
        self.assertTrue((folder / "models" / "ext.pkl").exists())
        entries = read_manifest(project)
        summary = [
            (e["name"], e["path"], e["type"], e["cell_id"], e["line"]) for e in entries
        ]
        self.assertEqual(
            summary,
            [
                ("dict", "sub/dir/models/dict.pkl", "builtins.str", "saves", 7),
                ("list", "sub/dir/models/nested/list.pkl", "builtins.list", "saves", 2),
                ("model_2024_model", "sub/other/2024 Model!.pkl", "builtins.int",
                 "saves", 8),
                ("dict_2", (outside / "dict.pkl").as_posix(), "builtins.int",
                 "saves", 9),
            ],
        )  # fmt: skip
        self.assertTrue(entries[3]["outside_data"])
        self.assertNotIn("outside_data", entries[0])
        listed = project / "data" / entries[1]["path"]
        self.assertEqual(entries[1]["sha256"], sha256(listed))
        self.assertEqual(entries[1]["bytes"], listed.stat().st_size)
        self.assertEqual(entries[0]["predicts"], False)
        self.assertIsNone(entries[0]["features"])

    def test_writers_imported_after_the_start_and_native_formats(self) -> None:
        libraries = self.root / "libraries"
        for name, source in FAKE_LIBRARIES.items():
            (libraries / name).parent.mkdir(parents=True, exist_ok=True)
            (libraries / name).write_text(source)
        project = make_project(self.root / "project", FAKES_NOTEBOOK)
        env = {"PYTHONPATH": str(libraries)}
        trained = run_python(project, "-m", "app.notebook", **env)
        self.assertEqual(trained.returncode, 0, trained.stderr)
        summary = [
            (e["name"], e["serializer"], e["type"]) for e in read_manifest(project)
        ]
        self.assertEqual(
            summary,
            [
                ("clf", "xgboost", "xgboost.sklearn.XGBClassifier"),
                ("raw", "xgboost", "xgboost.core.Booster"),
                ("net", "keras", "keras.models.Model"),
                ("other", "keras", "keras.models.Model"),
            ],
        )
        served = run_python(project, "-c", FAKES_SERVICE, **env)
        self.assertEqual(served.returncode, 0, served.stderr)
        self.assertEqual(
            json.loads(served.stdout),
            {
                "clf": ["XGBClassifier", {"loaded": "booster"}],
                "raw": ["Booster", {"loaded": "booster"}],
                "net": ["dict", {"keras": {"class": "Model"}}],
                "other": ["dict", {"keras": {"class": "Model"}}],
            },
        )

    @unittest.skipUnless(
        has_module("joblib") and has_module("sklearn"), "needs joblib and sklearn"
    )
    def test_joblib_and_a_fitted_sklearn_model(self) -> None:
        notebook = """\
        # %% cell 1 (id fit), line 1
        import joblib
        from sklearn.linear_model import LogisticRegression
        if _nb2svc_training:  # this cell trains
            # %% cell 2 (id dump), line 1
            X, y = [[0, 0], [1, 1], [0, 1], [1, 0]], [0, 1, 0, 1]
            model = LogisticRegression().fit(X, y)
            joblib.dump(model, "models/lr.joblib")
        """
        project = make_project(self.root, notebook)
        trained = run_python(project, "-m", "app.notebook")
        self.assertEqual(trained.returncode, 0, trained.stderr)
        [entry] = read_manifest(project)  # joblib's own pickling is not a second one
        self.assertEqual(entry["serializer"], "joblib")
        self.assertTrue(entry["type"].endswith(".LogisticRegression"))
        self.assertEqual(
            (entry["predicts"], entry["features"], entry["n_features"]), (True, None, 2)
        )
        self.assertEqual(entry["classes"], [0, 1])
        self.assertEqual((entry["cell"], entry["line"]), (2, 3))
        service = """\
from app import nb2svc_models, nb2svc_runtime as runtime
import app.notebook
state = runtime.ServiceState()
nb2svc_models.load_recorded_artifacts(state)
print(state.artifacts["lr"].predict([[1, 1]])[0])
"""
        served = run_python(project, "-c", service)
        self.assertEqual(served.returncode, 0, served.stderr)
        self.assertEqual(served.stdout.strip(), "1")


if __name__ == "__main__":
    unittest.main()


# A notebook written in its author's container: it reads and writes absolute paths
# there. The container folder is made up, so nothing on this machine has it.
CONTAINER_NOTEBOOK = """\
_nb2svc.map_container_paths({"/nb2svc-test-container/work": "jupyter_work"})
# %% cell 2, line 1
import os
import pathlib
import pickle
rows = open("/nb2svc-test-container/work/rows.csv").read().split()
assert os.path.exists("/nb2svc-test-container/work/rows.csv")
assert pathlib.Path("/nb2svc-test-container/work/rows.csv").read_text().startswith("a")
os.makedirs("/nb2svc-test-container/work/models", exist_ok=True)
pickle.dump(rows, open("/nb2svc-test-container/work/models/rows.pkl", "wb"))
print(sorted(os.listdir("/nb2svc-test-container/work")))
"""


class ContainerPathsTest(unittest.TestCase):
    def setUp(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="nb2svc-mounts-")).resolve()
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)

    def test_the_authors_container_paths_are_served_from_data(self) -> None:
        project = make_project(self.root, CONTAINER_NOTEBOOK)
        held = project / "data" / "jupyter_work"
        held.mkdir()
        (held / "rows.csv").write_text("a\nb\n")
        trained = run_python(project, "-m", "app.notebook")
        self.assertEqual(trained.returncode, 0, trained.stderr)
        self.assertEqual(trained.stdout, "['models', 'rows.csv']\n")
        self.assertTrue((held / "models" / "rows.pkl").is_file())
        self.assertFalse(Path("/nb2svc-test-container").exists())
        [entry] = read_manifest(project)
        self.assertEqual(entry["path"], "jupyter_work/models/rows.pkl")
