//! Every notebook of the shared corpus through nb2svc, read in place. Each either becomes a
//! project whose Python compiles and whose Dockerfile passes hadolint, or fails with the error
//! it deserves. The table says which, so a regression shows.

use std::path::Path;
use std::process::Command;

use crate::support::{
    compose_config_findings, corpus, files_under, hadolint_findings, nb2svc, python, tool_or_skip,
    works,
};

/// What nb2svc should make of a corpus notebook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A project; the number is the POST routes the static plan expects (`/predict` counted
    /// once, plus one `/predict/NAME` per model whose path is known before the notebook runs,
    /// or one per served function). The runtime serves every model it records as the notebook
    /// saves it, known here or not; `corpus_service` checks those for real.
    Project { routes: usize },
    /// Refused: the error text contains this.
    Refused(&'static str),
}
use Outcome::*;

/// (notebook under the corpus, requirements file under the corpus or "", outcome)
const CASES: &[(&str, &str, Outcome)] = &[
    // model stays in memory
    (
        "course_keras_tuner/keras_tuner.ipynb",
        "course_keras_tuner/requirements.txt",
        Project { routes: 0 },
    ),
    // no model: metadata store
    (
        "course_ml_metadata/ML_Metadata.ipynb",
        "course_ml_metadata/requirements.txt",
        Project { routes: 0 },
    ),
    // models go to an MLflow server
    (
        "course_mlflow_examples/mlflow_examples.ipynb",
        "course_mlflow_examples/requirements.txt",
        Project { routes: 0 },
    ),
    // pycaret save_model adds .pkl itself
    (
        "course_pycaret_models/models.ipynb",
        "course_pycaret_models/requirements.txt",
        Project { routes: 0 },
    ),
    // explanations only
    ("course_shap/SHAP.ipynb", "", Project { routes: 0 }),
    // its requirements (for the course's own pydantic 1 API) pin fastapi 0.68 and pydantic 1
    (
        "course_simple_inference_2023/data.ipynb",
        "course_simple_inference_2023/requirements.txt",
        Refused("2 requirements conflict with what the generated service needs"),
    ),
    // model plus island encoder
    (
        "course_solucion_taller1/dev0.ipynb",
        "course_solucion_taller1/requirements.txt",
        Project { routes: 2 },
    ),
    // data validation only
    ("course_tfdv/TFDV.ipynb", "", Project { routes: 0 }),
    // %%writefile modules, no model file
    (
        "course_tft/TFT.ipynb",
        "course_tft/requirements.txt",
        Project { routes: 0 },
    ),
    // Colab layout, __future__ imports
    (
        "g_handson_ml_colab/01_the_machine_learning_landscape.ipynb",
        "",
        Project { routes: 0 },
    ),
    // %%R cells dropped with warnings
    (
        "g_jupytext_R_magic/Notebook_with_R_magic.ipynb",
        "",
        Project { routes: 0 },
    ),
    // loads base.pk1
    (
        "g_k8sjenkins_nb_in_docker/base_joblibUI.ipynb",
        "",
        Project { routes: 2 },
    ),
    // trains and dumps base.pk1
    (
        "g_k8sjenkins_nb_in_docker/basicUI.ipynb",
        "",
        Project { routes: 2 },
    ),
    // Kale tags, skip tag honoured
    (
        "g_kale_tags/iris.ipynb",
        "g_kale_tags/requirements.txt",
        Project { routes: 0 },
    ),
    // the notebook is the API
    (
        "g_kernel_gateway_nb_as_api/api_intro.ipynb",
        "",
        Project { routes: 0 },
    ),
    // %pip, embedded PNGs
    (
        "g_kmilo_salaries/Taller_3.ipynb",
        "g_kmilo_salaries/requirements.txt",
        Project { routes: 0 },
    ),
    // joblib pipeline
    (
        "g_kmilo_salaries/pipeline.ipynb",
        "g_kmilo_salaries/requirements.txt",
        Project { routes: 2 },
    ),
    // nbformat 3, spaces in the name
    (
        "g_parallel_ml_nbformat3/04 - Pandas and Heterogeneous Data Modeling.ipynb",
        "",
        Project { routes: 0 },
    ),
    // model plus label encoder
    (
        "g_penguinfinder/rf_model.ipynb",
        "g_penguinfinder/requirements.txt",
        Project { routes: 2 },
    ),
    // pycaret; its requirements pin pydantic 1, which the generated code cannot run on
    (
        "g_zoomcamp_pycaret_fastapi/pycaret_train.ipynb",
        "g_zoomcamp_pycaret_fastapi/requirements.txt",
        Refused(
            "`pydantic==1.10.13` (from requirements.txt line 5) allows no version of pydantic>=2",
        ),
    ),
    // Pipfile requirements
    (
        "g_zoomcamp_spaces_flask/Mid-term Vowel Prediction Project.ipynb",
        "g_zoomcamp_spaces_flask/Pipfile",
        Project { routes: 2 },
    ),
    // its requirements pin fastapi 0.68 and pydantic 1, as the course's did
    (
        "s_2023_deiru_train_predict/train/prueba.ipynb",
        "s_2023_deiru_train_predict/train/requirements.txt",
        Refused(
            "`pydantic==1.10.4` (from requirements.txt line 7) allows no version of pydantic>=2",
        ),
    ),
    // three models saved in a loop with f-string paths, a scaler and a metrics table
    (
        "s_t1_castaneda/train.ipynb",
        "s_t1_castaneda/requirements.txt",
        Project { routes: 4 },
    ),
    // path built from variables, known before the notebook runs
    (
        "s_t2_bricj/jupyter_models/app/train_models.ipynb",
        "s_t2_bricj/jupyter_models/app/requirements.txt",
        Project { routes: 2 },
    ),
    // saved through a helper function
    (
        "s_t2_carvajal/train.ipynb",
        "s_t2_carvajal/requirements.txt",
        Project { routes: 0 },
    ),
    // saved by utils/model_trainer.py
    (
        "s_t2_cortes/jupyter/notebooks/train.ipynb",
        "",
        Project { routes: 0 },
    ),
    // no model: metadata store
    (
        "s_t2_gacely_tfx_2024/ML_Metadata.ipynb",
        "",
        Project { routes: 0 },
    ),
    // saved through a helper, pyproject requirements
    (
        "s_t2_gallo/training-app/TrainModels.ipynb",
        "s_t2_gallo/training-app/pyproject.toml",
        Project { routes: 0 },
    ),
    // path built from a variable
    (
        "s_t2_prada/jupyter_work/train_jupyter.ipynb",
        "s_t2_prada/requirements.txt",
        Project { routes: 0 },
    ),
    // four models and a column order
    (
        "s_t2_sanchez/models_volume/notebook/train_model.ipynb",
        "",
        Project { routes: 5 },
    ),
];

fn requirements_for(case: &str) -> Option<&'static str> {
    CASES
        .iter()
        .find(|(notebook, ..)| *notebook == case)
        .map(|(_, requirements, _)| *requirements)
        .filter(|r| !r.is_empty())
}

#[test]
fn every_corpus_notebook_has_an_expected_outcome() {
    let Some(corpus) = corpus() else {
        eprintln!(
            "SKIPPED every_corpus_notebook_has_an_expected_outcome: ../shared/corpus is not there"
        );
        return;
    };
    let notebooks: Vec<String> = files_under(&corpus)
        .into_iter()
        .filter(|f| f.ends_with(".ipynb"))
        .collect();
    let listed: Vec<&str> = CASES.iter().map(|(n, ..)| *n).collect();
    let unlisted: Vec<&String> = notebooks
        .iter()
        .filter(|n| !listed.contains(&n.as_str()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "add these corpus notebooks to CASES: {unlisted:#?}"
    );
}

#[test]
fn corpus_notebooks_convert_or_fail_clearly() {
    let Some(corpus) = corpus() else {
        eprintln!(
            "SKIPPED corpus_notebooks_convert_or_fail_clearly: ../shared/corpus is not there"
        );
        return;
    };
    let hadolint = tool_or_skip(
        "corpus hadolint",
        works("hadolint", &["--version"]),
        "hadolint",
    );
    let compose = tool_or_skip(
        "corpus compose config",
        works("docker", &["compose", "version"]),
        "docker compose v2",
    );
    let mut failures = Vec::new();
    for (case, _, expected) in CASES {
        let notebook = corpus.join(case);
        let out = tempfile::tempdir().unwrap();
        let mut command = nb2svc();
        command
            .arg(&notebook)
            .arg("-o")
            .arg(out.path().join("svc"))
            .arg("--json");
        if let Some(requirements) = requirements_for(case) {
            command.arg("-r").arg(corpus.join(requirements));
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let actual = if output.status.success() {
            let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            let plan = &report["plan"];
            let models = plan["artifacts"].as_array().map_or(0, |a| {
                a.iter().filter(|a| a["looks_like_model"] == true).count()
            });
            let routes = if plan["default_model"].is_null() {
                0
            } else {
                models + 1
            } + plan["endpoints"].as_array().map_or(0, Vec::len);
            Project { routes }
        } else {
            match CASES.iter().find(|(n, ..)| n == case).map(|c| c.2) {
                Some(Refused(text)) if stderr.contains(text) => Refused(text),
                _ => Refused("<unexpected error>"),
            }
        };
        if actual != *expected {
            failures.push(format!(
                "{case}: expected {expected:?}, got {actual:?}\n{stderr}"
            ));
            continue;
        }
        if let Project { .. } = actual {
            let svc = out.path().join("svc");
            check_python_compiles(&svc, case, &mut failures);
            if hadolint {
                check_hadolint(&svc.join("Dockerfile"), case, &mut failures);
            }
            if compose {
                check_compose_config(&svc, case, &mut failures);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check_python_compiles(svc: &Path, case: &str, failures: &mut Vec<String>) {
    let sources: Vec<String> = files_under(svc)
        .into_iter()
        .filter(|f| f.ends_with(".py"))
        .collect();
    // Compile in memory, so no __pycache__ is left and every file is checked.
    let script = "import sys\nfor path in sys.argv[1:]:\n    compile(open(path, encoding='utf-8').read(), path, 'exec')\n";
    let output = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(&sources)
        .current_dir(svc)
        .output()
        .unwrap();
    if !output.status.success() {
        failures.push(format!(
            "{case}: generated Python does not compile: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
}

fn check_hadolint(dockerfile: &Path, case: &str, failures: &mut Vec<String>) {
    if let Some(findings) = hadolint_findings(dockerfile) {
        failures.push(format!("{case}: hadolint: {findings}"));
    }
}

/// `docker compose config` validates both compose files against the Compose specification.
fn check_compose_config(svc: &Path, case: &str, failures: &mut Vec<String>) {
    for file in ["docker-compose.yaml", "docker-compose.prod.yaml"] {
        if let Some(findings) = compose_config_findings(svc, file) {
            failures.push(format!("{case}: docker compose config {file}: {findings}"));
        }
    }
}
