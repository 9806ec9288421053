//! What nb2svc tells the person (stderr, at a glance) or the script (`--json`, on stdout).

use std::io::Write;

use serde::Serialize;

use crate::plan::ServicePlan;
use crate::render::{Content, OutputFile};
use crate::write::WriteReport;

/// The machine-readable report: the plan, the files, and what writing did.
#[derive(Serialize)]
pub struct JsonReport<'a> {
    pub notebook: &'a str,
    pub out: String,
    pub dry_run: bool,
    pub plan: &'a ServicePlan,
    pub files: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written: Option<&'a WriteReport>,
}

/// A person's summary of the plan (and of what was written, when something was).
pub fn human(
    w: &mut dyn Write,
    plan: &ServicePlan,
    out: &str,
    files: &[OutputFile],
    written: Option<&WriteReport>,
) -> std::io::Result<()> {
    writeln!(w, "nb2svc: {} -> {out}/", plan.notebook_file)?;
    let routes: Vec<String> = crate::render::routes(plan)
        .iter()
        .map(crate::render::report_line)
        .collect();
    writeln!(w, "  routes        {}", routes.join(", "))?;
    for artifact in &plan.artifacts {
        let source = match (&artifact.saved_at, &artifact.shipped_from) {
            (Some(at), _) => format!("saved in {at}"),
            (None, Some(from)) => format!("copied from {from}"),
            (None, None) => "missing".into(),
        };
        writeln!(
            w,
            "  artifact      data/{} ({}, {source})",
            artifact.path, artifact.serializer
        )?;
    }
    for unknown in &plan.unknown_paths {
        writeln!(
            w,
            "  at run time   {}: {} `{}` (known when the notebook runs{})",
            unknown.location,
            unknown.access,
            unknown.written.replace('\n', " "),
            if unknown.access == "reads" {
                "; --include ships a file it needs"
            } else {
                ""
            }
        )?;
    }
    for fetch in &plan.fetches {
        if let Some(url) = &fetch.url {
            writeln!(
                w,
                "  fetch         {}: {url} -> {}",
                fetch.location, fetch.dest
            )?;
        }
    }
    for (location, text, reason) in &plan.left_out {
        writeln!(w, "  left out      {location}: {text} ({reason})")?;
    }
    for step in &plan.preprocessing {
        writeln!(w, "  preprocessing {}: {}", step.location, step.description)?;
    }
    for credential in &plan.credentials {
        writeln!(
            w,
            "  credential    {}: {} in {}, taken out of the code (give it in .env)",
            credential.variable, credential.written_as, credential.place
        )?;
    }
    for setting in plan.settings.iter().filter(|s| !s.secret) {
        let default = match (&setting.default, setting.required) {
            (Some(value), _) => format!("default {value:?}"),
            (None, true) => "required".into(),
            (None, false) => "no default".into(),
        };
        writeln!(
            w,
            "  setting       {} ({default}; {})",
            setting.name, setting.location
        )?;
    }
    writeln!(
        w,
        "  python        {} ({}): {}",
        plan.python.version, plan.base_image, plan.python.because
    )?;
    let training = crate::render::WhenCodeRuns::of(plan).summary();
    writeln!(w, "  training      {training}")?;
    for data in &plan.data_files {
        writeln!(
            w,
            "  data          data/{} (from {})",
            data.path, data.source
        )?;
    }
    if written.is_none() {
        // The dry run shows every requirement with where it came from.
        writeln!(w, "  requirements:")?;
        for requirement in &plan.requirements.requirements {
            writeln!(w, "    {:<32} {}", requirement.text, requirement.origin)?;
        }
    } else {
        let added: Vec<&str> = plan
            .requirements
            .requirements
            .iter()
            .filter(|r| !r.origin.is_file())
            .map(|r| r.text.as_str())
            .collect();
        let added = if added.is_empty() {
            String::new()
        } else {
            format!(" (added: {})", added.join(", "))
        };
        writeln!(
            w,
            "  requirements  {} lines{added}",
            plan.requirements.requirements.len()
        )?;
    }
    match &plan.lock {
        crate::lock::LockState::Locked(lock) => {
            let kept = match &lock.user_lock {
                Some(user) => format!(", the versions of {} kept", user.file),
                None => String::new(),
            };
            writeln!(
                w,
                "  lock          {} packages pinned{} by {} for Python {} on {}{kept}",
                lock.packages.len(),
                if lock.hashed { " with hashes" } else { "" },
                lock.resolver,
                lock.target.python,
                lock.target.platform
            )?
        }
        crate::lock::LockState::Unlocked { reason } => writeln!(
            w,
            "  lock          none: the requirements are not locked ({reason})"
        )?,
    }
    match written {
        Some(report) => writeln!(
            w,
            "  files         {} created, {} updated, {} unchanged",
            report.created.len(),
            report.updated.len(),
            report.unchanged.len()
        )?,
        None => {
            writeln!(w, "  files (dry run, nothing written):")?;
            for file in files {
                let note = match &file.content {
                    Content::Text(text) => format!("{} bytes", text.len()),
                    Content::CopyOf(source) => format!("copy of {source}"),
                };
                writeln!(w, "    {:<32} {note}", file.path)?;
            }
        }
    }
    for warning in &plan.warnings {
        writeln!(w, "warning: {warning}")?;
    }
    Ok(())
}
