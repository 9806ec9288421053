//! Credentials written into the code as string literals, and the code with each literal
//! replaced by a read of an environment variable.
//!
//! A literal is a credential by where it stands or by its form:
//! - assigned to a name, attribute or key that names a secret (`API_KEY = "..."`,
//!   `openai.api_key = "..."`, `config["password"] = "..."`), passed as such a keyword
//!   (`aws_secret_access_key="..."`), or the value of such a dict key (`{"token": "..."}`);
//! - the default of an environment read of such a variable (`os.getenv("API_KEY", "...")`);
//! - put into the process environment (`os.environ["AWS_SECRET_ACCESS_KEY"] = "..."`);
//! - shaped like a known token anywhere (an AWS access key id, a GitHub, GitLab, Slack or
//!   Hugging Face token, a Google API key, an `sk-` API key, a PEM private key, a URL with a
//!   password in it).
//!
//! All of this is a heuristic over names and forms, not a proof: it is tuned to miss few real
//! credentials (every secret-like name is taken unless its last word says it is something
//! else, a `token_pattern` or a `secret_name`) and to leave alone what is visibly not one
//! (placeholders such as `"YOUR_API_KEY"`, text with spaces, a tokenizer's `pad_token`).
//!
//! The rewrite keeps every line where it was, so errors still point at the notebook's cell
//! and line. The literal's text is never kept anywhere but in [`Names`], which only compares.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Expr, ExprCall, Stmt};
use ruff_python_parser::parse_module;
use ruff_text_size::{Ranged, TextRange};

use super::{check_limits, syntax_error, LineIndex, SyntaxError};

/// A credential found in the code, without its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Credential {
    /// The environment variable the code now reads it from.
    pub variable: String,
    /// 1-based line of the literal in the source.
    pub line: usize,
    /// Where the literal stood, in Markdown: "assigned to `API_KEY`".
    pub written_as: String,
    /// The code read it back (`os.environ["X"]`, so the service needs the variable); `false`
    /// when the code only put it into the environment, which the service now inherits.
    pub read_back: bool,
}

/// The source with its credentials taken out.
#[derive(Debug, Clone)]
pub struct Redaction {
    pub code: String,
    pub credentials: Vec<Credential>,
}

/// The variables given so far and the literal each stands for, so that one literal written
/// twice is one variable and two literals under one name are two (`PASSWORD`, `PASSWORD_2`).
#[derive(Default)]
pub struct Names {
    literals: BTreeMap<String, String>,
    /// Parts of literals that are secrets on their own: the password of a URL.
    parts: std::collections::BTreeSet<String>,
}

impl Names {
    /// The variable for `literal` found under `wanted`.
    fn variable_for(&mut self, wanted: &str, literal: &str) -> String {
        for n in 1.. {
            let candidate = if n == 1 {
                wanted.to_string()
            } else {
                format!("{wanted}_{n}")
            };
            match self.literals.get(&candidate) {
                Some(known) if known == literal => return candidate,
                Some(_) => continue,
                None => {
                    self.literals.insert(candidate.clone(), literal.to_string());
                    return candidate;
                }
            }
        }
        unreachable!("the loop returns")
    }

    /// `code` with every credential found so far blanked in its comment lines: commented-out
    /// code often holds the same password again (`# engine = create_engine("...:pw@...")`).
    /// Code lines are left alone, where blanking would change what runs; a literal shorter
    /// than 6 characters is left alone too, being likely an ordinary word (heuristic).
    /// `None` when nothing changed.
    pub fn scrub_comments(&self, code: &str) -> Option<String> {
        let literals: Vec<&str> = self
            .literals
            .values()
            .chain(&self.parts)
            .map(String::as_str)
            .filter(|l| l.chars().count() >= 6 && !l.contains('\n'))
            .collect();
        if literals.is_empty() || !literals.iter().any(|l| code.contains(l)) {
            return None;
        }
        let mut out = String::with_capacity(code.len());
        let mut changed = false;
        for line in code.split_inclusive('\n') {
            if line.trim_start().starts_with('#') {
                let mut line = line.to_string();
                for literal in &literals {
                    if line.contains(literal) {
                        line = line.replace(literal, "<credential taken out by nb2svc>");
                        changed = true;
                    }
                }
                out.push_str(&line);
            } else {
                out.push_str(line);
            }
        }
        changed.then_some(out)
    }
}

/// Finds the credentials of `source` and replaces each literal by `os.environ["VARIABLE"]`
/// (a statement that only put one into the environment becomes `pass`). `None` when there is
/// none; an error when the source is not valid Python.
pub fn redact(source: &str, names: &mut Names) -> Result<Option<Redaction>, SyntaxError> {
    if !may_hold_credentials(source) {
        return Ok(None);
    }
    check_limits(source)?;
    let parsed = parse_module(source).map_err(|err| syntax_error(source, &err))?;
    let mut finder = Finder {
        source,
        found: Vec::new(),
        depth: 0,
    };
    finder.visit_body(&parsed.syntax().body);
    if finder.found.is_empty() {
        return Ok(None);
    }
    let mut found = finder.found;
    found.sort_by_key(|f| f.range.start());
    // A literal inside a replaced statement or call is replaced with it.
    let mut kept: Vec<Found> = Vec::new();
    for f in found {
        match kept.last() {
            Some(last) if last.range.contains_range(f.range) => {}
            _ => kept.push(f),
        }
    }
    let lines = LineIndex::new(source);
    let mut code = String::with_capacity(source.len());
    let mut credentials = Vec::new();
    let mut at = 0;
    for f in kept {
        let start = f.range.start().to_usize();
        let end = f.range.end().to_usize();
        let variable = names.variable_for(&f.variable, &f.literal);
        if let Some(password) = url_password(&f.literal) {
            names.parts.insert(password.to_string());
        }
        code.push_str(&source[at..start]);
        code.push_str(&replacement(
            &variable,
            &source[start..end],
            &source[end..],
            f.action,
        ));
        at = end;
        credentials.push(Credential {
            line: lines.line_column(f.range.start()).0,
            written_as: f.written_as,
            read_back: f.action == Action::ReadBack,
            variable,
        });
    }
    code.push_str(&source[at..]);
    Ok(Some(Redaction { code, credentials }))
}

/// For text that does not parse (it stays in the service only as comments): every quoted
/// literal that a secret-like name is assigned (`name = "..."`, `name: "..."`), or that is
/// shaped like a token, is blanked. Returns `None` when nothing was.
pub fn redact_text(source: &str) -> Option<String> {
    if !may_hold_credentials(source) {
        return None;
    }
    let mut out = String::with_capacity(source.len());
    let mut changed = false;
    let mut rest = source;
    while let Some(open) = rest.find(['"', '\'']) {
        let quote = rest.as_bytes()[open] as char;
        let Some(length) = rest[open + 1..].find([quote, '\n']) else {
            break;
        };
        let close = open + 1 + length;
        if rest.as_bytes()[close] == b'\n' {
            out.push_str(&rest[..close]);
            rest = &rest[close..];
            continue;
        }
        let literal = &rest[open + 1..close];
        let before = rest[..open].trim_end();
        let assigned_to = before
            .strip_suffix('=')
            .or_else(|| before.strip_suffix(':'))
            .map(|b| {
                b.trim_end()
                    .trim_end_matches(['"', '\''])
                    .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or("")
            });
        let secret = match assigned_to {
            Some(name) if is_secret_name(name) => looks_like_value(literal),
            _ => false,
        } || token_kind(literal).is_some();
        out.push_str(&rest[..=open]);
        if secret {
            out.push_str("<credential taken out by nb2svc>");
            changed = true;
        } else {
            out.push_str(literal);
        }
        out.push(quote);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// `code` with an `import os` line where a module's imports start (after its docstring and
/// `from __future__` imports), unless it imports `os` at the top already. For a module that
/// now reads `os.environ`; it shifts the lines below by one.
pub fn with_os_import(code: &str) -> String {
    let Ok(parsed) = parse_module(code) else {
        return code.to_string();
    };
    let body = &parsed.syntax().body;
    let imports_os = body.iter().any(|stmt| match stmt {
        Stmt::Import(import) => import
            .names
            .iter()
            .any(|alias| alias.name.as_str() == "os" && alias.asname.is_none()),
        _ => false,
    });
    if imports_os {
        return code.to_string();
    }
    let preamble = |(index, stmt): &(usize, &Stmt)| match stmt {
        Stmt::Expr(e) => *index == 0 && e.value.is_string_literal_expr(),
        Stmt::ImportFrom(from) => from
            .module
            .as_ref()
            .is_some_and(|m| m.as_str() == "__future__"),
        _ => false,
    };
    let first = body.iter().enumerate().find(|entry| !preamble(entry));
    let at = match first {
        Some((_, stmt)) => {
            let start = stmt.range().start().to_usize();
            code[..start].rfind('\n').map_or(0, |newline| newline + 1)
        }
        None => code.len(),
    };
    let mut out = String::with_capacity(code.len() + 10);
    out.push_str(&code[..at]);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("import os\n");
    out.push_str(&code[at..]);
    out
}

/// What becomes of a credential's place in the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// The literal (or the whole environment read) becomes `os.environ["X"]`.
    ReadBack,
    /// The statement that set the environment variable goes: a comment takes its place at
    /// the top of the module, `pass` inside a block (which needs a statement).
    Drop,
    /// Like `Drop`, inside a block or sharing its line.
    DropInBlock,
}

struct Found {
    range: TextRange,
    variable: String,
    literal: String,
    written_as: String,
    action: Action,
}

/// The text that takes the place of `replaced`, keeping its line count (a multi-line literal
/// gives a parenthesised read padded with newlines, which Python joins).
fn replacement(variable: &str, replaced: &str, after: &str, action: Action) -> String {
    let newlines = replaced.matches('\n').count();
    let read = format!("os.environ[{}]", crate::escape::python_string(variable));
    let rest_of_line = after.split(['\n', '\r']).next().unwrap_or("");
    let alone = rest_of_line.trim().is_empty();
    let padding = "\n".repeat(newlines);
    match action {
        Action::Drop if alone => {
            format!("# nb2svc: {variable} comes from the environment (.env), not the code{padding}")
        }
        Action::Drop | Action::DropInBlock if alone || newlines == 0 => format!("pass{padding}"),
        // `X = (os.environ["X"]\n\n)`: the statement is still one statement.
        _ if newlines > 0 => format!("({read}{padding})"),
        _ => read,
    }
}

/// The words that hint at a credential, in any case; `pass` is the last.
const HINTS: &[&str] = &[
    "secret",
    "token",
    "key",
    "environ",
    "://",
    "akia",
    "asia",
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "ghr_",
    "glpat-",
    "xox",
    "hf_",
    "aiza",
    "sk-",
    "-----begin",
    "pass",
];

/// A quick look before parsing: most cells mention nothing a credential needs. One scan for
/// every hint at once, in any case: the cleaning runs it on every cell, and a search per hint
/// over a lower-cased copy was most of the redaction's time on a notebook without credentials.
fn may_hold_credentials(source: &str) -> bool {
    static SEARCHER: OnceLock<Option<AhoCorasick>> = OnceLock::new();
    let searcher = SEARCHER.get_or_init(|| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(HINTS)
            .ok()
    });
    let Some(searcher) = searcher else {
        // The hints are fixed and valid, so this is not reached; a parse of every cell is the
        // safe answer if it were.
        return true;
    };
    let pass = HINTS.len() - 1;
    // Overlapping, so that a `pass` statement cannot hide a hint that overlaps it.
    searcher.find_overlapping_iter(source).any(|found| {
        found.pattern().as_usize() != pass || !is_pass_statement(source, found.start())
    })
}

/// Whether the `pass` (in any case) at byte `at` of `source` is the statement `pass`: the
/// keyword, in lower case, first on its line and not the start of a longer name. `password`,
/// `db_pass`, `PASS = ...` and `"pass":` hint at a credential; the statement, which also
/// stands in for every magic nb2svc takes out of a cell, does not.
fn is_pass_statement(source: &str, at: usize) -> bool {
    let is_identifier = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let line_start = source[..at].rfind('\n').map_or(0, |newline| newline + 1);
    &source[at..at + 4] == "pass"
        && source[line_start..at].trim().is_empty()
        && !source[at + 4..].starts_with(is_identifier)
}

struct Finder<'src> {
    source: &'src str,
    found: Vec<Found>,
    /// How many blocks the statement being read is in: 0 at the top of the module.
    depth: usize,
}

impl Finder<'_> {
    fn add(&mut self, range: TextRange, variable: String, literal: &str, written_as: String) {
        self.found.push(Found {
            range,
            variable,
            literal: literal.to_string(),
            written_as,
            action: Action::ReadBack,
        });
    }

    /// A literal under a name: taken when the name is secret-like and the value is not a
    /// placeholder, or when the value is shaped like a token (any name).
    fn named_literal(&mut self, name: &str, value: &Expr, written_as: impl Fn() -> String) {
        let Some(literal) = string_value(value) else {
            return;
        };
        let by_name = is_secret_name(name) && looks_like_value(literal);
        let by_form =
            token_kind(literal).is_some() || (ends_with_key(name) && looks_like_key(literal));
        if by_name || by_form {
            self.add(value.range(), env_name(name), literal, written_as());
        }
    }

    /// `os.environ["X"] = "..."`, `os.environ.setdefault("X", "...")`, `os.putenv("X", "...")`.
    fn environment_set(&mut self, statement: TextRange, name: &str, value: &Expr) {
        let Some(literal) = string_value(value) else {
            return;
        };
        let secret =
            (is_secret_name(name) && looks_like_value(literal)) || token_kind(literal).is_some();
        if secret {
            self.found.push(Found {
                range: statement,
                variable: env_name(name),
                literal: literal.to_string(),
                written_as: format!("set in the environment as `{}`", env_name(name)),
                action: if self.depth == 0 {
                    Action::Drop
                } else {
                    Action::DropInBlock
                },
            });
        }
    }

    fn call(&mut self, call: &ExprCall) {
        let callee = dotted(&call.func);
        let args = &call.arguments.args;
        // `os.getenv("API_KEY", "sk-...")`: the whole read becomes one with no default.
        if matches!(
            callee.as_deref(),
            Some("os.getenv" | "getenv" | "os.environ.get" | "environ.get")
        ) && args.len() >= 2
        {
            if let (Some(name), Some(literal)) = (string_value(&args[0]), string_value(&args[1])) {
                if (is_secret_name(name) && looks_like_value(literal))
                    || token_kind(literal).is_some()
                {
                    let written_as = format!("the default of a read of `{}`", env_name(name));
                    self.add(call.range(), env_name(name), literal, written_as);
                    return;
                }
            }
        }
        for keyword in &call.arguments.keywords {
            if let Some(arg) = &keyword.arg {
                let name = arg.as_str();
                self.named_literal(name, &keyword.value, || format!("the keyword `{name}=`"));
            }
        }
        // A token passed by position (`Github("ghp_...")`) is known by its form alone.
        for arg in args.iter() {
            if let Some(literal) = string_value(arg) {
                if let Some(kind) = token_kind(literal) {
                    let written_as = format!("{} passed to `{}`", kind.what, callee_text(call));
                    self.add(arg.range(), kind.variable.to_string(), literal, written_as);
                }
            }
        }
    }

    fn assignment(&mut self, target: &Expr, value: &Expr) {
        match target {
            Expr::Subscript(subscript) if is_environ(&subscript.value) => {}
            Expr::Tuple(_) | Expr::List(_) | Expr::Starred(_) => {}
            _ => {
                if let Some(name) = target_name(target) {
                    let shown = self.source[target.range()].to_string();
                    self.named_literal(&name, value, || {
                        format!("assigned to {}", crate::escape::markdown_code(&shown))
                    });
                }
            }
        }
    }
}

impl<'a> Visitor<'a> for Finder<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Assign(assign) => {
                for target in &assign.targets {
                    if let Expr::Subscript(subscript) = target {
                        if is_environ(&subscript.value) {
                            if let Some(name) = string_value(&subscript.slice) {
                                self.environment_set(assign.range, name, &assign.value);
                                return;
                            }
                        }
                    }
                }
                if let Some(target) = assign.targets.first() {
                    self.assignment(target, &assign.value);
                }
            }
            Stmt::AnnAssign(assign) => {
                if let Some(value) = &assign.value {
                    self.assignment(&assign.target, value);
                }
            }
            Stmt::Expr(statement) => {
                if let Expr::Call(call) = statement.value.as_ref() {
                    let callee = dotted(&call.func);
                    if matches!(
                        callee.as_deref(),
                        Some("os.environ.setdefault" | "environ.setdefault" | "os.putenv")
                    ) && call.arguments.args.len() == 2
                    {
                        if let Some(name) = string_value(&call.arguments.args[0]) {
                            let before = self.found.len();
                            self.environment_set(statement.range, name, &call.arguments.args[1]);
                            if self.found.len() > before {
                                return;
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        self.depth += 1;
        visitor::walk_stmt(self, stmt);
        self.depth -= 1;
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Call(call) => self.call(call),
            Expr::Dict(dict) => {
                for item in &dict.items {
                    if let Some(key) = item.key.as_ref().and_then(string_value) {
                        let shown = key.to_string();
                        self.named_literal(key, &item.value, || {
                            format!(
                                "the value of the key {}",
                                crate::escape::markdown_code(&format!("{shown:?}"))
                            )
                        });
                    }
                }
            }
            Expr::StringLiteral(_) => {
                // A token standing alone (`TOKENS = ["ghp_..."]`) is known by its form.
                if let Some(literal) = string_value(expr) {
                    if let Some(kind) = token_kind(literal) {
                        let written_as = format!("{} in the code", kind.what);
                        self.add(expr.range(), kind.variable.to_string(), literal, written_as);
                    }
                }
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}

fn string_value(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::StringLiteral(literal) => Some(literal.value.to_str()),
        _ => None,
    }
}

/// `os.environ`, or `environ` imported from `os`.
fn is_environ(expr: &Expr) -> bool {
    matches!(dotted(expr).as_deref(), Some("os.environ" | "environ"))
}

fn dotted(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Name(name) => Some(name.id.to_string()),
        Expr::Attribute(attribute) => Some(format!(
            "{}.{}",
            dotted(&attribute.value)?,
            attribute.attr.as_str()
        )),
        _ => None,
    }
}

fn callee_text(call: &ExprCall) -> String {
    dotted(&call.func).unwrap_or_else(|| "a call".to_string())
}

/// The name a value is stored under: `API_KEY`, `openai.api_key` (the owner's name kept,
/// `self` left out), `config["password"]`.
fn target_name(target: &Expr) -> Option<String> {
    match target {
        Expr::Name(name) => Some(name.id.to_string()),
        Expr::Attribute(attribute) => {
            let attr = attribute.attr.as_str();
            match attribute.value.as_ref() {
                Expr::Name(owner) if !matches!(owner.id.as_str(), "self" | "cls") => {
                    Some(format!("{}_{attr}", owner.id))
                }
                _ => Some(attr.to_string()),
            }
        }
        Expr::Subscript(subscript) => string_value(&subscript.slice).map(str::to_string),
        _ => None,
    }
}

/// The words of an identifier, lowercase: `awsSecretAccessKey` and `AWS_SECRET_ACCESS_KEY`
/// both give `aws secret access key`.
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    for part in name.split(|c: char| !c.is_alphanumeric()) {
        let chars: Vec<char> = part.chars().collect();
        let mut word = String::new();
        for (i, &c) in chars.iter().enumerate() {
            let starts_word = i > 0
                && c.is_uppercase()
                && (chars[i - 1].is_lowercase()
                    || chars.get(i + 1).is_some_and(|next| next.is_lowercase())
                        && chars[i - 1].is_uppercase());
            if starts_word && !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            word.extend(c.to_lowercase());
        }
        if !word.is_empty() {
            words.push(word);
        }
    }
    words
}

/// Words that make a name a secret's wherever they stand.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "secretkey",
    "accesskey",
    "privatekey",
    "authtoken",
    "accesstoken",
];

/// A last word that says the value is about a secret, not the secret: `token_pattern`,
/// `secret_name`, `password_file`, `api_key_env`.
const NOT_THE_SECRET: &[&str] = &[
    "pattern",
    "patterns",
    "regex",
    "type",
    "types",
    "name",
    "names",
    "id",
    "ids",
    "path",
    "file",
    "filename",
    "dir",
    "folder",
    "url",
    "uri",
    "endpoint",
    "env",
    "var",
    "variable",
    "field",
    "column",
    "col",
    "len",
    "length",
    "size",
    "count",
    "limit",
    "max",
    "min",
    "prefix",
    "suffix",
    "format",
    "header",
    "label",
    "prompt",
    "hint",
    "policy",
    "param",
    "arg",
    "required",
    "enabled",
    "flag",
    "index",
    "idx",
    "position",
    "pos",
    "mode",
    "kind",
    "placeholder",
    "help",
    "description",
    "desc",
    "message",
    "msg",
    "text",
];

/// A tokenizer's vocabulary entries (`pad_token="[PAD]"`) are tokens of text, not secrets.
const VOCABULARY_TOKENS: &[&str] = &[
    "pad", "bos", "eos", "unk", "sep", "cls", "mask", "start", "end", "stop", "special", "oov",
];

/// Words before `key` that make it a secret's key: `api_key`, `access_key`.
const KEY_QUALIFIERS: &[&str] = &[
    "api",
    "access",
    "secret",
    "private",
    "auth",
    "client",
    "app",
    "account",
    "master",
    "license",
    "subscription",
    "encryption",
    "signing",
    "service",
    "storage",
    "consumer",
];

/// Whether `name` names a secret (see the module's notes: a heuristic).
fn is_secret_name(name: &str) -> bool {
    let words = words(name);
    let Some(last) = words.last() else {
        return false;
    };
    let n = words.len();
    // `aws_access_key_id`: a key's id is half of the credential.
    let key_id = n >= 2 && last == "id" && words[n - 2] == "key";
    if NOT_THE_SECRET.contains(&last.as_str()) && !key_id {
        return false;
    }
    if words.iter().any(|w| w == "token") && VOCABULARY_TOKENS.contains(&words[0].as_str()) {
        return false;
    }
    if words.iter().any(|w| SECRET_WORDS.contains(&w.as_str())) {
        return true;
    }
    let key_at = if key_id { n - 2 } else { n - 1 };
    words[key_at] == "key" && key_at > 0 && KEY_QUALIFIERS.contains(&words[key_at - 1].as_str())
}

/// `*_KEY`: a name whose last word is `key`, taken when its value looks like one.
fn ends_with_key(name: &str) -> bool {
    let words = words(name);
    words.len() > 1 && words.last().is_some_and(|w| w == "key")
}

/// A value that could be a password: not empty, no spaces, not a placeholder.
fn looks_like_value(value: &str) -> bool {
    if value.is_empty() || value.len() > 16 * 1024 {
        return false;
    }
    if value.starts_with("-----BEGIN") {
        return true;
    }
    if value.chars().any(char::is_whitespace) {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    let enclosed = [('<', '>'), ('[', ']'), ('{', '}'), ('(', ')')]
        .iter()
        .any(|(open, close)| value.starts_with(*open) && value.ends_with(*close));
    let placeholder = [
        "your",
        "here",
        "xxx",
        "***",
        "...",
        "changeme",
        "change_me",
        "placeholder",
        "example",
        "dummy",
        "todo",
        "fixme",
        "replace",
        "insert",
        "redacted",
    ]
    .iter()
    .any(|word| lower.contains(word));
    let one_char = value.chars().all(|c| value.starts_with(c));
    let template = value.starts_with('$') || value.starts_with("%(");
    !(enclosed || placeholder || one_char || template)
}

/// A value shaped like a generated key: long, letters and digits, no spaces.
fn looks_like_key(value: &str) -> bool {
    value.len() >= 16
        && looks_like_value(value)
        && value.chars().any(|c| c.is_ascii_alphabetic())
        && value.chars().any(|c| c.is_ascii_digit())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=_-.:~".contains(c))
}

/// A token recognised by its form.
struct TokenKind {
    what: &'static str,
    variable: &'static str,
}

fn token_kind(value: &str) -> Option<TokenKind> {
    let kind = |what, variable| Some(TokenKind { what, variable });
    let tail_ok = |prefix: &str, min: usize| {
        value.strip_prefix(prefix).is_some_and(|tail| {
            tail.len() >= min
                && tail
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
    };
    let aws = value.len() == 20
        && (value.starts_with("AKIA") || value.starts_with("ASIA"))
        && value[4..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if aws {
        return kind("an AWS access key id", "AWS_ACCESS_KEY_ID");
    }
    if ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]
        .iter()
        .any(|p| tail_ok(p, 30))
        || tail_ok("github_pat_", 30)
    {
        return kind("a GitHub token", "GITHUB_TOKEN");
    }
    if tail_ok("glpat-", 20) {
        return kind("a GitLab token", "GITLAB_TOKEN");
    }
    if ["xoxb-", "xoxp-", "xoxa-", "xoxs-"]
        .iter()
        .any(|p| tail_ok(p, 10))
    {
        return kind("a Slack token", "SLACK_TOKEN");
    }
    if tail_ok("hf_", 30) {
        return kind("a Hugging Face token", "HF_TOKEN");
    }
    if tail_ok("AIza", 35) {
        return kind("a Google API key", "GOOGLE_API_KEY");
    }
    if tail_ok("sk-", 20) {
        return kind("an API key", "API_KEY");
    }
    if value.starts_with("-----BEGIN") && value.contains("PRIVATE KEY") {
        return kind("a private key", "PRIVATE_KEY");
    }
    if url_with_password(value) {
        return kind("a URL with a password", "DATABASE_URL");
    }
    None
}

/// `postgresql://user:password@host/db`: a password in the URL's authority.
fn url_with_password(value: &str) -> bool {
    url_password(value).is_some()
}

/// The password of `scheme://user:password@host/...`, when it is one.
fn url_password(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (userinfo, host) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (!scheme.is_empty() && !host.is_empty() && looks_like_value(password)).then_some(password)
}

/// The environment variable for a name: `apiKey` → `API_KEY`, `openai_api_key` →
/// `OPENAI_API_KEY`. Only ASCII letters, digits and `_`, so it is safe in any file.
fn env_name(name: &str) -> String {
    let joined = words(name)
        .iter()
        .map(|w| {
            w.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("_");
    match joined.chars().next() {
        None => "SECRET".to_string(),
        Some(c) if c.is_ascii_digit() => format!("_{joined}"),
        Some(_) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(source: &str) -> Redaction {
        redact(source, &mut Names::default())
            .unwrap()
            .unwrap_or_else(|| panic!("no credential found in {source:?}"))
    }

    fn untouched(source: &str) {
        assert!(
            redact(source, &mut Names::default()).unwrap().is_none(),
            "{source:?} was taken for a credential"
        );
    }

    #[test]
    fn the_pass_statement_is_no_hint_of_a_credential_but_a_pass_word_is() {
        // The statement, on its own or standing in for a magic, needs no parse.
        assert!(!may_hold_credentials("pass"));
        assert!(!may_hold_credentials(
            "x = 1\npass  # nb2svc: dropped\nif x:\n    pass\n"
        ));
        for source in [
            "db_pass = 'hunter22'",
            "PASSWORD = 'hunter22'",
            "PASS = 'hunter22'",
            "config = {\"pass\": \"hunter22\"}",
            "x = 1; pass_phrase = 'a'",
            "passwd = 'a'",
        ] {
            assert!(may_hold_credentials(source), "{source:?}");
        }
    }

    #[test]
    fn secret_names_are_read_from_the_environment() {
        let r = redacted("API_KEY = 'a8f5f167f44f4964e6c998dee827110c'\n");
        assert_eq!(r.code, "API_KEY = os.environ[\"API_KEY\"]\n");
        assert_eq!(r.credentials[0].variable, "API_KEY");
        assert_eq!(r.credentials[0].written_as, "assigned to `API_KEY`");
        assert!(r.credentials[0].read_back);

        let r =
            redacted("import openai\nopenai.api_key = 'abc123'\ndb_password: str = 'hunter2'\n");
        assert_eq!(
            r.code,
            "import openai\nopenai.api_key = os.environ[\"OPENAI_API_KEY\"]\ndb_password: str = os.environ[\"DB_PASSWORD\"]\n"
        );
        assert_eq!(r.credentials[1].line, 3);
    }

    #[test]
    fn keywords_dict_keys_and_environment_defaults_are_credentials() {
        let r = redacted(
            "s3 = boto3.client('s3', aws_access_key_id='AKIAIOSFODNN7EXAMPLF', aws_secret_access_key='wJalrXUtnFEMI/K7MDENG')\n",
        );
        let names: Vec<&str> = r.credentials.iter().map(|c| c.variable.as_str()).collect();
        assert_eq!(names, ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
        assert!(!r.code.contains("wJalr"), "{}", r.code);

        let r = redacted(
            "conn = connect(user='admin', password='s3cr3t')\ncfg = {'token': 'abcd1234'}\n",
        );
        assert_eq!(
            r.code,
            "conn = connect(user='admin', password=os.environ[\"PASSWORD\"])\ncfg = {'token': os.environ[\"TOKEN\"]}\n"
        );

        let r = redacted("KEY = os.getenv('OPENAI_API_KEY', 'sk-proj-abcdefghijklmnopqrstuv')\n");
        assert_eq!(r.code, "KEY = os.environ[\"OPENAI_API_KEY\"]\n");
    }

    #[test]
    fn environment_writes_become_pass_and_keep_the_rest_of_the_line() {
        let r = redacted("import os\nos.environ['AWS_SECRET_ACCESS_KEY'] = 'wJalrXUtnFEMI'\n");
        assert_eq!(
            r.code,
            "import os\n# nb2svc: AWS_SECRET_ACCESS_KEY comes from the environment (.env), not the code\n"
        );
        let r = redacted("if True:\n    os.environ['DB_PASSWORD'] = 'pa55w0rd'\n");
        assert_eq!(r.code, "if True:\n    pass\n");
        assert!(!r.credentials[0].read_back);
        let r = redacted(
            "os.environ.setdefault('HF_TOKEN', 'hf_abcdefghijklmnopqrstuvwxyz0123456'); x = 1\n",
        );
        assert_eq!(r.code, "pass; x = 1\n");
        untouched(
            "os.environ['CUDA_VISIBLE_DEVICES'] = '0'\nos.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'\n",
        );
    }

    #[test]
    fn tokens_are_known_by_their_form_anywhere() {
        let r = redacted("g = Github('ghp_abcdefghijklmnopqrstuvwxyz0123456789')\n");
        assert_eq!(r.code, "g = Github(os.environ[\"GITHUB_TOKEN\"])\n");
        assert_eq!(
            r.credentials[0].written_as,
            "a GitHub token passed to `Github`"
        );
        let r = redacted("engine = create_engine('postgresql://me:pa55word@localhost/db')\n");
        assert_eq!(r.credentials[0].variable, "DATABASE_URL");
        let r = redacted("DB_URL = 'mysql://root:pa55@127.0.0.1/x'\n");
        assert_eq!(r.credentials[0].variable, "DB_URL");
        untouched("df = pd.read_csv('https://example.org/data.csv')\n");
    }

    #[test]
    fn multi_line_literals_keep_the_line_count() {
        let source = "KEY = '''-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----'''\nprint(1)\n";
        let r = redacted(source);
        assert_eq!(r.code.lines().count(), source.lines().count(), "{}", r.code);
        assert!(
            r.code
                .starts_with("KEY = (os.environ[\"KEY\"]\n\n)\nprint(1)"),
            "{}",
            r.code
        );
        assert!(ruff_python_parser::parse_module(&r.code).is_ok());
    }

    #[test]
    fn look_alikes_are_left_alone() {
        untouched("vec = CountVectorizer(token_pattern=r'(?u)\\b\\w+\\b')\n");
        untouched("tok = Tokenizer(pad_token='[PAD]', eos_token='</s>')\n");
        untouched("df.sort_values(key='length')\nsort_key = 'species'\nprimary_key = 'id'\n");
        untouched("secret_name = 'prod/db'\npassword_file = 'pw.txt'\nTOKEN_URL = 'https://x.org/token'\n");
        untouched(
            "API_KEY = 'YOUR_API_KEY'\npassword = ''\ntoken = '<token>'\nsecret = 'xxxxxxxx'\n",
        );
        untouched("API_KEY = os.environ['API_KEY']\ntoken = os.getenv('TOKEN')\n");
        untouched("msg = 'the password is wrong'\n");
    }

    #[test]
    fn one_literal_is_one_variable_and_two_are_two() {
        let mut names = Names::default();
        let a = redact("connect(password='one')\n", &mut names)
            .unwrap()
            .unwrap();
        let b = redact(
            "connect(password='one')\nconnect(password='two')\n",
            &mut names,
        )
        .unwrap()
        .unwrap();
        assert_eq!(a.credentials[0].variable, "PASSWORD");
        let names: Vec<&str> = b.credentials.iter().map(|c| c.variable.as_str()).collect();
        assert_eq!(names, ["PASSWORD", "PASSWORD_2"]);
    }

    #[test]
    fn a_module_that_reads_the_environment_imports_os_after_its_preamble() {
        assert_eq!(
            with_os_import(
                "\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\nimport json\nK = 1\n"
            ),
            "\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\nimport os\nimport json\nK = 1\n"
        );
        assert_eq!(with_os_import("import os\nK = 1\n"), "import os\nK = 1\n");
        assert_eq!(with_os_import(""), "import os\n");
    }

    #[test]
    fn found_literals_are_blanked_in_comment_lines_only() {
        let mut names = Names::default();
        redact("DB_URL = 'mysql://root:topicosIA@db/x'\n", &mut names).unwrap();
        let code = "# old = 'mysql://root:topicosIA@db/x'\nuse('mysql://root:topicosIA@db/x')\n";
        assert_eq!(
            names.scrub_comments(code).unwrap(),
            "# old = '<credential taken out by nb2svc>'\nuse('mysql://root:topicosIA@db/x')\n"
        );
        assert!(names.scrub_comments("# nothing here\n").is_none());
    }

    #[test]
    fn names_become_environment_variables() {
        assert_eq!(env_name("apiKey"), "API_KEY");
        assert_eq!(env_name("AWSSecretKey"), "AWS_SECRET_KEY");
        assert_eq!(env_name("aws_secret_access_key"), "AWS_SECRET_ACCESS_KEY");
        assert_eq!(env_name("2fa_token"), "_2FA_TOKEN");
        assert_eq!(env_name("contraseña_token"), "CONTRASE_A_TOKEN");
    }

    #[test]
    fn text_that_does_not_parse_is_blanked_line_by_line() {
        let text = "password = 'hunter2' +\nurl = \"ok\"\n";
        assert_eq!(
            redact_text(text).unwrap(),
            "password = '<credential taken out by nb2svc>' +\nurl = \"ok\"\n"
        );
        assert!(redact_text("x = 'plain' (\n").is_none());
    }
}
