//! The grammar of package installs in notebook cells: `%pip install`, `!pip install`,
//! `%conda install`, `!python -m pip install`, `!uv pip install` and their relatives. This is
//! the only reader of those arguments; it returns the requirement specifiers it takes and one
//! note for every argument it does not (a `-r` file, a `{variable}`, `-e .`, an index URL, a
//! local path, a second command), so a caller can warn about each with its cell and line.
//! Finding the magics in a notebook is left to the extractor.

use super::conda::conda_pin_to_pip;
use super::pip::split_flag;
use super::spec::has_url_scheme;

/// The program a command line installs with; `-c` means a constraints file to pip and a
/// channel to conda.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Installer {
    Pip,
    Conda,
}

/// What one install command asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InstallArgs {
    pub installer: Installer,
    /// Requirement specifiers, in order (conda `name=1.24` already written `name==1.24.*`).
    pub specs: Vec<String>,
    /// One sentence per argument that was not taken, naming it and saying why.
    pub skipped: Vec<String>,
}

/// Flags that take a value and change only how the installer runs, not what it installs:
/// skipped without a note.
const QUIET_VALUE_FLAGS: &[&str] = &[
    "--progress-bar",
    "--log",
    "--proxy",
    "--retries",
    "--timeout",
    "--exists-action",
    "--cert",
    "--client-cert",
    "--cache-dir",
    "--report",
    "--root-user-action",
    "--upgrade-strategy",
    "--src",
    // conda's environment, by name or folder: the service has one environment.
    "-n",
    "--name",
];

/// Flags that take a value which says where packages come from or go: skipped with a note.
const NOTED_VALUE_FLAGS: &[&str] = &[
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "--channel",
    "-e",
    "--editable",
    "-t",
    "--target",
    "--prefix",
    "-p",
    "--root",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--trusted-host",
    "--no-binary",
    "--only-binary",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "-C",
    "--config-settings",
    "--global-option",
];

/// Words that end a shell command; what follows is another command.
const COMMAND_ENDS: &[&str] = &["|", "||", "&&", ";", "&"];

/// Redirections written as a word of their own, followed by their file.
const REDIRECTIONS: &[&str] = &[">", ">>", "<", "1>", "2>", "2>>", "&>"];

/// Reads `command`, the text of an escape without its `%`/`!` (`pip install -q numpy`), and
/// returns what it installs, or `None` when it is not an install command (`pip list`,
/// `pip uninstall x`, `ls`).
pub(crate) fn parse_install(command: &str) -> Option<InstallArgs> {
    // A line shlex cannot split (an unbalanced quote) is still read word by word.
    let words = shlex::split(command).unwrap_or_else(|| {
        command
            .split_whitespace()
            .map(|t| t.trim_matches(['\'', '"']).to_string())
            .collect()
    });
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let (installer, rest) = match words.as_slice() {
        ["pip" | "pip3", "install", rest @ ..] => (Installer::Pip, rest),
        ["conda" | "mamba" | "micromamba", "install", rest @ ..] => (Installer::Conda, rest),
        // `{sys.executable}` is IPython's spelling of the kernel's own Python.
        ["python" | "python3" | "{sys.executable}", "-m", "pip", "install", rest @ ..] => {
            (Installer::Pip, rest)
        }
        ["uv", "pip", "install", rest @ ..] => (Installer::Pip, rest),
        _ => return None,
    };
    Some(parse_arguments(installer, rest))
}

/// The arguments after `install`.
fn parse_arguments(installer: Installer, words: &[&str]) -> InstallArgs {
    let mut result = InstallArgs {
        installer,
        specs: Vec::new(),
        skipped: Vec::new(),
    };
    let mut words = words.iter().copied();
    while let Some(word) = words.next() {
        if COMMAND_ENDS.contains(&word) {
            let rest = words.clone().collect::<Vec<_>>().join(" ");
            if !rest.is_empty() {
                result.skipped.push(format!(
                    "`{word} {rest}` skipped: only the install command before `{word}` is read"
                ));
            }
            break;
        }
        if REDIRECTIONS.contains(&word) {
            words.next();
            continue;
        }
        if word.starts_with(['>', '<']) || word.starts_with("2>") || word.starts_with("&>") {
            continue;
        }
        if word.contains(['{', '}', '$']) {
            result.skipped.push(format!(
                "`{word}` skipped: it uses a notebook variable, whose value nb2svc cannot know"
            ));
            continue;
        }
        if word.starts_with('-') {
            let (flag, inline) = split_flag(word);
            let noted = NOTED_VALUE_FLAGS.contains(&flag);
            if !noted && !QUIET_VALUE_FLAGS.contains(&flag) {
                // `-q`, `-U`, `--user`, `-y`: how to install, not what.
                continue;
            }
            let value = inline.or_else(|| words.next().map(str::to_string));
            let value = value.unwrap_or_default();
            if noted {
                if let Some(spec) = flag_value(installer, flag, &value, &mut result.skipped) {
                    result.specs.push(spec);
                }
            }
            continue;
        }
        if is_local_path(word) {
            result.skipped.push(format!(
                "`{word}` skipped: a local path, which will not exist in the container"
            ));
            continue;
        }
        result.specs.push(conda_pin_to_pip(word));
    }
    result
}

/// What a flag of [`NOTED_VALUE_FLAGS`] gives: a spec for an editable URL, else a note.
fn flag_value(
    installer: Installer,
    flag: &str,
    value: &str,
    skipped: &mut Vec<String>,
) -> Option<String> {
    let shown = format!("`{flag} {value}` skipped");
    let why = match (installer, flag) {
        (_, "-r" | "--requirement") => {
            "a requirements file named in a magic is not read; pass it to nb2svc with --requirements"
        }
        (_, "-e" | "--editable") if has_url_scheme(value) => return Some(value.to_string()),
        (_, "-e" | "--editable") => {
            "an editable install of a local path, which will not exist in the container"
        }
        (Installer::Conda, "-c" | "--channel") => {
            "conda channels are not carried over: the service installs from PyPI"
        }
        (_, "-c" | "--constraint") => {
            "a constraints file named in a magic is not read; put its pins in the requirements file"
        }
        (_, "-i" | "--index-url" | "--extra-index-url" | "-f" | "--find-links" | "--trusted-host") => {
            "package index options are not carried over; put them in the requirements file"
        }
        _ => "the service installs every package the same way, into its image's environment",
    };
    skipped.push(format!("{shown}: {why}"));
    None
}

/// Whether an argument names a file or folder rather than a package: `.`, `./pkg`, `/x`,
/// `dist/x`, `~/x`, or an archive name (`pkg-1.0.whl`). A heuristic: a package name has no
/// `/` and never starts with `.` or `~` nor ends with an archive extension; URLs and
/// `name @ URL` references are not paths.
fn is_local_path(word: &str) -> bool {
    if has_url_scheme(word) || word.contains('@') {
        return false;
    }
    word.starts_with(['.', '~'])
        || word.contains('/')
        || [".whl", ".tar.gz", ".zip", ".tgz"]
            .iter()
            .any(|ext| word.ends_with(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(command: &str) -> Vec<String> {
        parse_install(command).expect(command).specs
    }

    #[test]
    fn takes_the_packages_of_every_installer() {
        let cases: &[(&str, &[&str])] = &[
            (
                "pip install -q numpy pandas==2.0 'scikit-learn>=1.2' -U",
                &["numpy", "pandas==2.0", "scikit-learn>=1.2"],
            ),
            (
                "python -m pip install \"uvicorn[standard]\" > /dev/null 2>&1",
                &["uvicorn[standard]"],
            ),
            ("{sys.executable} -m pip install joblib", &["joblib"]),
            ("uv pip install polars", &["polars"]),
            (
                "conda install -y numpy=1.24 scipy=1.11=py311_0 pandas>=2",
                &["numpy==1.24.*", "scipy==1.11.*", "pandas>=2"],
            ),
            (
                "pip install git+https://github.com/x/y.git#egg=y",
                &["git+https://github.com/x/y.git#egg=y"],
            ),
            (
                "pip install -e git+https://github.com/x/y.git#egg=y",
                &["git+https://github.com/x/y.git#egg=y"],
            ),
            ("pip3 install 'unbalanced", &["unbalanced"]),
            ("pip install --timeout 30 six", &["six"]),
        ];
        for (command, expected) in cases {
            assert_eq!(specs(command), *expected, "{command}");
        }
    }

    #[test]
    fn other_commands_install_nothing() {
        for command in [
            "pip list",
            "pip uninstall -y numpy",
            "ls -la",
            "pip",
            "conda",
        ] {
            assert_eq!(parse_install(command), None, "{command}");
        }
    }

    #[test]
    fn notes_every_part_it_skips() {
        let args = parse_install("pip install -r extra.txt {pkg} -e . numpy").unwrap();
        assert_eq!(args.specs, ["numpy"]);
        assert_eq!(args.skipped.len(), 3, "{:?}", args.skipped);
        assert!(args.skipped[0].starts_with("`-r extra.txt` skipped: a requirements file"));
        assert!(args.skipped[1].starts_with("`{pkg}` skipped: it uses a notebook variable"));
        assert!(args.skipped[2].starts_with("`-e .` skipped: an editable install"));
    }

    #[test]
    fn notes_indexes_channels_paths_and_later_commands() {
        let args = parse_install(
            "pip install --index-url https://x.org/simple torch ./local_pkg dist/a-1.0.whl && pip install y",
        )
        .unwrap();
        assert_eq!(args.specs, ["torch"]);
        let notes = args.skipped.join("\n");
        for part in [
            "`--index-url https://x.org/simple` skipped: package index options",
            "`./local_pkg` skipped: a local path",
            "`dist/a-1.0.whl` skipped: a local path",
            "`&& pip install y` skipped: only the install command",
        ] {
            assert!(notes.contains(part), "{part} in\n{notes}");
        }
        let conda = parse_install("conda install -c conda-forge -y numpy").unwrap();
        assert_eq!(conda.installer, Installer::Conda);
        assert_eq!(conda.specs, ["numpy"]);
        assert!(
            conda.skipped[0].contains("conda channels"),
            "{:?}",
            conda.skipped
        );
        let pip = parse_install("pip install -c constraints.txt numpy").unwrap();
        assert!(
            pip.skipped[0].contains("constraints file"),
            "{:?}",
            pip.skipped
        );
    }

    #[test]
    fn quiet_flags_and_redirections_need_no_note() {
        let args =
            parse_install("pip install -q --no-cache-dir --user six > log.txt 2>&1").unwrap();
        assert_eq!(args.specs, ["six"]);
        assert!(args.skipped.is_empty(), "{:?}", args.skipped);
    }
}
