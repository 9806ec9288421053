//! The light notebooks of the corpus as a new user would run them: generate the service, install
//! its requirements in a virtual environment, train (`python -m app.notebook`), start uvicorn on
//! 127.0.0.1, and ask every model route for a prediction with the example its schema offers.
//! The table says what each notebook yields, so that a regression shows. Nothing here is hand
//! edited or special-cased: the notebooks and their data are read in place from the corpus.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    corpus, generate_into, http, output_text, start_uvicorn, tool_or_skip, venv_for, wait_for,
    works,
};

/// What a notebook yields.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Yield {
    /// Trains in the service's environment and answers a 200 prediction on every model route
    /// (`models` of them), taking and answering what `answers` says.
    Serves { models: usize, answers: Answers },
    /// Cannot work here, for a reason that is the notebook's or its data's, not nb2svc's; the
    /// text is a part of the training or generation error that shows it.
    Cannot(&'static str),
}
use Yield::*;

/// What every model route of a notebook takes and answers, with the example of its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answers {
    /// A raw penguin: island and sex as strings, the measurements as numbers; a species out.
    Species,
    /// The data's raw columns, replayed, and a value of the data's target column.
    RawLabels,
    /// Replayed from data that is itself encoded: the route takes the data's codes and answers
    /// the target's code, as the data holds it (no notebook cell names the species).
    DataCodes,
}
use Answers::*;

/// (notebook, requirements file or "", why this outcome, expected yield). Every light
/// notebook of the corpus (scikit-learn, pandas, numpy, joblib, xgboost; not TensorFlow,
/// PyCaret or MLflow servers) is here.
#[rustfmt::skip]
const LIGHT: &[(&str, &str, &str, Yield)] = &[
    ("course_solucion_taller1/dev0.ipynb", "course_solucion_taller1/requirements.txt",
        "its data file was never in its repository", Cannot("data/penguins_lter.csv")),
    ("course_simple_inference_2023/data.ipynb", "course_simple_inference_2023/requirements.txt",
        "its requirements pin fastapi 0.68 and pydantic 1 (for the course's own API): refused at generation, since the generated code needs pydantic 2",
        Cannot("allows no version of pydantic>=2")),
    ("g_k8sjenkins_nb_in_docker/base_joblibUI.ipynb", "",
        "base.pk1 was pickled by scikit-learn 0.23.1 on Python 3.8: nb2svc pins scikit-learn==0.23.1, which has no wheel for Python 3.9 or later (current scikit-learn cannot read the file)",
        Cannot("0.23.1")),
    ("g_kmilo_salaries/pipeline.ipynb", "g_kmilo_salaries/requirements.txt",
        "one joblib pipeline", Serves { models: 1, answers: RawLabels }),
    ("g_handson_ml_colab/01_the_machine_learning_landscape.ipynb", "",
        "a degree-60 polynomial overflows to NaN with today's numpy and scikit-learn; it pins no versions",
        Cannot("contains NaN")),
    ("g_zoomcamp_spaces_flask/Mid-term Vowel Prediction Project.ipynb", "g_zoomcamp_spaces_flask/Pipfile",
        "models pickled with open() in a loop", Serves { models: 1, answers: RawLabels }),
    ("s_t1_castaneda/train.ipynb", "s_t1_castaneda/requirements.txt",
        "three models in a loop with f-string paths through ../API; its CSV is already encoded",
        Serves { models: 3, answers: DataCodes }),
    ("s_t2_carvajal/train.ipynb", "s_t2_carvajal/requirements.txt",
        "models saved through a helper with computed paths", Serves { models: 3, answers: Species }),
    ("s_t2_bricj/jupyter_models/app/train_models.ipynb", "s_t2_bricj/jupyter_models/app/requirements.txt",
        "reads data/ beside its notebook, which the project keeps in jupyter_models/ and no Docker file puts there",
        Cannot("penguins_lter.csv")),
    ("s_t2_cortes/jupyter/notebooks/train.ipynb", "",
        "reads /app/data of its author's container, which its Dockerfile fills from data/; a shipped module saves the models",
        Serves { models: 3, answers: DataCodes }),
    ("s_t2_prada/jupyter_work/train_jupyter.ipynb", "s_t2_prada/requirements.txt",
        "reads and writes /home/jovyan/work, which its compose file mounts from jupyter_work/",
        Serves { models: 3, answers: Species }),
    ("s_t2_sanchez/models_volume/notebook/train_model.ipynb", "",
        "its notebook folder was mounted at /app/models/notebook: ../../data is /app/data, which its Dockerfile fills from jupyter/",
        Serves { models: 4, answers: Species }),
    ("s_2023_deiru_train_predict/train/prueba.ipynb", "s_2023_deiru_train_predict/train/requirements.txt",
        "its requirements pin fastapi 0.68 and pydantic 1: refused at generation (it also trains on rows from a MySQL server at a private address)",
        Cannot("allows no version of pydantic>=2")),
    ("g_k8sjenkins_nb_in_docker/basicUI.ipynb", "",
        "its repository never held the CSV it trains on", Cannot("FileNotFoundError")),
    ("g_kale_tags/iris.ipynb", "g_kale_tags/requirements.txt",
        "pins scikit-learn 0.20.3, which has no wheel for Python 3.11 and does not build",
        Cannot("scikit-learn==0.20.3")),
    ("g_penguinfinder/rf_model.ipynb", "g_penguinfinder/requirements.txt",
        "seaborn's load_dataset downloads the data at run time", Cannot("test guard")),
    ("g_parallel_ml_nbformat3/04 - Pandas and Heterogeneous Data Modeling.ipynb", "",
        "uses sklearn.cross_validation, gone since scikit-learn 0.20, and pins no versions",
        Cannot("sklearn.cross_validation")),
    ("g_kmilo_salaries/Taller_3.ipynb", "g_kmilo_salaries/requirements.txt",
        "imports a private scikit-learn function that later releases removed; nothing pins scikit-learn",
        Cannot("_print_elapsed_time")),
    ("s_t2_gallo/training-app/TrainModels.ipynb", "s_t2_gallo/training-app/pyproject.toml",
        "models saved through a helper under MODELS_DIR, read with no default", Serves { models: 3, answers: Species }),
];

/// Python code every process of the test loads first (through `sitecustomize`): a notebook
/// under test may reach 127.0.0.1 and nothing else, whatever its code tries.
const NETWORK_GUARD: &str = r#"import socket

_LOCAL = ("127.0.0.1", "::1", "localhost")
_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def _check(host):
    if isinstance(host, str) and host not in _LOCAL and not host.startswith("/"):
        raise OSError(f"nb2svc test guard: nothing beyond 127.0.0.1 may be reached ({host})")


def _guarded_connect(self, address):
    _check(address[0] if isinstance(address, tuple) else address)
    return _connect(self, address)


def _guarded_connect_ex(self, address):
    _check(address[0] if isinstance(address, tuple) else address)
    return _connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    _check(host)
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
socket.getaddrinfo = _guarded_getaddrinfo
"#;

#[test]
fn light_corpus_notebooks_train_and_answer_predictions() {
    let test = "light_corpus_notebooks_train_and_answer_predictions";
    let Some(corpus) = corpus() else {
        tool_or_skip(test, false, "../shared/corpus");
        return;
    };
    if !tool_or_skip(
        test,
        works("python3", &["-c", "import venv"]),
        "python3 with venv",
    ) {
        return;
    }
    let only = std::env::var("NB2SVC_CORPUS_ONLY").ok();
    let mut table = Vec::new();
    let mut wrong = Vec::new();
    for (notebook, requirements, why, expected) in LIGHT {
        if only.as_deref().is_some_and(|o| !notebook.contains(o)) {
            continue;
        }
        let started = Instant::now();
        let got = run(&corpus, notebook, requirements);
        let line = format!(
            "{notebook}: {} in {:.0}s ({why})",
            describe(&got),
            started.elapsed().as_secs_f64()
        );
        eprintln!("{line}");
        if !matches(&got, expected) {
            wrong.push(format!(
                "{notebook}: expected {expected:?}, got {}{}",
                describe(&got),
                details(&got)
            ));
        }
        table.push(line);
    }
    eprintln!("corpus services:\n  {}", table.join("\n  "));
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// What happened, in a form to compare with [`Yield`].
enum Got {
    Served { routes: Vec<Route> },
    TrainedOnly,
    Failed(String),
}

/// One model route as a user meets it: the example Swagger offers, the answer, and what
/// `/models` says the route does to its input.
struct Route {
    name: String,
    example: Value,
    prediction: Value,
    inputs: Value,
}

fn describe(got: &Got) -> String {
    match got {
        Got::Served { routes } => {
            let first = routes.first().map(|r| {
                format!(
                    "; {} takes {} and answered {}",
                    r.name, r.example, r.prediction
                )
            });
            format!(
                "trained, {} model routes answered{}",
                routes.len(),
                first.unwrap_or_default()
            )
        }
        Got::TrainedOnly => "trained, nothing to predict with".into(),
        Got::Failed(reason) => format!("failed: {}", summary(reason)),
    }
}

/// Every route's example, answer and inputs, for a mismatch's message.
fn details(got: &Got) -> String {
    let Got::Served { routes } = got else {
        return String::new();
    };
    routes
        .iter()
        .map(|r| {
            let why = r.inputs["reason"].as_str().unwrap_or_default();
            format!("\n    {}: {} -> {} {why}", r.name, r.example, r.prediction)
        })
        .collect()
}

fn matches(got: &Got, expected: &Yield) -> bool {
    match (got, expected) {
        (Got::Served { routes }, Serves { models, answers }) => {
            routes.len() == *models && routes.iter().all(|r| answers_as(r, *answers))
        }
        (Got::Failed(reason), Cannot(text)) => reason.to_lowercase().contains(&text.to_lowercase()),
        _ => false,
    }
}

/// Whether a route takes and answers what `answers` says.
fn answers_as(route: &Route, answers: Answers) -> bool {
    let replayed = route.inputs["replayed"] == Value::Bool(true);
    let field = |part: &str| {
        let example = route.example.as_object()?;
        example
            .iter()
            .find(|(key, _)| key.to_lowercase().contains(part))
            .map(|(_, v)| v.clone())
    };
    let raw_columns: Vec<&str> = route.inputs["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let example_keys: Vec<&str> = route
        .example
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let takes_raw_columns = replayed && {
        let mut keys = example_keys.clone();
        let mut columns = raw_columns.clone();
        keys.sort_unstable();
        columns.sort_unstable();
        keys == columns
    };
    match answers {
        Species => {
            let strings = ["island", "sex"]
                .iter()
                .all(|p| field(p).is_some_and(|v| v.is_string()));
            let numbers = ["length", "depth", "mass"]
                .iter()
                .all(|p| field(p).is_some_and(|v| v.is_number()));
            let species = route.prediction.as_str().is_some_and(|p| {
                ["Adelie", "Chinstrap", "Gentoo"]
                    .iter()
                    .any(|s| p.contains(s))
            });
            takes_raw_columns && strings && numbers && species
        }
        RawLabels => takes_raw_columns && !route.prediction.is_null(),
        DataCodes => takes_raw_columns && route.prediction.is_number(),
    }
}

/// The lines of a failure that say what happened: nb2svc's own account of a failed training
/// (cell, line, error, hint) when there is one, and the last line of the output.
fn summary(reason: &str) -> String {
    let lines: Vec<&str> = reason.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut picked: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("nb2svc:") || l.starts_with("the notebook reads"))
        .copied()
        .collect();
    if let Some(last) = lines.last() {
        if !picked.contains(last) {
            picked.push(last);
        }
    }
    let first = lines.first().copied().unwrap_or_default();
    if picked.is_empty() || first.starts_with("requirements") || first.starts_with("generation") {
        picked.insert(0, first);
    }
    picked.join(" | ").chars().take(1200).collect()
}

/// Generates, installs, trains, serves and asks: the whole path of a user.
fn run(corpus: &Path, notebook: &str, requirements: &str) -> Got {
    let out = tempfile::tempdir().unwrap();
    let requirements = (!requirements.is_empty()).then(|| corpus.join(requirements));
    // A case folder is a copy of its repository without `.git`: it is the project folder.
    let case = corpus.join(notebook.split('/').next().unwrap_or_default());
    let root = ["--root", case.to_str().unwrap()];
    let generated = generate_into(
        out.path(),
        &corpus.join(notebook),
        requirements.as_deref(),
        &root,
    );
    if !generated.status.success() {
        return Got::Failed(format!("generation: {}", output_text(&generated)));
    }
    let python = match venv_for(&out.path().join("requirements.txt")) {
        Ok(python) => python,
        Err(reason) => return Got::Failed(format!("requirements: {reason}")),
    };
    let guard = out.path().join(".guard");
    std::fs::create_dir_all(&guard).unwrap();
    std::fs::write(guard.join("sitecustomize.py"), NETWORK_GUARD).unwrap();
    let trained = Command::new(&python)
        .args(["-m", "app.notebook"])
        .current_dir(out.path())
        .env("PYTHONPATH", &guard)
        .output()
        .expect("python runs");
    if !trained.status.success() {
        return Got::Failed(format!("training: {}", output_text(&trained)));
    }
    serve_and_ask(&python, out.path(), &guard)
}

fn serve_and_ask(python: &Path, dir: &Path, guard: &Path) -> Got {
    let (_server, port) = start_uvicorn(python, dir, &[("PYTHONPATH", guard.as_os_str())], true);
    let (status, body) = wait_for(port, "/ready", 200, 120);
    if status != 200 {
        return Got::Failed(format!("/ready answered {status}: {body}"));
    }
    let (status, models) = http("GET", port, "/models", None).unwrap_or((0, String::new()));
    if status == 404 {
        return Got::TrainedOnly;
    }
    let models: Value = serde_json::from_str(&models).unwrap_or(Value::Null);
    let predicting: Vec<String> = models
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, m)| m["predicts"] == Value::Bool(true))
        .map(|(name, _)| name.clone())
        .collect();
    if predicting.is_empty() {
        return Got::TrainedOnly;
    }
    let (_, openapi) = http("GET", port, "/openapi.json", None).unwrap_or_default();
    let openapi: Value = serde_json::from_str(&openapi).unwrap_or(Value::Null);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut routes = Vec::new();
    for name in &predicting {
        let route = format!("/predict/{name}");
        let Some(example) = example_for(&openapi, &route) else {
            return Got::Failed(format!("{route} has no example in /openapi.json"));
        };
        let (status, answer) =
            http("POST", port, &route, Some(&example.to_string())).unwrap_or_default();
        if status != 200 {
            return Got::Failed(format!(
                "POST {route} {example} answered {status}: {answer}"
            ));
        }
        let answer: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
        routes.push(Route {
            name: route,
            example,
            prediction: answer["prediction"].clone(),
            inputs: models[name]["inputs"].clone(),
        });
        if Instant::now() > deadline {
            return Got::Failed("predictions took over a minute".into());
        }
    }
    Got::Served { routes }
}

/// The example of a route's request body, as Swagger's "Try it out" would send it.
fn example_for(openapi: &Value, route: &str) -> Option<Value> {
    let schema =
        &openapi["paths"][route]["post"]["requestBody"]["content"]["application/json"]["schema"];
    let name = schema["$ref"].as_str()?.rsplit('/').next()?;
    let example = openapi["components"]["schemas"][name]["example"].clone();
    (!example.is_null()).then_some(example)
}
