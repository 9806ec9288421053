//! What a path expression can be, known before the notebook runs.
//!
//! A small abstract interpreter over the string values a notebook builds its paths from:
//! literals, constants assigned earlier (in this cell or an earlier one), f-strings and `+` of
//! known parts, `os.path.join`/`dirname`/`basename`/`abspath`, `pathlib` `Path(...)`, `/`,
//! `.parent` and `.joinpath`, `os.getcwd()`, environment reads with their defaults, and loop
//! variables over literal collections (`for name in ["rf", "svm"]`, `for name, m in
//! models.items()` over a dict literal). Each expression evaluates to every value it can take
//! (the loop over three names gives three paths) or to [`Value::Unknown`]; nothing here guesses.
//!
//! Paths stay relative: the notebook's code runs in the notebook's folder, as in Jupyter, so
//! `os.getcwd()` is `.` and `os.path.abspath("x")` is `x`. An environment variable read with no
//! default is kept as a [`setting_marker`] inside the value, so the planner can tell that a
//! setting names a path the notebook writes.

use std::collections::{BTreeMap, BTreeSet};

use ruff_python_ast::{Expr, ExprCall, InterpolatedStringElement, Number, Operator};

/// At most this many values per expression: a loop over a large literal list is not a path
/// set worth reporting, and the product of several loops grows fast.
const MAX_VALUES: usize = 64;

/// What an expression evaluates to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Value {
    /// One of these strings (numbers are kept as their decimal text).
    Strings(BTreeSet<String>),
    /// A list or tuple of known length, element by element.
    Sequence(Vec<Value>),
    /// A dict whose keys are known strings (values not tracked).
    Dict(Vec<String>),
    Unknown,
}

impl Value {
    pub fn one(text: impl Into<String>) -> Value {
        Value::Strings(BTreeSet::from([text.into()]))
    }

    /// The strings this value can be, or `None` when it is not (only) known strings.
    pub fn strings(&self) -> Option<&BTreeSet<String>> {
        match self {
            Value::Strings(set) => Some(set),
            _ => None,
        }
    }

    /// The values an element of this collection takes when iterated, one per element.
    fn elements(&self) -> Option<Vec<Value>> {
        match self {
            Value::Sequence(items) => Some(items.clone()),
            Value::Dict(keys) => Some(keys.iter().map(|k| Value::one(k.clone())).collect()),
            Value::Strings(_) | Value::Unknown => None,
        }
    }

    /// Either value: what a name holds after assignments in two branches or loop iterations.
    pub fn union(self, other: Value) -> Value {
        match (self, other) {
            (Value::Strings(mut a), Value::Strings(b)) => {
                a.extend(b);
                capped(a)
            }
            (a, b) if a == b => a,
            _ => Value::Unknown,
        }
    }
}

fn capped(set: BTreeSet<String>) -> Value {
    if set.is_empty() || set.len() > MAX_VALUES {
        Value::Unknown
    } else {
        Value::Strings(set)
    }
}

/// Every combination of `left` and `right` through `join`.
fn product(left: &Value, right: &Value, join: impl Fn(&str, &str) -> String) -> Value {
    let (Some(left), Some(right)) = (left.strings(), right.strings()) else {
        return Value::Unknown;
    };
    if left.len() * right.len() > MAX_VALUES {
        return Value::Unknown;
    }
    capped(
        left.iter()
            .flat_map(|l| right.iter().map(|r| join(l, r)).collect::<Vec<_>>())
            .collect(),
    )
}

fn map_strings(value: &Value, f: impl Fn(&str) -> String) -> Value {
    match value.strings() {
        Some(set) => capped(set.iter().map(|s| f(s)).collect()),
        None => Value::Unknown,
    }
}

/// The text standing for an environment variable read with no default, inside a value.
pub fn setting_marker(name: &str) -> String {
    format!("\u{1}{name}\u{1}")
}

/// The settings whose markers a value holds.
pub fn settings_in(text: &str) -> Vec<String> {
    text.split('\u{1}')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// An environment variable the notebook reads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SettingRead {
    pub name: String,
    /// The default the code gives, when it is a known string.
    pub default: Option<String>,
    /// The code gives a default, known or not (`os.environ.get("X", compute())`).
    pub has_default: bool,
    /// The read raises when the variable is unset (`os.environ["X"]`), where `os.getenv("X")`
    /// gives `None`.
    pub fails_when_unset: bool,
    /// 1-based line in the cell.
    pub line: usize,
}

/// A call of a function by its plain name, with what its arguments evaluate to: how a helper
/// `def save(obj, path)` learns the paths it is called with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallSite {
    pub callee: String,
    pub positional: Vec<Value>,
    pub keywords: Vec<(String, Value)>,
    /// `f(*args)` or `f(**kwargs)`: which parameter gets what is unknown.
    pub unpacks: bool,
}

/// What each parameter of the notebook's functions is called with, over every call site:
/// function name → parameter name → value.
pub type ParameterValues = BTreeMap<String, BTreeMap<String, Value>>;

/// Gathers [`ParameterValues`] from call sites; `params` gives each function's positional
/// parameter names in order, and whether each has a default.
pub fn parameter_values(
    sites: &[CallSite],
    params: &BTreeMap<String, Vec<String>>,
) -> ParameterValues {
    let mut values: ParameterValues = BTreeMap::new();
    for site in sites {
        let Some(names) = params.get(&site.callee) else {
            continue;
        };
        let entry = values.entry(site.callee.clone()).or_default();
        let mut merge = |name: &str, value: Value| {
            let merged = match entry.remove(name) {
                Some(before) => before.union(value),
                None => value,
            };
            entry.insert(name.to_string(), merged);
        };
        if site.unpacks {
            for name in names {
                merge(name, Value::Unknown);
            }
            continue;
        }
        for (name, value) in names.iter().zip(&site.positional) {
            merge(name, value.clone());
        }
        for (name, value) in &site.keywords {
            merge(name, value.clone());
        }
    }
    values
}

/// Names with known values: the module's, carried from cell to cell, and a function's locals.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Bindings {
    pub names: BTreeMap<String, Value>,
}

/// Evaluates expressions against some [`Bindings`]; `canonical` resolves a callee through the
/// cell's import aliases (`jl.dump` → `joblib.dump`).
pub struct Evaluator<'a> {
    pub scopes: Vec<Bindings>,
    pub canonical: &'a dyn Fn(&Expr) -> Option<String>,
    /// Environment reads met while evaluating, with the byte offset of the call.
    pub settings: Vec<(usize, SettingRead)>,
    /// Turns a byte offset into a 1-based line.
    pub line_of: &'a dyn Fn(usize) -> usize,
}

impl Evaluator<'_> {
    fn lookup(&self, name: &str) -> Value {
        self.scopes
            .iter()
            .rev()
            .find_map(|scope| scope.names.get(name))
            .cloned()
            .unwrap_or(Value::Unknown)
    }

    /// Binds `name` in the innermost scope.
    pub fn bind(&mut self, name: &str, value: Value) {
        let module_level = self.scopes.len() == 1;
        if let Some(scope) = self.scopes.last_mut() {
            // An unknown module-level value is kept as no entry: the module's bindings travel
            // from cell to cell, and most names a notebook binds are not strings. A function's
            // unknown locals stay, to hide the module's value of the same name.
            if module_level && value == Value::Unknown {
                scope.names.remove(name);
            } else {
                scope.names.insert(name.to_string(), value);
            }
        }
    }

    /// Binds an assignment or loop target to `value`, destructuring tuples of names.
    pub fn bind_target(&mut self, target: &Expr, value: Value) {
        match target {
            Expr::Name(name) => self.bind(name.id.as_str(), value),
            Expr::Tuple(ruff_python_ast::ExprTuple { elts, .. })
            | Expr::List(ruff_python_ast::ExprList { elts, .. }) => {
                let parts = match value {
                    Value::Sequence(items) if items.len() == elts.len() => items,
                    _ => vec![Value::Unknown; elts.len()],
                };
                for (elt, part) in elts.iter().zip(parts) {
                    self.bind_target(elt, part);
                }
            }
            // `models["knn"] = KNN()` adds a key to a known dict.
            Expr::Subscript(subscript) => {
                let (Expr::Name(name), Some(keys)) = (
                    subscript.value.as_ref(),
                    self.eval(&subscript.slice).strings().cloned(),
                ) else {
                    return;
                };
                if let Value::Dict(mut known) = self.lookup(name.id.as_str()) {
                    for key in keys {
                        if !known.contains(&key) {
                            known.push(key);
                        }
                    }
                    self.bind(name.id.as_str(), Value::Dict(known));
                }
            }
            _ => {}
        }
    }

    /// Binds a `for` target to what each element of `iter` is, over every iteration.
    pub fn bind_loop(&mut self, target: &Expr, iter: &Expr) {
        let each = self.iteration(iter);
        let Some(elements) = each.filter(|e| !e.is_empty()) else {
            self.forget_target(target);
            return;
        };
        // Each target name holds the union of what it is in every iteration.
        let mut merged: BTreeMap<String, Value> = BTreeMap::new();
        for element in elements {
            let mut probe = Evaluator {
                scopes: vec![Bindings::default()],
                canonical: self.canonical,
                settings: Vec::new(),
                line_of: self.line_of,
            };
            probe.bind_target(target, element);
            for (name, value) in probe.scopes.pop().unwrap_or_default().names {
                let value = match merged.remove(&name) {
                    Some(before) => before.union(value),
                    None => value,
                };
                merged.insert(name, value);
            }
        }
        for (name, value) in merged {
            self.bind(&name, value);
        }
    }

    /// Makes every name a target binds unknown.
    pub fn forget_target(&mut self, target: &Expr) {
        match target {
            Expr::Name(name) => self.bind(name.id.as_str(), Value::Unknown),
            Expr::Tuple(tuple) => tuple.elts.iter().for_each(|e| self.forget_target(e)),
            Expr::List(list) => list.elts.iter().for_each(|e| self.forget_target(e)),
            Expr::Starred(starred) => self.forget_target(&starred.value),
            _ => {}
        }
    }

    /// The elements a `for` loop over `iter` visits, when known.
    fn iteration(&mut self, iter: &Expr) -> Option<Vec<Value>> {
        if let Expr::Call(call) = iter {
            let args = &call.arguments.args;
            if let Expr::Attribute(attribute) = call.func.as_ref() {
                let method = attribute.attr.as_str();
                let receiver = self.eval(&attribute.value);
                return match (method, receiver) {
                    ("items", Value::Dict(keys)) => Some(
                        keys.into_iter()
                            .map(|k| Value::Sequence(vec![Value::one(k), Value::Unknown]))
                            .collect(),
                    ),
                    ("keys", Value::Dict(keys)) => Some(keys.into_iter().map(Value::one).collect()),
                    _ => None,
                };
            }
            let callee = (self.canonical)(&call.func)?;
            return match (callee.as_str(), args.as_ref()) {
                ("range", [stop]) => {
                    let Value::Strings(set) = self.eval(stop) else {
                        return None;
                    };
                    let stop: usize = set.iter().next().filter(|_| set.len() == 1)?.parse().ok()?;
                    (stop <= MAX_VALUES)
                        .then(|| (0..stop).map(|i| Value::one(i.to_string())).collect())
                }
                ("enumerate", [inner]) => {
                    let items = self.iteration(inner)?;
                    Some(
                        items
                            .into_iter()
                            .enumerate()
                            .map(|(i, item)| Value::Sequence(vec![Value::one(i.to_string()), item]))
                            .collect(),
                    )
                }
                ("zip", parts) if !parts.is_empty() => {
                    let columns: Vec<Vec<Value>> = parts
                        .iter()
                        .map(|p| self.iteration(p))
                        .collect::<Option<_>>()?;
                    let rows = columns.iter().map(Vec::len).min().unwrap_or(0);
                    Some(
                        (0..rows)
                            .map(|row| {
                                Value::Sequence(columns.iter().map(|c| c[row].clone()).collect())
                            })
                            .collect(),
                    )
                }
                _ => None,
            };
        }
        self.eval(iter).elements()
    }

    /// What `expr` evaluates to.
    pub fn eval(&mut self, expr: &Expr) -> Value {
        match expr {
            Expr::StringLiteral(literal) => Value::one(literal.value.to_str()),
            Expr::NumberLiteral(number) => match &number.value {
                Number::Int(int) => int
                    .as_i64()
                    .map_or(Value::Unknown, |i| Value::one(i.to_string())),
                _ => Value::Unknown,
            },
            Expr::FString(fstring) => self.fstring(fstring),
            Expr::Name(name) => self.lookup(name.id.as_str()),
            Expr::List(list) => Value::Sequence(list.elts.iter().map(|e| self.eval(e)).collect()),
            Expr::Tuple(tuple) => {
                Value::Sequence(tuple.elts.iter().map(|e| self.eval(e)).collect())
            }
            Expr::Dict(dict) => {
                let mut keys = Vec::new();
                for item in &dict.items {
                    match item.key.as_ref().map(|k| self.eval(k)) {
                        Some(Value::Strings(set)) if set.len() == 1 => keys.extend(set),
                        _ => return Value::Unknown,
                    }
                }
                Value::Dict(keys)
            }
            Expr::BinOp(binop) => {
                let (left, right) = (self.eval(&binop.left), self.eval(&binop.right));
                match binop.op {
                    Operator::Add => product(&left, &right, |l, r| format!("{l}{r}")),
                    // `/` on strings is an error in Python: in a path it is pathlib's join.
                    Operator::Div => product(&left, &right, join_posix),
                    _ => Value::Unknown,
                }
            }
            Expr::Attribute(attribute) => {
                let dotted = (self.canonical)(expr);
                if matches!(dotted.as_deref(), Some("os.curdir" | "os.path.curdir")) {
                    return Value::one(".");
                }
                let base = self.eval(&attribute.value);
                match attribute.attr.as_str() {
                    "parent" => map_strings(&base, dirname),
                    "name" => map_strings(&base, basename),
                    "stem" => map_strings(&base, |p| {
                        let name = basename(p);
                        match name.rsplit_once('.') {
                            Some((stem, _)) if !stem.is_empty() => stem.to_string(),
                            _ => name,
                        }
                    }),
                    _ => Value::Unknown,
                }
            }
            Expr::Subscript(subscript) => {
                // `os.environ["X"]`: a setting with no default.
                if (self.canonical)(&subscript.value).as_deref() == Some("os.environ") {
                    if let Some(name) = self.single(&subscript.slice) {
                        let offset = ruff_text_size::Ranged::range(expr).start().to_usize();
                        self.note_setting(offset, &name, None, false);
                        if let Some((_, read)) = self.settings.last_mut() {
                            read.fails_when_unset = true;
                        }
                        return Value::one(setting_marker(&name));
                    }
                }
                Value::Unknown
            }
            Expr::Call(call) => self.call(call),
            _ => Value::Unknown,
        }
    }

    /// The single known string of `expr`.
    fn single(&mut self, expr: &Expr) -> Option<String> {
        match self.eval(expr) {
            Value::Strings(set) if set.len() == 1 => set.into_iter().next(),
            _ => None,
        }
    }

    fn note_setting(
        &mut self,
        offset: usize,
        name: &str,
        default: Option<String>,
        has_default: bool,
    ) {
        let line = (self.line_of)(offset);
        self.settings.push((
            offset,
            SettingRead {
                name: name.to_string(),
                default,
                has_default,
                fails_when_unset: false,
                line,
            },
        ));
    }

    fn fstring(&mut self, fstring: &ruff_python_ast::ExprFString) -> Value {
        let mut value = Value::one("");
        for part in fstring.value.iter() {
            let piece = match part {
                ruff_python_ast::FStringPart::Literal(literal) => {
                    Value::one(literal.value.to_string())
                }
                ruff_python_ast::FStringPart::FString(f) => {
                    let mut inner = Value::one("");
                    for element in f.elements.iter() {
                        let piece = match element {
                            InterpolatedStringElement::Literal(literal) => {
                                Value::one(literal.value.to_string())
                            }
                            // A format spec (`{i:02d}`) changes the text: not known.
                            InterpolatedStringElement::Interpolation(interpolation)
                                if interpolation.format_spec.is_none() =>
                            {
                                self.eval(&interpolation.expression)
                            }
                            InterpolatedStringElement::Interpolation(_) => Value::Unknown,
                        };
                        inner = product(&inner, &piece, |l, r| format!("{l}{r}"));
                    }
                    inner
                }
            };
            value = product(&value, &piece, |l, r| format!("{l}{r}"));
        }
        value
    }

    fn call(&mut self, call: &ExprCall) -> Value {
        let args = &call.arguments.args;
        if let Expr::Attribute(attribute) = call.func.as_ref() {
            if let Some(value) = self.method(call, attribute) {
                return value;
            }
        }
        let Some(callee) = (self.canonical)(&call.func) else {
            return Value::Unknown;
        };
        let offset = ruff_text_size::Ranged::range(call).start().to_usize();
        match callee.as_str() {
            "os.path.join" | "pathlib.Path" | "pathlib.PurePath" | "pathlib.PosixPath"
                if !args.is_empty() && call.arguments.keywords.is_empty() =>
            {
                let mut joined = self.eval(&args[0]);
                for part in &args[1..] {
                    let part = self.eval(part);
                    joined = product(&joined, &part, join_posix);
                }
                joined
            }
            "pathlib.Path" | "pathlib.PurePath" if args.is_empty() => Value::one("."),
            "os.getcwd" | "pathlib.Path.cwd" => Value::one("."),
            "os.path.dirname" => self.unary(args, dirname),
            "os.path.basename" => self.unary(args, basename),
            "os.path.abspath" | "os.path.realpath" | "os.path.normpath" | "str" | "os.fspath" => {
                self.unary(args, |p| p.to_string())
            }
            "os.getenv" | "os.environ.get" => {
                let Some(name) = args.first().and_then(|a| self.single(a)) else {
                    return Value::Unknown;
                };
                let default = args.get(1).or_else(|| {
                    call.arguments
                        .keywords
                        .iter()
                        .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "default"))
                        .map(|k| &k.value)
                });
                match default {
                    None => {
                        self.note_setting(offset, &name, None, false);
                        Value::one(setting_marker(&name))
                    }
                    Some(expr) => {
                        let known = self.single(expr);
                        self.note_setting(offset, &name, known.clone(), true);
                        known.map_or(Value::Unknown, Value::one)
                    }
                }
            }
            _ => Value::Unknown,
        }
    }

    fn unary(&mut self, args: &[Expr], f: impl Fn(&str) -> String) -> Value {
        match args {
            [only] => {
                let value = self.eval(only);
                map_strings(&value, f)
            }
            _ => Value::Unknown,
        }
    }

    /// Methods of a known string or path: `p.joinpath("a")`, `"x".lower()`, `p.resolve()`.
    fn method(
        &mut self,
        call: &ExprCall,
        attribute: &ruff_python_ast::ExprAttribute,
    ) -> Option<Value> {
        let method = attribute.attr.as_str();
        let args = &call.arguments.args;
        if !matches!(
            method,
            "joinpath"
                | "resolve"
                | "absolute"
                | "lower"
                | "upper"
                | "strip"
                | "replace"
                | "format"
                | "with_suffix"
                | "expanduser"
        ) {
            return None;
        }
        // `os.path` and `pathlib` functions are calls of modules, not methods of a value.
        if (self.canonical)(&call.func)
            .is_some_and(|c| c.starts_with("os.") || c.starts_with("pathlib.Path."))
        {
            return None;
        }
        let base = self.eval(&attribute.value);
        let base_strings = base.strings()?.clone();
        let arg_values: Vec<Value> = args.iter().map(|a| self.eval(a)).collect();
        let single_args: Option<Vec<String>> = arg_values
            .iter()
            .map(|v| match v {
                Value::Strings(set) if set.len() == 1 => set.iter().next().cloned(),
                _ => None,
            })
            .collect();
        let value = match method {
            "joinpath" => {
                let mut joined = base;
                for part in &arg_values {
                    joined = product(&joined, part, join_posix);
                }
                joined
            }
            "resolve" | "absolute" | "expanduser" => base,
            "lower" => capped(base_strings.iter().map(|s| s.to_lowercase()).collect()),
            "upper" => capped(base_strings.iter().map(|s| s.to_uppercase()).collect()),
            "strip" if args.is_empty() => {
                capped(base_strings.iter().map(|s| s.trim().to_string()).collect())
            }
            "replace" => match single_args.as_deref() {
                Some([from, to]) => capped(
                    base_strings
                        .iter()
                        .map(|s| s.replace(from.as_str(), to))
                        .collect(),
                ),
                _ => Value::Unknown,
            },
            "with_suffix" => match single_args.as_deref() {
                Some([suffix]) => capped(
                    base_strings
                        .iter()
                        .map(|s| {
                            let name = basename(s);
                            let stem_len =
                                name.rfind('.').filter(|&i| i > 0).map_or(name.len(), |i| i);
                            let cut = s.len() - (name.len() - stem_len);
                            format!("{}{suffix}", &s[..cut])
                        })
                        .collect(),
                ),
                _ => Value::Unknown,
            },
            // `"{}/{}.pkl".format(a, b)`: positional `{}` fields only.
            "format" if call.arguments.keywords.is_empty() && base_strings.len() == 1 => {
                let template = base_strings.into_iter().next().unwrap_or_default();
                let pieces: Vec<&str> = template.split("{}").collect();
                if pieces.len() != arg_values.len() + 1
                    || pieces.iter().any(|p| p.contains(['{', '}']))
                {
                    Value::Unknown
                } else {
                    let mut value = Value::one(pieces[0]);
                    for (arg, piece) in arg_values.iter().zip(&pieces[1..]) {
                        value = product(&value, arg, |l, r| format!("{l}{r}"));
                        value = map_strings(&value, |s| format!("{s}{piece}"));
                    }
                    value
                }
            }
            _ => Value::Unknown,
        };
        Some(value)
    }
}

/// `os.path.join` on POSIX: an absolute part restarts the path.
pub fn join_posix(left: &str, right: &str) -> String {
    if right.starts_with('/') || left.is_empty() {
        right.to_string()
    } else if left.ends_with('/') {
        format!("{left}{right}")
    } else {
        format!("{left}/{right}")
    }
}

/// `os.path.dirname`, with `.` for a bare name (what `Path("x").parent` gives).
pub fn dirname(path: &str) -> String {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) => "/".into(),
        Some((dir, _)) => dir.to_string(),
        None => ".".into(),
    }
}

pub fn basename(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}
