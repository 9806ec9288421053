//! The routes the generated service answers, decided once: the README's table and curl lines
//! and the run's report list them from here. `main.py` defines them from the same fields
//! (`serves_models`, `endpoints`); this module does not write Python.

use crate::escape;
use crate::plan::ServicePlan;

/// One route of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The paths it answers, the one the report shows first: `/docs`, `/openapi.json`.
    pub paths: Vec<String>,
    /// What it does, Markdown ready for a table cell.
    pub does: String,
    /// What the report adds after the path: ` (cell 3)`, ` for each saved model`.
    pub report_note: String,
    /// The README's curl command for it, when it has one.
    pub curl: Option<String>,
}

/// The service serves saved models: `/models` and the prediction routes. The same rule as
/// the plan's, which keeps no field for it.
pub fn serves_models(plan: &ServicePlan) -> bool {
    plan.saves_artifacts || plan.artifacts.iter().any(|a| a.shipped_from.is_some())
}

/// Every route of the service, in the order the README and the report list them.
pub fn routes(plan: &ServicePlan) -> Vec<Route> {
    let base = format!("http://localhost:{}", plan.host_port);
    let get = |path: &str, does: &str, curl: bool| Route {
        method: "GET",
        paths: vec![path.to_string()],
        does: does.to_string(),
        report_note: String::new(),
        curl: curl.then(|| format!("curl {base}{path}")),
    };
    let mut routes = vec![
        get("/health", "Liveness: the process answers.", true),
        get(
            "/ready",
            "200 once setup has run; 503 with the failing cell and line otherwise.",
            true,
        ),
        Route {
            paths: vec!["/docs".into(), "/openapi.json".into()],
            ..get(
                "/docs",
                "Interactive documentation and the OpenAPI schema.",
                false,
            )
        },
    ];
    if serves_models(plan) {
        routes.push(get(
            "/models",
            "Each loaded artifact: its type, file, and for a model what its route takes, step by step, and whether it is the default.",
            true,
        ));
        let fallback = match &plan.default_model {
            Some(model) => format!(
                ", else {} when it is loaded",
                escape::markdown_table_cell(&escape::markdown_code(model))
            ),
            None => String::new(),
        };
        routes.push(Route {
            method: "POST",
            paths: vec!["/predict".into()],
            does: format!("Prediction with the default model: `/models` says which and why (a model saved under a name like `best_model` wins{fallback}; `NB2SVC_DEFAULT_MODEL` overrides)."),
            report_note: plan
                .default_model
                .as_ref()
                .map(|model| format!(" ({model})"))
                .unwrap_or_default(),
            curl: None,
        });
        routes.push(Route {
            method: "POST",
            paths: vec!["/predict/NAME".into()],
            does: "Prediction with the model named NAME in `/models`.".into(),
            report_note: " for each saved model".into(),
            curl: None,
        });
    }
    for endpoint in &plan.endpoints {
        routes.push(Route {
            method: "POST",
            paths: vec![endpoint.route.clone()],
            does: format!(
                "Calls {} from {}.",
                escape::markdown_table_cell(&escape::markdown_code(&endpoint.function)),
                escape::markdown_table_cell(&endpoint.cell)
            ),
            report_note: format!(" ({})", endpoint.cell),
            // The route is `/` and a Python identifier: nothing in it needs shell quoting.
            curl: Some(format!(
                "curl -X POST {base}{} \\\n  -H 'Content-Type: application/json' \\\n  -d {}",
                endpoint.route,
                escape::shell_single_quoted(&endpoint.example.to_string())
            )),
        });
    }
    routes
}

/// `GET /health`, `POST /predict (best)`: a route as the report's one line shows it.
pub fn report_line(route: &Route) -> String {
    format!(
        "{} {}{}",
        route.method,
        route.paths.first().map(String::as_str).unwrap_or_default(),
        route.report_note
    )
}
