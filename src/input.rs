//! Reading the files a person names (notebook, requirements, templates): regular files of
//! bounded size only.
//!
//! `fs::read` reads until the end of the file, and some files have none: `/dev/zero`, a pipe,
//! a growing log. Passing one as the notebook or through `-r` in a requirements file would
//! run until memory is gone. Each input kind has a size limit, documented in the README and
//! checked twice: on the file's metadata, and while reading, in case the file grows.

use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Largest notebook read (outputs included; images in outputs make notebooks big).
pub const NOTEBOOK_LIMIT: u64 = 512 * 1024 * 1024;
/// Largest requirements file (each `-r`/`-c` include counts on its own) or template read.
pub const TEXT_LIMIT: u64 = 16 * 1024 * 1024;

/// The bytes of `path`, which must be a regular file (symbolic links followed) of at most
/// `limit` bytes; `what` names the file in errors ("notebook", "requirements file").
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let shown = path.display();
    let metadata = fs::metadata(path).with_context(|| format!("cannot read {what} {shown}"))?;
    if !metadata.is_file() {
        bail!("cannot read {what} {shown}: not a regular file (a folder, device or pipe); expected a file");
    }
    let too_big = || {
        anyhow::anyhow!(
            "cannot read {what} {shown}: larger than nb2svc's limit of {} MiB for a {what}",
            limit / (1024 * 1024)
        )
    };
    if metadata.len() > limit {
        return Err(too_big());
    }
    let file = fs::File::open(path).with_context(|| format!("cannot read {what} {shown}"))?;
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what} {shown}"))?;
    if bytes.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_devices_folders_and_big_files() {
        let error = read_bounded(Path::new("/dev/zero"), 10, "notebook").unwrap_err();
        assert!(
            format!("{error:#}").contains("/dev/zero: not a regular file"),
            "{error:#}"
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(read_bounded(dir.path(), 10, "notebook").is_err());
        let file = dir.path().join("big.txt");
        fs::write(&file, "x".repeat(11)).unwrap();
        let error = read_bounded(&file, 10, "requirements file").unwrap_err();
        assert!(
            format!("{error:#}").contains("larger than nb2svc's limit"),
            "{error:#}"
        );
        assert_eq!(read_bounded(&file, 11, "file").unwrap().len(), 11);
    }
}
