use super::*;
use crate::test_support::{notebook, notebook_with_tags};

fn code_of(extraction: &Extraction) -> Vec<&str> {
    extraction.cells.iter().map(|c| c.code.as_str()).collect()
}

#[test]
fn drops_matplotlib_magic_keeping_line_numbers() {
    let out = extract(&notebook(&["%matplotlib inline\nimport pandas as pd\n"])).unwrap();
    let code = code_of(&out)[0];
    assert!(
        code.starts_with("pass  # nb2svc: dropped `%matplotlib inline`\n"),
        "{code}"
    );
    assert_eq!(code.lines().nth(1), Some("import pandas as pd"));
    assert!(
        out.warnings.is_empty(),
        "session magics drop silently: {:?}",
        out.warnings
    );
    assert_eq!(out.dropped[0].location.line, 1);
}

#[test]
fn keeps_statement_of_time_line_magic() {
    let out = extract(&notebook(&[
        "x = 1\n%time y = x + 1\n%timeit -n 3 -r 2 z = y * 2\n",
    ]))
    .unwrap();
    assert_eq!(code_of(&out)[0], "x = 1\ny = x + 1\nz = y * 2\n");
}

#[test]
fn keeps_body_of_time_and_capture_cell_magics_with_offset() {
    let out = extract(&notebook(&[
        "%%time\nmodel = 1\n",
        "%%capture\nprint('noisy')\n",
    ]))
    .unwrap();
    assert_eq!(code_of(&out), vec!["model = 1\n", "print('noisy')\n"]);
    assert_eq!(out.cells[0].line_offset, 1);
}

#[test]
fn moves_pip_and_conda_installs_to_requirements() {
    let cells = [
        "!pip install -q scikit-learn==1.3.2 'pandas>=2'\n",
        "%pip install xgboost\n",
        "%conda install -y numpy=1.26\n",
        "!python -m pip install joblib\n",
    ];
    let out = extract(&notebook(&cells)).unwrap();
    let specs: Vec<_> = out
        .magic_requirements
        .iter()
        .map(|r| r.spec.as_str())
        .collect();
    assert_eq!(
        specs,
        vec![
            "scikit-learn==1.3.2",
            "pandas>=2",
            "xgboost",
            "numpy==1.26.*",
            "joblib"
        ]
    );
    assert_eq!(out.magic_requirements[3].location.cell.number, 3);
    for code in code_of(&out) {
        assert!(
            code.starts_with("pass  # nb2svc: moved to requirements.txt:"),
            "{code}"
        );
    }
}

#[test]
fn writefile_cells_become_files_not_code() {
    let out = extract(&notebook(&[
        "%%writefile census_constants.py\nA = 1\n",
        "import census_constants\n",
    ]))
    .unwrap();
    assert_eq!(out.written_files.len(), 1);
    assert_eq!(out.written_files[0].path, "census_constants.py");
    assert_eq!(out.written_files[0].contents, "A = 1\n");
    assert_eq!(code_of(&out), vec!["import census_constants\n"]);
}

#[test]
fn drops_shell_escapes_and_foreign_cell_magics_with_warnings() {
    let cells = [
        "!wget http://example.invalid/data.csv\nfiles = !ls\n",
        "%%bash\necho hi\n",
        "%%R\nx <- 1\n",
    ];
    let out = extract(&notebook(&cells)).unwrap();
    assert_eq!(
        code_of(&out),
        vec!["pass  # nb2svc: dropped `!wget http://example.invalid/data.csv`\nfiles = None\n"]
    );
    let messages: Vec<String> = out.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(messages.len(), 4, "{messages:#?}");
    assert!(
        messages[0].starts_with("cell 1, line 1: `!wget"),
        "{messages:#?}"
    );
    assert!(
        messages[1].starts_with("cell 1, line 2: `!ls`"),
        "{messages:#?}"
    );
    assert!(
        messages[2].contains("cell 2, line 1: cell magic `%%bash`"),
        "{messages:#?}"
    );
    assert!(messages[3].contains("`%%R`"), "{messages:#?}");
}

#[test]
fn escapes_nested_in_blocks_keep_the_block_valid() {
    let out = extract(&notebook(&[
        "if True:\n    %matplotlib inline\n    !ls\nx = 2\n",
    ]))
    .unwrap();
    let code = code_of(&out)[0];
    assert!(crate::python::analyze(code).is_ok(), "{code}");
}

#[test]
fn drops_help_requests() {
    let out = extract(&notebook(&["import math\nmath.sqrt?\n??math\n"])).unwrap();
    assert!(crate::python::analyze(code_of(&out)[0]).is_ok());
    assert_eq!(out.dropped.len(), 2);
}

#[test]
fn pylab_becomes_explicit_imports() {
    let out = extract(&notebook(&["%pylab inline\nplt.plot([1])\n"])).unwrap();
    assert!(code_of(&out)[0].starts_with("import numpy as np; import matplotlib.pyplot as plt"));
}

#[test]
fn skips_cells_by_tag_or_directive() {
    let out = extract(&notebook_with_tags(&[
        ("x = 1", vec!["skip"]),
        ("# nb2svc: skip\ny = 2", vec![]),
        ("z = 3", vec![]),
    ]))
    .unwrap();
    assert_eq!(code_of(&out), vec!["z = 3"]);
    assert_eq!(
        out.skipped_cells
            .iter()
            .map(|c| c.number)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
}

#[test]
fn reads_endpoint_train_and_serve_directives() {
    let out = extract(&notebook_with_tags(&[
        (
            "# nb2svc: endpoint predict_species, score\ndef predict_species(x): ...",
            vec![],
        ),
        ("model.fit(X, y)", vec!["train"]),
        ("# nb2svc: serve\nmodel.fit(X, y)", vec![]),
        ("# nb2svc: bogus\n", vec![]),
    ]))
    .unwrap();
    assert_eq!(
        out.cells[0].directives.endpoints,
        Some(vec!["predict_species".into(), "score".into()])
    );
    assert!(out.cells[1].directives.train);
    assert!(out.cells[2].directives.serve);
    assert!(out.warnings[0]
        .message
        .contains("unknown nb2svc directive `bogus`"));
}

#[test]
fn invalid_python_is_passed_on_for_planning_to_judge() {
    let out = extract(&notebook(&["x = 1", "%%time\ny = (\n"])).unwrap();
    assert_eq!(out.cells[1].code, "y = (\n");
    assert_eq!(out.cells[1].line_offset, 1);
}

#[test]
fn empty_cells_are_not_code() {
    let out = extract(&notebook(&["", "  \n"])).unwrap();
    assert!(out.cells.is_empty());
}
