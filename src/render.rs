//! From a [`ServicePlan`] to the files of the service, through Tera templates.
//!
//! The built-in templates are embedded in the binary; a folder given with `--templates`
//! replaces any of them by file name. Decisions are made in Rust and handed to templates as
//! prepared fields of [`ServiceView`]: templates only loop and branch. Every value that comes
//! from user input goes through the escaping of the language it lands in, owned by
//! [`crate::escape`]: templates apply its filters (`py_string`, `py_docstring`, `yaml_string`,
//! `md_code`, ...), and the sentences prepared here call it for their user parts.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use tera::Tera;

use crate::escape;
use crate::plan::{ModuleOrigin, ServicePlan};
use crate::requirements;

pub(crate) mod contract;
mod prebuilt;
mod routes;
mod training;
mod view;

pub(crate) use routes::{report_line, routes};
pub use training::WhenCodeRuns;
pub use view::ServiceView;

pub mod runtime;

/// The built-in templates: (name, text). The name is also the file name an override uses.
pub const BUILTIN_TEMPLATES: &[(&str, &str)] = &[
    ("main.py", include_str!("../templates/main.py")),
    ("notebook.py", include_str!("../templates/notebook.py")),
    (
        "nb2svc_runtime.py",
        include_str!("../templates/nb2svc_runtime.py"),
    ),
    (
        "nb2svc_inputs.py",
        include_str!("../templates/nb2svc_inputs.py"),
    ),
    (
        "nb2svc_recording.py",
        include_str!("../templates/nb2svc_recording.py"),
    ),
    (
        "nb2svc_models.py",
        include_str!("../templates/nb2svc_models.py"),
    ),
    (
        "nb2svc_fetch.py",
        include_str!("../templates/nb2svc_fetch.py"),
    ),
    ("__init__.py", include_str!("../templates/__init__.py")),
    ("Dockerfile", include_str!("../templates/Dockerfile")),
    (
        "docker-compose.yaml",
        include_str!("../templates/docker-compose.yaml"),
    ),
    (
        "docker-compose.prod.yaml",
        include_str!("../templates/docker-compose.prod.yaml"),
    ),
    ("dockerignore", include_str!("../templates/dockerignore")),
    ("gitignore", include_str!("../templates/gitignore")),
    ("ruff.toml", include_str!("../templates/ruff.toml")),
    ("env.example", include_str!("../templates/env.example")),
    ("README.md", include_str!("../templates/README.md")),
    (
        "data-README.txt",
        include_str!("../templates/data-README.txt"),
    ),
];

/// Which template makes which output file.
const OUTPUTS: &[(&str, &str)] = &[
    ("main.py", "app/main.py"),
    ("notebook.py", "app/notebook.py"),
    ("__init__.py", "app/__init__.py"),
    ("Dockerfile", "Dockerfile"),
    ("docker-compose.yaml", "docker-compose.yaml"),
    ("docker-compose.prod.yaml", "docker-compose.prod.yaml"),
    ("dockerignore", ".dockerignore"),
    ("gitignore", ".gitignore"),
    ("ruff.toml", "ruff.toml"),
    ("README.md", "README.md"),
    ("data-README.txt", "data/README.txt"),
];

/// Files written as they are, without template processing: the runtime is plain Python with no
/// fields to fill (only its version is stamped), and skipping Tera's parser for it halves the
/// cost of loading templates. A service gets the modules its plan uses ([`runtime`]).
const VERBATIM: &[(&str, &str)] = &[
    ("nb2svc_runtime.py", "app/nb2svc_runtime.py"),
    ("nb2svc_recording.py", "app/nb2svc_recording.py"),
    ("nb2svc_inputs.py", "app/nb2svc_inputs.py"),
    ("nb2svc_models.py", "app/nb2svc_models.py"),
    ("nb2svc_fetch.py", "app/nb2svc_fetch.py"),
];

/// Refuses a file in the templates folder that is no template's name: a misspelled override
/// would otherwise be ignored without a word and the built-in template used.
fn check_override_names(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading templates folder {}", dir.display()))?;
    let mut unknown = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading templates folder {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Hidden files are editors' and version control's (`.git`, `.main.py.swp`), not
        // templates; `TEMPLATES.md` is the document `nb2svc templates` writes beside them.
        if !name.starts_with('.')
            && name != contract::DOCUMENT
            && !BUILTIN_TEMPLATES.iter().any(|(known, _)| *known == name)
        {
            unknown.push(name);
        }
    }
    if !unknown.is_empty() {
        unknown.sort();
        let known: Vec<&str> = BUILTIN_TEMPLATES.iter().map(|(name, _)| *name).collect();
        anyhow::bail!(
            "templates folder {} has files that are no template's name: {}; the templates are {}",
            dir.display(),
            unknown.join(", "),
            known.join(", ")
        );
    }
    Ok(())
}

/// Refuses an override that extends a template and defines a block the template does not
/// have: Tera would ignore the block without a word, and the section would stay the built-in.
fn check_override_blocks(tera: &Tera, dir: &Path) -> Result<()> {
    for (name, _) in BUILTIN_TEMPLATES {
        let Ok(template) = tera.get_template(name) else {
            continue;
        };
        let Some(parent) = template.parents.first() else {
            continue;
        };
        let parent_blocks: BTreeSet<&str> = template
            .parents
            .iter()
            .filter_map(|p| tera.get_template(p).ok())
            .flat_map(|p| p.blocks.keys().map(String::as_str))
            .collect();
        let mut unknown: Vec<&str> = template
            .blocks
            .keys()
            .map(String::as_str)
            .filter(|block| !parent_blocks.contains(block))
            .collect();
        if !unknown.is_empty() {
            unknown.sort();
            anyhow::bail!(
                "template {} defines blocks that {parent} does not have: {}; its blocks are {}",
                dir.join(name).display(),
                unknown.join(", "),
                parent_blocks.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(())
}

/// The paths of the files nb2svc generates, under the output folder (every runtime module,
/// whether this service ships it or not): no file of the notebook's may take their place.
pub fn generated_paths() -> impl Iterator<Item = &'static str> {
    OUTPUTS
        .iter()
        .chain(VERBATIM)
        .map(|(_, output)| *output)
        .chain(["requirements.txt", "requirements.in", ENV_EXAMPLE])
}

/// The file that lists the variables `.env` must give, with no value.
const ENV_EXAMPLE: &str = ".env.example";

fn view_needs_env_example(plan: &ServicePlan) -> bool {
    !plan.credentials.is_empty() || plan.loads_dotenv.is_some()
}

/// What a generated file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    /// A copy of a file in the notebook's folder (path relative to it).
    CopyOf(String),
}

/// One file of the generated project, by its path inside the output folder.
#[derive(Debug, Clone)]
pub struct OutputFile {
    pub path: String,
    pub content: Content,
}

/// The templates to render with: the built-in ones, each replaced by a same-named file in
/// `overrides` when one is given.
pub struct Templates {
    /// The overrides, parsed when loaded so that a mistake in one is reported before any work
    /// (with the built-ins as `nb2svc/NAME`, which an override may extend).
    overrides: Tera,
    /// (template name, output path, text) of the files written verbatim: the built-in text
    /// itself unless overridden.
    verbatim: Vec<(&'static str, &'static str, Cow<'static, str>)>,
}

/// Each built-in template made ready on its first use, once per process: a run renders only
/// the ones its service needs (no `env.example` without credentials), and a process converting
/// several notebooks (the devcontainer commands, the tests) builds each once.
static BUILTIN_PARSED: [OnceLock<Tera>; BUILTIN_TEMPLATES.len()] =
    [const { OnceLock::new() }; BUILTIN_TEMPLATES.len()];

/// A Tera with nb2svc's filters and no HTML escaping.
fn empty_tera() -> Tera {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![]);
    escape::register(&mut tera);
    tera
}

/// The built-in template `name`, ready to render: the syntax tree parsed when nb2svc was
/// built ([`prebuilt`]), which Tera's parser would otherwise rebuild in every run.
fn builtin(name: &str) -> Result<&'static Tera> {
    let index = BUILTIN_TEMPLATES
        .iter()
        .position(|(builtin, _)| *builtin == name)
        .with_context(|| format!("no built-in template `{name}`"))?;
    if let Some(tera) = BUILTIN_PARSED[index].get() {
        return Ok(tera);
    }
    let mut tera = empty_tera();
    match prebuilt::template(name) {
        Some(template) => {
            tera.templates.insert(name.to_string(), template);
            tera.build_inheritance_chains()
        }
        None => tera.add_raw_template(name, BUILTIN_TEMPLATES[index].1),
    }
    .with_context(|| format!("parsing the built-in template `{name}`"))?;
    Ok(BUILTIN_PARSED[index].get_or_init(|| tera))
}

impl Templates {
    /// Renders the template `name`: the override of that name, else the built-in one.
    fn render(&self, name: &str, context: &tera::Context) -> Result<String> {
        let tera = if self.overrides.get_template_names().any(|n| n == name) {
            &self.overrides
        } else {
            builtin(name)?
        };
        tera.render(name, context)
            .with_context(|| format!("rendering template `{name}`"))
    }
}

/// Loads the templates, taking each from `overrides` when that folder has a file of its name.
/// Only the overrides are parsed here; the built-in templates are made ready when first
/// rendered.
pub fn templates(overrides: Option<&Path>) -> Result<Templates> {
    let mut verbatim: Vec<(&'static str, &'static str, Cow<'static, str>)> = VERBATIM
        .iter()
        .map(|(name, output)| (*name, *output, Cow::Borrowed(builtin_text(name))))
        .collect();
    let mut tera = empty_tera();
    let Some(dir) = overrides else {
        return Ok(Templates {
            overrides: tera,
            verbatim,
        });
    };
    anyhow::ensure!(
        dir.is_dir(),
        "templates folder {} does not exist",
        dir.display()
    );
    check_override_names(dir)?;
    let mut sources = Vec::new();
    for (name, builtin) in BUILTIN_TEMPLATES {
        let path = dir.join(name);
        let is_verbatim = VERBATIM.iter().any(|(template, _)| template == name);
        // Each built-in is also `nb2svc/NAME`, so that an override can extend it and replace
        // some of its blocks.
        if !is_verbatim {
            sources.push((
                format!("{}{name}", contract::BUILTIN_PREFIX),
                builtin.to_string(),
            ));
        }
        if !path.exists() {
            continue;
        }
        let bytes = crate::input::read_bounded(&path, crate::input::TEXT_LIMIT, "template")?;
        let text = String::from_utf8(bytes)
            .with_context(|| format!("template {} is not UTF-8 text", path.display()))?;
        if is_verbatim {
            for (template, _, kept) in verbatim.iter_mut() {
                if template == name {
                    *kept = Cow::Owned(text.clone());
                }
            }
        } else {
            sources.push((name.to_string(), text));
        }
    }
    tera.add_raw_templates(sources)
        .context("parsing the templates")?;
    check_override_blocks(&tera, dir)?;
    Ok(Templates {
        overrides: tera,
        verbatim,
    })
}

/// The text of the built-in template `name` (one of [`BUILTIN_TEMPLATES`]).
fn builtin_text(name: &str) -> &'static str {
    BUILTIN_TEMPLATES
        .iter()
        .find(|(builtin, _)| *builtin == name)
        .map_or("", |(_, text)| text)
}

/// Renders every file of the service.
pub fn render(plan: &ServicePlan, templates: &Templates) -> Result<Vec<OutputFile>> {
    let view = view::view(plan);
    // Serialized once, straight into the context (a `json!` value first was a second copy).
    let mut context = tera::Context::new();
    context
        .try_insert("service", &view)
        .context("preparing the template context")?;
    let mut rendered = OUTPUTS.to_vec();
    // Only a service with credentials or a `.env` of the notebook's has variables to list.
    if view_needs_env_example(plan) {
        rendered.push(("env.example", ENV_EXAMPLE));
    }
    // The context holds a copy of every cell's code, which `notebook.py` and the README show:
    // a big notebook's files are rendered on several cores.
    let code_bytes = plan.cells.iter().map(|cell| cell.code.len()).sum();
    let texts = crate::parallel::map_in_order(&rendered, code_bytes, |(template, _)| {
        templates.render(template, &context)
    });
    let mut files = Vec::new();
    for ((_, path), text) in rendered.iter().zip(texts) {
        files.push(OutputFile {
            path: path.to_string(),
            content: Content::Text(text?),
        });
    }
    crate::parallel::drop_in_background((context, view), code_bytes);
    files.extend(crate::deploy::files(plan)?);
    let shipped = runtime::modules_for(plan);
    for (template, path, text) in &templates.verbatim {
        if shipped.iter().any(|module| module.file == *template) {
            files.push(OutputFile {
                path: path.to_string(),
                content: Content::Text(runtime::stamp(text)),
            });
        }
    }
    let intent = requirements::render_requirements_txt(&plan.requirements);
    match plan.lock.locked() {
        // The lock is what the image installs; what was asked for stays readable beside it,
        // byte for byte what uv resolved.
        Some(lock) => {
            files.push(OutputFile {
                path: "requirements.in".into(),
                content: Content::Text(intent),
            });
            files.push(OutputFile {
                path: "requirements.txt".into(),
                content: Content::Text(lock.text.clone()),
            });
        }
        None => files.push(OutputFile {
            path: "requirements.txt".into(),
            content: Content::Text(intent),
        }),
    }
    for module in &plan.modules {
        let content = match &module.origin {
            ModuleOrigin::Writefile { contents, .. } => Content::Text(contents.clone()),
            ModuleOrigin::Copied { source } => Content::CopyOf(source.clone()),
            ModuleOrigin::Rewritten { contents, .. } => Content::Text(contents.clone()),
        };
        files.push(OutputFile {
            path: format!("app/{}", module.path),
            content,
        });
    }
    for data in &plan.data_files {
        files.push(OutputFile {
            path: format!("data/{}", data.path),
            content: Content::CopyOf(data.source.clone()),
        });
    }
    for (path, contents) in &plan.written_data {
        files.push(OutputFile {
            path: format!("data/{path}"),
            content: Content::Text(contents.clone()),
        });
    }
    for artifact in &plan.artifacts {
        if let Some(source) = &artifact.shipped_from {
            files.push(OutputFile {
                path: format!("data/{}", artifact.path),
                content: Content::CopyOf(source.clone()),
            });
        }
    }
    // Later entries for the same path (a data file also loaded as an artifact) add nothing.
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|file| seen.insert(file.path.clone()));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The `COPY` lines (JSON arrays) of what training at build needs: the package, the runtime
/// modules training imports (the one that records what the notebook saves among them), the
/// notebook's code and the modules it imports, grouped by the folder they go to. Everything
/// else of `app/` (`main.py`, the serving code) is copied after training, so that editing it
/// does not train again.
fn training_copies(plan: &ServicePlan) -> Vec<String> {
    let mut by_folder: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let runtime = runtime::modules_for(plan)
        .into_iter()
        .filter(|module| module.trains)
        .map(|module| module.file);
    let fixed = ["__init__.py", "notebook.py"].into_iter().chain(runtime);
    let modules = plan.modules.iter().map(|m| m.path.as_str());
    for path in fixed.chain(modules) {
        let folder = match path.rsplit_once('/') {
            Some((folder, _)) => format!("./app/{folder}/"),
            None => "./app/".to_string(),
        };
        let files = by_folder.entry(folder).or_default();
        let source = format!("app/{path}");
        if !files.contains(&source) {
            files.push(source);
        }
    }
    by_folder
        .into_iter()
        .map(|(folder, mut files)| {
            files.sort();
            files.push(folder);
            // JSON strings, as Docker's exec form reads them: no path can break the line.
            let quoted: Vec<String> = files
                .iter()
                .map(|f| serde_json::Value::from(f.as_str()).to_string())
                .collect();
            format!("[{}]", quoted.join(", "))
        })
        .collect()
}
