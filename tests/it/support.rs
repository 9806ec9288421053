//! Shared helpers: paths, the binary, external tools, and the rule for optional tests.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared corpus, read in place; CI has it beside the checkout. Without it the tests that
/// read it skip, saying so, except under NB2SVC_E2E=1, where a missing corpus fails every one
/// of them: a green CI run has really checked the corpus.
pub fn corpus() -> Option<PathBuf> {
    let dir = root().join("../shared/corpus");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("NB2SVC_E2E").as_deref() != Ok("1"),
        "../shared/corpus is required with NB2SVC_E2E=1 but {} is not there",
        dir.display()
    );
    None
}

/// The nb2svc binary under test, with its requirements unlocked (`NB2SVC_LOCK=no`): a test
/// reads no package index unless it asks with `--lock` (see [`nb2svc_default_lock`]).
pub fn nb2svc() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::cargo_bin("nb2svc").expect("the nb2svc binary is built");
    command.env("NB2SVC_LOCK", "no");
    command
}

/// The nb2svc binary under test with the default choice of locking (lock when uv and the
/// index answer), whatever the environment of the test run says.
pub fn nb2svc_default_lock() -> assert_cmd::Command {
    let mut command = nb2svc();
    command.env_remove("NB2SVC_LOCK");
    command
}

/// Whether uv is installed and PyPI answers it: what a test of real locking needs.
pub fn uv_and_index() -> bool {
    static ANSWER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ANSWER.get_or_init(|| {
        let Ok(dir) = tempfile::tempdir() else {
            return false;
        };
        let input = dir.path().join("requirements.in");
        std::fs::write(&input, "six\n").is_ok()
            && Command::new("uv")
                .args([
                    "--color",
                    "never",
                    "pip",
                    "compile",
                    "--no-header",
                    "--quiet",
                ])
                .arg(&input)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
    })
}

/// Whether `program args...` runs and exits 0.
pub fn works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Tests that need an outside tool run when it is there. Without it they are skipped with a
/// visible note, unless NB2SVC_E2E=1 (as in CI), where a missing tool is a failure.
pub fn tool_or_skip(test: &str, available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var("NB2SVC_E2E").as_deref() == Ok("1") {
        panic!("{test}: {what} is required with NB2SVC_E2E=1 but is not available");
    }
    eprintln!("SKIPPED {test}: {what} is not available (set NB2SVC_E2E=1 to make this a failure)");
    false
}

/// Every file under `dir`, relative, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(
                    path.strip_prefix(base)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A Python 3 interpreter on the host.
pub fn python() -> &'static str {
    "python3"
}

/// One HTTP/1.1 request to 127.0.0.1:`port`; returns the status and the body.
pub fn http(
    method: &str,
    port: u16,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, payload) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let payload = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        unchunk(payload)
    } else {
        payload.to_string()
    };
    Ok((status, payload))
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Polls `path` until it answers `status` or `seconds` pass; returns the last answer.
pub fn wait_for(port: u16, path: &str, status: u16, seconds: u64) -> (u16, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let mut last = (0, String::new());
    while std::time::Instant::now() < deadline {
        if let Ok(answer) = http("GET", port, path, None) {
            if answer.0 == status {
                return answer;
            }
            last = answer;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    last
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when the test ends, pass or fail.
/// A server started in a process group of its own. Dropping it kills the whole group: uvicorn's
/// workers outlive a killed parent, and would hold the test's stderr (and CI's log pipe) open.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One Docker test at a time: they build and time images, and would slow each other down.
static DOCKER_ENGINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits for the Docker engine (held for the whole test), or skips the test when there is no
/// engine with the compose plugin and the `python:3.11-slim` image.
pub fn docker_or_skip(test: &str) -> Option<std::sync::MutexGuard<'static, ()>> {
    let available = works("docker", &["info"])
        && works("docker", &["compose", "version"])
        && works("docker", &["image", "inspect", "python:3.11-slim"]);
    if !tool_or_skip(
        test,
        available,
        "a Docker engine with compose and the python:3.11-slim image",
    ) {
        return None;
    }
    Some(
        DOCKER_ENGINE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
}

/// Runs nb2svc on `notebook` (with `requirements` and `extra` arguments) into `out`, quietly.
pub fn generate_into(
    out: &Path,
    notebook: &Path,
    requirements: Option<&Path>,
    extra: &[&str],
) -> std::process::Output {
    let mut command = nb2svc();
    command
        .arg(notebook)
        .arg("-o")
        .arg(out)
        .arg("-q")
        .args(extra);
    if let Some(requirements) = requirements {
        command.arg("-r").arg(requirements);
    }
    command.output().expect("nb2svc runs")
}

/// The text of a Python notebook (nbformat 4.5) whose code cells have these sources.
pub fn notebook_json(cells: &[&str]) -> String {
    let cells: Vec<serde_json::Value> = cells
        .iter()
        .map(|source| {
            serde_json::json!({"cell_type": "code", "metadata": {}, "source": source,
                "outputs": [], "execution_count": null})
        })
        .collect();
    serde_json::json!({"nbformat": 4, "nbformat_minor": 5, "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "language": "python"}}})
    .to_string()
}

/// Writes a notebook of these code cells at `path`, and returns the path.
pub fn write_notebook(path: PathBuf, cells: &[&str]) -> PathBuf {
    std::fs::write(&path, notebook_json(cells)).unwrap();
    path
}

/// stdout and stderr of a finished command, in that order.
pub fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// hadolint's findings on a Dockerfile at its default rules, or `None` when it has none.
pub fn hadolint_findings(dockerfile: &Path) -> Option<String> {
    let lint = Command::new("hadolint")
        .args(["--no-color", "--format", "tty"])
        .arg(dockerfile)
        .output()
        .unwrap();
    let findings = output_text(&lint);
    (!lint.status.success() || !findings.trim().is_empty()).then_some(findings)
}

/// What `docker compose -f FILE config --quiet` says about a compose file in `dir`, or `None`
/// when it accepts the file silently.
pub fn compose_config_findings(dir: &Path, file: &str) -> Option<String> {
    let config = Command::new("docker")
        .args(["compose", "-f", file, "config", "--quiet"])
        .current_dir(dir)
        .output()
        .unwrap();
    let findings = output_text(&config);
    (!config.status.success() || !findings.trim().is_empty()).then_some(findings)
}

/// A virtual environment with `requirements`, kept under target/ between runs (keyed by the
/// file's contents) because installing scikit-learn and pandas takes a while. `python -m venv`
/// makes it (its bundled setuptools still has `pkg_resources`, as the image's Python does); uv
/// installs into it when it is there, pip otherwise. `Err` has the installer's output.
pub fn venv_for(requirements: &Path) -> Result<PathBuf, String> {
    use std::hash::{Hash, Hasher};
    // Tests run in parallel; two of them may want the same environment.
    static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = CREATING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let text = std::fs::read_to_string(requirements).map_err(|e| e.to_string())?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    let dir = root().join(format!("target/test-venvs/{:016x}", hasher.finish()));
    let python_bin = dir.join("bin/python");
    if dir.join(".complete").exists() {
        return Ok(python_bin);
    }
    let failed = dir.join(".failed");
    if let Ok(reason) = std::fs::read_to_string(&failed) {
        return Err(reason);
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    let created = Command::new(python())
        .args(["-m", "venv"])
        .arg(&dir)
        .output()
        .map_err(|e| e.to_string())?;
    if !created.status.success() {
        return Err(output_text(&created));
    }
    let install = if works("uv", &["--version"]) {
        Command::new("uv")
            .args(["pip", "install", "--quiet", "--python"])
            .arg(&python_bin)
            .arg("-r")
            .arg(requirements)
            .output()
    } else {
        // Not quiet: pip names the requirement it was building only in its progress lines,
        // and a failure's reason must say which one could not install (uv's errors do).
        Command::new(&python_bin)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-r"])
            .arg(requirements)
            .output()
    }
    .map_err(|e| e.to_string())?;
    if !install.status.success() {
        let reason = output_text(&install);
        // An unsatisfiable set stays unsatisfiable: remembered, so a rerun is quick. A network
        // failure is not remembered.
        if reason.contains("No solution found") || reason.contains("ResolutionImpossible") {
            std::fs::write(&failed, &reason).unwrap();
        }
        return Err(reason);
    }
    std::fs::write(dir.join(".complete"), "").unwrap();
    Ok(python_bin)
}

pub fn venv_or_skip(test: &str, requirements: &Path) -> Option<PathBuf> {
    if !tool_or_skip(
        test,
        works(python(), &["-c", "import venv, ensurepip"]),
        "python3 with venv",
    ) {
        return None;
    }
    match venv_for(requirements) {
        Ok(venv) => Some(venv),
        Err(reason) => {
            tool_or_skip(
                test,
                false,
                &format!(
                    "a virtual environment with the requirements (installing needs PyPI): {reason}"
                ),
            );
            None
        }
    }
}

/// uvicorn serving the generated service in `dir` on a free port of 127.0.0.1, with `env`; its
/// log goes to the test's stderr unless `quiet`. Killed when the returned guard drops.
pub fn start_uvicorn(
    python_bin: &Path,
    dir: &Path,
    env: &[(&str, &std::ffi::OsStr)],
    quiet: bool,
) -> (Running, u16) {
    let port = free_port();
    let child = Command::new(python_bin)
        .args([
            "-m",
            "uvicorn",
            "app.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .current_dir(dir)
        .envs(env.iter().copied())
        .process_group(0)
        .stdout(std::process::Stdio::null())
        .stderr(if quiet {
            std::process::Stdio::null()
        } else {
            std::process::Stdio::inherit()
        })
        .spawn()
        .expect("uvicorn starts");
    (Running(child), port)
}

/// Docker image builds hold this shared; image removals hold it alone. The classic builder
/// reuses cached layers of other images: a test removing its images while another builds on
/// the same cached layers fails that build ("failed to set parent ... unknown parent image").
pub static IMAGES: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Holds [`IMAGES`] for a build.
pub fn building() -> std::sync::RwLockReadGuard<'static, ()> {
    IMAGES
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Holds [`IMAGES`] for a removal.
pub fn removing() -> std::sync::RwLockWriteGuard<'static, ()> {
    IMAGES
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the lint tests generate: the penguins example both ways of training, every fixture
/// case and every corpus notebook, each with the requirements file beside it.
pub fn generated_inputs() -> Vec<(PathBuf, Option<PathBuf>, Vec<&'static str>)> {
    let example = root().join("examples/penguins");
    let mut inputs: Vec<(PathBuf, Option<PathBuf>, Vec<&'static str>)> = vec![
        (
            example.join("penguins.ipynb"),
            Some(example.join("requirements.txt")),
            vec![],
        ),
        (
            example.join("penguins.ipynb"),
            Some(example.join("requirements.txt")),
            vec!["--train-at", "start", "--container-port", "8080"],
        ),
        // Issue 10: uv's cache in a BuildKit mount, and a base image by digest.
        (
            example.join("penguins.ipynb"),
            Some(example.join("requirements.txt")),
            vec!["--buildkit-cache"],
        ),
        (
            example.join("penguins.ipynb"),
            Some(example.join("requirements.txt")),
            vec![
                "--base-image",
                "python:3.11-slim@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ],
        ),
    ];
    if uv_and_index() {
        // Locked: installed with --require-hashes.
        inputs.push((
            example.join("penguins.ipynb"),
            Some(example.join("requirements.txt")),
            vec!["--lock"],
        ));
    }
    let beside = |notebook: &Path| {
        let requirements = notebook.with_file_name("requirements.txt");
        requirements.is_file().then_some(requirements)
    };
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures/cases"))
        .unwrap()
        .map(|entry| entry.unwrap().path().join("notebook.ipynb"))
        .collect();
    if let Some(corpus) = corpus() {
        let mut stack = vec![corpus];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() && !path.ends_with(".ipynb_checkpoints") {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "ipynb") {
                    cases.push(path);
                }
            }
        }
    }
    cases.sort();
    for notebook in cases {
        let requirements = beside(&notebook);
        inputs.push((notebook, requirements, vec![]));
    }

    inputs
}
