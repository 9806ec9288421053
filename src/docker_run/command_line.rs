//! Splits the text a user pastes (`docker run \` continued over several lines, with quotes
//! and comments) into the arguments docker would receive, without expanding anything.

use anyhow::{bail, Context, Result};

/// Programs that run containers but are not docker: their command lines look like `docker run`
/// but would otherwise be read as options for an image named after the program.
const OTHER_ENGINES: &[&str] = &[
    "podman",
    "nerdctl",
    "finch",
    "ctr",
    "crictl",
    "kubectl",
    "docker-compose",
    "buildah",
    "apptainer",
    "singularity",
    "lima",
    "colima",
    "runc",
];

/// Splits a command line into `docker run` arguments, like a POSIX shell but expanding
/// nothing: quotes and backslashes are honoured, `\`-newline continuations are joined (and
/// PowerShell's `` ` `` and cmd's `^` at a line end), `#` comments are dropped. A leading
/// `docker run` or `docker container run` (optionally after `sudo`) is removed.
pub fn parse_command_line(line: &str) -> Result<Vec<String>> {
    let joined = join_continuations(line)?;
    let words = shlex::split(&joined)
        .context("unbalanced quotes in the docker run command; close every ' and \"")?;
    if let Some(operator) = words.iter().find(|word| {
        matches!(
            word.as_str(),
            "|" | "||" | "&&" | ";" | "&" | ">" | ">>" | "<"
        )
    }) {
        bail!("the command line holds the shell operator `{operator}`; give only the docker run command");
    }
    let mut words = words.as_slice();
    if words.first().is_some_and(|word| word == "sudo") {
        words = &words[1..];
    }
    // `/usr/bin/docker` and `docker.exe` are docker too; `team/podman` is an image.
    let program = words.first().map(|word| {
        let is_path = word.starts_with(['/', '.']) || word.contains('\\');
        let base = match is_path {
            true => word.rsplit(['/', '\\']).next().unwrap_or(word),
            false => word.as_str(),
        };
        base.strip_suffix(".exe").unwrap_or(base).to_string()
    });
    let owned: Vec<String>;
    if program.as_deref() == Some("docker") && words[0] != "docker" {
        owned = std::iter::once("docker".to_string())
            .chain(words[1..].iter().cloned())
            .collect();
        words = owned.as_slice();
    }
    if let Some(other) = program.as_deref().filter(|p| OTHER_ENGINES.contains(p)) {
        bail!(
            "`{other}` is not docker: expected `docker run` or `docker container run` (the compose file \
             is docker's; give the same options as a docker run command)"
        );
    }
    let skip = match words {
        [docker, run, ..] if docker == "docker" && run == "run" => 2,
        [docker, container, run, ..]
            if docker == "docker" && container == "container" && run == "run" =>
        {
            3
        }
        [docker, other, ..] if docker == "docker" => {
            bail!("expected `docker run` or `docker container run`, found `docker {other}`")
        }
        [docker] if docker == "docker" => bail!("expected `docker run`, found only `docker`"),
        _ => 0,
    };
    Ok(words[skip..].to_vec())
}

/// Removes line continuations and comments, tracking quotes as the shell does; a line break
/// that does not continue the command is an error (it would start a second command).
fn join_continuations(line: &str) -> Result<String> {
    #[derive(PartialEq)]
    enum Quote {
        None,
        Single,
        Double,
    }
    let mut out = String::with_capacity(line.len());
    let mut quote = Quote::None;
    let mut ended_line = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if ended_line && quote == Quote::None && !c.is_whitespace() {
            bail!("the command line holds more than one line without `\\` continuations; give one docker run command");
        }
        match (&quote, c) {
            (Quote::None | Quote::Double, '\\') => match chars.peek() {
                Some('\n') => {
                    chars.next();
                }
                Some('\r') => {
                    chars.next();
                    chars.next_if_eq(&'\n');
                }
                Some(_) => {
                    out.push(c);
                    out.extend(chars.next());
                }
                None => out.push(c),
            },
            (Quote::None, '\'')
            | (Quote::None, '"')
            | (Quote::Single, '\'')
            | (Quote::Double, '"') => {
                quote = match (&quote, c) {
                    (Quote::None, '\'') => Quote::Single,
                    (Quote::None, _) => Quote::Double,
                    _ => Quote::None,
                };
                out.push(c);
            }
            (Quote::None, '#') if out.is_empty() || out.ends_with(char::is_whitespace) => {
                while chars.next_if(|&next| next != '\n').is_some() {}
            }
            (Quote::None, '\r') if chars.peek() == Some(&'\n') => {}
            (Quote::None, '\n' | '\r') => {
                let trimmed = out.trim_end_matches([' ', '\t', '\r']);
                let continued = trimmed
                    .strip_suffix(['`', '^'])
                    .filter(|before| before.ends_with(char::is_whitespace));
                match continued {
                    Some(before) => out.truncate(before.len()),
                    None => ended_line = !trimmed.trim().is_empty(),
                }
                out.push(' ');
            }
            (_, c) => out.push(c),
        }
    }
    Ok(out)
}
