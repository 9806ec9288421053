"""pytest's setup for the runtime's tests: offline in this process too, by the guard
every Python they start loads (offline/sitecustomize.py, see clean_env)."""

import importlib.util
from pathlib import Path

_GUARD = Path(__file__).resolve().parent / "offline" / "sitecustomize.py"
_spec = importlib.util.spec_from_file_location("nb2svc_tests_offline", _GUARD)
_spec.loader.exec_module(importlib.util.module_from_spec(_spec))
