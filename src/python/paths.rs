//! Literal file paths a cell hands to artifact and data-file calls.
//!
//! A call is recognised from its callee: module functions by their dotted name after resolving
//! the cell's import aliases (`rules::MODULE_RULES`), methods on any other receiver by the
//! method's name (`rules::METHOD_RULES`), and the builtin `open`. Only paths spelled as one
//! plain string literal count, optionally wrapped in `Path(...)`, or `os.path.join(...)` of
//! literals; a path held in a variable, an f-string or a concatenation is not reported.
//! Whether a path should be rewritten for the container is the planner's decision; this module
//! only says where it is.

use std::collections::{BTreeMap, HashMap, HashSet};

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Expr, ExprCall, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};

use super::rules::{keras_or_other, matches, Object, Rule, DEFAULT_ALIASES};
use super::rules::{METHOD_RULES, MODULE_RULES};
use super::{text, LineIndex, PathAccess, PathCall};

use PathAccess::{Load, Read, Save, Write};

/// Finds the path calls of a module body, ordered by the literal's position.
/// `inherited` holds the import aliases of earlier cells (a notebook imports once, at the top);
/// the cell's own imports take precedence.
pub(crate) fn find(
    body: &[Stmt],
    source: &str,
    lines: &LineIndex,
    inherited: &BTreeMap<String, String>,
) -> (Vec<PathCall>, BTreeMap<String, String>) {
    let mut prepass = Prepass {
        aliases: inherited
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ..Prepass::default()
    };
    prepass.visit_body(body);
    let aliases: BTreeMap<String, String> = prepass
        .aliases
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut finder = Finder {
        context: Context {
            source,
            aliases: prepass.aliases,
            assigned: prepass.assigned,
        },
        lines,
        handled_opens: HashSet::new(),
        calls: Vec::new(),
    };
    finder.visit_body(body);
    let mut calls = finder.calls;
    calls.sort_by_key(|call| call.literal_start);
    (calls, aliases)
}

/// Import aliases and `name = call(...)` targets, gathered before the main walk.
#[derive(Default)]
struct Prepass {
    aliases: HashMap<String, String>,
    /// Start offset of a call that is the whole right-hand side of `name = ...` → `name`.
    assigned: HashMap<TextSize, String>,
}

impl<'a> Visitor<'a> for Prepass {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Import(import) => {
                for alias in &import.names {
                    if let Some(asname) = &alias.asname {
                        let name = alias.name.as_str().to_string();
                        self.aliases.insert(asname.as_str().to_string(), name);
                    }
                }
            }
            Stmt::ImportFrom(import) if import.level == 0 => {
                let module = import.module.as_ref().map_or("", |module| module.as_str());
                for alias in &import.names {
                    let bound = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
                    let full = format!("{module}.{}", alias.name.as_str());
                    self.aliases.insert(bound.to_string(), full);
                }
            }
            Stmt::Assign(assign) => {
                if let ([Expr::Name(name)], Expr::Call(call)) =
                    (assign.targets.as_slice(), assign.value.as_ref())
                {
                    self.assigned
                        .insert(call.range().start(), name.id.to_string());
                }
            }
            Stmt::AnnAssign(assign) => {
                if let (Expr::Name(name), Some(Expr::Call(call))) =
                    (assign.target.as_ref(), assign.value.as_deref())
                {
                    self.assigned
                        .insert(call.range().start(), name.id.to_string());
                }
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }
}

/// What the walk needs to know about the whole cell.
struct Context<'src> {
    source: &'src str,
    aliases: HashMap<String, String>,
    assigned: HashMap<TextSize, String>,
}

impl Context<'_> {
    /// The dotted callee with its first component resolved through the aliases.
    fn canonical(&self, func: &Expr) -> Option<String> {
        let dotted = dotted_name(func)?;
        let (head, rest) = match dotted.split_once('.') {
            Some((head, rest)) => (head, Some(rest)),
            None => (dotted.as_str(), None),
        };
        let defaults = DEFAULT_ALIASES.iter().find(|(alias, _)| *alias == head);
        let head = match (self.aliases.get(head), defaults) {
            (Some(module), _) => module.as_str(),
            (None, Some((_, module))) => module,
            (None, None) => head,
        };
        let full = match rest {
            Some(rest) => format!("{head}.{rest}"),
            None => head.to_string(),
        };
        Some(match full.strip_prefix("tensorflow.keras.") {
            Some(keras) => format!("keras.{keras}"),
            None => full,
        })
    }

    /// The rule for a call: a module function first, else a method by its name.
    fn rule_for(&self, call: &ExprCall) -> Option<&'static Rule> {
        if let Some(canonical) = self.canonical(&call.func) {
            if let Some(rule) = MODULE_RULES
                .iter()
                .find(|rule| matches(rule.name, &canonical))
            {
                return Some(rule);
            }
        }
        let Expr::Attribute(attribute) = call.func.as_ref() else {
            return None;
        };
        METHOD_RULES
            .iter()
            .find(|rule| rule.name == attribute.attr.as_str())
    }

    fn is_open(&self, call: &ExprCall) -> bool {
        self.canonical(&call.func).as_deref() == Some("open")
    }

    /// A literal path: a plain string, `Path(<path>)`, or `os.path.join` of plain strings.
    fn literal_path(&self, expr: &Expr) -> Option<(String, TextRange)> {
        match expr {
            Expr::StringLiteral(literal) if !literal.value.is_implicit_concatenated() => {
                Some((literal.value.to_str().to_string(), literal.range))
            }
            Expr::Call(call) if call.arguments.keywords.is_empty() => {
                let callee = self.canonical(&call.func)?;
                match (callee.as_str(), &*call.arguments.args) {
                    ("pathlib.Path" | "pathlib.PurePath", [inner]) => self.literal_path(inner),
                    ("os.path.join", parts) if !parts.is_empty() => {
                        let mut joined = String::new();
                        for part in parts {
                            let Expr::StringLiteral(literal) = part else {
                                return None;
                            };
                            if literal.value.is_implicit_concatenated() {
                                return None;
                            }
                            join_posix(&mut joined, literal.value.to_str());
                        }
                        Some((joined, call.range()))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Path and access of `open(<path>, mode)`.
    fn open_path(&self, call: &ExprCall) -> Option<(String, TextRange, PathAccess)> {
        let (path, range) = self.literal_path(argument(call, 0, &["file"])?)?;
        let mode = match argument(call, 1, &["mode"]) {
            Some(Expr::StringLiteral(mode)) => mode.value.to_str(),
            _ => "r",
        };
        let writes = mode.contains(['w', 'a', 'x', '+']);
        Some((path, range, if writes { Write } else { Read }))
    }

    /// Source text of the object a save rule writes.
    fn object(&self, rule: &Rule, call: &ExprCall) -> Option<String> {
        let expr = match rule.object {
            Object::None => None,
            Object::Argument(index, keywords) => argument(call, index, keywords),
            Object::Receiver => match call.func.as_ref() {
                Expr::Attribute(attribute) => Some(attribute.value.as_ref()),
                _ => None,
            },
        }?;
        Some(text(self.source, expr.range()).to_string())
    }

    /// The target a rule reports: the object written, or the name a load is assigned to.
    fn target(&self, rule: &Rule, call: &ExprCall) -> Option<String> {
        match rule.access {
            Save | Write => self.object(rule, call),
            Load | Read => self.assigned.get(&call.range().start()).cloned(),
        }
    }
}

struct Finder<'c, 'src> {
    context: Context<'src>,
    lines: &'c LineIndex<'src>,
    /// `open(...)` calls already reported through the call or `with` that uses them.
    handled_opens: HashSet<TextSize>,
    calls: Vec<PathCall>,
}

impl Finder<'_, '_> {
    fn push(&mut self, function: String, path: (String, TextRange), access: PathAccess) -> usize {
        let (path, range) = path;
        self.calls.push(PathCall {
            function,
            path,
            access,
            serializer: None,
            target: None,
            line: self.lines.line(range.start()),
            literal_start: range.start().to_usize(),
            literal_end: range.end().to_usize(),
        });
        self.calls.len() - 1
    }

    fn written(&self, func: &Expr) -> String {
        dotted_name(func).unwrap_or_else(|| text(self.context.source, func.range()).to_string())
    }

    fn visit_call(&mut self, call: &ExprCall) {
        if self.handled_opens.contains(&call.range().start()) {
            return;
        }
        if let Some(rule) = self.context.rule_for(call) {
            let Some(argument) = argument(call, rule.path_index, rule.path_keywords) else {
                return;
            };
            let path = match argument {
                Expr::Call(open) if self.context.is_open(open) => {
                    let found = self.context.open_path(open);
                    if found.is_some() {
                        self.handled_opens.insert(open.range().start());
                    }
                    found.map(|(path, range, _)| (path, range))
                }
                other => self.context.literal_path(other),
            };
            let Some(path) = path else {
                return;
            };
            let serializer = match rule.name {
                "save" => keras_or_other(&path.0),
                _ => rule.serializer,
            };
            let index = self.push(self.written(&call.func), path, rule.access);
            self.calls[index].serializer = Some(serializer);
            self.calls[index].target = self.context.target(rule, call);
        } else if self.context.is_open(call) {
            if let Some((path, range, access)) = self.context.open_path(call) {
                let index = self.push(self.written(&call.func), (path, range), access);
                if access == Read {
                    let assigned = self.context.assigned.get(&call.range().start()).cloned();
                    self.calls[index].target = assigned;
                }
            }
        }
    }

    /// `with open("p", "wb") as f: pickle.dump(obj, f)` is a pickle save of `"p"`.
    fn visit_with_open(&mut self, items: &[ruff_python_ast::WithItem], body: &[Stmt]) {
        for item in items {
            let (Expr::Call(open), Some(Expr::Name(file))) =
                (&item.context_expr, item.optional_vars.as_deref())
            else {
                continue;
            };
            if !self.context.is_open(open) {
                continue;
            }
            let Some((path, range, _)) = self.context.open_path(open) else {
                continue;
            };
            let mut uses = FileUses {
                context: &self.context,
                file: file.id.as_str(),
                found: None,
            };
            uses.visit_body(body);
            if let Some((rule, target)) = uses.found {
                let index = self.push(self.written(&open.func), (path, range), rule.access);
                self.calls[index].serializer = Some(rule.serializer);
                self.calls[index].target = target;
                self.handled_opens.insert(open.range().start());
            }
        }
    }
}

impl<'a> Visitor<'a> for Finder<'_, '_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if let Stmt::With(with) = stmt {
            self.visit_with_open(&with.items, &with.body);
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Call(call) = expr {
            self.visit_call(call);
        }
        visitor::walk_expr(self, expr);
    }
}

/// Finds the first module-rule call in a `with` body that takes the opened file.
struct FileUses<'c, 'src> {
    context: &'c Context<'src>,
    file: &'c str,
    found: Option<(&'static Rule, Option<String>)>,
}

impl<'a> Visitor<'a> for FileUses<'_, '_> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        if self.found.is_some() {
            return;
        }
        if let Expr::Call(call) = expr {
            let canonical = self.context.canonical(&call.func).unwrap_or_default();
            let rule = MODULE_RULES
                .iter()
                .find(|rule| matches(rule.name, &canonical));
            if let Some(rule) = rule {
                let argument = argument(call, rule.path_index, rule.path_keywords);
                if matches!(argument, Some(Expr::Name(name)) if name.id.as_str() == self.file) {
                    self.found = Some((rule, self.context.target(rule, call)));
                    return;
                }
            }
        }
        visitor::walk_expr(self, expr);
    }
}

/// `a.b.c` for a chain of attributes on a name.
fn dotted_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Name(name) => Some(name.id.to_string()),
        Expr::Attribute(attribute) => {
            let mut dotted = dotted_name(&attribute.value)?;
            dotted.push('.');
            dotted.push_str(attribute.attr.as_str());
            Some(dotted)
        }
        _ => None,
    }
}

/// The positional argument at `index`, or the first of `keywords` given by name.
fn argument<'e>(call: &'e ExprCall, index: usize, keywords: &[&str]) -> Option<&'e Expr> {
    let args = &call.arguments.args;
    let before_star = args
        .iter()
        .take(index + 1)
        .all(|arg| !matches!(arg, Expr::Starred(_)));
    if let (true, Some(arg)) = (before_star, args.get(index)) {
        return Some(arg);
    }
    call.arguments.keywords.iter().find_map(|keyword| {
        let name = keyword.arg.as_ref()?.as_str();
        keywords.contains(&name).then_some(&keyword.value)
    })
}

/// `os.path.join` on POSIX: an absolute part restarts the path.
fn join_posix(joined: &mut String, part: &str) {
    if part.starts_with('/') {
        joined.clear();
    } else if !joined.is_empty() && !joined.ends_with('/') {
        joined.push('/');
    }
    joined.push_str(part);
}

#[cfg(test)]
mod tests {
    use crate::python::{analyze, PathAccess, PathCall, Serializer};

    use PathAccess::{Load, Read, Save, Write};
    use Serializer::{Joblib, Keras, Numpy, Other, Pandas, Pickle, Torch};

    fn calls(source: &str) -> Vec<PathCall> {
        analyze(source)
            .unwrap_or_else(|err| panic!("{err}\n{source}"))
            .path_calls
    }

    /// (function, path, access, serializer, target) of each call.
    type Summary = (
        String,
        String,
        PathAccess,
        Option<Serializer>,
        Option<String>,
    );

    fn summary(source: &str) -> Vec<Summary> {
        calls(source)
            .into_iter()
            .map(|call| {
                (
                    call.function,
                    call.path,
                    call.access,
                    call.serializer,
                    call.target,
                )
            })
            .collect()
    }

    fn one(
        function: &str,
        path: &str,
        access: PathAccess,
        serializer: Option<Serializer>,
        target: Option<&str>,
    ) -> Vec<Summary> {
        let target = target.map(str::to_string);
        vec![(function.into(), path.into(), access, serializer, target)]
    }

    #[test]
    fn reports_joblib_dump_with_target_and_literal_range() {
        let source = "import joblib\nx = 1\njoblib.dump(pipe, 'models/pipe.joblib')\n";
        let found = calls(source);
        assert_eq!(found.len(), 1);
        let call = &found[0];
        assert_eq!(call.function, "joblib.dump");
        assert_eq!(call.path, "models/pipe.joblib");
        assert_eq!((call.access, call.serializer), (Save, Some(Joblib)));
        assert_eq!(call.target.as_deref(), Some("pipe"));
        assert_eq!(call.line, 3);
        assert_eq!(
            &source[call.literal_start..call.literal_end],
            "'models/pipe.joblib'"
        );
    }

    #[test]
    fn follows_import_aliases() {
        let cases = [
            (
                "import joblib as jl\nm = jl.load('m.pkl')",
                one("jl.load", "m.pkl", Load, Some(Joblib), Some("m")),
            ),
            (
                "from joblib import dump, load\ndump(clf, 'c.joblib')",
                one("dump", "c.joblib", Save, Some(Joblib), Some("clf")),
            ),
            (
                "from joblib import load as jload\nclf = jload('c.joblib')",
                one("jload", "c.joblib", Load, Some(Joblib), Some("clf")),
            ),
            (
                "import pickle as pkl\npkl.dump(m, open('m.pkl', 'wb'))",
                one("pkl.dump", "m.pkl", Save, Some(Pickle), Some("m")),
            ),
            (
                "import pandas as pandas_lib\ndf = pandas_lib.read_csv('d.csv')",
                one(
                    "pandas_lib.read_csv",
                    "d.csv",
                    Read,
                    Some(Pandas),
                    Some("df"),
                ),
            ),
            (
                "from tensorflow import keras\nm = keras.models.load_model('m.keras')",
                one(
                    "keras.models.load_model",
                    "m.keras",
                    Load,
                    Some(Keras),
                    Some("m"),
                ),
            ),
            (
                "m = tf.keras.models.load_model('saved')",
                one(
                    "tf.keras.models.load_model",
                    "saved",
                    Load,
                    Some(Keras),
                    Some("m"),
                ),
            ),
            (
                "from tensorflow.keras.models import load_model\nm = load_model('m.h5')",
                one("load_model", "m.h5", Load, Some(Keras), Some("m")),
            ),
            (
                "import pycaret.classification as pyc\npyc.save_model(best, 'model_cover')",
                one(
                    "pyc.save_model",
                    "model_cover",
                    Save,
                    Some(Other),
                    Some("best"),
                ),
            ),
            (
                "from os.path import join\ndf = pd.read_csv(join('data', 'p.csv'))",
                one("pd.read_csv", "data/p.csv", Read, Some(Pandas), Some("df")),
            ),
            ("load_model('models/my_model.pkl')", vec![]),
            ("dump(clf, 'c.joblib')", vec![]),
        ];
        for (source, expected) in cases {
            assert_eq!(summary(source), expected, "{source}");
        }
    }

    #[test]
    fn recognises_the_documented_calls() {
        let cases = [
            (
                "m = pickle.load(open('m.pkl', 'rb'))",
                one("pickle.load", "m.pkl", Load, Some(Pickle), Some("m")),
            ),
            (
                "cloudpickle.dump(f, open('f.pkl', mode='wb'))",
                one("cloudpickle.dump", "f.pkl", Save, Some(Pickle), Some("f")),
            ),
            (
                "dill.dump(f, file=open('f.pkl', 'wb'))",
                one("dill.dump", "f.pkl", Save, Some(Pickle), Some("f")),
            ),
            (
                "r = pd.read_pickle('r.pkl')",
                one("pd.read_pickle", "r.pkl", Load, Some(Pandas), Some("r")),
            ),
            (
                "df.to_pickle('r.pkl')",
                one("df.to_pickle", "r.pkl", Save, Some(Pandas), Some("df")),
            ),
            (
                "x = pd.read_parquet(path='x.parquet')",
                one(
                    "pd.read_parquet",
                    "x.parquet",
                    Read,
                    Some(Pandas),
                    Some("x"),
                ),
            ),
            (
                "pd.read_excel('x.xlsx')",
                one("pd.read_excel", "x.xlsx", Read, Some(Pandas), None),
            ),
            (
                "a = np.load('a.npy')",
                one("np.load", "a.npy", Read, Some(Numpy), Some("a")),
            ),
            (
                "np.loadtxt('a.txt')",
                one("np.loadtxt", "a.txt", Read, Some(Numpy), None),
            ),
            (
                "np.save('a.npy', arr)",
                one("np.save", "a.npy", Write, Some(Numpy), Some("arr")),
            ),
            (
                "df.groupby('k').sum().to_csv('out.csv', index=False)",
                one(
                    "df.groupby('k').sum().to_csv",
                    "out.csv",
                    Write,
                    Some(Pandas),
                    Some("df.groupby('k').sum()"),
                ),
            ),
            (
                "df.to_parquet('o.parquet')",
                one(
                    "df.to_parquet",
                    "o.parquet",
                    Write,
                    Some(Pandas),
                    Some("df"),
                ),
            ),
            (
                "model.save('model.h5')",
                one("model.save", "model.h5", Save, Some(Keras), Some("model")),
            ),
            (
                "model.save('export')",
                one("model.save", "export", Save, Some(Keras), Some("model")),
            ),
            (
                "img.save('plot.png')",
                one("img.save", "plot.png", Save, Some(Other), Some("img")),
            ),
            (
                "torch.save(net.state_dict(), 'net.pt')",
                one(
                    "torch.save",
                    "net.pt",
                    Save,
                    Some(Torch),
                    Some("net.state_dict()"),
                ),
            ),
            (
                "net = torch.load('net.pt')",
                one("torch.load", "net.pt", Load, Some(Torch), Some("net")),
            ),
            (
                "xgb_model.save_model('x.json')",
                one(
                    "xgb_model.save_model",
                    "x.json",
                    Save,
                    Some(Other),
                    Some("xgb_model"),
                ),
            ),
            (
                "booster.load_model('x.json')",
                one("booster.load_model", "x.json", Load, Some(Other), None),
            ),
            (
                "f = open('notes.txt')",
                one("open", "notes.txt", Read, None, Some("f")),
            ),
            (
                "open('out.txt', 'w').write(s)",
                one("open", "out.txt", Write, None, None),
            ),
            (
                "open('m.pkl', 'rb')",
                one("open", "m.pkl", Read, None, None),
            ),
            (
                "m = joblib.load(Path('m.pkl'))",
                one("joblib.load", "m.pkl", Load, Some(Joblib), Some("m")),
            ),
            (
                "m = joblib.load(pathlib.Path(\"m.pkl\"))",
                one("joblib.load", "m.pkl", Load, Some(Joblib), Some("m")),
            ),
            (
                "df = pd.read_csv(os.path.join('data', 'sub/', '/abs', 'p.csv'))",
                one("pd.read_csv", "/abs/p.csv", Read, Some(Pandas), Some("df")),
            ),
        ];
        for (source, expected) in cases {
            assert_eq!(summary(source), expected, "{source}");
        }
    }

    #[test]
    fn os_path_join_range_covers_the_call() {
        let source = "df = pd.read_csv(os.path.join('data', 'p.csv'))";
        let call = &calls(source)[0];
        assert_eq!(
            &source[call.literal_start..call.literal_end],
            "os.path.join('data', 'p.csv')"
        );
        let source = "m = joblib.load(Path('m.pkl'))";
        let call = &calls(source)[0];
        assert_eq!(&source[call.literal_start..call.literal_end], "'m.pkl'");
    }

    #[test]
    fn ignores_fstring_paths() {
        let sources = [
            "joblib.dump(m, f'models/{name}.pkl')",
            "joblib.dump(m, 'models/' + name)",
            "joblib.dump(m, 'models/' 'm.pkl')",
            "joblib.dump(m, path)",
            "joblib.dump(m, b'm.pkl')",
            "pd.read_csv(os.path.join(DATA, 'p.csv'))",
            "pd.read_csv(Path('a', 'b'))",
            "pickle.dump(m, f)",
            "joblib.dump(*args)",
        ];
        for source in sources {
            assert_eq!(summary(source), vec![], "{source}");
        }
    }

    #[test]
    fn finds_pickle_dump_inside_with_open() {
        let source = "import pickle\n\
                      with open('model.pkl', 'wb') as f:\n    pickle.dump(model, f)\n\
                      with open(\"model.pkl\", \"rb\") as fh:\n    loaded = pickle.load(fh)\n\
                      with open('notes.txt', 'w') as out:\n    out.write('x')\n";
        let mut expected = one("open", "model.pkl", Save, Some(Pickle), Some("model"));
        expected.extend(one("open", "model.pkl", Load, Some(Pickle), Some("loaded")));
        expected.extend(one("open", "notes.txt", Write, None, None));
        assert_eq!(summary(source), expected);
        let found = calls(source);
        assert_eq!(
            &source[found[1].literal_start..found[1].literal_end],
            "\"model.pkl\""
        );
        assert_eq!(
            found.iter().map(|call| call.line).collect::<Vec<_>>(),
            [2, 4, 6]
        );
    }

    #[test]
    fn reports_calls_in_source_order_everywhere() {
        let source = "def save(m):\n    joblib.dump(m, 'b.pkl')\n\
                      df = pd.read_csv('a.csv')\nif ok:\n    model.save('c')\n";
        let paths: Vec<String> = calls(source).into_iter().map(|call| call.path).collect();
        assert_eq!(paths, ["b.pkl", "a.csv", "c"]);
    }
}
