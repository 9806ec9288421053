//! The flags of `nb2svc devcontainer`, checked once: the image and how Jupyter starts in it,
//! the ports, and where to write. Every error names the flag at fault. Nothing here reads a
//! notebook or the disk; that is the plan's job.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::compose::{self, Launcher, TFX_COMMAND};
use crate::cli::{DevcontainerArgs, Preset};
use crate::{docker_run, names};

/// The image and launcher, checked.
pub(super) struct Target {
    pub image: String,
    /// The `docker run` arguments the service comes from (without `docker run`).
    pub docker_run: Vec<String>,
    pub launcher: Launcher,
    /// The Jupyter option that sets the token (see [`compose::Setup::token_option`]).
    pub token_option: &'static str,
    /// The work folder inside the container.
    pub workdir: String,
}

/// What the person asked for, checked.
pub(super) struct Options {
    pub target: Target,
    /// `NOTEBOOK_OR_DIR...` as given.
    pub paths: Vec<PathBuf>,
    pub requirements: Option<PathBuf>,
    /// The folder written into, mounted as the container's work folder.
    pub out: PathBuf,
    pub jupyter_port: u16,
    pub tensorboard_port: u16,
    /// Run the image once to see what it has (`--no-probe` turns it off).
    pub probe: bool,
    /// Run the container as the host user (not `--image-user`).
    pub host_user: bool,
    pub force: bool,
    /// The compose service's name when not the converted command's (`tfx` from `--name tfx`).
    pub service_name: Option<String>,
}

impl Options {
    /// Checks the raw flags, in the order a person reads them: the image, then the ports.
    pub fn from_args(args: &DevcontainerArgs) -> Result<Self> {
        let target = target(args)?;
        anyhow::ensure!(
            args.jupyter_port != 0
                && args.tensorboard_port != 0
                && args.jupyter_port != args.tensorboard_port,
            "--jupyter-port and --tensorboard-port must be two different ports between 1 and 65535"
        );
        let first = args
            .paths
            .first()
            .context("expected at least one NOTEBOOK_OR_DIR")?;
        Ok(Options {
            target,
            paths: args.paths.clone(),
            requirements: args.requirements.clone(),
            out: args.out.clone().unwrap_or_else(|| default_out(first)),
            jupyter_port: args.jupyter_port,
            tensorboard_port: args.tensorboard_port,
            probe: !args.no_probe,
            host_user: !args.image_user,
            force: args.force,
            service_name: args.preset.is_none().then(|| "jupyter".to_string()),
        })
    }
}

/// The image, its `docker run` command and launcher, from `--preset` or `--image`.
fn target(args: &DevcontainerArgs) -> Result<Target> {
    if args.preset == Some(Preset::Tfx) {
        let docker_run = docker_run::parse_command_line(TFX_COMMAND)?;
        return Ok(Target {
            image: "tensorflow/tfx:1.12.0".into(),
            docker_run,
            launcher: Launcher::Program("/run_jupyter.sh".into()),
            // tensorflow/tfx:1.12.0 (2022) predates Jupyter Server 2's IdentityProvider.
            token_option: "--ServerApp.token",
            workdir: "/tfx/src".into(),
        });
    }
    let image = args
        .image
        .clone()
        .context("expected --preset tfx or --image IMAGE")?;
    names::check_image_reference(&image).context("in --image")?;
    check_pinned(&image)?;
    let workdir = args.workdir.clone().unwrap_or_else(|| "/work".into());
    compose::check_workdir(&workdir)?;
    let launcher = match &args.entrypoint {
        Some(program) if program.is_empty() || program.contains(char::is_whitespace) => {
            bail!("--entrypoint `{program}` must be one program path, without spaces")
        }
        Some(program) => Launcher::Program(program.clone()),
        None => Launcher::JupyterLab,
    };
    Ok(Target {
        docker_run: compose::docker_run_for(&image, &launcher, &workdir),
        image,
        launcher,
        token_option: "--IdentityProvider.token",
        workdir,
    })
}

/// Refuses `:latest` and untagged images: the environment must be the same next month.
fn check_pinned(image: &str) -> Result<()> {
    if image.contains('@') {
        return Ok(());
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) => bail!(
            "--image {image}: `:latest` changes under you; expected a pinned tag (e.g. tensorflow/tfx:1.12.0) or a digest"
        ),
        Some(_) => Ok(()),
        None => bail!(
            "--image {image} has no tag, which means :latest; expected a pinned tag (e.g. tensorflow/tfx:1.12.0) or a digest"
        ),
    }
}

/// The folder of the first argument: itself if it is a folder, else the one holding it.
fn default_out(first: &Path) -> PathBuf {
    if first.is_dir() {
        return first.to_path_buf();
    }
    match first.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_and_untagged_images_are_refused() {
        assert!(check_pinned("tensorflow/tfx:1.12.0").is_ok());
        assert!(check_pinned("localhost:5000/img:2024-01").is_ok());
        assert!(check_pinned("img@sha256:abcd").is_ok());
        let latest = check_pinned("jupyter/scipy-notebook:latest")
            .unwrap_err()
            .to_string();
        assert!(
            latest.contains("`:latest`") && latest.contains("--image"),
            "{latest}"
        );
        assert!(check_pinned("jupyter/scipy-notebook")
            .unwrap_err()
            .to_string()
            .contains("no tag"));
        assert!(check_pinned("localhost:5000/img").is_err());
    }

    #[test]
    fn ports_and_entrypoints_are_checked_naming_the_flag() {
        use clap::Parser;
        let parse = |extra: &[&str]| {
            let mut argv = vec!["nb2svc", "devcontainer", ".", "--image", "python:3.11-slim"];
            argv.extend(extra);
            let cli = crate::cli::Cli::try_parse_from(argv).unwrap();
            match cli.command {
                Some(crate::cli::Command::Devcontainer(args)) => Options::from_args(&args),
                _ => unreachable!("the devcontainer subcommand was parsed"),
            }
        };
        let same = parse(&["--jupyter-port", "6006"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            same.contains("--jupyter-port and --tensorboard-port"),
            "{same}"
        );
        let spaced = parse(&["--entrypoint", "start jupyter"]).err().unwrap();
        assert!(spaced
            .to_string()
            .starts_with("--entrypoint `start jupyter`"));
        let options = parse(&["--no-probe", "--image-user"]).unwrap();
        assert!(!options.probe && !options.host_user);
        assert_eq!(options.service_name.as_deref(), Some("jupyter"));
        assert_eq!(options.target.workdir, "/work");
    }
}
