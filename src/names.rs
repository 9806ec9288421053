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
/// is written into a `FROM` line, where a space or newline would change the Dockerfile.
pub fn check_image_reference(image: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-/:@".contains(c);
    if image.is_empty() || !image.chars().all(allowed) || image.starts_with(['-', '/', ':', '@']) {
        bail!("`{image}` is not a Docker image reference (expected NAME[:TAG][@DIGEST], e.g. python:3.11-slim)");
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
        assert!(check_image_reference("localhost:5000/team/py@sha256:abc").is_ok());
        for bad in ["", "python 3", "python\nRUN rm -rf /", "-x"] {
            assert!(check_image_reference(bad).is_err(), "{bad:?}");
        }
    }
}
