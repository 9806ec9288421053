//! `nb2svc devcontainer`: a Jupyter development container around notebooks.
//!
//! [`run`] is a pipeline of four steps. [`options`] checks the flags once. [`plan`] reads the
//! notebooks (what they import and `%pip install`), probes the image when a Docker engine
//! answers ([`crate::image_probe`]) and reads the files it merges into. [`render`] makes every
//! file: `docker-compose.yaml` (the image's `docker run` command converted by
//! [`crate::docker_run`], plus a token, localhost ports and the host user),
//! `.devcontainer/devcontainer.json` for the same service, a `Dockerfile` with what the image
//! lacks (only when something does), `.env` with a random token and the host user's ids, `.env`
//! in `.gitignore`, and a README section with the URL to open. Then one all-or-nothing write
//! ([`crate::write`]) puts them all in place: generated files that differ on disk are refused
//! without `--force`; `.env`, `.gitignore` and the README are merged, never replaced; a
//! conflict or failure anywhere leaves the folder as it was.

mod compose;
mod files;
mod host;
mod needs;
mod options;
mod plan;
mod render;

pub use compose::TFX_COMMAND;

use std::io::Write;

use anyhow::Result;

use crate::cli::DevcontainerArgs;
use crate::image_probe::Assessment;
use crate::workspace::NotebookFolder;
use crate::write::{self, WriteReport};
use options::Options;
use plan::Plan;
use render::Rendered;

/// `nb2svc devcontainer NOTEBOOK_OR_DIR...`.
pub(crate) fn run(
    args: &DevcontainerArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<()> {
    let _ = stdout;
    let options = Options::from_args(args)?;
    let plan = plan::plan(&options)?;
    let rendered = render::render(&options, &plan, &mut host::new_token, host::host_ids())?;
    let folder = NotebookFolder {
        dir: options.out.clone(),
        subdir: String::new(),
    };
    let merged: Vec<write::Merged> = rendered.merged.iter().map(|m| m.file.clone()).collect();
    let written = write::write_all(
        &options.out,
        &rendered.generated,
        &merged,
        &folder,
        options.force,
    )?;
    print(stderr, &options, &plan, &rendered, &written)
}

/// The image report, the warnings, what changed, and how to start and open Jupyter.
fn print(
    stderr: &mut dyn Write,
    options: &Options,
    plan: &Plan,
    rendered: &Rendered,
    written: &WriteReport,
) -> Result<()> {
    print_report(stderr, &options.target.image, &plan.report)?;
    for warning in &plan.warnings {
        writeln!(stderr, "warning: {warning}")?;
    }
    let is_merged = |path: &str| rendered.merged.iter().any(|m| m.file.path == path);
    let was_written = |path: &str| {
        written
            .created
            .iter()
            .chain(&written.updated)
            .any(|p| p == path)
    };
    // The generated files as the writer reports them (created, then updated), then the merges.
    let mut changed: Vec<&str> = written
        .created
        .iter()
        .chain(&written.updated)
        .map(String::as_str)
        .filter(|path| !is_merged(path))
        .collect();
    changed.extend(
        rendered
            .merged
            .iter()
            .filter(|m| was_written(&m.file.path))
            .map(|m| m.label),
    );
    let out = options.out.display();
    if changed.is_empty() {
        writeln!(stderr, "{out}: nothing to change")?;
    } else {
        writeln!(stderr, "wrote in {out}: {}", changed.join(", "))?;
    }
    writeln!(
        stderr,
        "start: cd {out} && docker compose up -d{}\nopen: http://127.0.0.1:{}/lab?token=<JUPYTER_TOKEN from {}>",
        if plan.build { " --build" } else { "" },
        options.jupyter_port,
        options.out.join(".env").display()
    )?;
    Ok(())
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
