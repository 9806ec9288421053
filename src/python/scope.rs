//! Which names a cell binds at module level and which module-level names it reads.
//!
//! A small version of Python's symbol tables: one scope per module, function, lambda, class and
//! comprehension, each with the names it binds and declares `global`/`nonlocal`. Every name
//! read is then resolved the way CPython does it (class bodies are invisible to nested scopes,
//! comprehension iterables are evaluated outside the comprehension, walrus targets bind in the
//! enclosing non-comprehension scope). Reads that reach the module scope are the cell's inputs.
//! Whether another cell provides them is for the dataflow step to decide.

use std::collections::{BTreeSet, HashMap};

use rustc_hash::FxHashSet;

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{
    Comprehension, ExceptHandler, Expr, ExprContext, Parameters, Pattern, Stmt, TypeParam,
};
use ruff_text_size::{Ranged, TextSize};

use super::NameSet;

/// Names the Python runtime provides without an import. Reads of these are not cell inputs
/// unless the cell rebinds them. IPython's `display` and `get_ipython` are not here: plain
/// Python lacks them, so reading them is a need the service must meet.
#[rustfmt::skip]
const BUILTINS: &[&str] = &[
    "ArithmeticError", "AssertionError", "AttributeError", "BaseException", "BaseExceptionGroup",
    "BlockingIOError", "BrokenPipeError", "BufferError", "BytesWarning", "ChildProcessError",
    "ConnectionAbortedError", "ConnectionError", "ConnectionRefusedError", "ConnectionResetError",
    "DeprecationWarning", "EOFError", "Ellipsis", "EncodingWarning", "EnvironmentError",
    "Exception", "ExceptionGroup", "False", "FileExistsError", "FileNotFoundError",
    "FloatingPointError", "FutureWarning", "GeneratorExit", "IOError", "ImportError",
    "ImportWarning", "IndentationError", "IndexError", "InterruptedError", "IsADirectoryError",
    "KeyError", "KeyboardInterrupt", "LookupError", "MemoryError", "ModuleNotFoundError",
    "NameError", "None", "NotADirectoryError", "NotImplemented", "NotImplementedError", "OSError",
    "OverflowError", "PendingDeprecationWarning", "PermissionError", "ProcessLookupError",
    "PythonFinalizationError", "RecursionError", "ReferenceError", "ResourceWarning",
    "RuntimeError", "RuntimeWarning", "StopAsyncIteration", "StopIteration", "SyntaxError",
    "SyntaxWarning", "SystemError", "SystemExit", "TabError", "TimeoutError", "True", "TypeError",
    "UnboundLocalError", "UnicodeDecodeError", "UnicodeEncodeError", "UnicodeError",
    "UnicodeTranslateError", "UnicodeWarning", "UserWarning", "ValueError", "Warning",
    "WindowsError", "ZeroDivisionError", "__build_class__", "__builtins__", "__debug__", "__doc__",
    "__file__", "__import__", "__loader__", "__name__", "__package__", "__spec__", "abs", "aiter",
    "all", "anext", "any", "ascii", "bin", "bool", "breakpoint", "bytearray", "bytes", "callable",
    "chr", "classmethod", "compile", "complex", "copyright", "credits", "delattr", "dict", "dir",
    "divmod", "enumerate", "eval", "exec", "exit", "filter", "float", "format",
    "frozenset", "getattr", "globals", "hasattr", "hash", "help", "hex", "id",
    "input", "int", "isinstance", "issubclass", "iter", "len", "license", "list", "locals", "map",
    "max", "memoryview", "min", "next", "object", "oct", "open", "ord", "pow", "print", "property",
    "quit", "range", "repr", "reversed", "round", "set", "setattr", "slice", "sorted",
    "staticmethod", "str", "sum", "super", "tuple", "type", "vars", "zip",
];

/// The module-level names of one cell.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(crate) struct Names {
    /// Names bound in the module scope, plus every name declared `global`.
    pub(crate) bound: NameSet,
    /// Module-level names read anywhere in the cell.
    pub(crate) loaded: NameSet,
    /// Module-level names read by each function defined in the module scope, keyed by the
    /// offset of the function's name.
    pub(crate) function_globals: HashMap<TextSize, NameSet>,
    /// Builtins read from the module scope that the body itself does not bind, left out of
    /// `loaded`. Another statement or cell may rebind them (`sum = 0`, `input = df[cols]`), so
    /// per-statement dataflow needs them.
    pub(crate) builtins: NameSet,
}

/// Whether `name` is one of [`BUILTINS`] (kept sorted for this search).
pub(crate) fn is_builtin(name: &str) -> bool {
    BUILTINS.binary_search(&name).is_ok()
}

/// Resolves the names of a module body.
#[cfg(test)]
pub(crate) fn resolve(body: &[Stmt]) -> Names {
    let mut builder = Builder::walk(body);
    builder.finish(&mut [])
}

/// Resolves the names of a module body, and of each of its statements as if it were the body
/// alone (what `resolve(&body[i..=i])` gives), in one walk: a name's scope depends only on the
/// statement it is in; only which builtins count as rebound depends on the whole.
pub(crate) fn resolve_with_statements(body: &[Stmt]) -> (Names, Vec<Names>) {
    let mut builder = Builder::walk(body);
    let mut each: Vec<Found> = body.iter().map(|_| Found::default()).collect();
    let names = builder.finish(&mut each);
    (names, each.iter().map(Found::owned).collect())
}

/// Module-level names found, borrowed from the tree: what [`Names`] owns.
#[derive(Default)]
struct Found<'a> {
    bound: BTreeSet<&'a str>,
    loaded: BTreeSet<&'a str>,
    function_globals: HashMap<TextSize, BTreeSet<&'a str>>,
    builtins: BTreeSet<&'a str>,
}

impl<'a> Found<'a> {
    /// Files a read that reaches the module scope: a builtin the body does not bind is kept
    /// apart from the other reads.
    fn read(&mut self, name: &'a str, owner: Option<TextSize>) {
        if is_builtin(name) && !self.bound.contains(name) {
            self.builtins.insert(name);
            return;
        }
        self.loaded.insert(name);
        if let Some(owner) = owner {
            self.function_globals.entry(owner).or_default().insert(name);
        }
    }

    fn owned(&self) -> Names {
        Names {
            bound: owned(&self.bound),
            loaded: owned(&self.loaded),
            function_globals: self
                .function_globals
                .iter()
                .map(|(owner, names)| (*owner, owned(names)))
                .collect(),
            builtins: owned(&self.builtins),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Module,
    /// A `def` or a `lambda`.
    Function,
    Class,
    Comprehension,
}

/// One scope's names, borrowed from the syntax tree: only the module-level results of
/// [`Builder::finish`] are owned strings. The sets hash with `FxHash`, since every name of the
/// cell goes through them and SipHash's resistance to chosen keys buys nothing here.
struct Scope<'a> {
    kind: Kind,
    parent: Option<usize>,
    /// The module-level function this scope is part of (itself included).
    owner: Option<TextSize>,
    bound: FxHashSet<&'a str>,
    globals: FxHashSet<&'a str>,
    nonlocals: FxHashSet<&'a str>,
    /// Each name read here, with the top-level statement it is read in.
    loads: Vec<(usize, &'a str)>,
}

impl Scope<'_> {
    fn new(kind: Kind, parent: Option<usize>, owner: Option<TextSize>) -> Self {
        Self {
            kind,
            parent,
            owner,
            bound: FxHashSet::default(),
            globals: FxHashSet::default(),
            nonlocals: FxHashSet::default(),
            loads: Vec::new(),
        }
    }
}

struct Builder<'a> {
    scopes: Vec<Scope<'a>>,
    current: usize,
    /// The top-level statement being walked.
    statement: usize,
    /// Names bound in the module scope or declared `global`, each with its statement.
    module_binds: Vec<(usize, &'a str)>,
}

impl<'a> Builder<'a> {
    fn walk(body: &'a [Stmt]) -> Builder<'a> {
        let mut builder = Builder {
            scopes: vec![Scope::new(Kind::Module, None, None)],
            current: 0,
            statement: 0,
            module_binds: Vec::new(),
        };
        for (index, stmt) in body.iter().enumerate() {
            builder.statement = index;
            builder.visit_stmt(stmt);
        }
        builder
    }

    fn push(&mut self, kind: Kind, owner: Option<TextSize>) {
        self.scopes
            .push(Scope::new(kind, Some(self.current), owner));
        self.current = self.scopes.len() - 1;
    }

    fn pop(&mut self) {
        self.current = self.scopes[self.current].parent.unwrap_or(0);
    }

    fn owner(&self) -> Option<TextSize> {
        self.scopes[self.current].owner
    }

    fn bind(&mut self, name: &'a str) {
        self.bind_in(self.current, name);
    }

    fn bind_in(&mut self, scope: usize, name: &'a str) {
        self.scopes[scope].bound.insert(name);
        if scope == 0 {
            self.module_binds.push((self.statement, name));
        }
    }

    fn load(&mut self, name: &'a str) {
        let statement = self.statement;
        self.scopes[self.current].loads.push((statement, name));
    }

    /// Visits what a signature evaluates in the enclosing scope: defaults, then annotations.
    fn visit_signature(&mut self, parameters: &'a Parameters) {
        for param in parameters.iter_non_variadic_params() {
            if let Some(default) = param.default() {
                self.visit_expr(default);
            }
        }
        for param in parameters.iter() {
            if let Some(annotation) = param.as_parameter().annotation() {
                self.visit_annotation(annotation);
            }
        }
    }

    fn bind_parameters(&mut self, parameters: &'a Parameters) {
        for param in parameters.iter() {
            self.bind(param.as_parameter().name.as_str());
        }
    }

    /// The first iterable runs in the enclosing scope; everything else in the comprehension's.
    fn visit_comprehension_scope(
        &mut self,
        generators: &'a [Comprehension],
        elements: &[&'a Expr],
    ) {
        if let Some(first) = generators.first() {
            self.visit_expr(&first.iter);
        }
        let owner = self.owner();
        self.push(Kind::Comprehension, owner);
        for (index, generator) in generators.iter().enumerate() {
            if index > 0 {
                self.visit_expr(&generator.iter);
            }
            self.visit_expr(&generator.target);
            for condition in &generator.ifs {
                self.visit_expr(condition);
            }
        }
        for element in elements {
            self.visit_expr(element);
        }
        self.pop();
    }

    /// Walrus targets bind in the nearest scope that is not a comprehension (PEP 572).
    fn bind_walrus(&mut self, name: &'a str) {
        let mut scope = self.current;
        while self.scopes[scope].kind == Kind::Comprehension {
            match self.scopes[scope].parent {
                Some(parent) => scope = parent,
                None => break,
            }
        }
        self.bind_in(scope, name);
    }

    fn resolves_to_module(&self, mut scope: usize, name: &str) -> bool {
        let mut innermost = true;
        loop {
            let current = &self.scopes[scope];
            if current.kind == Kind::Module || current.globals.contains(name) {
                return true;
            }
            if current.nonlocals.contains(name) {
                return false;
            }
            // A class body's names are visible in the body itself, not in nested scopes.
            let visible = innermost || current.kind != Kind::Class;
            if visible && current.bound.contains(name) {
                return false;
            }
            match current.parent {
                Some(parent) => scope = parent,
                None => return true,
            }
            innermost = false;
        }
    }

    /// The body's names; with one entry of `each` per top-level statement, each statement's
    /// too.
    fn finish(&mut self, each: &mut [Found<'a>]) -> Names {
        let mut whole = Found::default();
        for &(statement, name) in &self.module_binds {
            whole.bound.insert(name);
            if let Some(found) = each.get_mut(statement) {
                found.bound.insert(name);
            }
        }
        for (index, scope) in self.scopes.iter().enumerate() {
            for &(statement, name) in &scope.loads {
                if !self.resolves_to_module(index, name) {
                    continue;
                }
                whole.read(name, scope.owner);
                if let Some(found) = each.get_mut(statement) {
                    found.read(name, scope.owner);
                }
            }
        }
        whole.owned()
    }
}

/// The owned copy of a set of borrowed names, each copied once.
fn owned(names: &BTreeSet<&str>) -> NameSet {
    names.iter().copied().collect()
}

impl<'a> Visitor<'a> for Builder<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(def) => {
                for decorator in &def.decorator_list {
                    self.visit_decorator(decorator);
                }
                self.visit_signature(&def.parameters);
                if let Some(returns) = &def.returns {
                    self.visit_annotation(returns);
                }
                self.bind(def.name.as_str());
                let owner = if self.current == 0 {
                    Some(def.name.range().start())
                } else {
                    self.owner()
                };
                self.push(Kind::Function, owner);
                if let Some(type_params) = &def.type_params {
                    self.visit_type_params(type_params);
                }
                self.bind_parameters(&def.parameters);
                self.visit_body(&def.body);
                self.pop();
            }
            Stmt::ClassDef(class) => {
                for decorator in &class.decorator_list {
                    self.visit_decorator(decorator);
                }
                if let Some(arguments) = &class.arguments {
                    self.visit_arguments(arguments);
                }
                self.bind(class.name.as_str());
                let owner = self.owner();
                self.push(Kind::Class, owner);
                if let Some(type_params) = &class.type_params {
                    self.visit_type_params(type_params);
                }
                self.visit_body(&class.body);
                self.pop();
            }
            Stmt::Global(global) => {
                for name in &global.names {
                    let name = name.as_str();
                    self.scopes[self.current].globals.insert(name);
                    self.module_binds.push((self.statement, name));
                }
            }
            Stmt::Nonlocal(nonlocal) => {
                for name in &nonlocal.names {
                    self.scopes[self.current].nonlocals.insert(name.as_str());
                }
            }
            Stmt::Import(import) => {
                for alias in &import.names {
                    let name = match &alias.asname {
                        Some(asname) => asname.as_str(),
                        None => alias.name.as_str().split('.').next().unwrap_or_default(),
                    };
                    self.bind(name);
                }
            }
            Stmt::ImportFrom(import) => {
                for alias in &import.names {
                    let name = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
                    if name != "*" {
                        self.bind(name);
                    }
                }
            }
            Stmt::AugAssign(assign) => {
                // `x += 1` reads `x` before binding it.
                if let Expr::Name(name) = assign.target.as_ref() {
                    self.load(name.id.as_str());
                }
                visitor::walk_stmt(self, stmt);
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(name) => match name.ctx {
                ExprContext::Load => self.load(name.id.as_str()),
                ExprContext::Store => self.bind(name.id.as_str()),
                // `del x` makes `x` local in a function but binds nothing in the module.
                ExprContext::Del if self.current != 0 => self.bind(name.id.as_str()),
                ExprContext::Del | ExprContext::Invalid => {}
            },
            Expr::Named(named) => {
                self.visit_expr(&named.value);
                match named.target.as_ref() {
                    Expr::Name(name) => self.bind_walrus(name.id.as_str()),
                    target => self.visit_expr(target),
                }
            }
            Expr::Lambda(lambda) => {
                if let Some(parameters) = &lambda.parameters {
                    self.visit_signature(parameters);
                }
                let owner = self.owner();
                self.push(Kind::Function, owner);
                if let Some(parameters) = &lambda.parameters {
                    self.bind_parameters(parameters);
                }
                self.visit_expr(&lambda.body);
                self.pop();
            }
            Expr::ListComp(comp) => self.visit_comprehension_scope(&comp.generators, &[&comp.elt]),
            Expr::SetComp(comp) => self.visit_comprehension_scope(&comp.generators, &[&comp.elt]),
            Expr::Generator(comp) => {
                self.visit_comprehension_scope(&comp.generators, &[&comp.elt]);
            }
            Expr::DictComp(comp) => {
                let mut elements: Vec<&Expr> = comp.key.iter().map(AsRef::as_ref).collect();
                elements.push(&comp.value);
                self.visit_comprehension_scope(&comp.generators, &elements);
            }
            _ => visitor::walk_expr(self, expr),
        }
    }

    fn visit_except_handler(&mut self, handler: &'a ExceptHandler) {
        let ExceptHandler::ExceptHandler(inner) = handler;
        if let Some(name) = &inner.name {
            self.bind(name.as_str());
        }
        visitor::walk_except_handler(self, handler);
    }

    fn visit_pattern(&mut self, pattern: &'a Pattern) {
        let captured = match pattern {
            Pattern::MatchAs(pattern) => pattern.name.as_ref(),
            Pattern::MatchStar(pattern) => pattern.name.as_ref(),
            Pattern::MatchMapping(pattern) => pattern.rest.as_ref(),
            _ => None,
        };
        if let Some(name) = captured {
            self.bind(name.as_str());
        }
        visitor::walk_pattern(self, pattern);
    }

    fn visit_type_param(&mut self, type_param: &'a TypeParam) {
        self.bind(type_param.name().as_str());
        visitor::walk_type_param(self, type_param);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruff_python_parser::parse_module;

    fn names(source: &str) -> Names {
        resolve(&parse_module(source).unwrap().syntax().body)
    }

    fn set(items: &[&str]) -> NameSet {
        items.iter().map(|item| item.to_string()).collect()
    }

    #[test]
    fn one_walk_gives_each_statement_the_names_it_has_alone() {
        let source = r#"
import os, numpy as np
from sklearn import *
sum = 0
print(sum, len(os.listdir('.')))
def f(a, b=np.pi, *args, key: int = len, **kw):
    global counter
    counter = a
    def g():
        nonlocal a
        a = b + total
        return [a for a in args if (hit := a) or min(a)]
    return g, hit if False else open
class C(Base, metaclass=Meta):
    attr = f(1)
    def m(self):
        return attr + self.attr + max
lam = lambda x, y=sum: x + y + z
counter += 1
del gone
try:
    risky()
except ValueError as error:
    print(error)
match command:
    case {"go": where, **rest}:
        go(where, rest)
    case [first, *others]:
        print(first, others)
squares = {k: v for k, v in zip(range(3), map(abs, items)) if k}
with open(path) as handle, ctx() as (a, b):
    data = handle.read()
for i, (j, k) in enumerate(pairs):
    input = i
if (n := len(data)) > 1:
    input(n)
"#;
        let parsed = parse_module(source).unwrap();
        let body = &parsed.syntax().body;
        let (whole, each) = resolve_with_statements(body);
        assert_eq!(whole, resolve(body));
        assert_eq!(each.len(), body.len());
        for (index, names) in each.iter().enumerate() {
            assert_eq!(names, &resolve(&body[index..=index]), "statement {index}");
        }
    }

    #[test]
    fn builtins_are_sorted_for_the_binary_search() {
        assert!(BUILTINS.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(is_builtin("print") && is_builtin("ArithmeticError") && is_builtin("zip"));
        assert!(!is_builtin("display") && !is_builtin("get_ipython"));
    }

    #[test]
    fn binds_every_kind_of_module_level_target() {
        let cases: &[(&str, &[&str])] = &[
            ("x = 1", &["x"]),
            ("a, (b, *c) = data", &["a", "b", "c"]),
            ("total += 1", &["total"]),
            ("n: int = 3\nm: int", &["m", "n"]),
            ("if (k := 5): pass", &["k"]),
            ("ys = [last := y for y in data]", &["last", "ys"]),
            ("for i, row in rows: pass", &["i", "row"]),
            ("with open(p) as f, ctx() as (g, h): pass", &["f", "g", "h"]),
            ("def f(): pass\nclass C: pass", &["C", "f"]),
            (
                "import os.path, numpy as np\nfrom a import b, c as d\nfrom e import *",
                &["b", "d", "np", "os"],
            ),
            ("def f():\n    global model\n    model = 1", &["f", "model"]),
            ("try: pass\nexcept E as err: pass", &["err"]),
            (
                "match p:\n case [x, *rest] | {'k': x, **rest}: pass",
                &["rest", "x"],
            ),
            ("obj.attr = 1\ndf['c'] = 2\ndel gone", &[]),
        ];
        for (source, expected) in cases {
            assert_eq!(names(source).bound, set(expected), "{source}");
        }
    }

    #[test]
    fn loads_skip_builtins_locals_and_class_bodies() {
        let cases: &[(&str, &[&str])] = &[
            ("print(len(df))", &["df"]),
            ("x += 1", &["x"]),
            ("y = x + 1", &["x"]),
            (
                "f = lambda r, k=scale: r * k * factor",
                &["factor", "scale"],
            ),
            (
                "def f(a, *args, b=default, **kw) -> Ret:\n    c = a\n    return c + g",
                &["Ret", "default", "g"],
            ),
            (
                "def f():\n    def inner():\n        return local\n    local = 1\n    return inner",
                &[],
            ),
            (
                "def f():\n    x = 1\n    def g():\n        nonlocal x\n        x = x + outer",
                &["outer"],
            ),
            (
                "class C:\n    attr = base\n    def m(self):\n        return attr",
                &["attr", "base"],
            ),
            (
                "class C:\n    items = [1]\n    doubled = [i * k for i in items]",
                &["k"],
            ),
            (
                "try: pass\nexcept ValueError as err: log(err)",
                &["err", "log"],
            ),
            ("max = 3\nprint(max)", &["max"]),
            // IPython's `display` is no builtin of plain Python: the service must provide it.
            ("display(df.head())", &["df", "display"]),
        ];
        for (source, expected) in cases {
            assert_eq!(names(source).loaded, set(expected), "{source}");
        }
    }

    #[test]
    fn comprehension_variables_are_not_loads() {
        let cases: &[(&str, &[&str])] = &[
            ("[x * 2 for x in data]", &["data"]),
            (
                "{k: v for k, v in pairs.items() if v > limit}",
                &["limit", "pairs"],
            ),
            ("[c for row in grid for c in row]", &["grid"]),
            ("(w for w in words)", &["words"]),
            ("[x for x in x]", &["x"]),
            ("{n for n in nums}", &["nums"]),
        ];
        for (source, expected) in cases {
            assert_eq!(names(source).loaded, set(expected), "{source}");
        }
    }
}
