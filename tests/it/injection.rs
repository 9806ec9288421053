//! Hostile text in every user-derived string never changes the structure of a generated file.
//!
//! A seeded generator (no extra crate: the alphabet is what matters, and a fixed seed makes a
//! failure reproducible) builds notebook file names, service names, requirements file names,
//! cell ids, docstrings, setting names and defaults, `!wget` URLs, `%%writefile` paths and
//! cells that are not Python from quotes, triple quotes, backslashes, line breaks, `$`,
//! backticks, YAML and Markdown specials and non-ASCII. Each service is compared with the one
//! generated from plain strings: same top-level Python statements in every file, same YAML
//! shape (and the setting reads back as written), same Dockerfile instructions, same
//! requirement lines, same README headings.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::support::{generate_into, output_text, python, tool_or_skip, works};

/// The pieces hostile strings are made of.
const ALPHABET: &[&str] = &[
    "\"",
    "\"\"\"",
    "'",
    "'''",
    "\\",
    "\n",
    "\r",
    "\r\n",
    "$",
    "$(id)",
    "`",
    "``",
    ":",
    ": ",
    "#",
    " # ",
    "&",
    "*",
    "!",
    "|",
    ">",
    "%",
    "@",
    "{",
    "}",
    "[",
    "]",
    "{{",
    "{%",
    "<",
    "-",
    "é",
    "ü",
    "日本",
    "\u{2028}",
    "\u{85}",
    "\u{7f}",
    "\t",
    " ",
    "x",
    "RUN id",
    "import os",
];

/// xorshift64: deterministic, good enough to pick pieces.
struct Picker(u64);

impl Picker {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as usize
    }

    /// 1 to `max` pieces, without the ones `forbidden` rejects.
    fn text(&mut self, max: usize, forbidden: &dyn Fn(char) -> bool) -> String {
        let count = 1 + self.next() % max;
        let mut out = String::new();
        while out.chars().count() < count {
            let piece = ALPHABET[self.next() % ALPHABET.len()];
            if !piece.chars().any(forbidden) {
                out.push_str(piece);
            }
        }
        out
    }
}

/// The user-derived strings of one case.
struct Case {
    file_stem: String,
    name: String,
    requirements_stem: String,
    cell_id: String,
    docstring: String,
    setting: String,
    default: String,
    url_tail: String,
    written: String,
    not_python: String,
}

impl Case {
    fn plain() -> Case {
        Case {
            file_stem: "plain".into(),
            name: "plain".into(),
            requirements_stem: "requirements".into(),
            cell_id: "a".into(),
            docstring: "Doubles.".into(),
            setting: "PLAIN".into(),
            default: "value".into(),
            url_tail: "data.csv".into(),
            written: "notes.txt".into(),
            not_python: "print x".into(),
        }
    }

    fn hostile(picker: &mut Picker) -> Case {
        let none = |_: char| false;
        // A file name holds anything but `/` and NUL; one line of code holds no line break.
        let file = |c: char| c == '/' || c == '\0';
        let one_line = |c: char| c == '\n' || c == '\r' || c == '\u{85}' || c == '\u{2028}';
        // IPython expands `$NAME` and `{expr}` in shell lines and magics: nb2svc rightly keeps
        // such a line out of the translation, so the plain case would differ in plan, not shape.
        let in_quotes = |c: char| one_line(c) || "'/\\${}".contains(c);
        Case {
            file_stem: format!("nb{}", picker.text(6, &file)),
            name: picker.text(6, &none),
            requirements_stem: format!("req{}", picker.text(4, &file)),
            cell_id: picker.text(4, &none),
            docstring: picker.text(4, &one_line),
            setting: picker.text(4, &none),
            default: picker.text(4, &none),
            url_tail: format!("{}.csv", picker.text(4, &in_quotes)),
            written: format!("w{}.txt", picker.text(4, &|c| in_quotes(c) || file(c))),
            not_python: format!("print x {}", picker.text(6, &none)),
        }
    }
}

/// A Python string literal of `text`, built independently of nb2svc's own escaping.
fn py_literal(text: &str) -> String {
    let mut out = String::from("\"");
    for ch in text.chars() {
        match ch {
            '"' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            c if c.is_control() || c == '\u{2028}' => out.push_str(&format!("\\U{:08x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes the case's notebook and requirements into `dir`; returns their paths.
fn write_project(dir: &Path, case: &Case) -> (std::path::PathBuf, std::path::PathBuf) {
    let code = |source: &str, id: &str| {
        serde_json::json!({"cell_type": "code", "id": id, "metadata": {}, "execution_count": null,
            "outputs": [], "source": source})
    };
    let cells = vec![
        serde_json::json!({"cell_type": "markdown", "id": "m", "metadata": {},
            "source": format!("# {}\n{}", case.docstring, case.not_python)}),
        code(
            &format!("!wget -q 'https://example.org/{}'", case.url_tail),
            "w",
        ),
        code(&format!("%%writefile {}\nhello\n", case.written), "f"),
        code(
            &format!(
                "import os\nimport numpy\nSETTING = os.environ.get({}, {})\n",
                py_literal(&case.setting),
                py_literal(&case.default)
            ),
            &case.cell_id,
        ),
        code(&case.not_python, "bad"),
        code(
            &format!(
                "def predict(x: float) -> float:\n    {}\n    return x * 2 if SETTING else x\n",
                py_literal(&case.docstring)
            ),
            "p",
        ),
    ];
    let notebook = serde_json::json!({"cells": cells, "metadata": {"kernelspec":
        {"name": "python3", "language": "python", "display_name": "Python 3"}},
        "nbformat": 4, "nbformat_minor": 5});
    let path = dir.join(format!("{}.ipynb", case.file_stem));
    fs::write(&path, serde_json::to_string_pretty(&notebook).unwrap()).unwrap();
    let requirements = dir.join(format!("{}.txt", case.requirements_stem));
    fs::write(&requirements, "numpy>=1.0\nfastapi\nuvicorn\n").unwrap();
    (path, requirements)
}

/// What must be the same however hostile the strings were.
#[derive(Debug, PartialEq)]
struct Shape {
    python: BTreeMap<String, String>,
    yaml: BTreeMap<String, String>,
    dockerfile: Vec<String>,
    requirements: Vec<String>,
    readme_headings: Vec<String>,
}

/// The YAML value with every string and key replaced by its kind: the shape of the document.
fn yaml_shape(value: &serde_yaml::Value) -> String {
    use serde_yaml::Value;
    match value {
        Value::Mapping(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}={}", yaml_shape(k), yaml_shape(v)))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Value::Sequence(items) => {
            format!(
                "[{}]",
                items.iter().map(yaml_shape).collect::<Vec<_>>().join(",")
            )
        }
        Value::String(_) => "s".into(),
        other => format!("{other:?}"),
    }
}

const PYTHON_SHAPE: &str = r#"
import ast, sys
for path in sys.argv[1:]:
    try:
        tree = ast.parse(open(path, encoding="utf-8").read())
        print(" ".join(type(node).__name__ for node in tree.body))
    except SyntaxError as error:
        print("SyntaxError", error)
"#;

fn shape(out: &Path, case: &Case) -> Shape {
    let python_files = ["app/__init__.py", "app/main.py", "app/notebook.py"];
    let parsed = Command::new(python())
        .arg("-c")
        .arg(PYTHON_SHAPE)
        .args(python_files.iter().map(|f| out.join(f)))
        .output()
        .unwrap();
    assert!(parsed.status.success(), "{}", output_text(&parsed));
    let lines: Vec<String> = String::from_utf8_lossy(&parsed.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let python = python_files
        .iter()
        .map(|f| f.to_string())
        .zip(lines)
        .collect();
    let mut yaml = BTreeMap::new();
    for file in ["docker-compose.yaml", "docker-compose.prod.yaml"] {
        let text = fs::read_to_string(out.join(file)).unwrap();
        let value: serde_yaml::Value = serde_yaml::from_str(&text)
            .unwrap_or_else(|e| panic!("{file} does not parse: {e}\n{text}"));
        let environment = &value["services"][case.name_key(out)]["environment"];
        // Compose substitutes `$NAME`, so a literal `$` is written `$$` (compose reads `$`).
        assert_eq!(
            environment[case.setting.as_str()].as_str(),
            Some(case.default.replace('$', "$$").as_str()),
            "{file}: the setting does not read back as written\n{text}"
        );
        yaml.insert(file.to_string(), yaml_shape(&value));
    }
    let dockerfile = fs::read_to_string(out.join("Dockerfile"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect();
    let requirements = fs::read_to_string(out.join("requirements.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split("  #").next().unwrap().to_string())
        .collect();
    let readme_headings = fs::read_to_string(out.join("README.md"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("## ") || l.starts_with("# ") || l.starts_with("```"))
        .map(|l| {
            if l.starts_with("# ") {
                "# title".into()
            } else {
                l.to_string()
            }
        })
        .collect();
    Shape {
        python,
        yaml,
        dockerfile,
        requirements,
        readme_headings,
    }
}

impl Case {
    /// The compose service name nb2svc chose, read from the compose file's only service.
    fn name_key(&self, out: &Path) -> String {
        let text = fs::read_to_string(out.join("docker-compose.yaml")).unwrap();
        let value: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let services = value["services"].as_mapping().unwrap();
        assert_eq!(services.len(), 1, "{text}");
        services
            .keys()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn generate(dir: &Path, case: &Case) -> Shape {
    let (notebook, requirements) = write_project(dir, case);
    let out = dir.join("svc");
    let output = generate_into(
        &out,
        &notebook,
        Some(&requirements),
        &["--name", &case.name],
    );
    assert!(
        output.status.success(),
        "nb2svc failed for {:?}: {}",
        notebook.file_name(),
        output_text(&output)
    );
    shape(&out, case)
}

#[test]
fn hostile_strings_never_change_the_generated_files_structure() {
    if !tool_or_skip(
        "hostile_strings_never_change_the_generated_files_structure",
        works(python(), &["--version"]),
        "python3",
    ) {
        return;
    }
    let plain_dir = tempfile::tempdir().unwrap();
    let expected = generate(plain_dir.path(), &Case::plain());
    for python in expected.python.values() {
        assert!(!python.starts_with("SyntaxError"), "{python}");
    }
    let mut picker = Picker(0x9e37_79b9_7f4a_7c15);
    for round in 0..24 {
        let case = Case::hostile(&mut picker);
        let dir = tempfile::tempdir().unwrap();
        let got = generate(dir.path(), &case);
        assert_eq!(
            got,
            expected,
            "round {round}: file {:?}, name {:?}, cell id {:?}, setting {:?}={:?}, url {:?}, written {:?}",
            case.file_stem,
            case.name,
            case.cell_id,
            case.setting,
            case.default,
            case.url_tail,
            case.written
        );
    }
}
