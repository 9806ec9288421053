//! Shell escapes that fetch data (`!wget`, `!curl`, `!unzip`, `!tar -x`, `!mkdir`), rewritten
//! as calls of the service runtime's `app/nb2svc_fetch.py` (`_nb2svc_fetch.download`,
//! `_nb2svc_fetch.unpack`) so the files the next cells read exist in the service too.
//!
//! Only options whose effect is known are accepted; an unknown option could change what is
//! fetched or where it lands, so it makes the whole line untranslatable and the caller drops
//! it as before. Every user string reaches Python as a string literal from
//! [`crate::escape::python_string`].

use super::shell::{simple_commands, SimpleCommand};
use super::FetchKind;

/// One step of a translated line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Step {
    pub kind: FetchKind,
    pub url: Option<String>,
    /// The archive unpacked (unpack steps only).
    pub archive: Option<String>,
    pub dest: String,
}

/// A translated command line: its steps and the one line of Python that does them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Translation {
    pub steps: Vec<Step>,
    pub python: String,
}

/// Translates a shell command line made only of data-fetch commands; `None` when any part
/// of it is something else.
pub(super) fn translate(line: &str) -> Option<Translation> {
    let mut steps = Vec::new();
    let mut programs: Vec<&str> = Vec::new();
    let commands = simple_commands(line)?;
    for command in &commands {
        let (program, args) = command.words.split_first()?;
        let program = match program.as_str() {
            "wget" if quiet(command) => {
                steps.extend(wget(args)?);
                "wget"
            }
            "curl" => {
                steps.push(curl(args, command.stdout.as_deref())?);
                "curl"
            }
            "unzip" if quiet(command) => {
                steps.push(unzip(args)?);
                "unzip"
            }
            "tar" if quiet(command) => {
                steps.push(tar(args)?);
                "tar"
            }
            "mkdir" if quiet(command) => {
                steps.extend(mkdir(args)?);
                "mkdir"
            }
            _ => return None,
        };
        if !programs.contains(&program) {
            programs.push(program);
        }
    }
    // `-` names standard input or output to these programs, never a file.
    let paths = steps
        .iter()
        .flat_map(|s| [Some(&s.dest), s.archive.as_ref()]);
    if paths.flatten().any(|p| p.is_empty() || p == "-") {
        return None;
    }
    // Statements joined by `;` stay on the escape's one line, which keeps the cell's line
    // numbering and is valid wherever the escape stood, indented blocks included. An exception
    // stops the line where `&&` would; after `;` the shell would go on, the service does not.
    let calls: Vec<String> = steps.iter().map(python_call).collect();
    let python = format!(
        "{}  # nb2svc: shell fetch ({})",
        calls.join("; "),
        programs.join(", ")
    );
    Some(Translation { steps, python })
}

/// Output thrown away (or not redirected) is the only redirection a non-`curl` step may have.
fn quiet(command: &SimpleCommand) -> bool {
    command.stdout.as_deref().is_none_or(|f| f == "/dev/null")
}

fn python_call(step: &Step) -> String {
    let dest = literal(&step.dest);
    match step.kind {
        FetchKind::Download => format!(
            "_nb2svc_fetch.download({}, {dest})",
            literal(step.url.as_deref().unwrap_or_default())
        ),
        FetchKind::Unpack => format!(
            "_nb2svc_fetch.unpack({}, {dest})",
            literal(step.archive.as_deref().unwrap_or_default())
        ),
        FetchKind::Mkdir => format!("__import__(\"os\").makedirs({dest}, exist_ok=True)"),
    }
}

/// A Python string literal with exactly the value `text`.
fn literal(text: &str) -> String {
    crate::escape::python_string(text)
}

/// What an option does to the translation.
#[derive(Clone, Copy)]
enum Opt {
    /// No effect on what is fetched or where it goes (`-q`, `-L`).
    Ignore,
    /// A switch that matters, recorded under this key (`curl -O`, `tar -x`).
    Flag(&'static str),
    /// Takes a value, recorded under this key (`-O FILE`).
    Value(&'static str),
}

/// The options and operands of one command.
#[derive(Default)]
struct Parsed {
    flags: Vec<&'static str>,
    values: Vec<(&'static str, String)>,
    operands: Vec<String>,
}

impl Parsed {
    fn has(&self, key: &str) -> bool {
        self.flags.contains(&key)
    }

    /// The last value given for `key`, as these programs take the last one.
    fn value(&self, key: &str) -> Option<&str> {
        let found = self.values.iter().rev().find(|(k, _)| *k == key);
        found.map(|(_, v)| v.as_str())
    }
}

/// Reads `args` with the option `table` (spellings such as `-O`, `--output-document`, `-nc`):
/// long options may carry `=VALUE`, single letters may be grouped (`-qO FILE`, `-xzf A`), and
/// options may come after operands. `None` on an option missing from the table.
fn parse(args: &[String], table: &[(&str, Opt)]) -> Option<Parsed> {
    let lookup = |name: &str| table.iter().find(|(n, _)| *n == name).map(|(_, o)| *o);
    let mut parsed = Parsed::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            parsed.operands.extend(args.by_ref().cloned());
        } else if arg.starts_with("--") {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (arg.as_str(), None),
            };
            match lookup(name)? {
                Opt::Value(key) => parsed
                    .values
                    .push((key, inline.or_else(|| args.next().cloned())?)),
                _ if inline.is_some() => return None,
                Opt::Flag(key) => parsed.flags.push(key),
                Opt::Ignore => {}
            }
        } else if arg.len() > 1 && arg.starts_with('-') {
            if let Some(option) = lookup(arg) {
                // A spelling of its own, such as wget's `-nc`.
                match option {
                    Opt::Value(key) => parsed.values.push((key, args.next()?.clone())),
                    Opt::Flag(key) => parsed.flags.push(key),
                    Opt::Ignore => {}
                }
                continue;
            }
            for (at, letter) in arg.char_indices().skip(1) {
                match lookup(&format!("-{letter}"))? {
                    Opt::Ignore => {}
                    Opt::Flag(key) => parsed.flags.push(key),
                    Opt::Value(key) => {
                        let rest = &arg[at + letter.len_utf8()..];
                        let value = match rest.is_empty() {
                            true => args.next()?.clone(),
                            false => rest.to_string(),
                        };
                        parsed.values.push((key, value));
                        break;
                    }
                }
            }
        } else {
            parsed.operands.push(arg.clone());
        }
    }
    Some(parsed)
}

const WGET: &[(&str, Opt)] = &[
    ("-O", Opt::Value("output")),
    ("--output-document", Opt::Value("output")),
    ("-P", Opt::Value("prefix")),
    ("--directory-prefix", Opt::Value("prefix")),
    ("-q", Opt::Ignore),
    ("--quiet", Opt::Ignore),
    ("-nv", Opt::Ignore),
    ("--no-verbose", Opt::Ignore),
    ("--show-progress", Opt::Ignore),
    ("--progress", Opt::Value("progress")),
    // The runtime skips a file that exists, which is what `-nc` asks for.
    ("-nc", Opt::Ignore),
    ("--no-clobber", Opt::Ignore),
    ("-c", Opt::Ignore),
    ("--continue", Opt::Ignore),
    ("--no-check-certificate", Opt::Ignore),
];

/// `wget [-O FILE | -P DIR] URL...`: one download per URL.
fn wget(args: &[String]) -> Option<Vec<Step>> {
    let parsed = parse(args, WGET)?;
    let urls = &parsed.operands;
    if urls.is_empty() || !urls.iter().all(|u| is_url(u)) {
        return None;
    }
    let download = |url: &String, dest: String| Step {
        kind: FetchKind::Download,
        url: Some(url.clone()),
        archive: None,
        dest,
    };
    match (parsed.value("output"), parsed.value("prefix")) {
        // With -O, wget writes every URL into the one file, and the prefix does not apply.
        (Some(_), _) if urls.len() > 1 => None,
        (Some(_), Some(_)) => None,
        (Some(file), None) => Some(vec![download(&urls[0], file.to_string())]),
        (None, prefix) => Some(
            urls.iter()
                .map(|url| {
                    let name = url_file_name(url).unwrap_or("index.html");
                    download(url, join(prefix, name))
                })
                .collect(),
        ),
    }
}

const CURL: &[(&str, Opt)] = &[
    ("-o", Opt::Value("output")),
    ("--output", Opt::Value("output")),
    ("-O", Opt::Flag("remote-name")),
    ("--remote-name", Opt::Flag("remote-name")),
    ("-L", Opt::Ignore),
    ("--location", Opt::Ignore),
    ("-s", Opt::Ignore),
    ("--silent", Opt::Ignore),
    ("-S", Opt::Ignore),
    ("--show-error", Opt::Ignore),
    ("-f", Opt::Ignore),
    ("--fail", Opt::Ignore),
    ("-k", Opt::Ignore),
    ("--insecure", Opt::Ignore),
    ("-#", Opt::Ignore),
    ("--progress-bar", Opt::Ignore),
    ("--create-dirs", Opt::Ignore),
];

/// `curl -o FILE URL`, `curl -O URL` or `curl URL > FILE`.
fn curl(args: &[String], stdout: Option<&str>) -> Option<Step> {
    let parsed = parse(args, CURL)?;
    let [url] = parsed.operands.as_slice() else {
        return None;
    };
    if !is_url(url) {
        return None;
    }
    let dest = match (parsed.value("output"), parsed.has("remote-name"), stdout) {
        (Some(file), false, None) => file.to_string(),
        // curl refuses a URL whose path has no file name, so there is no `index.html` here.
        (None, true, None) => url_file_name(url)?.to_string(),
        (None, false, Some(file)) if file != "/dev/null" => file.to_string(),
        _ => return None,
    };
    Some(Step {
        kind: FetchKind::Download,
        url: Some(url.clone()),
        archive: None,
        dest,
    })
}

const UNZIP: &[(&str, Opt)] = &[
    ("-d", Opt::Value("dir")),
    ("-o", Opt::Ignore),
    ("-n", Opt::Ignore),
    ("-q", Opt::Ignore),
];

/// `unzip [-o] [-q] ARCHIVE [-d DIR]`; naming members to extract is not translated.
fn unzip(args: &[String]) -> Option<Step> {
    let parsed = parse(args, UNZIP)?;
    let [archive] = parsed.operands.as_slice() else {
        return None;
    };
    Some(unpack(archive, parsed.value("dir")))
}

const TAR: &[(&str, Opt)] = &[
    ("-x", Opt::Flag("extract")),
    ("--extract", Opt::Flag("extract")),
    ("--get", Opt::Flag("extract")),
    ("-f", Opt::Value("file")),
    ("--file", Opt::Value("file")),
    ("-C", Opt::Value("dir")),
    ("--directory", Opt::Value("dir")),
    // Reading, tar finds the compression itself; the runtime does the same.
    ("-z", Opt::Ignore),
    ("--gzip", Opt::Ignore),
    ("--gunzip", Opt::Ignore),
    ("-j", Opt::Ignore),
    ("--bzip2", Opt::Ignore),
    ("-J", Opt::Ignore),
    ("--xz", Opt::Ignore),
    ("-a", Opt::Ignore),
    ("-v", Opt::Ignore),
    ("--verbose", Opt::Ignore),
    ("--no-same-owner", Opt::Ignore),
];

/// `tar -xf ARCHIVE [-C DIR]`, also in the old dash-less spelling `tar xvzf ARCHIVE`.
fn tar(args: &[String]) -> Option<Step> {
    let mut args = args.to_vec();
    if let Some(first) = args.first_mut() {
        if !first.starts_with('-') {
            first.insert(0, '-');
        }
    }
    let parsed = parse(&args, TAR)?;
    if !parsed.has("extract") || !parsed.operands.is_empty() {
        return None;
    }
    Some(unpack(parsed.value("file")?, parsed.value("dir")))
}

fn unpack(archive: &str, dir: Option<&str>) -> Step {
    Step {
        kind: FetchKind::Unpack,
        url: None,
        archive: Some(archive.to_string()),
        dest: dir.unwrap_or(".").to_string(),
    }
}

const MKDIR: &[(&str, Opt)] = &[
    ("-p", Opt::Ignore),
    ("--parents", Opt::Ignore),
    ("-v", Opt::Ignore),
    ("--verbose", Opt::Ignore),
];

/// `mkdir [-p] DIR...`: one step per folder. Without `-p` mkdir fails on an existing folder;
/// the service creates it either way, since it runs the cells again at every start.
fn mkdir(args: &[String]) -> Option<Vec<Step>> {
    let parsed = parse(args, MKDIR)?;
    if parsed.operands.is_empty() {
        return None;
    }
    let step = |dest: &String| Step {
        kind: FetchKind::Mkdir,
        url: None,
        archive: None,
        dest: dest.clone(),
    };
    Some(parsed.operands.iter().map(step).collect())
}

fn is_url(text: &str) -> bool {
    let scheme = text.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    matches!(scheme.as_deref(), Some("http" | "https" | "ftp"))
}

/// The last segment of the URL's path, without query or fragment; `None` when it is empty
/// (`https://host/` or `https://host/dir/`).
fn url_file_name(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let path = rest.split_once('/').map_or("", |(_, path)| path);
    let name = path.rsplit('/').next().unwrap_or(path);
    (!name.is_empty()).then_some(name)
}

/// `DIR/NAME` as wget writes `-P DIR`; `-P .` is the name alone, as later cells spell it.
fn join(dir: Option<&str>, name: &str) -> String {
    match dir {
        None | Some("." | "./") => name.to_string(),
        Some(dir) => format!("{}/{name}", dir.trim_end_matches('/')),
    }
}
