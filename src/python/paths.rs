//! The file paths a cell hands to artifact and data-file calls.
//!
//! A call is recognised from its callee: module functions by their dotted name after resolving
//! the cell's import aliases (`rules::MODULE_RULES`), methods on any other receiver by the
//! method's name (`rules::METHOD_RULES`), and the builtin `open`. Every such call is reported,
//! with the values its path can take as far as `values` can tell before the notebook runs
//! (constants, f-strings, joins, loops over literal collections, environment defaults), or none
//! when they cannot be known. What the service does with each path is the planner's decision.

use std::collections::{BTreeMap, HashMap, HashSet};

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Expr, ExprCall, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};

use super::rules::{keras_or_other, Object, Rule, DEFAULT_ALIASES};
use super::rules::{METHOD_RULES, MODULE_RULES};
use super::values::{Bindings, CallSite, Evaluator, ParameterValues, SettingRead, Value};
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
    bindings: &Bindings,
    parameters: &ParameterValues,
) -> Found {
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
        scopes: vec![bindings.clone()],
        settings: BTreeMap::new(),
        parameters,
        call_sites: Vec::new(),
        file_handles: HashSet::new(),
    };
    finder.visit_body(body);
    let mut calls = finder.calls;
    calls.sort_by_key(|call| call.literal_start);
    Found {
        calls,
        aliases,
        bindings: finder.scopes.into_iter().next().unwrap_or_default(),
        settings: finder.settings.into_values().collect(),
        call_sites: finder.call_sites,
    }
}

/// What [`find`] learns from one cell.
pub(crate) struct Found {
    pub(crate) calls: Vec<PathCall>,
    /// Import aliases in force after the cell.
    pub(crate) aliases: BTreeMap<String, String>,
    /// Known values of module-level names after the cell.
    pub(crate) bindings: Bindings,
    /// Environment variables the cell reads, in source order.
    pub(crate) settings: Vec<SettingRead>,
    /// Calls of plain names, with their arguments' values.
    pub(crate) call_sites: Vec<CallSite>,
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
        canonical(func, |head| self.aliases.get(head).map(String::as_str))
    }

    /// The rule for a call whose callee is `canonical` ([`Context::canonical`]): a module
    /// function first, else a method by its name.
    fn rule_for(&self, call: &ExprCall, canonical: Option<&str>) -> Option<&'static Rule> {
        if let Some(canonical) = canonical {
            if let Some(rule) = MODULE_RULES.iter().find(|rule| rule.matches(canonical)) {
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

    /// `open(<path>, mode)`: the path argument and what the mode does.
    fn open_call<'e>(&self, call: &'e ExprCall) -> Option<(&'e Expr, PathAccess)> {
        let path = argument(call, 0, &["file"])?;
        let mode = match argument(call, 1, &["mode"]) {
            Some(Expr::StringLiteral(mode)) => mode.value.to_str(),
            _ => "r",
        };
        let writes = mode.contains(['w', 'a', 'x', '+']);
        Some((path, if writes { Write } else { Read }))
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
    /// Known values: the module's first, then one scope per function or class being walked.
    scopes: Vec<Bindings>,
    /// Environment reads, by the offset of the read (an expression may be evaluated twice).
    settings: BTreeMap<usize, SettingRead>,
    /// What the notebook's functions are called with (from a first look at every cell).
    parameters: &'c ParameterValues,
    /// Calls of plain names in this cell, with their arguments' values.
    call_sites: Vec<CallSite>,
    /// Names bound to an `open(...)` file object, whose `open` call is reported itself.
    file_handles: HashSet<String>,
}

impl Finder<'_, '_> {
    /// Runs `f` with an evaluator over the current scopes.
    fn with_eval<R>(&mut self, f: impl FnOnce(&mut Evaluator) -> R) -> R {
        let context = &self.context;
        let lines = self.lines;
        let canonical = |expr: &Expr| context.canonical(expr);
        let line_of = |offset: usize| lines.line(TextSize::new(offset as u32));
        let mut evaluator = Evaluator {
            scopes: std::mem::take(&mut self.scopes),
            canonical: &canonical,
            settings: Vec::new(),
            line_of: &line_of,
        };
        let result = f(&mut evaluator);
        self.scopes = evaluator.scopes;
        self.settings.extend(evaluator.settings);
        result
    }

    /// Every value `expr` can take as a path (empty when unknown), and its range.
    fn path_of(&mut self, expr: &Expr) -> (Vec<String>, TextRange) {
        let value = self.with_eval(|evaluator| evaluator.eval(expr));
        let values = value
            .strings()
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default();
        (values, expr.range())
    }

    fn push(&mut self, function: String, expr: &Expr, access: PathAccess) -> usize {
        let (values, range) = self.path_of(expr);
        self.calls.push(PathCall {
            function,
            path: match values.as_slice() {
                [only] => only.clone(),
                _ => String::new(),
            },
            values,
            written: text(self.context.source, range).to_string(),
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

    /// Records a call of a plain name, for the parameter values of the notebook's functions.
    fn note_call_site(&mut self, call: &ExprCall) {
        let Expr::Name(name) = call.func.as_ref() else {
            return;
        };
        let unpacks = call
            .arguments
            .args
            .iter()
            .any(|a| matches!(a, Expr::Starred(_)))
            || call.arguments.keywords.iter().any(|k| k.arg.is_none());
        let site = self.with_eval(|evaluator| CallSite {
            callee: name.id.to_string(),
            positional: call
                .arguments
                .args
                .iter()
                .map(|a| evaluator.eval(a))
                .collect(),
            keywords: call
                .arguments
                .keywords
                .iter()
                .filter_map(|k| Some((k.arg.as_ref()?.to_string(), evaluator.eval(&k.value))))
                .collect(),
            unpacks,
        });
        self.call_sites.push(site);
    }

    fn visit_call(&mut self, call: &ExprCall) {
        self.note_call_site(call);
        if self.handled_opens.contains(&call.range().start()) {
            return;
        }
        if let Some((path, access)) = pathlib_file_call(call) {
            let index = self.push(self.written(&call.func), path, access);
            if access == Read {
                let assigned = self.context.assigned.get(&call.range().start()).cloned();
                self.calls[index].target = assigned;
            }
            return;
        }
        // Asked once: every call of every cell comes here.
        let canonical = self.context.canonical(&call.func);
        if let Some(rule) = self.context.rule_for(call, canonical.as_deref()) {
            let Some(argument) = argument(call, rule.path_index, rule.path_keywords) else {
                return;
            };
            let path = match argument {
                Expr::Name(name) if self.file_handles.contains(name.id.as_str()) => None,
                Expr::Call(open) if self.context.is_open(open) => {
                    let found = self.context.open_call(open).map(|(path, _)| path);
                    if found.is_some() {
                        self.handled_opens.insert(open.range().start());
                    }
                    found
                }
                other => Some(other),
            };
            let Some(path) = path else {
                return;
            };
            let index = self.push(self.written(&call.func), path, rule.access);
            let serializer = match rule.name {
                "save" => keras_or_other(&self.calls[index].path),
                _ => rule.serializer,
            };
            self.calls[index].serializer = Some(serializer);
            self.calls[index].target = self.context.target(rule, call);
        } else if canonical.as_deref() == Some("open") {
            if let Some((path, access)) = self.context.open_call(call) {
                let index = self.push(self.written(&call.func), path, access);
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
            let Some((path, _)) = self.context.open_call(open) else {
                continue;
            };
            let mut uses = FileUses {
                context: &self.context,
                file: file.id.as_str(),
                found: None,
            };
            uses.visit_body(body);
            if let Some((rule, target)) = uses.found {
                let index = self.push(self.written(&open.func), path, rule.access);
                self.calls[index].serializer = Some(rule.serializer);
                self.calls[index].target = target;
                self.handled_opens.insert(open.range().start());
            }
        }
    }

    /// Walks a function or class body in a scope of its own; parameters with a known default
    /// hold it (a helper `def save(obj, path="m.pkl")`), the others are unknown.
    fn visit_scoped(
        &mut self,
        stmt: &Stmt,
        function: Option<(&str, &ruff_python_ast::Parameters)>,
    ) {
        let mut scope = Bindings::default();
        if let Some((name, parameters)) = function {
            let called_with = self.parameters.get(name);
            for parameter in parameters.iter() {
                let default = parameter
                    .default()
                    .map(|default| self.with_eval(|evaluator| evaluator.eval(default)));
                let called = called_with
                    .and_then(|p| p.get(parameter.name().as_str()))
                    .cloned();
                // Call sites that pass it, and the default for those that do not.
                let value = match (called, default) {
                    (Some(called), Some(default)) => called.union(default),
                    (Some(called), None) => called,
                    (None, Some(default)) => default,
                    (None, None) => Value::Unknown,
                };
                scope.names.insert(parameter.name().to_string(), value);
            }
        }
        self.scopes.push(scope);
        visitor::walk_stmt(self, stmt);
        self.scopes.pop();
    }
}

impl<'a> Visitor<'a> for Finder<'_, '_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::With(with) => {
                for item in &with.items {
                    if let (Expr::Call(open), Some(Expr::Name(file))) =
                        (&item.context_expr, item.optional_vars.as_deref())
                    {
                        if self.context.is_open(open) {
                            self.file_handles.insert(file.id.to_string());
                        }
                    }
                }
                self.visit_with_open(&with.items, &with.body);
                visitor::walk_stmt(self, stmt);
            }
            Stmt::Assign(assign) => {
                if let ([Expr::Name(file)], Expr::Call(open)) =
                    (assign.targets.as_slice(), assign.value.as_ref())
                {
                    if self.context.is_open(open) {
                        self.file_handles.insert(file.id.to_string());
                    }
                }
                visitor::walk_stmt(self, stmt);
                self.with_eval(|evaluator| {
                    let value = evaluator.eval(&assign.value);
                    for target in &assign.targets {
                        evaluator.bind_target(target, value.clone());
                    }
                });
            }
            Stmt::AnnAssign(assign) => {
                visitor::walk_stmt(self, stmt);
                self.with_eval(|evaluator| match assign.value.as_deref() {
                    Some(value) => {
                        let value = evaluator.eval(value);
                        evaluator.bind_target(&assign.target, value);
                    }
                    None => evaluator.forget_target(&assign.target),
                });
            }
            Stmt::AugAssign(assign) => {
                visitor::walk_stmt(self, stmt);
                self.with_eval(|evaluator| {
                    // `path += ".pkl"` is `path = path + ".pkl"`.
                    let combined = Expr::BinOp(ruff_python_ast::ExprBinOp {
                        node_index: Default::default(),
                        range: assign.range,
                        left: assign.target.clone(),
                        op: assign.op,
                        right: assign.value.clone(),
                    });
                    let value = evaluator.eval(&combined);
                    evaluator.bind_target(&assign.target, value);
                });
            }
            Stmt::For(for_loop) => {
                self.visit_expr(&for_loop.iter);
                self.with_eval(|evaluator| evaluator.bind_loop(&for_loop.target, &for_loop.iter));
                self.visit_body(&for_loop.body);
                self.visit_body(&for_loop.orelse);
            }
            Stmt::FunctionDef(function) => {
                self.visit_scoped(stmt, Some((function.name.as_str(), &function.parameters)))
            }
            Stmt::ClassDef(_) => self.visit_scoped(stmt, None),
            _ => visitor::walk_stmt(self, stmt),
        }
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
            let rule = MODULE_RULES.iter().find(|rule| rule.matches(&canonical));
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

/// The dotted callee `func` with its first component resolved through `alias` (the import
/// aliases in force), else through the usual `np`/`pd`/`tf` names. `tensorflow.keras.X` is
/// `keras.X`. Every call of every cell asks this, some more than once, so the name is built
/// in one string, without an intermediate dotted copy.
pub(crate) fn canonical<'a>(
    func: &Expr,
    alias: impl Fn(&str) -> Option<&'a str>,
) -> Option<String> {
    // The attributes from the innermost out: `a.b.c` gives `c`, `b`, then the name `a`.
    let mut attributes: Vec<&str> = Vec::new();
    let mut expr = func;
    let head = loop {
        match expr {
            Expr::Name(name) => break name.id.as_str(),
            Expr::Attribute(attribute) => {
                attributes.push(attribute.attr.as_str());
                expr = &attribute.value;
            }
            _ => return None,
        }
    };
    let head = match alias(head) {
        Some(module) => module,
        None => DEFAULT_ALIASES
            .iter()
            .find(|(name, _)| *name == head)
            .map_or(head, |(_, module)| module),
    };
    let length = head.len() + attributes.iter().map(|a| a.len() + 1).sum::<usize>();
    let mut full = String::with_capacity(length);
    full.push_str(head);
    for attribute in attributes.iter().rev() {
        full.push('.');
        full.push_str(attribute);
    }
    if full.starts_with("tensorflow.keras.") {
        full.drain(.."tensorflow.".len());
    }
    Some(full)
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

/// `path.read_text()`, `.read_bytes()`, `.write_text(...)`, `.write_bytes(...)`: pathlib's
/// whole-file methods, whose receiver is the path. The names are pathlib's own, so any
/// receiver is taken for a path (a heuristic; `zipfile.Path` has them too, with paths as well).
fn pathlib_file_call(call: &ExprCall) -> Option<(&Expr, PathAccess)> {
    let Expr::Attribute(attribute) = call.func.as_ref() else {
        return None;
    };
    let access = match attribute.attr.as_str() {
        "read_text" | "read_bytes" => Read,
        "write_text" | "write_bytes" => Write,
        _ => return None,
    };
    Some((attribute.value.as_ref(), access))
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

#[cfg(test)]
mod tests {
    use crate::python::{analyze, PathAccess, PathCall, Serializer};

    use PathAccess::{Load, Read, Save, Write};
    use Serializer::{Joblib, Keras, Numpy, Other, Pandas, Pickle, Torch};

    #[test]
    fn canonical_resolves_the_head_and_spells_tf_keras_as_keras() {
        let of = |source: &str| {
            let module = ruff_python_parser::parse_expression(source).unwrap();
            let alias = |head: &str| (head == "skm").then_some("sklearn.metrics");
            super::canonical(module.expr(), alias)
        };
        assert_eq!(
            of("skm.accuracy_score").as_deref(),
            Some("sklearn.metrics.accuracy_score")
        );
        assert_eq!(of("np.save").as_deref(), Some("numpy.save"));
        assert_eq!(
            of("tf.keras.models.load_model").as_deref(),
            Some("keras.models.load_model")
        );
        assert_eq!(of("tensorflow.keras").as_deref(), Some("tensorflow.keras"));
        assert_eq!(of("open").as_deref(), Some("open"));
        assert_eq!(of("models[0].fit"), None);
    }

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
        assert_eq!(
            &source[call.literal_start..call.literal_end],
            "Path('m.pkl')"
        );
    }

    fn paths_of(source: &str) -> Vec<(String, Vec<String>)> {
        calls(source)
            .into_iter()
            .map(|call| (call.function, call.values))
            .collect()
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn unknown_paths_are_reported_without_values() {
        let sources = [
            "joblib.dump(m, f'models/{name}.pkl')",
            "joblib.dump(m, 'models/' + name)",
            "joblib.dump(m, path)",
            "joblib.dump(m, b'm.pkl')",
            "pd.read_csv(os.path.join(DATA, 'p.csv'))",
            "joblib.dump(m, f'm_{i:02d}.pkl')",
        ];
        for source in sources {
            let found = calls(source);
            assert_eq!(found.len(), 1, "{source}");
            assert!(
                found[0].values.is_empty(),
                "{source}: {:?}",
                found[0].values
            );
            assert!(found[0].path.is_empty());
        }
        assert!(
            calls("joblib.dump(*args)").is_empty(),
            "no path argument at all"
        );
    }

    #[test]
    fn computed_paths_are_evaluated() {
        let cases: &[(&str, &[&str])] = &[
            ("joblib.dump(m, 'models/' 'm.pkl')", &["models/m.pkl"]),
            ("pd.read_csv(Path('a', 'b'))", &["a/b"]),
            ("d = 'data/'\nf = 'x.csv'\npd.read_csv(d + f)", &["data/x.csv"]),
            ("D = 'data'\npd.read_csv(os.path.join(D, 'p.csv'))", &["data/p.csv"]),
            ("base = Path('out')\njoblib.dump(m, base / 'm.pkl')", &["out/m.pkl"]),
            ("joblib.dump(m, os.path.join(os.getcwd(), 'm.pkl'))", &["./m.pkl"]),
            ("p = os.path.abspath('x.csv')\npd.read_csv(os.path.dirname(p) + '/y.csv')", &["./y.csv"]),
            (
                "M = os.environ.get('MODELS', 'models')\njoblib.dump(m, f'{M}/rf.pkl')",
                &["models/rf.pkl"],
            ),
            (
                "for name in ['rf', 'svm']:\n    joblib.dump(m, f'models/{name}.joblib')",
                &["models/rf.joblib", "models/svm.joblib"],
            ),
            (
                "models = {'rf': RF(), 'lr': LR()}\nmodels['knn'] = KNN()\nfor name, model in models.items():\n    joblib.dump(model, f'models/{name}.joblib')",
                &["models/knn.joblib", "models/lr.joblib", "models/rf.joblib"],
            ),
            (
                "for i in range(2):\n    joblib.dump(m, 'm' + str(i) + '.pkl')",
                &["m0.pkl", "m1.pkl"],
            ),
            ("p = 'models/x.pkl'\np = p.replace('x', 'y')\njoblib.dump(m, p)", &["models/y.pkl"]),
            ("joblib.dump(m, '{}/{}.pkl'.format('models', 'rf'))", &["models/rf.pkl"]),
            (
                "def save(obj, path='default.pkl'):\n    joblib.dump(obj, path)",
                &["default.pkl"],
            ),
        ];
        for (source, expected) in cases {
            let found = paths_of(source);
            assert_eq!(found.len(), 1, "{source}: {found:?}");
            assert_eq!(found[0].1, strings(expected), "{source}");
        }
    }

    #[test]
    fn values_carry_from_cell_to_cell() {
        let first = crate::python::analyze("DATA_DIR = 'data'\n").unwrap();
        let inherited = crate::python::Inherited::after(&first, &Default::default());
        let second =
            crate::python::analyze_with("df = pd.read_csv(f'{DATA_DIR}/x.csv')", &inherited)
                .unwrap();
        assert_eq!(second.path_calls[0].values, strings(&["data/x.csv"]));
    }

    #[test]
    fn pathlib_whole_file_methods_read_and_write_their_receiver() {
        assert_eq!(
            summary("text = Path('data/notes.txt').read_text()"),
            one(
                "Path('data/notes.txt').read_text",
                "data/notes.txt",
                Read,
                None,
                Some("text")
            )
        );
        let found = summary("base = Path('out')\n(base / 'log.txt').write_text('done')");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].1.as_str(), found[0].2), ("out/log.txt", Write));
    }

    #[test]
    fn environment_reads_are_settings() {
        let facts = crate::python::analyze(
            "A = os.getenv('A', 'x')\nB = os.environ.get('B')\nC = os.environ['C']\njoblib.dump(m, os.path.join(B, 'm.pkl'))",
        )
        .unwrap();
        let reads: Vec<(&str, Option<&str>, bool, bool)> = facts
            .settings
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.default.as_deref(),
                    s.has_default,
                    s.fails_when_unset,
                )
            })
            .collect();
        assert_eq!(
            reads,
            vec![
                ("A", Some("x"), true, false),
                ("B", None, false, false),
                ("C", None, false, true)
            ]
        );
        let save = &facts.path_calls[0];
        assert_eq!(
            crate::python::values::settings_in(&save.values[0]),
            vec!["B".to_string()]
        );
    }

    #[test]
    fn a_file_handle_is_reported_once_through_its_open() {
        let source = "f = open('m.pkl', 'wb')\npickle.dump(m, f)\nwith open('n.pkl', 'wb') as g:\n    pickle.dump(n, g)";
        let found = paths_of(source);
        assert_eq!(
            found,
            vec![
                ("open".to_string(), strings(&["m.pkl"])),
                ("open".to_string(), strings(&["n.pkl"]))
            ]
        );
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
