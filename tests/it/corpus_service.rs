//! The light notebooks of the corpus as a new user would run them: generate the service, install
//! its requirements in a virtual environment, train (`python -m app.notebook`), start uvicorn on
//! 127.0.0.1, and ask every model route for a prediction with the example its schema offers.
//! The table says what each notebook yields, so that a regression shows. Nothing here is hand
//! edited or special-cased: the notebooks and their data are read in place from the corpus.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{corpus, free_port, generate_into, http, output_text, tool_or_skip, venv_for, wait_for, works, Running};

/// What a notebook yields.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Yield {
    /// Trains in the service's environment and answers a 200 prediction on every model route
    /// (`models` of them).
    Serves { models: usize },
    /// Trains, but saves nothing that predicts (the model stays in memory, or it only explores).
    TrainsOnly,
    /// Cannot work here, for a reason that is the notebook's or its data's, not nb2svc's; the
    /// text is a part of the training or generation error that shows it.
    Cannot(&'static str),
}
use Yield::*;

/// (notebook, requirements file or "", why this outcome, expected yield). Every light
/// notebook of the corpus (scikit-learn, pandas, numpy, joblib, xgboost; not TensorFlow,
/// PyCaret or MLflow servers) is here.
#[rustfmt::skip]
const LIGHT: &[(&str, &str, &str, Yield)] = &[
    ("course_solucion_taller1/dev0.ipynb", "course_solucion_taller1/requirements.txt",
        "a model and an island encoder, saved with literal paths", Serves { models: 1 }),
    ("course_simple_inference_2023/data.ipynb", "course_simple_inference_2023/requirements.txt",
        "its data comes from `!wget`, now a download step, and nothing but PyPI is reachable here",
        Cannot("download")),
    ("g_k8sjenkins_nb_in_docker/base_joblibUI.ipynb", "",
        "loads the shipped base.pk1", Serves { models: 1 }),
    ("g_kmilo_salaries/pipeline.ipynb", "g_kmilo_salaries/requirements.txt",
        "one joblib pipeline", Serves { models: 1 }),
    ("g_handson_ml_colab/01_the_machine_learning_landscape.ipynb", "",
        "fits a linear model and keeps it in memory", TrainsOnly),
    ("g_zoomcamp_spaces_flask/Mid-term Vowel Prediction Project.ipynb", "g_zoomcamp_spaces_flask/Pipfile",
        "models pickled with open() in a loop", Serves { models: 1 }),
    ("s_t1_castaneda/train.ipynb", "s_t1_castaneda/requirements.txt",
        "three models in a loop with f-string paths through ../API", Serves { models: 3 }),
    ("s_t2_carvajal/train.ipynb", "s_t2_carvajal/requirements.txt",
        "models saved through a helper with computed paths", Serves { models: 3 }),
    ("s_t2_bricj/jupyter_models/app/train_models.ipynb", "s_t2_bricj/jupyter_models/app/requirements.txt",
        "ran from its parent folder in its author's container: `data/` is not beside the notebook",
        Cannot("penguins_lter.csv")),
    ("s_t2_cortes/jupyter/notebooks/train.ipynb", "",
        "reads an absolute path of its author's container", Cannot("/app/data/penguins_v1.csv")),
    ("s_t2_prada/jupyter_work/train_jupyter.ipynb", "s_t2_prada/requirements.txt",
        "reads an absolute path of its author's container", Cannot("/home/jovyan/work/penguins_size.csv")),
    ("s_t2_sanchez/models_volume/notebook/train_model.ipynb", "",
        "reads ../../data, a folder of its author's container that the repository keeps elsewhere",
        Cannot("penguins_size.csv")),
    ("s_2023_deiru_train_predict/train/prueba.ipynb", "s_2023_deiru_train_predict/train/requirements.txt",
        "trains on rows from a MySQL server", Cannot("mysql")),
];

#[test]
fn light_corpus_notebooks_train_and_answer_predictions() {
    let test = "light_corpus_notebooks_train_and_answer_predictions";
    let Some(corpus) = corpus() else {
        tool_or_skip(test, false, "../shared/corpus");
        return;
    };
    if !tool_or_skip(test, works("python3", &["-c", "import venv"]), "python3 with venv") {
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
            wrong.push(format!("{notebook}: expected {expected:?}, got {}", describe(&got)));
        }
        table.push(line);
    }
    eprintln!("corpus services:\n  {}", table.join("\n  "));
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// What happened, in a form to compare with [`Yield`].
enum Got {
    Served { models: usize },
    TrainedOnly,
    Failed(String),
}

fn describe(got: &Got) -> String {
    match got {
        Got::Served { models } => format!("trained, {models} model routes answered"),
        Got::TrainedOnly => "trained, nothing to predict with".into(),
        Got::Failed(reason) => format!("failed: {}", tail(reason, 1500)),
    }
}

fn matches(got: &Got, expected: &Yield) -> bool {
    match (got, expected) {
        (Got::Served { models }, Serves { models: want }) => models == want,
        (Got::TrainedOnly, TrainsOnly) => true,
        (Got::Failed(reason), Cannot(text)) => reason.to_lowercase().contains(&text.to_lowercase()),
        _ => false,
    }
}

fn tail(text: &str, chars: usize) -> String {
    let count = text.chars().count();
    text.chars().skip(count.saturating_sub(chars)).collect()
}

/// Generates, installs, trains, serves and asks: the whole path of a user.
fn run(corpus: &Path, notebook: &str, requirements: &str) -> Got {
    let out = tempfile::tempdir().unwrap();
    let requirements = (!requirements.is_empty()).then(|| corpus.join(requirements));
    let generated = generate_into(out.path(), &corpus.join(notebook), requirements.as_deref(), &[]);
    if !generated.status.success() {
        return Got::Failed(format!("generation: {}", output_text(&generated)));
    }
    let python = match venv_for(&out.path().join("requirements.txt")) {
        Ok(python) => python,
        Err(reason) => return Got::Failed(format!("requirements: {reason}")),
    };
    let trained = Command::new(&python)
        .args(["-m", "app.notebook"])
        .current_dir(out.path())
        .env("MPLBACKEND", "Agg")
        .output()
        .expect("python runs");
    if !trained.status.success() {
        return Got::Failed(format!("training: {}", output_text(&trained)));
    }
    serve_and_ask(&python, out.path())
}

fn serve_and_ask(python: &Path, dir: &Path) -> Got {
    let port = free_port();
    let _server = Running(
        Command::new(python)
            .args(["-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("uvicorn starts"),
    );
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
    for name in &predicting {
        let route = format!("/predict/{name}");
        let Some(example) = example_for(&openapi, &route) else {
            return Got::Failed(format!("{route} has no example in /openapi.json"));
        };
        let (status, answer) = http("POST", port, &route, Some(&example.to_string())).unwrap_or_default();
        if status != 200 {
            return Got::Failed(format!("POST {route} {example} answered {status}: {answer}"));
        }
        if Instant::now() > deadline {
            return Got::Failed("predictions took over a minute".into());
        }
    }
    Got::Served { models: predicting.len() }
}

/// The example of a route's request body, as Swagger's "Try it out" would send it.
fn example_for(openapi: &Value, route: &str) -> Option<Value> {
    let schema = &openapi["paths"][route]["post"]["requestBody"]["content"]["application/json"]["schema"];
    let name = schema["$ref"].as_str()?.rsplit('/').next()?;
    let example = openapi["components"]["schemas"][name]["example"].clone();
    (!example.is_null()).then_some(example)
}
