//! What the Python source of one notebook cell says: its imports, top-level functions and their
//! signatures, the literal paths it hands to load/save/read/write calls, the names it binds and
//! reads at module level, and whether it trains a model.
//!
//! Input is plain Python: IPython magics, shell escapes and `?` help have already been removed
//! by the extraction step. Parsing uses `ruff_python_parser`; nothing here matches Python with
//! regular expressions. Deciding what the facts mean for the service (which cell trains, which
//! artifact the service loads, which packages to install) is left to the planning modules.
//!
//! The work is split by idea: `scope` resolves names, `facts` reads imports, functions and
//! training calls, `paths` finds the artifact and data-file calls listed in `rules`, `units`
//! describes each top-level statement for the dataflow slice (with `effects` for the calls
//! that change the process), `preprocessing` finds the statements that turn raw data into a
//! model's features, and `indent` re-indents a cell without touching its string values.

pub(crate) mod credentials;
mod effects;
mod facts;
mod indent;
pub(crate) mod limits;
mod name_set;
mod paths;
mod preprocessing;
mod rules;
mod scope;
mod units;
pub(crate) mod values;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use ruff_python_parser::{parse_module, ParseError};
use ruff_text_size::{TextRange, TextSize};
use serde::Serialize;

pub use effects::Effect;
pub use indent::indent_block;
pub use name_set::NameSet;
pub use preprocessing::{Held, OpaqueFit, Preprocessing};
pub use units::Unit;

/// A cell that is not valid Python 3, located at the parser's first error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyntaxError {
    /// 1-based line of the error.
    pub line: usize,
    /// 1-based column of the error, counted in characters (not bytes).
    pub column: usize,
    /// The parser's description of the problem.
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid python at line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for SyntaxError {}

/// Everything the service generator needs to know about one cell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ModuleFacts {
    /// Every import statement anywhere in the cell (also inside functions and `try`), in
    /// source order. `import a, b` gives one entry per module.
    pub imports: Arc<[Import]>,
    /// Top-level `def` and `async def` statements (direct children of the module), in order.
    pub functions: Arc<[Function]>,
    /// Literal paths given to load/save/read/write calls, ordered by the literal's position.
    pub path_calls: Vec<PathCall>,
    /// Names bound in the module scope: assignment, augmented, annotated and walrus targets,
    /// `for`/`with`/`except`/`match` targets, `def`, `class`, import aliases, and every name
    /// declared `global` anywhere in the cell.
    pub bound_names: NameSet,
    /// Names read from the module scope anywhere in the cell: top-level reads plus the free
    /// globals of functions, methods, lambdas and comprehensions. Python and IPython builtins
    /// are left out unless the cell itself binds them at module level. Names the cell binds are
    /// kept; the caller subtracts what it needs to.
    pub loaded_names: NameSet,
    /// Whether any call in the cell (function bodies included) does training work; see
    /// [`facts::TRAINING_METHODS`] and [`facts::TRAINING_FUNCTIONS`] for the calls that count.
    pub trains: bool,
    /// Names whose methods train in this cell: `pipe` in `pipe.fit(X, y)`. The object is only
    /// usable after training, though the cell binds nothing.
    pub fitted_names: NameSet,
    /// Import aliases in force after this cell (bound name → dotted module or object), the
    /// earlier cells' included: `jl` → `joblib`, `dump` → `joblib.dump`, and `os` → `os` for a
    /// module-level plain `import os`.
    pub aliases: BTreeMap<String, String>,
    /// Module-level names with values known after this cell, the earlier cells' included.
    pub bindings: values::Bindings,
    /// Environment variables the cell reads (`os.getenv`, `os.environ.get`, `os.environ[...]`).
    pub settings: Vec<values::SettingRead>,
    /// Calls of plain names with their arguments' values, anywhere in the cell.
    pub call_sites: Vec<values::CallSite>,
    /// Byte ranges of `__name__ == "__main__"` tests, true in a notebook kernel.
    pub main_guards: Vec<(usize, usize)>,
    /// One entry per top-level statement, in order: what each binds, reads and changes, for
    /// running only the statements the service depends on. Shared, not copied, by the facts
    /// of the service (which keep the cell's facts) and by a parsed cell's next look.
    pub units: Arc<[Unit]>,
    /// Statements that preprocess data (encoders, scalers, `get_dummies`, value tables,
    /// computed columns, pipelines), by line: what the README says the routes replay.
    pub preprocessing: Vec<Preprocessing>,
    /// Model fits whose input visibly keeps neither the data's column names nor its rows.
    pub opaque_fits: Vec<OpaqueFit>,
    /// Names holding a preprocessing object or a value table after this cell, the earlier
    /// cells' included.
    pub held: BTreeMap<String, Held>,
}

/// What a cell inherits from the cells before it.
#[derive(Debug, Clone, Default)]
pub struct Inherited {
    pub aliases: BTreeMap<String, String>,
    pub bindings: values::Bindings,
    /// Names holding a preprocessing object or a value table.
    pub held: BTreeMap<String, Held>,
    /// What the notebook's functions are called with, over the whole notebook (known after a
    /// first look at every cell; empty on the first).
    pub parameters: std::sync::Arc<values::ParameterValues>,
}

impl Inherited {
    /// What the cell after `facts` inherits.
    pub fn after(
        facts: &ModuleFacts,
        parameters: &std::sync::Arc<values::ParameterValues>,
    ) -> Inherited {
        Inherited {
            aliases: facts.aliases.clone(),
            bindings: facts.bindings.clone(),
            held: facts.held.clone(),
            parameters: std::sync::Arc::clone(parameters),
        }
    }
}

/// One imported module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Import {
    /// Dotted module name, e.g. `sklearn.ensemble`. Relative imports keep their leading dots:
    /// `from .util import x` gives `.util`, `from . import x` gives `.`.
    pub module: String,
    /// Names taken by a from-import (`*` included as written); empty for `import module`.
    pub names: Vec<String>,
    /// 1-based line of the import statement.
    pub line: usize,
    /// Whether this is a relative (`from .`) import.
    pub relative: bool,
}

impl Import {
    /// The first component of the module path (`sklearn` for `sklearn.ensemble`). For a
    /// relative import it is the first component after the dots, empty for `from . import x`.
    pub fn top_level(&self) -> &str {
        let module = self.module.trim_start_matches('.');
        module.split('.').next().unwrap_or(module)
    }
}

/// A top-level function definition and its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Function {
    /// The function's name.
    pub name: String,
    /// 1-based line of the `def` keyword (decorators are above it).
    pub line: usize,
    /// Whether it is an `async def`.
    pub is_async: bool,
    /// Parameters in declaration order.
    pub params: Vec<Param>,
    /// Source text of the return annotation, if any.
    pub returns: Option<String>,
    /// The docstring, cleaned like Python's `inspect.cleandoc` (which FastAPI also applies).
    pub docstring: Option<String>,
    /// Module-level names the body reads (free variables that are neither parameters nor
    /// locals, also through nested functions and comprehensions), builtins excluded unless the
    /// cell binds them at module level.
    pub globals_used: NameSet,
    /// Its body has an expression whose analysis reads a value (a call or a subscript): only
    /// then do the values its call sites pass matter to the analysis.
    #[serde(skip)]
    pub reads_arguments: bool,
}

/// One parameter of a [`Function`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Param {
    /// The parameter's name, without `*` or `**`.
    pub name: String,
    /// How arguments bind to it.
    pub kind: ParamKind,
    /// Exact source text of the annotation, e.g. `list[float]`, `Optional[int]`, `"Foo"`.
    pub annotation: Option<String>,
    /// Exact source text of the default value, e.g. `0.5`, `None`, `'adelie'`.
    pub default: Option<String>,
}

/// How a parameter receives its argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ParamKind {
    /// Before a `/`.
    PositionalOnly,
    /// Positional or keyword.
    Regular,
    /// After `*` or `*args`.
    KeywordOnly,
    /// `*args`.
    VarArgs,
    /// `**kwargs`.
    VarKeywords,
}

/// What a [`PathCall`] does with its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PathAccess {
    /// Deserializes an artifact (a model, a pickled object).
    Load,
    /// Serializes an artifact.
    Save,
    /// Reads a data file.
    Read,
    /// Writes a data file.
    Write,
}

/// The library that (de)serializes an artifact, when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Serializer {
    /// `joblib.dump` / `joblib.load`.
    Joblib,
    /// `pickle`, `cloudpickle` or `dill`.
    Pickle,
    /// pandas readers and writers.
    Pandas,
    /// Keras / TensorFlow model files.
    Keras,
    /// `torch.save` / `torch.load`.
    Torch,
    /// numpy readers and writers.
    Numpy,
    /// Another library's own format (xgboost `save_model`, mlflow `load_model`, ...).
    Other,
}

/// A call that receives a file path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathCall {
    /// The callee as written: `joblib.dump`, `pd.read_csv`, `open`, `df.to_pickle`.
    pub function: String,
    /// The path's value when it has exactly one known value, else empty.
    pub path: String,
    /// Every value the path can take, when all are known (a loop over three names gives three);
    /// empty when the path is only known once the notebook runs.
    pub values: Vec<String>,
    /// The path argument's source text, for messages.
    pub written: String,
    /// What the call does with the path.
    pub access: PathAccess,
    /// The library that (de)serializes the file, when known.
    pub serializer: Option<Serializer>,
    /// For `Save`/`Write`: source text of the object written (first argument of `joblib.dump`,
    /// receiver of `.to_pickle`/`.save`). For `Load`/`Read`: the name assigned from the call
    /// (`model = joblib.load(...)` gives `model`).
    pub target: Option<String>,
    /// 1-based line of the path literal.
    pub line: usize,
    /// Byte offset in the cell source where the path argument starts (prefix and quotes
    /// included for a literal).
    pub literal_start: usize,
    /// Byte offset just past the path argument.
    pub literal_end: usize,
}

/// Refuses code nested past [`limits`] before it reaches the parser, which would overflow the
/// stack on it.
pub(crate) fn check_limits(source: &str) -> Result<(), SyntaxError> {
    limits::check(source).map_err(|too_deep| SyntaxError {
        line: too_deep.line,
        column: 1,
        message: too_deep.message,
    })
}

/// Parses one cell and reports its `ModuleFacts`.
///
/// Fails with the parser's first error when the cell is not valid Python 3.
pub fn analyze(source: &str) -> Result<ModuleFacts, SyntaxError> {
    analyze_with(source, &Inherited::default())
}

/// Like [`analyze`], for a cell that follows others: `inherited` holds the import aliases and
/// known values in force after the earlier cells ([`Inherited::after`] the previous cell).
pub fn analyze_with(source: &str, inherited: &Inherited) -> Result<ModuleFacts, SyntaxError> {
    Ok(analyze_parsed(&ParsedCell::parse(source)?, inherited))
}

/// A cell parsed, with what its text alone decides, so that a cell analyzed more than once
/// (the planner looks at every cell again once the call sites of its functions are known) is
/// parsed and resolved once; only what depends on the earlier cells is redone.
pub struct ParsedCell<'s> {
    source: &'s str,
    /// The tree alone: the parser's tokens are dropped, they are as big again.
    module: Tree<'s>,
    lines: LineIndex<'s>,
    names: scope::Names,
    /// Each top-level statement's own names, for its unit.
    statement_names: Vec<scope::Names>,
    /// Shared with the facts of every look, which take them as they are.
    imports: Arc<[Import]>,
    functions: Arc<[Function]>,
    main_guards: Vec<(usize, usize)>,
    trains: bool,
    fitted_names: NameSet,
    /// The statement units of the latest look and the aliases they were found with: the units
    /// depend on nothing else, so a look with the same aliases reuses them.
    units: std::cell::RefCell<Option<UnitsFor>>,
    /// For a tree kept from cleaning, in the cell as written: its offsets moved to the code's.
    relocation: Option<Relocation>,
}

/// Most code whose cells' syntax trees are all kept at once, between extraction and the
/// analysis passes. A heuristic bound on memory: the trees (with the names and units kept
/// beside them) took 29 bytes per byte of code on make_big.py's benchmark notebook (3.5 MiB
/// for 123 kB), so this keeps them under about 8 MiB; a notebook with more code is parsed
/// again on each pass, slower but no bigger.
pub const KEPT_TREES_CODE_BYTES: usize = 256 * 1024;

/// The syntax tree of a cell's IPython-syntax parse, which cleaning the cell needs anyway,
/// kept so that analysis does not parse the cleaned code again. It stands for the cleaned code
/// when every IPython escape in the cell was a statement on a line of its own that became a
/// `pass` placeholder on that line: every other line is the same text, so the lines, the
/// names, the values and every text the analysis takes from the tree are the cleaned code's,
/// and an escape statement, like the `pass` it became, binds, reads and does nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanedTree {
    /// The text the tree's byte offsets are in: the cell as written, when escapes were
    /// replaced; `None` when cleaning changed nothing and the tree is the code's own.
    pub escaped_source: Option<String>,
    /// Where each escape statement is in `escaped_source`, now a `pass` at the same place.
    pub escapes: Vec<TextRange>,
    pub module: ruff_python_ast::ModModule,
}

/// Byte offsets in a cell as written moved to its cleaned code: line for line, since every
/// line but an escape's is the same text in both, and the end of an escape to the end of the
/// `pass` it became.
struct Relocation {
    /// Where each line of the cleaned code starts.
    to: Vec<usize>,
    escapes: Vec<TextRange>,
}

impl Relocation {
    /// `offset` in the cell as written, whose lines are `from`, moved to the cleaned code.
    fn offset(&self, from: &LineIndex, offset: usize) -> usize {
        let line = from.starts.partition_point(|&start| start <= offset).max(1);
        let moved = |at: usize| {
            self.to
                .get(line - 1)
                .map_or(at, |start| start + (at - from.starts[line - 1]))
        };
        match self.escapes.iter().find(|e| e.end().to_usize() == offset) {
            Some(escape) => moved(escape.start().to_usize()) + "pass".len(),
            None => moved(offset),
        }
    }
}

/// A cell's tree: parsed for the analysis, or kept from cleaning the cell.
enum Tree<'s> {
    Parsed(ruff_python_ast::ModModule),
    Kept(&'s ruff_python_ast::ModModule),
}

impl std::ops::Deref for Tree<'_> {
    type Target = ruff_python_ast::ModModule;

    fn deref(&self) -> &ruff_python_ast::ModModule {
        match self {
            Tree::Parsed(module) => module,
            Tree::Kept(module) => module,
        }
    }
}

/// The bulk of a [`ParsedCell`], held only to be freed.
pub struct OwnedParts {
    _module: Option<ruff_python_ast::ModModule>,
    _names: scope::Names,
    _statement_names: Vec<scope::Names>,
    _units: Option<UnitsFor>,
}

/// Statement units and the import aliases they were found with.
type UnitsFor = (BTreeMap<String, String>, Arc<[Unit]>);

impl<'s> ParsedCell<'s> {
    /// Parses `source`; fails with the parser's first error when it is not valid Python 3.
    pub fn parse(source: &'s str) -> Result<ParsedCell<'s>, SyntaxError> {
        check_limits(source)?;
        let module = parse_module(source)
            .map_err(|err| syntax_error(source, &err))?
            .into_syntax();
        Ok(Self::of_tree(source, Tree::Parsed(module)))
    }

    /// The cleaned `code` of a cell, from the tree kept when cleaning it when there is one
    /// (its nesting was checked then), else parsed.
    pub fn of_cleaned(
        code: &'s str,
        kept: Option<&'s CleanedTree>,
    ) -> Result<ParsedCell<'s>, SyntaxError> {
        let Some(kept) = kept else {
            return Self::parse(code);
        };
        let Some(escaped) = kept.escaped_source.as_deref() else {
            return Ok(Self::of_tree(code, Tree::Kept(&kept.module)));
        };
        let mut cell = Self::of_tree(escaped, Tree::Kept(&kept.module));
        let relocation = Relocation {
            to: line_starts(code),
            escapes: kept.escapes.clone(),
        };
        for guard in &mut cell.main_guards {
            *guard = (
                relocation.offset(&cell.lines, guard.0),
                relocation.offset(&cell.lines, guard.1),
            );
        }
        cell.relocation = Some(relocation);
        Ok(cell)
    }

    /// Moves the byte offsets of `calls`, found in this cell's tree, to its cleaned code.
    fn relocate_calls(&self, calls: &mut [PathCall]) {
        if let Some(relocation) = &self.relocation {
            for call in calls {
                call.literal_start = relocation.offset(&self.lines, call.literal_start);
                call.literal_end = relocation.offset(&self.lines, call.literal_end);
            }
        }
    }

    fn of_tree(source: &'s str, module: Tree<'s>) -> ParsedCell<'s> {
        let lines = LineIndex::new(source);
        let body = &module.body;
        let (names, statement_names) = scope::resolve_with_statements(body);
        let (trains, fitted_names) = facts::trains(body);
        ParsedCell {
            imports: facts::imports(body, &lines).into(),
            functions: facts::functions(body, source, &lines, &names.function_globals).into(),
            main_guards: facts::main_guards(body),
            statement_names,
            trains,
            fitted_names: fitted_names.into(),
            names,
            lines,
            source,
            module,
            units: std::cell::RefCell::new(None),
            relocation: None,
        }
    }

    /// What the cell owns, without its borrow of the source: its tree and what was found in
    /// it, which can then be freed on another thread ([`crate::parallel::drop_in_background`]).
    pub fn into_owned(self) -> OwnedParts {
        OwnedParts {
            _module: match self.module {
                Tree::Parsed(module) => Some(module),
                Tree::Kept(_) => None,
            },
            _names: self.names,
            _statement_names: self.statement_names,
            _units: self.units.into_inner(),
        }
    }

    fn units(&self, aliases: &BTreeMap<String, String>) -> Arc<[Unit]> {
        let mut cached = self.units.borrow_mut();
        match &*cached {
            Some((for_aliases, units)) if for_aliases == aliases => Arc::clone(units),
            _ => {
                let mut units = units::units(
                    &self.module.body,
                    &self.lines,
                    aliases,
                    &self.statement_names,
                );
                if let Some(relocation) = &self.relocation {
                    for unit in &mut units {
                        unit.start = relocation.offset(&self.lines, unit.start);
                        unit.end = relocation.offset(&self.lines, unit.end);
                    }
                }
                let units: Arc<[Unit]> = units.into();
                *cached = Some((aliases.clone(), Arc::clone(&units)));
                units
            }
        }
    }
}

/// [`analyze_with`] for a cell already parsed.
pub fn analyze_parsed(cell: &ParsedCell<'_>, inherited: &Inherited) -> ModuleFacts {
    let (source, lines) = (cell.source, &cell.lines);
    let body = &cell.module.body;
    let mut found = paths::find(
        body,
        source,
        lines,
        &inherited.aliases,
        &inherited.bindings,
        &inherited.parameters,
    );
    cell.relocate_calls(&mut found.calls);
    units::add_plain_imports(body, &mut found.aliases);
    // The aliases after the cell: a cell imports at its top what its statements use.
    let units = cell.units(&found.aliases);
    let preprocessing = preprocessing::find(body, source, lines, &found.aliases, &inherited.held);
    ModuleFacts {
        imports: Arc::clone(&cell.imports),
        functions: Arc::clone(&cell.functions),
        path_calls: found.calls,
        aliases: found.aliases,
        bindings: found.bindings,
        settings: found.settings,
        call_sites: found.call_sites,
        main_guards: cell.main_guards.clone(),
        bound_names: cell.names.bound.clone(),
        loaded_names: cell.names.loaded.clone(),
        trains: cell.trains,
        fitted_names: cell.fitted_names.clone(),
        units,
        preprocessing: preprocessing.steps,
        opaque_fits: preprocessing.opaque_fits,
        held: preprocessing.held,
    }
}

/// Whether `name` appears in `text` as a whole identifier (not inside a longer one). For text
/// that does not parse, where names cannot be resolved.
pub fn mentions_identifier(text: &str, name: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(name).any(|(start, _)| {
        let before = text[..start].chars().next_back();
        let after = text[start + name.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// Converts a parser error into a [`SyntaxError`] located in `source`.
fn syntax_error(source: &str, err: &ParseError) -> SyntaxError {
    let (line, column) = LineIndex::new(source).line_column(err.location.start());
    SyntaxError {
        line,
        column,
        message: err.error.to_string(),
    }
}

/// Byte offsets of line starts, to turn parser offsets into 1-based lines and columns.
///
/// Lines end at `\n`, `\r\n` or a lone `\r`, as in Python's tokenizer.
pub(crate) struct LineIndex<'src> {
    source: &'src str,
    starts: Vec<usize>,
}

impl<'src> LineIndex<'src> {
    pub(crate) fn new(source: &'src str) -> Self {
        Self {
            source,
            starts: line_starts(source),
        }
    }

    /// 1-based line containing `offset`.
    pub(crate) fn line(&self, offset: TextSize) -> usize {
        self.line_column(offset).0
    }

    /// 1-based line and character column of `offset` (clamped to the source).
    pub(crate) fn line_column(&self, offset: TextSize) -> (usize, usize) {
        let offset = offset.to_usize().min(self.source.len());
        let line = self.starts.partition_point(|&start| start <= offset).max(1);
        let start = self.starts[line - 1];
        let column = match self.source.get(start..offset) {
            Some(prefix) => prefix.chars().count(),
            None => offset - start,
        };
        (line, column + 1)
    }
}

/// Byte offsets where each line of `source` starts; the first is always 0.
pub(crate) fn line_starts(source: &str) -> Vec<usize> {
    let bytes = source.as_bytes();
    let mut starts = vec![0];
    for (i, &byte) in bytes.iter().enumerate() {
        let ends_line = byte == b'\n' || (byte == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
        if ends_line {
            starts.push(i + 1);
        }
    }
    starts
}

/// Source text of `range`, empty if the range does not fit `source`.
pub(crate) fn text(source: &str, range: TextRange) -> &str {
    source
        .get(range.start().to_usize()..range.end().to_usize())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = analyze("x = 1\ny = (2 +\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(!err.message.is_empty());

        let err = analyze("a = 1\nb = = 2\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 5), "{err}");
        assert!(err
            .to_string()
            .starts_with("invalid python at line 2, column 5: "));
    }

    #[test]
    fn syntax_error_columns_count_characters_not_bytes() {
        // "ñandú" is 5 characters but 7 bytes; the stray `)` is the 13th character.
        let err = analyze("# años\nx = \"ñandú\" )\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 13), "{err}");
    }

    #[test]
    fn python2_print_is_a_syntax_error() {
        let err = analyze("print \"hola\"\n").unwrap_err();
        assert_eq!(err.line, 1);
    }

    #[test]
    fn line_index_handles_all_line_endings() {
        assert_eq!(line_starts("a\nb\r\nc\rd"), vec![0, 2, 5, 7]);
        let index = LineIndex::new("a\r\nbb");
        assert_eq!(index.line_column(TextSize::new(4)), (2, 2));
        assert_eq!(index.line_column(TextSize::new(99)), (2, 3));
    }

    #[test]
    fn import_top_level_strips_submodules_and_dots() {
        let import = |module: &str| Import {
            module: module.to_string(),
            names: vec![],
            line: 1,
            relative: module.starts_with('.'),
        };
        assert_eq!(import("sklearn.ensemble").top_level(), "sklearn");
        assert_eq!(import("os").top_level(), "os");
        assert_eq!(import(".util.io").top_level(), "util");
        assert_eq!(import(".").top_level(), "");
    }

    #[test]
    fn spanish_source_gives_character_columns_and_values() {
        let source = "# Cargamos el modelo del pingüino (año 2024)\n\
                      modelo = joblib.load(\"modelos/pingüino_señal.pkl\")  # á\n";
        let facts = analyze(source).unwrap();
        let call = &facts.path_calls[0];
        assert_eq!(call.path, "modelos/pingüino_señal.pkl");
        assert_eq!(
            &source[call.literal_start..call.literal_end],
            "\"modelos/pingüino_señal.pkl\""
        );
        assert_eq!(call.line, 2);
        assert_eq!(call.target.as_deref(), Some("modelo"));
    }

    #[test]
    fn odd_sources_never_panic() {
        let sources = [
            "",
            "\n\n",
            "\u{feff}x = 1",
            "\r",
            "def",
            "def f(:",
            "'''unterminated",
            "f'{",
            "f\"{x!z}\"",
            "x = (",
            "lambda: (yield)",
            "class C(\n",
            "async def f(): await x",
            "@\n",
            "é = ñ",
            "x = 1 \\\n+ 2",
            "\t\tx = 1",
            "if x:\n\tpass\n        pass",
            "match x:\n case {**rest}: pass\n case [*_, y] if y: pass",
            "type X[T] = list[T]",
            "del a, b[0]",
            "global g\nnonlocal n",
            "joblib.dump(",
            "open(\"a\", mode=)",
            "os.path.join()",
            "Path()",
            "pickle.dump(x, open())",
            "with open() as f: pickle.dump(x, f)",
            "[(y := x) for x in range(3)]",
            "\u{0}",
            "x = '\u{0}'",
            "💥 = 1",
            "x = \"💥\"; y = )",
        ];
        for source in sources {
            let _ = analyze(source);
            let _ = indent_block(source, "    ");
        }
    }

    /// Code cells of one notebook (v3 or v4) and whether its kernel is Python 2.
    fn code_cells(notebook: &serde_json::Value) -> (Vec<String>, bool) {
        let join = |source: &serde_json::Value| match source {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Array(lines) => {
                lines.iter().filter_map(|line| line.as_str()).collect()
            }
            _ => String::new(),
        };
        let v3 = notebook.get("nbformat").and_then(|n| n.as_u64()) == Some(3);
        let cells: Vec<&serde_json::Value> = if v3 {
            notebook["worksheets"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|sheet| sheet["cells"].as_array().into_iter().flatten())
                .collect()
        } else {
            notebook["cells"].as_array().into_iter().flatten().collect()
        };
        let key = if v3 { "input" } else { "source" };
        let sources = cells
            .into_iter()
            .filter(|cell| cell["cell_type"] == "code")
            .map(|cell| join(&cell[key]))
            .collect();
        let metadata = &notebook["metadata"];
        let kernel = metadata["kernelspec"]["name"].as_str().unwrap_or_default();
        let version = metadata["language_info"]["version"]
            .as_str()
            .unwrap_or_default();
        let python2 = v3 || kernel == "python2" || version.starts_with("2.");
        (sources, python2)
    }

    fn uses_magics(cell: &str) -> bool {
        cell.lines().any(|line| {
            let line = line.trim();
            line.starts_with('%') || line.starts_with('!') || line.ends_with('?')
        })
    }

    /// Corpus notebooks with a code cell that is not Python at all, and why.
    const NOT_PYTHON: &[(&str, &str)] = &[(
        "s_2023_deiru_train_predict/train/prueba.ipynb",
        "a code cell holding a plain-text outline",
    )];

    #[test]
    fn analyzes_every_code_cell_of_the_corpus() {
        let Some(corpus) = crate::test_support::corpus_dir() else {
            println!("note: ../shared/corpus is missing; corpus test skipped");
            return;
        };
        let notebooks = crate::test_support::notebooks_under(&corpus);
        let (mut analysed, mut failed, mut skipped, mut path_calls) = (0, 0, 0, 0);
        let mut unexpected = Vec::new();
        for path in &notebooks {
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            let Ok(notebook) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            let (cells, python2) = code_cells(&notebook);
            let relative = path.strip_prefix(&corpus).unwrap_or(path);
            let not_python = NOT_PYTHON
                .iter()
                .any(|(known, _)| relative == std::path::Path::new(known));
            for cell in cells {
                if uses_magics(&cell) {
                    skipped += 1;
                    continue;
                }
                match analyze(&cell) {
                    Ok(facts) => {
                        analysed += 1;
                        path_calls += facts.path_calls.len();
                        let indented = indent_block(&cell, "    ").unwrap();
                        let wrapped = format!("if True:\n{indented}\n    pass\n");
                        let reparsed = ruff_python_parser::parse_module(&wrapped);
                        assert!(
                            reparsed.is_ok(),
                            "{}: indented cell\n{wrapped}",
                            path.display()
                        );
                    }
                    Err(_) if python2 || not_python => failed += 1,
                    Err(err) => unexpected.push(format!("{}: {err}\n{cell}", path.display())),
                }
            }
        }
        println!(
            "corpus: {} notebooks, {analysed} cells analysed, {failed} python 2 or known \
             non-python cells rejected, {skipped} cells with magics skipped, \
             {path_calls} path calls found",
            notebooks.len()
        );
        assert!(unexpected.is_empty(), "{}", unexpected.join("\n----\n"));
        assert!(analysed > 0);
    }
}
