//! `nb2svc compose` and `nb2svc devcontainer` as a user runs them, and the dev container for
//! real: a stand-in Jupyter image built here from the stand-in `python:3.11-slim` (JupyterLab
//! plus a `/run_jupyter.sh` like the tfx image's), lacking `tabulate`, which a test notebook
//! imports. Compose brings it up, Jupyter answers with the token and refuses without it, the
//! notebook fails before nb2svc's Dockerfile and runs after, and the probe names exactly the
//! missing package. The stand-in image is cached by a tag holding the hash of its files; every
//! container, network, volume and per-test image is removed when a test ends, pass or fail.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use predicates::prelude::*;

use crate::support::{
    free_port, hadolint_findings, http, nb2svc, notebook_json, output_text, root, wait_for, works,
};

/// The stand-in Jupyter image: JupyterLab on the stand-in Python, with the tfx image's launcher.
const STANDIN_DOCKERFILE: &str = "FROM python:3.11-slim
RUN pip install --no-cache-dir jupyterlab==4.2.5
COPY run_jupyter.sh /run_jupyter.sh
RUN chmod 0755 /run_jupyter.sh
";
const STANDIN_LAUNCHER: &str = "#!/bin/sh
# Stand-in for the launcher of the course's tfx image: JupyterLab on 0.0.0.0:8888; the extra
# arguments nb2svc's compose file gives (the token, the root folder) are passed through.
exec jupyter lab --ip=0.0.0.0 --port=8888 --no-browser --allow-root \"$@\"
";

/// A work folder with `uses_tabulate.ipynb` (imports tabulate, json and a sibling module).
fn work_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("uses_tabulate.ipynb"),
        notebook_json(&[
            "import json\nimport helpers\nfrom tabulate import tabulate",
            "print(tabulate([[helpers.NAME, 1]], headers=['name', 'n']))",
        ]),
    )
    .unwrap();
    fs::write(dir.path().join("helpers.py"), "NAME = 'penguin'\n").unwrap();
    dir
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn compose_writes_the_course_command_and_refuses_to_clobber() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("docker-compose.yaml");
    let course = [
        "docker",
        "run",
        "-it",
        "--name",
        "tfx",
        "--rm",
        "-p",
        "8888:8888",
        "-p",
        "6006:6006",
        "-v",
        "$PWD:/tfx/src",
        "--entrypoint",
        "/run_jupyter.sh",
        "tensorflow/tfx:1.12.0",
    ];
    nb2svc()
        .args(["compose", "-o"])
        .arg(&out)
        .arg("--")
        .args(course)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "note: `--rm`: `docker compose down` removes the container",
        ));
    let text = fs::read_to_string(&out).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(yaml["services"]["tfx"]["volumes"][0], ".:/tfx/src");
    let from_string = nb2svc()
        .args(["compose", "--stdout", "--command"])
        .arg(course.join(" "))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&from_string.stdout), text);
    fs::write(&out, "# mine\n").unwrap();
    nb2svc()
        .args(["compose", "-o"])
        .arg(&out)
        .args(["--", "docker", "run", "python:3.11-slim"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--force"));
    assert_eq!(fs::read_to_string(&out).unwrap(), "# mine\n");
    nb2svc()
        .args(["compose", "--stdout"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "error: no docker run command given",
        ));
}

#[test]
fn devcontainer_writes_every_file_and_keeps_the_token() {
    let dir = work_folder();
    let run = || {
        nb2svc()
            .arg("devcontainer")
            .arg(dir.path())
            .args(["--image", "python:3.11-slim", "--no-probe"])
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success(), "{}", stderr_of(&first));
    let stderr = stderr_of(&first);
    assert!(
        stderr.contains("was NOT probed (--no-probe was given)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("import tabulate: not probed: installs tabulate"),
        "{stderr}"
    );
    let path = |name: &str| dir.path().join(name);
    let env = fs::read_to_string(path(".env")).unwrap();
    let token = env
        .lines()
        .find_map(|l| l.strip_prefix("JUPYTER_TOKEN="))
        .unwrap()
        .to_string();
    assert!(token.len() >= 32 && token.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(env.contains("HOST_UID=") && env.contains("HOST_GID="));
    for name in [
        "docker-compose.yaml",
        "README.md",
        "Dockerfile",
        ".devcontainer/devcontainer.json",
    ] {
        let text = fs::read_to_string(path(name)).unwrap();
        assert!(!text.contains(&token), "{name} holds the token");
    }
    assert!(!stderr.contains(&token), "the token is printed");
    let readme = fs::read_to_string(path("README.md")).unwrap();
    assert!(readme.contains("http://127.0.0.1:8888/lab?token=JUPYTER_TOKEN"));
    let dockerfile = fs::read_to_string(path("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("FROM python:3.11-slim\n") && dockerfile.contains("    tabulate\n")
    );
    assert!(!dockerfile.contains("helpers") && !dockerfile.contains("json"));
    // A second run keeps the token and adds nothing twice.
    fs::write(path(".gitignore"), "target\n.env\n").unwrap();
    let second = run();
    assert!(second.status.success(), "{}", stderr_of(&second));
    assert_eq!(fs::read_to_string(path(".env")).unwrap(), env);
    assert_eq!(
        fs::read_to_string(path(".gitignore")).unwrap(),
        "target\n.env\n"
    );
    assert!(
        stderr_of(&second).contains("nothing to change"),
        "{}",
        stderr_of(&second)
    );
    if works("hadolint", &["--version"]) {
        let lint = hadolint_findings(&path("Dockerfile"));
        assert!(lint.is_none(), "{lint:?}");
    }
    if works("docker", &["compose", "version"]) {
        let config = std::process::Command::new("docker")
            .args(["compose", "config", "-q"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(config.status.success(), "{}", stderr_of(&config));
    }
}

#[test]
fn devcontainer_refuses_latest_and_changed_files() {
    let dir = work_folder();
    nb2svc()
        .arg("devcontainer")
        .arg(dir.path())
        .args(["--image", "jupyter/scipy-notebook:latest", "--no-probe"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "error: --image jupyter/scipy-notebook:latest: `:latest`",
        ));
    fs::write(dir.path().join("docker-compose.yaml"), "services: {}\n").unwrap();
    nb2svc()
        .arg("devcontainer")
        .arg(dir.path())
        .args(["--preset", "tfx", "--no-probe"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("docker-compose.yaml")
                .and(predicate::str::contains("--force")),
        );
    assert!(
        !dir.path().join(".env").exists(),
        "nothing is written on a conflict"
    );
}

/// Every file under `dir` with its contents (folders as `name/`), to compare before and after.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let name = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                found.push((format!("{name}/"), Vec::new()));
                stack.push(path);
            } else {
                found.push((name, fs::read(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn devcontainer_that_fails_part_way_writes_nothing() {
    // Each case puts a folder (or a file) where the dev container needs the other, so one of
    // its files cannot be read or written; the person's files are there too.
    for (blocker, is_folder, error) in [
        (".env", true, ".env"),
        (".gitignore", true, ".gitignore"),
        ("README.md", true, "README.md"),
        ("Dockerfile", true, "Dockerfile is a folder"),
        (
            ".devcontainer",
            false,
            ".devcontainer exists and is not a folder",
        ),
    ] {
        let dir = work_folder();
        let path = |name: &str| dir.path().join(name);
        for (name, text) in [
            (".gitignore", "target\n"),
            ("README.md", "# My course\n"),
            (".env", "JUPYTER_TOKEN=mine\n"),
        ] {
            if name != blocker {
                fs::write(path(name), text).unwrap();
            }
        }
        if is_folder {
            fs::create_dir(path(blocker)).unwrap();
            fs::write(path(blocker).join("inside"), "kept").unwrap();
        } else {
            fs::write(path(blocker), "a file").unwrap();
        }
        let before = tree(dir.path());
        let output = nb2svc()
            .arg("devcontainer")
            .arg(dir.path())
            .args(["--image", "python:3.11-slim", "--no-probe"])
            .output()
            .unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(1), "{blocker}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(error),
            "{blocker}: {stderr}"
        );
        assert_eq!(
            tree(dir.path()),
            before,
            "{blocker}: a file was written or changed"
        );
    }
}

/// The committed example is what nb2svc writes for the course command today.
#[test]
fn the_tfx_example_is_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("nb.ipynb"),
        notebook_json(&["import tensorflow_data_validation"]),
    )
    .unwrap();
    nb2svc()
        .arg("devcontainer")
        .arg(dir.path())
        .args(["--preset", "tfx", "--no-probe"])
        .assert()
        .success();
    for name in ["docker-compose.yaml", ".devcontainer/devcontainer.json"] {
        assert_eq!(
            fs::read_to_string(dir.path().join(name)).unwrap(),
            fs::read_to_string(root().join("examples/tfx").join(name)).unwrap(),
            "examples/tfx/{name} is stale: regenerate it as examples/tfx/README.md says"
        );
    }
    let course =
        fs::read_to_string(root().join("examples/tfx/course-command.compose.yaml")).unwrap();
    let converted = nb2svc()
        .args(["compose", "--stdout", "--command", nb2svc::TFX_COMMAND])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&converted.stdout), course);
}

// ----- with the Docker engine -----

/// Runs `docker args...` in `dir`; returns the output.
fn docker_in(dir: &Path, args: &[&str], seconds: u64) -> Output {
    assert_cmd::Command::new("docker")
        .args(args)
        .current_dir(dir)
        .envs([("DOCKER_BUILDKIT", "0"), ("COMPOSE_BAKE", "false")])
        .timeout(Duration::from_secs(seconds))
        .output()
        .expect("docker runs")
}

/// FNV-1a, to name the cached stand-in image after its files.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// The stand-in Jupyter image, built once and kept under a tag naming its files' hash.
fn standin_image() -> String {
    let tag = format!(
        "nb2svc-test-jupyter:{:016x}",
        fnv(&format!("{STANDIN_DOCKERFILE}{STANDIN_LAUNCHER}"))
    );
    if works("docker", &["image", "inspect", &tag]) {
        return tag;
    }
    let context = tempfile::tempdir().unwrap();
    fs::write(context.path().join("Dockerfile"), STANDIN_DOCKERFILE).unwrap();
    fs::write(context.path().join("run_jupyter.sh"), STANDIN_LAUNCHER).unwrap();
    let started = Instant::now();
    let _images = crate::support::building();
    let build = docker_in(
        context.path(),
        &["build", "--network", "host", "--force-rm", "-t", &tag, "."],
        900,
    );
    assert!(
        build.status.success(),
        "building the stand-in Jupyter image:\n{}",
        output_text(&build)
    );
    eprintln!("built {tag} in {:.1?}", started.elapsed());
    tag
}

/// A compose project; dropping it takes down its containers, networks, volumes and built images.
struct Project {
    dir: PathBuf,
    name: String,
}

impl Project {
    fn compose(&self, args: &[&str], seconds: u64) -> Output {
        // `up` builds an image it does not find.
        let builds = args.iter().any(|a| ["build", "--build", "up"].contains(a));
        let _images = builds.then(crate::support::building);
        let mut all = vec!["compose", "-p", &self.name];
        all.extend(args);
        docker_in(&self.dir, &all, seconds)
    }

    fn compose_ok(&self, args: &[&str], seconds: u64) -> String {
        let output = self.compose(args, seconds);
        assert!(
            output.status.success(),
            "docker compose {} failed:\n{}",
            args.join(" "),
            output_text(&output)
        );
        output_text(&output)
    }
}

impl Drop for Project {
    /// Never panics (it also runs while a failed test unwinds).
    fn drop(&mut self) {
        let _images = crate::support::removing();
        let down = [
            "down",
            "-v",
            "--remove-orphans",
            "--rmi",
            "local",
            "--timeout",
            "5",
        ];
        let _ = std::process::Command::new("docker")
            .args(["compose", "-p", &self.name])
            .args(down)
            .current_dir(&self.dir)
            .output();
        // The image compose built for the service (`PROJECT-SERVICE`), in case `--rmi local`
        // kept it.
        let image = format!("{}-jupyter", self.name);
        let _ = std::process::Command::new("docker")
            .args(["image", "rm", "-f", &image])
            .output();
    }
}

/// Runs the notebook's code cells in the running service, as Jupyter's kernel would.
fn execute_notebook(project: &Project, service: &str) -> Output {
    let script = "import json; nb = json.load(open('uses_tabulate.ipynb')); \
                  exec('\\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code'))";
    project.compose(&["exec", "-T", service, "python", "-c", script], 120)
}

#[test]
fn dev_container_serves_jupyter_with_a_token_and_adds_what_the_image_lacks() {
    let Some(_engine) = crate::support::docker_or_skip(
        "dev_container_serves_jupyter_with_a_token_and_adds_what_the_image_lacks",
    ) else {
        return;
    };
    let started = Instant::now();
    let image = standin_image();
    let image_ready = started.elapsed();
    let work = work_folder();
    // The host user is someone other than root, as on a laptop, and the folder is theirs: as
    // root (CI) the test plays user 4242; otherwise it is the user running it.
    let as_root = host_id("-u") == "0";
    let (uid, gid): (u32, u32) = match as_root {
        true => (4242, 4242),
        false => (
            host_id("-u").parse().unwrap(),
            host_id("-g").parse().unwrap(),
        ),
    };
    let project = Project {
        dir: work.path().to_path_buf(),
        name: format!("nb2svc-dev-{}", std::process::id()),
    };
    let (jupyter_port, tensorboard_port) = (free_port(), free_port());
    let generate = |notebooks: &Path| {
        let output = nb2svc()
            .arg("devcontainer")
            .arg(notebooks)
            .arg("--out")
            .arg(work.path())
            .args([
                "--image",
                &image,
                "--entrypoint",
                "/run_jupyter.sh",
                "--probe",
                "--force",
            ])
            .args(["--jupyter-port", &jupyter_port.to_string()])
            .args(["--tensorboard-port", &tensorboard_port.to_string()])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr_of(&output));
        stderr_of(&output)
    };
    // First the helper module alone: nothing is missing, compose uses the image as it is.
    let plain = work.path().join("plain");
    fs::create_dir(&plain).unwrap();
    fs::write(plain.join("plain.ipynb"), notebook_json(&["import json"])).unwrap();
    let report = generate(&plain);
    assert!(report.contains("the image lacks nothing"), "{report}");
    assert!(!work.path().join("Dockerfile").exists());
    let env_path = work.path().join(".env");
    let env = fs::read_to_string(&env_path).unwrap();
    let env = env
        .replace(
            &format!("HOST_UID={}", host_id("-u")),
            &format!("HOST_UID={uid}"),
        )
        .replace(
            &format!("HOST_GID={}", host_id("-g")),
            &format!("HOST_GID={gid}"),
        );
    fs::write(&env_path, &env).unwrap();
    if as_root {
        chown_tree(work.path(), uid, gid);
    }
    let token = env
        .lines()
        .find_map(|l| l.strip_prefix("JUPYTER_TOKEN="))
        .unwrap()
        .to_string();
    let config = project.compose_ok(&["config", "-q"], 60);
    assert!(config.trim().is_empty(), "{config}");

    let up = Instant::now();
    project.compose_ok(&["up", "-d"], 300);
    let listing = wait_for(
        jupyter_port,
        &format!("/api/contents?token={token}"),
        200,
        120,
    );
    let first_answer = up.elapsed();
    assert_eq!(
        listing.0,
        200,
        "Jupyter with the token: {}\n{}",
        listing.1,
        project.compose_ok(&["logs"], 60)
    );
    assert!(
        listing.1.contains("uses_tabulate.ipynb"),
        "the mounted notebook is listed: {}",
        listing.1
    );
    let (refused, _) = http("GET", jupyter_port, "/api/contents", None).unwrap();
    assert!(
        refused == 403 || refused == 401,
        "without the token: {refused}"
    );
    let (wrong, _) = http("GET", jupyter_port, "/api/contents?token=wrong", None).unwrap();
    assert!(wrong == 403 || wrong == 401, "with a wrong token: {wrong}");
    // A file created through Jupyter belongs to the host user.
    let (created, body) = http(
        "PUT",
        jupyter_port,
        &format!("/api/contents/created.txt?token={token}"),
        Some(r#"{"type": "file", "format": "text", "content": "hi"}"#),
    )
    .unwrap();
    assert_eq!(created, 201, "{body}");
    assert_eq!(owner(&work.path().join("created.txt")), (uid, gid));

    let service = "jupyter";
    let before = execute_notebook(&project, service);
    assert!(!before.status.success());
    assert!(
        output_text(&before).contains("ModuleNotFoundError: No module named 'tabulate'"),
        "{}",
        output_text(&before)
    );

    // Now for the notebook itself: the probe names exactly tabulate, and the Dockerfile adds it.
    let report = generate(work.path());
    assert!(report.contains("the image lacks: tabulate\n"), "{report}");
    assert!(
        report.contains("import tabulate: missing: installs tabulate=="),
        "{report}"
    );
    assert_eq!(
        fs::read_to_string(&env_path).unwrap(),
        env,
        "the token is kept"
    );
    let dockerfile = fs::read_to_string(work.path().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(&format!("FROM {image}\n")) && !dockerfile.contains("hadolint ignore"),
        "{dockerfile}"
    );
    if works("hadolint", &["--version"]) {
        let lint = hadolint_findings(&work.path().join("Dockerfile"));
        assert!(lint.is_none(), "{lint:?}");
    }
    project.compose_ok(&["config", "-q"], 60);
    let rebuild = Instant::now();
    project.compose_ok(&["up", "-d", "--build"], 600);
    let rebuilt = rebuild.elapsed();
    let again = wait_for(
        jupyter_port,
        &format!("/api/contents?token={token}"),
        200,
        120,
    );
    assert_eq!(again.0, 200, "{}", again.1);
    let after = execute_notebook(&project, service);
    assert!(after.status.success(), "{}", output_text(&after));
    assert!(
        output_text(&after).contains("penguin"),
        "{}",
        output_text(&after)
    );
    eprintln!(
        "dev container: stand-in image ready in {image_ready:.1?}, Jupyter answered {first_answer:.1?} after `up`, \
         rebuild with the Dockerfile and restart {rebuilt:.1?}, whole test {:.1?}",
        started.elapsed()
    );
}

fn host_id(flag: &str) -> String {
    let output = std::process::Command::new("id").arg(flag).output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[cfg(unix)]
fn chown_tree(dir: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_dir() {
            chown_tree(&entry.path(), uid, gid);
        } else {
            std::os::unix::fs::chown(entry.path(), Some(uid), Some(gid)).unwrap();
        }
    }
}

#[cfg(unix)]
fn owner(path: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(path).unwrap();
    (meta.uid(), meta.gid())
}
