//! Names the service gives to the files the notebook saves.

/// A name fit for a route and a Python identifier, from a file name: `RF Model.joblib` → `rf_model`.
pub fn artifact_name(relative: &str) -> String {
    let file = relative.rsplit('/').next().unwrap_or(relative);
    let stem = file.split_once('.').map_or(file, |(stem, _)| stem);
    let mut name = String::new();
    for ch in stem.chars() {
        if ch.is_ascii_alphanumeric() {
            name.push(ch.to_ascii_lowercase());
        } else if !name.ends_with('_') {
            name.push('_');
        }
    }
    let name = name.trim_matches('_').to_string();
    match name.chars().next() {
        None => "model".into(),
        Some(first) if first.is_ascii_digit() => format!("model_{name}"),
        Some(_) => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_names_are_identifiers() {
        assert_eq!(artifact_name("models/RF Model.joblib"), "rf_model");
        assert_eq!(artifact_name("2024-svm.pkl"), "model_2024_svm");
        assert_eq!(artifact_name(".pkl"), "model");
    }
}
