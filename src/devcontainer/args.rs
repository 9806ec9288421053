//! The flags of `nb2svc compose` and `nb2svc devcontainer`, as clap sees them. They are checked
//! and turned into options once, by [`super::run`] and [`super::run_compose`].

use std::path::PathBuf;

use clap::{Args, ValueEnum};

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
