//! The runtime every service ships (`templates/nb2svc_runtime.py`) has tests of its own, in
//! Python's unittest (`tests/runtime`): the notebook's folder, training as `app.notebook`, the
//! artifact manifest, downloads from a local server, unpacking, settings. They run here so that
//! `cargo test` runs them too.

use std::process::Command;

use crate::support::{output_text, root, tool_or_skip, venv_for, works};

#[test]
fn runtime_unit_tests_pass() {
    let test = "runtime_unit_tests_pass";
    if !tool_or_skip(test, works("python3", &["--version"]), "python3") {
        return;
    }
    let output = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests/runtime"])
        .current_dir(root())
        .output()
        .expect("python3 runs");
    let text = output_text(&output);
    assert!(output.status.success(), "the runtime's own tests:\n{text}");
    let ran = tests_ran(&text);
    assert!(ran >= 20, "the runtime's tests ran ({ran}):\n{text}");
}

/// The replay of a notebook's preprocessing in prediction routes (`templates/nb2svc_inputs.py`)
/// and the runtime's serving guards need pandas, scikit-learn and FastAPI: their tests run in a
/// virtual environment that has them, and none of them may skip.
#[test]
fn replay_unit_tests_pass() {
    let test = "replay_unit_tests_pass";
    if !tool_or_skip(
        test,
        works("python3", &["-c", "import venv"]),
        "python3 with venv",
    ) {
        return;
    }
    let spec = tempfile::tempdir().unwrap();
    let requirements = spec.path().join("requirements.txt");
    std::fs::write(
        &requirements,
        "pandas\nscikit-learn\njoblib\nfastapi\nhttpx\n",
    )
    .unwrap();
    let python = match venv_for(&requirements) {
        Ok(python) => python,
        Err(reason) => {
            tool_or_skip(
                test,
                false,
                &format!("pandas and scikit-learn from PyPI ({reason})"),
            );
            return;
        }
    };
    let output = Command::new(&python)
        .args([
            "-m",
            "unittest",
            "-v",
            "test_nb2svc_inputs",
            "test_nb2svc_serving",
        ])
        .current_dir(root().join("tests/runtime"))
        .output()
        .expect("python runs");
    let text = output_text(&output);
    assert!(output.status.success(), "the replay's tests:\n{text}");
    assert!(!text.contains("skipped"), "a replay test skipped:\n{text}");
    let ran = tests_ran(&text);
    assert!(
        ran >= 11,
        "the replay's and the guards' tests ran ({ran}):\n{text}"
    );
}

/// How many tests unittest says it ran (its `Ran N tests` line), 0 if it says nothing.
fn tests_ran(text: &str) -> u32 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("Ran ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}
