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
        "!ls -la data\nfiles = !ls\n",
        "%%bash\necho hi\n",
        "%%R\nx <- 1\n",
    ];
    let out = extract(&notebook(&cells)).unwrap();
    assert_eq!(
        code_of(&out),
        vec!["pass  # nb2svc: dropped `!ls -la data`\nfiles = None\n"]
    );
    let messages: Vec<String> = out.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(messages.len(), 4, "{messages:#?}");
    assert!(
        messages[0].starts_with("cell 1, line 1: `!ls -la data` dropped"),
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

/// A recorded fetch as `(kind, url, archive, dest)`, for assertions.
type Step = (FetchKind, Option<String>, Option<String>, String);

/// The one line a single-line cell becomes, and the fetches it records.
fn fetched(cell: &str) -> (String, Vec<Step>) {
    let out = extract(&notebook(&[cell])).unwrap();
    assert!(out.warnings.is_empty(), "{cell}: {:?}", out.warnings);
    assert!(out.dropped.is_empty(), "{cell}: {:?}", out.dropped);
    let steps = out
        .fetches
        .iter()
        .map(|f| (f.kind, f.url.clone(), f.archive.clone(), f.dest.clone()))
        .collect();
    (out.cells[0].code.clone(), steps)
}

fn download(url: &str, dest: &str) -> Step {
    (FetchKind::Download, Some(url.into()), None, dest.into())
}

fn unpack(archive: &str, dest: &str) -> Step {
    (FetchKind::Unpack, None, Some(archive.into()), dest.into())
}

#[test]
fn wget_becomes_a_download() {
    let url = "https://archive.ics.uci.edu/ml/wine.csv";
    let cases = [
        ("!wget https://archive.ics.uci.edu/ml/wine.csv", "wine.csv"),
        ("!wget https://h.org/data/wine.csv -O w.csv", "w.csv"),
        ("!wget -O w.csv https://h.org/data/wine.csv", "w.csv"),
        ("!wget --output-document=w.csv https://h.org/x", "w.csv"),
        ("!wget -qO w.csv https://h.org/x", "w.csv"),
        ("!wget -P data https://h.org/a/wine.csv", "data/wine.csv"),
        (
            "!wget --directory-prefix=data/ https://h.org/wine.csv",
            "data/wine.csv",
        ),
        (
            "!wget -q -nc --no-check-certificate -c https://h.org/wine.csv",
            "wine.csv",
        ),
        ("!wget https://h.org/get/wine.csv?raw=true#top", "wine.csv"),
        ("!wget https://h.org/dir/", "index.html"),
        ("!wget https://h.org", "index.html"),
    ];
    for (cell, dest) in cases {
        let (code, steps) = fetched(cell);
        let cell_url = cell
            .split_whitespace()
            .find(|w| w.starts_with("https://"))
            .unwrap();
        assert_eq!(steps, [download(cell_url, dest)], "{cell}");
        assert_eq!(
            code,
            format!(
                "_nb2svc_fetch.download({}, {})  # nb2svc: shell fetch (wget)",
                serde_json::to_string(cell_url).unwrap(),
                serde_json::to_string(dest).unwrap()
            ),
            "{cell}"
        );
    }
    let (code, _) = fetched(&format!("!wget {url} -O wine.csv"));
    assert_eq!(
        code,
        r#"_nb2svc_fetch.download("https://archive.ics.uci.edu/ml/wine.csv", "wine.csv")  # nb2svc: shell fetch (wget)"#
    );
}

#[test]
fn curl_becomes_a_download() {
    let url = "https://h.org/d/iris.csv?dl=1";
    for (cell, dest) in [
        (format!("!curl -o iris.csv {url}"), "iris.csv"),
        (
            format!("!curl -L -s -S -f {url} -o data/i.csv"),
            "data/i.csv",
        ),
        (format!("!curl -fsSL -O {url}"), "iris.csv"),
        (format!("!curl -LO {url}"), "iris.csv"),
        (format!("!curl -sL {url} > out.csv"), "out.csv"),
        (format!("!curl --output x.csv {url}"), "x.csv"),
    ] {
        assert_eq!(fetched(&cell).1, [download(url, dest)], "{cell}");
    }
}

#[test]
fn unzip_tar_and_mkdir_become_runtime_calls() {
    let (code, steps) = fetched("!unzip -o -q data.zip -d data");
    assert_eq!(
        code,
        r#"_nb2svc_fetch.unpack("data.zip", "data")  # nb2svc: shell fetch (unzip)"#
    );
    assert_eq!(steps, [unpack("data.zip", "data")]);
    for (cell, archive, dest) in [
        ("!unzip archive.zip", "archive.zip", "."),
        ("!unzip -qq -d out a.zip > /dev/null", "a.zip", "out"),
        ("!tar -xf a.tar", "a.tar", "."),
        ("!tar -xzf a.tgz -C data", "a.tgz", "data"),
        ("!tar xvzf a.tar.gz", "a.tar.gz", "."),
        (
            "!tar --extract --file=a.tar.xz --directory data",
            "a.tar.xz",
            "data",
        ),
    ] {
        assert_eq!(fetched(cell).1, [unpack(archive, dest)], "{cell}");
    }
    let (code, steps) = fetched("!mkdir -p data/raw models");
    assert_eq!(
        code,
        r#"__import__("os").makedirs("data/raw", exist_ok=True); __import__("os").makedirs("models", exist_ok=True)  # nb2svc: shell fetch (mkdir)"#
    );
    assert_eq!(steps.len(), 2);
    assert!(steps
        .iter()
        .all(|s| s.0 == FetchKind::Mkdir && s.1.is_none()));
}

#[test]
fn every_command_of_a_line_translates() {
    let cell = "!mkdir -p data && wget -q https://h.org/d.zip -P data; unzip -o data/d.zip -d data # fetch";
    let out = extract(&notebook(&[cell])).unwrap();
    assert_eq!(
        out.cells[0].code,
        concat!(
            r#"__import__("os").makedirs("data", exist_ok=True); "#,
            r#"_nb2svc_fetch.download("https://h.org/d.zip", "data/d.zip"); "#,
            r#"_nb2svc_fetch.unpack("data/d.zip", "data")  # nb2svc: shell fetch (mkdir, wget, unzip)"#
        )
    );
    let kinds: Vec<_> = out.fetches.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [FetchKind::Mkdir, FetchKind::Download, FetchKind::Unpack]
    );
    assert!(out.fetches.iter().all(|f| f.command == cell));
    assert!(out.dropped.is_empty() && out.warnings.is_empty());
}

#[test]
fn system_magics_and_captured_shell_statements_translate_too() {
    for cell in [
        "%system wget https://h.org/a.csv",
        "%sx wget https://h.org/a.csv",
        "!!wget https://h.org/a.csv",
    ] {
        assert_eq!(
            fetched(cell).1,
            [download("https://h.org/a.csv", "a.csv")],
            "{cell}"
        );
    }
}

#[test]
fn odd_urls_and_names_land_as_escaped_literals() {
    let cell = r#"!wget 'https://h.org/a b"""c.csv?q='"'"'x'"'"'' -O "out \"q\"\\x.csv""#;
    let (code, steps) = fetched(cell);
    assert_eq!(
        steps,
        [download(
            r#"https://h.org/a b"""c.csv?q='x'"#,
            r#"out "q"\x.csv"#
        )]
    );
    assert_eq!(
        code,
        r#"_nb2svc_fetch.download("https://h.org/a b\"\"\"c.csv?q='x'", "out \"q\"\\x.csv")  # nb2svc: shell fetch (wget)"#
    );
    assert!(crate::python::analyze(&code).is_ok(), "{code}");
}

#[test]
fn other_shell_commands_are_still_dropped_with_a_warning() {
    for cell in [
        "!wget $URL",
        "!wget {url} -O data.csv",
        "!wget -r https://h.org/site/",
        "!wget https://h.org/a.csv -O - | head",
        "!gunzip data.csv.gz",
        "!cd data && wget https://h.org/a.csv",
        "!wget https://h.org/a.csv && python train.py",
        "!curl https://h.org/a.csv",
        "!unzip a.zip member.txt",
        "!tar -czf out.tgz data",
        "!mkdir ~/data",
        "!wget not-a-url",
    ] {
        let out = extract(&notebook(&[cell])).unwrap();
        assert!(out.fetches.is_empty(), "{cell}: {:?}", out.fetches);
        assert_eq!(out.warnings.len(), 1, "{cell}");
        assert!(
            out.warnings[0]
                .message
                .ends_with("dropped: shell commands do not run in the service"),
            "{cell}: {}",
            out.warnings[0]
        );
        assert!(
            out.cells[0].code.starts_with("pass  # nb2svc: dropped `!"),
            "{cell}"
        );
    }
}

#[test]
fn fetches_keep_line_numbers_and_block_indentation() {
    let cell = "import pandas as pd\nif True:\n    !wget \\\n      https://h.org/wine.csv\ndf = pd.read_csv('wine.csv')\n";
    let out = extract(&notebook(&[cell])).unwrap();
    let code = &out.cells[0].code;
    let lines: Vec<&str> = code.lines().collect();
    assert_eq!(
        lines[2],
        r#"    _nb2svc_fetch.download("https://h.org/wine.csv", "wine.csv")  # nb2svc: shell fetch (wget)"#
    );
    assert_eq!(lines[3], "");
    assert_eq!(lines[4], "df = pd.read_csv('wine.csv')");
    assert!(crate::python::analyze(code).is_ok(), "{code}");
    assert_eq!(out.fetches[0].location.line, 3);
    assert_eq!(out.fetches[0].location.cell.number, 1);
    assert_eq!(out.fetches[0].command, "!wget \\ https://h.org/wine.csv");
}

#[test]
fn install_magics_warn_about_every_part_they_skip() {
    let out = extract(&notebook(&[
        "import os\n",
        "x = 1\n%pip install -r extra.txt {pkg} -e . numpy\n",
    ]))
    .unwrap();
    let specs: Vec<_> = out
        .magic_requirements
        .iter()
        .map(|r| r.spec.as_str())
        .collect();
    assert_eq!(specs, ["numpy"]);
    let warnings: Vec<String> = out.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    for (warning, part) in warnings.iter().zip(["`-r extra.txt`", "`{pkg}`", "`-e .`"]) {
        assert!(
            warning.starts_with(&format!("cell 2, line 2: {part} skipped")),
            "{warning}"
        );
    }
}

#[test]
fn a_notebook_big_enough_for_several_threads_comes_out_in_the_order_of_its_cells() {
    // Enough code for `parallel` to spread the cells over threads; every cell warns (a shell
    // escape) and says which it is.
    let filler = format!("# {}\n", "x".repeat(200));
    let sources: Vec<String> = (0..600)
        .map(|i| format!("{filler}!echo {i}\nvalue_{i} = {i}\n"))
        .collect();
    let cells: Vec<&str> = sources.iter().map(String::as_str).collect();
    let out = extract(&notebook(&cells)).unwrap();
    assert_eq!(out.cells.len(), 600);
    for (i, cell) in out.cells.iter().enumerate() {
        assert!(
            cell.code.ends_with(&format!("value_{i} = {i}\n")),
            "{}",
            cell.code
        );
    }
    let warned: Vec<String> = out.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(warned.len(), 600);
    for (i, warning) in warned.iter().enumerate() {
        assert!(warning.contains(&format!("`!echo {i}`")), "{warning}");
    }
}
