//! Imports, top-level function signatures and training calls of a parsed cell.
//!
//! Signatures are reported as source text (annotations, defaults) so the planner can copy them
//! into a FastAPI endpoint verbatim; nothing here evaluates or normalises them. Which imports
//! map to which PyPI packages is the requirements module's job.

use std::collections::{BTreeSet, HashMap};

use ruff_python_ast::statement_visitor::{self, StatementVisitor};
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Expr, Parameter, ParameterWithDefault, Stmt, StmtFunctionDef};
use ruff_text_size::{Ranged, TextSize};

use super::{text, Function, Import, LineIndex, NameSet, Param, ParamKind};

/// Method names whose call means the cell fits a model: `model.fit(...)`,
/// `GridSearchCV(...).fit(...)`, `scaler.fit_transform(...)`, imblearn's `fit_resample`, Keras'
/// `fit_generator`/`train_on_batch`, fastai's `fit_one_cycle`, and `xgb.train`/`lgb.train`
/// style `.train(...)`. Only attribute calls count: a bare `train(...)` is a user function.
pub const TRAINING_METHODS: &[&str] = &[
    "fit",
    "fit_generator",
    "fit_one_cycle",
    "fit_predict",
    "fit_resample",
    "fit_transform",
    "partial_fit",
    "train",
    "train_on_batch",
];

/// Function names whose call means the cell trains, called bare or as an attribute: PyCaret's
/// model builders (`compare_models`, `create_model`, `tune_model`, `finalize_model`,
/// `ensemble_model`, `blend_models`, `stack_models`) and the TensorFlow tutorials'
/// `compile_and_fit` helper. Keras Tuner's `tuner.search(...)` also counts when the receiver's
/// name contains `tuner`.
pub const TRAINING_FUNCTIONS: &[&str] = &[
    "blend_models",
    "compare_models",
    "compile_and_fit",
    "create_model",
    "ensemble_model",
    "finalize_model",
    "stack_models",
    "tune_model",
];

/// Every import statement in the cell, nested ones included, in source order.
pub(crate) fn imports(body: &[Stmt], lines: &LineIndex) -> Vec<Import> {
    let mut collector = ImportCollector {
        lines,
        imports: Vec::new(),
    };
    collector.visit_body(body);
    collector.imports
}

struct ImportCollector<'l, 'src> {
    lines: &'l LineIndex<'src>,
    imports: Vec<Import>,
}

impl<'a> StatementVisitor<'a> for ImportCollector<'_, '_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Import(import) => {
                let line = self.lines.line(import.range.start());
                self.imports.extend(import.names.iter().map(|alias| Import {
                    module: alias.name.as_str().to_string(),
                    names: Vec::new(),
                    line,
                    relative: false,
                }));
            }
            Stmt::ImportFrom(import) => {
                let level = usize::try_from(import.level).unwrap_or(0);
                let module = import.module.as_ref().map_or("", |module| module.as_str());
                self.imports.push(Import {
                    module: format!("{}{module}", ".".repeat(level)),
                    names: import
                        .names
                        .iter()
                        .map(|alias| alias.name.as_str().to_string())
                        .collect(),
                    line: self.lines.line(import.range.start()),
                    relative: level > 0,
                });
            }
            _ => statement_visitor::walk_stmt(self, stmt),
        }
    }
}

/// The `def` statements directly in the module body, with their signatures.
pub(crate) fn functions(
    body: &[Stmt],
    source: &str,
    lines: &LineIndex,
    globals: &HashMap<TextSize, NameSet>,
) -> Vec<Function> {
    body.iter()
        .filter_map(|stmt| match stmt {
            Stmt::FunctionDef(def) => Some(function(def, source, lines, globals)),
            _ => None,
        })
        .collect()
}

fn function(
    def: &StmtFunctionDef,
    source: &str,
    lines: &LineIndex,
    globals: &HashMap<TextSize, NameSet>,
) -> Function {
    let parameters = &def.parameters;
    let with_default = |kind: ParamKind| {
        move |param: &ParameterWithDefault| {
            let mut built = param_of(&param.parameter, kind, source);
            built.default = param
                .default()
                .map(|default| text(source, default.range()).into());
            built
        }
    };
    let mut params: Vec<Param> = parameters
        .posonlyargs
        .iter()
        .map(with_default(ParamKind::PositionalOnly))
        .collect();
    params.extend(parameters.args.iter().map(with_default(ParamKind::Regular)));
    if let Some(vararg) = &parameters.vararg {
        params.push(param_of(vararg, ParamKind::VarArgs, source));
    }
    params.extend(
        parameters
            .kwonlyargs
            .iter()
            .map(with_default(ParamKind::KeywordOnly)),
    );
    if let Some(kwarg) = &parameters.kwarg {
        params.push(param_of(kwarg, ParamKind::VarKeywords, source));
    }
    let name_start = def.name.range().start();
    Function {
        name: def.name.as_str().to_string(),
        line: lines.line(name_start),
        is_async: def.is_async,
        params,
        returns: def
            .returns
            .as_ref()
            .map(|returns| text(source, returns.range()).to_string()),
        docstring: docstring(&def.body),
        globals_used: globals.get(&name_start).cloned().unwrap_or_default(),
        reads_arguments: reads_arguments(&def.body),
    }
}

/// Whether a body has a call or a subscript, the only expressions whose analysis reads the
/// value a name holds (a path, a setting's name, a helper's argument); the values the function
/// is called with change nothing in a body without either.
fn reads_arguments(body: &[Stmt]) -> bool {
    #[derive(Default)]
    struct Finder {
        found: bool,
    }
    impl<'a> Visitor<'a> for Finder {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if self.found {
                return;
            }
            if matches!(expr, Expr::Call(_) | Expr::Subscript(_)) {
                self.found = true;
                return;
            }
            visitor::walk_expr(self, expr);
        }
    }
    let mut finder = Finder::default();
    finder.visit_body(body);
    finder.found
}

fn param_of(param: &Parameter, kind: ParamKind, source: &str) -> Param {
    Param {
        name: param.name.as_str().to_string(),
        kind,
        annotation: param
            .annotation()
            .map(|annotation| text(source, annotation.range()).to_string()),
        default: None,
    }
}

fn docstring(body: &[Stmt]) -> Option<String> {
    let Some(Stmt::Expr(first)) = body.first() else {
        return None;
    };
    match first.value.as_ref() {
        Expr::StringLiteral(literal) => Some(clean_doc(literal.value.to_str())),
        _ => None,
    }
}

/// Python's `inspect.cleandoc`: expand tabs, strip the first line, remove the common
/// indentation of the others, and drop leading and trailing blank lines.
fn clean_doc(doc: &str) -> String {
    let lines: Vec<String> = doc.lines().map(expand_tabs).collect();
    let indent = |line: &str| line.len() - line.trim_start_matches(' ').len();
    let margin = lines
        .iter()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| indent(line))
        .min()
        .unwrap_or(0);
    let mut cleaned: Vec<&str> = lines
        .iter()
        .enumerate()
        .map(|(index, line)| match index {
            0 => line.trim_start(),
            _ => line.get(margin.min(indent(line))..).unwrap_or_default(),
        })
        .collect();
    while cleaned.last().is_some_and(|line| line.trim().is_empty()) {
        cleaned.pop();
    }
    let leading = cleaned
        .iter()
        .take_while(|line| line.trim().is_empty())
        .count();
    cleaned[leading..].join("\n")
}

fn expand_tabs(line: &str) -> String {
    let mut expanded = String::with_capacity(line.len());
    for ch in line.chars() {
        if ch == '\t' {
            let width = 8 - expanded.chars().count() % 8;
            expanded.extend(std::iter::repeat_n(' ', width));
        } else {
            expanded.push(ch);
        }
    }
    expanded
}

/// Whether any call in the cell (function bodies included) is a training call, and the names
/// whose methods train (`pipe` in `pipe.fit(X, y)`, `models` in `models["rf"].fit(X, y)`).
pub(crate) fn trains(body: &[Stmt]) -> (bool, BTreeSet<String>) {
    let mut finder = TrainingFinder {
        found: false,
        fitted: BTreeSet::new(),
    };
    finder.visit_body(body);
    (finder.found, finder.fitted)
}

struct TrainingFinder {
    found: bool,
    fitted: BTreeSet<String>,
}

/// The name at the root of `a`, `a.b`, `a["k"]`, `a.b[0]`.
fn root_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Name(name) => Some(name.id.as_str()),
        Expr::Attribute(attribute) => root_name(&attribute.value),
        Expr::Subscript(subscript) => root_name(&subscript.value),
        _ => None,
    }
}

impl<'a> Visitor<'a> for TrainingFinder {
    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Call(call) = expr {
            if let Expr::Attribute(attribute) = call.func.as_ref() {
                if TRAINING_METHODS.contains(&attribute.attr.as_str()) {
                    self.fitted
                        .extend(root_name(&attribute.value).map(str::to_string));
                }
            }
            let found = match call.func.as_ref() {
                Expr::Name(name) => TRAINING_FUNCTIONS.contains(&name.id.as_str()),
                Expr::Attribute(attribute) => {
                    let method = attribute.attr.as_str();
                    TRAINING_METHODS.contains(&method)
                        || TRAINING_FUNCTIONS.contains(&method)
                        || (method == "search" && is_tuner(&attribute.value))
                }
                _ => false,
            };
            self.found |= found;
        }
        visitor::walk_expr(self, expr);
    }
}

fn is_tuner(receiver: &Expr) -> bool {
    match receiver {
        Expr::Name(name) => name.id.as_str().to_ascii_lowercase().contains("tuner"),
        _ => false,
    }
}

/// Byte ranges of `__name__ == "__main__"` tests (either way round), anywhere in the cell.
/// In a notebook kernel `__name__` is `"__main__"`, so such a guard is always true; the
/// service runs the cells as the module `app.notebook`, where it would be false.
pub(crate) fn main_guards(body: &[Stmt]) -> Vec<(usize, usize)> {
    struct Guards(Vec<(usize, usize)>);
    impl<'a> Visitor<'a> for Guards {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Compare(compare) = expr {
                let is_name = |e: &Expr| matches!(e, Expr::Name(n) if n.id.as_str() == "__name__");
                let is_main = |e: &Expr| matches!(e, Expr::StringLiteral(s) if s.value.to_str() == "__main__");
                if let ([ruff_python_ast::CmpOp::Eq], [right]) =
                    (&*compare.ops, &*compare.comparators)
                {
                    let left = compare.left.as_ref();
                    if (is_name(left) && is_main(right)) || (is_main(left) && is_name(right)) {
                        let range = compare.range();
                        self.0
                            .push((range.start().to_usize(), range.end().to_usize()));
                        return;
                    }
                }
            }
            visitor::walk_expr(self, expr);
        }
    }
    let mut guards = Guards(Vec::new());
    guards.visit_body(body);
    guards.0
}

#[cfg(test)]
mod tests {
    use crate::python::{analyze, Param, ParamKind};

    #[test]
    fn a_function_reads_its_arguments_only_through_a_call_or_a_subscript() {
        let source = "def arithmetic(a, b=2):\n    return a * b + 1\n\
                      def saves(model, path):\n    joblib.dump(model, path)\n\
                      def setting(name):\n    return os.environ[name]\n\
                      def nested(path):\n    def inner():\n        return open(path)\n    return inner\n";
        let facts = analyze(source).unwrap();
        let reads: Vec<(&str, bool)> = facts
            .functions
            .iter()
            .map(|f| (f.name.as_str(), f.reads_arguments))
            .collect();
        assert_eq!(
            reads,
            [
                ("arithmetic", false),
                ("saves", true),
                ("setting", true),
                ("nested", true)
            ]
        );
    }

    #[test]
    fn collects_imports_anywhere_in_order() {
        let source = "import os, numpy as np\n\
                      from sklearn.ensemble import RandomForestClassifier as RF, IsolationForest\n\
                      try:\n    import xgboost\nexcept ImportError:\n    pass\n\
                      def f():\n    from . import helpers\n    from ..pkg.mod import *\n";
        let facts = analyze(source).unwrap();
        let summary: Vec<(&str, Vec<&str>, usize, bool, &str)> = facts
            .imports
            .iter()
            .map(|import| {
                let names = import.names.iter().map(String::as_str).collect();
                (
                    import.module.as_str(),
                    names,
                    import.line,
                    import.relative,
                    import.top_level(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("os", vec![], 1, false, "os"),
                ("numpy", vec![], 1, false, "numpy"),
                (
                    "sklearn.ensemble",
                    vec!["RandomForestClassifier", "IsolationForest"],
                    2,
                    false,
                    "sklearn"
                ),
                ("xgboost", vec![], 4, false, "xgboost"),
                (".", vec!["helpers"], 8, true, ""),
                ("..pkg.mod", vec!["*"], 9, true, "pkg"),
            ]
        );
    }

    #[test]
    fn collects_function_signature_with_annotations_and_defaults() {
        let source = r#"
@app.get("/")
async def predict(a, /, b: list[float], c: Optional[int] = None, *args: "Foo",
                  species: str = 'adelie', threshold=0.5, **extra: Any) -> dict[str, float]:
    """Predict the species.

    Args:
        b: bill lengths.
    """
    return {}

def plain(): pass

class Model:
    def method(self): pass

if True:
    def hidden(): pass
"#;
        let facts = analyze(source).unwrap();
        let names: Vec<&str> = facts.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["predict", "plain"]);
        let predict = &facts.functions[0];
        assert_eq!(predict.line, 3);
        assert!(predict.is_async);
        assert_eq!(predict.returns.as_deref(), Some("dict[str, float]"));
        assert_eq!(
            predict.docstring.as_deref(),
            Some("Predict the species.\n\nArgs:\n    b: bill lengths.")
        );
        let param = |name: &str, kind, annotation: Option<&str>, default: Option<&str>| Param {
            name: name.to_string(),
            kind,
            annotation: annotation.map(str::to_string),
            default: default.map(str::to_string),
        };
        assert_eq!(
            predict.params,
            vec![
                param("a", ParamKind::PositionalOnly, None, None),
                param("b", ParamKind::Regular, Some("list[float]"), None),
                param("c", ParamKind::Regular, Some("Optional[int]"), Some("None")),
                param("args", ParamKind::VarArgs, Some("\"Foo\""), None),
                param(
                    "species",
                    ParamKind::KeywordOnly,
                    Some("str"),
                    Some("'adelie'")
                ),
                param("threshold", ParamKind::KeywordOnly, None, Some("0.5")),
                param("extra", ParamKind::VarKeywords, Some("Any"), None),
            ]
        );
        let plain = &facts.functions[1];
        assert!(!plain.is_async && plain.params.is_empty() && plain.docstring.is_none());
    }

    #[test]
    fn free_globals_of_functions_are_loaded_names() {
        let source = "def predict(features, scale=factor):\n\
                      \x20   frame = pd.DataFrame([features])\n\
                      \x20   probs = [p * scale for p in model.predict_proba(frame)[0]]\n\
                      \x20   label = max(probs, key=lambda p: p + bias)\n\
                      \x20   return LABELS[label], len(probs)\n";
        let facts = analyze(source).unwrap();
        let expected = ["LABELS", "bias", "model", "pd"];
        let globals: Vec<&str> = facts.functions[0]
            .globals_used
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(globals, expected);
        let loaded: Vec<&str> = facts.loaded_names.iter().map(String::as_str).collect();
        assert_eq!(loaded, ["LABELS", "bias", "factor", "model", "pd"]);
        assert!(facts.bound_names.contains("predict"));
    }

    #[test]
    fn global_statement_reads_and_binds_module_names() {
        let facts =
            analyze("def load():\n    global model\n    model = model or make()\n").unwrap();
        let globals = &facts.functions[0].globals_used;
        assert!(
            globals.contains("model") && globals.contains("make"),
            "{globals:?}"
        );
        assert!(facts.bound_names.contains("model"));
    }

    #[test]
    fn marks_fit_as_training() {
        let cases = [
            ("model.fit(X, y)", true),
            ("GridSearchCV(est, grid).fit(X, y)", true),
            ("X2 = scaler.fit_transform(X)", true),
            ("booster = xgb.train(params, dtrain)", true),
            ("best = compare_models()", true),
            ("tuner.search(x, y, epochs=5)", true),
            ("def go():\n    pipe.partial_fit(X, y)", true),
            ("m = re.search('a', s)", false),
            ("train(model)", false),
            ("y = model.predict(X)", false),
            ("model = joblib.load('m.pkl')", false),
            ("fitness = 1", false),
        ];
        for (source, expected) in cases {
            assert_eq!(analyze(source).unwrap().trains, expected, "{source}");
        }
    }

    #[test]
    fn cleans_docstrings_like_inspect() {
        assert_eq!(
            super::clean_doc("  One.\n\n    Two\n      three\n  "),
            "One.\n\nTwo\n  three"
        );
        assert_eq!(super::clean_doc("\n\tTabbed\n"), "Tabbed");
        assert_eq!(super::clean_doc(""), "");
    }
}
