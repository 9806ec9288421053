//! Names that end up in Docker and compose files, checked or made safe before they get there.

use anyhow::{bail, Result};

/// A compose service and image name from free text: lowercase ASCII letters and digits, with
/// single `-` between words (`Mid-term Vowel Prediction` → `mid-term-vowel-prediction`).
pub fn service_name(text: &str) -> String {
    let mut name = String::new();
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() {
            name.push(ch.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-');
    let name: String = name.chars().take(63).collect();
    if name.is_empty() {
        "notebook-service".into()
    } else {
        name.trim_end_matches('-').to_string()
    }
}

/// Checks an image reference (`python:3.11-slim`, `registry:5000/team/img@sha256:...`) before it
/// is written into a `FROM` line or a compose file, against Docker's reference grammar
/// (distribution/reference): `[HOST[:PORT]/]PATH[:TAG][@ALGO:HEX]`, the path's components
/// lowercase. What Docker would refuse at build time is refused here, with the reason.
pub fn check_image_reference(image: &str) -> Result<()> {
    if let Err(reason) = image_reference_problem(image) {
        bail!(
            "`{}` is not a Docker image reference: {reason} (expected [HOST[:PORT]/]NAME[:TAG][@ALGORITHM:HEX], \
             NAME lowercase, e.g. python:3.11-slim or registry.example.com:5000/team/image:1.0)",
            image.escape_debug()
        );
    }
    Ok(())
}

/// Why `image` does not follow Docker's reference grammar, if it does not.
fn image_reference_problem(image: &str) -> std::result::Result<(), String> {
    let (rest, digest) = match image.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (image, None),
    };
    if let Some(digest) = digest {
        let (algorithm, hex) = digest
            .split_once(':')
            .ok_or("the digest lacks `ALGORITHM:`")?;
        let algorithm_ok = algorithm.split(['+', '.', '-', '_']).all(|part| {
            part.starts_with(|c: char| c.is_ascii_alphabetic())
                && part.chars().all(|c| c.is_ascii_alphanumeric())
        });
        if !algorithm_ok {
            return Err(format!(
                "digest algorithm `{algorithm}` is not a name like sha256"
            ));
        }
        if hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err("a digest is at least 32 hexadecimal digits".into());
        }
    }
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let tag_ok = tag.len() <= 128
            && tag.starts_with(word)
            && tag.chars().all(|c| word(c) || c == '.' || c == '-');
        if !tag_ok {
            return Err(format!(
                "tag `{tag}` is not 1 to 128 letters, digits, `_`, `.` or `-`, starting with a letter, digit or `_`"
            ));
        }
    }
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > 255 {
        return Err("the name is longer than 255 characters".into());
    }
    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 {
        let first = components[0];
        // Docker's rule: the first component is a registry host when it has `.` or `:`, is
        // `localhost`, or has uppercase letters.
        if first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first {
            check_registry(first)?;
            components.remove(0);
        }
    }
    for component in components {
        check_path_component(component)?;
    }
    Ok(())
}

/// `HOST[:PORT]`: dot-separated labels of letters, digits and inner `-`, or `[IPv6]`.
fn check_registry(domain: &str) -> std::result::Result<(), String> {
    let (host, port) =
        if let Some(bracketed) = domain.strip_prefix('[') {
            let (inside, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("registry `{domain}` has an unclosed `[`"))?;
            if inside.is_empty()
                || !inside
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
            {
                return Err(format!(
                    "registry `{domain}` is not an IPv6 address in brackets"
                ));
            }
            match after {
                "" => (None, None),
                _ => (
                    None,
                    Some(after.strip_prefix(':').ok_or_else(|| {
                        format!("registry `{domain}`: expected `:PORT` after `]`")
                    })?),
                ),
            }
        } else {
            match domain.split_once(':') {
                Some((host, port)) => (Some(host), Some(port)),
                None => (Some(domain), None),
            }
        };
    if let Some(host) = host {
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if !host.split('.').all(label_ok) {
            return Err(format!("registry host `{host}` is not a host name"));
        }
    }
    if let Some(port) = port {
        if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("registry port `{port}` is not a number"));
        }
    }
    Ok(())
}

/// A path component: lowercase letters and digits, joined by one `.`, one or two `_`, or `-`s.
fn check_path_component(component: &str) -> std::result::Result<(), String> {
    let bad = || {
        Err(format!(
            "`{component}` is not a name component: lowercase letters and digits, separated by `.`, `_`, `__` or `-`"
        ))
    };
    let bytes = component.as_bytes();
    if bytes.is_empty()
        || !bytes[0].is_ascii_alphanumeric()
        || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
    {
        return bad();
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_digit() || b.is_ascii_lowercase() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.chars().all(|c| c == '-');
        if !ok || (i < bytes.len() && !bytes[i].is_ascii_lowercase() && !bytes[i].is_ascii_digit())
        {
            return bad();
        }
        if i == start {
            return bad(); // an uppercase letter or another character
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_are_compose_and_docker_safe() {
        assert_eq!(
            service_name("Mid-term Vowel Prediction Project"),
            "mid-term-vowel-prediction-project"
        );
        assert_eq!(
            service_name("04 - Pandas and Heterogeneous"),
            "04-pandas-and-heterogeneous"
        );
        assert_eq!(
            service_name("entrenamiento_pingüinos"),
            "entrenamiento-ping-inos"
        );
        assert_eq!(service_name("«»"), "notebook-service");
    }

    #[test]
    fn image_references_with_spaces_or_newlines_are_refused() {
        assert!(check_image_reference("python:3.11-slim").is_ok());
        let digest = format!("sha256:{}", "ab".repeat(32));
        for good in [
            "python".to_string(),
            "library/python:3.11".into(),
            "localhost:5000/team/py".into(),
            format!("localhost:5000/team/py@{digest}"),
            format!("python:3.11@{digest}"),
            format!("python:3.11-slim@{digest}"),
            "ghcr.io/org/sub_name__x/a-b--c.d:v1.0_rc-2".into(),
            "[::1]:5000/img".into(),
            "Registry.Example.COM/team/img".into(),
        ] {
            assert!(check_image_reference(&good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "python 3",
            "python\nRUN rm -rf /",
            "-x",
            "a::@@//",
            "Python:3.11",
            "team/Python",
            "python:",
            "python:.x",
            "python@sha256:abc",
            "python@:00000000000000000000000000000000",
            "reg:port/img",
            "a//b",
            "a/",
            "a___b",
            "a.-b",
        ] {
            assert!(check_image_reference(bad).is_err(), "{bad:?}");
        }
        let error = check_image_reference("a::@@//").unwrap_err().to_string();
        assert!(error.contains("not a Docker image reference"), "{error}");
    }
}
