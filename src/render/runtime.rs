//! The runtime a service ships (`app/nb2svc_*.py`): split by feature, so that each service
//! gets only the modules its plan uses, each stamped with the nb2svc version that wrote it.
//!
//! What each module does is the module's own business (its docstring, and its tests in
//! `tests/runtime`); this one only decides which modules a plan needs and stamps them. The
//! modules are plain Python written verbatim: the only substitution is the version mark.

use crate::extract::FetchKind;
use crate::plan::{ServicePlan, TrainAt};

/// One runtime module: its file under `app/` (also its template's name) and when a service
/// needs it.
pub struct RuntimeModule {
    /// `nb2svc_models.py`.
    pub file: &'static str,
    /// What it gives the service, for the generated README.
    pub purpose: &'static str,
    /// The service's `python -m app.notebook` imports it, so the image's training layer
    /// copies it (the others are copied after training: editing them does not train again).
    pub trains: bool,
    needed: fn(&ServicePlan) -> bool,
}

/// The text every runtime module holds where the nb2svc version goes: a `NB2SVC_VERSION`
/// constant and the header comment.
pub const VERSION_MARK: &str = "@nb2svc_version@";

/// Every runtime module, the core first. The core imports the others only when they ship.
pub const MODULES: &[RuntimeModule] = &[
    RuntimeModule {
        file: "nb2svc_runtime.py",
        purpose: "the notebook's folder, settings, failures named by cell and line, the service's state and its request guards",
        trains: true,
        needed: |_| true,
    },
    RuntimeModule {
        file: "nb2svc_recording.py",
        purpose: "records what the notebook saves as it trains (`data/.nb2svc/manifest.json`) and creates the folders it writes into",
        trains: true,
        needed: can_train,
    },
    RuntimeModule {
        file: "nb2svc_inputs.py",
        purpose: "records how each model's inputs came from the data the notebook read, and replays it in the prediction routes",
        trains: true,
        needed: |plan| plan.saves_artifacts,
    },
    RuntimeModule {
        file: "nb2svc_models.py",
        purpose: "loads the saved models and serves `/predict/NAME`, `/predict` and `/models`",
        trains: false,
        needed: serves_models,
    },
    RuntimeModule {
        file: "nb2svc_fetch.py",
        purpose: "the downloads and unpacking of the notebook's `!wget`, `!curl`, `!unzip` and `!tar` lines",
        trains: true,
        needed: fetches_data,
    },
];

/// The runtime modules `plan`'s service ships, in [`MODULES`]' order.
pub fn modules_for(plan: &ServicePlan) -> Vec<&'static RuntimeModule> {
    MODULES.iter().filter(|m| (m.needed)(plan)).collect()
}

/// A runtime module's text as the service gets it: the version mark replaced by this
/// nb2svc's version.
pub fn stamp(text: &str) -> String {
    text.replace(VERSION_MARK, env!("CARGO_PKG_VERSION"))
}

/// Whether the notebook's training can run in this service: the image build trains it, or the
/// service does at start, or the notebook has cells that train (which `python -m app.notebook`
/// runs by hand). Only then is there anything to record.
fn can_train(plan: &ServicePlan) -> bool {
    plan.train_in_build
        || plan.saves_artifacts
        || (plan.train_at == TrainAt::Start && plan.imports_notebook)
        || plan.cells.iter().any(|cell| cell.training.is_some())
}

/// The service serves saved models: recorded as the notebook trains, or shipped.
fn serves_models(plan: &ServicePlan) -> bool {
    plan.saves_artifacts || plan.artifacts.iter().any(|a| a.shipped_from.is_some())
}

/// A shell line of the notebook downloads or unpacks (`mkdir -p` needs no runtime).
fn fetches_data(plan: &ServicePlan) -> bool {
    plan.fetches
        .iter()
        .any(|f| matches!(f.kind, FetchKind::Download | FetchKind::Unpack))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in template of every module carries the version mark twice: the header and
    /// the constant the core reports.
    #[test]
    fn every_module_is_stamped_with_the_version() {
        for module in MODULES {
            let (_, text) = crate::render::BUILTIN_TEMPLATES
                .iter()
                .find(|(name, _)| *name == module.file)
                .unwrap_or_else(|| panic!("{} is a built-in template", module.file));
            assert_eq!(text.matches(VERSION_MARK).count(), 2, "{}", module.file);
            let stamped = stamp(text);
            assert!(!stamped.contains(VERSION_MARK));
            let constant = format!("NB2SVC_VERSION = \"{}\"", env!("CARGO_PKG_VERSION"));
            assert!(stamped.contains(&constant), "{}", module.file);
            assert!(stamped.starts_with(&format!(
                "# Written by nb2svc {}:",
                env!("CARGO_PKG_VERSION")
            )));
        }
    }
}
