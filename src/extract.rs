//! From notebook code cells to plain Python: every IPython construct is handled on purpose.
//!
//! Cell magics are IPython syntax on a cell's first line, so they are read from that line;
//! everything inside a cell is parsed with ruff's parser in IPython mode, which knows line
//! magics, shell escapes and `?` help as syntax nodes. Each construct is replaced on its own
//! line(s), so a line of the cleaned code is the same line of the notebook cell and errors can
//! name both. Shell escapes that fetch data (`!wget`, `!unzip`, ...) become calls of the
//! service runtime (see `fetch`); other shell commands are dropped. What this module does
//! not do: decide what the code means (that is `python`) or where packages come from (that
//! is `requirements`).

mod fetch;
mod shell;

use std::borrow::Cow;

use anyhow::Result;
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Expr, IpyEscapeKind, Stmt};
use ruff_python_parser::{parse, Mode, ParseOptions};
use ruff_text_size::{Ranged, TextRange};
use serde::Serialize;

use crate::diagnostics::line_column;
use crate::diagnostics::{CellRef, Location, Warning};
use crate::notebook::{Cell, CellKind, Notebook};
use crate::parallel;
use crate::python::CleanedTree;
use crate::requirements::parse_install;

/// What a person can say about a cell, by tag or by a first-line comment `# nb2svc: WORD`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Directives {
    /// Leave the cell out of the service (tag `skip`, or `# nb2svc: skip`).
    pub skip: bool,
    /// Functions of this cell to serve as `POST` routes; empty `Some` means all of them.
    pub endpoints: Option<Vec<String>>,
    /// The cell trains: it runs when the notebook is run for training, not at service start.
    pub train: bool,
    /// The cell never counts as training, whatever it calls.
    pub serve: bool,
}

/// A code cell after cleaning: plain Python, line for line with the notebook cell.
#[derive(Debug, Clone, Serialize)]
pub struct ExtractedCell {
    pub cell: CellRef,
    /// Plain Python. Line `n` of it is line `n + line_offset` of the notebook cell.
    pub code: String,
    /// Lines of the notebook cell above `code` (1 when a `%%time` header was removed).
    pub line_offset: usize,
    pub directives: Directives,
    /// The tree of the IPython-syntax parse that cleaned the cell, when it stands for `code`
    /// too (see [`CleanedTree`]) and the notebook's code is small enough to keep every cell's.
    #[serde(skip)]
    pub tree: Option<CleanedTree>,
}

/// A requirement stated in the notebook by `%pip install`, `!pip install` or `%conda install`.
#[derive(Debug, Clone, Serialize)]
pub struct MagicRequirement {
    pub spec: String,
    pub location: Location,
}

/// A file a `%%writefile` cell creates; later cells often import it.
#[derive(Debug, Clone, Serialize)]
pub struct WrittenFile {
    pub path: String,
    pub contents: String,
    pub append: bool,
    pub location: Location,
}

/// A notebook-only construct that is not in the service, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Dropped {
    pub location: Location,
    pub text: String,
    pub reason: String,
}

/// What a shell step that fetches data does in the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchKind {
    /// `wget` / `curl`: `_nb2svc_fetch.download(url, dest)`.
    Download,
    /// `unzip` / `tar -x`: `_nb2svc_fetch.unpack(archive, dest)`.
    Unpack,
    /// `mkdir`: the folder is created.
    Mkdir,
}

/// A shell escape that fetches or lays out data (`!wget URL -O f`), kept as a call of the
/// service's runtime so later cells find the files; one entry per step of the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fetch {
    pub location: Location,
    pub kind: FetchKind,
    /// The URL downloaded (downloads only).
    pub url: Option<String>,
    /// The archive unpacked (unpacks only).
    pub archive: Option<String>,
    /// The file downloaded to, the folder unpacked into, or the folder created; relative
    /// paths are relative to the notebook's folder.
    pub dest: String,
    /// The escape as written, on one line (`!wget URL -O f && unzip f`).
    pub command: String,
}

/// Everything the notebook's code cells yield.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Extraction {
    pub cells: Vec<ExtractedCell>,
    pub magic_requirements: Vec<MagicRequirement>,
    pub written_files: Vec<WrittenFile>,
    /// Data fetches translated from shell escapes, in notebook order.
    pub fetches: Vec<Fetch>,
    pub dropped: Vec<Dropped>,
    pub skipped_cells: Vec<CellRef>,
    pub warnings: Vec<Warning>,
}

/// Line magics that only change the notebook session; dropping them changes nothing a
/// service can observe, so they are dropped without a warning.
const SESSION_MAGICS: &[&str] = &[
    "matplotlib",
    "load_ext",
    "unload_ext",
    "reload_ext",
    "autoreload",
    "aimport",
    "config",
    "autosave",
    "precision",
    "xmode",
    "who",
    "whos",
    "who_ls",
    "lsmagic",
    "history",
    "pinfo",
    "pinfo2",
    "pdoc",
    "pdef",
    "psource",
    "pfile",
    "magic",
    "quickref",
    "colors",
    "autocall",
    "automagic",
    "doctest_mode",
    "notebook",
    "reset",
    "reset_selective",
    "pprint",
    "page",
    "tb",
    "debug",
    "pdb",
    "alias_magic",
    "qtconsole",
    "connect_info",
    "store",
];

/// Line magics whose argument is a statement to keep: `%time x = f()` keeps `x = f()`.
const STATEMENT_MAGICS: &[&str] = &["time", "timeit", "prun"];

/// Cell magics whose body is ordinary Python to keep.
const BODY_CELL_MAGICS: &[&str] = &["time", "timeit", "capture", "prun"];

/// Turns every code cell of `notebook` into plain Python, collecting what was moved or dropped.
pub fn extract(notebook: &Notebook) -> Result<Extraction> {
    let cells: Vec<&Cell> = notebook
        .cells
        .iter()
        .filter(|c| c.kind == CellKind::Code)
        .collect();
    // Each cell is extracted on its own, so the cells can be spread over the cores; the first
    // error in the notebook's order is the one reported, as in a loop.
    let code: usize = cells.iter().map(|cell| cell.source.len()).sum();
    let keep_trees = code <= crate::python::KEPT_TREES_CODE_BYTES;
    let mut out = Extraction::default();
    for cell in parallel::map_in_order(&cells, code, |cell| extract_cell(cell, keep_trees)) {
        out.append(cell?);
    }
    Ok(out)
}

/// What one code cell gives; with `keep_tree`, its code's syntax tree when cleaning gives one.
fn extract_cell(cell: &Cell, keep_tree: bool) -> Result<Extraction> {
    let mut out = Extraction::default();
    // Copied only when there is something to change.
    let source: Cow<str> = match cell.source.contains("\r\n") {
        true => Cow::Owned(cell.source.replace("\r\n", "\n")),
        false => Cow::Borrowed(&cell.source),
    };
    let reference = cell.reference.clone();
    let directives = read_directives(&source, &cell.tags, &reference, &mut out.warnings);
    if directives.skip {
        out.skipped_cells.push(reference);
        return Ok(out);
    }
    if source.trim().is_empty() {
        return Ok(out);
    }
    let (body, line_offset) = match split_cell_magic(&source) {
        Some((magic, args, body)) => {
            let at = Location {
                cell: reference.clone(),
                line: 1,
            };
            match handle_cell_magic(magic, args, body, at, &mut out)? {
                Some(body) => (body, 1),
                None => return Ok(out),
            }
        }
        None => (&*source, 0),
    };
    // Before any parser sees it: deep nesting would overflow the stack (see python::limits).
    if let Err(too_deep) = crate::python::limits::check(body) {
        anyhow::bail!(
            "{}: {}",
            Location {
                cell: reference,
                line: too_deep.line + line_offset,
            },
            too_deep.message
        );
    }
    let (code, tree) = clean_line_escapes(body, &reference, line_offset, &mut out)?;
    out.cells.push(ExtractedCell {
        cell: reference,
        code,
        line_offset,
        directives,
        tree: tree.filter(|_| keep_tree),
    });
    Ok(out)
}

impl Extraction {
    /// Adds what a later cell gave.
    fn append(&mut self, later: Extraction) {
        // Taken apart, so that a field added to `Extraction` cannot be left out here.
        let Extraction {
            cells,
            magic_requirements,
            written_files,
            fetches,
            dropped,
            skipped_cells,
            warnings,
        } = later;
        self.cells.extend(cells);
        self.magic_requirements.extend(magic_requirements);
        self.written_files.extend(written_files);
        self.fetches.extend(fetches);
        self.dropped.extend(dropped);
        self.skipped_cells.extend(skipped_cells);
        self.warnings.extend(warnings);
    }
}

/// Reads cell tags and a first-line `# nb2svc: ...` comment.
fn read_directives(
    source: &str,
    tags: &[String],
    cell: &CellRef,
    warnings: &mut Vec<Warning>,
) -> Directives {
    let mut directives = Directives::default();
    let mut words: Vec<(String, Vec<String>)> = tags
        .iter()
        .filter_map(|tag| {
            let tag = tag
                .strip_prefix("nb2svc:")
                .or_else(|| tag.strip_prefix("nb2svc-"))
                .unwrap_or(tag);
            ["skip", "endpoint", "train", "serve"]
                .contains(&tag)
                .then(|| (tag.to_string(), vec![]))
        })
        .collect();
    let first_line = source.lines().next().unwrap_or("");
    if let Some(rest) = first_line.trim_start().strip_prefix('#') {
        if let Some(directive) = rest.trim_start().strip_prefix("nb2svc:") {
            let mut parts = directive.split_whitespace();
            match parts.next() {
                Some(word @ ("skip" | "endpoint" | "train" | "serve")) => {
                    let args = parts.map(|p| p.trim_matches(',').to_string()).filter(|p| !p.is_empty());
                    words.push((word.to_string(), args.collect()));
                }
                other => warnings.push(Warning::at(
                    Location { cell: cell.clone(), line: 1 },
                    format!(
                        "unknown nb2svc directive `{}`: expected skip, endpoint [NAME ...], train or serve",
                        other.unwrap_or("")
                    ),
                )),
            }
        }
    }
    for (word, args) in words {
        match word.as_str() {
            "skip" => directives.skip = true,
            "train" => directives.train = true,
            "serve" => directives.serve = true,
            _ => directives
                .endpoints
                .get_or_insert_with(Vec::new)
                .extend(args),
        }
    }
    directives
}

/// Splits `%%name args\nbody` into its parts when the cell starts with a cell magic.
fn split_cell_magic(source: &str) -> Option<(&str, &str, &str)> {
    let rest = source.strip_prefix("%%")?;
    let (header, body) = rest.split_once('\n').unwrap_or((rest, ""));
    let header = header.trim_end();
    let (name, args) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    Some((name, args.trim(), body))
}

/// Decides what a cell magic becomes; returns the body to keep as Python, if any.
fn handle_cell_magic<'a>(
    name: &str,
    args: &str,
    body: &'a str,
    at: Location,
    out: &mut Extraction,
) -> Result<Option<&'a str>> {
    if BODY_CELL_MAGICS.contains(&name) {
        out.dropped.push(Dropped {
            location: at,
            text: format!("%%{name} {args}").trim_end().to_string(),
            reason: "timing/capture only; the cell body is kept".into(),
        });
        return Ok(Some(body));
    }
    if name == "writefile" {
        let (append, path) = match args.strip_prefix("-a") {
            Some(rest) if rest.starts_with(char::is_whitespace) => (true, rest.trim()),
            _ => (false, args),
        };
        let path = path.trim_matches(|c| c == '"' || c == '\'').to_string();
        check_writefile_name(&path, &at)?;
        out.written_files.push(WrittenFile {
            path,
            contents: body.to_string(),
            append,
            location: at,
        });
        return Ok(None);
    }
    let reason =
        format!("cell magic `%%{name}` runs outside Python; the whole cell is not in the service");
    out.warnings.push(Warning::at(at.clone(), reason.clone()));
    out.dropped.push(Dropped {
        location: at,
        text: format!("%%{name} {args}").trim_end().to_string(),
        reason,
    });
    Ok(None)
}

/// Refuses a `%%writefile` target that names no file: nothing (`%%writefile`), a folder
/// (`.`, `..`, `out/`, `a/..`): IPython fails on those too, and shipping them would put a
/// file where the service's folders are. (Absolute paths and paths above the project are
/// files, only not shipped; planning warns about them.)
fn check_writefile_name(path: &str, at: &Location) -> Result<()> {
    if path.is_empty() {
        anyhow::bail!("{at}: `%%writefile` without a file name: expected `%%writefile FILE`");
    }
    let last = path.rsplit(['/', '\\']).next().unwrap_or(path);
    if matches!(last, "" | "." | "..")
        || crate::workspace::project_path("", path).as_deref() == Some("")
    {
        anyhow::bail!(
            "{at}: `%%writefile {path}` names a folder, not a file: expected a file name such as `%%writefile utils.py`"
        );
    }
    Ok(())
}

/// An IPython escape found by the parser: where it is, and whether it stands as a statement.
struct Escape {
    range: TextRange,
    kind: IpyEscapeKind,
    value: String,
    is_statement: bool,
}

/// Collects every IPython escape command, however deeply nested.
#[derive(Default)]
struct EscapeCollector {
    escapes: Vec<Escape>,
}

impl<'a> Visitor<'a> for EscapeCollector {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if let Stmt::IpyEscapeCommand(command) = stmt {
            self.escapes.push(Escape {
                range: command.range(),
                kind: command.kind,
                value: command.value.to_string(),
                is_statement: true,
            });
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::IpyEscapeCommand(command) = expr {
            self.escapes.push(Escape {
                range: command.range(),
                kind: command.kind,
                value: command.value.to_string(),
                is_statement: false,
            });
        }
        visitor::walk_expr(self, expr);
    }
}

/// Parses `body` in IPython mode. ruff's parser reaches an `unreachable!` on some mangled
/// escape commands (found by `tests/it/fuzz.rs`); such a body is treated like one that does not
/// parse (`None`), and the panic's message is kept off the user's terminal.
fn parse_guarded(
    body: &str,
) -> Option<Result<ruff_python_parser::Parsed<ruff_python_ast::Mod>, ruff_python_parser::ParseError>>
{
    thread_local! {
        static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|quiet| quiet.set(true));
    let parsed = std::panic::catch_unwind(|| parse(body, ParseOptions::from(Mode::Ipython)));
    QUIET.with(|quiet| quiet.set(false));
    parsed.ok()
}

/// Replaces each line magic, shell escape and help request in `body` with plain Python; with
/// the parse's tree when it stands for the result too (see [`CleanedTree`]).
fn clean_line_escapes(
    body: &str,
    cell: &CellRef,
    line_offset: usize,
    out: &mut Extraction,
) -> Result<(String, Option<CleanedTree>)> {
    let Some(Ok(parsed)) = parse_guarded(body) else {
        // Not Python even with IPython syntax (prose, Python 2): kept as it is, so that planning
        // leaves it out with a warning naming cell, line and column, or refuses it when the
        // service needs it or --strict is given.
        return Ok((body.to_string(), None));
    };
    let mut collector = EscapeCollector::default();
    if let Some(module) = parsed.syntax().as_module() {
        collector.visit_body(&module.body);
    }
    let mut code = String::with_capacity(body.len());
    let mut last = 0;
    let mut escapes = collector.escapes;
    escapes.sort_by_key(|e| e.range.start());
    // Whether each escape became a `pass` placeholder on its own line, so the tree still fits.
    let mut tree_fits = true;
    let mut replaced = Vec::new();
    for escape in escapes {
        let start = escape.range.start().to_usize();
        let end = escape.range.end().to_usize();
        if start < last {
            tree_fits = false;
            continue; // nested inside an escape already replaced
        }
        let text = &body[start..end];
        let line = line_column(body, start).0 + line_offset;
        let location = Location {
            cell: cell.clone(),
            line,
        };
        let replacement = replace_escape(&escape, text, location, out);
        tree_fits &= escape.is_statement
            && !text.contains('\n')
            && replacement.starts_with(PLACEHOLDER_PREFIX);
        replaced.push(escape.range);
        code.push_str(&body[last..start]);
        code.push_str(&replacement);
        // Keep the cell's line numbering when a command ran over several lines.
        code.extend(std::iter::repeat_n('\n', text.matches('\n').count()));
        last = end;
    }
    code.push_str(&body[last..]);
    let tree = match parsed.into_syntax() {
        ruff_python_ast::Mod::Module(module) if tree_fits => Some(CleanedTree {
            escaped_source: (code != body).then(|| body.to_string()),
            escapes: replaced,
            module,
        }),
        _ => None,
    };
    Ok((code, tree))
}

/// How the plain-Python stand-in for an escape that does nothing in the service begins.
pub const PLACEHOLDER_PREFIX: &str = "pass  # nb2svc: ";

/// The plain-Python text that takes the place of one escape command, on a single line.
fn replace_escape(escape: &Escape, text: &str, location: Location, out: &mut Extraction) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut drop = |reason: String, warn: bool| {
        if warn {
            out.warnings.push(Warning::at(
                location.clone(),
                format!("`{one_line}` dropped: {reason}"),
            ));
        }
        out.dropped.push(Dropped {
            location: location.clone(),
            text: one_line.clone(),
            reason,
        });
    };
    let value = escape.value.trim();
    let (name, args) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    if !escape.is_statement {
        drop(
            "a captured shell or magic result has no meaning in the service; it is `None` there"
                .into(),
            true,
        );
        return "None".into();
    }
    let placeholder = |what: &str| {
        format!(
            "{PLACEHOLDER_PREFIX}{what} `{}`",
            crate::escape::python_comment(&one_line.replace('\n', " "))
        )
    };
    let installs = match escape.kind {
        IpyEscapeKind::Magic | IpyEscapeKind::Shell | IpyEscapeKind::ShCap => parse_install(value),
        _ => None,
    };
    if let Some(installs) = installs {
        drop("packages go to requirements.txt".into(), false);
        for spec in installs.specs {
            out.magic_requirements.push(MagicRequirement {
                spec,
                location: location.clone(),
            });
        }
        // Every argument the grammar did not take is named, with its cell and line.
        for skipped in installs.skipped {
            out.warnings.push(Warning::at(location.clone(), skipped));
        }
        return placeholder("moved to requirements.txt:");
    }
    let shell = shell_command(escape.kind, name, args, value);
    match escape.kind {
        IpyEscapeKind::Magic if STATEMENT_MAGICS.contains(&name) => {
            let statement = strip_magic_options(args);
            out.dropped.push(Dropped {
                location,
                text: one_line.clone(),
                reason: "timing only; the statement is kept".into(),
            });
            if statement.is_empty() {
                placeholder("dropped")
            } else {
                statement.to_string()
            }
        }
        IpyEscapeKind::Magic if name == "pylab" => {
            drop(
                "replaced by explicit numpy and matplotlib imports".into(),
                false,
            );
            "import numpy as np; import matplotlib.pyplot as plt  # nb2svc: was %pylab".into()
        }
        IpyEscapeKind::Magic if SESSION_MAGICS.contains(&name) => {
            drop("only affects the notebook session".into(), false);
            placeholder("dropped")
        }
        IpyEscapeKind::Help | IpyEscapeKind::Help2 => {
            drop("help request".into(), false);
            placeholder("dropped")
        }
        // Data fetches become runtime calls; every other shell command is dropped.
        _ if shell.is_some() => match shell.and_then(fetch::translate) {
            Some(translation) => {
                out.fetches
                    .extend(translation.steps.into_iter().map(|step| Fetch {
                        location: location.clone(),
                        kind: step.kind,
                        url: step.url,
                        archive: step.archive,
                        dest: step.dest,
                        command: one_line.clone(),
                    }));
                translation.python
            }
            None => {
                drop("shell commands do not run in the service".into(), true);
                placeholder("dropped")
            }
        },
        _ => {
            drop(
                "IPython-only syntax has no plain-Python meaning".into(),
                true,
            );
            placeholder("dropped")
        }
    }
}

/// The shell command line of a `!cmd`, `!!cmd`, `%system cmd` or `%sx cmd` escape.
fn shell_command<'a>(
    kind: IpyEscapeKind,
    name: &str,
    args: &'a str,
    value: &'a str,
) -> Option<&'a str> {
    match kind {
        IpyEscapeKind::Shell | IpyEscapeKind::ShCap => Some(value),
        IpyEscapeKind::Magic if matches!(name, "system" | "sx") => Some(args),
        _ => None,
    }
}

/// `%time -n 3 x = f()` → `x = f()`: options start with `-` and come before the statement.
fn strip_magic_options(args: &str) -> &str {
    let mut rest = args.trim_start();
    while rest.starts_with('-') {
        let mut parts = rest.splitn(2, char::is_whitespace);
        let option = parts.next().unwrap_or("");
        rest = parts.next().unwrap_or("").trim_start();
        // timeit's -n, -r, -p take a value.
        if matches!(option, "-n" | "-r" | "-p") {
            rest = rest
                .split_once(char::is_whitespace)
                .map_or("", |(_, r)| r)
                .trim_start();
        }
    }
    rest
}

#[cfg(test)]
mod tests;
