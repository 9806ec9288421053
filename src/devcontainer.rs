//! `nb2svc devcontainer`: a Jupyter development container around notebooks.
//!
//! [`run`] reads the notebooks (what they import and `%pip install`), probes the image when a
//! Docker engine answers ([`crate::image_probe`]), and writes: `docker-compose.yaml` (the image's
//! `docker run` command converted by [`crate::docker_run`], plus a token, localhost ports and the
//! host user), `.devcontainer/devcontainer.json` for the same service, a `Dockerfile` with what
//! the image lacks (only when something does), `.env` with a random token and the host user's
//! ids, `.env` in `.gitignore`, and a README section with the URL to open. Generated files that
//! differ on disk are refused without `--force`; `.env`, `.gitignore` and the README are merged.

mod compose;
mod files;
mod host;
mod needs;

pub use compose::TFX_COMMAND;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cli::{DevcontainerArgs, Preset};
use crate::image_probe::{self, Assessment, Docker, Engine};
use crate::render::{Content, OutputFile};
use crate::workspace::NotebookFolder;
use crate::{docker_run, names, requirements, write};
use compose::{Launcher, Setup};
use host::{host_ids, new_token, read_optional, write_private};

/// The image and launcher, checked.
struct Target {
    image: String,
    docker_run: Vec<String>,
    launcher: Launcher,
    token_option: &'static str,
    workdir: String,
}

/// `nb2svc devcontainer NOTEBOOK_OR_DIR...`.
pub fn run(args: &DevcontainerArgs, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<()> {
    let _ = stdout;
    let target = target(args)?;
    anyhow::ensure!(
        args.jupyter_port != 0
            && args.tensorboard_port != 0
            && args.jupyter_port != args.tensorboard_port,
        "--jupyter-port and --tensorboard-port must be two different ports between 1 and 65535"
    );
    let notebooks = needs::find_notebooks(&args.paths)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&args.paths[0]));
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let out_abs = out
        .canonicalize()
        .with_context(|| format!("resolving {}", out.display()))?;
    let mut warnings = Vec::new();
    let shown = |path: &Path| shown_path(path, &out_abs);
    for notebook in &notebooks {
        let inside = notebook
            .canonicalize()
            .is_ok_and(|p| p.starts_with(&out_abs));
        if !inside {
            warnings.push(format!(
                "{} is outside {}, the folder mounted in the container: Jupyter will not see it",
                notebook.display(),
                out.display()
            ));
        }
    }
    let requirements = args
        .requirements
        .as_deref()
        .map(requirements::read)
        .transpose()?;
    let needs = needs::collect(&notebooks, requirements.as_ref(), &shown, &mut warnings)?;

    let engine = if args.no_probe {
        None
    } else {
        Docker::reachable()
    };
    let names = image_probe::probe_names(needs.imports.keys().map(String::as_str));
    let facts = match &engine {
        None if args.no_probe => Err("--no-probe was given".to_string()),
        None => Err("no Docker engine answered `docker info`".to_string()),
        Some(engine) => image_probe::probe(engine, &target.image, &names),
    };
    let mut report = image_probe::assess(&needs, facts.as_ref().map_err(String::as_str));
    if let (Some(engine), Ok(_)) = (&engine, &facts) {
        pin_versions(engine, &target.image, &mut report, &mut warnings);
    }
    let build = !report.install.is_empty();
    let host_user = !args.image_user;
    let setup = Setup {
        docker_run: target.docker_run.clone(),
        launcher: target.launcher.clone(),
        token_option: target.token_option,
        workdir: target.workdir.clone(),
        jupyter_port: args.jupyter_port,
        tensorboard_port: args.tensorboard_port,
        host_user,
        build,
        service_name: args.preset.is_none().then(|| "jupyter".to_string()),
    };
    let compose = compose::render(&setup)?;
    let mut generated = vec![
        text_file("docker-compose.yaml", compose.text),
        text_file(
            ".devcontainer/devcontainer.json",
            compose::devcontainer_json(&compose.service, &target.workdir)?,
        ),
    ];
    if build {
        generated.push(text_file(
            "Dockerfile",
            files::dockerfile(&target.image, &report)?,
        ));
    }
    let notebook_names: Vec<String> = notebooks.iter().map(|n| shown(n)).collect();
    let section = files::readme_section(&files::ReadmeFacts {
        service: &compose.service,
        image: &target.image,
        notebooks: &notebook_names,
        jupyter_port: args.jupyter_port,
        tensorboard_port: args.tensorboard_port,
        workdir: &target.workdir,
        host_user,
        build,
        report: &report,
    })?;

    // Generated files first: a conflict stops everything before .env or the README change.
    let folder = NotebookFolder {
        dir: out.clone(),
        subdir: String::new(),
    };
    let written = write::write_to(&out, &generated, &folder, args.force)?;
    let mut merged = Vec::new();
    let env_path = out.join(".env");
    let existing_env = read_optional(&env_path)?;
    let mut token = new_token;
    if let Some(text) = files::env_file(existing_env.as_deref(), &mut token, host_ids())? {
        write_private(&env_path, &text)?;
        merged.push(if existing_env.is_some() {
            ".env (completed; token kept)"
        } else {
            ".env (new token)"
        });
    }
    let gitignore_path = out.join(".gitignore");
    if let Some(text) = files::gitignore(read_optional(&gitignore_path)?.as_deref()) {
        fs::write(&gitignore_path, text)
            .with_context(|| format!("writing {}", gitignore_path.display()))?;
        merged.push(".gitignore (.env added)");
    }
    let readme_path = out.join("README.md");
    let existing_readme = read_optional(&readme_path)?;
    let readme = files::readme(existing_readme.as_deref(), &section);
    if existing_readme.as_deref() != Some(readme.as_str()) {
        fs::write(&readme_path, &readme)
            .with_context(|| format!("writing {}", readme_path.display()))?;
        merged.push("README.md (nb2svc's section)");
    }
    if !build && out.join("Dockerfile").is_file() {
        warnings.push(
            "Dockerfile is left from an earlier run; compose no longer builds it (delete it)"
                .into(),
        );
    }

    print_report(stderr, &target.image, &report)?;
    for warning in &warnings {
        writeln!(stderr, "warning: {warning}")?;
    }
    let mut changed: Vec<&str> = written
        .created
        .iter()
        .chain(&written.updated)
        .map(String::as_str)
        .collect();
    changed.extend(merged);
    if changed.is_empty() {
        writeln!(stderr, "{}: nothing to change", out.display())?;
    } else {
        writeln!(stderr, "wrote in {}: {}", out.display(), changed.join(", "))?;
    }
    writeln!(
        stderr,
        "start: cd {} && docker compose up -d{}\nopen: http://127.0.0.1:{}/lab?token=<JUPYTER_TOKEN from {}>",
        out.display(),
        if build { " --build" } else { "" },
        args.jupyter_port,
        env_path.display()
    )?;
    Ok(())
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

/// Pins every bare package to the version the image's pip would install now.
fn pin_versions(
    engine: &dyn Engine,
    image: &str,
    report: &mut Assessment,
    warnings: &mut Vec<String>,
) {
    let bare: Vec<String> = report
        .install
        .iter()
        .filter(|i| !i.pinned())
        .map(|i| i.spec.clone())
        .collect();
    if bare.is_empty() {
        return;
    }
    match image_probe::resolve_versions(engine, image, &bare) {
        Ok(versions) => {
            for install in &mut report.install {
                if let Some(version) = versions.get(&install.name) {
                    install.pin(version);
                }
            }
        }
        Err(why) => warnings.push(format!(
            "{why}; the Dockerfile installs {} unpinned",
            bare.join(", ")
        )),
    }
    // Keep the report's lines in step with the pinned specs.
    let pins: Vec<(String, String)> = report
        .install
        .iter()
        .map(|i| (i.name.clone(), i.spec.clone()))
        .collect();
    for line in report.imports.iter_mut().chain(report.requested.iter_mut()) {
        if let image_probe::Status::Missing { install } = &mut line.status {
            if let Some((_, spec)) = pins
                .iter()
                .find(|(name, _)| crate::import_map::normalize(install) == *name)
            {
                *install = spec.clone();
            }
        }
    }
}

fn print_report(stderr: &mut dyn Write, image: &str, report: &Assessment) -> Result<()> {
    match (&report.python, &report.not_probed) {
        (Some(python), _) => writeln!(stderr, "image {image} (Python {python}):")?,
        (None, why) => writeln!(
            stderr,
            "image {image} was NOT probed ({}): the Dockerfile installs everything the notebooks need",
            why.as_deref().unwrap_or("no reason given")
        )?,
    }
    for line in &report.imports {
        writeln!(
            stderr,
            "  import {}: {}",
            line.name,
            files::describe(&line.status)
        )?;
    }
    for line in &report.requested {
        writeln!(
            stderr,
            "  {} ({}): {}",
            line.name,
            line.used_in.join(", "),
            files::describe(&line.status)
        )?;
    }
    if report.python.is_some() {
        let missing: Vec<&str> = report.install.iter().map(|i| i.name.as_str()).collect();
        match missing.is_empty() {
            true => writeln!(stderr, "the image lacks nothing the notebooks need")?,
            false => writeln!(stderr, "the image lacks: {}", missing.join(", "))?,
        }
    }
    Ok(())
}

fn text_file(path: &str, text: String) -> OutputFile {
    OutputFile {
        path: path.into(),
        content: Content::Text(text),
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

/// A notebook's path relative to the work folder when it is inside it.
fn shown_path(path: &Path, out_abs: &Path) -> String {
    path.canonicalize()
        .ok()
        .and_then(|p| p.strip_prefix(out_abs).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .to_string_lossy()
        .replace('\\', "/")
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
}
