//! numpy 2 changed numpy's binary interface: a compiled package built before its wheels were
//! rebuilt for numpy 2 fails at import with "numpy.dtype size changed" next to numpy 2. When
//! the requirements pin such an old version and leave numpy free, the resolver picks the newest
//! numpy and the service cannot even import pandas. nb2svc then adds `numpy<2`.
//!
//! A heuristic from a fact table: each package with the first release whose wheels support
//! numpy 2. Packages missing from it are not judged.

use super::{Origin, Requirement};

/// (distribution, first version built for numpy 2).
const FIRST_FOR_NUMPY_2: &[(&str, &str)] = &[
    ("pandas", "2.2.2"),
    ("scikit-learn", "1.4.2"),
    ("scipy", "1.13.0"),
    ("matplotlib", "3.8.4"),
    ("statsmodels", "0.14.2"),
    ("pyarrow", "16.0.0"),
    ("scikit-image", "0.23.0"),
    ("shap", "0.46.0"),
];

/// Keeps numpy below 2 when an old compiled package needs it: adds `numpy<2`, or bounds a
/// bare `numpy` line. A numpy line with any version constraint is left as the user wrote it.
pub(super) fn keep_numpy_abi(requirements: &mut Vec<Requirement>) -> Option<Requirement> {
    let needed = numpy_pin_needed(requirements)?;
    match requirements.iter_mut().find(|r| r.name == "numpy") {
        Some(bare) => {
            bare.text = needed.text.clone();
            bare.origin = needed.origin.clone();
            None
        }
        None => {
            requirements.push(needed.clone());
            Some(needed)
        }
    }
}

/// The `numpy<2` requirement these requirements need, if any.
fn numpy_pin_needed(requirements: &[Requirement]) -> Option<Requirement> {
    if requirements
        .iter()
        .any(|r| r.name == "numpy" && r.text.trim() != "numpy")
    {
        return None;
    }
    let old = requirements.iter().find_map(|r| {
        let (_, first) = FIRST_FOR_NUMPY_2.iter().find(|(name, _)| *name == r.name)?;
        let pinned = pinned_version(&r.text)?;
        older(&pinned, first).then(|| format!("{}=={pinned}", r.name))
    })?;
    Some(Requirement {
        name: "numpy".into(),
        text: "numpy<2".into(),
        origin: Origin::Added {
            reason: format!("{old} was built for numpy 1 and fails to import with numpy 2"),
        },
    })
}

/// `1.5.3` from `pandas==1.5.3` (a `==` pin with nothing else).
fn pinned_version(text: &str) -> Option<String> {
    let (_, version) = text.split_once("==")?;
    let version = version.split([';', ' ', '#']).next()?.trim();
    (!version.is_empty() && version.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .then(|| version.to_string())
}

/// Whether release `a` comes before release `b` (numeric parts compared in order).
fn older(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parts(a) < parts(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requirement(text: &str) -> Requirement {
        Requirement {
            name: text.split(['=', '<', '>']).next().unwrap().to_string(),
            text: text.into(),
            origin: Origin::Added {
                reason: "test".into(),
            },
        }
    }

    #[test]
    fn an_old_pinned_pandas_keeps_numpy_1() {
        let pin = numpy_pin_needed(&[requirement("pandas==1.5.3")]).unwrap();
        assert_eq!(pin.text, "numpy<2");
        assert!(pin.origin.to_string().contains("pandas==1.5.3"));
    }

    #[test]
    fn a_bare_numpy_line_gets_the_bound() {
        let mut requirements = vec![requirement("pandas==1.5.3"), requirement("numpy")];
        assert!(keep_numpy_abi(&mut requirements).is_none(), "nothing added");
        assert_eq!(requirements[1].text, "numpy<2");
    }

    #[test]
    fn new_or_unpinned_packages_or_a_numpy_line_need_nothing() {
        assert!(numpy_pin_needed(&[requirement("pandas==2.2.2")]).is_none());
        assert!(numpy_pin_needed(&[requirement("pandas>=1.5")]).is_none());
        assert!(
            numpy_pin_needed(&[requirement("pandas==1.5.3"), requirement("numpy==1.26.4")])
                .is_none()
        );
        assert!(numpy_pin_needed(&[requirement("scikit-learn==1.10.0")]).is_none());
    }
}
