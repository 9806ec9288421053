//! One record per top-level statement of a cell: the names it binds, reads and changes in
//! place, the notebook functions it calls, and whether it changes the process or fetches data.
//!
//! These are the facts a dataflow slice needs to run only what the service depends on. Names
//! come from `scope` run on the one statement, so a statement's reads are exactly the ones
//! that reach the module scope. What counts as "changing in place" is a heuristic (see
//! [`READ_ONLY_METHODS`]); it errs towards saying a call changes its receiver.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Comprehension, Expr, ExprCall, ExprContext, Stmt};
use ruff_text_size::{Ranged, TextSize};
use serde::Serialize;

use super::effects::{self, Effect};
use super::{scope, LineIndex, NameSet};

/// One top-level statement of a cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unit {
    /// Byte offset in the cell source where the statement starts (its first decorator for a
    /// decorated `def` or `class`).
    pub start: usize,
    /// Byte offset just past the statement (a trailing comment is not included).
    pub end: usize,
    /// 1-based line of `start`.
    pub first_line: usize,
    /// 1-based line of the statement's last character.
    pub last_line: usize,
    /// Module-level names the statement binds (names declared `global` in a `def` included).
    pub bound: NameSet,
    /// Module-level names the statement reads, the free globals of its functions included.
    /// Builtins are left out unless the statement binds them; see `builtins_read`.
    pub loaded: NameSet,
    /// Builtin names the statement reads without binding them: another statement may rebind
    /// them (`sum = 0`, `input = df[cols]`).
    pub builtins_read: NameSet,
    /// Root names the statement may change in place: `x[..] = `, `x.a = `, `del x[..]`, and
    /// `x.m(..)` / `x.a.m(..)` unless `m` is a known read-only method. A loop variable stands
    /// for what it loops over (`for m in models.values(): m.fit(..)` changes `models`). Function
    /// bodies are not included: see `mutated_when_called`.
    pub mutated: NameSet,
    /// Plain names called anywhere in the statement, function bodies included:
    /// `train_and_save` in `train_and_save(models)`.
    pub calls: NameSet,
    /// Why the statement must run whatever it binds (outside function bodies).
    pub effect: Option<Effect>,
    /// The names of the `def`s this statement is (one, or none).
    pub defines_functions: Vec<String>,
    /// For a `def`: module-level names its body may change in place when it is called.
    pub mutated_when_called: NameSet,
    /// For a `def`: the effect its body has when it is called.
    pub effect_when_called: Option<Effect>,
}

/// Methods taken not to change their receiver. A heuristic list: pandas, numpy and sklearn
/// reads, plotting and printing, and pandas methods that return a new object unless given
/// `inplace=True` (which always counts as a change). Any other method call is taken to change
/// its receiver, which keeps more statements than needed rather than fewer.
#[rustfmt::skip]
pub(crate) const READ_ONLY_METHODS: &[&str] = &[
    // Looking at data.
    "head", "tail", "describe", "info", "sample", "value_counts", "nunique", "unique",
    "isnull", "isna", "notnull", "notna", "isin", "duplicated", "corr", "cov", "memory_usage",
    "equals", "between", "all", "any", "count", "sum", "mean", "median", "std", "var", "min",
    "max", "mode", "quantile", "prod", "skew", "kurt", "cumsum", "diff", "shift", "clip",
    "round", "abs", "argmax", "argmin", "idxmax", "idxmin", "nlargest", "nsmallest",
    "groupby", "rolling", "resample", "agg", "aggregate", "pivot", "pivot_table", "melt",
    "select_dtypes", "filter", "query", "where", "apply", "map", "merge", "join", "astype",
    "copy", "keys", "items", "values", "get", "iterrows", "itertuples", "reshape", "flatten",
    "ravel", "item", "tolist", "numpy", "detach", "cpu",
    // Copies unless `inplace=True`.
    "drop", "dropna", "drop_duplicates", "fillna", "rename", "replace", "reset_index",
    "set_index", "sort_values", "sort_index",
    // Strings.
    "format", "split", "strip", "lower", "upper", "startswith", "endswith", "encode", "decode",
    "find", "index",
    // Fitted models, used.
    "predict", "predict_proba", "predict_log_proba", "decision_function", "score",
    "transform", "inverse_transform", "get_params", "get_feature_names_out", "summary",
    "evaluate",
    // Plots and reports.
    "plot", "hist", "boxplot", "show", "savefig", "write_html", "write_image",
];

/// Accessors whose methods return new objects: `df.plot.scatter(..)`, `s.str.lower()`.
const READ_ONLY_ACCESSORS: &[&str] = &["plot", "style", "str", "dt"];

/// Methods named `to_*` export their receiver (`to_numpy`, `to_html`, `to_file`); they do not
/// change it. Part of the same heuristic.
const EXPORT_PREFIX: &str = "to_";

/// The units of a module body, one per statement, in order. `aliases` are the import aliases
/// in force in the cell (earlier cells' included, see [`add_plain_imports`]).
/// `names` are each statement's own ([`scope::resolve_with_statements`]), which depend on
/// nothing else.
pub(crate) fn units(
    body: &[Stmt],
    lines: &LineIndex,
    aliases: &BTreeMap<String, String>,
    names: &[scope::Names],
) -> Vec<Unit> {
    body.iter()
        .zip(names)
        .map(|(stmt, names)| unit(stmt, lines, aliases, names))
        .collect()
}

/// Records each module-level plain `import x` (or `import x.y`) as the alias `x` → `x`, so
/// that this cell and later ones know `x` is a module. Resolving `x` through it gives `x`, so
/// the callee names `paths` resolves do not change.
pub(crate) fn add_plain_imports(body: &[Stmt], aliases: &mut BTreeMap<String, String>) {
    for stmt in body {
        let Stmt::Import(import) = stmt else {
            continue;
        };
        for alias in import.names.iter().filter(|alias| alias.asname.is_none()) {
            let bound = alias.name.as_str().split('.').next().unwrap_or_default();
            aliases.insert(bound.to_string(), bound.to_string());
        }
    }
}

fn unit(
    stmt: &Stmt,
    lines: &LineIndex,
    aliases: &BTreeMap<String, String>,
    names: &scope::Names,
) -> Unit {
    let range = stmt.range();
    let mut walker = Walker {
        aliases,
        function_depth: 0,
        loop_roots: HashMap::new(),
        mutated: BTreeSet::new(),
        mutated_when_called: BTreeSet::new(),
        calls: BTreeSet::new(),
        effect: None,
        effect_when_called: None,
    };
    walker.visit_stmt(stmt);
    let defines_functions = match stmt {
        Stmt::FunctionDef(def) => vec![def.name.to_string()],
        _ => Vec::new(),
    };
    // A function's body changes module state only through names that are globals there.
    let mutated_when_called = walker
        .mutated_when_called
        .iter()
        .filter(|name| names.loaded.contains(name))
        .cloned()
        .collect();
    let last = range
        .end()
        .to_usize()
        .saturating_sub(1)
        .max(range.start().to_usize());
    Unit {
        start: range.start().to_usize(),
        end: range.end().to_usize(),
        first_line: lines.line(range.start()),
        last_line: lines.line(TextSize::try_from(last).unwrap_or(range.end())),
        bound: names.bound.clone(),
        loaded: names.loaded.clone(),
        builtins_read: names.builtins.clone(),
        mutated: walker.mutated.into(),
        calls: walker.calls.into(),
        effect: walker.effect,
        defines_functions,
        mutated_when_called,
        effect_when_called: walker.effect_when_called,
    }
}

struct Walker<'a> {
    /// Import aliases; their names are modules (or imported objects), and calling a function
    /// of a module (`np.mean(x)`, `sns.pairplot(df)`) does not change the module.
    aliases: &'a BTreeMap<String, String>,
    /// How many function bodies (`def`, `lambda`) the walk is inside.
    function_depth: usize,
    /// Loop and comprehension variables → the names their iterable reads.
    loop_roots: HashMap<String, BTreeSet<String>>,
    mutated: BTreeSet<String>,
    mutated_when_called: BTreeSet<String>,
    calls: BTreeSet<String>,
    effect: Option<Effect>,
    effect_when_called: Option<Effect>,
}

impl Walker<'_> {
    fn change(&mut self, root: &str) {
        let mut roots = vec![root.to_string()];
        if let Some(through) = self.loop_roots.get(root) {
            roots.extend(through.iter().cloned());
        }
        let into = match self.function_depth {
            0 => &mut self.mutated,
            _ => &mut self.mutated_when_called,
        };
        into.extend(roots);
    }

    fn record_effect(&mut self, effect: Option<Effect>) {
        let slot = match self.function_depth {
            0 => &mut self.effect,
            _ => &mut self.effect_when_called,
        };
        if slot.is_none() {
            *slot = effect;
        }
    }

    /// `for target in iter`: each name in `target` stands for the names `iter` reads, and for
    /// what those stand for in an enclosing loop.
    fn bind_loop(&mut self, target: &Expr, iter: &Expr) {
        let mut sources = BTreeSet::new();
        collect_names(iter, ExprContext::Load, &mut sources);
        let expanded: BTreeSet<String> = sources
            .iter()
            .flat_map(|name| {
                let through = self.loop_roots.get(name).into_iter().flatten().cloned();
                std::iter::once(name.clone()).chain(through)
            })
            .collect();
        let mut targets = BTreeSet::new();
        collect_names(target, ExprContext::Store, &mut targets);
        for name in targets {
            self.loop_roots
                .entry(name)
                .or_default()
                .extend(expanded.iter().cloned());
        }
    }

    fn visit_call(&mut self, call: &ExprCall) {
        match call.func.as_ref() {
            Expr::Name(name) => {
                self.calls.insert(name.id.to_string());
            }
            Expr::Attribute(attribute) => {
                if let Some((root, through_accessor)) = receiver_root(&attribute.value) {
                    let method = attribute.attr.as_str();
                    let read_only = READ_ONLY_METHODS.contains(&method)
                        || method.starts_with(EXPORT_PREFIX)
                        || through_accessor;
                    let changes = inplace(call) || (!read_only && !self.aliases.contains_key(root));
                    if changes {
                        self.change(root);
                    }
                }
            }
            _ => {}
        }
        self.record_effect(effects::of_call(call, self.aliases));
    }
}

impl<'a> Visitor<'a> for Walker<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(_) => {
                self.function_depth += 1;
                visitor::walk_stmt(self, stmt);
                self.function_depth -= 1;
            }
            Stmt::For(each) => {
                self.bind_loop(&each.target, &each.iter);
                visitor::walk_stmt(self, stmt);
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Lambda(_) => {
                self.function_depth += 1;
                visitor::walk_expr(self, expr);
                self.function_depth -= 1;
                return;
            }
            Expr::Call(call) => self.visit_call(call),
            Expr::Attribute(attribute) if is_store(attribute.ctx) => {
                if let Some((root, _)) = receiver_root(&attribute.value) {
                    self.change(root);
                }
                self.record_effect(effects::of_store(expr, self.aliases));
            }
            Expr::Subscript(subscript) if is_store(subscript.ctx) => {
                if let Some((root, _)) = receiver_root(&subscript.value) {
                    self.change(root);
                }
                self.record_effect(effects::of_store(expr, self.aliases));
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }

    fn visit_comprehension(&mut self, comprehension: &'a Comprehension) {
        self.bind_loop(&comprehension.target, &comprehension.iter);
        visitor::walk_comprehension(self, comprehension);
    }
}

fn is_store(ctx: ExprContext) -> bool {
    matches!(ctx, ExprContext::Store | ExprContext::Del)
}

/// The name at the bottom of a chain of attributes and subscripts (`df` in `df["a"].loc`), and
/// whether the chain goes through a read-only accessor. A chain through a call has no root:
/// `ProfileReport(df).to_file(..)` changes a new object, not `df`.
fn receiver_root(expr: &Expr) -> Option<(&str, bool)> {
    match expr {
        Expr::Name(name) => Some((name.id.as_str(), false)),
        Expr::Attribute(attribute) => {
            let (root, accessor) = receiver_root(&attribute.value)?;
            let here = READ_ONLY_ACCESSORS.contains(&attribute.attr.as_str());
            Some((root, accessor || here))
        }
        Expr::Subscript(subscript) => receiver_root(&subscript.value),
        _ => None,
    }
}

/// `inplace=` given anything but a literal `False`.
fn inplace(call: &ExprCall) -> bool {
    call.arguments.keywords.iter().any(|keyword| {
        keyword
            .arg
            .as_ref()
            .is_some_and(|arg| arg.as_str() == "inplace")
            && !matches!(&keyword.value, Expr::BooleanLiteral(b) if !b.value)
    })
}

/// Names in `expr` used in `ctx` (loads of an iterable, stores of a loop target).
fn collect_names(expr: &Expr, ctx: ExprContext, into: &mut BTreeSet<String>) {
    struct Names<'n> {
        ctx: ExprContext,
        into: &'n mut BTreeSet<String>,
    }
    impl<'a> Visitor<'a> for Names<'_> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Name(name) = expr {
                if name.ctx == self.ctx {
                    self.into.insert(name.id.to_string());
                }
            }
            visitor::walk_expr(self, expr);
        }
    }
    Names { ctx, into }.visit_expr(expr);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::{analyze, analyze_with, Inherited};

    fn set(items: &[&str]) -> NameSet {
        items.iter().map(|item| item.to_string()).collect()
    }

    fn units_of(source: &str) -> Vec<Unit> {
        analyze(source)
            .unwrap_or_else(|err| panic!("{err}\n{source}"))
            .units
            .to_vec()
    }

    fn only(source: &str) -> Unit {
        let mut units = units_of(source);
        assert_eq!(units.len(), 1, "{source}");
        units.remove(0)
    }

    #[test]
    fn one_unit_per_top_level_statement_with_ranges_and_lines() {
        let source =
            "import pandas as pd\n\n@decorate\ndef f(x):\n    return x\n\nx = 1; y = (2,\n 3)\n";
        let units = units_of(source);
        assert_eq!(units.len(), 4);
        let spans: Vec<(usize, usize)> =
            units.iter().map(|u| (u.first_line, u.last_line)).collect();
        assert_eq!(spans, vec![(1, 1), (3, 5), (7, 7), (7, 8)]);
        assert_eq!(
            &source[units[1].start..units[1].end],
            "@decorate\ndef f(x):\n    return x"
        );
        assert_eq!(&source[units[3].start..units[3].end], "y = (2,\n 3)");
        assert_eq!(units[1].defines_functions, vec!["f".to_string()]);
        assert_eq!(units[0].bound, set(&["pd"]));
    }

    #[test]
    fn binds_and_reads_per_statement() {
        let units =
            units_of("df = pd.read_csv(p)\ndef g():\n    global model\n    model = load(df)\n");
        assert_eq!(units[0].bound, set(&["df"]));
        assert_eq!(units[0].loaded, set(&["p", "pd"]));
        assert_eq!(units[1].bound, set(&["g", "model"]));
        assert_eq!(units[1].loaded, set(&["df", "load"]));
        assert_eq!(units[1].calls, set(&["load"]));
    }

    #[test]
    fn builtins_read_are_kept_apart() {
        let unit = only("print(sum(values))");
        assert_eq!(unit.loaded, set(&["values"]));
        assert_eq!(unit.builtins_read, set(&["print", "sum"]));
    }

    #[test]
    fn in_place_changes_of_roots() {
        let cases: &[(&str, &[&str])] = &[
            ("df['a'] = 1", &["df"]),
            ("df.loc[m, 'a'] = 0", &["df"]),
            ("obj.attr.x = 1", &["obj"]),
            ("del cache['k']", &["cache"]),
            ("counts['a'] += 1", &["counts"]),
            ("x += 1", &[]),
            ("model.fit(X, y)", &["model"]),
            ("pipe.steps.append(s)", &["pipe"]),
            ("df.dropna(inplace=True)", &["df"]),
            ("df['c'].fillna(0, inplace=True)", &["df"]),
            ("df.dropna()", &[]),
            ("df.dropna(inplace=False)", &[]),
            ("df.head()", &[]),
            ("df.plot.scatter(x='a', y='b')", &[]),
            ("df.describe().T.plot()", &[]),
            ("ProfileReport(df).to_file('r.html')", &[]),
            ("df.to_numpy()", &[]),
            ("print(df.shape)", &[]),
            (
                "if ok:\n    for m in ms:\n        m.fit(X, y)",
                &["m", "ms"],
            ),
            (
                "for name, m in models.items():\n    m.fit(X, y)",
                &["m", "models"],
            ),
            ("[m.fit(X, y) for m in models]", &["m", "models"]),
            ("def f():\n    df['a'] = 1", &[]),
            ("f = lambda: model.fit(X, y)", &[]),
            ("class C:\n    registry.add(1)", &["registry"]),
        ];
        for (source, expected) in cases {
            assert_eq!(only(source).mutated, set(expected), "{source}");
        }
    }

    #[test]
    fn calls_on_imported_modules_change_nothing() {
        let facts = analyze(
            "import seaborn as sns\nimport numpy\nsns.pairplot(df)\nnumpy.mean(x)\nplt.show()\n",
        )
        .unwrap();
        for unit in facts.units.iter() {
            assert!(unit.mutated.is_empty(), "{unit:?}");
        }
        // A store still counts, even on a module.
        let facts = analyze("import matplotlib.pyplot as plt\nplt.rcParams['a'] = 1\n").unwrap();
        assert_eq!(facts.units[1].mutated, set(&["plt"]));
    }

    #[test]
    fn function_bodies_change_their_globals_when_called() {
        let unit = only(
            "def clean():\n    local = []\n    local.append(1)\n    df.dropna(inplace=True)\n",
        );
        assert!(unit.mutated.is_empty());
        assert_eq!(unit.mutated_when_called, set(&["df"]));
        let unit = only("def setup():\n    os.chdir('..')\n");
        assert_eq!(unit.effect, None);
        assert_eq!(
            unit.effect_when_called,
            Some(Effect::Process("os.chdir".into()))
        );
    }

    #[test]
    fn calls_are_plain_names_anywhere() {
        let unit = only("for m in models:\n    train_and_save(m, helper.run(x))");
        assert_eq!(unit.calls, set(&["train_and_save"]));
    }

    #[test]
    fn effects_resolve_aliases() {
        let process = |what: &str| Some(Effect::Process(what.to_string()));
        let fetch = |what: &str| Some(Effect::Fetch(what.to_string()));
        let cases: &[(&str, Option<Effect>)] = &[
            ("os.chdir('..')", process("os.chdir")),
            ("sys.path.append('..')", process("sys.path.append")),
            ("sys.path.insert(0, 'src')", process("sys.path.insert")),
            ("sys.path = ['x']", process("sys.path")),
            ("os.environ['KERAS_BACKEND'] = 'jax'", process("os.environ")),
            (
                "os.environ.setdefault('A', 'b')",
                process("os.environ.setdefault"),
            ),
            (
                "from os import environ\nenviron['A'] = 'b'",
                process("os.environ"),
            ),
            (
                "os.makedirs('models', exist_ok=True)",
                process("os.makedirs"),
            ),
            ("Path('models').mkdir(parents=True)", process("mkdir")),
            ("np.random.seed(0)", process("numpy.random.seed")),
            (
                "import numpy as xp\nxp.random.seed(0)",
                process("numpy.random.seed"),
            ),
            (
                "tf.random.set_seed(1)",
                process("tensorflow.random.set_seed"),
            ),
            (
                "import torch\ntorch.manual_seed(1)",
                process("torch.manual_seed"),
            ),
            ("from random import seed\nseed(3)", process("random.seed")),
            (
                "keras.utils.set_random_seed(1)",
                process("keras.utils.set_random_seed"),
            ),
            (
                "_nb2svc_fetch.download('https://x/y.csv', 'y.csv')",
                fetch("_nb2svc_fetch.download"),
            ),
            (
                "_nb2svc_fetch.unpack('y.zip')",
                fetch("_nb2svc_fetch.unpack"),
            ),
            (
                "from urllib.request import urlretrieve\nurlretrieve(u, 'a.csv')",
                fetch("urllib.request.urlretrieve"),
            ),
            (
                "__import__('os').makedirs('data', exist_ok=True)",
                fetch("os.makedirs"),
            ),
            ("df.head()", None),
            ("random.shuffle(rows)", None),
        ];
        for (source, expected) in cases {
            let units = units_of(source);
            assert_eq!(&units.last().unwrap().effect, expected, "{source}");
        }
    }

    #[test]
    fn plain_imports_of_earlier_cells_are_modules() {
        let first = analyze("import joblib\nimport os.path\n").unwrap();
        assert_eq!(
            first.aliases.get("joblib").map(String::as_str),
            Some("joblib")
        );
        assert_eq!(first.aliases.get("os").map(String::as_str), Some("os"));
        let second = analyze_with(
            "joblib.dump(m, p)\nos.path.exists(p)\n",
            &Inherited::after(&first, &Default::default()),
        )
        .unwrap();
        assert!(second.units.iter().all(|unit| unit.mutated.is_empty()));
    }

    #[test]
    fn earlier_cells_aliases_resolve_effects() {
        let first = analyze("import numpy as xp\n").unwrap();
        let second = analyze_with(
            "xp.random.seed(0)\n",
            &Inherited::after(&first, &Default::default()),
        )
        .unwrap();
        assert_eq!(
            second.units[0].effect,
            Some(Effect::Process("numpy.random.seed".into()))
        );
    }
}
