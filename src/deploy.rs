//! The files that run the service on an orchestrator, when asked for: Kubernetes manifests
//! (`--kubernetes`, under `deploy/kubernetes/`) and a Docker Swarm stack (`--swarm`,
//! `deploy/swarm/stack.yaml`).
//!
//! They are built as typed values and serialized by serde_yaml, so every value that comes from
//! user input is a YAML scalar the serializer quoted, never text pasted into a template; only the
//! comment lines at the top of each file are text, and their user parts go through
//! [`escape::yaml_comment`]. Both engines get what the production compose file gives one
//! container (the non-root user, a read-only root filesystem with writable `/tmp`, no
//! capabilities, a writable data folder when the notebook trains at start), and probes on the
//! routes the service already has: `/health` for liveness, `/ready` for readiness.
//!
//! The files are not Tera templates, so `--templates` cannot replace them: a team changes them
//! with a kustomize overlay or a compose override file, which survive regenerating.

mod kubernetes;
mod swarm;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::escape;
use crate::plan::ServicePlan;
use crate::render::{Content, OutputFile};

/// Which orchestrators to write files for, and how many replicas they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Targets {
    pub kubernetes: bool,
    pub swarm: bool,
    /// Replicas of the service: the Deployment's and the stack's, and the autoscaler's floor.
    pub replicas: u16,
}

impl Default for Targets {
    fn default() -> Self {
        Targets {
            kubernetes: false,
            swarm: false,
            replicas: DEFAULT_REPLICAS,
        }
    }
}

/// Two replicas: the fewest that keep serving while one is replaced or its node drains.
pub const DEFAULT_REPLICAS: u16 = 2;

/// The folder of the Kubernetes manifests, in the output folder.
pub const KUBERNETES_DIR: &str = "deploy/kubernetes";

/// The stack file, in the output folder.
pub const STACK_FILE: &str = "deploy/swarm/stack.yaml";

/// The user the image runs as (the Dockerfile's `USER 10001:10001`).
pub const IMAGE_USER: u32 = 10001;

/// What one replica asks for and may use. A heuristic, not a measurement of the notebook:
/// a worker process that has imported pandas and scikit-learn and loaded a small model holds
/// about 200 MB, so each worker gets 256 MiB on a 256 MiB base, and the limit is twice that;
/// a worker keeps one core busy at most, so the CPU limit is one core per worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    pub memory_request_mib: u32,
    pub memory_limit_mib: u32,
    /// Thousandths of a core.
    pub cpu_request_milli: u32,
    pub cpu_limit_milli: u32,
}

impl Resources {
    /// The sizes for a service with `workers` uvicorn processes.
    pub fn for_workers(workers: u16) -> Resources {
        let workers = u32::from(workers.max(1));
        let memory_request_mib = 256 + 256 * workers;
        Resources {
            memory_request_mib,
            memory_limit_mib: 2 * memory_request_mib,
            cpu_request_milli: 250 * workers,
            cpu_limit_milli: 1000 * workers,
        }
    }
}

/// The seconds a replica may take until `/ready` answers 200 before the engine gives up on it
/// (a heuristic): loading artifacts baked into the image takes seconds, so five minutes leaves
/// room for a large model on a slow node; training at start runs the whole notebook, so it gets
/// half an hour.
pub fn startup_budget_seconds(plan: &ServicePlan) -> u32 {
    if trains_at_start(plan) {
        30 * 60
    } else {
        5 * 60
    }
}

/// The service writes into its data folder when it runs: it trains (or imports the notebook)
/// at start instead of in the image build, as the production compose file's `data` volume says.
pub fn writes_data(plan: &ServicePlan) -> bool {
    !plan.train_in_build
}

/// The notebook's training runs in each replica when it starts.
fn trains_at_start(plan: &ServicePlan) -> bool {
    plan.train_at == crate::plan::TrainAt::Start && !plan.train_in_build
}

/// The environment the production compose file gives the container: libraries that keep
/// caches or configuration write them under `/tmp`, the only writable place besides data.
pub const WRITABLE_HOME: &[(&str, &str)] = &[
    ("HOME", "/tmp"),
    ("MPLCONFIGDIR", "/tmp/matplotlib"),
    ("XDG_CACHE_HOME", "/tmp/cache"),
];

/// The settings the notebook reads that have a default: (name, value), as the compose files
/// set them. Credentials never have one here.
pub fn settings_with_defaults(plan: &ServicePlan) -> Vec<(&str, &str)> {
    plan.settings
        .iter()
        .filter(|s| !s.secret)
        .filter_map(|s| Some((s.name.as_str(), s.default.as_deref()?)))
        .collect()
}

crate::render::contract::view_struct! {
    /// What the generated README says about the orchestrators; `None` when none was asked for.
    /// The names are DNS labels (lowercase letters, digits, `-`), safe to show in code as they are.
    pub struct DeployView {
        /// `--kubernetes` was given: `deploy/kubernetes/` is written.
        kubernetes: bool,
        /// `--swarm` was given: `deploy/swarm/stack.yaml` is written.
        swarm: bool,
        /// The replicas each orchestrator runs (`--replicas`).
        replicas: u16,
        /// The Deployment's and the Service's name.
        kubernetes_name: String,
        /// The Secret the team creates when the service reads credentials.
        credentials_secret: String,
        /// The service reads `.env`: credentials, or a `.env` the notebook loads.
        reads_env_file: bool,
        /// The seconds a replica has until `/ready` answers.
        startup_seconds: u32,
        /// Each replica writes its own data folder (an emptyDir, a volume per task slot).
        writes_data: bool,
        /// Each replica trains when it starts.
        trains_at_start: bool,
        /// The most replicas the HorizontalPodAutoscaler scales to.
        max_replicas: u32,
    }
}

/// The README's view of `plan.deploy`.
pub fn view(plan: &ServicePlan) -> Option<DeployView> {
    let targets = plan.deploy;
    (targets.kubernetes || targets.swarm).then(|| DeployView {
        kubernetes: targets.kubernetes,
        swarm: targets.swarm,
        replicas: targets.replicas,
        kubernetes_name: kubernetes::app_name(&plan.name),
        credentials_secret: kubernetes::credentials_secret(&plan.name),
        reads_env_file: !plan.credentials.is_empty() || plan.loads_dotenv.is_some(),
        startup_seconds: startup_budget_seconds(plan),
        writes_data: writes_data(plan),
        trains_at_start: trains_at_start(plan),
        max_replicas: kubernetes::max_replicas(targets.replicas),
    })
}

/// The image both engines run: the one the compose files build.
pub fn image(plan: &ServicePlan) -> String {
    format!("{}:latest", plan.name)
}

/// The files for the orchestrators `plan.deploy` asks for.
pub fn files(plan: &ServicePlan) -> Result<Vec<OutputFile>> {
    let mut files = Vec::new();
    if plan.deploy.kubernetes {
        for (name, text) in kubernetes::manifests(plan)? {
            files.push(OutputFile {
                path: format!("{KUBERNETES_DIR}/{name}"),
                content: Content::Text(text),
            });
        }
    }
    if plan.deploy.swarm {
        files.push(OutputFile {
            path: STACK_FILE.into(),
            content: Content::Text(swarm::stack(plan)?),
        });
    }
    Ok(files)
}

/// `value` as a YAML document under `header`, one comment line per entry; the entries' user
/// parts must already be escaped with [`escape::yaml_comment`] (each is made one line here too).
fn yaml_document(header: &[String], value: &impl Serialize, what: &str) -> Result<String> {
    let mut text = String::new();
    for line in header {
        let line = escape::yaml_comment(line);
        if line.is_empty() {
            text.push_str("#\n");
        } else {
            text.push_str(&format!("# {line}\n"));
        }
    }
    text.push_str(&serde_yaml::to_string(value).with_context(|| format!("serializing {what}"))?);
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_grow_with_workers_and_limit_twice_the_request() {
        let one = Resources::for_workers(1);
        assert_eq!(one.memory_request_mib, 512);
        assert_eq!(one.memory_limit_mib, 1024);
        assert_eq!(one.cpu_limit_milli, 1000);
        let two = Resources::for_workers(2);
        assert_eq!(two.memory_request_mib, 768);
        assert_eq!(two.cpu_request_milli, 500);
        assert_eq!(Resources::for_workers(0), one, "at least one worker");
    }

    #[test]
    fn a_header_line_cannot_break_out_of_its_comment() {
        let text = yaml_document(
            &["title\nkind: Secret".into(), String::new()],
            &serde_json::json!({"a": 1}),
            "a test",
        )
        .unwrap();
        assert_eq!(text, "# title\\nkind: Secret\n#\na: 1\n");
    }
}
