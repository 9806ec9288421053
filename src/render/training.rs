//! When the notebook's code runs in the service, decided once: the README's paragraph and the
//! run's report say it from here.

use crate::plan::{ServicePlan, TrainAt};

/// When the notebook's code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenCodeRuns {
    /// Training runs in the image build (`RUN python -m app.notebook`).
    Build,
    /// Training runs once when the service starts.
    Start,
    /// Nothing trains; the service imports the notebook's code at start for its functions.
    Import,
    /// Nothing of the notebook runs: the service loads the artifacts that come with it.
    Never,
}

/// The notebook has training cells or saves artifacts: `python -m app.notebook` trains.
pub fn has_training(plan: &ServicePlan) -> bool {
    plan.cells.iter().any(|c| c.training.is_some())
        || plan.artifacts.iter().any(|a| a.saved_at.is_some())
}

impl WhenCodeRuns {
    /// What `plan` does.
    pub fn of(plan: &ServicePlan) -> Self {
        if plan.train_in_build {
            Self::Build
        } else if plan.train_at == TrainAt::Start && has_training(plan) {
            Self::Start
        } else if plan.imports_notebook {
            Self::Import
        } else {
            Self::Never
        }
    }

    /// The one word templates can compare: `build`, `start`, `import`, `never`.
    pub fn word(self) -> &'static str {
        match self {
            Self::Build => "build",
            Self::Start => "start",
            Self::Import => "import",
            Self::Never => "never",
        }
    }

    /// The report's words.
    pub fn summary(self) -> &'static str {
        match self {
            Self::Build => "during the image build",
            Self::Start => "once at service start",
            Self::Import => "never (the service imports the notebook's code at start)",
            Self::Never => "never (nothing to train)",
        }
    }

    /// The README's paragraph, wrapped as the README is.
    pub fn paragraph(self, imports_notebook: bool) -> String {
        match self {
            Self::Build => format!(
                "The notebook trains **during the image build** (`RUN python -m app.notebook` in the Dockerfile), so
the image carries the artifacts it writes and the service starts fast, serving exactly the model
the build produced. {} To train at service start instead, generate with `--train-at start`.",
                if imports_notebook {
                    "At start the service imports the notebook's\ncode once, skipping the training cells, to get its functions."
                } else {
                    "At start the service only\nloads the artifacts."
                }
            ),
            Self::Start => "The notebook trains **once when the service starts**, in the background: `/health` answers at once
and `/ready` turns 200 when training and loading are done."
                .into(),
            Self::Import => {
                "The service imports the notebook's code **once at start**, in the background; it trains nothing."
                    .into()
            }
            Self::Never => {
                "The notebook trains nothing: the service loads the artifacts that come with it."
                    .into()
            }
        }
    }
}
