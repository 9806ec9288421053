use super::*;
use crate::extract::extract;
use crate::test_support::notebook;
use crate::workspace::MemoryFolder;

fn options() -> Options {
    Options {
        service_name: "svc".into(),
        host_port: 8000,
        dev_address: std::net::Ipv4Addr::LOCALHOST.into(),
        container_port: 80,
        base_image: "python:3.11-slim".into(),
        python: crate::base_image::choose(None, None, None).unwrap().python,
        endpoints: vec![],
        train_at: TrainAt::Build,
        workers: None,
        strict: false,
        includes: Vec::new(),
        deploy: crate::deploy::Targets::default(),
        buildkit_cache: false,
    }
}

fn plan_for(cells: &[&str], folder: &MemoryFolder, options: &Options) -> Result<ServicePlan> {
    plan(
        "nb.ipynb",
        extract(&notebook(cells))?,
        None,
        folder,
        options,
    )
}

fn warnings(plan: &ServicePlan) -> Vec<String> {
    plan.warnings.iter().map(|w| w.to_string()).collect()
}

const TRAIN_AND_DUMP: &[&str] = &[
    "import joblib\nimport pandas as pd\nfrom sklearn.ensemble import RandomForestClassifier",
    "df = pd.read_csv('data/penguins.csv')\nX, y = df[['a']], df['b']",
    "model = RandomForestClassifier().fit(X, y)\nscaler_columns = list(X.columns)",
    "joblib.dump(model, 'models/rf.joblib')\njoblib.dump(scaler_columns, 'models/label_encoder.pkl')",
];

#[test]
fn dumped_models_are_served_and_trained_at_build() {
    let folder = MemoryFolder::with(&[("data/penguins.csv", "a,b\n")]);
    let plan = plan_for(TRAIN_AND_DUMP, &folder, &options()).unwrap();
    let names: Vec<_> = plan
        .artifacts
        .iter()
        .map(|a| (a.name.as_str(), a.path.as_str(), a.serializer))
        .collect();
    assert_eq!(
        names,
        vec![
            ("rf", "models/rf.joblib", "joblib"),
            ("label_encoder", "models/label_encoder.pkl", "joblib")
        ]
    );
    assert_eq!(
        plan.default_model.as_deref(),
        Some("rf"),
        "an encoder is not the default model"
    );
    assert!(plan.train_in_build);
    assert!(
        !plan.imports_notebook,
        "serving loads the artifacts, it does not import the notebook"
    );
    assert_eq!(plan.data_files.len(), 1);
    assert_eq!(plan.data_files[0].path, "data/penguins.csv");
    assert!(
        plan.cells[1]
            .code
            .contains("pd.read_csv('data/penguins.csv')"),
        "paths are not rewritten: {}",
        plan.cells[1].code
    );
    assert!(plan.saves_artifacts);
    assert!(
        plan.cells.iter().all(|c| !c.wrapped),
        "nothing imports the notebook, so nothing is wrapped"
    );
}

#[test]
fn train_at_start_imports_the_notebook_at_start() {
    let folder = MemoryFolder::with(&[("data/penguins.csv", "a,b\n")]);
    let plan = plan_for(
        TRAIN_AND_DUMP,
        &folder,
        &Options {
            train_at: TrainAt::Start,
            ..options()
        },
    )
    .unwrap();
    assert!(!plan.train_in_build);
    assert!(plan.imports_notebook);
}

#[test]
fn missing_data_file_is_reported_with_cell_and_line() {
    let plan = plan_for(TRAIN_AND_DUMP, &MemoryFolder::default(), &options()).unwrap();
    let all = warnings(&plan);
    assert!(
        all.iter().any(|w| w
            .starts_with("cell 2, line 1: reads `data/penguins.csv`, which is not in the project")),
        "{all:#?}"
    );
}

#[test]
fn notebook_that_only_loads_a_shipped_model_trains_nothing() {
    let folder = MemoryFolder::with(&[("base.pk1", "binary")]);
    let plan = plan_for(
        &["import joblib\nmodel = joblib.load('base.pk1')"],
        &folder,
        &options(),
    )
    .unwrap();
    assert!(!plan.train_in_build && !plan.imports_notebook);
    assert_eq!(plan.artifacts[0].shipped_from.as_deref(), Some("base.pk1"));
    assert_eq!(plan.default_model.as_deref(), Some("base"));
}

#[test]
fn predict_function_is_served_by_default() {
    let cells = [
        "import joblib\nmodel = joblib.load('m.joblib')",
        "def predict(x: float) -> int:\n    return int(model.predict([[x]])[0])",
    ];
    let folder = MemoryFolder::with(&[("m.joblib", "")]);
    let plan = plan_for(&cells, &folder, &options()).unwrap();
    assert_eq!(plan.endpoints.len(), 1);
    assert_eq!(plan.endpoints[0].route, "/predict");
    assert!(plan.imports_notebook);
    assert!(
        plan.artifacts.is_empty(),
        "the notebook loads its own model"
    );
}

#[test]
fn served_function_that_needs_training_trains_at_start() {
    let cells = [
        "from sklearn.linear_model import LinearRegression\nmodel = LinearRegression()",
        "model.fit([[1], [2]], [1, 2])",
        "def predict(x: float):\n    return model.predict([[x]])[0]",
    ];
    let plan = plan_for(&cells, &MemoryFolder::default(), &options()).unwrap();
    assert_eq!(plan.train_at, TrainAt::Start);
    assert!(
        warnings(&plan)
            .iter()
            .any(|w| w.contains("use `model`, which only training in cell 2 defines")),
        "{:#?}",
        warnings(&plan)
    );
}

#[test]
fn served_function_with_saved_model_skips_training_when_imported() {
    let cells = [
        "import joblib\nfrom sklearn.linear_model import LinearRegression",
        "trained = LinearRegression().fit([[1], [2]], [1, 2])\njoblib.dump(trained, 'lr.joblib')",
        "print(trained.coef_)",
        "model = joblib.load('lr.joblib')\ndef predict(x: float):\n    return model.predict([[x]])[0]",
    ];
    let plan = plan_for(&cells, &MemoryFolder::default(), &options()).unwrap();
    assert_eq!(plan.train_at, TrainAt::Build);
    assert!(plan.train_in_build && plan.imports_notebook);
    let wrapped: Vec<bool> = plan.cells.iter().map(|c| c.wrapped).collect();
    assert_eq!(
        wrapped,
        vec![false, true, false, false],
        "cell 3 only prints: it is left out, so nothing in it trains"
    );
    assert!(plan.cells[2].code.starts_with("# nb2svc: left out"));
    assert!(plan.cells[1].code.starts_with("    trained = "));
}

#[test]
fn unknown_endpoint_lists_the_functions() {
    let options = Options {
        endpoints: vec!["score".into()],
        ..options()
    };
    let error = plan_for(
        &["def predict(x): pass", "def helper(): pass"],
        &MemoryFolder::default(),
        &options,
    )
    .unwrap_err();
    assert_eq!(error.to_string(), "no top-level function `score` to serve in the notebook (functions defined: helper, predict)");
}

#[test]
fn writefile_modules_ship_in_app_and_are_not_requirements() {
    let cells = [
        "%%writefile census_constants.py\nKEYS = ['a']\n",
        "import census_constants\nimport numpy",
    ];
    let plan = plan_for(&cells, &MemoryFolder::default(), &options()).unwrap();
    assert_eq!(plan.modules.len(), 1);
    assert_eq!(plan.modules[0].path, "census_constants.py");
    let names: Vec<_> = plan
        .requirements
        .requirements
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert!(
        names.contains(&"numpy") && !names.iter().any(|n| n.contains("census")),
        "{names:?}"
    );
}

#[test]
fn sibling_modules_and_their_imports_are_shipped() {
    let folder = MemoryFolder::with(&[
        ("etl.py", "import model\nimport scipy\n"),
        ("model.py", "import xgboost\n"),
        ("unused.py", ""),
    ]);
    let plan = plan_for(&["import etl"], &folder, &options()).unwrap();
    let paths: Vec<_> = plan.modules.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(paths, vec!["etl.py", "model.py"]);
    let names: Vec<_> = plan
        .requirements
        .requirements
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert!(
        names.contains(&"scipy") && names.contains(&"xgboost"),
        "{names:?}"
    );
}

#[test]
fn absolute_paths_are_kept_with_a_warning() {
    let plan = plan_for(
        &["import joblib\nm = joblib.load('/app/models/m.pkl')"],
        &MemoryFolder::default(),
        &options(),
    )
    .unwrap();
    assert!(warnings(&plan)
        .iter()
        .any(|w| w.contains("`/app/models/m.pkl` is an absolute path")));
    assert!(plan.cells[0].code.contains("'/app/models/m.pkl'"));
}

#[test]
fn nothing_to_serve_is_a_warning_not_an_error() {
    let plan = plan_for(&["x = 1"], &MemoryFolder::default(), &options()).unwrap();
    assert!(warnings(&plan)
        .iter()
        .any(|w| w.starts_with("nothing to serve")));
}

#[test]
fn a_cell_that_is_not_python_is_left_out_with_a_warning() {
    let plan = plan_for(
        &["x = 1", "print 'python 2'"],
        &MemoryFolder::default(),
        &options(),
    )
    .unwrap();
    assert!(warnings(&plan)
        .iter()
        .any(|w| w.starts_with("cell 2, line 1, column 7: not valid Python 3")));
    assert!(plan.cells[1].code.starts_with("# nb2svc: left out"));
    let strict = Options {
        strict: true,
        ..options()
    };
    let error = plan_for(
        &["x = 1", "print 'python 2'"],
        &MemoryFolder::default(),
        &strict,
    )
    .unwrap_err()
    .to_string();
    assert!(error.starts_with("cell 2, line 1"), "{error}");
}

#[test]
fn a_cell_that_is_not_python_is_an_error_when_the_service_needs_it() {
    let error = plan_for(
        &[
            "import joblib",
            "model = train(x) if x else y z",
            "joblib.dump(model, 'm.pkl')",
        ],
        &MemoryFolder::default(),
        &options(),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("the service needs `model`"), "{error}");
}

#[test]
fn two_workers_unless_training_at_start() {
    let folder = MemoryFolder::with(&[("data/penguins.csv", "a,b\n")]);
    assert_eq!(
        plan_for(TRAIN_AND_DUMP, &folder, &options())
            .unwrap()
            .workers,
        2
    );
    let start = Options {
        train_at: TrainAt::Start,
        workers: Some(4),
        ..options()
    };
    let plan = plan_for(TRAIN_AND_DUMP, &folder, &start).unwrap();
    assert_eq!(
        plan.workers, 1,
        "each worker would train and race on the files"
    );
    assert!(warnings(&plan)
        .iter()
        .any(|w| w.starts_with("--workers 4 ignored")));
}

#[test]
fn the_authors_container_paths_are_shipped_and_served_from_data() {
    let mut folder = MemoryFolder::with(&[("work/penguins.csv", "a,b\n")]);
    folder.mounts = vec![crate::workspace::container_paths::ContainerMount {
        container: "/home/jovyan/work".into(),
        project: "work".into(),
        said_in: "docker-compose.yml line 9".into(),
    }];
    let cells = [
        "import pandas as pd\nimport joblib",
        "df = pd.read_csv('/home/jovyan/work/penguins.csv')\nm = df.fit()\njoblib.dump(m, '/home/jovyan/work/models/m.pkl')",
    ];
    let plan = plan_for(&cells, &folder, &options()).unwrap();
    let shipped: Vec<(&str, &str)> = plan
        .data_files
        .iter()
        .map(|d| (d.source.as_str(), d.path.as_str()))
        .collect();
    assert_eq!(shipped, vec![("work/penguins.csv", "work/penguins.csv")]);
    let mounts: Vec<(&str, &str)> = plan
        .container_mounts
        .iter()
        .map(|m| (m.container.as_str(), m.data_path.as_str()))
        .collect();
    assert_eq!(
        mounts,
        vec![("/home/jovyan/work", "work"), ("/home", "_container/home")]
    );
    assert!(plan.artifacts.iter().any(|a| a.path == "work/models/m.pkl"));
    assert!(
        !warnings(&plan).iter().any(|w| w.contains("absolute path")),
        "{:#?}",
        warnings(&plan)
    );
}

// What the README says the routes replay, and where it sees they cannot.

const SAVED: &str = "joblib.dump(model, 'model.joblib')";

#[test]
fn lists_the_kept_steps_in_notebook_order_with_their_cells() {
    let cells = [
        "import joblib\nimport pandas as pd\nfrom sklearn.preprocessing import LabelEncoder\nfrom sklearn.linear_model import LogisticRegression",
        "df = pd.read_csv('data.csv')\nle = LabelEncoder()\ndf['island'] = le.fit_transform(df['island'])\nX = pd.get_dummies(df[['island', 'sex']], columns=['sex'])",
        "pd.get_dummies(df).corr()",
        "model = LogisticRegression().fit(X, df['species'])",
        SAVED,
    ];
    let folder = MemoryFolder::with(&[("data.csv", "island,sex,species\n")]);
    let plan = plan_for(&cells, &folder, &options()).unwrap();
    let listed: Vec<String> = plan
        .preprocessing
        .iter()
        .map(|s| format!("{}: {} | {}", s.location, s.text, s.description))
        .collect();
    assert_eq!(
        listed,
        vec![
            "cell 2, line 3: df['island'] = le.fit_transform(df['island']) | label encoding of `island` with scikit-learn's `LabelEncoder` (fitted and applied)",
            "cell 2, line 4: X = pd.get_dummies(df[['island', 'sex']], columns=['sex']) | one-hot encoding of `sex` with `pandas.get_dummies`",
        ],
        "the exploration in cell 3 is left out, so it is not listed"
    );
    assert!(
        plan.left_out
            .iter()
            .any(|(at, text, _)| at.cell.number == 3 && text.contains("get_dummies")),
        "{:?}",
        plan.left_out
    );
    assert!(plan.replay_warnings.is_empty());
}

#[test]
fn warns_where_a_model_is_fitted_on_a_built_array() {
    let cells = [
        "import joblib\nimport numpy as np\nfrom sklearn.svm import SVC",
        "X = load()\nmodel = SVC()\nmodel.fit(np.hstack([X, X ** 2]), y)",
        SAVED,
    ];
    let plan = plan_for(&cells, &MemoryFolder::default(), &options()).unwrap();
    let warned: Vec<String> = plan.replay_warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        warned,
        vec![
            "cell 2, line 3: `model.fit` is given `np.hstack([X, X ** 2])`, a new array built without the data's column names and row labels: the route for that model will take the model's own features, not the notebook's raw columns (after training, `GET /models` gives the reason)"
        ]
    );
    assert!(
        plan.warnings.contains(&plan.replay_warnings[0]),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn a_fit_on_the_training_split_is_no_warning() {
    let cells = [
        "import joblib\nfrom sklearn.svm import SVC",
        "model = SVC()\nmodel.fit(X_train, y_train)",
        SAVED,
    ];
    let plan = plan_for(&cells, &MemoryFolder::default(), &options()).unwrap();
    assert!(
        plan.replay_warnings.is_empty(),
        "{:?}",
        plan.replay_warnings
    );
}

#[test]
fn a_served_function_has_no_model_routes_to_describe() {
    let cells = [
        "import numpy as np\nfrom sklearn.preprocessing import StandardScaler",
        "scaler = StandardScaler()\nX = scaler.fit_transform(X)\nmodel.fit(np.array(X), y)",
        "def predict(x: float) -> float:\n    return float(model.predict(scaler.transform([[x]]))[0])",
    ];
    let plan = plan_for(&cells, &MemoryFolder::default(), &options()).unwrap();
    assert!(plan.preprocessing.is_empty() && plan.replay_warnings.is_empty());
}

#[test]
fn cells_parsed_once_or_on_every_pass_give_the_same_facts() {
    let cells = extract(&notebook(&[
        "import joblib as jl\nfrom sklearn.linear_model import LinearRegression",
        "def save(obj, path):\n    jl.dump(obj, path)",
        "model = LinearRegression().fit([[1]], [1])\nsave(model, 'model.pkl')",
        "def broken(:\n    pass",
        "loaded = jl.load('model.pkl')",
    ]))
    .unwrap()
    .cells;
    let parameters = Arc::new(parameter_values(&analyze_pass(
        &PassInput::Sources(&cells),
        &Arc::default(),
    )));
    assert!(parameters.contains_key("save"), "{parameters:?}");
    let (parsed_once, first) = PassInput::first_pass(&cells, &Arc::default());
    assert!(matches!(parsed_once, PassInput::Parsed(_)));
    assert_eq!(
        first,
        analyze_pass(&PassInput::Sources(&cells), &Arc::default()),
        "the first pass, run as the cells are parsed"
    );
    for pass_parameters in [Arc::default(), parameters] {
        assert_eq!(
            analyze_pass(&parsed_once, &pass_parameters),
            analyze_pass(&PassInput::Sources(&cells), &pass_parameters)
        );
    }
}

#[test]
fn a_big_notebook_analyzed_as_it_is_parsed_gives_the_facts_of_a_loop() {
    let mut sources = Vec::new();
    for i in 0..700 {
        sources.push(format!(
            "import joblib as jl{i}\nDATA_{i} = 'data/part_{i}.csv'\nframe_{i} = open(DATA_{i}).read()"
        ));
        sources.push(format!("def step_{i}(x):\n    return jl{i}.load(x)"));
    }
    let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
    let cells = extract(&notebook(&sources)).unwrap().cells;
    let code: usize = cells.iter().map(|cell| cell.code.len()).sum();
    assert!(
        (2 * crate::parallel::WORTH_A_THREAD..=KEPT_TREES_CODE_BYTES).contains(&code),
        "{code} bytes: enough for helper threads, little enough to keep the trees"
    );
    let (parsed, first) = PassInput::first_pass(&cells, &Arc::default());
    assert!(matches!(parsed, PassInput::Parsed(_)));
    assert_eq!(
        first,
        analyze_pass(&PassInput::Sources(&cells), &Arc::default())
    );
}

#[test]
fn the_tree_kept_from_cleaning_a_cell_gives_the_facts_of_its_cleaned_code() {
    let cells = extract(&notebook(&[
        "import os\nimport joblib",
        "%matplotlib inline\nMODEL = os.path.join('models', 'm.pkl')\n!ls -la\nx = 1; y = 2",
        "  # a comment first\n%load_ext autoreload\nif __name__ == '__main__':\n    joblib.dump(x, MODEL)",
        "%time z = x + 1",
        "files = !ls\nprint(files)",
        "!pip install \\\n  scikit-learn",
        "for i in range(3):\n    %time print(i)\n    !echo {i}",
    ]))
    .unwrap()
    .cells;
    let kept: Vec<Option<bool>> = cells
        .iter()
        .map(|cell| cell.tree.as_ref().map(|t| t.escaped_source.is_some()))
        .collect();
    assert_eq!(
        kept,
        [Some(false), Some(true), Some(true), None, None, None, None],
        "a tree is kept when every escape became a `pass` on its own line"
    );
    let mut inherited = python::Inherited::default();
    for cell in &cells {
        let from_tree = python::ParsedCell::of_cleaned(&cell.code, cell.tree.as_ref()).unwrap();
        let parsed = python::ParsedCell::parse(&cell.code).unwrap();
        let facts = python::analyze_parsed(&parsed, &inherited);
        assert_eq!(
            python::analyze_parsed(&from_tree, &inherited),
            facts,
            "{}",
            cell.code
        );
        inherited = python::Inherited::after(&facts, &Arc::default());
    }
    let guarded = &cells[2];
    let facts = python::analyze_parsed(
        &python::ParsedCell::of_cleaned(&guarded.code, guarded.tree.as_ref()).unwrap(),
        &python::Inherited::default(),
    );
    let (start, end) = facts.main_guards[0];
    assert_eq!(&guarded.code[start..end], "__name__ == '__main__'");
}

#[test]
fn a_listed_package_only_left_out_statements_import_is_not_called_never_imported() {
    let mut cells = TRAIN_AND_DUMP.to_vec();
    cells.push("import seaborn as sns\nsns.pairplot(df)");
    let folder = MemoryFolder::with(&[("data/penguins.csv", "a,b\n")]);
    let requirements = crate::requirements::parse_requirements_txt(
        "pandas\nscikit-learn\njoblib\nseaborn\n",
        std::path::Path::new("requirements.txt"),
        &mut |_| anyhow::bail!("no includes"),
    )
    .unwrap();
    let plan = plan(
        "nb.ipynb",
        extract(&notebook(&cells)).unwrap(),
        Some(requirements),
        &folder,
        &options(),
    )
    .unwrap();
    assert!(
        plan.left_out.iter().any(|(at, _, _)| at.cell.number == 5),
        "the plot is left out: {:?}",
        plan.left_out
    );
    let warnings = warnings(&plan);
    assert!(
        warnings.iter().any(|w| w.starts_with(
            "1 listed package(s) are imported only by statements the service does not run"
        ) && w.ends_with(": seaborn")),
        "{warnings:?}"
    );
    assert!(
        !warnings.iter().any(|w| w.contains("never imported")),
        "{warnings:?}"
    );
}
