"""Tests of the runtime's split into modules: a service gets only those its plan uses,
so the core must work with any of the others missing, and say when one was written by
another nb2svc. pytest style; standard library only.
"""

import json
import logging
import sys
from pathlib import Path

import pytest
from test_nb2svc_runtime import (
    TEMPLATES,
    forget_app,
    import_app,
    make_project,
    read_manifest,
    run_python,
)

ONLY_THE_CORE = ("nb2svc_runtime",)

# A notebook that trains and writes into a folder it never made.
SAVES = """\
# %% cell 1 (id saves), line 1
import pickle
if _nb2svc_training:  # this cell trains
    # %% cell 2 (id dump), line 1
    pickle.dump([1, 2], open("models/list.pkl", "wb"))
    print("TRAINED")
"""


@pytest.fixture
def imported(tmp_path, monkeypatch):
    """Imports a project's app package: `imported(runtime=...)` gives its modules."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)

    def load(runtime=ONLY_THE_CORE, version=None):
        project = make_project(tmp_path / "project", "", runtime=runtime)
        if version is not None:
            stale = project / "app" / "nb2svc_fetch.py"
            text = stale.read_text().replace("@nb2svc_version@", version)
            stale.write_text(text)
        return import_app(project, project / "data")

    yield load
    forget_app()


def test_every_module_states_its_version_in_a_header_and_a_constant():
    for path in sorted(TEMPLATES.glob("nb2svc_*.py")):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# Written by nb2svc @nb2svc_version@:"), path.name
        assert 'NB2SVC_VERSION = "@nb2svc_version@"' in text, path.name


def test_the_core_finds_the_modules_that_ship_and_none_for_the_others(imported):
    modules = imported(runtime=("nb2svc_runtime", "nb2svc_models"))
    runtime = modules["nb2svc_runtime"]
    assert runtime.feature("nb2svc_models") is modules["nb2svc_models"]
    assert runtime.feature("nb2svc_fetch") is None
    assert runtime.feature("nb2svc_recording") is None


def test_a_module_of_another_version_is_said_in_the_log(imported, caplog):
    runtime = imported(runtime=("nb2svc_runtime", "nb2svc_fetch"), version="0.0.1")[
        "nb2svc_runtime"
    ]
    with caplog.at_level(logging.WARNING, logger="nb2svc"):
        assert runtime.feature("nb2svc_fetch") is not None
    assert (
        "app/nb2svc_fetch.py was written by nb2svc 0.0.1, the rest of the runtime by "
        "@nb2svc_version@" in caplog.text
    )


def test_an_error_inside_a_shipped_module_is_not_taken_for_its_absence(imported):
    modules = imported(runtime=("nb2svc_runtime", "nb2svc_fetch"))
    runtime = modules["nb2svc_runtime"]
    broken = Path(modules["nb2svc_fetch"].__file__)
    broken.write_text("import nb2svc_no_such_module\n")
    del sys.modules["app.nb2svc_fetch"]
    runtime.feature.cache_clear()
    with pytest.raises(ModuleNotFoundError, match="nb2svc_no_such_module"):
        runtime.feature("nb2svc_fetch")


def test_the_ready_log_line_names_the_nb2svc_that_wrote_the_service(imported):
    runtime = imported()["nb2svc_runtime"]
    state = runtime.ServiceState()
    # The service logs to stderr itself, not through the root logger: listen directly.
    lines = []
    listener = logging.Handler()
    listener.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger("nb2svc")
    level = logger.level
    logger.addHandler(listener)
    logger.setLevel(logging.INFO)
    try:
        state.start(lambda _state: None).join(10)
    finally:
        logger.removeHandler(listener)
        logger.setLevel(level)
    assert state.ready
    assert lines == ["nb2svc @nb2svc_version@: setup finished, service ready"]


def test_the_core_alone_trains_without_recording(tmp_path):
    # A service that serves a function and never trains ships no recording: a training
    # run by hand still runs the cells, and records nothing.
    project = make_project(tmp_path, SAVES, runtime=ONLY_THE_CORE)
    (project / "data" / "sub" / "dir" / "models").mkdir(parents=True)
    trained = run_python(project, "-m", "app.notebook")
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout == "TRAINED\n"
    assert not (project / "data" / ".nb2svc").exists()


def test_recording_without_the_replay_records_the_manifest_and_creates_folders(
    tmp_path,
):
    # A service that serves functions and trains at build: recording ships, the replay
    # of model inputs (which only prediction routes use) does not.
    runtime = ("nb2svc_runtime", "nb2svc_recording")
    project = make_project(tmp_path, SAVES, runtime=runtime)
    trained = run_python(project, "-m", "app.notebook")
    assert trained.returncode == 0, trained.stderr
    assert "created the missing folder models/" in trained.stderr
    [entry] = read_manifest(project)
    assert (entry["name"], entry["path"], entry["cell_id"]) == (
        "list",
        "sub/dir/models/list.pkl",
        "dump",
    )
    assert "inputs" not in entry
    # Which route takes what is said only where there are prediction routes.
    assert "takes the" not in trained.stderr


def test_a_service_importing_the_notebook_needs_no_replay_module(tmp_path):
    project = make_project(tmp_path, "VALUE = 41 + 1\n", runtime=ONLY_THE_CORE)
    service = (
        "from app import nb2svc_runtime as runtime\n"
        "import json\n"
        "print(json.dumps(runtime.import_notebook().VALUE))\n"
    )
    served = run_python(project, "-c", service)
    assert served.returncode == 0, served.stderr
    assert json.loads(served.stdout) == 42


def test_the_tests_are_offline():
    import socket

    with pytest.raises(OSError, match="offline"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
