//! Files that hold secrets, which must never be copied into the service's `data/` folder: the
//! Dockerfile copies `data/` into the image, and an image is pushed, shared and cached where
//! the author's keys and passwords do not belong.
//!
//! The rules by name are heuristics: they catch the usual places (`.env`, SSH keys, cloud
//! credentials) and miss a secret stored under any other name; and a harmless file that happens
//! to match (`settings.key`) is refused too, which the user fixes by renaming it. The check by
//! content catches private keys whatever their name. Neither proves a file holds no secret.

/// How much of a file's beginning is searched for a private key header: a PEM file starts
/// with it, and a few KB cover a leading comment or certificate.
pub const SCANNED_BYTES: usize = 8 * 1024;

/// What the user should do instead of shipping a secret: pass it when the service runs.
pub const ADVICE: &str = "pass it at run time instead: set its value in an environment variable (`docker run -e`, compose `environment:`), or mount the file (compose `secrets:` or a bind mount, read-only) and set its path through an environment variable the notebook reads";

/// Why the file at `path` (`/`-separated, relative to anywhere) looks like a secret by its
/// name: the rule it matches, or `None`. Case-insensitive, as file systems often are.
pub fn secret_name(path: &str) -> Option<&'static str> {
    let lower = path.to_ascii_lowercase();
    let parts: Vec<&str> = lower
        .split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    for folder in [".aws", ".ssh", ".kube"] {
        if parts.contains(&folder) {
            return Some(match folder {
                ".aws" => "anything under `.aws/`",
                ".ssh" => "anything under `.ssh/`",
                _ => "anything under `.kube/`",
            });
        }
    }
    let name = *parts.last()?;
    let rule = if name.starts_with(".env") {
        "`.env*`"
    } else if name.ends_with(".pem") {
        "`*.pem`"
    } else if name.ends_with(".key") {
        "`*.key`"
    } else if name.starts_with("id_rsa") {
        "`id_rsa*`"
    } else if name.starts_with("id_ed25519") {
        "`id_ed25519*`"
    } else if name == ".netrc" {
        "`.netrc`"
    } else if name.starts_with("credentials") && name.ends_with(".json") {
        "`credentials*.json`"
    } else if name == ".git-credentials" {
        "`.git-credentials`"
    } else {
        return None;
    };
    Some(rule)
}

/// Whether `head` (the first [`SCANNED_BYTES`] of a file) holds a private key header such as
/// `-----BEGIN RSA PRIVATE KEY-----` or `-----BEGIN OPENSSH PRIVATE KEY-----`.
pub fn has_private_key(head: &[u8]) -> bool {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const END: &[u8] = b"PRIVATE KEY-----";
    let mut rest = head;
    while let Some(at) = find(rest, BEGIN) {
        let after = &rest[at + BEGIN.len()..];
        // The header's label is short and on one line: `ENCRYPTED PRIVATE KEY`, `EC PRIVATE KEY`.
        let line_end = after
            .iter()
            .take(64)
            .position(|b| *b == b'\n' || *b == b'\r')
            .unwrap_or(after.len().min(64));
        if find(&after[..line_end], END).is_some() {
            return true;
        }
        rest = after;
    }
    false
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::{has_private_key, secret_name};

    #[test]
    fn secret_names_match_at_any_depth() {
        for path in [
            ".env",
            ".env.local",
            "config/.env.production",
            "../.env",
            "certs/server.pem",
            "tls/server.KEY",
            "id_rsa",
            "keys/id_rsa.pub",
            "id_ed25519",
            ".netrc",
            "credentials.json",
            "gcp/credentials-prod.json",
            ".aws/credentials",
            "home/.ssh/config",
            ".kube/config",
            ".git-credentials",
            ".ssh",
        ] {
            assert!(secret_name(path).is_some(), "{path} should be a secret");
        }
    }

    #[test]
    fn ordinary_data_files_are_not_secrets() {
        for path in [
            "data/train.csv",
            "environment.yml",
            "env/x.csv",
            "keys.csv",
            "model.pkl",
            "credentials.csv",
            "my_credentials.json",
            "keyboard.json",
            "aws/data.csv",
            "",
        ] {
            assert_eq!(secret_name(path), None, "{path} should not be a secret");
        }
    }

    #[test]
    fn the_rule_is_named() {
        assert_eq!(secret_name("a/.env"), Some("`.env*`"));
        assert_eq!(secret_name(".aws/config"), Some("anything under `.aws/`"));
        assert_eq!(secret_name("credentials.json"), Some("`credentials*.json`"));
    }

    #[test]
    fn private_key_headers_are_found() {
        for head in [
            "-----BEGIN PRIVATE KEY-----\nMIIE...",
            "-----BEGIN RSA PRIVATE KEY-----\n",
            "-----BEGIN OPENSSH PRIVATE KEY-----\n",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----",
            "# my key\r\nsome: yaml\n-----BEGIN EC PRIVATE KEY-----\n",
            "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\n",
        ] {
            assert!(has_private_key(head.as_bytes()), "{head:?}");
        }
    }

    #[test]
    fn other_text_has_no_private_key() {
        for head in [
            "",
            "a,b\n1,2\n",
            "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n",
            "-----BEGIN PUBLIC KEY-----\n",
            "-----BEGIN \nPRIVATE KEY-----",
            "PRIVATE KEY-----",
        ] {
            assert!(!has_private_key(head.as_bytes()), "{head:?}");
        }
    }
}
