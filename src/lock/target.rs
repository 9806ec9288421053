//! What the lock is resolved for: the image's Python and platform, not the host's.
//!
//! The Python comes from the base image's tag (`python:3.10-slim` → 3.10), the one place the
//! plan states it; the platform is Linux on the architecture Docker builds for on this machine
//! (its own CPU: a Mac with Apple silicon builds `aarch64` Linux images).

use serde::Serialize;

/// The Python a lock is for when the base image's name does not say (`ubuntu:24.04`, a
/// private image): the default base image's.
pub const DEFAULT_PYTHON: &str = "3.11";

/// The interpreter and platform a lock is resolved for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// `3.10`: what uv's `--python-version` gets.
    pub python: String,
    /// Why that Python: `the base image python:3.10-slim`, or that it is the default.
    pub python_from: String,
    /// uv's `--python-platform`: `x86_64-manylinux_2_28`.
    pub platform: String,
}

impl Target {
    /// The target of a service built `FROM base_image` on a machine of `arch`
    /// (`std::env::consts::ARCH`).
    pub fn for_image(base_image: &str, arch: &str) -> Target {
        let (python, python_from) = match python_of_image(base_image) {
            Some(version) => (version, format!("the base image {base_image}")),
            None => (
                DEFAULT_PYTHON.to_string(),
                format!(
                    "nb2svc's default: the name of the base image {base_image} does not say its Python"
                ),
            ),
        };
        Target {
            python,
            python_from,
            platform: platform_for(base_image, arch),
        }
    }

    /// Whether the Python was read from the image rather than defaulted.
    pub fn python_is_known(&self) -> bool {
        self.python_from.starts_with("the base image")
    }
}

/// The `X.Y` Python of an official-style `python` image, from its tag: `python:3.10-slim`,
/// `docker.io/library/python:3.9.18-bookworm`, `python:3.11-slim@sha256:...` (the digest
/// pins the bytes; the tag still names them). `None` for other images, and for tags that name
/// no version (`python:3`, `python:slim`, `python:latest`). A heuristic on the name: an image
/// called `python` is assumed to hold the Python its tag says.
pub fn python_of_image(image: &str) -> Option<String> {
    let reference = image.split('@').next().unwrap_or(image);
    let last = reference.rsplit('/').next().unwrap_or(reference);
    let (name, tag) = last.split_once(':')?;
    if name != "python" {
        return None;
    }
    let mut parts = tag.split(['.', '-']);
    let major = parts.next()?;
    let minor = parts.next()?;
    let number = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    (number(major) && number(minor)).then(|| format!("{major}.{minor}"))
}

/// uv's `--python-platform` for an image on `arch`: manylinux for glibc images (2.28 is what
/// every Debian-based `python` image since bookworm exceeds), musl for Alpine ones. An
/// architecture with no such target locks for x86_64, the common case.
pub fn platform_for(image: &str, arch: &str) -> String {
    let arch = match arch {
        "aarch64" | "arm64" => "aarch64",
        _ => "x86_64",
    };
    // A heuristic on the name: Alpine images say so in their tag.
    match image.split('@').next().unwrap_or(image).contains("alpine") {
        true => format!("{arch}-unknown-linux-musl"),
        false => format!("{arch}-manylinux_2_28"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_python_of_python_images() {
        for (image, python) in [
            ("python:3.10-slim", Some("3.10")),
            ("python:3.11-slim", Some("3.11")),
            ("python:3.9.18-slim-bookworm", Some("3.9")),
            ("python:3.13", Some("3.13")),
            ("docker.io/library/python:3.12-alpine", Some("3.12")),
            (
                "python:3.11-slim@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                Some("3.11"),
            ),
            ("registry.example.com:5000/python:3.10", Some("3.10")),
            ("python:3", None),
            ("python:slim", None),
            ("python", None),
            ("python@sha256:0123456789abcdef0123456789abcdef", None),
            ("ubuntu:22.04", None),
            ("team/python-ml:3.10", None),
        ] {
            assert_eq!(python_of_image(image).as_deref(), python, "{image}");
        }
    }

    #[test]
    fn an_unknown_image_locks_for_the_default_python_and_says_so() {
        let target = Target::for_image("ubuntu:24.04", "x86_64");
        assert_eq!(target.python, DEFAULT_PYTHON);
        assert!(!target.python_is_known());
        assert!(target.python_from.contains("ubuntu:24.04"), "{target:?}");
        let target = Target::for_image("python:3.10-slim", "x86_64");
        assert_eq!(
            (target.python.as_str(), target.python_from.as_str()),
            ("3.10", "the base image python:3.10-slim")
        );
    }

    #[test]
    fn locks_for_the_image_platform() {
        assert_eq!(
            platform_for("python:3.11-slim", "x86_64"),
            "x86_64-manylinux_2_28"
        );
        assert_eq!(
            platform_for("python:3.11-slim", "aarch64"),
            "aarch64-manylinux_2_28"
        );
        assert_eq!(
            platform_for("python:3.12-alpine", "x86_64"),
            "x86_64-unknown-linux-musl"
        );
        assert_eq!(
            platform_for("python:3.11", "riscv64"),
            "x86_64-manylinux_2_28"
        );
    }
}
