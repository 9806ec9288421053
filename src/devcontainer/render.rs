//! Every file of the dev container as text, from the options and the plan: the generated ones
//! (compose, `devcontainer.json`, the Dockerfile when the image lacks something) and the
//! person's files merged (`.env`, `.gitignore`, `README.md`). Nothing is written here.

use anyhow::Result;

use super::compose::{self, Setup};
use super::files;
use super::options::Options;
use super::plan::Plan;
use crate::render::{Content, OutputFile};
use crate::write::Merged;

/// A merged file, and how the summary names it when it changes.
pub(super) struct MergedFile {
    pub file: Merged,
    pub label: &'static str,
}

/// The dev container's files.
pub(super) struct Rendered {
    /// Files nb2svc owns: a different one on disk is refused without `--force`.
    pub generated: Vec<OutputFile>,
    /// The person's files with nb2svc's part merged in; `.env` and `.gitignore` only when
    /// something in them must change.
    pub merged: Vec<MergedFile>,
}

/// Renders every file; `token` makes a new Jupyter token (called only when `.env` has none)
/// and `ids` are the host user's numeric user and group.
pub(super) fn render(
    options: &Options,
    plan: &Plan,
    token: &mut dyn FnMut() -> Result<String>,
    ids: (u32, u32),
) -> Result<Rendered> {
    let target = &options.target;
    let setup = Setup {
        docker_run: target.docker_run.clone(),
        launcher: target.launcher.clone(),
        token_option: target.token_option,
        workdir: target.workdir.clone(),
        jupyter_port: options.jupyter_port,
        tensorboard_port: options.tensorboard_port,
        host_user: options.host_user,
        build: plan.build,
        service_name: options.service_name.clone(),
    };
    let compose = compose::render(&setup)?;
    let devcontainer_json = compose::devcontainer_json(&compose.service, &target.workdir)?;
    let mut generated = vec![
        text_file("docker-compose.yaml", compose.text),
        text_file(".devcontainer/devcontainer.json", devcontainer_json),
    ];
    if plan.build {
        generated.push(text_file(
            "Dockerfile",
            files::dockerfile(&target.image, &plan.report)?,
        ));
    }
    let existing = &plan.existing;
    let mut merged = Vec::new();
    if let Some(text) = files::env_file(existing.env.as_deref(), token, ids)? {
        merged.push(MergedFile {
            label: match existing.env.is_some() {
                true => ".env (completed; token kept)",
                false => ".env (new token)",
            },
            file: Merged {
                path: ".env".into(),
                base: existing.env.clone(),
                text,
                private: true,
            },
        });
    }
    if let Some(text) = files::gitignore(existing.gitignore.as_deref()) {
        merged.push(MergedFile {
            label: ".gitignore (.env added)",
            file: Merged {
                path: ".gitignore".into(),
                base: existing.gitignore.clone(),
                text,
                private: false,
            },
        });
    }
    let section = files::readme_section(&files::ReadmeFacts {
        service: &compose.service,
        image: &target.image,
        notebooks: &plan.notebooks,
        jupyter_port: options.jupyter_port,
        tensorboard_port: options.tensorboard_port,
        workdir: &target.workdir,
        host_user: options.host_user,
        build: plan.build,
        report: &plan.report,
    })?;
    merged.push(MergedFile {
        label: "README.md (nb2svc's section)",
        file: Merged {
            path: "README.md".into(),
            base: existing.readme.clone(),
            text: files::readme(existing.readme.as_deref(), &section),
            private: false,
        },
    });
    Ok(Rendered { generated, merged })
}

fn text_file(path: &str, text: String) -> OutputFile {
    OutputFile {
        path: path.into(),
        content: Content::Text(text),
    }
}
