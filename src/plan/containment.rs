//! What may be copied into the service: only files inside the notebook's project folder, once
//! symlinks are resolved, and never a secret. The Dockerfile copies `data/` and `app/` into the
//! image, so a host file or a key shipped there leaks to everyone who gets the image; a warning
//! is too easy to miss, so each of these is an error naming the path, cell and line, raised
//! before anything is written.

use anyhow::{bail, Result};

use crate::diagnostics::Location;
use crate::workspace::secrets::{self, has_private_key, secret_name};
use crate::workspace::{project_path, SourceFiles};

/// How the error says where a path comes from: the cell and line that reads it, or the flag.
fn origin(read_at: Option<&Location>) -> String {
    read_at.map_or_else(|| "--include".to_string(), ToString::to_string)
}

/// Fails when the path `value` the notebook reads (relative to its folder, as written) names
/// a secret, or resolves outside the project. Absolute paths are kept as written and shipped
/// by nobody, so only relative ones are checked; a missing file is checked by name too, as the
/// warning for it would tell the user to put it in `data/`.
pub(super) fn check_read(files: &dyn SourceFiles, value: &str, at: &Location) -> Result<()> {
    if value.starts_with('/') || value.starts_with('~') || value.contains("://") {
        return Ok(());
    }
    if let Some(real) = files.escapes(value) {
        if project_path(files.notebook_subdir(), value).is_some() {
            bail!(
                "{at}: reads `{value}`, a symlink to {real}, outside the notebook's project folder: nothing outside the project is shipped into the service; copy the file into the project instead of linking to it"
            );
        }
        bail!(
            "{at}: reads `{value}`, which is {real}, outside the notebook's project folder: nothing outside the project is shipped into the service; copy it into the project, or pass --root DIR to widen the project"
        );
    }
    if let Some(rule) = secret_name(value) {
        bail!(
            "{at}: reads `{value}`, a secret by its name ({rule}): secrets are never copied into the service's image; {}",
            secrets::ADVICE
        );
    }
    Ok(())
}

/// Fails when the file `source` (relative to the notebook's folder), planned to be copied into
/// the service, is a link that leads outside the project, or a secret by name or content.
/// `read_at` is where the notebook reads it (the folder that holds it, for a folder read whole),
/// `None` for `--include`.
pub(super) fn check_shipped(
    files: &dyn SourceFiles,
    source: &str,
    read_at: Option<&Location>,
) -> Result<()> {
    let at = origin(read_at);
    if let Some(real) = files.escapes(source) {
        bail!(
            "{at}: `{source}` resolves to {real} (through a symlink), outside the notebook's project folder: nothing outside the project is shipped into the service; copy the file into the project instead of linking to it"
        );
    }
    if let Some(rule) = secret_name(source) {
        bail!(
            "{at}: `{source}` is a secret by its name ({rule}): secrets are never copied into the service's image; {}",
            secrets::ADVICE
        );
    }
    if files
        .head(source, secrets::SCANNED_BYTES)
        .is_some_and(|head| has_private_key(&head))
    {
        bail!(
            "{at}: `{source}` holds a private key (`-----BEGIN ... PRIVATE KEY-----`): secrets are never copied into the service's image; {}",
            secrets::ADVICE
        );
    }
    Ok(())
}

/// Fails when a Python module the notebook imports, to be copied into `app/`, is a link that
/// leads outside the project.
pub(super) fn check_module(files: &dyn SourceFiles, source: &str) -> Result<()> {
    if let Some(real) = files.escapes(source) {
        bail!(
            "the notebook imports `{source}`, which resolves to {real} (through a symlink), outside the notebook's project folder: nothing outside the project is shipped into the service; copy the module into the project instead of linking to it"
        );
    }
    Ok(())
}

/// Fails when `%%writefile` writes a secret by name or content: its text would go to `data/`
/// and so into the image.
pub(super) fn check_written(path: &str, contents: &str, at: &Location) -> Result<()> {
    let why = match secret_name(path) {
        Some(rule) => format!("a secret by its name ({rule})"),
        None if has_private_key(
            &contents.as_bytes()[..contents.len().min(secrets::SCANNED_BYTES)],
        ) =>
        {
            "a private key (`-----BEGIN ... PRIVATE KEY-----`)".to_string()
        }
        None => return Ok(()),
    };
    bail!(
        "{at}: `%%writefile {path}` writes {why}, which would be copied into the service's image: remove the cell; {}",
        secrets::ADVICE
    )
}

#[cfg(test)]
mod tests {
    use super::{check_read, check_shipped, check_written};
    use crate::diagnostics::{CellRef, Location};
    use crate::workspace::MemoryFolder;

    fn at() -> Location {
        Location {
            cell: CellRef::new(2, None),
            line: 3,
        }
    }

    #[test]
    fn reads_of_secrets_and_of_links_outside_are_refused() {
        let mut files = MemoryFolder::with(&[("x.csv", "a\n"), ("linked.csv", "root:x\n")]);
        files
            .outside
            .insert("linked.csv".into(), "/etc/shadow".into());
        assert!(check_read(&files, "x.csv", &at()).is_ok());
        assert!(check_read(&files, "/run/secrets/token", &at()).is_ok());
        let error = check_read(&files, "conf/.env", &at())
            .unwrap_err()
            .to_string();
        assert!(error.contains("reads `conf/.env`, a secret by its name (`.env*`)"));
        assert!(error.contains("environment variable"));
        let error = check_shipped(&files, "linked.csv", Some(&at()))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`linked.csv` resolves to /etc/shadow"),
            "{error}"
        );
        let error = check_read(&files, "linked.csv", &at())
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("cell 2, line 3: reads `linked.csv`, a symlink to /etc/shadow"),
            "{error}"
        );
    }

    #[test]
    fn a_private_key_is_refused_by_content_whatever_its_name() {
        let files =
            MemoryFolder::with(&[("notes.txt", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n")]);
        let error = check_shipped(&files, "notes.txt", None)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("--include: `notes.txt` holds a private key"),
            "{error}"
        );
        assert!(check_written("k.txt", "-----BEGIN RSA PRIVATE KEY-----\n", &at()).is_err());
        assert!(check_written(".env", "A=1\n", &at()).is_err());
        assert!(check_written("config.yaml", "a: 1\n", &at()).is_ok());
    }
}
