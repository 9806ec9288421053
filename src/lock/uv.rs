//! Running uv: `uv pip compile` on files in a private temporary folder, as a subprocess with
//! no shell, a time limit, and its output captured whole.
//!
//! What the output means (a lock, a conflict, an index that does not answer) is decided by
//! the caller; this module only runs the program and reports what happened.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::target::Target;

/// The uv program: `NB2SVC_UV` when set (a path, or another name on the PATH), else `uv`.
pub fn program() -> OsString {
    std::env::var_os("NB2SVC_UV")
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| "uv".into())
}

/// What one run of uv did.
#[derive(Debug)]
pub enum Run {
    /// uv could not be started: it is not installed (or `NB2SVC_UV` names nothing).
    NotInstalled(String),
    /// It ran longer than allowed and was killed.
    TimedOut(Duration),
    /// It ended: its exit code (`None` when a signal ended it), stdout and stderr.
    Finished {
        code: Option<i32>,
        stdout: String,
        stderr: String,
    },
}

/// `uv --version`'s version (`0.13.9`), or `None` when uv does not run.
pub fn version(uv: &OsStr) -> Option<String> {
    match run(uv, &["--version".into()], None, Duration::from_secs(30)).ok()? {
        Run::Finished {
            code: Some(0),
            stdout,
            ..
        } => stdout.split_whitespace().nth(1).map(str::to_string),
        _ => None,
    }
}

/// One resolution: the requirements (and constraints) to compile, and for what.
pub struct Compile<'a> {
    /// The text of `requirements.in`, exactly as the service ships it.
    pub requirements_in: &'a str,
    /// A constraints file (`name==version` lines), named `constraints_name` in uv's folder.
    pub constraints: Option<(&'a str, &'a str)>,
    pub target: &'a Target,
    /// Keep the requirements' `--index-url`/`--extra-index-url` in the lock, so the image
    /// installs from the indexes it was resolved against.
    pub emit_index_url: bool,
    /// The lock already in the service (`requirements.txt`): uv keeps its versions where they
    /// still fit, so running nb2svc again on the same input changes nothing.
    pub previous: Option<&'a str>,
    /// Choose the newest versions instead of keeping the previous lock's.
    pub upgrade: bool,
}

/// The arguments of `uv pip compile` for `compile`, reading files named as in its folder.
pub fn compile_args(compile: &Compile) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "--color",
        "never",
        // A Python download would take a minute and is not needed: the target Python is
        // given, and an interpreter on the host only builds the metadata of old sdists.
        "--no-python-downloads",
        "pip",
        "compile",
        "--generate-hashes",
        // uv's header names the command and its temporary folder; nb2svc writes its own.
        "--no-header",
        "--python-version",
        &compile.target.python,
        "--python-platform",
        &compile.target.platform,
    ]
    .iter()
    .map(OsString::from)
    .collect();
    if compile.emit_index_url {
        args.push("--emit-index-url".into());
    }
    if let Some((name, _)) = compile.constraints {
        args.push("--constraint".into());
        args.push(name.into());
    }
    if compile.previous.is_some() {
        // uv reads the output file it is given as its preferences.
        args.push("--output-file".into());
        args.push("requirements.txt".into());
    }
    if compile.upgrade {
        args.push("--upgrade".into());
    }
    args.push("requirements.in".into());
    args
}

/// Runs `uv pip compile` on `compile` in a fresh temporary folder, removed afterwards.
pub fn compile(uv: &OsStr, compile: &Compile, limit: Duration) -> Result<Run> {
    let folder = TempFolder::new()?;
    // uv's annotations name the input as given (`# via -r requirements.in`), so it is given
    // by the name it has in the service, relative to the folder uv runs in.
    folder.write("requirements.in", compile.requirements_in)?;
    if let Some((name, text)) = compile.constraints {
        folder.write(name, text)?;
    }
    if let Some(previous) = compile.previous {
        folder.write("requirements.txt", previous)?;
    }
    run(uv, &compile_args(compile), Some(&folder.path), limit)
}

/// Runs `program args...` in `dir`, stdin closed, killed after `limit`.
fn run(program: &OsStr, args: &[OsString], dir: Option<&Path>, limit: Duration) -> Result<Run> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Plain text whatever the terminal: the caller reads uv's messages.
        .env("NO_COLOR", "1");
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Run::NotInstalled(format!(
                "{} is not installed (not found on the PATH)",
                Path::new(program).display()
            )))
        }
        Err(error) => {
            return Ok(Run::NotInstalled(format!(
                "{} cannot be started: {error}",
                Path::new(program).display()
            )))
        }
    };
    // Both pipes are drained while uv runs, so a long message cannot fill one and stall it.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for uv")? {
            break Some(status);
        }
        if started.elapsed() >= limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(match status {
        Some(status) => Run::Finished {
            code: status.code(),
            stdout,
            stderr,
        },
        None => Run::TimedOut(limit),
    })
}

/// A folder of its own under the system's temporary folder, removed when dropped.
struct TempFolder {
    path: PathBuf,
}

impl TempFolder {
    fn new() -> Result<TempFolder> {
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        for attempt in 0..100u32 {
            let path = base.join(format!(
                "nb2svc-lock-{}-{nanos:x}-{attempt}",
                std::process::id()
            ));
            // `create_dir` fails on an existing path: the folder is new, and only ours.
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempFolder { path }),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(error) => {
                    return Err(error).with_context(|| {
                        format!("creating a temporary folder in {}", base.display())
                    })
                }
            }
        }
        anyhow::bail!("cannot create a temporary folder in {}", base.display())
    }

    fn write(&self, name: &str, text: &str) -> Result<()> {
        let path = self.path.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::for_image("python:3.10-slim", "x86_64")
    }

    #[test]
    fn compiles_for_the_image_with_hashes_and_no_header() {
        let target = target();
        let compile = Compile {
            requirements_in: "numpy\n",
            constraints: Some(("uv.lock.constraints.txt", "numpy==1.26.4\n")),
            target: &target,
            emit_index_url: false,
            previous: Some("numpy==1.26.4\n"),
            upgrade: false,
        };
        let args: Vec<String> = compile_args(&compile)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args.join(" "),
            "--color never --no-python-downloads pip compile --generate-hashes --no-header \
             --python-version 3.10 --python-platform x86_64-manylinux_2_28 \
             --constraint uv.lock.constraints.txt --output-file requirements.txt requirements.in"
        );
    }

    #[test]
    fn a_missing_program_is_not_installed_not_an_error() {
        let run = run(
            OsStr::new("/nonexistent/uv-nb2svc-test"),
            &[],
            None,
            Duration::from_secs(5),
        )
        .unwrap();
        assert!(matches!(run, Run::NotInstalled(_)), "{run:?}");
    }

    #[test]
    fn a_program_that_runs_too_long_is_killed() {
        let started = Instant::now();
        let run = run(
            OsStr::new("sleep"),
            &["30".into()],
            None,
            Duration::from_millis(200),
        )
        .unwrap();
        assert!(matches!(run, Run::TimedOut(_)), "{run:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn the_temporary_folder_is_removed() {
        let folder = TempFolder::new().unwrap();
        folder.write("requirements.in", "x\n").unwrap();
        let path = folder.path.clone();
        assert!(path.join("requirements.in").is_file());
        drop(folder);
        assert!(!path.exists());
    }
}
