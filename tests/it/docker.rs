//! The generated services as containers, for real: `docker compose up --build` on the bundled
//! penguins example and on two corpus notebooks, the development loop (bind mount plus
//! `--reload`), the production variant, the build cache, the dependency layer of two builds, and
//! the linters.
//!
//! Each test owns a compose project, a service and an image all named `nb2svc-e2e-PID-N`, talks
//! to the service only through its port published on 127.0.0.1, and takes its containers,
//! networks and images down when it ends, pass or fail. Without a Docker engine the tests are
//! skipped with a note, unless NB2SVC_E2E=1. Builds use the classic builder
//! (`DOCKER_BUILDKIT=0`), except one that shows BuildKit builds the same Dockerfile. Measured
//! times go to stderr: `cargo test --test it docker -- --nocapture` shows them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{
    compose_config_findings, corpus, free_port, hadolint_findings, http, nb2svc, output_text, root,
    tool_or_skip, wait_for, works,
};

/// Numbers the compose projects of this process.
static NEXT: AtomicUsize = AtomicUsize::new(0);

const DEV: &str = "docker-compose.yaml";
const PROD: &str = "docker-compose.prod.yaml";

/// The penguin every test asks about, and what the bundled example answers.
fn adelie() -> Value {
    json!({"island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
           "flipper_length_mm": 181.0, "body_mass_g": 3750.0, "sex": "male"})
}

fn adelie_answer() -> Value {
    json!({"model": "penguins_rf", "prediction": "Adelie"})
}

/// Which image builder compose drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builder {
    Classic,
    BuildKit,
}

impl Builder {
    fn env(self) -> [(&'static str, &'static str); 2] {
        match self {
            Builder::Classic => [("DOCKER_BUILDKIT", "0"), ("COMPOSE_BAKE", "false")],
            Builder::BuildKit => [("DOCKER_BUILDKIT", "1"), ("COMPOSE_BAKE", "false")],
        }
    }
}

/// Runs `docker args...` (killed after `seconds`) and returns whether it succeeded and its output.
fn docker(args: &[&str], seconds: u64) -> (bool, String) {
    let output = assert_cmd::Command::new("docker")
        .args(args)
        .timeout(Duration::from_secs(seconds))
        .output()
        .expect("docker runs");
    (output.status.success(), output_text(&output))
}

/// `docker args...`, which must succeed; returns its stdout and stderr, trimmed.
fn docker_ok(args: &[&str]) -> String {
    let (ok, out) = docker(args, 120);
    assert!(ok, "docker {} failed:\n{out}", args.join(" "));
    out.trim().to_string()
}

/// A generated service folder and the Docker objects made from it. Dropping it, also when the
/// test panics, takes down both compose variants and removes the images it built.
struct Service {
    dir: tempfile::TempDir,
    /// The compose project, the compose service and the image (`NAME:latest`) at once.
    name: String,
    /// The host port, published as `PORT:80`.
    port: u16,
    /// Image IDs a rebuild left without a tag, removed with the rest.
    stale_images: Vec<String>,
}

impl Service {
    /// Runs nb2svc on `notebook` into a fresh folder, with a unique name and a free port.
    fn generate(notebook: &Path, requirements: Option<&Path>) -> Service {
        Service::generate_with(notebook, requirements, &[])
    }

    /// Like [`Service::generate`], with more arguments for nb2svc.
    fn generate_with(notebook: &Path, requirements: Option<&Path>, extra: &[&str]) -> Service {
        let name = format!(
            "nb2svc-e2e-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let mut command = nb2svc();
        command.arg(notebook).arg("-o").arg(dir.path()).args([
            "-q",
            "--name",
            &name,
            "--port",
            &port.to_string(),
        ]);
        if let Some(requirements) = requirements {
            command.arg("-r").arg(requirements);
        }
        // The one base image this machine has is the local stand-in for python:3.11-slim;
        // corpus notebooks record other Pythons (3.8 to 3.11), which would pick other images.
        command.args(["--python", "3.11"]).args(extra);
        command.assert().success();
        Service {
            dir,
            name,
            port,
            stale_images: Vec::new(),
        }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn image(&self) -> String {
        format!("{}:latest", self.name)
    }

    /// `docker compose -p NAME -f FILE args...` in the service folder.
    fn compose(&self, file: &str, builder: Builder, args: &[&str], seconds: u64) -> Output {
        // `up` builds an image it does not find.
        let builds = args.iter().any(|a| ["build", "--build", "up"].contains(a));
        let _images = builds.then(crate::support::building);
        assert_cmd::Command::new("docker")
            .args(["compose", "-p", &self.name, "-f", file])
            .args(args)
            .current_dir(self.dir.path())
            .envs(builder.env())
            .timeout(Duration::from_secs(seconds))
            .output()
            .expect("docker compose runs")
    }

    /// Like [`Service::compose`], but it must succeed; returns the output and the time it took.
    fn compose_ok(&self, file: &str, builder: Builder, args: &[&str]) -> (String, Duration) {
        let started = Instant::now();
        let output = self.compose(file, builder, args, 600);
        let elapsed = started.elapsed();
        let out = output_text(&output);
        assert!(
            output.status.success(),
            "docker compose -f {file} {} failed after {elapsed:.1?}:\n{out}",
            args.join(" ")
        );
        (out, elapsed)
    }

    /// The ID of the service's one container under `file`.
    fn container(&self, file: &str) -> String {
        let (out, _) = self.compose_ok(file, Builder::Classic, &["ps", "-q", &self.name]);
        let id = out.trim().to_string();
        assert!(!id.is_empty() && !id.contains('\n'), "one container: {out}");
        id
    }

    fn image_id(&self) -> String {
        docker_ok(&["image", "inspect", "-f", "{{.Id}}", &self.image()])
    }

    /// Builds with `docker compose build`; returns the builder's output and the time it took.
    fn build(&self, builder: Builder) -> (String, Duration) {
        self.compose_ok(DEV, builder, &["build"])
    }

    /// `up -d` (with `--build` if asked) under `file`; returns the time until `/ready` is 200.
    fn up_until_ready(&self, file: &str, builder: Builder, build: bool) -> Duration {
        let started = Instant::now();
        let args: &[&str] = if build {
            &["up", "--build", "-d"]
        } else {
            &["up", "-d"]
        };
        self.compose_ok(file, builder, args);
        let ready = wait_for(self.port, "/ready", 200, 180);
        assert_eq!(
            ready.0,
            200,
            "/ready after `up`: {}\n{}",
            ready.1,
            self.logs(file)
        );
        started.elapsed()
    }

    fn logs(&self, file: &str) -> String {
        output_text(&self.compose(file, Builder::Classic, &["logs", "--no-color"], 60))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _images = crate::support::removing();
        for file in [DEV, PROD] {
            let _ = self.compose(
                file,
                Builder::Classic,
                &[
                    "down",
                    "-v",
                    "--remove-orphans",
                    "--rmi",
                    "local",
                    "--timeout",
                    "5",
                ],
                120,
            );
        }
        let image = self.image();
        for image in std::iter::once(&image).chain(&self.stale_images) {
            let _ = docker(&["image", "rm", "-f", image], 120);
        }
    }
}

/// POSTs JSON to 127.0.0.1:`port`; returns the status and the body as JSON (or as a string).
fn post(port: u16, path: &str, body: &Value) -> (u16, Value) {
    let (status, text) = http("POST", port, path, Some(&body.to_string())).unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `/health`, `/ready`, `/docs` and `/models` answer as a started service's should.
fn assert_serves_the_basics(service: &Service, model: &str) {
    let port = service.port;
    assert_eq!(
        http("GET", port, "/health", None).unwrap(),
        (200, r#"{"status":"ok"}"#.to_string())
    );
    assert_eq!(
        http("GET", port, "/ready", None).unwrap(),
        (200, r#"{"status":"ready"}"#.to_string())
    );
    let (status, docs) = http("GET", port, "/docs", None).unwrap();
    assert!(status == 200 && docs.contains("swagger"), "/docs: {docs}");
    let (status, models) = http("GET", port, "/models", None).unwrap();
    let models: Value = serde_json::from_str(&models).unwrap();
    assert_eq!(status, 200);
    assert_eq!(models[model]["predicts"], true, "/models: {models}");
}

/// Polls until `port` answers GET `path` with 200 and a body containing `expected`; returns the
/// time that took, measured from `since`.
fn served_after(port: u16, path: &str, expected: &str, since: Instant, service: &Service) -> f64 {
    let deadline = since + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok((200, body)) = http("GET", port, path, None) {
            if body.contains(expected) {
                return since.elapsed().as_secs_f64();
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!(
        "GET {path} never answered {expected} within 60 s\n{}",
        service.logs(DEV)
    );
}

/// The classic builder's lines for the step whose instruction contains `instruction`: the
/// `Step N/M : ...` line up to the next step.
fn step_output<'a>(build: &'a str, instruction: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = build.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("Step ") && l.contains(instruction))
        .unwrap_or_else(|| panic!("no build step with {instruction:?} in:\n{build}"));
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("Step "))
        .map_or(lines.len(), |i| start + 1 + i);
    lines[start..end].to_vec()
}

/// Whether the dependency step downloaded or installed anything during a build (pip installs
/// uv, which installs the requirements).
fn pip_ran(build: &str) -> bool {
    build.contains("Collecting ")
        || build.contains("Successfully installed")
        || build.contains("Installed ")
}

/// The sha256 of a file, as `sha256sum` prints it.
fn sha256_of_host_file(path: &Path) -> String {
    let output = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum runs");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The sha256 of a file inside an image, read by a throwaway container without network.
fn sha256_in_image(image: &str, path: &str) -> String {
    let out = docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "sha256sum",
        image,
        path,
    ]);
    out.split_whitespace().next().unwrap().to_string()
}

/// The diff IDs of an image's filesystem layers, base first.
fn layers(image: &str) -> Vec<String> {
    serde_json::from_str(&docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .RootFS.Layers}}",
        image,
    ]))
    .unwrap()
}

/// The classic builder's image ID for the step of `image` whose instruction contains
/// `instruction`, from `docker history`.
fn history_id(image: &str, instruction: &str) -> String {
    let history = docker_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.ID}}\t{{.CreatedBy}}",
        image,
    ]);
    history
        .lines()
        .find_map(|line| {
            let (id, created_by) = line.split_once('\t')?;
            created_by.contains(instruction).then(|| id.to_string())
        })
        .unwrap_or_else(|| panic!("no {instruction:?} step in the history of {image}:\n{history}"))
}

fn penguins_service() -> Service {
    let example = root().join("examples/penguins");
    Service::generate(
        &example.join("penguins.ipynb"),
        Some(&example.join("requirements.txt")),
    )
}

/// Items 1 to 4 of the issue on one image, built once: `up --build` serves predictions, host
/// edits of `app/main.py` and `app/notebook.py` are served without a rebuild, a code-only
/// rebuild takes pip's layer from the cache, and the production variant runs the image as it
/// is, as uid 10001, healthy.
#[test]
fn penguins_service_serves_reloads_edits_rebuilds_from_cache_and_runs_healthy_in_production() {
    let test =
        "penguins_service_serves_reloads_edits_rebuilds_from_cache_and_runs_healthy_in_production";
    let Some(_engine) = crate::support::docker_or_skip(test) else {
        return;
    };
    let mut service = penguins_service();
    let port = service.port;

    // A cold build (another test or process may have left the layers in the cache), then
    // `up --build -d`, which builds (from the cache now) and starts.
    let (cold, cold_time) = service.compose_ok(DEV, Builder::Classic, &["build", "--no-cache"]);
    assert!(pip_ran(&cold), "the cold build installs the requirements");
    eprintln!("{test}: cold build {:.1} s", cold_time.as_secs_f64());
    let up = service.up_until_ready(DEV, Builder::Classic, true);
    eprintln!(
        "{test}: `up --build -d` to /ready 200: {:.1} s",
        up.as_secs_f64()
    );
    assert_serves_the_basics(&service, "penguins_rf");
    assert_eq!(post(port, "/predict", &adelie()), (200, adelie_answer()));

    // The development loop: the host's app/ is mounted and uvicorn reloads. The first edit
    // adds two routes to main.py; the second edits only the notebook module, which the second
    // route imports (so its time includes importing the notebook's libraries afresh).
    let main_py = service.path("app/main.py");
    let mut main = fs::read_to_string(&main_py).unwrap();
    main.push_str(concat!(
        "\n\n@app.get(\"/e2e-probe\", tags=[\"service\"])\n",
        "def e2e_probe() -> dict[str, Any]:\n",
        "    \"\"\"Added on the host while the container runs.\"\"\"\n",
        "    return {\"probe\": \"main\"}\n",
        "\n\n@app.get(\"/e2e-notebook\", tags=[\"service\"])\n",
        "def e2e_notebook() -> dict[str, Any]:\n",
        "    \"\"\"What the notebook module says now.\"\"\"\n",
        "    import importlib\n\n",
        "    notebook = importlib.import_module(\"app.notebook\")\n",
        "    return {\"notebook\": getattr(notebook, \"E2E_PROBE\", None)}\n",
    ));
    let edited = Instant::now();
    fs::write(&main_py, &main).unwrap();
    let main_served = served_after(port, "/e2e-probe", r#"{"probe":"main"}"#, edited, &service);
    eprintln!("{test}: dev loop: app/main.py edit served after {main_served:.2} s");
    assert_eq!(
        http("GET", port, "/e2e-notebook", None).unwrap(),
        (200, r#"{"notebook":null}"#.to_string())
    );

    let notebook_py = service.path("app/notebook.py");
    let generated_notebook = fs::read_to_string(&notebook_py).unwrap();
    let mut notebook = generated_notebook.clone();
    notebook.push_str("\n\nE2E_PROBE = \"edited on the host\"\n");
    let edited = Instant::now();
    fs::write(&notebook_py, &notebook).unwrap();
    let notebook_served = served_after(
        port,
        "/e2e-notebook",
        r#"{"notebook":"edited on the host"}"#,
        edited,
        &service,
    );
    eprintln!(
        "{test}: dev loop: app/notebook.py edit served after {notebook_served:.2} s \
         (includes importing the notebook's libraries)"
    );
    assert_eq!(
        wait_for(port, "/ready", 200, 60).0,
        200,
        "ready again after the reload"
    );
    assert_eq!(post(port, "/predict", &adelie()), (200, adelie_answer()));
    let dev = docker_ok(&["inspect", &service.container(DEV)]);
    let dev: Value = serde_json::from_str(&dev).unwrap();
    let published = &dev[0]["HostConfig"]["PortBindings"];
    assert!(
        published.to_string().contains(r#""HostIp":"127.0.0.1""#),
        "the development file publishes on 127.0.0.1 only: {published}"
    );
    assert!(
        dev[0]["Config"]["Cmd"]
            .as_array()
            .unwrap()
            .contains(&json!("--reload")),
        "the dev container reloads"
    );

    // A change of the serving code only (the notebook's module as generated again): pip's
    // layer and training come from the cache.
    fs::write(&notebook_py, &generated_notebook).unwrap();
    fs::write(&main_py, format!("{main}# touched by the e2e test\n")).unwrap();
    let before = service.image_id();
    let (rebuild, rebuild_time) = service.build(Builder::Classic);
    let pip_step = step_output(&rebuild, "RUN pip install");
    assert!(
        pip_step.iter().any(|l| l.trim() == "---> Using cache"),
        "the pip step comes from the cache:\n{}",
        pip_step.join("\n")
    );
    assert!(!pip_ran(&rebuild), "pip did not run:\n{rebuild}");
    assert!(
        !step_output(&rebuild, "COPY app/")
            .iter()
            .any(|l| l.contains("Using cache")),
        "the code layer was rebuilt"
    );
    let training = step_output(&rebuild, "RUN python -m app.notebook");
    assert!(
        training.iter().any(|l| l.trim() == "---> Using cache"),
        "an edit of app/main.py does not train again:\n{}",
        training.join("\n")
    );
    let after = service.image_id();
    assert_ne!(before, after, "the rebuild made a new image");
    service.stale_images.push(before);
    eprintln!(
        "{test}: cold build {:.1} s, code-only rebuild {:.1} s ({:.0} % of cold)",
        cold_time.as_secs_f64(),
        rebuild_time.as_secs_f64(),
        100.0 * rebuild_time.as_secs_f64() / cold_time.as_secs_f64()
    );

    // Production: the image's own code and command, as uid 10001, healthy.
    service.compose_ok(DEV, Builder::Classic, &["down", "--timeout", "5"]);
    let started = Instant::now();
    let up = service.up_until_ready(PROD, Builder::Classic, false);
    eprintln!(
        "{test}: production `up -d` to /ready 200: {:.1} s",
        up.as_secs_f64()
    );
    let id = service.container(PROD);
    let inspect: Value = serde_json::from_str(&docker_ok(&["inspect", &id])).unwrap();
    let inspect = &inspect[0];
    let command = inspect["Config"]["Cmd"].as_array().unwrap();
    assert!(
        !command.contains(&json!("--reload")),
        "no reload in production: {command:?}"
    );
    assert_eq!(
        inspect["Mounts"],
        json!([]),
        "no bind mount (nor volume) in production"
    );
    assert_eq!(inspect["Config"]["User"], "10001:10001");
    assert_eq!(
        inspect["HostConfig"]["RestartPolicy"]["Name"],
        "unless-stopped"
    );
    // Hardened (issue 9): a read-only root filesystem, no capabilities, no privilege gain, and
    // it still answers (checked below).
    let host = &inspect["HostConfig"];
    assert_eq!(host["ReadonlyRootfs"], true, "read-only root: {host}");
    assert_eq!(host["CapDrop"], json!(["ALL"]), "{host}");
    assert!(
        host["SecurityOpt"]
            .to_string()
            .contains("no-new-privileges:true"),
        "{host}"
    );
    let (uid, _) = service.compose_ok(
        PROD,
        Builder::Classic,
        &["exec", "-T", &service.name, "id", "-u"],
    );
    assert_eq!(uid.trim(), "10001", "the service runs as uid 10001");
    assert_eq!(post(port, "/predict", &adelie()), (200, adelie_answer()));
    assert_eq!(
        http("GET", port, "/e2e-probe", None).unwrap().0,
        200,
        "production serves the code baked into the rebuilt image"
    );
    let health = loop {
        let status = docker_ok(&["inspect", "-f", "{{.State.Health.Status}}", &id]);
        if status != "starting" || started.elapsed() > Duration::from_secs(120) {
            break status;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        health,
        "healthy",
        "Docker's HEALTHCHECK: {}",
        docker_ok(&["inspect", "-f", "{{json .State.Health}}", &id])
    );
    eprintln!(
        "{test}: production HEALTHCHECK healthy {:.1} s after `up -d`",
        started.elapsed().as_secs_f64()
    );
}

/// Item 6: the same input generated twice (two nb2svc runs, two folders) builds to images that
/// share the dependency layer, and each container serves the very artifact its build trained.
#[test]
fn penguins_built_twice_share_the_dependency_layer_and_serve_the_artifact_they_trained() {
    let test =
        "penguins_built_twice_share_the_dependency_layer_and_serve_the_artifact_they_trained";
    let Some(_engine) = crate::support::docker_or_skip(test) else {
        return;
    };
    let first = penguins_service();
    let second = penguins_service();
    let (_, first_time) = first.build(Builder::Classic);
    let (second_build, second_time) = second.build(Builder::Classic);
    eprintln!(
        "{test}: first build {:.1} s, second build of the same input {:.1} s",
        first_time.as_secs_f64(),
        second_time.as_secs_f64()
    );
    assert!(
        !pip_ran(&second_build),
        "pip did not run again:\n{second_build}"
    );

    let pip = "pip install";
    let pip_image = history_id(&first.image(), pip);
    assert_eq!(
        pip_image,
        history_id(&second.image(), pip),
        "the same dependency step"
    );
    let dependency_layers = layers(&pip_image);
    for service in [&first, &second] {
        assert_eq!(
            layers(&service.image())[..dependency_layers.len()],
            dependency_layers[..],
            "{}: the base and dependency layers",
            service.image()
        );
    }

    // The artifact in the image is the one the running service loaded and answers with; the
    // service says where it is, inside its data folder.
    second.up_until_ready(PROD, Builder::Classic, false);
    let (status, models) = http("GET", second.port, "/models", None).unwrap();
    assert_eq!(status, 200, "/models: {models}");
    let models: Value = serde_json::from_str(&models).unwrap();
    let shown = models["penguins_rf"]["file"]["path"]
        .as_str()
        .unwrap_or_default();
    assert!(
        shown.ends_with("models/penguins_rf.joblib"),
        "/models: {models}"
    );
    let artifact = format!("/code/data/{shown}");
    let artifact = artifact.as_str();
    let in_first = sha256_in_image(&first.image(), artifact);
    let in_image = sha256_in_image(&second.image(), artifact);
    eprintln!(
        "{test}: penguins_rf.joblib sha256 {in_image} ({} in the other build)",
        if in_first == in_image {
            "identical"
        } else {
            "different"
        }
    );
    let copied = second.path("served-penguins_rf.joblib");
    second.compose_ok(
        PROD,
        Builder::Classic,
        &[
            "cp",
            &format!("{}:{artifact}", second.name),
            copied.to_str().unwrap(),
        ],
    );
    assert_eq!(
        sha256_of_host_file(&copied),
        in_image,
        "the container serves the artifact built into the image"
    );
    assert_eq!(
        models["penguins_rf"]["type"], "Pipeline",
        "/models: {models}"
    );
    assert_eq!(
        post(second.port, "/predict", &adelie()),
        (200, adelie_answer())
    );
}

/// `pip freeze` in an image, by a throwaway container without network: name==version lines,
/// names normalized (PEP 503), sorted.
fn frozen(image: &str) -> Vec<String> {
    let out = docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "pip",
        image,
        "list",
        "--format=freeze",
    ]);
    let mut lines: Vec<String> = out
        .lines()
        .filter(|l| l.contains("=="))
        .map(normalized_pin)
        .collect();
    lines.sort();
    lines
}

/// `Typing_Extensions==4.1` → `typing-extensions==4.1`.
fn normalized_pin(line: &str) -> String {
    let (name, version) = line.trim().split_once("==").unwrap_or((line, ""));
    let name = name.to_lowercase().replace(['_', '.'], "-");
    format!("{name}=={}", version.trim().trim_end_matches('\\').trim())
}

/// Issue 10: the penguins example locked once and built twice from that lock, the second time
/// in another folder and without the cache, installs the same versions, every one the lock's;
/// the image installs with hashes required (a wrong hash fails the build); and an edit of
/// `app/main.py` rebuilds without training.
#[test]
fn penguins_locked_builds_twice_to_the_same_versions_with_hashes_required_and_no_retraining() {
    let test =
        "penguins_locked_builds_twice_to_the_same_versions_with_hashes_required_and_no_retraining";
    let Some(_engine) = crate::support::docker_or_skip(test) else {
        return;
    };
    if !tool_or_skip(
        test,
        crate::support::uv_and_index(),
        "uv with PyPI reachable",
    ) {
        return;
    }
    let example = root().join("examples/penguins");
    let generate = || {
        Service::generate_with(
            &example.join("penguins.ipynb"),
            Some(&example.join("requirements.txt")),
            &["--lock"],
        )
    };
    let first = generate();
    let second = generate();
    // The same lock, even if the index changed between the two runs.
    let lock = fs::read_to_string(first.path("requirements.txt")).unwrap();
    fs::write(second.path("requirements.txt"), &lock).unwrap();
    let (build, first_time) = first.compose_ok(DEV, Builder::Classic, &["build", "--no-cache"]);
    let install = step_output(&build, "RUN pip install");
    assert!(
        install[0]
            .contains("uv pip install --system --no-cache --require-hashes -r requirements.txt"),
        "{}",
        install.join("\n")
    );
    // An edit of the serving code: the training step comes from the cache. (Before the second
    // build: the classic builder could take the shared layers from the second image's chain,
    // whose app/__init__.py names the other service.)
    let main_py = first.path("app/main.py");
    let main = fs::read_to_string(&main_py).unwrap();
    fs::write(&main_py, format!("{main}# edited by the e2e test\n")).unwrap();
    let (rebuild, rebuild_time) = first.build(Builder::Classic);
    let training = step_output(&rebuild, "RUN python -m app.notebook");
    assert!(
        training.iter().any(|l| l.trim() == "---> Using cache"),
        "no training after an edit of app/main.py:\n{rebuild}"
    );
    assert!(
        !step_output(&rebuild, "COPY app/ ./app/")
            .iter()
            .any(|l| l.contains("Using cache")),
        "the serving code was copied again:\n{rebuild}"
    );
    eprintln!(
        "{test}: app/main.py edit rebuilt in {:.1} s ({:.0} % of the cold build)",
        rebuild_time.as_secs_f64(),
        100.0 * rebuild_time.as_secs_f64() / first_time.as_secs_f64()
    );

    let (_, second_time) = second.compose_ok(DEV, Builder::Classic, &["build", "--no-cache"]);
    eprintln!(
        "{test}: two cold builds from one lock: {:.1} s and {:.1} s",
        first_time.as_secs_f64(),
        second_time.as_secs_f64()
    );
    let installed = frozen(&first.image());
    assert_eq!(
        installed,
        frozen(&second.image()),
        "the same versions in both images"
    );
    for line in lock.lines() {
        if line.is_empty() || line.starts_with([' ', '#']) {
            continue;
        }
        let pin = normalized_pin(line);
        assert!(installed.contains(&pin), "{pin} installed: {installed:?}");
    }
    // The installed packages carry their bytecode, for the read-only production container,
    // but for their test suites, which a service never imports.
    let compiled = |folder: &str| {
        let listing = docker_ok(&[
            "run", "--rm", "--network", "none", "--entrypoint", "python", &first.image(), "-c",
            &format!(
                "import pathlib, sklearn; root = pathlib.Path(sklearn.__file__).parent / {folder:?}; \
                 print(len(list(root.glob('__pycache__/*.pyc'))))"
            ),
        ]);
        listing.trim().parse::<usize>().unwrap_or(0)
    };
    assert!(compiled("ensemble") > 0, "sklearn.ensemble is compiled");
    assert_eq!(compiled("tests"), 0, "sklearn's tests are not compiled");

    // Hashes are required: a lock whose first package has wrong hashes fails the build.
    let mut packages_seen = 0;
    let tampered: String = lock
        .lines()
        .map(|line| {
            if !line.is_empty() && !line.starts_with([' ', '#']) {
                packages_seen += 1;
            }
            match line.split_once("--hash=sha256:") {
                Some((head, rest)) if packages_seen == 1 => {
                    let tail = rest.trim_start_matches(|c: char| c.is_ascii_hexdigit());
                    format!("{head}--hash=sha256:{}{tail}", "0".repeat(64))
                }
                _ => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(second.path("requirements.txt"), tampered + "\n").unwrap();
    let output = second.compose(DEV, Builder::Classic, &["build"], 600);
    let text = output_text(&output);
    assert!(
        !output.status.success(),
        "a wrong hash must fail the build:\n{text}"
    );
    assert!(text.to_lowercase().contains("hash"), "{text}");
}

/// A copy of a corpus notebook beside a data file it reads, which the corpus does not ship.
/// The notebook is copied because nb2svc ships data found beside the notebook, and the corpus
/// is read-only; its requirements are read in place.
fn corpus_notebook_with_data(notebook: &str, data: &str, csv: &str) -> Option<tempfile::TempDir> {
    let source = corpus()?.join(notebook);
    let folder = tempfile::tempdir().unwrap();
    fs::copy(&source, folder.path().join(source.file_name().unwrap())).unwrap();
    fs::write(folder.path().join(data), csv).unwrap();
    Some(folder)
}

/// g_k8sjenkins_nb_in_docker/basicUI.ipynb reads NK.csv (hours, marks; exactly four rows, which
/// it reshapes to 4x1), fits a LinearRegression and dumps base.pk1. Built with BuildKit, uv's
/// cache in a cache mount.
#[test]
fn corpus_linear_regression_notebook_builds_with_buildkit_and_predicts() {
    let test = "corpus_linear_regression_notebook_builds_with_buildkit_and_predicts";
    let Some(_engine) = crate::support::docker_or_skip(test) else {
        return;
    };
    let Some(folder) = corpus_notebook_with_data(
        "g_k8sjenkins_nb_in_docker/basicUI.ipynb",
        "NK.csv",
        "hrs,marks\n1,20\n2,40\n3,60\n4,80\n",
    ) else {
        eprintln!("SKIPPED {test}: the shared corpus is not beside the checkout");
        return;
    };
    // BuildKit reads the cache mount of --buildkit-cache (issue 10).
    let service = Service::generate_with(
        &folder.path().join("basicUI.ipynb"),
        None,
        &["--buildkit-cache"],
    );
    let up = service.up_until_ready(DEV, Builder::BuildKit, true);
    eprintln!(
        "{test}: BuildKit `up --build -d` to /ready 200: {:.1} s",
        up.as_secs_f64()
    );
    let labels = docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Labels}}",
        &service.image(),
    ]);
    assert!(
        !labels.contains("classic"),
        "built by BuildKit, not the classic builder: {labels}"
    );
    assert_serves_the_basics(&service, "base");
    let (status, answer) = post(service.port, "/predict", &json!({"features": [5]}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["model"], "base");
    let marks = answer["prediction"].as_f64().unwrap();
    assert!(
        (marks - 100.0).abs() < 1e-6,
        "5 hours -> 100 marks: {answer}"
    );
}

/// g_kmilo_salaries/pipeline.ipynb with its pinned requirements: a GradientBoostingRegressor
/// behind a one-hot ColumnTransformer, trained on salaries_final.csv, synthesized here with the
/// notebook's columns: salary = level + company size.
#[test]
fn corpus_salary_pipeline_notebook_builds_with_pinned_requirements_and_predicts() {
    let test = "corpus_salary_pipeline_notebook_builds_with_pinned_requirements_and_predicts";
    let Some(_engine) = crate::support::docker_or_skip(test) else {
        return;
    };
    let mut csv = String::from("experience_level,job_title,salary_in_usd,employee_residence,remote_ratio,company_location,company_size\n");
    let levels = [
        ("EN", 50_000),
        ("MI", 80_000),
        ("SE", 120_000),
        ("EX", 200_000),
    ];
    let sizes = [("S", 0), ("M", 10_000), ("L", 20_000)];
    let mut job = 0;
    for (level, base) in levels {
        for (size, extra) in sizes {
            for country in ["US", "ES", "CA"] {
                for remote in ["Remoto", "Presencial", "Hibrido"] {
                    job = (job + 7) % 73;
                    let salary = base + extra;
                    csv.push_str(&format!(
                        "{level},{job},{salary},{country},{remote},{country},{size}\n"
                    ));
                }
            }
        }
    }
    let Some(folder) = corpus_notebook_with_data(
        "g_kmilo_salaries/pipeline.ipynb",
        "salaries_final.csv",
        &csv,
    ) else {
        eprintln!("SKIPPED {test}: the shared corpus is not beside the checkout");
        return;
    };
    let requirements = corpus().unwrap().join("g_kmilo_salaries/requirements.txt");
    let service = Service::generate(&folder.path().join("pipeline.ipynb"), Some(&requirements));
    let up = service.up_until_ready(DEV, Builder::Classic, true);
    eprintln!(
        "{test}: `up --build -d` (cold) to /ready 200: {:.1} s",
        up.as_secs_f64()
    );
    assert_serves_the_basics(&service, "pipeline");
    let body = json!({"experience_level": "SE", "job_title": 36, "employee_residence": "US",
                      "remote_ratio": "Remoto", "company_location": "US", "company_size": "M"});
    let (status, answer) = post(service.port, "/predict", &body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["model"], "pipeline");
    let salary = answer["prediction"].as_f64().unwrap();
    assert!(
        (salary - 130_000.0).abs() < 1_000.0,
        "SE at a medium company -> about 130000: {answer}"
    );
    let (status, refused) = post(
        service.port,
        "/predict",
        &json!({"experience_level": "Intern"}),
    );
    assert_eq!(status, 422, "an unknown level is refused: {refused}");
}

/// Three student notebooks of the corpus, read in place with their data, that save several
/// models with paths they compute: s_t1_castaneda in a loop of f-strings that writes through
/// `../API/modelos`, s_t2_gallo through a helper under a `MODELS_DIR` read with no default,
/// s_t2_prada in its author's container folder (`/home/jovyan/work`).
/// Each is built and trained by `docker compose up --build`, and every model it saved answers
/// a prediction with its schema's example. gallo's models (one-hot encoding, a scaler, a label
/// encoder on the target) and prada's (label encoders on species, island and sex) answer a raw
/// penguin typed by hand (island and sex as strings) with a species, and refuse an unknown
/// island with the known ones.
#[test]
fn corpus_student_notebooks_saving_models_in_loops_build_train_and_predict() {
    let test = "corpus_student_notebooks_saving_models_in_loops_build_train_and_predict";
    let Some(_engine) = crate::support::docker_or_skip(test) else {
        return;
    };
    let Some(corpus) = corpus() else {
        crate::support::tool_or_skip(test, false, "../shared/corpus");
        return;
    };
    // (notebook, requirements, models, a raw penguin's measurement prefix and sex, a step
    // its routes replay); None for castaneda, whose CSV is itself encoded.
    for (notebook, requirements, models, penguin) in [
        (
            "s_t1_castaneda/train.ipynb",
            "s_t1_castaneda/requirements.txt",
            3,
            None,
        ),
        (
            "s_t2_gallo/training-app/TrainModels.ipynb",
            "s_t2_gallo/training-app/pyproject.toml",
            3,
            Some(("bill", "male", "StandardScaler")),
        ),
        (
            "s_t2_prada/jupyter_work/train_jupyter.ipynb",
            "s_t2_prada/requirements.txt",
            3,
            Some(("culmen", "MALE", "LabelEncoder encoding of island")),
        ),
    ] {
        let case = corpus.join(notebook.split('/').next().unwrap());
        let service = Service::generate_with(
            &corpus.join(notebook),
            Some(&corpus.join(requirements)),
            &["--root", case.to_str().unwrap()],
        );
        let up = service.up_until_ready(DEV, Builder::Classic, true);
        eprintln!(
            "{test}: {notebook}: `up --build -d` to /ready 200: {:.1} s",
            up.as_secs_f64()
        );
        let (status, listing) = http("GET", service.port, "/models", None).unwrap();
        assert_eq!(status, 200, "{notebook}: /models: {listing}");
        let listing: Value = serde_json::from_str(&listing).unwrap();
        let predicting: Vec<&String> = listing
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, m)| m["predicts"] == true)
            .map(|(name, _)| name)
            .collect();
        assert_eq!(predicting.len(), models, "{notebook}: {listing}");
        let (_, openapi) = http("GET", service.port, "/openapi.json", None).unwrap();
        let openapi: Value = serde_json::from_str(&openapi).unwrap();
        for name in predicting {
            let route = format!("/predict/{name}");
            let schema = openapi["paths"][&route]["post"]["requestBody"]["content"]
                ["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap_or_else(|| panic!("{notebook}: {route} in /openapi.json"))
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            let example = &openapi["components"]["schemas"][&schema]["example"];
            let (status, answer) = post(service.port, &route, example);
            assert_eq!(status, 200, "{notebook}: POST {route} {example}: {answer}");
            assert_eq!(answer["model"], name.as_str());
            let Some((measure, sex, step)) = penguin else {
                // castaneda's CSV is itself encoded: its codes in, its codes out.
                assert!(answer["prediction"].is_number(), "{notebook}: {answer}");
                continue;
            };
            // gallo label-encodes the species, one-hot encodes island and sex and scales
            // the measurements; prada label-encodes species, island and sex: a raw penguin,
            // typed by hand, gets a species.
            let raw = |island: &str| {
                json!({"island": island, format!("{measure}_length_mm"): 47.5,
                    format!("{measure}_depth_mm"): 14.8, "flipper_length_mm": 217.0,
                    "body_mass_g": 5200.0, "sex": sex})
            };
            let penguin = raw("Biscoe");
            let (status, answer) = post(service.port, &route, &penguin);
            assert_eq!(status, 200, "{notebook}: POST {route} {penguin}: {answer}");
            assert_eq!(
                answer["prediction"], "Gentoo",
                "{notebook}: {route}: {answer}"
            );
            let (status, answer) = post(service.port, &route, &raw("Atlantis"));
            assert_eq!(status, 422, "{notebook}: an unknown island: {answer}");
            assert!(answer.to_string().contains("Torgersen"), "{answer}");
            let steps = listing[name.as_str()]["inputs"]["steps"].to_string();
            assert!(steps.contains(step), "{notebook}: {steps}");
        }
    }
}

/// Issue 9: checkov (offline, `--skip-download`) fails no check on any generated Dockerfile:
/// the example both ways, every fixture case, every corpus notebook nb2svc converts.
#[test]
fn every_generated_dockerfile_passes_checkov() {
    let test = "every_generated_dockerfile_passes_checkov";
    if !tool_or_skip(test, works("checkov", &["--version"]), "checkov") {
        return;
    }
    let all = tempfile::tempdir().unwrap();
    let mut generated = 0;
    for (index, (notebook, requirements, extra)) in
        crate::support::generated_inputs().iter().enumerate()
    {
        let out = all.path().join(format!("{index:03}"));
        let made = crate::support::generate_into(&out, notebook, requirements.as_deref(), extra);
        if made.status.success() {
            generated += 1;
        } else {
            let _ = fs::remove_dir_all(&out); // refused on purpose: corpus.rs checks the error
        }
    }
    let output = assert_cmd::Command::new("checkov")
        .args([
            "--skip-download",
            "--framework",
            "dockerfile",
            "--output",
            "json",
            "-d",
        ])
        .arg(all.path())
        .timeout(Duration::from_secs(600))
        .output()
        .expect("checkov runs");
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("checkov's JSON:\n{}", output_text(&output)));
    let summary = &report["summary"];
    let failed: Vec<String> = report["results"]["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{} {} in {}",
                c["check_id"], c["check_name"], c["file_path"]
            )
        })
        .collect();
    eprintln!("{test}: {generated} Dockerfiles: {summary}");
    assert!(generated >= 12, "only {generated} projects were generated");
    assert_eq!(
        summary["resource_count"], generated,
        "checkov read every Dockerfile"
    );
    assert!(summary["passed"].as_u64().unwrap_or(0) > 0, "{summary}");
    assert!(
        failed.is_empty(),
        "checkov failed checks:\n{}",
        failed.join("\n")
    );
}

/// Item 5: every Dockerfile nb2svc writes (the example both ways of training, every fixture
/// case, every corpus notebook it converts) has zero hadolint findings, and every compose file,
/// development and production, passes `docker compose config`. Needs no engine.
#[test]
fn every_generated_dockerfile_passes_hadolint_and_every_compose_file_passes_config() {
    let test = "every_generated_dockerfile_passes_hadolint_and_every_compose_file_passes_config";
    if !tool_or_skip(test, works("hadolint", &["--version"]), "hadolint")
        || !tool_or_skip(
            test,
            works("docker", &["compose", "version"]),
            "the docker compose plugin",
        )
    {
        return;
    }
    let inputs = crate::support::generated_inputs();
    let mut checked = 0;
    let mut findings = Vec::new();
    for (notebook, requirements, extra) in &inputs {
        let out = tempfile::tempdir().unwrap();
        if !crate::support::generate_into(out.path(), notebook, requirements.as_deref(), extra)
            .status
            .success()
        {
            continue; // refused on purpose: corpus.rs checks the error
        }
        checked += 1;
        let shown = notebook.display();
        if let Some(lint) = hadolint_findings(&out.path().join("Dockerfile")) {
            findings.push(format!("{shown} {extra:?}: hadolint:\n{lint}"));
        }
        for file in [DEV, PROD] {
            if let Some(config) = compose_config_findings(out.path(), file) {
                findings.push(format!(
                    "{shown} {extra:?}: docker compose -f {file} config:\n{config}"
                ));
            }
        }
    }
    eprintln!("{test}: {checked} generated projects checked");
    assert!(checked >= 12, "only {checked} projects were generated");
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}
