//! The statements of a cell that turn the notebook's raw data into a model's features, and the
//! model fits whose input visibly cannot be traced back to that data.
//!
//! The generated service learns the real preprocessing as the notebook trains
//! (`templates/nb2svc_inputs.py` records and checks every step); this module only lets the
//! README and the report say, before anything runs, which statements those steps will come
//! from, and warn where a route will have to take the model's own features instead.
//!
//! It is a heuristic and goes by names: a call of `get_dummies`; `fit`, `transform` and
//! `fit_transform` on a name bound (in this cell or an earlier one) to a construction of a
//! known scikit-learn preprocessing class, or on such a construction itself; `map`/`replace`
//! with a literal table on a column (`df["sex"]`); a column assigned from other columns of the
//! same frame; and the constructions of pipelines. A user class named `StandardScaler` counts
//! too, and a scaler handed around in a list does not. Nothing here evaluates the code.

use std::collections::BTreeMap;

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Expr, ExprCall, Stmt};
use ruff_text_size::Ranged;
use serde::Serialize;

use super::paths::canonical;
use super::{text, LineIndex};

/// scikit-learn preprocessing classes by name, with what each does to the data, for people.
const TRANSFORMERS: &[(&str, &str)] = &[
    ("LabelEncoder", "label encoding"),
    ("OrdinalEncoder", "ordinal encoding"),
    ("OneHotEncoder", "one-hot encoding"),
    ("TargetEncoder", "target encoding"),
    ("StandardScaler", "scaling"),
    ("MinMaxScaler", "scaling"),
    ("RobustScaler", "scaling"),
    ("MaxAbsScaler", "scaling"),
    ("Normalizer", "normalization"),
    ("Binarizer", "thresholding to 0 and 1"),
    ("KBinsDiscretizer", "binning"),
    ("PowerTransformer", "power transform"),
    ("QuantileTransformer", "quantile transform"),
    ("SimpleImputer", "filling of missing values"),
    ("PolynomialFeatures", "polynomial features"),
    ("PCA", "principal components"),
    ("ColumnTransformer", "column-wise preprocessing"),
    ("make_column_transformer", "column-wise preprocessing"),
];

/// Constructions whose fitted object carries its own preprocessing: a pipeline fitted as the
/// model saves it inside the model.
const PIPELINES: &[&str] = &[
    "Pipeline",
    "make_pipeline",
    "ColumnTransformer",
    "make_column_transformer",
];

/// The methods of a transformer that learn from the data or apply what it learned.
const TRANSFORMER_METHODS: &[&str] = &["fit", "fit_transform", "transform"];

/// numpy functions that build a new array, which has neither the data's column names nor its
/// row labels, out of their arguments.
const ARRAY_BUILDERS: &[&str] = &[
    "array",
    "asarray",
    "hstack",
    "vstack",
    "concatenate",
    "column_stack",
    "stack",
];

/// numpy index tricks that concatenate like [`ARRAY_BUILDERS`]: `np.c_[a, b]`.
const ARRAY_INDEXERS: &[&str] = &["c_", "r_"];

/// numpy functions applied value by value (ufuncs and their close cousins): their result is
/// no step the runtime can verify against a raw column.
const ELEMENTWISE: &[&str] = &[
    "abs",
    "absolute",
    "sqrt",
    "cbrt",
    "square",
    "exp",
    "exp2",
    "expm1",
    "log",
    "log1p",
    "log2",
    "log10",
    "sign",
    "power",
    "reciprocal",
    "sin",
    "cos",
    "tan",
    "arcsin",
    "arccos",
    "arctan",
    "sinh",
    "cosh",
    "tanh",
    "floor",
    "ceil",
    "rint",
    "trunc",
    "clip",
    "round",
    "around",
];

/// One preprocessing statement found in a cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preprocessing {
    /// 1-based line, in the cell's code, where the call or assignment starts.
    pub line: usize,
    pub step: Step,
}

/// What a [`Preprocessing`] statement does; [`Step::describe`] says it for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// `pd.get_dummies(df, columns=[...])`: the literal columns, when given.
    GetDummies { columns: Vec<String> },
    /// A scikit-learn preprocessing object fitted or applied.
    Transformer {
        class: String,
        /// `fit`, `transform` or `fit_transform`.
        method: String,
        /// The literal columns it is given (`le.fit_transform(df["island"])`), when visible.
        columns: Vec<String>,
    },
    /// `df["col"].map({...})` or `.replace(...)` with a table.
    ValueMapping { column: String, method: String },
    /// `df["new"] = <expression of df's columns>`.
    ComputedColumn { column: String },
    /// `Pipeline(...)`, `make_pipeline(...)`, `ColumnTransformer(...)`.
    Pipeline { class: String },
}

impl Step {
    /// A short Markdown sentence: names from the notebook are in code spans, with any backtick
    /// made a quote and any line break a space, and shortened.
    pub fn describe(&self) -> String {
        match self {
            Step::GetDummies { columns } if columns.is_empty() => {
                "one-hot encoding with `pandas.get_dummies`".to_string()
            }
            Step::GetDummies { columns } => format!(
                "one-hot encoding of {} with `pandas.get_dummies`",
                code_list(columns)
            ),
            Step::Transformer {
                class,
                method,
                columns,
            } => {
                let what = TRANSFORMERS
                    .iter()
                    .find(|(name, _)| name == class)
                    .map_or("preprocessing", |(_, what)| what);
                let done = match method.as_str() {
                    "fit" => "fitted",
                    "transform" => "applied",
                    _ => "fitted and applied",
                };
                let of = if columns.is_empty() {
                    String::new()
                } else {
                    format!(" of {}", code_list(columns))
                };
                format!("{what}{of} with scikit-learn's `{class}` ({done})")
            }
            Step::ValueMapping { column, method } => {
                format!("value mapping of {} (`{method}`)", code(column))
            }
            Step::ComputedColumn { column } => format!("computed column {}", code(column)),
            Step::Pipeline { class }
                if matches!(
                    class.as_str(),
                    "ColumnTransformer" | "make_column_transformer"
                ) =>
            {
                format!(
                "a scikit-learn column transformer (`{class}`): its preprocessing is saved with it (inside the model when a pipeline holds it)"
            )
            }
            Step::Pipeline { class } => format!(
                "a scikit-learn pipeline (`{class}`): its preprocessing is saved inside the model"
            ),
        }
    }
}

/// A model fitted on an input that visibly keeps nothing of the data's names and rows: the
/// runtime cannot replay its preprocessing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpaqueFit {
    /// 1-based line of the `fit` call in the cell's code.
    pub line: usize,
    /// Source text of the receiver: `model` in `model.fit(...)`.
    pub receiver: String,
    /// Source text of the first argument.
    pub argument: String,
    pub why: Opaque,
}

/// Why an [`OpaqueFit`]'s input cannot be traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Opaque {
    /// `np.array(...)`, `np.hstack(...)`, `np.c_[...]`.
    BuiltArray,
    /// `np.log1p(X)`.
    Elementwise,
    /// `X.values / 255`.
    Arithmetic,
}

impl Opaque {
    /// Completes "`model.fit` is given `ARG`, ...".
    pub fn describe(self) -> &'static str {
        match self {
            Opaque::BuiltArray => {
                "a new array built without the data's column names and row labels"
            }
            Opaque::Elementwise => {
                "the data through a numpy function, which is no step nb2svc can check against the notebook's columns"
            }
            Opaque::Arithmetic => {
                "arithmetic on a bare array, without the data's column names and row labels"
            }
        }
    }
}

/// What a name holds, as far as preprocessing goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Held {
    /// A preprocessing object of this class (constructed, or constructed and fitted).
    Transformer(String),
    /// A literal dict: a table for `map`/`replace`.
    Table,
}

/// What [`find`] learns from one cell.
pub(crate) struct Found {
    pub(crate) steps: Vec<Preprocessing>,
    pub(crate) opaque_fits: Vec<OpaqueFit>,
    /// `held` after the cell.
    pub(crate) held: BTreeMap<String, Held>,
}

/// The preprocessing statements and opaque fits of a module body. `aliases` are the import
/// aliases in force in the cell; `held` what names hold after the earlier cells.
pub(crate) fn find(
    body: &[Stmt],
    source: &str,
    lines: &LineIndex,
    aliases: &BTreeMap<String, String>,
    held: &BTreeMap<String, Held>,
) -> Found {
    let mut finder = Finder {
        source,
        lines,
        aliases,
        held: held.clone(),
        steps: Vec::new(),
        opaque_fits: Vec::new(),
    };
    finder.visit_body(body);
    let mut steps = finder.steps;
    // Source order; one entry per line and step (a loop body is one statement).
    steps.sort_by_key(|found| found.line);
    steps.dedup();
    Found {
        steps,
        opaque_fits: finder.opaque_fits,
        held: finder.held,
    }
}

struct Finder<'a, 'src> {
    source: &'src str,
    lines: &'a LineIndex<'src>,
    aliases: &'a BTreeMap<String, String>,
    held: BTreeMap<String, Held>,
    steps: Vec<Preprocessing>,
    opaque_fits: Vec<OpaqueFit>,
}

impl Finder<'_, '_> {
    /// The callee's resolved dotted name: `numpy.hstack` for `np.hstack`.
    fn canonical(&self, func: &Expr) -> Option<String> {
        canonical(func, |head| self.aliases.get(head).map(String::as_str))
    }

    /// The last component of the resolved callee: `StandardScaler`.
    fn callee(&self, func: &Expr) -> Option<String> {
        let full = self.canonical(func)?;
        Some(full.rsplit('.').next().unwrap_or(&full).to_string())
    }

    fn push(&mut self, at: &impl Ranged, step: Step) {
        self.steps.push(Preprocessing {
            line: self.lines.line(at.start()),
            step,
        });
    }

    /// The preprocessing class `expr` holds: a name bound to one, a construction of one, or
    /// a construction fitted on the spot (`fit` returns the object).
    fn transformer(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Name(name) => match self.held.get(name.id.as_str()) {
                Some(Held::Transformer(class)) => Some(class.clone()),
                _ => None,
            },
            Expr::Call(call) => match call.func.as_ref() {
                Expr::Attribute(attribute) if attribute.attr.as_str() == "fit" => {
                    self.transformer(&attribute.value)
                }
                func => {
                    let class = self.callee(func)?;
                    let known = TRANSFORMERS.iter().find(|(name, _)| *name == class)?;
                    Some(if known.0 == "make_column_transformer" {
                        "ColumnTransformer".to_string()
                    } else {
                        class
                    })
                }
            },
            _ => None,
        }
    }

    /// What assigning `value` makes a name hold.
    fn held_by(&self, value: &Expr) -> Option<Held> {
        if let Some(class) = self.transformer(value) {
            return Some(Held::Transformer(class));
        }
        match value {
            Expr::Dict(_) => Some(Held::Table),
            Expr::Name(name) => self.held.get(name.id.as_str()).cloned(),
            _ => None,
        }
    }

    /// Records what each name of `target` holds now.
    fn rebind(&mut self, target: &Expr, held: Option<&Held>) {
        match target {
            Expr::Name(name) => {
                let name = name.id.to_string();
                match held {
                    Some(held) => self.held.insert(name, held.clone()),
                    None => self.held.remove(&name),
                };
            }
            Expr::Tuple(tuple) => tuple.elts.iter().for_each(|e| self.rebind(e, None)),
            Expr::List(list) => list.elts.iter().for_each(|e| self.rebind(e, None)),
            Expr::Starred(starred) => self.rebind(&starred.value, None),
            _ => {}
        }
    }

    /// An assignment: its value's steps, else a computed column, then what its names hold.
    fn assign(&mut self, targets: &[&Expr], value: &Expr) {
        let before = self.steps.len();
        self.visit_expr(value);
        for target in targets {
            self.visit_expr(target);
        }
        if self.steps.len() == before {
            for target in targets {
                if let Some(column) = computed_column(target, value) {
                    self.push(*target, Step::ComputedColumn { column });
                }
            }
        }
        let held = self.held_by(value);
        for target in targets {
            self.rebind(target, held.as_ref());
        }
    }

    /// A call's step or opaque fit, if any; false when its arguments are not to be walked.
    fn call(&mut self, call: &ExprCall) -> bool {
        let callee = self.callee(&call.func);
        if let Some(class) = callee.as_deref().filter(|c| PIPELINES.contains(c)) {
            // What a pipeline holds is its own business: inner steps are not listed again.
            let class = class.to_string();
            self.push(call, Step::Pipeline { class });
            return false;
        }
        if callee.as_deref() == Some("get_dummies") {
            let columns = call
                .arguments
                .find_keyword("columns")
                .map(|keyword| string_list(&keyword.value))
                .or_else(|| call.arguments.args.first().map(subscript_columns))
                .unwrap_or_default();
            self.push(call, Step::GetDummies { columns });
            return true;
        }
        let Expr::Attribute(attribute) = call.func.as_ref() else {
            return true;
        };
        let method = attribute.attr.as_str();
        if TRANSFORMER_METHODS.contains(&method) {
            if let Some(class) = self.transformer(&attribute.value) {
                let columns = call
                    .arguments
                    .args
                    .first()
                    .map(subscript_columns)
                    .unwrap_or_default();
                let method = method.to_string();
                self.push(
                    call,
                    Step::Transformer {
                        class,
                        method,
                        columns,
                    },
                );
            } else if method == "fit" {
                self.opaque_fit(call, &attribute.value);
            }
        } else if matches!(method, "map" | "replace") && self.is_table_call(call, method) {
            if let Some(column) = column_key(&attribute.value) {
                let method = method.to_string();
                self.push(call, Step::ValueMapping { column, method });
            }
        }
        true
    }

    /// `map({...})`, `replace({...})`, `replace([..], [..])`, or a name holding a dict.
    fn is_table_call(&self, call: &ExprCall, method: &str) -> bool {
        let arguments = &call.arguments;
        let first = arguments
            .find_positional(0)
            .or_else(|| arguments.find_keyword("to_replace").map(|k| &k.value))
            .or_else(|| arguments.find_keyword("arg").map(|k| &k.value));
        let table = match first {
            Some(Expr::Dict(_)) => true,
            Some(Expr::Name(name)) => self.held.get(name.id.as_str()) == Some(&Held::Table),
            _ => false,
        };
        let second = arguments
            .find_positional(1)
            .or_else(|| arguments.find_keyword("value").map(|k| &k.value));
        let lists = method == "replace"
            && matches!(first, Some(Expr::List(_) | Expr::Tuple(_)))
            && matches!(second, Some(Expr::List(_) | Expr::Tuple(_)));
        table || lists
    }

    /// Records `receiver.fit(ARG, ...)` when ARG visibly has no names or rows of the data.
    fn opaque_fit(&mut self, call: &ExprCall, receiver: &Expr) {
        let arguments = &call.arguments;
        let Some(argument) = arguments
            .find_positional(0)
            .or_else(|| arguments.find_keyword("X").map(|k| &k.value))
            .or_else(|| arguments.find_keyword("x").map(|k| &k.value))
        else {
            return;
        };
        let Some(why) = self.opaque(argument) else {
            return;
        };
        self.opaque_fits.push(OpaqueFit {
            line: self.lines.line(call.start()),
            receiver: text(self.source, receiver.range()).to_string(),
            argument: text(self.source, argument.range()).to_string(),
            why,
        });
    }

    /// Why `expr`, a model's input, cannot be traced to the notebook's data, if visibly so.
    fn opaque(&self, expr: &Expr) -> Option<Opaque> {
        match expr {
            Expr::Call(call) => {
                let full = self.canonical(&call.func)?;
                let function = full.strip_prefix("numpy.")?;
                if ARRAY_BUILDERS.contains(&function) {
                    Some(Opaque::BuiltArray)
                } else if ELEMENTWISE.contains(&function) {
                    Some(Opaque::Elementwise)
                } else {
                    None
                }
            }
            Expr::Subscript(subscript) => {
                let full = self.canonical(&subscript.value)?;
                let indexer = full.strip_prefix("numpy.")?;
                ARRAY_INDEXERS
                    .contains(&indexer)
                    .then_some(Opaque::BuiltArray)
            }
            Expr::BinOp(binary) => (self.bare_array(&binary.left)
                || self.bare_array(&binary.right))
            .then_some(Opaque::Arithmetic),
            _ => None,
        }
    }

    /// Whether `expr` is visibly a numpy array, not a frame: built by numpy, `.values`,
    /// `.to_numpy()`, or arithmetic on one of those. A plain name may well be a frame, whose
    /// arithmetic keeps its names and rows, so it does not count.
    fn bare_array(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Attribute(attribute) => attribute.attr.as_str() == "values",
            Expr::Call(call) => {
                matches!(call.func.as_ref(), Expr::Attribute(a) if a.attr.as_str() == "to_numpy")
                    || self.opaque(expr).is_some()
            }
            Expr::UnaryOp(unary) => self.bare_array(&unary.operand),
            _ => self.opaque(expr).is_some(),
        }
    }
}

impl<'a> Visitor<'a> for Finder<'_, '_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Assign(assign) => {
                let targets: Vec<&Expr> = assign.targets.iter().collect();
                self.assign(&targets, &assign.value);
            }
            Stmt::AnnAssign(assign) => match &assign.value {
                Some(value) => self.assign(&[&assign.target], value),
                None => visitor::walk_stmt(self, stmt),
            },
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Call(call) = expr {
            if !self.call(call) {
                return;
            }
        }
        visitor::walk_expr(self, expr);
    }
}

/// `df["col"]` → `col`.
fn column_key(expr: &Expr) -> Option<String> {
    let Expr::Subscript(subscript) = expr else {
        return None;
    };
    match subscript.slice.as_ref() {
        Expr::StringLiteral(literal) => Some(literal.value.to_str().to_string()),
        _ => None,
    }
}

/// The literal columns `df["a"]` or `df[["a", "b"]]` selects; empty for anything else.
fn subscript_columns(expr: &Expr) -> Vec<String> {
    match expr {
        Expr::Subscript(subscript) => match subscript.slice.as_ref() {
            Expr::StringLiteral(literal) => vec![literal.value.to_str().to_string()],
            list => string_list(list),
        },
        _ => Vec::new(),
    }
}

/// The strings of a literal list or tuple of strings (or of one string); empty otherwise.
fn string_list(expr: &Expr) -> Vec<String> {
    let elements = match expr {
        Expr::StringLiteral(literal) => return vec![literal.value.to_str().to_string()],
        Expr::List(list) => &list.elts,
        Expr::Tuple(tuple) => &tuple.elts,
        _ => return Vec::new(),
    };
    let strings: Vec<String> = elements
        .iter()
        .filter_map(|element| match element {
            Expr::StringLiteral(literal) => Some(literal.value.to_str().to_string()),
            _ => None,
        })
        .collect();
    if strings.len() == elements.len() {
        strings
    } else {
        Vec::new()
    }
}

/// `frame["new"] = ...` whose value reads another literal column of the same `frame`.
fn computed_column(target: &Expr, value: &Expr) -> Option<String> {
    let Expr::Subscript(subscript) = target else {
        return None;
    };
    let Expr::Name(frame) = subscript.value.as_ref() else {
        return None;
    };
    let column = column_key(target)?;
    struct Reads<'n> {
        frame: &'n str,
        found: bool,
    }
    impl<'a> Visitor<'a> for Reads<'_> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Subscript(subscript) = expr {
                let same = matches!(subscript.value.as_ref(), Expr::Name(n) if n.id.as_str() == self.frame);
                self.found |= same && column_key(expr).is_some();
            }
            visitor::walk_expr(self, expr);
        }
    }
    let mut reads = Reads {
        frame: frame.id.as_str(),
        found: false,
    };
    reads.visit_expr(value);
    reads.found.then_some(column)
}

/// How many characters of a name from the notebook a description shows.
const NAME_SHOWN: usize = 40;
/// How many columns a description lists before "and N more".
const COLUMNS_SHOWN: usize = 6;

/// A name from the notebook as a Markdown code span: no backtick, no line break, shortened.
fn code(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| match c {
            '`' => '\'',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect();
    let mut shown: String = clean.chars().take(NAME_SHOWN).collect();
    if clean.chars().count() > NAME_SHOWN {
        shown.push_str("...");
    }
    format!("`{shown}`")
}

/// `a`, `b` and `c`; at most [`COLUMNS_SHOWN`] names, then "and N more".
fn code_list(names: &[String]) -> String {
    let shown: Vec<String> = names.iter().take(COLUMNS_SHOWN).map(|n| code(n)).collect();
    let more = names.len().saturating_sub(COLUMNS_SHOWN);
    match (shown.as_slice(), more) {
        ([one], 0) => one.clone(),
        ([init @ .., last], 0) => format!("{} and {last}", init.join(", ")),
        (_, more) => format!("{} and {more} more", shown.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use crate::python::{analyze, analyze_with, Inherited, ModuleFacts};

    use super::{Opaque, Step};

    /// (line, description) of every step of a one-cell notebook.
    fn steps(source: &str) -> Vec<(usize, String)> {
        described(&analyze(source).unwrap())
    }

    fn described(facts: &ModuleFacts) -> Vec<(usize, String)> {
        facts
            .preprocessing
            .iter()
            .map(|found| (found.line, found.step.describe()))
            .collect()
    }

    fn opaque(source: &str) -> Vec<(usize, String, String, Opaque)> {
        analyze(source)
            .unwrap()
            .opaque_fits
            .into_iter()
            .map(|fit| (fit.line, fit.receiver, fit.argument, fit.why))
            .collect()
    }

    #[test]
    fn finds_get_dummies_with_or_without_columns() {
        let source = "import pandas as pd\nfrom pandas import get_dummies\n\
                      df = pd.get_dummies(df, columns=['sex', 'island'])\n\
                      X = get_dummies(X)\n";
        assert_eq!(
            steps(source),
            vec![
                (
                    3,
                    "one-hot encoding of `sex` and `island` with `pandas.get_dummies`".into()
                ),
                (4, "one-hot encoding with `pandas.get_dummies`".into()),
            ]
        );
    }

    #[test]
    fn finds_transformers_bound_earlier_or_constructed_on_the_spot() {
        let source = "from sklearn.preprocessing import LabelEncoder, StandardScaler as SS\n\
                      le = LabelEncoder()\n\
                      df['island'] = le.fit_transform(df['island'])\n\
                      X = SS().fit_transform(X)\n\
                      scaler = SS().fit(X_train)\n\
                      X_test = scaler.transform(X_test)\n";
        assert_eq!(
            steps(source),
            vec![
                (
                    3,
                    "label encoding of `island` with scikit-learn's `LabelEncoder` (fitted and applied)"
                        .into()
                ),
                (
                    4,
                    "scaling with scikit-learn's `StandardScaler` (fitted and applied)".into()
                ),
                (5, "scaling with scikit-learn's `StandardScaler` (fitted)".into()),
                (6, "scaling with scikit-learn's `StandardScaler` (applied)".into()),
            ],
            "the column assigned from an encoder is that step, not also a computed column"
        );
    }

    #[test]
    fn a_transformer_bound_in_an_earlier_cell_is_known_in_a_later_one() {
        let first =
            analyze("from sklearn import preprocessing\nimp = preprocessing.SimpleImputer()\n")
                .unwrap();
        let second = analyze_with(
            "X = imp.fit_transform(X)\nimp = None\nX = imp.transform(X)\n",
            &Inherited::after(&first, &Default::default()),
        )
        .unwrap();
        assert_eq!(
            described(&second),
            vec![(
                1,
                "filling of missing values with scikit-learn's `SimpleImputer` (fitted and applied)"
                    .into()
            )],
            "a rebound name holds something else"
        );
    }

    #[test]
    fn finds_value_mappings_on_columns() {
        let source = "sexes = {'male': 0, 'female': 1}\n\
                      df['sex'] = df['sex'].map(sexes)\n\
                      df['island'] = df['island'].replace({'Biscoe': 0})\n\
                      df['size'] = df['size'].replace(['S', 'L'], [0, 1])\n\
                      df['a'] = df['a'].replace('?', None)\n\
                      names = df.columns.map({'a': 'b'})\n";
        assert_eq!(
            steps(source),
            vec![
                (2, "value mapping of `sex` (`map`)".into()),
                (3, "value mapping of `island` (`replace`)".into()),
                (4, "value mapping of `size` (`replace`)".into()),
                (5, "computed column `a`".into()),
            ],
            "one value replaced is no table, and a mapping of no column is none"
        );
    }

    #[test]
    fn finds_computed_columns_of_the_same_frame() {
        let source = "df['ratio'] = df['bill_length_mm'] / df['bill_depth_mm']\n\
                      results['error'] = y_test - predictions\n\
                      df['copy'] = other['a']\n";
        assert_eq!(steps(source), vec![(1, "computed column `ratio`".into())]);
    }

    #[test]
    fn finds_pipelines_once_not_their_inner_steps() {
        let source = "from sklearn.pipeline import make_pipeline\n\
                      from sklearn.compose import ColumnTransformer\n\
                      pipe = make_pipeline(StandardScaler(), LogisticRegression())\n\
                      ct = ColumnTransformer([('num', make_pipeline(StandardScaler()), NUMERIC)])\n\
                      X = ct.fit_transform(X)\n";
        let found = steps(source);
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[0].0, 3);
        assert!(found[0]
            .1
            .contains("pipeline (`make_pipeline`): its preprocessing is saved inside the model"));
        assert_eq!(found[1].0, 4);
        assert!(found[1]
            .1
            .contains("column transformer (`ColumnTransformer`)"));
        assert_eq!(
            found[2],
            (
                5,
                "column-wise preprocessing with scikit-learn's `ColumnTransformer` (fitted and applied)"
                    .into()
            )
        );
    }

    #[test]
    fn finds_steps_inside_loops_and_functions_once_per_line() {
        let source = "le = LabelEncoder()\n\
                      for column in ['sex', 'island']:\n\
                      \x20   df[column] = le.fit_transform(df[column])\n\
                      def prepare(frame):\n\
                      \x20   frame['bmi'] = frame['mass'] / frame['height'] ** 2\n\
                      \x20   return frame\n";
        assert_eq!(
            steps(source),
            vec![
                (
                    3,
                    "label encoding with scikit-learn's `LabelEncoder` (fitted and applied)".into()
                ),
                (5, "computed column `bmi`".into()),
            ]
        );
    }

    #[test]
    fn ignores_what_is_not_preprocessing() {
        let source = "model = RandomForestClassifier()\n\
                      model.fit(X_train, y_train)\n\
                      y = model.predict(X_test)\n\
                      X = encoder.transform(X)\n\
                      total = df['a'].sum()\n\
                      df.head()\n\
                      s = 'a,b'.replace('a', 'c')\n";
        assert_eq!(steps(source), vec![]);
        assert_eq!(opaque(source), vec![]);
    }

    #[test]
    fn names_from_the_notebook_are_safe_code_spans() {
        let step = Step::ValueMapping {
            column: "a`b\nc".into(),
            method: "map".into(),
        };
        assert_eq!(step.describe(), "value mapping of `a'b c` (`map`)");
        let many: Vec<String> = (1..=8).map(|i| format!("c{i}")).collect();
        assert_eq!(
            Step::GetDummies { columns: many }.describe(),
            "one-hot encoding of `c1`, `c2`, `c3`, `c4`, `c5`, `c6` and 2 more with `pandas.get_dummies`"
        );
    }

    #[test]
    fn a_fit_on_a_built_array_is_opaque() {
        let source = "import numpy as np\n\
                      model.fit(np.hstack([X_num, X_cat]), y)\n\
                      svm.fit(np.c_[a, b], y)\n\
                      reg.fit(np.log1p(X), y)\n\
                      net.fit(x=X_train.values / 255.0, y=y_train)\n\
                      knn.fit(numpy.array(X), y)\n";
        assert_eq!(
            opaque(source),
            vec![
                (
                    2,
                    "model".into(),
                    "np.hstack([X_num, X_cat])".into(),
                    Opaque::BuiltArray
                ),
                (3, "svm".into(), "np.c_[a, b]".into(), Opaque::BuiltArray),
                (4, "reg".into(), "np.log1p(X)".into(), Opaque::Elementwise),
                (
                    5,
                    "net".into(),
                    "X_train.values / 255.0".into(),
                    Opaque::Arithmetic
                ),
                (6, "knn".into(), "numpy.array(X)".into(), Opaque::BuiltArray),
            ]
        );
    }

    #[test]
    fn a_fit_on_names_frames_or_a_transformer_is_not_opaque() {
        let source = "import numpy as np\n\
                      model.fit(X_train, y_train)\n\
                      model.fit(X / 255.0, y)\n\
                      model.fit(X.values, y)\n\
                      model.fit(np.mean(X), y)\n\
                      scaler = StandardScaler()\n\
                      scaler.fit(np.array(X))\n\
                      LabelEncoder().fit(np.array(labels))\n";
        assert_eq!(opaque(source), vec![]);
    }
}
