//! The slice of the Compose specification that a `docker run` command maps to, as typed
//! structs that serialize (with serde_yaml) to a compose file.
//!
//! Field order is the order keys appear in the file; maps are `BTreeMap`s, so the output is
//! deterministic. Every string a user typed is stored already escaped for compose interpolation
//! (`$` doubled) by the conversion; these types do no escaping of their own. Empty lists and
//! unset options are left out of the file.

use serde::Serialize;
use std::collections::BTreeMap;

/// A whole compose file: `services:` and the top-level `volumes:` and `networks:` they use (no
/// obsolete `version:` key).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ComposeFile {
    /// The services by name.
    pub services: BTreeMap<String, Service>,
    /// Named volumes the services mount, each with default settings (`name: {}`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, BTreeMap<String, String>>,
    /// Networks the services join.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
}

/// A top-level network entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Network {
    /// `true`: the network exists outside this project and compose will not create it.
    pub external: bool,
}

/// One service, with the compose keys `docker run` flags map to.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Service {
    /// `IMAGE` of `docker run`.
    pub image: String,
    /// `--name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// `--platform`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `--pull`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<String>,
    /// `--entrypoint`, as an exec-form list (empty: the image's entrypoint is cleared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `COMMAND [ARG...]` after the image, as an exec-form list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// `-w/--workdir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `-u/--user`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `-h/--hostname`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `-i/--interactive`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin_open: Option<bool>,
    /// `-t/--tty`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    /// `--init`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// `--privileged`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// `--read-only`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// `-p/--publish`, in the short syntax (`[IP:][HOST:]CONTAINER[/PROTOCOL]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    /// `--expose`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    /// `-v/--volume` (short syntax) and `--mount` (long syntax), in command order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// `--tmpfs`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    /// `-e/--env`, as `KEY=VALUE` or a bare `KEY` (taken from the environment).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<String>,
    /// `--env-file`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_file: Vec<String>,
    /// `--network host|none|bridge|container:NAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// `--network NAME` (declared external at the top level).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
    /// `--add-host`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// `--dns`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// `--restart` (left out for the default, `no`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// `-l/--label`, as `KEY=VALUE`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// `--cap-add`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// `--security-opt`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    /// `--device`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    /// `--group-add`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    /// `--sysctl`, as `KEY=VALUE`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sysctls: Vec<String>,
    /// `--ipc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    /// `--pid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// `--shm-size`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<String>,
    /// `-m/--memory`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<String>,
    /// `--cpus`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// `--stop-signal`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `--gpus`, as device reservations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
}

/// One entry of a service's `volumes:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Volume {
    /// `SOURCE:TARGET[:OPTIONS]` or an anonymous `TARGET`, from `-v`.
    Short(String),
    /// The long syntax, from `--mount`.
    Long(Mount),
}

/// A volume in the long syntax.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Mount {
    /// `bind`, `volume` or `tmpfs`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Host path or volume name (none for tmpfs and anonymous volumes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Path inside the container.
    pub target: String,
    /// Mounted read-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// macOS consistency hint (`consistent`, `cached`, `delegated`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    /// Bind options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<BindOptions>,
    /// Volume options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeOptions>,
    /// Tmpfs options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsOptions>,
}

/// `bind:` options of a long-syntax volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BindOptions {
    /// `bind-propagation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
}

/// `volume:` options of a long-syntax volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VolumeOptions {
    /// `volume-nocopy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nocopy: Option<bool>,
    /// `volume-subpath`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// `tmpfs:` options of a long-syntax volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TmpfsOptions {
    /// `tmpfs-size`, as written (`64m`, or bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// `tmpfs-mode`, the octal permission bits as a number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// `deploy:` — only GPU reservations are produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Deploy {
    /// `deploy.resources`.
    pub resources: Resources,
}

/// `deploy.resources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resources {
    /// `deploy.resources.reservations`.
    pub reservations: Reservations,
}

/// `deploy.resources.reservations`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reservations {
    /// One entry per `--gpus` flag.
    pub devices: Vec<Device>,
}

/// A device reservation (`--gpus`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Device {
    /// The device driver, `nvidia` unless `--gpus driver=…` says otherwise.
    pub driver: String,
    /// How many GPUs (`all` or a number); absent when `device_ids` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<GpuCount>,
    /// Which GPUs, by index or UUID.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_ids: Vec<String>,
    /// Requested capabilities; always holds `gpu`.
    pub capabilities: Vec<String>,
}

/// `count:` of a device reservation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum GpuCount {
    /// `all`.
    All(AllGpus),
    /// A number of GPUs.
    Number(u64),
}

/// The word `all`, as a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllGpus;

impl Serialize for AllGpus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("all")
    }
}
