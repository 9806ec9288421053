//! The command line, as clap sees it: every clap type of nb2svc is here. Nothing here decides
//! anything: `lib::convert`, `compose::run` and `devcontainer::run` each turn their raw flags
//! into checked options once, and no clap type travels further than that.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::plan::TrainAt;

/// Turn a Jupyter notebook and its requirements into a containerized FastAPI service.
#[derive(Debug, Parser)]
#[command(
    name = "nb2svc",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Example: nb2svc model.ipynb --requirements requirements.txt"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub convert: ConvertArgs,
}

/// `nb2svc NOTEBOOK ...`: the main job.
#[derive(Debug, Args)]
// `--replicas` means nothing without an orchestrator to run them.
#[command(group(clap::ArgGroup::new("orchestrator").args(["kubernetes", "swarm"]).multiple(true)))]
pub struct ConvertArgs {
    /// The notebook (.ipynb, nbformat 3 or 4; a regular file of at most 512 MiB).
    #[arg(required = true)]
    pub notebook: Option<PathBuf>,
    /// requirements.txt, environment.yml, Pipfile or pyproject.toml (at most 16 MiB, each
    /// include too). Without it the requirements come from the notebook's imports alone.
    #[arg(short, long, value_name = "FILE")]
    pub requirements: Option<PathBuf>,
    /// Lock the requirements with uv (exact versions and hashes, for the image's Python and
    /// platform) or fail: a missing uv or package index is an error [default: lock when uv is
    /// installed and the index answers, else say that it is not locked; NB2SVC_LOCK=auto|yes|no
    /// sets the default].
    #[arg(long, conflicts_with = "no_lock")]
    pub lock: bool,
    /// Do not lock: requirements.txt lists what the service needs, and the image installs
    /// whatever versions it allows when it is built.
    #[arg(long)]
    pub no_lock: bool,
    /// Choose the newest versions the requirements allow, instead of keeping those of the lock
    /// already in the output folder (with --force, to replace it).
    #[arg(long, conflicts_with = "no_lock")]
    pub upgrade_lock: bool,
    /// The Dockerfile keeps uv's download cache between builds in a BuildKit cache mount
    /// (`RUN --mount=type=cache`): faster rebuilds after a requirements change, but the image
    /// then needs BuildKit (`DOCKER_BUILDKIT=1`); the default Dockerfile builds with either
    /// builder.
    #[arg(long)]
    pub buildkit_cache: bool,
    /// Output folder [default: NOTEBOOK-service in the current folder].
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Service name, used for the compose service and the image [default: from the notebook's name].
    #[arg(long)]
    pub name: Option<String>,
    /// Port published on the host.
    #[arg(short, long, default_value_t = 8000)]
    pub port: u16,
    /// Port uvicorn listens on inside the container.
    #[arg(long, default_value_t = 80)]
    pub container_port: u16,
    /// Host address the development compose file publishes the port on; `0.0.0.0` opens it to
    /// the network (the production file always publishes on every interface).
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDRESS")]
    pub dev_address: std::net::IpAddr,
    /// The Python the service runs, MAJOR.MINOR (3.9 to 3.15): builds on python:X.Y-slim
    /// [default: the version the notebook's metadata records, else 3.11].
    #[arg(long, value_name = "X.Y")]
    pub python: Option<String>,
    /// Base image of the Dockerfile, used as given: a Docker reference,
    /// [HOST[:PORT]/]NAME[:TAG][@DIGEST]. A python image's tag says its Python; with --python
    /// too, the two must agree [default: python:X.Y-slim for the chosen Python].
    #[arg(long, value_name = "IMAGE")]
    // The brackets are the help text's grammar, not links.
    #[allow(rustdoc::broken_intra_doc_links)]
    pub base_image: Option<String>,
    /// Serve this top-level function as POST /NAME (repeatable) [default: `predict` if defined].
    #[arg(short, long = "endpoint", value_name = "FUNC")]
    pub endpoints: Vec<String>,
    /// When the notebook's training code runs.
    #[arg(long, value_enum, default_value_t = TrainAtArg::Build)]
    pub train_at: TrainAtArg,
    /// uvicorn worker processes in the image (WEB_CONCURRENCY; each loads the models once)
    /// [default: 2, or 1 when the notebook trains at start].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: Option<u16>,
    /// Ship this file or folder in the service's data folder too (repeatable): for what the
    /// notebook reads through a path nb2svc cannot know before it runs. It must be inside the
    /// project folder, and keeps its place there.
    #[arg(long = "include", value_name = "PATH")]
    pub includes: Vec<PathBuf>,
    /// The notebook's project folder, which the service's data folder stands for: relative
    /// paths that leave the notebook's folder through `..` are shipped when they stay inside it
    /// [default: the git work tree that holds the notebook, else the notebook's folder].
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Replace built-in templates with same-named files from this folder (any other file
    /// name in it is an error).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Also write Kubernetes manifests into deploy/kubernetes/: a Deployment, Service,
    /// HorizontalPodAutoscaler, PodDisruptionBudget, a ConfigMap of the notebook's settings and a
    /// kustomization.yaml.
    #[arg(long)]
    pub kubernetes: bool,
    /// Also write a Docker Swarm stack file, deploy/swarm/stack.yaml, for `docker stack deploy`.
    #[arg(long)]
    pub swarm: bool,
    /// Replicas the Kubernetes Deployment and the Swarm stack run (the autoscaler's floor).
    #[arg(long, value_name = "N", default_value_t = crate::deploy::DEFAULT_REPLICAS,
          requires = "orchestrator", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub replicas: u16,
    /// Fail when the notebook imports a package the requirements do not list.
    #[arg(long)]
    pub strict: bool,
    /// Overwrite generated files that differ from what is on disk.
    #[arg(short, long)]
    pub force: bool,
    /// Print the plan and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print only errors.
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,
    /// Print a machine-readable report (JSON) on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the built-in templates into a folder, to edit and pass back with --templates.
    Templates {
        /// Folder to write them into (created if missing; existing files are kept).
        dir: PathBuf,
    },
    /// Write the docker-compose.yaml equivalent to a `docker run` command line.
    Compose(ComposeArgs),
    /// Write a Jupyter dev container (compose, devcontainer.json, .env token, and a Dockerfile
    /// with what the image lacks) around notebooks.
    Devcontainer(DevcontainerArgs),
}

/// `--train-at`: when the notebook's training code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrainAtArg {
    /// During the image build: the image carries the artifacts and starts fast.
    Build,
    /// Once when the service starts.
    Start,
}

/// The one place `--train-at` becomes the plan's choice, so the plan needs no clap.
impl From<TrainAtArg> for TrainAt {
    fn from(arg: TrainAtArg) -> Self {
        match arg {
            TrainAtArg::Build => TrainAt::Build,
            TrainAtArg::Start => TrainAt::Start,
        }
    }
}

/// `nb2svc compose`: a `docker run` command line as a compose file.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    nb2svc compose -- docker run -it --rm -p 8888:8888 -v \"$PWD\":/work jupyter/base-notebook:2023-10-20\n  \
    nb2svc compose --stdout --command 'docker run -p 8888:8888 tensorflow/tfx:1.12.0'")]
pub struct ComposeArgs {
    /// The docker run command as one string (quoted as a shell would), instead of trailing arguments.
    #[arg(long, value_name = "TEXT", conflicts_with = "docker_run")]
    pub command: Option<String>,
    /// The compose file to write.
    #[arg(
        short,
        long,
        value_name = "FILE",
        default_value = "docker-compose.yaml"
    )]
    pub out: PathBuf,
    /// Print the compose file on stdout instead of writing it.
    #[arg(long, conflicts_with_all = ["out", "force"])]
    pub stdout: bool,
    /// Overwrite FILE when it exists with other contents.
    #[arg(short, long)]
    pub force: bool,
    /// The command after `--`: `docker run [OPTIONS] IMAGE [COMMAND] [ARG...]`.
    #[arg(last = true, value_name = "DOCKER_RUN", allow_hyphen_values = true)]
    pub docker_run: Vec<String>,
}

/// Images with a known Jupyter setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// The course's TensorFlow Extended image: `docker run -it --name tfx --rm -p 8888:8888
    /// -p 6006:6006 -v $PWD:/tfx/src --entrypoint /run_jupyter.sh tensorflow/tfx:1.12.0`.
    Tfx,
}

/// `nb2svc devcontainer`: a Jupyter development container around notebooks.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    nb2svc devcontainer . --preset tfx\n  \
    nb2svc devcontainer analysis.ipynb --image quay.io/jupyter/scipy-notebook:2024-07-29 -r requirements.txt")]
pub struct DevcontainerArgs {
    /// Notebooks, or folders whose .ipynb files (searched recursively) are used.
    #[arg(required = true, value_name = "NOTEBOOK_OR_DIR")]
    pub paths: Vec<PathBuf>,
    /// A known image and its Jupyter launcher.
    #[arg(long, value_enum, conflicts_with = "image")]
    pub preset: Option<Preset>,
    /// Any image with Jupyter installed, by a pinned tag or digest (not :latest).
    #[arg(long, value_name = "IMAGE", required_unless_present = "preset")]
    pub image: Option<String>,
    /// The program that starts Jupyter in IMAGE, receiving the token as an argument
    /// [default: `jupyter lab` with nb2svc's arguments].
    #[arg(long, value_name = "PROGRAM", conflicts_with = "preset")]
    pub entrypoint: Option<String>,
    /// Where the container mounts the work folder [default: /work; /tfx/src for tfx].
    #[arg(long, value_name = "PATH", conflicts_with = "preset")]
    pub workdir: Option<String>,
    /// Versions for what the image lacks (requirements.txt, environment.yml, Pipfile,
    /// pyproject.toml); its packages are installed when the image lacks them.
    #[arg(short, long, value_name = "FILE")]
    pub requirements: Option<PathBuf>,
    /// The folder to write into, which becomes the container's work folder
    /// [default: the first NOTEBOOK_OR_DIR, or the folder holding it].
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Host port for Jupyter (published on 127.0.0.1 only).
    #[arg(long, default_value_t = 8888, value_name = "PORT")]
    pub jupyter_port: u16,
    /// Host port for TensorBoard (published on 127.0.0.1 only).
    #[arg(long, default_value_t = 6006, value_name = "PORT")]
    pub tensorboard_port: u16,
    /// Run the image once to find what it already has (the default when a Docker engine answers).
    #[arg(long, overrides_with = "no_probe")]
    pub probe: bool,
    /// Do not run the image: the Dockerfile installs everything the notebooks need.
    #[arg(long)]
    pub no_probe: bool,
    /// Keep the image's own user (often root) instead of running as you; files the container
    /// creates in the work folder then belong to that user.
    #[arg(long)]
    pub image_user: bool,
    /// Overwrite generated files that differ from what is on disk (.env, .gitignore and your
    /// README text are never overwritten).
    #[arg(short, long)]
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
