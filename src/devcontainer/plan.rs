//! What the dev container will be: the notebooks and what they need, what the image already
//! has (one probe run when a Docker engine answers), whether a Dockerfile must add the rest,
//! and the text of the person's files that nb2svc merges into (`.env`, `.gitignore`,
//! `README.md`). This is the only step that reads notebooks, the image or the output folder;
//! it writes nothing.

use std::path::Path;

use anyhow::Result;

use super::host::read_optional;
use super::needs;
use super::options::Options;
use crate::image_probe::{self, Assessment, Docker, Engine};
use crate::requirements;

/// The text of the files nb2svc merges into, as they are now (`None`: no such file).
pub(super) struct Existing {
    pub env: Option<String>,
    pub gitignore: Option<String>,
    pub readme: Option<String>,
}

/// Everything the files are rendered from.
pub(super) struct Plan {
    /// The notebooks, named relative to the output folder when inside it.
    pub notebooks: Vec<String>,
    /// What each notebook needs and whether the image has it; `install` is what it lacks.
    pub report: Assessment,
    /// Whether a Dockerfile adds what the image lacks (compose then builds it).
    pub build: bool,
    pub existing: Existing,
    pub warnings: Vec<String>,
}

/// Reads the notebooks and the output folder, and probes the image unless told not to.
pub(super) fn plan(options: &Options) -> Result<Plan> {
    let notebooks = needs::find_notebooks(&options.paths)?;
    let out = &options.out;
    // The folder may not exist yet; then no notebook is inside it.
    let out_abs = out.canonicalize().ok();
    let mut warnings = Vec::new();
    let shown = |path: &Path| shown_path(path, out_abs.as_deref());
    for notebook in &notebooks {
        let inside = out_abs.as_deref().is_some_and(|out_abs| {
            notebook
                .canonicalize()
                .is_ok_and(|p| p.starts_with(out_abs))
        });
        if !inside {
            warnings.push(format!(
                "{} is outside {}, the folder mounted in the container: Jupyter will not see it",
                notebook.display(),
                out.display()
            ));
        }
    }
    let requirements = options
        .requirements
        .as_deref()
        .map(requirements::read)
        .transpose()?;
    let needs = needs::collect(&notebooks, requirements.as_ref(), &shown, &mut warnings)?;

    let image = &options.target.image;
    let engine = match options.probe {
        true => Docker::reachable(),
        false => None,
    };
    let names = image_probe::probe_names(needs.imports.keys().map(String::as_str));
    let facts = match &engine {
        None if !options.probe => Err("--no-probe was given".to_string()),
        None => Err("no Docker engine answered `docker info`".to_string()),
        Some(engine) => image_probe::probe(engine, image, &names),
    };
    let mut report = image_probe::assess(&needs, facts.as_ref().map_err(String::as_str));
    if let (Some(engine), Ok(_)) = (&engine, &facts) {
        pin_versions(engine, image, &mut report, &mut warnings);
    }
    let build = !report.install.is_empty();
    if !build && out.join("Dockerfile").is_file() {
        warnings.push(
            "Dockerfile is left from an earlier run; compose no longer builds it (delete it)"
                .into(),
        );
    }
    let existing = Existing {
        env: read_optional(&out.join(".env"))?,
        gitignore: read_optional(&out.join(".gitignore"))?,
        readme: read_optional(&out.join("README.md"))?,
    };
    Ok(Plan {
        notebooks: notebooks.iter().map(|n| shown(n)).collect(),
        report,
        build,
        existing,
        warnings,
    })
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

/// A notebook's path relative to the work folder when it is inside it.
fn shown_path(path: &Path, out_abs: Option<&Path>) -> String {
    path.canonicalize()
        .ok()
        .zip(out_abs)
        .and_then(|(p, out_abs)| p.strip_prefix(out_abs).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .to_string_lossy()
        .replace('\\', "/")
}
