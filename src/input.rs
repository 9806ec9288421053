//! Reading the files a person names (notebook, requirements, templates): regular files of
//! bounded size only.
//!
//! `fs::read` reads until the end of the file, and some files have none: `/dev/zero`, a pipe,
//! a growing log. Passing one as the notebook or through `-r` in a requirements file would
//! run until memory is gone. Each input kind has a size limit, documented in the README and
//! checked twice: on the file's metadata, and while reading, in case the file grows.
//!
//! The notebook, the one big input (outputs with images make it megabytes), is memory-mapped
//! by [`with_notebook_bytes`] rather than read: no zeroed buffer, no copy (see [`mapped`] for
//! what happens when the file shrinks meanwhile).

mod mapped;

use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};

/// Largest notebook read (outputs included; images in outputs make notebooks big).
pub const NOTEBOOK_LIMIT: u64 = 512 * 1024 * 1024;
/// Largest requirements file (each `-r`/`-c` include counts on its own) or template read.
pub const TEXT_LIMIT: u64 = 16 * 1024 * 1024;

/// The bytes of `path`, which must be a regular file (symbolic links followed) of at most
/// `limit` bytes; `what` names the file in errors ("notebook", "requirements file").
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let (file, length) = open_bounded(path, limit, what)?;
    read_open(path, file, length, limit, what)
}

/// Runs `use_bytes` on the bytes of `path`, under the same rules and with the same errors as
/// [`read_bounded`]. A regular file is memory-mapped, so its pages come straight from the page
/// cache; when it cannot be mapped (empty, a file system without mmap, another platform than
/// Linux) it is read instead. The bytes live only as long as `use_bytes` runs.
pub fn with_bytes<T>(
    path: &Path,
    limit: u64,
    what: &str,
    use_bytes: impl FnOnce(&[u8]) -> T,
) -> Result<T> {
    let (file, length) = open_bounded(path, limit, what)?;
    match mapped::map(&file, length) {
        Some(map) => map.with(use_bytes).map_err(|mapped::Truncated| {
            anyhow::anyhow!(
                "cannot read {what} {}: the file was truncated while nb2svc read it; expected a file that stays as it is",
                path.display()
            )
        }),
        None => Ok(use_bytes(&read_open(path, file, length, limit, what)?)),
    }
}

/// [`with_bytes`] for a notebook, under [`NOTEBOOK_LIMIT`].
pub fn with_notebook_bytes<T>(path: &Path, use_bytes: impl FnOnce(&[u8]) -> T) -> Result<T> {
    with_bytes(path, NOTEBOOK_LIMIT, "notebook", use_bytes)
}

fn too_big(path: &Path, limit: u64, what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot read {what} {}: larger than nb2svc's limit of {} MiB for a {what}",
        path.display(),
        limit / (1024 * 1024)
    )
}

/// Opens `path` once it is known to be a regular file within `limit`, and gives its length as
/// the open file reports it (the path may have been replaced between the two looks).
fn open_bounded(path: &Path, limit: u64, what: &str) -> Result<(fs::File, u64)> {
    let shown = path.display();
    let not_a_file = || {
        anyhow::anyhow!("cannot read {what} {shown}: not a regular file (a folder, device or pipe); expected a file")
    };
    // The path is looked at before it is opened: opening a pipe would wait for a writer.
    let metadata = fs::metadata(path).with_context(|| format!("cannot read {what} {shown}"))?;
    if !metadata.is_file() {
        return Err(not_a_file());
    }
    if metadata.len() > limit {
        return Err(too_big(path, limit, what));
    }
    let file = fs::File::open(path).with_context(|| format!("cannot read {what} {shown}"))?;
    let metadata = file
        .metadata()
        .with_context(|| format!("cannot read {what} {shown}"))?;
    if !metadata.is_file() {
        return Err(not_a_file());
    }
    if metadata.len() > limit {
        return Err(too_big(path, limit, what));
    }
    Ok((file, metadata.len()))
}

/// Reads an open file of `length` bytes (as its metadata says), stopping past `limit` in case
/// it grows meanwhile.
fn read_open(path: &Path, file: fs::File, length: u64, limit: u64, what: &str) -> Result<Vec<u8>> {
    let shown = path.display();
    let mut bytes = Vec::with_capacity(length as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what} {shown}"))?;
    if bytes.len() as u64 > limit {
        return Err(too_big(path, limit, what));
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

    /// The error text of both ways in, for the same file and limit.
    fn errors(path: &Path, limit: u64) -> (String, String) {
        let read = read_bounded(path, limit, "notebook").unwrap_err();
        let mapped = with_bytes(path, limit, "notebook", |bytes| bytes.len()).unwrap_err();
        (format!("{read:#}"), format!("{mapped:#}"))
    }

    #[test]
    fn mapped_bytes_and_errors_are_those_of_a_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("notebook.ipynb");
        // Several pages, not a multiple of the page size, every byte value.
        let content: Vec<u8> = (0..3 * 4096 + 17).map(|i| (i % 251) as u8).collect();
        fs::write(&file, &content).unwrap();
        let mapped = with_bytes(&file, NOTEBOOK_LIMIT, "notebook", <[u8]>::to_vec).unwrap();
        assert_eq!(
            mapped,
            read_bounded(&file, NOTEBOOK_LIMIT, "notebook").unwrap()
        );
        assert_eq!(mapped, content);

        let empty = dir.path().join("empty.ipynb");
        fs::write(&empty, "").unwrap();
        assert_eq!(with_notebook_bytes(&empty, <[u8]>::len).unwrap(), 0);

        for (path, limit, expected) in [
            (dir.path(), NOTEBOOK_LIMIT, "not a regular file"),
            (
                Path::new("/dev/zero"),
                NOTEBOOK_LIMIT,
                "/dev/zero: not a regular file",
            ),
            (
                file.as_path(),
                4096,
                "larger than nb2svc's limit of 0 MiB for a notebook",
            ),
            (
                &dir.path().join("missing.ipynb"),
                NOTEBOOK_LIMIT,
                "missing.ipynb: No such file",
            ),
        ] {
            let (read, mapped) = errors(path, limit);
            assert_eq!(read, mapped);
            assert!(read.contains(expected), "{read}");
        }
    }

    #[test]
    fn a_notebook_truncated_while_mapped_is_an_error_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("shrinking.ipynb");
        fs::write(&file, vec![b'x'; 8 * 4096]).unwrap();
        let result = with_notebook_bytes(&file, |bytes| {
            fs::OpenOptions::new()
                .write(true)
                .open(&file)
                .unwrap()
                .set_len(0)
                .unwrap();
            // Every page is past the end now: without the guard this read is a SIGBUS.
            bytes.iter().map(|&byte| u64::from(byte)).sum::<u64>()
        });
        let error = format!("{:#}", result.unwrap_err());
        assert!(
            error.contains("shrinking.ipynb: the file was truncated while nb2svc read it"),
            "{error}"
        );
        // The guard is still in place for the next notebook.
        fs::write(&file, "{}").unwrap();
        assert_eq!(with_notebook_bytes(&file, <[u8]>::to_vec).unwrap(), b"{}");
    }
}
