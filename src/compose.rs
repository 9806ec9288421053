//! `nb2svc compose`: a `docker run` command line, as trailing arguments or one string, written
//! as a compose file by [`crate::docker_run`] (which does the conversion), with its notes on
//! stderr. The file goes through the same all-or-nothing writer as the main job.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::ComposeArgs;
use crate::docker_run::{convert, parse_command_line, render_compose};
use crate::render::{Content, OutputFile};
use crate::workspace::NotebookFolder;
use crate::write;

/// Converts the command and writes (or prints) the compose file.
pub(crate) fn run(
    args: &ComposeArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<()> {
    let words = match &args.command {
        Some(text) => parse_command_line(text).context("in --command")?,
        None if args.docker_run.is_empty() => bail!(
            "no docker run command given: expected `nb2svc compose -- docker run [OPTIONS] IMAGE` or `--command \"docker run ...\"`"
        ),
        None => {
            let joined = shlex::try_join(args.docker_run.iter().map(String::as_str))
                .context("the docker run arguments contain a NUL character")?;
            parse_command_line(&joined)?
        }
    };
    let conversion = convert(&words)?;
    let text = render_compose(&conversion)?;
    if args.stdout {
        stdout.write_all(text.as_bytes())?;
        return print_notes(&conversion.notes, stderr);
    }
    let name = args
        .out
        .file_name()
        .with_context(|| format!("-o {}: expected a file name", args.out.display()))?
        .to_string_lossy()
        .into_owned();
    let dir = match args.out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    let files = [OutputFile {
        path: name,
        content: Content::Text(text),
    }];
    let folder = NotebookFolder {
        dir: dir.clone(),
        subdir: String::new(),
    };
    let report = write::write_to(&dir, &files, &folder, args.force)?;
    print_notes(&conversion.notes, stderr)?;
    let verb = if report.unchanged.is_empty() {
        "wrote"
    } else {
        "kept (unchanged)"
    };
    writeln!(
        stderr,
        "{verb} {} with service `{}`: start it with `docker compose -f {} up`",
        args.out.display(),
        conversion.service_name,
        args.out.display()
    )?;
    Ok(())
}

/// The conversion's notes: what compose does differently from `docker run`.
fn print_notes(notes: &[String], stderr: &mut dyn Write) -> Result<()> {
    for note in notes {
        writeln!(stderr, "note: {note}")?;
    }
    Ok(())
}
