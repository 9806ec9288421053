//! Where the author's container paths live in the project.
//!
//! Students run their notebooks inside their own containers, so a notebook reads absolute paths
//! of that container (`/app/data/penguins_v1.csv`, `/home/jovyan/work/x.csv`). The project's
//! own Dockerfiles (`COPY`/`ADD`) and compose files (bind mounts) say which project folder or
//! file each such path holds. Everything here is a hint read from files that may be stale,
//! templated or broken: a file that cannot be read or parsed, and an entry that cannot be
//! resolved to a place inside the project, is passed over without complaint.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

/// A place in the author's container and the project folder or file it holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerMount {
    /// Absolute path in the container, `/`-separated, no trailing slash (`/app/data`).
    pub container: String,
    /// The project path it holds, relative to the project root, `/`-separated; "" for the root.
    pub project: String,
    /// Where that is said: `docker-compose.yml line 12` or `Docker/Dockerfile.jupyter line 7`.
    pub said_in: String,
}

/// Folders are entered at most this deep below the root: Docker files sit near the top of a
/// student project, and a deep walk would mostly read data sets and vendored code.
const MAX_DEPTH: usize = 4;
/// At most this many Docker files are read, so a huge tree cannot make this hint slow.
const MAX_FILES: usize = 200;
/// A Docker file bigger than this is not a hand-written one; it is skipped.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// Folders of installed or generated files: their Docker files belong to other projects.
const SKIPPED_FOLDERS: &[&str] = &["node_modules", ".venv", "venv", "__pycache__"];

/// Every mount the project's Dockerfiles and compose files describe, found under `root`.
///
/// Sorted by `container` then `project`; when several files say the same thing, the first one
/// read (compose files before Dockerfiles, each in walk order) is the one named.
pub fn container_mounts(root: &Path) -> Vec<ContainerMount> {
    // Canonical, so that symlinks can be checked against it.
    let Ok(root) = fs::canonicalize(root) else {
        return Vec::new();
    };
    let mut found = Found::default();
    walk(&root, "", 0, &mut found);

    let mut mounts = Vec::new();
    // Which contexts each Dockerfile is built with, by the compose files that build it.
    let mut contexts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for compose in &found.composes {
        if let Some(text) = read_text(&root, compose) {
            read_compose(&root, compose, &text, &mut mounts, &mut contexts);
        }
    }

    // A compose file may build a Dockerfile the walk did not find (an unusual name, or deeper
    // than the walk goes); it is read too, within the same file budget.
    let mut dockerfiles = found.dockerfiles;
    let budget = MAX_FILES.saturating_sub(found.composes.len());
    for named in contexts.keys() {
        if dockerfiles.len() >= budget {
            break;
        }
        if !dockerfiles.contains(named) {
            dockerfiles.push(named.clone());
        }
    }

    for dockerfile in &dockerfiles {
        let Some(text) = read_text(&root, dockerfile) else {
            continue;
        };
        let copies = dockerfile_copies(&text);
        let own_folder = vec![parent_of(dockerfile).to_string()];
        for context in contexts.get(dockerfile).unwrap_or(&own_folder) {
            for copy in &copies {
                copy_mounts(&root, dockerfile, context, copy, &mut mounts);
            }
        }
    }

    // Stable, so the first file to say a pair is the one that names it.
    mounts.sort_by(|a, b| (&a.container, &a.project).cmp(&(&b.container, &b.project)));
    mounts.dedup_by(|later, first| {
        later.container == first.container && later.project == first.project
    });
    mounts
}

/// The project path an absolute container path stands for, by the longest matching mount, e.g.
/// `/app/data/x.csv` with a mount `/app` → `jupyter` gives `jupyter/data/x.csv`.
///
/// The path is normalised first (`//`, `/./`, `..`, a trailing `/`); a mount matches only at a
/// path-component boundary (`/app` holds `/app/x`, not `/apple/x`). When two mounts claim the
/// same container path the first in `mounts` wins. `None` for a relative path or no match.
pub fn project_path_of<'m>(
    mounts: &'m [ContainerMount],
    container_path: &str,
) -> Option<(String, &'m ContainerMount)> {
    let path = normalize_absolute(container_path)?;
    let mut best: Option<(&ContainerMount, &str)> = None;
    for mount in mounts {
        let Some(rest) = remainder_under(&path, &mount.container) else {
            continue;
        };
        if best.is_none_or(|(chosen, _)| mount.container.len() > chosen.container.len()) {
            best = Some((mount, rest));
        }
    }
    let (mount, rest) = best?;
    let project = match (mount.project.as_str(), rest) {
        ("", rest) => rest.to_string(),
        (project, "") => project.to_string(),
        (project, rest) => format!("{project}/{rest}"),
    };
    Some((project, mount))
}

/// What is left of `path` below `container`, without a leading `/`; `None` when `path` is not
/// `container` or inside it.
fn remainder_under<'p>(path: &'p str, container: &str) -> Option<&'p str> {
    if container == "/" {
        return Some(path.trim_start_matches('/'));
    }
    match path.strip_prefix(container)? {
        "" => Some(""),
        rest => rest.strip_prefix('/'),
    }
}

// ---------------------------------------------------------------------------------------------
// Finding the files

/// The Docker files under the root, relative to it, in walk order.
#[derive(Default)]
struct Found {
    dockerfiles: Vec<String>,
    composes: Vec<String>,
}

impl Found {
    fn len(&self) -> usize {
        self.dockerfiles.len() + self.composes.len()
    }
}

/// Walks `rel` (a folder below the canonical `root`) in name order. Symlinked folders are never
/// entered (their targets may be outside the root, or loop); symlinked files are listed and
/// [`read_text`] checks where they lead.
fn walk(root: &Path, rel: &str, depth: usize, found: &mut Found) {
    let Ok(entries) = fs::read_dir(root.join(rel)) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        if found.len() >= MAX_FILES {
            return;
        }
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let child = join_rel(rel, &name);
        if kind.is_dir() {
            let skipped = name.starts_with('.') || SKIPPED_FOLDERS.contains(&name.as_str());
            if depth < MAX_DEPTH && !skipped {
                walk(root, &child, depth + 1, found);
            }
        } else if is_dockerfile_name(&name) {
            found.dockerfiles.push(child);
        } else if is_compose_name(&name) {
            found.composes.push(child);
        }
    }
}

/// `Dockerfile`, `Dockerfile.*`, `*.Dockerfile`, in any case.
fn is_dockerfile_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    // BuildKit reads `Dockerfile.dockerignore` as the ignore file of `Dockerfile`: not one.
    if name.ends_with(".dockerignore") {
        return false;
    }
    name == "dockerfile" || name.starts_with("dockerfile.") || name.ends_with(".dockerfile")
}

/// `docker-compose*.yml|yaml` and `compose*.yml|yaml`.
fn is_compose_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    (name.starts_with("docker-compose") || name.starts_with("compose"))
        && (name.ends_with(".yml") || name.ends_with(".yaml"))
}

/// The text of the file at `rel`, if it is a regular file of at most [`MAX_FILE_BYTES`] whose
/// real place (symlinks followed) is inside `root`, and UTF-8.
fn read_text(root: &Path, rel: &str) -> Option<String> {
    let real = fs::canonicalize(root.join(rel)).ok()?;
    if !real.starts_with(root) {
        return None;
    }
    let meta = fs::metadata(&real).ok()?;
    if !meta.is_file() || meta.len() > MAX_FILE_BYTES {
        return None;
    }
    fs::read_to_string(&real).ok()
}

/// Whether the project path `rel` (already lexically inside the root) stays inside the
/// canonical `root` once symlinks are followed. A path that does not exist is judged by the
/// nearest folder above it that does.
fn really_inside(root: &Path, rel: &str) -> bool {
    let mut path: PathBuf = root.join(rel);
    loop {
        if fs::symlink_metadata(&path).is_ok() {
            return fs::canonicalize(&path).is_ok_and(|real| real.starts_with(root));
        }
        if !path.pop() || !path.starts_with(root) {
            return false;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Compose files

/// The bind mounts of every service of one compose file into `mounts`, and which Dockerfile its
/// services build with which context into `contexts`.
fn read_compose(
    root: &Path,
    compose: &str,
    text: &str,
    mounts: &mut Vec<ContainerMount>,
    contexts: &mut BTreeMap<String, Vec<String>>,
) {
    let Ok(mut doc) = serde_yaml::from_str::<Value>(text) else {
        return;
    };
    // `x-` blocks shared through `<<: *anchor` are common in compose files; a failed merge
    // leaves the document as written, which is still worth reading.
    let _ = doc.apply_merge();
    let Some(services) = doc.get("services").and_then(Value::as_mapping) else {
        return;
    };
    let folder = parent_of(compose);
    let mut lines = LineFinder::new(text);
    for service in services.values() {
        if let Some((dockerfile, context)) = build_of(root, folder, service.get("build")) {
            let known = contexts.entry(dockerfile).or_default();
            if !known.contains(&context) {
                known.push(context);
            }
        }
        let Some(volumes) = service.get("volumes").and_then(Value::as_sequence) else {
            continue;
        };
        for volume in volumes {
            let found = match volume {
                Value::String(short) => short_volume(folder, short).map(|m| (m, short.as_str())),
                Value::Mapping(_) => long_volume(folder, volume),
                _ => None,
            };
            let Some(((project, container), needle)) = found else {
                continue;
            };
            if !really_inside(root, &project) {
                continue;
            }
            mounts.push(ContainerMount {
                container,
                project,
                said_in: format!("{compose} line {}", lines.line_of(needle)),
            });
        }
    }
}

/// The Dockerfile a service's `build` names and the context it is built with, both as project
/// paths: `build: ctx` builds `ctx/Dockerfile`; `build: {context, dockerfile}` builds
/// `dockerfile` relative to `context` (`.` by default), as compose reads it.
fn build_of(root: &Path, folder: &str, build: Option<&Value>) -> Option<(String, String)> {
    let (context, dockerfile) = match build? {
        Value::String(context) => (context.as_str(), "Dockerfile"),
        Value::Mapping(build) => (
            build.get("context").and_then(Value::as_str).unwrap_or("."),
            build
                .get("dockerfile")
                .and_then(Value::as_str)
                .unwrap_or("Dockerfile"),
        ),
        _ => return None,
    };
    // A remote context (a git URL), a host path or an interpolated one cannot be placed.
    let unplaceable = |p: &str| p.contains("://") || p.starts_with("git@") || p.contains('$');
    if unplaceable(context) || unplaceable(dockerfile) || context.starts_with('/') {
        return None;
    }
    if dockerfile.starts_with('/') {
        return None;
    }
    let context = super::project_path(folder, context)?;
    let dockerfile = super::project_path(&context, dockerfile)?;
    really_inside(root, &context).then_some((dockerfile, context))
}

/// `SRC:DST[:mode]` as (project path, container path), for a bind mount of a relative `SRC`.
/// One part alone is an anonymous volume, and a bare name without `/` a named one: neither
/// holds project files.
fn short_volume(folder: &str, volume: &str) -> Option<(String, String)> {
    let mut parts = volume.splitn(3, ':');
    let (source, target) = (parts.next()?, parts.next()?);
    let source = bind_source(source)?;
    if !source.starts_with('.') && !source.contains('/') {
        return None;
    }
    Some((
        super::project_path(folder, &source)?,
        normalize_absolute(target)?,
    ))
}

/// `{type: bind, source, target}` as (project path, container path), and the text to look for
/// to find its line (the target: it is what the entry is about).
fn long_volume<'v>(folder: &str, volume: &'v Value) -> Option<((String, String), &'v str)> {
    if volume.get("type").and_then(Value::as_str) != Some("bind") {
        return None;
    }
    // `type: bind` says it is a host path, so a bare name here is a folder, not a volume.
    let source = bind_source(volume.get("source").and_then(Value::as_str)?)?;
    let target = volume.get("target").and_then(Value::as_str)?;
    Some((
        (
            super::project_path(folder, &source)?,
            normalize_absolute(target)?,
        ),
        target,
    ))
}

/// A bind mount's source as a path relative to the compose file's folder, `None` when it is not
/// one (an absolute host path, a home path, another variable). `$PWD` is taken to be the
/// compose file's folder: a heuristic, true when compose is run from there, as it usually is.
fn bind_source(source: &str) -> Option<String> {
    let source = match source {
        "$PWD" | "${PWD}" => ".".to_string(),
        _ => match source
            .strip_prefix("$PWD/")
            .or(source.strip_prefix("${PWD}/"))
        {
            Some(rest) => format!("./{rest}"),
            None => source.to_string(),
        },
    };
    if source.is_empty() || source.starts_with(['/', '~']) || source.contains('$') {
        return None;
    }
    Some(source)
}

/// Finds the 1-based line of a compose entry by searching the text for it. Each search starts
/// where the last one matched, since entries are met in file order and the same entry may
/// appear under several services; it falls back to the whole text, then to line 1.
struct LineFinder<'t> {
    text: &'t str,
    cursor: usize,
}

impl<'t> LineFinder<'t> {
    fn new(text: &'t str) -> Self {
        Self { text, cursor: 0 }
    }

    fn line_of(&mut self, needle: &str) -> usize {
        let at =
            find_whole(self.text, needle, self.cursor).or_else(|| find_whole(self.text, needle, 0));
        match at {
            Some(at) => {
                self.cursor = at + needle.len();
                self.text[..at].matches('\n').count() + 1
            }
            None => 1,
        }
    }
}

/// The first place from `from` where `needle` occurs not as part of a longer path (so that
/// `./data:/data` is not found inside `../data:/data`).
fn find_whole(text: &str, needle: &str, from: usize) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    let path_char = |c: char| c.is_alphanumeric() || "._/~-$".contains(c);
    let mut start = from;
    while let Some(offset) = text.get(start..)?.find(needle) {
        let at = start + offset;
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        // A list dash is followed by a space, so `-` before the entry cannot be the dash.
        if !before.is_some_and(path_char) && !after.is_some_and(|c| path_char(c) && c != '$') {
            return Some(at);
        }
        start = at + needle.chars().next().map_or(1, char::len_utf8);
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Dockerfiles

/// One `COPY`/`ADD` from the build context, as the Dockerfile says it.
#[derive(Debug, PartialEq)]
struct ContextCopy {
    /// The 1-based line the instruction starts on.
    line: usize,
    is_add: bool,
    sources: Vec<String>,
    /// The destination, absolute and normalised.
    dest: String,
    /// Whether each source goes *into* `dest` (several sources, or `dest` ends with `/`).
    into_folder: bool,
}

/// The context copies of a Dockerfile, with their destinations made absolute by the `WORKDIR`
/// in force. Copies from another stage or image (`--from=`) are left out; the rest of every
/// stage is kept, since which stage a student runs is not known (a heuristic: a builder
/// stage's copies then count too, which only adds container paths nobody reads).
fn dockerfile_copies(text: &str) -> Vec<ContextCopy> {
    let mut copies = Vec::new();
    // `None` once a WORKDIR uses a variable: relative destinations are unknown until the next
    // absolute one. A stage starts at `/` (a heuristic: the base image may set its own WORKDIR,
    // which the Dockerfile does not show), or where the stage it is built on ended.
    let mut workdir: Option<String> = Some("/".into());
    let mut stage_workdirs: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut stage_name: Option<String> = None;
    for (line, instruction) in instructions(text) {
        let (keyword, rest) = match instruction.split_once(char::is_whitespace) {
            Some((keyword, rest)) => (keyword.to_ascii_uppercase(), rest.trim()),
            None => (instruction.to_ascii_uppercase(), ""),
        };
        match keyword.as_str() {
            "FROM" => {
                if let Some(name) = stage_name.take() {
                    stage_workdirs.insert(name, workdir.clone());
                }
                let words: Vec<&str> = rest
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let base = words
                    .first()
                    .map(|w| w.to_ascii_lowercase())
                    .unwrap_or_default();
                workdir = stage_workdirs
                    .get(&base)
                    .cloned()
                    .unwrap_or_else(|| Some("/".into()));
                if words.len() >= 3 && words[1].eq_ignore_ascii_case("as") {
                    stage_name = Some(words[2].to_ascii_lowercase());
                }
            }
            "WORKDIR" => {
                let dir = rest.trim_matches(|c| c == '"' || c == '\'');
                workdir = if dir.contains('$') {
                    None
                } else if dir.starts_with('/') {
                    normalize_absolute(dir)
                } else {
                    workdir.and_then(|current| normalize_absolute(&format!("{current}/{dir}")))
                };
            }
            "COPY" | "ADD" => {
                if let Some(copy) = parse_copy(line, keyword == "ADD", rest, workdir.as_deref()) {
                    copies.push(copy);
                }
            }
            _ => {}
        }
    }
    copies
}

/// A `COPY`/`ADD` instruction's arguments (after the keyword), in shell or JSON form.
fn parse_copy(line: usize, is_add: bool, rest: &str, workdir: Option<&str>) -> Option<ContextCopy> {
    let mut rest = rest.trim_start();
    while rest.starts_with("--") {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let flag = &rest[..end];
        // `--from` copies out of another stage or image, not the context. `--parents` keeps
        // the sources' folders under the destination, which this reading does not model.
        if flag.starts_with("--from") || flag.starts_with("--parents") {
            return None;
        }
        rest = rest[end..].trim_start();
    }
    // Docker falls back to the shell form when the JSON does not parse; so does this.
    let json = rest
        .starts_with('[')
        .then(|| serde_json::from_str::<Vec<String>>(rest).ok());
    let mut words = match json.flatten() {
        Some(words) => words,
        None => shlex::split(rest)
            .unwrap_or_else(|| rest.split_whitespace().map(str::to_string).collect()),
    };
    if words.len() < 2 {
        return None;
    }
    let dest = words.pop()?;
    if dest.contains('$') {
        return None;
    }
    let into_folder = words.len() > 1
        || dest.ends_with('/')
        || dest == "."
        || dest == ".."
        || dest.ends_with("/.")
        || dest.ends_with("/..");
    let dest = if dest.starts_with('/') {
        normalize_absolute(&dest)?
    } else {
        normalize_absolute(&format!("{}/{dest}", workdir?))?
    };
    Some(ContextCopy {
        line,
        is_add,
        sources: words,
        dest,
        into_folder,
    })
}

/// The instructions of a Dockerfile with the line each starts on: `\` continuations joined,
/// comment and empty lines dropped (Docker drops them inside continuations too), heredoc
/// bodies skipped (a Python heredoc's `from x import y` is not a `FROM`). The escape character
/// is taken to be `\`; a `# escape=` directive is not read (heuristic: it is rare outside
/// Windows images).
fn instructions(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut current: Option<(usize, String)> = None;
    // Heredoc words still to be closed, in order.
    let mut heredocs: Vec<String> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(word) = heredocs.first() {
            if line == word {
                heredocs.remove(0);
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (body, continues) = match line.strip_suffix('\\') {
            Some(body) => (body, true),
            None => (line, false),
        };
        let entry = current.get_or_insert_with(|| (index + 1, String::new()));
        entry.1.push_str(body);
        entry.1.push(' ');
        if !continues {
            let (start, instruction) = current.take().unwrap_or_default();
            heredocs = heredoc_words(&instruction);
            found.push((start, instruction.trim().to_string()));
        }
    }
    if let Some((start, instruction)) = current {
        found.push((start, instruction.trim().to_string()));
    }
    found
}

/// The closing words of the heredocs a `RUN`/`COPY`/`ADD` opens (`<<EOF`, `<<-EOF`,
/// `<<"EOF"`). Only words starting with a letter or `_` count, so a shift like `1<<2` is not
/// taken for one.
fn heredoc_words(instruction: &str) -> Vec<String> {
    let keyword = instruction
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    if !matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
        return Vec::new();
    }
    let mut words = Vec::new();
    let mut rest = instruction;
    while let Some(at) = rest.find("<<") {
        rest = &rest[at + 2..];
        let word = rest.trim_start_matches('-').trim_start_matches(['"', '\'']);
        let word: String = word
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            words.push(word);
        }
    }
    words
}

/// The mounts one context copy gives, built with `context` (a project path).
fn copy_mounts(
    root: &Path,
    dockerfile: &str,
    context: &str,
    copy: &ContextCopy,
    mounts: &mut Vec<ContainerMount>,
) {
    for source in &copy.sources {
        // Remote sources, heredocs, globs (`[` is a glob class too) and variables name no
        // single project path.
        let remote = source.contains("://") || source.starts_with("git@");
        if remote || source.starts_with("<<") || source.contains(['*', '?', '[', '$']) {
            continue;
        }
        // `ADD` unpacks a local archive into the destination: its contents are not the
        // archive's project path, so it is left out.
        if copy.is_add && is_archive_name(source) {
            continue;
        }
        // Sources are relative to the context even when written with a leading `/`.
        let Some(project) = super::project_path(context, source.trim_start_matches('/')) else {
            continue;
        };
        if !really_inside(root, &project) {
            continue;
        }
        // Copying a folder copies its contents, so the destination is the folder itself.
        let folder = source.ends_with('/') || project == context || root.join(&project).is_dir();
        let container = if folder || !copy.into_folder {
            copy.dest.clone()
        } else {
            let name = project.rsplit('/').next().unwrap_or(&project);
            join_absolute(&copy.dest, name)
        };
        mounts.push(ContainerMount {
            container,
            project,
            said_in: format!("{dockerfile} line {}", copy.line),
        });
    }
}

/// Whether `ADD` would unpack this file: a tar archive, plain or compressed.
fn is_archive_name(source: &str) -> bool {
    let name = source.to_ascii_lowercase();
    [
        ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst",
    ]
    .iter()
    .any(|ext| name.ends_with(ext))
}

// ---------------------------------------------------------------------------------------------
// Paths

/// The folder part of a project path ("" at the root).
fn parent_of(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(folder, _)| folder)
}

/// `name` inside the project folder `rel`.
fn join_rel(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

/// `name` inside the absolute container folder `dir`.
fn join_absolute(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// An absolute container path without `//`, `.`, `..` or a trailing `/` (`/` for the root);
/// `None` when it is not absolute. `..` at the root stays there, as in the container.
pub fn normalize_absolute(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::corpus_dir;

    /// A project folder holding these files (an empty text for a folder made by its files).
    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let full = dir.path().join(path);
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            fs::write(full, text).unwrap();
        }
        dir
    }

    /// The mounts as `(container, project, said_in)`, for short assertions.
    fn triples(root: &Path) -> Vec<(String, String, String)> {
        container_mounts(root)
            .into_iter()
            .map(|m| (m.container, m.project, m.said_in))
            .collect()
    }

    fn triple(container: &str, project: &str, said_in: &str) -> (String, String, String) {
        (container.into(), project.into(), said_in.into())
    }

    fn mount(container: &str, project: &str) -> ContainerMount {
        ContainerMount {
            container: container.into(),
            project: project.into(),
            said_in: "test".into(),
        }
    }

    #[test]
    fn compose_bind_mounts_count_and_volumes_do_not() {
        let dir = tree(&[
            (
                "docker-compose.yml",
                "services:\n\
                 \x20 app:\n\
                 \x20   build: .\n\
                 \x20   volumes:\n\
                 \x20     - .:/app\n\
                 \x20     - /app/.venv\n\
                 \x20     - models:/app/models\n\
                 \x20 jupyter:\n\
                 \x20   image: jupyter/scipy-notebook\n\
                 \x20   volumes:\n\
                 \x20     - ./jupyter_work:/home/jovyan/work  # notebooks\n\
                 \x20     - \"../data:/data:ro\"\n\
                 \x20     - ${PWD}/out/:/out/\n\
                 \x20     - /srv/host:/host\n\
                 volumes:\n\
                 \x20 models:\n",
            ),
            ("jupyter_work/x.csv", ""),
        ]);
        assert_eq!(
            triples(dir.path()),
            vec![
                triple("/app", "", "docker-compose.yml line 5"),
                triple(
                    "/home/jovyan/work",
                    "jupyter_work",
                    "docker-compose.yml line 11"
                ),
                triple("/out", "out", "docker-compose.yml line 13"),
            ]
        );
    }

    #[test]
    fn compose_long_syntax_binds_count() {
        let dir = tree(&[(
            "deploy/compose.yaml",
            "services:\n\
             \x20 jupyter:\n\
             \x20   volumes:\n\
             \x20     - type: volume\n\
             \x20       source: cache\n\
             \x20       target: /cache\n\
             \x20     - type: bind\n\
             \x20       source: ../notebooks\n\
             \x20       target: /home/jovyan/work/\n\
             \x20     - type: bind\n\
             \x20       source: data\n\
             \x20       target: /data\n",
        )]);
        assert_eq!(
            triples(dir.path()),
            vec![
                triple("/data", "deploy/data", "deploy/compose.yaml line 12"),
                triple(
                    "/home/jovyan/work",
                    "notebooks",
                    "deploy/compose.yaml line 9"
                ),
            ]
        );
    }

    #[test]
    fn a_dockerfile_built_by_compose_resolves_against_its_context() {
        let dir = tree(&[
            (
                "Docker/docker-compose.yml",
                "services:\n  jupyter:\n    build:\n      context: ..\n      dockerfile: Docker/Dockerfile.jupyter\n",
            ),
            (
                "Docker/Dockerfile.jupyter",
                "FROM python:3.13-slim\n\
                 COPY --from=ghcr.io/astral-sh/uv:latest /uv /uvx /usr/local/bin/\n\
                 WORKDIR /app\n\
                 COPY data/penguins_v1.csv /app/data/penguins_v1.csv\n\
                 COPY jupyter/notebooks/ /app/notebooks/\n",
            ),
            ("data/penguins_v1.csv", "a,b\n"),
            ("jupyter/notebooks/train.ipynb", "{}"),
        ]);
        assert_eq!(
            triples(dir.path()),
            vec![
                triple(
                    "/app/data/penguins_v1.csv",
                    "data/penguins_v1.csv",
                    "Docker/Dockerfile.jupyter line 4"
                ),
                triple(
                    "/app/notebooks",
                    "jupyter/notebooks",
                    "Docker/Dockerfile.jupyter line 5"
                ),
            ]
        );
    }

    #[test]
    fn without_compose_the_context_is_the_dockerfiles_folder() {
        let dir = tree(&[
            (
                "api/Dockerfile",
                "FROM python\nWORKDIR /srv\nCOPY model.pkl .\n",
            ),
            ("api/model.pkl", ""),
        ]);
        assert_eq!(
            triples(dir.path()),
            vec![triple(
                "/srv/model.pkl",
                "api/model.pkl",
                "api/Dockerfile line 3"
            )]
        );
    }

    #[test]
    fn copy_dot_dot_maps_the_workdir_to_the_context() {
        let dir = tree(&[(
            "Dockerfile",
            "FROM python:3.11\n# the project\nWORKDIR /app\nCOPY . .\n",
        )]);
        assert_eq!(
            triples(dir.path()),
            vec![triple("/app", "", "Dockerfile line 4")]
        );
    }

    #[test]
    fn several_sources_go_into_the_destination() {
        let dir = tree(&[
            (
                "Dockerfile",
                "from python AS base\n\
                 workdir /srv\n\
                 WORKDIR code\n\
                 copy --chown=1000:1000 --link \\\n\
                 \x20   requirements.txt utils/ ./\n\
                 ADD data.tar.gz model.bin /opt/\n",
            ),
            ("requirements.txt", "pandas\n"),
            ("utils/__init__.py", ""),
        ]);
        assert_eq!(
            triples(dir.path()),
            vec![
                triple("/opt/model.bin", "model.bin", "Dockerfile line 6"),
                triple("/srv/code", "utils", "Dockerfile line 4"),
                triple(
                    "/srv/code/requirements.txt",
                    "requirements.txt",
                    "Dockerfile line 4"
                ),
            ]
        );
    }

    #[test]
    fn json_form_takes_names_with_spaces() {
        let dir = tree(&[
            ("Dockerfile", "FROM python\nCOPY [\"a b.csv\", \"/data/\"]\nCOPY --chmod=644 [\"c.csv\", \"d.csv\", \"/more\"]\n"),
            ("a b.csv", ""),
        ]);
        assert_eq!(
            triples(dir.path()),
            vec![
                triple("/data/a b.csv", "a b.csv", "Dockerfile line 2"),
                triple("/more/c.csv", "c.csv", "Dockerfile line 3"),
                triple("/more/d.csv", "d.csv", "Dockerfile line 3"),
            ]
        );
    }

    #[test]
    fn copies_from_stages_globs_urls_and_variables_are_skipped() {
        let dir = tree(&[(
            "Dockerfile",
            "FROM python AS builder\n\
             WORKDIR /build\n\
             COPY src/ src/\n\
             FROM python:slim\n\
             COPY --from=builder /build/dist /app/dist\n\
             COPY *.csv /app/\n\
             ADD https://example.invalid/x.csv /app/x.csv\n\
             COPY $FILE /app/\n\
             COPY model.pkl /models/$NAME\n\
             WORKDIR $HOME\n\
             COPY notes.md .\n\
             FROM builder\n\
             COPY train.py .\n",
        )]);
        assert_eq!(
            triples(dir.path()),
            vec![
                triple("/build/src", "src", "Dockerfile line 3"),
                triple("/build/train.py", "train.py", "Dockerfile line 13"),
            ]
        );
    }

    #[test]
    fn heredoc_bodies_are_not_instructions() {
        let dir = tree(&[(
            "Dockerfile",
            "FROM python\nWORKDIR /app\nRUN <<EOF python\nfrom sklearn import tree\nCOPY x /y\nEOF\nCOPY a.csv .\n",
        )]);
        assert_eq!(
            triples(dir.path()),
            vec![triple("/app/a.csv", "a.csv", "Dockerfile line 7")]
        );
    }

    #[test]
    fn sources_outside_the_root_are_skipped() {
        let outer = tempfile::tempdir().unwrap();
        fs::write(outer.path().join("secret.txt"), "x").unwrap();
        let root = outer.path().join("project");
        fs::create_dir_all(root.join("docker")).unwrap();
        fs::write(
            root.join("docker/Dockerfile"),
            "FROM python\nCOPY ../../secret.txt /s.txt\nCOPY ../keep.txt /keep.txt\n",
        )
        .unwrap();
        fs::write(
            root.join("docker-compose.yml"),
            "services:\n  a:\n    build: ..\n    volumes:\n      - ../:/outside\n      - ./docker/../../x:/x\n",
        )
        .unwrap();
        assert_eq!(
            triples(&root),
            vec![triple("/keep.txt", "keep.txt", "docker/Dockerfile line 3")]
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_root_are_not_followed() {
        use std::os::unix::fs::symlink;
        let outer = tempfile::tempdir().unwrap();
        let elsewhere = outer.path().join("elsewhere");
        fs::create_dir_all(&elsewhere).unwrap();
        fs::write(elsewhere.join("Dockerfile"), "FROM x\nCOPY a /a\n").unwrap();
        let root = outer.path().join("project");
        fs::create_dir_all(&root).unwrap();
        symlink(&elsewhere, root.join("linked")).unwrap();
        symlink(elsewhere.join("Dockerfile"), root.join("Dockerfile")).unwrap();
        fs::write(
            root.join("compose.yml"),
            "services:\n  a:\n    volumes:\n      - ./linked/:/l\n",
        )
        .unwrap();
        assert_eq!(triples(&root), vec![]);
    }

    #[test]
    fn hidden_vendored_and_deep_folders_are_not_read() {
        let copy = "FROM x\nCOPY a /a\n";
        let dir = tree(&[
            (".git/Dockerfile", copy),
            ("node_modules/pkg/Dockerfile", copy),
            ("venv/Dockerfile", copy),
            ("a/b/c/d/e/Dockerfile", copy),
            ("a/b/c/d/app.Dockerfile", copy),
            ("Dockerfile.dockerignore", "*.csv\n"),
            ("compose.yml", "services: [unclosed\n"),
            ("docker-compose.yaml", "just text\n"),
        ]);
        assert_eq!(
            triples(dir.path()),
            vec![triple("/a", "a/b/c/d/a", "a/b/c/d/app.Dockerfile line 2")]
        );
    }

    #[test]
    fn output_is_sorted_and_deduplicated() {
        let dir = tree(&[
            ("docker-compose.yml", "services:\n  a:\n    build: .\n    volumes:\n      - .:/app\n  b:\n    volumes:\n      - .:/app\n"),
            ("Dockerfile", "FROM x\nWORKDIR /app\nCOPY . .\nCOPY m.pkl /models/\n"),
        ]);
        assert_eq!(
            triples(dir.path()),
            vec![
                triple("/app", "", "docker-compose.yml line 5"),
                triple("/models/m.pkl", "m.pkl", "Dockerfile line 4"),
            ]
        );
    }

    #[test]
    fn lines_are_found_for_repeated_and_nested_entries() {
        let text = "a:\n  - ../data:/data\n  - ./data:/data\nb:\n  - ./data:/data\n";
        let mut lines = LineFinder::new(text);
        assert_eq!(lines.line_of("./data:/data"), 3);
        assert_eq!(lines.line_of("./data:/data"), 5);
        assert_eq!(lines.line_of("./data:/data"), 3);
        assert_eq!(lines.line_of("missing"), 1);
    }

    #[test]
    fn project_paths_come_from_the_longest_mount() {
        let mounts = vec![
            mount("/", "rootfs"),
            mount("/app", "jupyter"),
            mount("/app/models", "models"),
            mount("/home/jovyan/work", ""),
        ];
        let project =
            |path: &str| project_path_of(&mounts, path).map(|(p, m)| (p, m.container.clone()));
        assert_eq!(
            project("/app/data/x.csv"),
            Some(("jupyter/data/x.csv".into(), "/app".into()))
        );
        assert_eq!(
            project("/app//models/./rf.pkl"),
            Some(("models/rf.pkl".into(), "/app/models".into()))
        );
        assert_eq!(
            project("/app/models/"),
            Some(("models".into(), "/app/models".into()))
        );
        assert_eq!(project("/app"), Some(("jupyter".into(), "/app".into())));
        assert_eq!(
            project("/apple/x"),
            Some(("rootfs/apple/x".into(), "/".into()))
        );
        assert_eq!(
            project("/home/jovyan/work/p.csv"),
            Some(("p.csv".into(), "/home/jovyan/work".into()))
        );
        assert_eq!(
            project("/app/models/../data.csv"),
            Some(("jupyter/data.csv".into(), "/app".into()))
        );
        assert_eq!(project("data/x.csv"), None);

        let narrow = vec![mount("/app", "jupyter")];
        assert_eq!(project_path_of(&narrow, "/apple/x"), None);
        assert_eq!(project_path_of(&narrow, "/ap"), None);
    }

    #[test]
    fn the_cortes_project_copies_its_data_set() {
        let Some(dir) = corpus_dir()
            .map(|d| d.join("s_t2_cortes"))
            .filter(|d| d.is_dir())
        else {
            return;
        };
        let mounts = container_mounts(&dir);
        let (project, found) = project_path_of(&mounts, "/app/data/penguins_v1.csv").unwrap();
        assert_eq!(project, "data/penguins_v1.csv");
        assert_eq!(found.said_in, "Docker/Dockerfile.jupyter line 13");
        // The named volumes over /app/data and /app/models hold no project files.
        assert!(
            mounts.iter().all(|m| m.container != "/app/models"),
            "{mounts:#?}"
        );
    }

    #[test]
    fn the_prada_project_mounts_its_jupyter_folder() {
        let Some(dir) = corpus_dir()
            .map(|d| d.join("s_t2_prada"))
            .filter(|d| d.is_dir())
        else {
            return;
        };
        let mounts = container_mounts(&dir);
        let work = mounts
            .iter()
            .find(|m| m.container == "/home/jovyan/work")
            .unwrap_or_else(|| panic!("{mounts:#?}"));
        assert_eq!(work.project, "jupyter_work");
        assert_eq!(work.said_in, "docker-compose.yml line 19");
        assert_eq!(
            project_path_of(&mounts, "/home/jovyan/work/penguins_size.csv").map(|(p, _)| p),
            Some("jupyter_work/penguins_size.csv".into())
        );
        assert_eq!(
            project_path_of(&mounts, "/home/jovyan/work/models/rf.pkl").map(|(p, _)| p),
            Some("models/rf.pkl".into())
        );
    }
}
