//! Credentials written in the notebook's code (issue 9): each literal becomes a read of an
//! environment variable, the README and `.env.example` list the variables with no value, the
//! compose files take them from a git- and docker-ignored `.env`, and the literal is in no
//! generated file and in nothing nb2svc prints.

use std::fs;
use std::path::Path;

use crate::support::{files_under, nb2svc, output_text, python, works, write_notebook};

/// The literals the notebook below holds; none may leave it.
const LITERALS: &[&str] = &[
    "a8f5f167f44f4964e6c998dee827110c",
    "wJalrXUtnFEMIK7MDENGbPxRfiCY",
    "hunter22",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "Xy7Pa55w0rd",
    "s3cr3t-from-helper",
    "pa55-in-a-broken-cell",
    "sk-proj-abcdefghijklmnopqrstuv",
];

/// Writes a notebook of these code cells as `dir/name`, in a project (a git work tree) at
/// `dir`, and returns its path.
fn notebook(dir: &Path, name: &str, cells: &[&str]) -> std::path::PathBuf {
    fs::create_dir_all(dir.join(".git")).unwrap();
    write_notebook(dir.join(name), cells)
}

/// A project (a git work tree) whose notebook writes credentials in every form nb2svc knows:
/// assignments, keywords, dict keys, an environment write, an environment default, a token
/// by its form, one in a `%%writefile` module, one in a module it imports, one in a cell
/// that is not valid Python.
fn project(dir: &Path) -> std::path::PathBuf {
    fs::create_dir_all(dir).unwrap();
    fs::write(
        dir.join("helper.py"),
        "\"\"\"A helper of the author's.\"\"\"\nimport json\n\nDB_PASSWORD = 's3cr3t-from-helper'\n\n\ndef scale(x):\n    return x * 2\n",
    )
    .unwrap();
    let cells = [
        "import os\nimport helper\nAPI_KEY = 'a8f5f167f44f4964e6c998dee827110c'\nos.environ['AWS_SECRET_ACCESS_KEY'] = 'wJalrXUtnFEMIK7MDENGbPxRfiCY'\n",
        "%%writefile client.py\nimport requests\n\nGITHUB = 'ghp_abcdefghijklmnopqrstuvwxyz0123456789'\n\n\ndef session():\n    s = requests.Session()\n    s.headers['Authorization'] = f'token {GITHUB}'\n    return s\n",
        "conn = dict(user='me', password='hunter22')\nsettings = {'token': 'Xy7Pa55w0rd'}\nOPENAI = os.getenv('OPENAI_API_KEY', 'sk-proj-abcdefghijklmnopqrstuv')\n",
        "secret = 'pa55-in-a-broken-cell' +\n",
        "def predict(x: float) -> dict:\n    # nb2svc: endpoint\n    return {'y': helper.scale(x), 'keyed': len(API_KEY) + len(OPENAI)}\n",
    ];
    notebook(dir, "keys.ipynb", &cells)
}

#[test]
fn credentials_in_the_code_become_environment_reads_and_never_leave_the_notebook() {
    let tmp = tempfile::tempdir().unwrap();
    let notebook = project(&tmp.path().join("proj"));
    let out = tmp.path().join("svc");
    let output = nb2svc()
        .arg(&notebook)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let printed = output_text(&output);
    assert!(output.status.success(), "{printed}");
    let dry = nb2svc()
        .arg(&notebook)
        .args(["--dry-run", "-o"])
        .arg(tmp.path().join("dry"))
        .output()
        .unwrap();
    let printed = printed + &output_text(&dry);

    // The literal is nowhere: not in a file (comments included), not in what nb2svc says.
    for file in files_under(&out) {
        let text = fs::read_to_string(out.join(&file)).unwrap_or_default();
        for literal in LITERALS {
            assert!(!text.contains(literal), "{file} holds {literal}:\n{text}");
        }
    }
    for literal in LITERALS {
        assert!(
            !printed.contains(literal),
            "nb2svc printed {literal}:\n{printed}"
        );
    }

    // The code reads each from the environment, with the lines where they were.
    let notebook_py = fs::read_to_string(out.join("app/notebook.py")).unwrap();
    for line in [
        "import os\n",
        "API_KEY = os.environ[\"API_KEY\"]\n",
        "# nb2svc: AWS_SECRET_ACCESS_KEY comes from the environment (.env), not the code\n",
        "OPENAI = os.environ[\"OPENAI_API_KEY\"]\n",
        "secrets={\"API_KEY\": \"cell 1, line 3\", \"OPENAI_API_KEY\": \"cell 3, line 3\"},\n",
    ] {
        assert!(
            notebook_py.contains(line),
            "{line:?} not in:\n{notebook_py}"
        );
    }
    let client = fs::read_to_string(out.join("app/client.py")).unwrap();
    assert!(
        client.starts_with("import os\nimport requests\n")
            && client.contains("GITHUB = os.environ[\"GITHUB\"]"),
        "{client}"
    );
    let helper = fs::read_to_string(out.join("app/helper.py")).unwrap();
    assert!(
        helper.contains("\"\"\"A helper of the author's.\"\"\"\nimport os\nimport json\n")
            && helper.contains("DB_PASSWORD = os.environ[\"DB_PASSWORD\"]"),
        "{helper}"
    );
    assert!(
        notebook_py.contains("secret = '<credential taken out by nb2svc>' +"),
        "the cell that is not Python is blanked:\n{notebook_py}"
    );
    if works(python(), &["-c", "pass"]) {
        for file in ["app/notebook.py", "app/client.py", "app/helper.py"] {
            let status = std::process::Command::new(python())
                .args(["-m", "py_compile"])
                .arg(out.join(file))
                .status()
                .unwrap();
            assert!(status.success(), "{file} does not compile");
        }
    }

    // `.env.example` names every variable and holds no value.
    let example = fs::read_to_string(out.join(".env.example")).unwrap();
    let assignments: Vec<&str> = example.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        assignments,
        [
            "API_KEY=",
            "AWS_SECRET_ACCESS_KEY=",
            "DB_PASSWORD=",
            "GITHUB=",
            "OPENAI_API_KEY=",
            "PASSWORD=",
            "TOKEN="
        ],
        "{example}"
    );
    assert!(
        example.contains("# assigned to `API_KEY` in cell 1, line 3"),
        "{example}"
    );
    assert!(
        example.contains("# assigned to `DB_PASSWORD` in `helper.py`, line 4"),
        "{example}"
    );

    // Both compose files read `.env`; git and the image never see it.
    for file in ["docker-compose.yaml", "docker-compose.prod.yaml"] {
        let compose: serde_yaml::Value =
            serde_yaml::from_str(&fs::read_to_string(out.join(file)).unwrap()).unwrap();
        let env_file = &compose["services"]["keys"]["env_file"][0];
        assert_eq!(env_file["path"], ".env", "{file}");
        assert_eq!(env_file["required"], false, "{file}");
    }
    // Compose accepts the files with no `.env` yet (it is optional; the service says what is
    // missing when it starts).
    if works("docker", &["compose", "version"]) {
        for file in ["docker-compose.yaml", "docker-compose.prod.yaml"] {
            let findings = crate::support::compose_config_findings(&out, file);
            assert_eq!(findings, None, "{file}");
        }
    }
    let gitignore = fs::read_to_string(out.join(".gitignore")).unwrap();
    assert!(gitignore.lines().any(|l| l == ".env"), "{gitignore}");
    let dockerignore = fs::read_to_string(out.join(".dockerignore")).unwrap();
    assert!(
        dockerignore.lines().any(|l| l == "**/.env"),
        "{dockerignore}"
    );

    // The README lists them, and says which the service needs to start.
    let readme = fs::read_to_string(out.join("README.md")).unwrap();
    assert!(readme.contains("## Credentials"), "{readme}");
    assert!(
        readme.contains("| `API_KEY` | assigned to `API_KEY` in cell 1, line 3 | yes |"),
        "{readme}"
    );
    assert!(
        readme.contains("| `PASSWORD` | the keyword `password=` in cell 3, line 1 | no: only statements the service leaves out read it |"),
        "{readme}"
    );
    assert!(
        printed.contains("credential    API_KEY: assigned to `API_KEY` in cell 1, line 3"),
        "{printed}"
    );
}

#[test]
fn a_service_without_credentials_has_no_env_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("svc");
    let notebook =
        crate::support::root().join("tests/fixtures/cases/predict_function/notebook.ipynb");
    let output = nb2svc()
        .arg(&notebook)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", output_text(&output));
    assert!(!out.join(".env.example").exists());
    let compose = fs::read_to_string(out.join("docker-compose.yaml")).unwrap();
    assert!(!compose.contains("env_file"), "{compose}");
    assert!(out.join(".gitignore").exists());
}

#[test]
fn a_notebook_that_loads_dotenv_gets_its_variables_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("proj");
    let cells = [
        "from dotenv import load_dotenv\nimport os\nload_dotenv()\nURL = os.getenv('SERVICE_URL')\n",
        "def predict(x: float) -> dict:\n    # nb2svc: endpoint\n    return {'y': x, 'url': URL}\n",
    ];
    let notebook = notebook(&dir, "dot.ipynb", &cells);
    let out = tmp.path().join("svc");
    let output = nb2svc()
        .arg(&notebook)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let printed = output_text(&output);
    assert!(output.status.success(), "{printed}");
    assert!(
        printed.contains(
            "cell 1, line 1: the notebook loads a `.env` file, which the service never ships"
        ),
        "{printed}"
    );
    let compose = fs::read_to_string(out.join("docker-compose.prod.yaml")).unwrap();
    assert!(
        compose.contains("env_file:\n      - path: .env"),
        "{compose}"
    );
    let example = fs::read_to_string(out.join(".env.example")).unwrap();
    assert!(
        example.contains("The notebook loads a .env file (cell 1, line 1)"),
        "{example}"
    );
}

#[test]
fn a_notebook_that_trains_with_a_credential_trains_where_env_is_not_in_the_image() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("proj");
    let cells = [
        "import joblib\nfrom sklearn.linear_model import LinearRegression\nDB_PASSWORD = 'Xy7Pa55w0rd'\n",
        "model = LinearRegression().fit([[len(DB_PASSWORD)], [2]], [1, 2])\njoblib.dump(model, 'model.joblib')\n",
    ];
    let notebook = notebook(&dir, "train.ipynb", &cells);
    let out = tmp.path().join("svc");
    let output = nb2svc()
        .arg(&notebook)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let printed = output_text(&output);
    assert!(output.status.success(), "{printed}");
    assert!(
        printed.contains("the code needs the credential `DB_PASSWORD`, which the image must not hold: the notebook trains at service start"),
        "{printed}"
    );
    let dockerfile = fs::read_to_string(out.join("Dockerfile")).unwrap();
    assert!(
        !dockerfile.contains("RUN python -m app.notebook"),
        "{dockerfile}"
    );
    assert!(dockerfile.contains("NB2SVC_TRAIN_AT=start"), "{dockerfile}");
}

#[test]
fn a_setting_default_with_a_dollar_reaches_the_service_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("proj");
    let cells = [
        "import os\nGREETING = os.getenv('GREETING', 'hi $USER')\n",
        "def predict(x: float) -> dict:\n    # nb2svc: endpoint\n    return {'y': x, 'greeting': GREETING}\n",
    ];
    let notebook = notebook(&dir, "dollar.ipynb", &cells);
    let out = tmp.path().join("svc");
    let output = nb2svc()
        .arg(&notebook)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", output_text(&output));
    for file in ["docker-compose.yaml", "docker-compose.prod.yaml"] {
        let text = fs::read_to_string(out.join(file)).unwrap();
        // Compose substitutes `$NAME` in values; `$$` gives the container a literal `$`.
        assert!(
            text.contains("\"GREETING\": \"hi $$USER\""),
            "{file}:\n{text}"
        );
    }
}
