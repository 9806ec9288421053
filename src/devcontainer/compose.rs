//! The compose service of the dev container, and the `devcontainer.json` that points at it.
//!
//! The service starts as a `docker run` command (the course's own for the `tfx` preset) fed
//! through [`crate::docker_run::convert`], so it means what that command means; nb2svc then adds
//! what the command leaves out: the token, ports bound to 127.0.0.1, the host user, `.env`, and
//! `build:` when a Dockerfile adds what the image lacks. Every addition is listed in the header.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_yaml::{Mapping, Value};

use crate::docker_run::{self, Conversion};

/// The command the course gives for its TensorFlow Extended environment.
pub const TFX_COMMAND: &str = "docker run -it --name tfx --rm -p 8888:8888 -p 6006:6006 \
                               -v $PWD:/tfx/src --entrypoint /run_jupyter.sh tensorflow/tfx:1.12.0";

/// Jupyter's and TensorBoard's ports inside the container.
pub const JUPYTER_PORT: u16 = 8888;
pub const TENSORBOARD_PORT: u16 = 6006;

/// `HOME` for a host user the image has no account for: outside the work folder, so Jupyter's
/// settings and secrets never land in the mounted (and committed) folder.
pub const HOME: &str = "/tmp/nb2svc-home";

/// How Jupyter starts in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launcher {
    /// `jupyter lab` with nb2svc's arguments (address, port, token).
    JupyterLab,
    /// The image's own script (`/run_jupyter.sh`); nb2svc appends the token and root folder.
    Program(String),
}

/// Everything the compose file depends on, checked.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The `docker run` arguments the service comes from (without `docker run`).
    pub docker_run: Vec<String>,
    /// How Jupyter starts.
    pub launcher: Launcher,
    /// The Jupyter option that sets the token: `--IdentityProvider.token` (Jupyter Server 2) or
    /// `--ServerApp.token` (Jupyter Server 1, as in images of 2022).
    pub token_option: &'static str,
    /// The work folder inside the container.
    pub workdir: String,
    pub jupyter_port: u16,
    pub tensorboard_port: u16,
    /// Run as the host user (`HOST_UID:HOST_GID` from `.env`).
    pub host_user: bool,
    /// Build from the generated Dockerfile instead of using the image as it is.
    pub build: bool,
    /// The service's name, when not the one the conversion gives (`tfx` from `--name tfx`).
    pub service_name: Option<String>,
}

/// The rendered compose file, and its service's name.
pub struct Compose {
    pub service: String,
    pub text: String,
}

/// The `docker run` arguments for an image nb2svc knows nothing about.
pub fn docker_run_for(image: &str, launcher: &Launcher, workdir: &str) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "-p".into(),
        format!("{JUPYTER_PORT}:{JUPYTER_PORT}"),
        "-p".into(),
        format!("{TENSORBOARD_PORT}:{TENSORBOARD_PORT}"),
        "-v".into(),
        format!("$PWD:{workdir}"),
        "--entrypoint".into(),
    ];
    match launcher {
        Launcher::JupyterLab => args.extend(["jupyter".into(), image.into(), "lab".into()]),
        Launcher::Program(program) => args.extend([program.clone(), image.into()]),
    }
    args
}

/// Checks a folder inside the container: absolute, and nothing compose or a shell would read.
pub fn check_workdir(workdir: &str) -> Result<()> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-".contains(c);
    if !workdir.starts_with('/') || !workdir.chars().all(plain) || workdir.contains("..") {
        bail!("--workdir `{workdir}` is not a plain absolute path inside the container (expected e.g. /work)");
    }
    Ok(())
}

/// Converts the command and adds nb2svc's settings; the text starts with a header that names
/// the command and every change.
pub fn render(setup: &Setup) -> Result<Compose> {
    let conversion = docker_run::convert(&setup.docker_run)
        .context("converting the dev container's docker run command")?;
    let Conversion {
        mut service_name,
        mut compose,
        notes,
        args,
    } = conversion;
    if let Some(name) = &setup.service_name {
        if let Some(service) = compose.services.remove(&service_name) {
            compose.services.insert(name.clone(), service);
            service_name = name.clone();
        }
    }
    let service = compose
        .services
        .get_mut(&service_name)
        .context("the conversion has no service")?;
    let token = format!(
        "{}=${{JUPYTER_TOKEN:?JUPYTER_TOKEN is not set: run nb2svc devcontainer to write .env}}",
        setup.token_option
    );
    service.ports = vec![
        format!("127.0.0.1:{}:{JUPYTER_PORT}", setup.jupyter_port),
        format!("127.0.0.1:{}:{TENSORBOARD_PORT}", setup.tensorboard_port),
    ];
    service.working_dir = Some(setup.workdir.clone());
    service.env_file = vec![".env".into()];
    let mut command = service.command.take().unwrap_or_default();
    if setup.launcher == Launcher::JupyterLab {
        command.extend(
            [
                "--ip=0.0.0.0",
                "--port=8888",
                "--no-browser",
                "--allow-root",
            ]
            .map(String::from),
        );
    }
    command.push(format!("--ServerApp.root_dir={}", setup.workdir));
    command.push(token);
    service.command = Some(command);
    let mut added = vec![
        format!(
            "ports on 127.0.0.1 only (host {} for Jupyter, {} for TensorBoard), not on every network interface",
            setup.jupyter_port, setup.tensorboard_port
        ),
        format!(
            "the Jupyter token from .env (JUPYTER_TOKEN, through env_file and {}); compose refuses to start without it",
            setup.token_option
        ),
        format!("working_dir {}", setup.workdir),
    ];
    if setup.host_user {
        service.user =
            Some("${HOST_UID:?run nb2svc devcontainer to write .env}:${HOST_GID:?run nb2svc devcontainer to write .env}".into());
        service.environment.push(format!("HOME={HOME}"));
        added.push(format!(
            "user HOST_UID:HOST_GID from .env, so files created in the work folder are yours; HOME={HOME}"
        ));
    }
    let mut value = serde_yaml::to_value(&compose).context("serializing the compose file")?;
    if setup.build {
        let services = value
            .get_mut("services")
            .and_then(|s| s.get_mut(&service_name))
            .and_then(Value::as_mapping_mut)
            .context("the compose file has no service")?;
        *services = with_build(services);
        added.push(
            "build: the Dockerfile adds what the image lacks (network: host lets pip reach PyPI)"
                .into(),
        );
    }
    let yaml = serde_yaml::to_string(&value).context("serializing the compose file")?;
    let command = shlex::try_join(
        ["docker", "run"]
            .into_iter()
            .chain(args.iter().map(String::as_str)),
    )
    .context("quoting the docker run command")?;
    let mut text = String::from(
        "# Generated by nb2svc devcontainer. Start: docker compose up -d; the URL is in README.md.\n",
    );
    text.push_str(&format!("# from: {}\n", comment_line(&command)));
    for note in notes {
        text.push_str(&format!("# note: {}\n", comment_line(&note)));
    }
    for addition in added {
        text.push_str(&format!("# nb2svc added: {addition}\n"));
    }
    text.push_str(&yaml);
    Ok(Compose {
        service: service_name,
        text,
    })
}

/// The service with `image:` replaced by `build:`: compose would otherwise tag the built image
/// with the base image's name.
fn with_build(service: &Mapping) -> Mapping {
    let mut build = Mapping::new();
    build.insert("context".into(), ".".into());
    build.insert("dockerfile".into(), "Dockerfile".into());
    build.insert("network".into(), "host".into());
    let mut out = Mapping::new();
    for (key, value) in service {
        if key.as_str() == Some("image") {
            out.insert("build".into(), Value::Mapping(build.clone()));
        } else {
            out.insert(key.clone(), value.clone());
        }
    }
    out
}

/// One comment line: line breaks and control characters escaped.
fn comment_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `.devcontainer/devcontainer.json`: the same compose service, opened by VS Code or the
/// devcontainer CLI.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DevcontainerJson<'a> {
    name: String,
    docker_compose_file: &'a str,
    service: &'a str,
    workspace_folder: &'a str,
    forward_ports: [u16; 2],
    ports_attributes: BTreeMap<String, PortLabel>,
    shutdown_action: &'a str,
}

#[derive(Debug, Serialize)]
struct PortLabel {
    label: &'static str,
}

/// The text of `.devcontainer/devcontainer.json`.
pub fn devcontainer_json(service: &str, workdir: &str) -> Result<String> {
    let labels = [(JUPYTER_PORT, "Jupyter"), (TENSORBOARD_PORT, "TensorBoard")]
        .map(|(port, label)| (port.to_string(), PortLabel { label }))
        .into();
    let json = DevcontainerJson {
        name: format!("{service} (nb2svc)"),
        docker_compose_file: "../docker-compose.yaml",
        service,
        workspace_folder: workdir,
        forward_ports: [JUPYTER_PORT, TENSORBOARD_PORT],
        ports_attributes: labels,
        shutdown_action: "stopCompose",
    };
    Ok(serde_json::to_string_pretty(&json)? + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tfx(build: bool) -> Setup {
        Setup {
            docker_run: docker_run::parse_command_line(TFX_COMMAND).unwrap(),
            launcher: Launcher::Program("/run_jupyter.sh".into()),
            token_option: "--ServerApp.token",
            workdir: "/tfx/src".into(),
            jupyter_port: 8888,
            tensorboard_port: 6006,
            host_user: true,
            build,
            service_name: None,
        }
    }

    fn service(text: &str, name: &str) -> Value {
        let file: Value = serde_yaml::from_str(text).unwrap();
        file["services"][name].clone()
    }

    #[test]
    fn the_tfx_preset_keeps_the_course_command_and_adds_a_token() {
        let compose = render(&tfx(false)).unwrap();
        assert_eq!(compose.service, "tfx");
        assert!(compose.text.contains(
            "# from: docker run -it --name tfx --rm -p 8888:8888 -p 6006:6006 -v '$PWD:/tfx/src' --entrypoint /run_jupyter.sh tensorflow/tfx:1.12.0\n"
        ), "{}", compose.text);
        let tfx = service(&compose.text, "tfx");
        assert_eq!(tfx["image"], "tensorflow/tfx:1.12.0");
        assert_eq!(tfx["container_name"], "tfx");
        assert_eq!(tfx["entrypoint"][0], "/run_jupyter.sh");
        assert_eq!(tfx["volumes"][0], ".:/tfx/src");
        assert_eq!(tfx["ports"][0], "127.0.0.1:8888:8888");
        assert_eq!(tfx["env_file"][0], ".env");
        let command: Vec<&str> = tfx["command"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(command
            .last()
            .unwrap()
            .starts_with("--ServerApp.token=${JUPYTER_TOKEN:?"));
        assert!(!compose.text.contains("''") && !compose.text.contains("NotebookApp"));
        assert!(tfx["user"].as_str().unwrap().starts_with("${HOST_UID:?"));
    }

    #[test]
    fn a_build_replaces_the_image_so_the_base_tag_is_never_overwritten() {
        let compose = render(&tfx(true)).unwrap();
        let tfx = service(&compose.text, "tfx");
        assert!(tfx.get("image").is_none());
        assert_eq!(tfx["build"]["network"], "host");
        assert_eq!(tfx["build"]["context"], ".");
    }

    #[test]
    fn jupyter_lab_gets_address_port_and_token() {
        let launcher = Launcher::JupyterLab;
        let setup = Setup {
            docker_run: docker_run_for(
                "quay.io/jupyter/base-notebook:2024-07-29",
                &launcher,
                "/work",
            ),
            launcher,
            token_option: "--IdentityProvider.token",
            workdir: "/work".into(),
            jupyter_port: 18888,
            tensorboard_port: 16006,
            host_user: false,
            build: false,
            service_name: Some("jupyter".into()),
        };
        let compose = render(&setup).unwrap();
        let svc = service(&compose.text, &compose.service);
        assert_eq!(svc["entrypoint"][0], "jupyter");
        assert_eq!(svc["command"][0], "lab");
        assert_eq!(svc["ports"][0], "127.0.0.1:18888:8888");
        assert_eq!(compose.service, "jupyter");
        assert!(svc.get("user").is_none());
        assert!(compose
            .text
            .contains("--IdentityProvider.token=${JUPYTER_TOKEN:?"));
    }

    #[test]
    fn workdirs_are_plain_absolute_paths() {
        assert!(check_workdir("/tfx/src").is_ok());
        for bad in ["work", "/a b", "/$HOME", "/a/../b", "/x:y"] {
            assert!(check_workdir(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn devcontainer_json_points_at_the_compose_service() {
        let json: serde_json::Value =
            serde_json::from_str(&devcontainer_json("tfx", "/tfx/src").unwrap()).unwrap();
        assert_eq!(json["dockerComposeFile"], "../docker-compose.yaml");
        assert_eq!(json["service"], "tfx");
        assert_eq!(json["workspaceFolder"], "/tfx/src");
        assert_eq!(json["forwardPorts"], serde_json::json!([8888, 6006]));
    }
}
