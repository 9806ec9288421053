//! The lock: the merged requirements resolved by uv into exact versions with their hashes,
//! for the image's Python and platform.
//!
//! The service then ships two files: `requirements.in`, what was asked for (each line with
//! its origin, as [`crate::requirements::render_requirements_txt`] writes it), and
//! `requirements.txt`, its lock, which the image installs with hashes required. Without uv
//! or an index (and without `--lock`), or with `--no-lock`, `requirements.txt` is the unlocked
//! list, as before, and the run and the README say so. A resolution that has no solution is
//! an error before anything is written, naming the lines involved ([`conflict`]).
//! Finding the project's own lock is [`user_lock`]'s; running uv is [`uv`]'s.

pub(crate) mod conflict;
pub(crate) mod target;
pub(crate) mod user_lock;
pub(crate) mod uv;

use std::ffi::OsString;
use std::time::Duration;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::diagnostics::Warning;
use crate::requirements::Merged;
pub use target::Target;
pub use user_lock::UserLock;

/// The uv the image installs its lock with. A fixed version, so that the Dockerfile (and with
/// it the image) is the same on every machine; raised with nb2svc's releases.
pub const IMAGE_UV_VERSION: &str = "0.13.9";

/// How long one resolution may take: uv answers in seconds from its cache, but the metadata
/// of old sdists is built, which takes a while for large ones.
const RESOLVE_LIMIT: Duration = Duration::from_secs(300);

/// Whether to lock, as the flags (or `NB2SVC_LOCK`) ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockMode {
    /// Lock when uv is installed and the index answers; otherwise say that it is not locked.
    Auto,
    /// `--lock`: a missing uv or index is an error.
    Required,
    /// `--no-lock`.
    Off,
}

impl LockMode {
    /// The mode the flags give, else `NB2SVC_LOCK` (`auto`, `yes`, `no`), else `Auto`.
    pub fn choose(lock: bool, no_lock: bool, env: Option<&str>) -> Result<LockMode> {
        Ok(match (lock, no_lock, env.map(str::trim)) {
            (true, _, _) => LockMode::Required,
            (_, true, _) => LockMode::Off,
            (_, _, None | Some("" | "auto")) => LockMode::Auto,
            (_, _, Some("yes" | "1" | "true")) => LockMode::Required,
            (_, _, Some("no" | "0" | "false")) => LockMode::Off,
            (_, _, Some(other)) => bail!(
                "NB2SVC_LOCK={other:?}: expected auto, yes or no (or pass --lock / --no-lock)"
            ),
        })
    }
}

/// A package of the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pinned {
    pub name: String,
    pub version: String,
}

/// A lock uv made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lock {
    /// `requirements.txt`: nb2svc's header and uv's output.
    #[serde(skip)]
    pub text: String,
    /// Every package it installs, sorted by name, as uv writes them.
    pub packages: Vec<Pinned>,
    pub target: Target,
    /// `uv 0.13.9`.
    pub resolver: String,
    /// The project's lock whose versions were kept, if one was read.
    pub user_lock: Option<UserLock>,
    /// Every line has hashes, so the image installs with `--require-hashes` (a VCS link or
    /// a local path has none).
    pub hashed: bool,
}

/// What became of the requirements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LockState {
    Locked(Box<Lock>),
    /// Not locked; why, in a few words (`--no-lock`, `uv is not installed`).
    Unlocked {
        reason: String,
    },
}

impl LockState {
    /// What a plan holds before [`lock`] runs: nothing resolved yet.
    pub fn not_resolved() -> LockState {
        LockState::Unlocked {
            reason: "not resolved".into(),
        }
    }

    pub fn locked(&self) -> Option<&Lock> {
        match self {
            LockState::Locked(lock) => Some(lock),
            LockState::Unlocked { .. } => None,
        }
    }
}

/// The resolver and the machine it resolves on: uv's program and the architecture images are
/// built for. Tests give their own.
pub struct Resolver {
    pub program: OsString,
    /// `std::env::consts::ARCH` of the machine that builds the image.
    pub arch: String,
    pub limit: Duration,
}

impl Resolver {
    /// uv as `NB2SVC_UV` or the PATH gives it, for this machine's architecture.
    pub fn from_env() -> Resolver {
        Resolver {
            program: uv::program(),
            arch: std::env::consts::ARCH.to_string(),
            limit: RESOLVE_LIMIT,
        }
    }
}

/// What to lock, and how.
pub struct Request<'a> {
    pub merged: &'a Merged,
    /// The image the service is built `FROM`: its tag says the Python.
    pub base_image: &'a str,
    /// The Python the plan chose (`plan.python`), for an image whose tag does not say it.
    pub python: &'a str,
    /// The project's own lock, whose versions are kept.
    pub user_lock: Option<&'a UserLock>,
    /// The lock the output folder already has (an nb2svc lock, see [`is_nb2svc_lock`]): its
    /// versions are kept where they still fit, unless `upgrade`.
    pub previous: Option<&'a str>,
    pub upgrade: bool,
    pub mode: LockMode,
}

/// Whether `text` (an existing `requirements.txt`) is a lock nb2svc wrote.
pub fn is_nb2svc_lock(text: &str) -> bool {
    text.starts_with(HEADER_START)
}

/// Why there is no lock when none was asked for.
const OFF_REASON: &str = "turned off with --no-lock or NB2SVC_LOCK=no";

/// The first words of every lock nb2svc writes.
const HEADER_START: &str = "# The lock of requirements.in:";

/// Resolves the request's requirements for its image, keeping the versions of the project's
/// lock. Errors: a conflict (always, unless `--no-lock`), and under `--lock` a missing uv or
/// index.
pub fn lock(request: &Request, resolver: &Resolver) -> Result<LockState> {
    let Request {
        merged,
        base_image,
        python,
        user_lock,
        mode,
        ..
    } = *request;
    if mode == LockMode::Off {
        return Ok(LockState::Unlocked {
            reason: OFF_REASON.into(),
        });
    }
    let mut target = Target::for_image(base_image, &resolver.arch);
    if !target.python_is_known() {
        target.python = python.to_string();
        target.python_from = format!(
            "the Python nb2svc chose for the image {base_image}, whose name does not say it"
        );
    }
    let unlocked = |reason: String| -> Result<LockState> {
        match mode {
            LockMode::Required => bail!(
                "--lock: cannot lock the requirements: {reason}; nothing was written (install uv with `pip install uv`, or generate unlocked with --no-lock)"
            ),
            _ => Ok(LockState::Unlocked { reason }),
        }
    };
    let Some(version) = uv::version(&resolver.program) else {
        return unlocked(format!(
            "uv is not installed ({} does not run)",
            std::path::Path::new(&resolver.program).display()
        ));
    };
    let requirements_in = crate::requirements::render_requirements_txt(merged);
    let constraints = user_lock
        .filter(|lock| !lock.pins.is_empty())
        .map(|lock| (constraints_name(lock), lock.constraints()));
    let compile = uv::Compile {
        requirements_in: &requirements_in,
        constraints: constraints
            .as_ref()
            .map(|(name, text)| (name.as_str(), text.as_str())),
        target: &target,
        emit_index_url: merged.options.iter().any(|o| {
            o.starts_with("--index-url")
                || o.starts_with("--extra-index-url")
                || o.starts_with("-i ")
        }),
        previous: request.previous,
        upgrade: request.upgrade,
    };
    let (code, stdout, stderr) = match uv::compile(&resolver.program, &compile, resolver.limit)? {
        uv::Run::NotInstalled(why) => return unlocked(why),
        uv::Run::TimedOut(limit) => {
            return unlocked(format!(
                "uv did not finish within {} s (is the package index slow to answer?)",
                limit.as_secs()
            ))
        }
        uv::Run::Finished {
            code,
            stdout,
            stderr,
        } => (code, stdout, stderr),
    };
    if code != Some(0) {
        if conflict::is_conflict(&stderr) {
            bail!(
                "{}",
                conflict::report(&stderr, &merged.requirements, user_lock, &target)
            );
        }
        if conflict::is_unreachable(&stderr) {
            return unlocked(format!(
                "uv could not reach the package index ({})",
                last_cause(&stderr)
            ));
        }
        bail!(
            "cannot lock the requirements: uv failed (exit code {}) for Python {} on {}; nothing was written (generate unlocked with --no-lock to see the image build fail the same way)\nuv says:\n{}",
            code.map_or("none: killed".into(), |c| c.to_string()),
            target.python,
            target.platform,
            indent(&stderr)
        );
    }
    let packages = pinned_packages(&stdout);
    let hashed = all_hashed(&stdout);
    let resolver = format!("uv {version}");
    let text = header(&target, &resolver, user_lock) + &stdout;
    Ok(LockState::Locked(Box::new(Lock {
        text,
        packages,
        target,
        resolver,
        user_lock: user_lock.cloned(),
        hashed,
    })))
}

/// Adds to the plan's warnings what a person must know about its lock: that there is none
/// (unless `--no-lock` asked for that), a Python nb2svc had to assume, lines without hashes,
/// and what the project's lock could not fix. `found` holds the warnings of finding that lock.
pub fn note(plan: &mut crate::plan::ServicePlan, mode: LockMode, found: Vec<Warning>) {
    let mut warnings = found;
    match &plan.lock {
        LockState::Unlocked { reason } if mode != LockMode::Off => {
            warnings.push(Warning::general(format!(
                "the requirements are not locked ({reason}): the image installs the newest versions they allow when it is built, so two builds can differ; install uv (`pip install uv`) and run nb2svc again to lock them (--lock makes a missing lock an error)"
            )))
        }
        LockState::Unlocked { .. } => {}
        LockState::Locked(lock) => {
            // The lock has a hashed line for every package: pip's rule for a partly hashed
            // file no longer applies.
            plan.warnings
                .retain(|w| !w.message.starts_with("the requirements use --hash"));
            if !lock.target.python_is_known() {
                warnings.push(Warning::general(format!(
                    "the lock is for Python {} ({}); if the image has another Python, its build may fail: use a python:X.Y base image",
                    lock.target.python, lock.target.python_from
                )));
            }
            if !lock.hashed {
                warnings.push(Warning::general(
                    "the lock has lines without hashes (a VCS link, URL or path): the image installs it without --require-hashes".to_string(),
                ));
            }
            if let Some(user) = &lock.user_lock {
                if !user.skipped.is_empty() {
                    warnings.push(Warning::general(format!(
                        "{}: not kept (left to the requirements): {}",
                        user.file,
                        user.skipped.join(", ")
                    )));
                }
            }
        }
    }
    plan.warnings.extend(warnings);
    plan.warnings.sort();
    plan.warnings.dedup();
}

/// The constraints file's name in uv's folder: after the lock, so uv's messages say where a
/// version came from.
fn constraints_name(lock: &UserLock) -> String {
    let file = lock.file.rsplit('/').next().unwrap_or(&lock.file);
    format!(
        "{}.constraints.txt",
        file.replace(|c: char| !(c.is_ascii_alphanumeric() || c == '.'), "_")
    )
}

/// The lock's own header: what it is, for what, and how to update it. No date, so that the
/// same input and index give the same bytes.
fn header(target: &Target, resolver: &str, user_lock: Option<&UserLock>) -> String {
    let mut out = format!(
        "{HEADER_START} every package the service installs, pinned, with its\n\
         # hashes (the image installs with --require-hashes). Made by nb2svc with {resolver}\n\
         # for Python {} on {} ({}).\n",
        target.python,
        target.platform,
        crate::escape::one_line(&target.python_from)
    );
    match user_lock {
        Some(lock) => out.push_str(&format!(
            "# The versions of the project's lock {} were kept. To update: update that lock,\n\
             # then run nb2svc again with --upgrade-lock --force.\n",
            crate::escape::one_line(&lock.file)
        )),
        None => out.push_str(&format!(
            "# To update: run nb2svc again with --upgrade-lock --force, or\n\
             #   uv pip compile --generate-hashes --no-header --python-version {} --python-platform {} requirements.in -o requirements.txt\n",
            target.python, target.platform
        )),
    }
    out
}

/// `name==version` of each requirement line of uv's output (annotations and hashes skipped).
fn pinned_packages(lock: &str) -> Vec<Pinned> {
    lock.lines()
        .filter(|line| !line.starts_with([' ', '#', '-']) && !line.is_empty())
        .filter_map(|line| {
            let spec = line.trim_end_matches('\\').trim();
            let spec = spec.split(" ;").next().unwrap_or(spec);
            let (name, version) = spec.split_once("==")?;
            Some(Pinned {
                name: name.trim().to_string(),
                version: version.trim().to_string(),
            })
        })
        .collect()
}

/// Whether every requirement of uv's output is followed by hashes.
fn all_hashed(lock: &str) -> bool {
    let lines: Vec<&str> = lock.lines().collect();
    lines.iter().enumerate().all(|(index, line)| {
        if line.is_empty() || line.starts_with([' ', '#', '-']) {
            return true;
        }
        line.contains("--hash=")
            || lines
                .get(index + 1)
                .is_some_and(|next| next.trim_start().starts_with("--hash="))
    })
}

/// The last `cause:` line of uv's message (the most precise), or its first line.
fn last_cause(stderr: &str) -> String {
    stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("cause: "))
        .next_back()
        .or_else(|| stderr.lines().next())
        .unwrap_or("no message")
        .trim()
        .to_string()
}

fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests;
