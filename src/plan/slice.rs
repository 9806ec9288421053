//! Which top-level statements of the notebook the service runs.
//!
//! Student notebooks mix training with exploration (`df.head()`, plots, profiling reports,
//! prints). Running only what the service depends on keeps exploration-only packages out of
//! the requirements and plots out of the image build. The roots are the statements that save
//! an artifact or write a file (directly or through a notebook function), change the process
//! or fetch data, define a served function, or sit in a cell marked `train` or `serve`. From
//! them a backward fixpoint keeps every earlier statement that binds or changes in place a name
//! a kept statement reads. The dataflow is conservative where it can be: every earlier binder
//! is kept, not just the last, and any method call not known to be read-only counts as a
//! change. When nothing is saved or served and no cell is marked, every statement runs.
//!
//! This is a pure function of the cells' facts; the planner decides what to do with it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::diagnostics::Location;
use crate::extract::ExtractedCell;
use crate::python::{line_starts, Effect, ModuleFacts, PathAccess, Unit};

/// Writes that are not artifacts, matched on the callee's last name (a heuristic list).
/// Reports for a person to look at (`paths` recognises none of them today; the list guards
/// the slice if it ever does), and folders made for what is saved, which run anyway as
/// process changes and read better as such.
const NOT_SAVES: &[&str] = &[
    "savefig",
    "to_html",
    "to_file",
    "write_html",
    "write_image",
    "makedirs",
    "mkdir",
];

/// Prefix of the first line of a statement the service does not run.
pub const LEFT_OUT_PREFIX: &str = "# nb2svc: left out: ";

/// The outcome for every top-level statement of every cell.
#[derive(Debug, Clone, Serialize)]
pub struct Slice {
    cells: Vec<Vec<Sliced>>,
    everything: bool,
}

/// One statement and whether it runs.
#[derive(Debug, Clone, Serialize)]
pub struct Sliced {
    /// Where the statement starts in the notebook.
    pub location: Location,
    /// 1-based lines of the statement in the cell's code.
    pub first_line: usize,
    pub last_line: usize,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Verdict {
    Kept(Reason),
    LeftOut(Reason),
}

impl Verdict {
    pub fn is_kept(&self) -> bool {
        matches!(self, Verdict::Kept(_))
    }

    pub fn reason(&self) -> &Reason {
        match self {
            Verdict::Kept(reason) | Verdict::LeftOut(reason) => reason,
        }
    }
}

/// Why a statement runs or does not; [`fmt::Display`] gives the README's sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Reason {
    /// Nothing is saved or served: the slice keeps the whole notebook.
    NothingToServe,
    SavesArtifact,
    /// Calls a notebook function that saves (itself or through other notebook functions).
    CallsSaver(String),
    /// Writes a data file (`to_csv`, `open(.., "w")`).
    WritesFile,
    /// Calls a notebook function that writes a data file.
    CallsWriter(String),
    Effect(Effect),
    /// Calls a notebook function whose body changes the process or fetches data.
    CallsEffect {
        function: String,
        effect: Effect,
    },
    /// Defines a function the service calls at request time.
    Serves(String),
    /// Its cell is marked `train` or `serve`.
    Marked(&'static str),
    /// Binds a name a kept statement reads.
    Defines {
        name: String,
        needed_by: Location,
    },
    /// Changes in place a name a kept statement reads.
    Changes {
        name: String,
        read_by: Location,
    },
    /// Binds a name a kept statement changes in place.
    DefinesChanged {
        name: String,
        changed_by: Location,
    },
    /// Shares a line (`a; b`) with a kept statement, so it cannot be left out on its own.
    SharesLine(Location),
    NotNeeded,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NothingToServe => {
                write!(f, "nothing to serve was found, so every statement runs")
            }
            Reason::SavesArtifact => write!(f, "saves an artifact"),
            Reason::CallsSaver(function) => {
                write!(f, "calls `{function}`, which saves an artifact")
            }
            Reason::WritesFile => write!(f, "writes a file"),
            Reason::CallsWriter(function) => write!(f, "calls `{function}`, which writes a file"),
            Reason::Effect(effect) => write!(f, "{}", effect.describe()),
            Reason::CallsEffect { function, effect } => {
                write!(f, "calls `{function}`, which {}", effect.describe())
            }
            Reason::Serves(function) => write!(f, "defines `{function}`, a served function"),
            Reason::Marked(directive) => write!(f, "its cell is marked `{directive}`"),
            Reason::Defines { name, needed_by } => {
                write!(f, "defines `{name}`, which {needed_by} needs")
            }
            Reason::Changes { name, read_by } => {
                write!(f, "changes `{name}`, which {read_by} reads")
            }
            Reason::DefinesChanged { name, changed_by } => {
                write!(f, "defines `{name}`, which {changed_by} changes")
            }
            Reason::SharesLine(other) => {
                write!(f, "shares a line with {other}, which runs")
            }
            Reason::NotNeeded => write!(f, "nothing served depends on it"),
        }
    }
}

impl Slice {
    /// Nothing is saved or served and no cell is marked, so every statement is kept.
    pub fn keeps_everything(&self) -> bool {
        self.everything
    }

    /// The statements of the cell at `cell` (its index among the extracted cells).
    pub fn cell(&self, cell: usize) -> &[Sliced] {
        self.cells.get(cell).map(Vec::as_slice).unwrap_or_default()
    }

    /// Every statement left out, in notebook order.
    #[cfg(test)]
    pub fn left_out(&self) -> impl Iterator<Item = &Sliced> {
        self.cells
            .iter()
            .flatten()
            .filter(|sliced| !sliced.verdict.is_kept())
    }

    /// Whether line `line` (1-based, in the cell's code) runs: false only inside a statement
    /// that is left out. Requirements should come from the imports on lines that run.
    pub fn runs_line(&self, cell: usize, line: usize) -> bool {
        !self.cell(cell).iter().any(|sliced| {
            !sliced.verdict.is_kept() && (sliced.first_line..=sliced.last_line).contains(&line)
        })
    }

    /// The cell's code with every left-out statement turned into comments, line for line: the
    /// first line gets [`LEFT_OUT_PREFIX`], the others `# `. The line count and the line
    /// endings stay the same, so line numbers still map to the notebook, and the result is
    /// valid Python (a cell of comments only is a valid module). `code` must have the lines of
    /// the code the facts came from; replacements within a line (path rewrites) are fine.
    pub fn comment_out(&self, cell: usize, code: &str) -> String {
        let mut first_lines = BTreeSet::new();
        let mut other_lines = BTreeSet::new();
        for sliced in self.cell(cell).iter().filter(|s| !s.verdict.is_kept()) {
            first_lines.insert(sliced.first_line);
            other_lines.extend(sliced.first_line + 1..=sliced.last_line);
        }
        if first_lines.is_empty() {
            return code.to_string();
        }
        let starts = line_starts(code);
        let mut out = String::with_capacity(code.len() + 32 * first_lines.len());
        for (index, &start) in starts.iter().enumerate() {
            let end = starts.get(index + 1).copied().unwrap_or(code.len());
            let line = &code[start..end];
            let content = line.trim_end_matches(['\n', '\r']);
            let ending = &line[content.len()..];
            let number = index + 1;
            // A commented line must not hold what would end the comment or the file's parse.
            let commented = || crate::escape::python_commented_code(content);
            if first_lines.contains(&number) {
                out.push_str(LEFT_OUT_PREFIX);
                out.push_str(&commented());
            } else if other_lines.contains(&number) {
                out.push('#');
                if !content.is_empty() {
                    out.push(' ');
                    out.push_str(&commented());
                }
            } else {
                out.push_str(content);
            }
            out.push_str(ending);
        }
        out
    }
}

/// Decides which statements run. `cells` and `facts` are the extracted cells and their facts
/// in notebook order; `served` names the functions the service calls at request time.
pub fn slice(cells: &[ExtractedCell], facts: &[ModuleFacts], served: &BTreeSet<String>) -> Slice {
    debug_assert_eq!(cells.len(), facts.len());
    let summaries = summaries(facts);
    let mut graph = Graph::new(cells, facts, served, &summaries);
    let anchored = graph.anchored();
    let kept = if anchored {
        graph.add_flow(&summaries);
        graph.fixpoint()
    } else {
        vec![None; graph.nodes.len()]
    };
    let mut out: Vec<Vec<Sliced>> = facts
        .iter()
        .map(|f| Vec::with_capacity(f.units.len()))
        .collect();
    for (node, reason) in graph.nodes.into_iter().zip(kept) {
        let verdict = match (anchored, reason) {
            (false, _) => Verdict::Kept(Reason::NothingToServe),
            (true, Some(reason)) => Verdict::Kept(reason),
            (true, None) => Verdict::LeftOut(Reason::NotNeeded),
        };
        out[node.cell].push(Sliced {
            location: node.location,
            first_line: node.unit.first_line,
            last_line: node.unit.last_line,
            verdict,
        });
    }
    Slice {
        cells: out,
        everything: !anchored,
    }
}

/// One statement in the notebook-wide dataflow.
struct Node<'a> {
    cell: usize,
    unit: &'a Unit,
    location: Location,
    is_def: bool,
    /// Names read: the unit's loads and builtins (a builtin may be rebound elsewhere).
    reads: BTreeSet<&'a str>,
    /// Names bound, those the called notebook functions bind as globals included. A `def`
    /// binds only its name: what its body binds happens where it is called.
    binds: BTreeSet<&'a str>,
    /// Names changed in place, those the called notebook functions change included.
    changes: BTreeSet<&'a str>,
    root: Option<Reason>,
    /// Earlier and later statements of the same cell that share a line with this one.
    tied: Vec<usize>,
}

/// What calling a notebook function does, through the functions it calls too. The names are
/// borrowed from the cells' facts, like the graph's: the summaries are copied at every round
/// of their fixpoint.
#[derive(Debug, Clone, Default, PartialEq)]
struct Summary<'a> {
    output: Output,
    effect: Option<&'a Effect>,
    binds: BTreeSet<&'a str>,
    changes: BTreeSet<&'a str>,
    calls: BTreeSet<&'a str>,
}

struct Graph<'a> {
    nodes: Vec<Node<'a>>,
    /// Per node, the position its code runs at, so that only statements before it matter: its
    /// own for a statement, the latest caller's for a `def` (past the end of the notebook for
    /// a served function, which runs at request time after the whole module). A caller is
    /// kept before its callee, so what the caller itself binds runs already.
    initial_until: Vec<usize>,
}

impl<'a> Graph<'a> {
    /// The statements and why each must run on its own account. What they read, bind and
    /// change is filled in by [`Graph::add_flow`], and only when the slice is anchored: a
    /// notebook with nothing to serve keeps every statement without following its dataflow.
    fn new(
        cells: &[ExtractedCell],
        facts: &'a [ModuleFacts],
        served: &BTreeSet<String>,
        summaries: &BTreeMap<&str, Summary<'a>>,
    ) -> Self {
        let mut nodes = Vec::with_capacity(facts.iter().map(|f| f.units.len()).sum());
        for (index, (cell, cell_facts)) in cells.iter().zip(facts).enumerate() {
            let marked = match (cell.directives.train, cell.directives.serve) {
                (true, _) => Some("train"),
                (_, true) => Some("serve"),
                _ => None,
            };
            let first = nodes.len();
            for unit in cell_facts.units.iter() {
                let is_def = !unit.defines_functions.is_empty();
                let root = if is_def {
                    marked.map(Reason::Marked)
                } else {
                    root_of(cell_facts, unit, &called(unit, summaries))
                        .or(marked.map(Reason::Marked))
                };
                nodes.push(Node {
                    cell: index,
                    unit,
                    location: Location {
                        cell: cell.cell.clone(),
                        line: unit.first_line + cell.line_offset,
                    },
                    is_def,
                    reads: BTreeSet::new(),
                    binds: BTreeSet::new(),
                    changes: BTreeSet::new(),
                    root,
                    tied: Vec::new(),
                });
            }
            // Statements of one cell come in order, so only neighbours can share a line.
            for i in first + 1..nodes.len() {
                if nodes[i].unit.first_line <= nodes[i - 1].unit.last_line {
                    nodes[i].tied.push(i - 1);
                    nodes[i - 1].tied.push(i);
                }
            }
        }
        // The definition in force when the service runs is the last one of each name.
        let mut last_def: BTreeMap<&str, usize> = BTreeMap::new();
        for (position, node) in nodes.iter().enumerate() {
            for name in &node.unit.defines_functions {
                last_def.insert(name, position);
            }
        }
        let end = nodes.len();
        let mut initial_until: Vec<usize> = (0..nodes.len()).collect();
        for name in served {
            if let Some(&position) = last_def.get(name.as_str()) {
                nodes[position].root = Some(Reason::Serves(name.clone()));
                initial_until[position] = end;
            }
        }
        // A marked `def` nobody calls may still be called by the last statement that runs.
        let last_root = nodes.iter().rposition(|node| node.root.is_some());
        for (position, node) in nodes.iter().enumerate() {
            if node.is_def && node.root.is_some() {
                let until = last_root.unwrap_or(position).max(initial_until[position]);
                initial_until[position] = until;
            }
        }
        Graph {
            nodes,
            initial_until,
        }
    }

    /// What every statement reads, binds and changes, the called notebook functions' binds
    /// and changes included.
    fn add_flow(&mut self, summaries: &BTreeMap<&str, Summary<'a>>) {
        for node in &mut self.nodes {
            let unit = node.unit;
            node.reads = unit
                .loaded
                .iter()
                .chain(&unit.builtins_read)
                .map(String::as_str)
                .collect();
            if node.is_def {
                node.binds = unit.defines_functions.iter().map(String::as_str).collect();
                continue;
            }
            node.binds = unit.bound.iter().map(String::as_str).collect();
            node.changes = unit.mutated.iter().map(String::as_str).collect();
            for (_, summary) in called(unit, summaries) {
                node.binds.extend(summary.binds.iter().copied());
                node.changes.extend(summary.changes.iter().copied());
            }
        }
    }

    /// Whether a root serves something. Process changes and data files alone do not: without
    /// a saved artifact, a served function or a marked cell, the slice would keep only
    /// `os.makedirs(..)`, `to_csv(..)` and the like, most likely because a save went
    /// unrecognised. Running everything is the safe answer then.
    fn anchored(&self) -> bool {
        self.nodes.iter().any(|node| {
            node.root.as_ref().is_some_and(|root| {
                !matches!(
                    root,
                    Reason::Effect(_)
                        | Reason::CallsEffect { .. }
                        | Reason::WritesFile
                        | Reason::CallsWriter(_)
                )
            })
        })
    }

    /// The reason each node is kept, `None` for the nodes left out. A node kept for another
    /// one's sake names the earliest such dependent.
    fn fixpoint(&self) -> Vec<Option<Reason>> {
        let mut kept: Vec<Option<Reason>> = self.nodes.iter().map(|n| n.root.clone()).collect();
        // The position of the dependent each non-root reason names.
        let mut named: Vec<Option<usize>> = vec![None; self.nodes.len()];
        let mut until = self.initial_until.clone();
        let mut pending: BTreeSet<usize> = (0..self.nodes.len())
            .filter(|&position| kept[position].is_some())
            .collect();
        while let Some(current) = pending.pop_first() {
            let node = &self.nodes[current];
            let limit = until[current];
            let mut wanted: Vec<(usize, Reason, usize)> = Vec::new();
            for &name in &node.reads {
                for (other, candidate) in self.nodes.iter().enumerate().take(limit) {
                    if other == current {
                        continue;
                    }
                    let reason = if candidate.binds.contains(name) {
                        Reason::Defines {
                            name: name.to_string(),
                            needed_by: node.location.clone(),
                        }
                    } else if candidate.changes.contains(name) {
                        Reason::Changes {
                            name: name.to_string(),
                            read_by: node.location.clone(),
                        }
                    } else {
                        continue;
                    };
                    // A function found here is called when `current` runs.
                    wanted.push((other, reason, limit));
                }
            }
            for &name in &node.changes {
                for (other, candidate) in self.nodes.iter().enumerate().take(current) {
                    if candidate.binds.contains(name) {
                        let reason = Reason::DefinesChanged {
                            name: name.to_string(),
                            changed_by: node.location.clone(),
                        };
                        wanted.push((other, reason, other));
                    }
                }
            }
            for &other in &node.tied {
                wanted.push((other, Reason::SharesLine(node.location.clone()), other));
            }
            for (other, reason, runs_until) in wanted {
                let grown = self.nodes[other].is_def && runs_until > until[other];
                if grown {
                    until[other] = runs_until;
                }
                let new = kept[other].is_none();
                let earlier = named[other].is_some_and(|dependent| current < dependent);
                if new || earlier {
                    named[other] = Some(current);
                    kept[other] = Some(reason);
                }
                // Its reads matter from now on, or up to a later position than before.
                if new || grown {
                    pending.insert(other);
                }
            }
        }
        kept
    }
}

/// The notebook functions `unit` calls, with what calling each does.
fn called<'s, 'a>(
    unit: &Unit,
    summaries: &'s BTreeMap<&str, Summary<'a>>,
) -> Vec<(&'s str, &'s Summary<'a>)> {
    unit.calls
        .iter()
        .filter_map(|name| summaries.get_key_value(name.as_str()))
        .map(|(name, summary)| (*name, summary))
        .collect()
}

/// Why a statement (not a `def`) must run on its own account.
fn root_of(facts: &ModuleFacts, unit: &Unit, called: &[(&str, &Summary)]) -> Option<Reason> {
    let direct = output(facts, unit);
    let through = |wanted: Output| {
        called
            .iter()
            .find(|(_, summary)| summary.output == wanted)
            .map(|(name, _)| name.to_string())
    };
    if direct == Output::Artifact {
        return Some(Reason::SavesArtifact);
    }
    if let Some(name) = through(Output::Artifact) {
        return Some(Reason::CallsSaver(name));
    }
    if direct == Output::File {
        return Some(Reason::WritesFile);
    }
    if let Some(name) = through(Output::File) {
        return Some(Reason::CallsWriter(name));
    }
    if let Some(effect) = &unit.effect {
        return Some(Reason::Effect(effect.clone()));
    }
    called.iter().find_map(|(name, summary)| {
        summary.effect.map(|effect| Reason::CallsEffect {
            function: name.to_string(),
            effect: effect.clone(),
        })
    })
}

/// What a statement writes, from least to most telling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
enum Output {
    #[default]
    Nothing,
    /// A data file.
    File,
    /// A serialized artifact: a model, an encoder.
    Artifact,
}

/// The most telling save or write call (reports left out) whose path is inside the unit.
fn output(facts: &ModuleFacts, unit: &Unit) -> Output {
    facts
        .path_calls
        .iter()
        .filter(|call| (unit.start..unit.end).contains(&call.literal_start))
        .filter(|call| {
            let last = call.function.rsplit('.').next().unwrap_or(&call.function);
            !NOT_SAVES.contains(&last)
        })
        .map(|call| match call.access {
            PathAccess::Save => Output::Artifact,
            PathAccess::Write => Output::File,
            PathAccess::Load | PathAccess::Read => Output::Nothing,
        })
        .max()
        .unwrap_or_default()
}

/// What each notebook function does when called, following the notebook functions it calls.
/// Several definitions of one name are merged: which one a call meets depends on the order
/// the cells run in, and merging is the conservative side.
fn summaries(facts: &[ModuleFacts]) -> BTreeMap<&str, Summary<'_>> {
    let mut summaries: BTreeMap<&str, Summary> = BTreeMap::new();
    for cell_facts in facts {
        for unit in cell_facts.units.iter() {
            for name in &unit.defines_functions {
                let summary = summaries.entry(name.as_str()).or_default();
                summary.output = summary.output.max(output(cell_facts, unit));
                if summary.effect.is_none() {
                    summary.effect = unit.effect_when_called.as_ref();
                }
                let globals = unit.bound.iter().filter(|bound| *bound != name);
                summary.binds.extend(globals.map(String::as_str));
                summary
                    .changes
                    .extend(unit.mutated_when_called.iter().map(String::as_str));
                summary.calls.extend(unit.calls.iter().map(String::as_str));
            }
        }
    }
    loop {
        let before = summaries.clone();
        for (name, summary) in summaries.iter_mut() {
            for callee in &before[name].calls {
                let Some(other) = before.get(callee) else {
                    continue;
                };
                summary.output = summary.output.max(other.output);
                if summary.effect.is_none() {
                    summary.effect = other.effect;
                }
                summary.binds.extend(other.binds.iter().copied());
                summary.changes.extend(other.changes.iter().copied());
                summary.calls.extend(other.calls.iter().copied());
            }
        }
        if summaries == before {
            return summaries;
        }
    }
}

#[cfg(test)]
mod tests;
