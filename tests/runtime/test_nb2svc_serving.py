"""Tests of the runtime's serving guards (templates/nb2svc_runtime.py): an error in a
route is a 500 with a request id and nothing of the library's text, raised no further
(so uvicorn keeps the connection); a bad body is a 422 even for values JSON cannot echo;
a body over the limit is a 413; the docs can be turned off. They need fastapi and httpx;
`cargo test` runs them in a virtual environment that has them (tests/it/runtime.rs).
"""

import importlib.util
import os
import sys
import unittest
import uuid
from pathlib import Path
from unittest import mock

RUNTIME = Path(__file__).resolve().parents[2] / "templates" / "nb2svc_runtime.py"
MISSING = [n for n in ("fastapi", "httpx") if importlib.util.find_spec(n) is None]


def load_runtime():
    name = f"nb2svc_runtime_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, RUNTIME)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@unittest.skipIf(MISSING, f"needs {MISSING}")
class GuardsTest(unittest.TestCase):
    def app(self, **env: str):
        from fastapi import FastAPI
        from fastapi.exceptions import RequestValidationError
        from pydantic import BaseModel, ConfigDict

        runtime = load_runtime()
        with mock.patch.dict(os.environ, env):
            app = FastAPI(**runtime.docs_settings())
            limit = runtime.max_body_bytes()
        app.router.route_class = runtime.guarded_route_class()
        app.add_exception_handler(RequestValidationError, runtime.validation_error)
        app.add_middleware(runtime.BodyLimit, limit=limit)

        class Body(BaseModel):
            model_config = ConfigDict(allow_inf_nan=False, extra="forbid")
            x: float

        @app.post("/fails")
        def fails(body: Body) -> dict:
            raise ValueError(f"secret {sys.prefix}/lib/thing.py")

        @app.post("/echo")
        def echo(body: Body) -> dict:
            return {"x": body.x}

        return app

    def client(self, **env: str):
        from fastapi.testclient import TestClient

        # raise_server_exceptions: an exception that escaped the route would fail here.
        return TestClient(self.app(**env), raise_server_exceptions=True)

    def test_a_route_error_is_a_500_with_a_request_id_and_no_library_text(self) -> None:
        answer = self.client().post("/fails", json={"x": 1})
        self.assertEqual(answer.status_code, 500)
        body = answer.json()
        self.assertEqual(body["error"], "internal error")
        self.assertEqual(len(body["request_id"]), 16)
        self.assertNotIn("secret", answer.text)
        self.assertNotIn(sys.prefix, answer.text)

    def test_values_json_cannot_echo_are_a_422(self) -> None:
        client = self.client()
        for text in ('{"x": Infinity}', '{"x": NaN}', '{"x": 1e999}', '{"x": "inf"}'):
            answer = client.post(
                "/echo", content=text, headers={"content-type": "application/json"}
            )
            self.assertEqual(answer.status_code, 422, text)
            self.assertEqual(answer.json()["detail"][0]["loc"], ["body", "x"])
        extra = client.post("/echo", json={"x": 1, "y": 2})
        self.assertEqual(extra.status_code, 422)

    def test_deep_nesting_and_large_bodies_are_refused_before_parsing(self) -> None:
        client = self.client(NB2SVC_MAX_BODY_BYTES="1000")
        nested = "[" * 5000 + "]" * 5000
        self.assertEqual(client.post("/echo", content=nested[:900]).status_code, 400)
        self.assertEqual(client.post("/echo", content=nested).status_code, 413)
        self.assertEqual(client.post("/echo", json={"x": 2.5}).json(), {"x": 2.5})

    def test_docs_can_be_turned_off(self) -> None:
        self.assertEqual(self.client().get("/openapi.json").status_code, 200)
        off = self.client(NB2SVC_DOCS="off")
        self.assertEqual(off.get("/openapi.json").status_code, 404)
        self.assertEqual(off.get("/docs").status_code, 404)


@unittest.skipIf(MISSING, f"needs {MISSING}")
class StartupGateTest(unittest.TestCase):
    """A worker still running its setup: requests wait for it, probes do not."""

    def app(self, seconds: float):
        import threading

        from fastapi import FastAPI

        runtime = load_runtime()
        state = runtime.ServiceState()
        release = threading.Event()
        app = FastAPI()
        app.add_middleware(runtime.StartupGate, state=state, seconds=seconds)

        @app.get("/ready")
        def ready() -> dict:
            return {"ready": state.ready}

        @app.get("/placeholder")
        def placeholder() -> dict:
            state.require_ready()
            return {}

        def setup(loaded) -> None:
            # As the generated lifespan does: the route appears when setup ends.
            release.wait(30)
            app.get("/late")(lambda: {"served": "after setup"})

        return app, state, setup, release

    def test_a_request_during_setup_waits_and_reaches_the_route_setup_adds(self) -> None:
        import threading

        from fastapi.testclient import TestClient

        app, state, setup, release = self.app(seconds=30)
        client = TestClient(app)
        state.start(setup)
        self.assertEqual(client.get("/ready").json(), {"ready": False})
        answers = []
        waiting = threading.Thread(target=lambda: answers.append(client.get("/late")))
        waiting.start()
        waiting.join(0.5)
        self.assertTrue(waiting.is_alive(), "the request waits for the setup")
        release.set()
        waiting.join(30)
        self.assertEqual(answers[0].status_code, 200)
        self.assertEqual(answers[0].json(), {"served": "after setup"})

    def test_the_wait_is_bounded_and_then_answers_starting(self) -> None:
        from fastapi.testclient import TestClient

        app, state, setup, release = self.app(seconds=0.2)
        client = TestClient(app)
        state.start(setup)
        try:
            answer = client.get("/placeholder")
            self.assertEqual(answer.status_code, 503)
            self.assertEqual(answer.json()["detail"], {"status": "starting"})
        finally:
            release.set()

    def test_the_wait_is_read_from_the_environment_and_checked(self) -> None:
        runtime = load_runtime()
        with mock.patch.dict(os.environ, {"NB2SVC_STARTUP_WAIT_SECONDS": "2.5"}):
            self.assertEqual(runtime.startup_wait_seconds(), 2.5)
        for bad in ("soon", "-1", "nan"):
            with mock.patch.dict(os.environ, {"NB2SVC_STARTUP_WAIT_SECONDS": bad}):
                with self.assertRaisesRegex(RuntimeError, "NB2SVC_STARTUP_WAIT_SECONDS"):
                    runtime.startup_wait_seconds()


if __name__ == "__main__":
    unittest.main()
