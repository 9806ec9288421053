//! Statements that must run whatever names they bind: they change the process the later
//! statements run in (working directory, import path, environment, folders, random seeds), or
//! they fetch the data the notebook reads.
//!
//! Calls are recognised by their dotted callee after resolving the import aliases, the way
//! `paths` recognises its calls. The tables are a heuristic: they list what notebooks commonly
//! do before training, not every way Python can change a process.

use std::collections::BTreeMap;

use ruff_python_ast::{Expr, ExprCall};
use serde::Serialize;

use super::rules::DEFAULT_ALIASES;

/// Why a statement must run even when nothing served reads what it binds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Effect {
    /// Changes the process for the statements after it; holds the call or target as resolved
    /// (`os.chdir`, `sys.path.append`, `os.environ`, `numpy.random.seed`, `mkdir`).
    Process(String),
    /// Downloads or unpacks data the notebook reads; holds the call as resolved
    /// (`_nb2svc_fetch.download`, `urllib.request.urlretrieve`).
    Fetch(String),
}

impl Effect {
    /// A few words for the README: `changes the process (os.chdir)`.
    pub fn describe(&self) -> String {
        match self {
            Effect::Process(what) => format!("changes the process ({what})"),
            Effect::Fetch(what) => format!("fetches data ({what})"),
        }
    }
}

/// Module functions that change the process, by dotted name after alias resolution.
const PROCESS_CALLS: &[&str] = &[
    "os.chdir",
    "os.putenv",
    "os.makedirs",
    "os.mkdir",
    "os.environ.update",
    "os.environ.setdefault",
    "random.seed",
    "numpy.random.seed",
    "tensorflow.random.set_seed",
    "tensorflow.set_random_seed",
    "torch.manual_seed",
    "torch.cuda.manual_seed",
    "torch.cuda.manual_seed_all",
];

/// Every method of these objects changes the process: `sys.path.append(..)`, `.insert(..)`.
const PROCESS_OBJECTS: &[&str] = &["sys.path"];

/// Seed helpers known by their last name wherever they live (`keras.utils.set_random_seed`,
/// a notebook's own `set_random_seed`, lightning's `seed_everything`).
const SEED_FUNCTIONS: &[&str] = &["set_random_seed", "seed_everything"];

/// Methods that change the process on any receiver. Only paths have a `mkdir` method in the
/// libraries notebooks use, so `Path(..).mkdir()` and `folder.mkdir()` both count.
const PROCESS_METHODS: &[&str] = &["mkdir"];

/// Calls that fetch data: the runtime's download helpers (what extraction turns `!wget` and
/// `!unzip` into) and urllib's.
const FETCH_CALLS: &[&str] = &[
    "_nb2svc_fetch.download",
    "_nb2svc_fetch.unpack",
    "urllib.request.urlretrieve",
];

/// The effect of calling `call`, if it has one.
pub(crate) fn of_call(call: &ExprCall, aliases: &BTreeMap<String, String>) -> Option<Effect> {
    if let Some(callee) = canonical(&call.func, aliases) {
        // Extraction spells shell commands as `__import__("os").makedirs(..)`: they prepare
        // the data the notebook reads.
        if callee.through_import {
            return Some(Effect::Fetch(callee.name));
        }
        let name = callee.name.as_str();
        if FETCH_CALLS.contains(&name) {
            return Some(Effect::Fetch(callee.name));
        }
        let last = name.rsplit('.').next().unwrap_or(name);
        let on_object = name
            .rsplit_once('.')
            .is_some_and(|(object, _)| PROCESS_OBJECTS.contains(&object));
        if PROCESS_CALLS.contains(&name) || SEED_FUNCTIONS.contains(&last) || on_object {
            return Some(Effect::Process(callee.name));
        }
    }
    match call.func.as_ref() {
        Expr::Attribute(attribute) if PROCESS_METHODS.contains(&attribute.attr.as_str()) => {
            Some(Effect::Process(attribute.attr.to_string()))
        }
        _ => None,
    }
}

/// The effect of assigning to or deleting `target` (an attribute or subscript):
/// `os.environ["X"] = ..`, `sys.path = ..`, `sys.path[0:0] = ..`.
pub(crate) fn of_store(target: &Expr, aliases: &BTreeMap<String, String>) -> Option<Effect> {
    let object = match target {
        Expr::Subscript(subscript) => canonical(&subscript.value, aliases)?,
        Expr::Attribute(_) => canonical(target, aliases)?,
        _ => return None,
    };
    let changes = object.name == "os.environ" || PROCESS_OBJECTS.contains(&object.name.as_str());
    changes.then_some(Effect::Process(object.name))
}

/// A dotted name with its first component resolved through the import aliases.
pub(crate) struct Canonical {
    pub(crate) name: String,
    /// The chain starts at `__import__("module")`.
    pub(crate) through_import: bool,
}

/// `np.random.seed` → `numpy.random.seed` (aliases first, then the conventional ones), and
/// `__import__("os").makedirs` → `os.makedirs`.
pub(crate) fn canonical(expr: &Expr, aliases: &BTreeMap<String, String>) -> Option<Canonical> {
    match expr {
        Expr::Name(name) => {
            let name = name.id.as_str();
            let conventional = DEFAULT_ALIASES.iter().find(|(alias, _)| *alias == name);
            let resolved = match (aliases.get(name), conventional) {
                (Some(module), _) => module.as_str(),
                (None, Some((_, module))) => module,
                (None, None) => name,
            };
            Some(Canonical {
                name: resolved.to_string(),
                through_import: false,
            })
        }
        Expr::Attribute(attribute) => {
            let mut head = canonical(&attribute.value, aliases)?;
            head.name.push('.');
            head.name.push_str(attribute.attr.as_str());
            Some(head)
        }
        Expr::Call(call) => {
            let is_import =
                matches!(call.func.as_ref(), Expr::Name(f) if f.id.as_str() == "__import__");
            match (is_import, &*call.arguments.args) {
                (true, [Expr::StringLiteral(module)]) => Some(Canonical {
                    name: module.value.to_str().to_string(),
                    through_import: true,
                }),
                _ => None,
            }
        }
        _ => None,
    }
}
