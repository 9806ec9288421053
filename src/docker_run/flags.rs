//! Splits `docker run` arguments into options, the image and the command, the way the docker
//! CLI (pflag) reads them: `--flag value`, `--flag=value`, `-p VALUE`, `-pVALUE`, `-p=VALUE`,
//! bundled booleans (`-itd`, `-itp 80:80`), and options only before the image. What each
//! option means is left to the conversion; a flag missing from [`FLAGS`] is an error here.

use anyhow::{bail, Result};

/// Whether a flag takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    Nothing,
    Value,
}

/// A `docker run` flag nb2svc can express in compose.
struct Flag {
    /// The long name without dashes, as written (`net` is an alias).
    long: &'static str,
    /// The name the conversion matches on.
    name: &'static str,
    short: Option<char>,
    takes: Takes,
}

const fn flag(long: &'static str, short: Option<char>, takes: Takes) -> Flag {
    Flag {
        long,
        name: long,
        short,
        takes,
    }
}

use Takes::{Nothing, Value};

/// Every flag understood, sorted by long name.
const FLAGS: &[Flag] = &[
    flag("add-host", None, Value),
    flag("cap-add", None, Value),
    flag("cap-drop", None, Value),
    flag("cpus", None, Value),
    flag("detach", Some('d'), Nothing),
    flag("device", None, Value),
    flag("dns", None, Value),
    flag("entrypoint", None, Value),
    flag("env", Some('e'), Value),
    flag("env-file", None, Value),
    flag("expose", None, Value),
    flag("gpus", None, Value),
    flag("group-add", None, Value),
    flag("hostname", Some('h'), Value),
    flag("init", None, Nothing),
    flag("interactive", Some('i'), Nothing),
    flag("ipc", None, Value),
    flag("label", Some('l'), Value),
    flag("memory", Some('m'), Value),
    flag("mount", None, Value),
    flag("name", None, Value),
    Flag {
        long: "net",
        name: "network",
        short: None,
        takes: Value,
    },
    flag("network", None, Value),
    flag("pid", None, Value),
    flag("platform", None, Value),
    flag("privileged", None, Nothing),
    flag("publish", Some('p'), Value),
    flag("publish-all", Some('P'), Nothing),
    flag("pull", None, Value),
    flag("read-only", None, Nothing),
    flag("restart", None, Value),
    flag("rm", None, Nothing),
    flag("security-opt", None, Value),
    flag("shm-size", None, Value),
    flag("stop-signal", None, Value),
    flag("sysctl", None, Value),
    flag("tmpfs", None, Value),
    flag("tty", Some('t'), Nothing),
    flag("user", Some('u'), Value),
    flag("volume", Some('v'), Value),
    flag("workdir", Some('w'), Value),
];

/// One option as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Given {
    /// The flag's long name (aliases resolved): `publish`, `network`…
    pub(super) name: &'static str,
    /// How the user wrote it, for messages: `-p`, `--net`.
    pub(super) spelled: String,
    /// The value; for boolean flags `true` or `false`.
    pub(super) value: String,
}

/// The arguments of `docker run`, sorted out.
#[derive(Debug, Default)]
pub(super) struct Scanned {
    pub(super) options: Vec<Given>,
    pub(super) image: Option<String>,
    pub(super) command: Vec<String>,
}

/// Reads options up to the image; everything after the image is its command.
pub(super) fn scan(args: &[String]) -> Result<Scanned> {
    let mut scanned = Scanned::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            scanned.image = rest.next().cloned();
            break;
        } else if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            };
            let Some(flag) = FLAGS.iter().find(|flag| flag.long == name) else {
                bail!(unsupported(&format!("--{name}")));
            };
            let spelled = format!("--{name}");
            let value = take_value(flag, &spelled, inline, &mut rest)?;
            scanned.options.push(Given {
                name: flag.name,
                spelled,
                value,
            });
        } else if let Some(bundle) = arg.strip_prefix('-').filter(|bundle| !bundle.is_empty()) {
            scan_short_bundle(bundle, &mut rest, &mut scanned.options)?;
        } else {
            scanned.image = Some(arg.clone());
            break;
        }
    }
    scanned.command = rest.cloned().collect();
    Ok(scanned)
}

/// `-itd`, `-p8080:80`, `-itp 80:80`, `-e=A=1`: booleans until a flag that takes a value,
/// which takes the rest of the bundle (or the next argument).
fn scan_short_bundle<'a>(
    bundle: &str,
    rest: &mut impl Iterator<Item = &'a String>,
    options: &mut Vec<Given>,
) -> Result<()> {
    for (index, letter) in bundle.char_indices() {
        let Some(flag) = FLAGS.iter().find(|flag| flag.short == Some(letter)) else {
            let mut message = unsupported(&format!("-{letter}"));
            if bundle.chars().count() > 1 {
                message.push_str(&format!(" (in `-{bundle}`)"));
            }
            bail!(message);
        };
        let spelled = format!("-{letter}");
        let after = &bundle[index + letter.len_utf8()..];
        let inline = match (flag.takes, after) {
            (_, "") => None,
            (Nothing, after) => after.strip_prefix('='),
            (Value, after) => Some(after.strip_prefix('=').unwrap_or(after)),
        };
        let value = take_value(flag, &spelled, inline, rest)?;
        options.push(Given {
            name: flag.name,
            spelled,
            value,
        });
        if inline.is_some() {
            break;
        }
    }
    Ok(())
}

fn take_value<'a>(
    flag: &Flag,
    spelled: &str,
    inline: Option<&str>,
    rest: &mut impl Iterator<Item = &'a String>,
) -> Result<String> {
    match (flag.takes, inline) {
        (Nothing, None) => Ok("true".to_owned()),
        (Nothing, Some(text)) => match parse_bool(text) {
            Some(value) => Ok(value.to_string()),
            None => bail!("`{spelled}={text}`: expected true or false"),
        },
        (Value, Some(text)) => Ok(text.to_owned()),
        (Value, None) => match rest.next() {
            Some(value) => Ok(value.clone()),
            None => bail!("docker run flag `{spelled}` needs a value"),
        },
    }
}

/// Go's `strconv.ParseBool`, which docker uses.
pub(super) fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn unsupported(spelled: &str) -> String {
    format!(
        "unsupported docker run flag `{spelled}`: nb2svc cannot express it in compose; \
         remove it from the command (and add the setting to the compose file by hand)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn options(line: &str) -> Vec<(&'static str, String)> {
        let scanned = scan(&args(line)).unwrap();
        scanned
            .options
            .into_iter()
            .map(|given| (given.name, given.value))
            .collect()
    }

    #[test]
    fn flags_table_is_sorted_and_unique() {
        assert!(FLAGS.windows(2).all(|pair| pair[0].long < pair[1].long));
        let shorts: Vec<_> = FLAGS.iter().filter_map(|flag| flag.short).collect();
        let mut unique = shorts.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(shorts.len(), unique.len());
    }

    #[test]
    fn reads_every_spelling_of_a_value() {
        for line in [
            "-p 80:80 img",
            "-p80:80 img",
            "-p=80:80 img",
            "--publish 80:80 img",
            "--publish=80:80 img",
        ] {
            assert_eq!(options(line), [("publish", "80:80".to_owned())], "{line}");
        }
    }

    #[test]
    fn reads_bundled_booleans_and_a_trailing_value_flag() {
        let t = || "true".to_owned();
        assert_eq!(
            options("-itd img"),
            [("interactive", t()), ("tty", t()), ("detach", t())]
        );
        assert_eq!(
            options("-itp 80:80 img"),
            [
                ("interactive", t()),
                ("tty", t()),
                ("publish", "80:80".to_owned())
            ]
        );
        assert_eq!(options("-ti img"), [("tty", t()), ("interactive", t())]);
        assert_eq!(
            options("--rm=false -i=0 img"),
            [("rm", "false".into()), ("interactive", "false".into())]
        );
    }

    #[test]
    fn stops_at_the_image_and_keeps_the_command() {
        let scanned = scan(&args("--net host img -p 1 --rm")).unwrap();
        assert_eq!(
            scanned.options,
            [Given {
                name: "network",
                spelled: "--net".into(),
                value: "host".into()
            }]
        );
        assert_eq!(scanned.image.as_deref(), Some("img"));
        assert_eq!(scanned.command, ["-p", "1", "--rm"]);
        assert_eq!(scan(&args("-- img x")).unwrap().command, ["x"]);
    }

    #[test]
    fn refuses_unknown_flags_and_missing_values() {
        let err = |line: &str| scan(&args(line)).unwrap_err().to_string();
        assert!(err("--foo img").starts_with("unsupported docker run flag `--foo`: "));
        assert!(err("-itx img").starts_with("unsupported docker run flag `-x`: "));
        assert!(err("-itx img").ends_with("(in `-itx`)"));
        assert_eq!(err("--name"), "docker run flag `--name` needs a value");
        assert_eq!(
            err("--rm=maybe img"),
            "`--rm=maybe`: expected true or false"
        );
    }
}
