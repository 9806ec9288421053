//! The generated service running for real, without Docker: a virtual environment with the
//! merged requirements, uvicorn on 127.0.0.1, and real requests.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::support::{
    generate_into, http, root, start_uvicorn, venv_or_skip, wait_for, write_notebook,
};

/// Generates the service for `notebook` into a temporary folder.
fn generate(notebook: &Path, requirements: Option<&Path>, extra: &[&str]) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let output = generate_into(out.path(), notebook, requirements, extra);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

fn post(port: u16, path: &str, body: &Value) -> (u16, Value) {
    let (status, text) = http("POST", port, path, Some(&body.to_string())).unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The file the runtime recorded for artifact `name` in the service at `dir`.
fn recorded_file(dir: &Path, name: &str) -> PathBuf {
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("data/.nb2svc/manifest.json")).unwrap())
            .unwrap();
    let entry = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{name} is in the manifest: {manifest}"));
    dir.join("data").join(entry["path"].as_str().unwrap())
}

/// Trains the generated project in `dir` as the image build does (`python -m app.notebook`).
fn train(python_bin: &Path, dir: &Path) {
    let trained = Command::new(python_bin)
        .args(["-m", "app.notebook"])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(trained.success(), "the notebook trains as a script");
}

/// The penguins example generated with `extra` arguments, and a Python with its requirements.
fn penguins_with_venv(test: &str, extra: &[&str]) -> Option<(tempfile::TempDir, PathBuf)> {
    let example = root().join("examples/penguins");
    let out = generate(
        &example.join("penguins.ipynb"),
        Some(&example.join("requirements.txt")),
        extra,
    );
    let python_bin = venv_or_skip(test, &out.path().join("requirements.txt"))?;
    Some((out, python_bin))
}

#[test]
fn penguins_service_answers_real_predictions() {
    let Some((out, python_bin)) =
        penguins_with_venv("penguins_service_answers_real_predictions", &[])
    else {
        return;
    };
    // Train as the image build does; the artifacts land in data/.
    train(&python_bin, out.path());
    let model_file = recorded_file(out.path(), "penguins_rf");
    assert!(model_file.is_file());
    assert!(
        model_file.ends_with("models/penguins_rf.joblib"),
        "the notebook's own relative path, inside data/: {}",
        model_file.display()
    );
    assert!(
        !out.path().join("models").exists(),
        "artifacts go to data/, not the working directory"
    );

    let (_server, port) = start_uvicorn(&python_bin, out.path(), &[], false);
    assert_eq!(wait_for(port, "/health", 200, 60).0, 200, "/health answers");
    let ready = wait_for(port, "/ready", 200, 60);
    assert_eq!(ready.0, 200, "/ready: {}", ready.1);
    let (status, docs) = http("GET", port, "/docs", None).unwrap();
    assert!(
        status == 200 && docs.contains("swagger"),
        "/docs serves Swagger UI"
    );
    let (_, openapi) = http("GET", port, "/openapi.json", None).unwrap();
    let openapi: Value = serde_json::from_str(&openapi).unwrap();
    for path in [
        "/predict",
        "/predict/penguins_rf",
        "/predict/penguins_logreg",
        "/models",
        "/health",
        "/ready",
    ] {
        assert!(
            openapi["paths"].get(path).is_some(),
            "{path} in the OpenAPI schema"
        );
    }
    let adelie = json!({"island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
                        "flipper_length_mm": 181.0, "body_mass_g": 3750.0, "sex": "male"});
    assert_eq!(
        post(port, "/predict", &adelie),
        (200, json!({"model": "penguins_rf", "prediction": "Adelie"}))
    );
    let gentoo = json!({"island": "Biscoe", "bill_length_mm": 47.5, "bill_depth_mm": 14.2,
                        "flipper_length_mm": 217.0, "body_mass_g": 4925.0, "sex": "female"});
    assert_eq!(
        post(port, "/predict/penguins_logreg", &gentoo),
        (
            200,
            json!({"model": "penguins_logreg", "prediction": "Gentoo"})
        )
    );
    let (status, invalid) = post(port, "/predict", &json!({"island": "Atlantis"}));
    assert_eq!(
        status, 422,
        "validation rejects an unknown island and missing fields: {invalid}"
    );
    let (_, models) = http("GET", port, "/models", None).unwrap();
    let models: Value = serde_json::from_str(&models).unwrap();
    assert_eq!(models["penguins_rf"]["predicts"], true);
    assert_eq!(models["penguins_rf"]["features"][0], "bill_length_mm");
    // /models names the file it serves, by content: the one training wrote.
    let trained = fs::read(&model_file).unwrap();
    let sum = Command::new("sha256sum").arg(&model_file).output().unwrap();
    let sum = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(models["penguins_rf"]["file"]["sha256"], sum.as_str());
    assert_eq!(models["penguins_rf"]["file"]["bytes"], trained.len());
    let shown = models["penguins_rf"]["file"]["path"].as_str().unwrap();
    assert!(
        model_file.ends_with(shown) && !shown.starts_with('/'),
        "/models shows the path inside data/, never a host path: {shown}"
    );
    let example = &openapi["components"]["schemas"]["PenguinsRfRequest"]["example"];
    assert_eq!(
        post(port, "/predict", example).0,
        200,
        "the Swagger example validates: {example}"
    );
}

#[test]
fn function_endpoint_and_failed_setup_report_the_cell() {
    let fixture = root().join("tests/fixtures/cases/predict_function");
    let out = generate(&fixture.join("notebook.ipynb"), None, &[]);
    let Some(python_bin) = venv_or_skip(
        "function_endpoint_and_failed_setup_report_the_cell",
        &out.path().join("requirements.txt"),
    ) else {
        return;
    };
    let (server, port) = start_uvicorn(&python_bin, out.path(), &[], false);
    assert_eq!(wait_for(port, "/ready", 200, 60).0, 200);
    let (status, body) = post(port, "/predict", &json!({"x": 2.5, "tags": ["t"]}));
    assert_eq!(
        (status, body),
        (200, json!({"y": 5, "label": "a", "tags": ["t"]}))
    );
    drop(server);

    // A cell that fails at start: /ready says which cell and line, the process keeps serving.
    let notebook = out.path().join("app/notebook.py");
    let code = fs::read_to_string(&notebook).unwrap().replace(
        "import math\n",
        "import math\nraise ValueError('no data here')\n",
    );
    fs::write(&notebook, code).unwrap();
    let (_server, port) = start_uvicorn(&python_bin, out.path(), &[], false);
    let (status, body) = wait_for(port, "/ready", 503, 60);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 503);
    assert_eq!(body["status"], "failed");
    assert_eq!(body["error"], "ValueError: no data here");
    assert_eq!(
        (body["cell"].as_u64(), body["line"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(
        http("GET", port, "/health", None).unwrap().0,
        200,
        "liveness is unaffected"
    );
}

#[test]
fn penguins_service_can_train_once_at_start() {
    let Some((out, python_bin)) = penguins_with_venv(
        "penguins_service_can_train_once_at_start",
        &["--train-at", "start"],
    ) else {
        return;
    };
    assert!(!fs::read_to_string(out.path().join("Dockerfile"))
        .unwrap()
        .contains("RUN python -m app.notebook"));
    // No training beforehand: the service trains in the background while /health answers.
    let (_server, port) = start_uvicorn(
        &python_bin,
        out.path(),
        &[("NB2SVC_TRAIN_AT", "start".as_ref())],
        false,
    );
    assert_eq!(wait_for(port, "/health", 200, 60).0, 200);
    let ready = wait_for(port, "/ready", 200, 120);
    assert_eq!(ready.0, 200, "/ready: {}", ready.1);
    assert!(recorded_file(out.path(), "penguins_rf").is_file());
    let adelie = json!({"island": "Dream", "bill_length_mm": 38.9, "bill_depth_mm": 18.8,
                        "flipper_length_mm": 190.0, "body_mass_g": 3600.0, "sex": "female"});
    assert_eq!(
        post(port, "/predict", &adelie),
        (200, json!({"model": "penguins_rf", "prediction": "Adelie"}))
    );
}

/// Issue 10: the floors nb2svc writes into requirements.txt are real. With the lowest versions
/// they allow (fastapi 0.100.0, pydantic 2.0.2, the first 2.x FastAPI 0.100 accepts, uvicorn
/// 0.15.0), kept as the user pinned them, the penguins service trains, validates, answers with
/// its models, and stops on SIGTERM with two workers, as `docker stop` asks.
#[test]
fn penguins_service_runs_on_the_lowest_versions_its_floors_allow() {
    let test = "penguins_service_runs_on_the_lowest_versions_its_floors_allow";
    let example = root().join("examples/penguins");
    let dir = tempfile::tempdir().unwrap();
    let requirements = dir.path().join("requirements.txt");
    let mut pins = fs::read_to_string(example.join("requirements.txt")).unwrap();
    pins.push_str("fastapi==0.100.0\npydantic==2.0.2\nuvicorn==0.15.0\n");
    fs::write(&requirements, pins).unwrap();
    let out = generate(&example.join("penguins.ipynb"), Some(&requirements), &[]);
    let merged = fs::read_to_string(out.path().join("requirements.txt")).unwrap();
    for pin in ["fastapi==0.100.0", "pydantic==2.0.2", "uvicorn==0.15.0"] {
        assert!(
            merged
                .lines()
                .any(|l| l.starts_with(&format!("{pin}  # from requirements.txt"))),
            "{pin} kept as written:\n{merged}"
        );
    }
    let Some(python_bin) = venv_or_skip(test, &out.path().join("requirements.txt")) else {
        return;
    };
    train(&python_bin, out.path());
    let (mut server, port) = start_uvicorn(
        &python_bin,
        out.path(),
        &[("WEB_CONCURRENCY", "2".as_ref())],
        false,
    );
    let ready = wait_for(port, "/ready", 200, 90);
    assert_eq!(ready.0, 200, "/ready: {}", ready.1);
    let gentoo = json!({"island": "Biscoe", "bill_length_mm": 47.5, "bill_depth_mm": 14.2,
                        "flipper_length_mm": 217.0, "body_mass_g": 4925.0, "sex": "female"});
    assert_eq!(
        post(port, "/predict/penguins_logreg", &gentoo),
        (
            200,
            json!({"model": "penguins_logreg", "prediction": "Gentoo"})
        )
    );
    assert_eq!(
        post(port, "/predict", &json!({"island": "Atlantis"})).0,
        422
    );
    let (_, openapi) = http("GET", port, "/openapi.json", None).unwrap();
    assert!(openapi.contains("PenguinsRfRequest"), "{openapi}");
    let stopped = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let asked = std::time::Instant::now();
    while server.0.try_wait().unwrap().is_none() {
        assert!(
            asked.elapsed().as_secs() < 15,
            "uvicorn with two workers stops on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn runtime_turns_numpy_and_pandas_values_into_json() {
    let Some((out, python_bin)) =
        penguins_with_venv("runtime_turns_numpy_and_pandas_values_into_json", &[])
    else {
        return;
    };
    let script = r#"
import json, math, datetime
import numpy as np, pandas as pd
from app.nb2svc_runtime import to_jsonable
values = {
    "int64": np.int64(3), "float32": np.float32(0.5), "bool": np.bool_(True), "nan": float("nan"),
    "array": np.array([[1, 2], [3, 4]]), "series": pd.Series([1.5, 2.5]),
    "indexed": pd.Series({"a": 1}), "frame": pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}),
    "set": {3, 1, 2}, "tuple": (1, "b"), "date": datetime.date(2026, 11, 26), "nat": pd.NaT,
}
print(json.dumps(to_jsonable(values), sort_keys=True, allow_nan=False))
"#;
    let output = Command::new(&python_bin)
        .args(["-c", script])
        .current_dir(out.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        value,
        json!({"int64": 3, "float32": 0.5, "bool": true, "nan": null, "array": [[1, 2], [3, 4]],
               "series": [1.5, 2.5], "indexed": {"a": 1}, "frame": [{"x": 1, "y": "a"}, {"x": 2, "y": "b"}],
               "set": [1, 2, 3], "tuple": [1, "b"], "date": "2026-11-26", "nat": null})
    );
}

/// One HTTP/1.1 exchange on an open connection, kept alive: the status, the body, and whether
/// the server kept the connection open for the next request.
fn exchange(
    stream: &mut std::net::TcpStream,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    use std::io::{BufRead, BufReader, Read, Write};
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut payload = vec![0; length];
    reader.read_exact(&mut payload).unwrap();
    (status, String::from_utf8_lossy(&payload).into_owned())
}

/// Issue 9: bad request bodies get a 4xx that carries no internals, on a connection that stays
/// open, and /health answers throughout a load run of them.
#[test]
fn penguins_service_refuses_bad_bodies_with_4xx_and_keeps_serving() {
    let test = "penguins_service_refuses_bad_bodies_with_4xx_and_keeps_serving";
    let Some((out, python_bin)) = penguins_with_venv(test, &[]) else {
        return;
    };
    train(&python_bin, out.path());
    let (_server, port) = start_uvicorn(&python_bin, out.path(), &[], true);
    assert_eq!(wait_for(port, "/ready", 200, 60).0, 200);
    let good = r#""island": "Biscoe", "bill_depth_mm": 14.2, "flipper_length_mm": 217.0, "body_mass_g": 4925.0, "sex": "female""#;
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge = format!(
        r#"{{{good}, "bill_length_mm": 47.5, "pad": "{}"}}"#,
        "x".repeat(10 << 20)
    );
    let bad: Vec<(&str, &str, String)> = vec![
        (
            "Infinity",
            "application/json",
            format!(r#"{{{good}, "bill_length_mm": Infinity}}"#),
        ),
        (
            "NaN",
            "application/json",
            format!(r#"{{{good}, "bill_length_mm": NaN}}"#),
        ),
        (
            "1e999",
            "application/json",
            format!(r#"{{{good}, "bill_length_mm": 1e999}}"#),
        ),
        (
            "\"inf\"",
            "application/json",
            format!(r#"{{{good}, "bill_length_mm": "inf"}}"#),
        ),
        (
            "a wrong type",
            "application/json",
            format!(r#"{{{good}, "bill_length_mm": "long"}}"#),
        ),
        ("a missing field", "application/json", format!("{{{good}}}")),
        (
            "an extra field",
            "application/json",
            format!(r#"{{{good}, "bill_length_mm": 47.5, "beak": 1}}"#),
        ),
        (
            "an unknown island",
            "application/json",
            format!(
                r#"{{{}, "bill_length_mm": 47.5}}"#,
                good.replace("Biscoe", "Atlantis")
            ),
        ),
        (
            "invalid JSON",
            "application/json",
            "{\"island\": ".to_string(),
        ),
        ("deep nesting", "application/json", nested),
        (
            "a wrong content type",
            "text/plain",
            format!(r#"{{{good}, "bill_length_mm": 47.5}}"#),
        ),
        ("10 MB", "application/json", huge),
    ];
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    for (what, content_type, body) in &bad {
        let (status, answer) = exchange(&mut stream, "/predict", content_type, body.as_bytes());
        assert!(
            (400..500).contains(&status),
            "{what}: {status} {answer:.300}"
        );
        for internal in [
            "Traceback",
            "site-packages",
            "sklearn",
            "/code/",
            "/tmp/",
            "File \"",
        ] {
            assert!(
                !answer.contains(internal),
                "{what}: {internal} in {answer:.500}"
            );
        }
        if *what == "10 MB" {
            assert_eq!(status, 413, "{answer}");
            // A refused body is not read: this connection is done.
            stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(30)))
                .unwrap();
        }
    }
    // The same connection still answers a good body after all the bad ones.
    let fine = format!(r#"{{{good}, "bill_length_mm": 47.5}}"#);
    let (status, answer) = exchange(&mut stream, "/predict", "application/json", fine.as_bytes());
    assert_eq!(status, 200, "{answer}");

    // A bounded load run of bad bodies from four clients; /health answers all along.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            let body = bad[0].2.clone();
            std::thread::spawn(move || {
                let mut sent = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (status, _) = http("POST", port, "/predict", Some(&body)).unwrap();
                    assert_eq!(status, 422);
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(4) {
        let (status, _) = http("GET", port, "/health", None).unwrap();
        assert_eq!(status, 200, "/health during the load run");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert!(sent > 20, "the load run sent {sent} bad bodies");
}

/// A credential nb2svc took out of the code comes from the environment: without it the
/// service says which variable and cell at `/ready`; with it, it answers.
#[test]
fn a_credential_comes_from_the_environment_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let cells = [
        "import math\nAPI_KEY = 'a8f5f167f44f4964e6c998dee827110c'\n",
        "def predict(x: float) -> dict:\n    # nb2svc: endpoint\n    return {'y': math.floor(x), 'key_length': len(API_KEY)}\n",
    ];
    let notebook = write_notebook(dir.path().join("keyed.ipynb"), &cells);
    let out = generate(&notebook, None, &[]);
    let Some(python_bin) = venv_or_skip(
        "a_credential_comes_from_the_environment_at_start",
        &out.path().join("requirements.txt"),
    ) else {
        return;
    };
    let (server, port) = start_uvicorn(&python_bin, out.path(), &[("API_KEY", "".as_ref())], true);
    let (status, body) = wait_for(port, "/ready", 503, 60);
    assert_eq!(status, 503, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("credential API_KEY is not set: cell 1, line 2 had it written in the code")
            && error.contains(".env.example"),
        "{error}"
    );
    drop(server);

    let key = "0123456789abcdef".as_ref();
    let (_server, port) = start_uvicorn(&python_bin, out.path(), &[("API_KEY", key)], false);
    assert_eq!(wait_for(port, "/ready", 200, 60).0, 200);
    assert_eq!(
        post(port, "/predict", &json!({"x": 2.5})),
        (200, json!({"y": 2, "key_length": 16}))
    );
}
