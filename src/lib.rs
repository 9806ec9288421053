//! nb2svc: turn a Jupyter notebook and its requirements into a containerized FastAPI service.
//!
//! The pipeline, in `convert` (what [`run`] does without a subcommand): read the notebook,
//! extract plain Python from its cells, read the requirements, plan the service, lock its
//! requirements with uv, render its files, write them all or none. The public surface is what
//! the binary and the integration tests need: [`run`], [`cli::Cli`], and the [`readers`].

mod base_image;
pub mod cli;
mod compose;
mod deploy;
mod devcontainer;
mod diagnostics;
mod docker_run;
mod escape;
mod extract;
mod image_probe;
mod import_map;
mod input;
mod lock;
mod names;
mod notebook;
mod parallel;
mod pickled;
mod plan;
mod python;
mod render;
mod report;
mod requirements;
#[cfg(test)]
mod test_support;
mod workspace;
mod write;

pub use devcontainer::TFX_COMMAND;
/// The stack size of the thread `main` runs nb2svc on, and of every thread that parses cells.
pub use parallel::{start_helpers, STACK_BYTES};

/// The readers of untrusted input on their own, for the fuzz tests: each must answer any
/// input with a value or an error, never a panic. Everything else is reached through [`run`].
pub mod readers {
    pub use crate::docker_run::{
        convert as convert_docker_run, parse_command_line, render_compose,
    };
    pub use crate::extract::extract;
    pub use crate::notebook::parse as parse_notebook;
    pub use crate::python::analyze;
    pub use crate::requirements::{decode, parse_requirements_txt};
}

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use cli::{Cli, Command, ConvertArgs};
use plan::Options;
use workspace::NotebookFolder;

/// Runs the command line; output goes to `stdout` and `stderr` so tests can drive it in-process.
pub fn run(cli: Cli, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<()> {
    match cli.command {
        Some(Command::Templates { dir }) => export_templates(&dir, stderr),
        Some(Command::Compose(args)) => compose::run(&args, stdout, stderr),
        Some(Command::Devcontainer(args)) => devcontainer::run(&args, stdout, stderr),
        None => convert(&cli.convert, stdout, stderr),
    }
}

/// `nb2svc NOTEBOOK`: the main job.
fn convert(args: &ConvertArgs, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<()> {
    let path = args.notebook.as_deref().context("no notebook given")?;
    let shown = path.display().to_string();
    let templates = render::templates(args.templates.as_deref())?;
    // The bytes (outputs included) are unmapped as soon as the cells are read.
    let notebook = input::with_notebook_bytes(path, notebook::parse)?
        .with_context(|| format!("{shown} is not a notebook nb2svc can read"))?;
    notebook
        .check_python()
        .with_context(|| format!("{shown} cannot become a Python service"))?;
    let extraction = extract::extract(&notebook).with_context(|| format!("in {shown}"))?;
    let lock_mode = lock::LockMode::choose(
        args.lock,
        args.no_lock,
        std::env::var("NB2SVC_LOCK").ok().as_deref(),
    )?;
    let requirements = match &args.requirements {
        Some(file) => Some(requirements::read(file)?),
        None => {
            if !args.quiet && !args.json {
                writeln!(stderr, "warning: no --requirements given: requirements come from the notebook's imports alone, unpinned")?;
            }
            None
        }
    };
    let folder = workspace::project_of(path, args.root.as_deref())?;
    let options = options(args, path, &folder, notebook.language_version.as_deref())?;
    let mut lock_warnings = Vec::new();
    let user_lock = match lock_mode {
        lock::LockMode::Off => None,
        _ => lock::user_lock::find(
            &folder,
            args.requirements.as_deref().zip(requirements.as_ref()),
            &mut lock_warnings,
        ),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| shown.clone());
    let mut plan = plan::plan(&file_name, extraction, requirements, &folder, &options)
        .with_context(|| format!("in {shown}"))?;
    let out = args.out.clone().unwrap_or_else(|| default_out(path));
    // The lock already in the output folder keeps its versions where they still fit.
    let previous = fs::read_to_string(out.join("requirements.txt"))
        .ok()
        .filter(|text| lock::is_nb2svc_lock(text));
    let request = lock::Request {
        merged: &plan.requirements,
        base_image: &plan.base_image,
        python: &plan.python.version,
        user_lock: user_lock.as_ref(),
        previous: previous.as_deref(),
        upgrade: args.upgrade_lock,
        mode: lock_mode,
    };
    plan.lock =
        lock::lock(&request, &lock::Resolver::from_env()).with_context(|| format!("in {shown}"))?;
    lock::note(&mut plan, lock_mode, lock_warnings);
    let files = render::render(&plan, &templates)?;
    let out_shown = out.display().to_string();
    let written = if args.dry_run {
        None
    } else {
        Some(write::write_to(&out, &files, &folder, args.force)?)
    };
    if args.json {
        let report = report::JsonReport {
            notebook: &shown,
            out: out_shown,
            dry_run: args.dry_run,
            plan: &plan,
            files: files.iter().map(|f| f.path.as_str()).collect(),
            written: written.as_ref(),
        };
        serde_json::to_writer_pretty(&mut *stdout, &report)?;
        writeln!(stdout)?;
    } else if args.dry_run {
        report::human(stdout, &plan, &out_shown, &files, None)?;
    } else if !args.quiet {
        report::human(stderr, &plan, &out_shown, &files, written.as_ref())?;
    }
    Ok(())
}

/// Checks the raw flags once and turns them into planning options; `python_recorded` is the
/// Python version the notebook's metadata records.
fn options(
    args: &ConvertArgs,
    notebook: &Path,
    folder: &NotebookFolder,
    python_recorded: Option<&str>,
) -> Result<Options> {
    if let Some(image) = &args.base_image {
        names::check_image_reference(image)?;
    }
    let base = base_image::choose(
        python_recorded,
        args.python.as_deref(),
        args.base_image.as_deref(),
    )?;
    let stem = notebook
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let service_name = names::service_name(args.name.as_deref().unwrap_or(&stem));
    anyhow::ensure!(
        args.port != 0 && args.container_port != 0,
        "ports must be between 1 and 65535"
    );
    Ok(Options {
        service_name,
        host_port: args.port,
        dev_address: args.dev_address,
        container_port: args.container_port,
        base_image: base.image,
        python: base.python,
        endpoints: args.endpoints.clone(),
        train_at: args.train_at.into(),
        workers: args.workers,
        strict: args.strict,
        buildkit_cache: args.buildkit_cache,
        includes: args
            .includes
            .iter()
            .map(|include| folder.relative_include(include))
            .collect::<Result<_>>()?,
        deploy: deploy::Targets {
            kubernetes: args.kubernetes,
            swarm: args.swarm,
            replicas: args.replicas,
        },
    })
}

/// `model.ipynb` → `./model-service`.
fn default_out(notebook: &Path) -> PathBuf {
    let stem = notebook
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "notebook".into());
    PathBuf::from(format!("{stem}-service"))
}

/// `nb2svc templates DIR`: the built-in templates, to edit and pass back with `--templates`,
/// and `TEMPLATES.md`, the document of their blocks and fields.
fn export_templates(dir: &Path, stderr: &mut dyn Write) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let document = render::contract::document();
    let files = render::BUILTIN_TEMPLATES
        .iter()
        .copied()
        .chain([(render::contract::DOCUMENT, document.as_str())]);
    for (name, text) in files {
        let path = dir.join(name);
        if path.exists() {
            writeln!(stderr, "kept {} (exists)", path.display())?;
            continue;
        }
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        writeln!(stderr, "wrote {}", path.display())?;
    }
    Ok(())
}
