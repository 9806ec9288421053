//! The arguments of `pip install` / `conda install` magics in notebook cells (`!pip`,
//! `%pip`, `%conda`), turned into requirement specifiers. Finding the magics is left to the
//! extractor.

use super::pip::split_flag;
use super::spec::has_url_scheme;

/// What `pip install` / `conda install` arguments in a notebook magic ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallArgs {
    /// Requirement specifiers, in order (conda `name=1.24` already written `name==1.24.*`).
    pub specs: Vec<String>,
    /// What was seen but not turned into a requirement (`-r file`, index options, variables).
    pub warnings: Vec<String>,
}

/// Install flags that take a value, for pip and conda (`-c` is a constraints file to pip
/// and a channel to conda; either way its value is not a package).
const VALUE_FLAGS: &[&str] = &[
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-e",
    "--editable",
    "-t",
    "--target",
    "--prefix",
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
    "--src",
    "--upgrade-strategy",
    "--progress-bar",
    "--log",
    "--proxy",
    "--retries",
    "--timeout",
    "--exists-action",
    "--cert",
    "--client-cert",
    "--cache-dir",
    "-C",
    "--config-settings",
    "--global-option",
    "--report",
    "--root-user-action",
    "--channel",
    "-n",
    "--name",
    "-p",
];

/// Returns the requirement specifiers of `pip install` / `conda install` arguments, e.g.
/// `install -q numpy pandas==2.0 'scikit-learn>=1.2' -U` gives `numpy`, `pandas==2.0` and
/// `scikit-learn>=1.2`. Flags are dropped; see [`parse_install_args`] for what was skipped.
pub fn parse_pip_magic(args: &str) -> Vec<String> {
    parse_install_args(args).specs
}

/// Like [`parse_pip_magic`], also saying what was skipped and why. Words before `install`
/// (`pip`, `-m pip`, `{sys.executable}`) are ignored; without `install` there is nothing to
/// install (`pip list`, `pip uninstall x`). Shell redirections and `&&` end the command.
pub fn parse_install_args(args: &str) -> InstallArgs {
    let tokens = shlex::split(args).unwrap_or_else(|| {
        args.split_whitespace()
            .map(|t| t.trim_matches(['\'', '"']).to_string())
            .collect()
    });
    let mut result = InstallArgs::default();
    let Some(start) = tokens.iter().position(|t| t == "install") else {
        return result;
    };
    let mut tokens = tokens.into_iter().skip(start + 1);
    while let Some(token) = tokens.next() {
        if ["|", "||", "&&", ";", "&"].contains(&token.as_str())
            || token.starts_with(['>', '<'])
            || token.starts_with("2>")
        {
            break;
        }
        if token.starts_with('-') {
            let (flag, inline) = split_flag(&token);
            if !VALUE_FLAGS.contains(&flag) {
                continue;
            }
            let value = inline.or_else(|| tokens.next()).unwrap_or_default();
            match flag {
                "-r" | "--requirement" => result.warnings.push(format!(
                    "`install -r {value}` in a magic is not read: pass that file to nb2svc as the requirements file"
                )),
                "-e" | "--editable" if has_url_scheme(&value) => result.specs.push(value),
                "-e" | "--editable" => result.warnings.push(format!(
                    "editable install of local path {value:?} skipped: it will not exist in the container"
                )),
                "-i" | "--index-url" | "--extra-index-url" | "-f" | "--find-links" => result.warnings.push(format!(
                    "`{flag} {value}` in a magic is not carried over: put it in the requirements file"
                )),
                _ => {}
            }
        } else if token.contains(['{', '$']) {
            result
                .warnings
                .push(format!("{token:?} uses a notebook variable; skipped"));
        } else {
            result.specs.push(conda_pin_to_pip(&token));
        }
    }
    result
}

/// conda's `name=1.24` means any 1.24.x; pip spells that `name==1.24.*`. A build string
/// (`name=1.24=py311_0`) is dropped. Anything else is returned unchanged.
pub(crate) fn conda_pin_to_pip(spec: &str) -> String {
    let Some((name, rest)) = spec.split_once('=') else {
        return spec.to_string();
    };
    if rest.starts_with('=')
        || name.is_empty()
        || name.ends_with(['<', '>', '!', '~'])
        || spec.contains(['@', ';', ' ', '#', '/'])
    {
        return spec.to_string();
    }
    let version = rest
        .split('=')
        .next()
        .unwrap_or(rest)
        .trim_end_matches(".*")
        .trim_end_matches('*');
    format!("{name}=={version}.*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pip_magic_arguments() {
        let cases: &[(&str, &[&str])] = &[
            (
                "install -q numpy pandas==2.0 'scikit-learn>=1.2' -U",
                &["numpy", "pandas==2.0", "scikit-learn>=1.2"],
            ),
            (
                "install --upgrade --index-url https://x.org/simple torch",
                &["torch"],
            ),
            (
                "-m pip install \"uvicorn[standard]\" > /dev/null 2>&1",
                &["uvicorn[standard]"],
            ),
            (
                "install -c conda-forge -y numpy=1.24 scipy=1.11=py311_0 pandas>=2",
                &["numpy==1.24.*", "scipy==1.11.*", "pandas>=2"],
            ),
            (
                "install git+https://github.com/x/y.git#egg=y && echo done",
                &["git+https://github.com/x/y.git#egg=y"],
            ),
            ("list", &[]),
            ("uninstall -y numpy", &[]),
            ("install 'unbalanced", &["unbalanced"]),
        ];
        for (args, expected) in cases {
            assert_eq!(parse_pip_magic(args), *expected, "{args}");
        }
    }

    #[test]
    fn reports_what_a_magic_skips() {
        let args = parse_install_args("install -r requirements.txt {package} -e . numpy");
        assert_eq!(args.specs, ["numpy"]);
        assert_eq!(args.warnings.len(), 3);
        assert!(args.warnings[0].contains("`install -r requirements.txt` in a magic is not read"));
        assert!(args.warnings[1].contains("notebook variable"));
        assert!(args.warnings[2].contains("editable install of local path \".\""));
    }
}
