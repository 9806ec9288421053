//! What the dev container takes from the machine nb2svc runs on: a random token, the numeric
//! ids of the user who ran it, and the text of a file that may not exist. Writing is left to
//! [`crate::write`], which keeps `.env` private.

use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};

/// A file's text, or `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// 48 hex characters from the operating system's random source.
pub fn new_token() -> Result<String> {
    let mut bytes = [0u8; 24];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom to generate the Jupyter token")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The numeric user and group of whoever ran nb2svc (`SUDO_UID`/`SUDO_GID` under sudo): bash
/// does not export `$UID`, so compose could not read it from the environment.
pub fn host_ids() -> (u32, u32) {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u32>().ok())
    };
    let sudo = |key: &str| std::env::var(key).ok().and_then(|v| v.parse::<u32>().ok());
    let (uid, gid) = (field("Uid:"), field("Gid:"));
    match (uid, sudo("SUDO_UID"), sudo("SUDO_GID")) {
        (Some(0), Some(u), Some(g)) => (u, g),
        _ => (uid.unwrap_or(1000), gid.unwrap_or(1000)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_hex() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 48);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn a_missing_file_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        fs::write(&path, "JUPYTER_TOKEN=x\n").unwrap();
        assert_eq!(
            read_optional(&path).unwrap().as_deref(),
            Some("JUPYTER_TOKEN=x\n")
        );
        assert_eq!(read_optional(&dir.path().join("none")).unwrap(), None);
        let folder = read_optional(dir.path()).unwrap_err().to_string();
        assert!(folder.starts_with("reading "), "{folder}");
    }
}
