//! Reads the values of `docker run` flags that have a grammar of their own: port mappings,
//! `-v` and `--mount` volumes, `--gpus`, `--restart`, container names and host-path prefixes
//! such as `$PWD`. Each function checks the value the way docker would and returns its parts
//! unescaped; escaping for compose and building the compose structs is left to the conversion.

use anyhow::{bail, Context, Result};

/// A shell-expanded prefix of a host path that compose can express itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HostPrefix {
    /// `$PWD`, `${PWD}`, `$(pwd)`, `` `pwd` `` (and PowerShell's `$pwd`, cmd's `%cd%`): `.`.
    Pwd,
    /// `$HOME`, `${HOME}`: `~`, which compose expands.
    Home,
    /// Another `$NAME` or `${NAME}`: `${NAME}`, which compose reads from the environment.
    Variable(String),
}

impl HostPrefix {
    /// What the prefix becomes in the compose file.
    pub(super) fn replacement(&self) -> String {
        match self {
            HostPrefix::Pwd => ".".to_owned(),
            HostPrefix::Home => "~".to_owned(),
            HostPrefix::Variable(name) => format!("${{{name}}}"),
        }
    }
}

/// Splits a shell prefix off a host path: `$PWD/data` → (`Pwd`, `/data`). The prefix must be
/// the whole path or be followed by a path separator.
pub(super) fn host_prefix(path: &str) -> (Option<HostPrefix>, &str) {
    const PWD: [&str; 8] = [
        "$PWD", "${PWD}", "$(pwd)", "`pwd`", "$pwd", "${pwd}", "%cd%", "%CD%",
    ];
    const HOME: [&str; 2] = ["$HOME", "${HOME}"];
    let ends_prefix = |rest: &str| rest.is_empty() || rest.starts_with(['/', '\\']);
    for (forms, prefix) in [(&PWD[..], HostPrefix::Pwd), (&HOME[..], HostPrefix::Home)] {
        for form in forms {
            if let Some(rest) = path.strip_prefix(form).filter(|rest| ends_prefix(rest)) {
                return (Some(prefix), rest);
            }
        }
    }
    let variable = if let Some(braced) = path.strip_prefix("${") {
        braced
            .split_once('}')
            .filter(|(name, rest)| is_variable(name) && ends_prefix(rest))
    } else if let Some(bare) = path.strip_prefix('$') {
        let end = bare.find(['/', '\\']).unwrap_or(bare.len());
        Some(bare.split_at(end)).filter(|(name, _)| is_variable(name))
    } else {
        None
    };
    match variable {
        Some((name, rest)) => (Some(HostPrefix::Variable(name.to_owned())), rest),
        None => (None, path),
    }
}

fn is_variable(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A `-v` value split into its parts.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ShortVolume<'a> {
    /// Host path or volume name; `None` for an anonymous volume.
    pub(super) source: Option<&'a str>,
    pub(super) target: &'a str,
    pub(super) options: Option<&'a str>,
}

/// Reads `[SOURCE:]TARGET[:OPTIONS]`, keeping a Windows drive (`C:\data`) in the source.
pub(super) fn split_volume(spec: &str) -> Result<ShortVolume<'_>> {
    let bytes = spec.as_bytes();
    let drive = bytes.len() > 2
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && matches!(bytes[2], b'\\' | b'/');
    let skip = if drive { 2 } else { 0 };
    let colons: Vec<usize> = spec
        .match_indices(':')
        .map(|(index, _)| index)
        .filter(|&index| index >= skip)
        .collect();
    let volume = match colons[..] {
        [] => ShortVolume {
            source: None,
            target: spec,
            options: None,
        },
        [first] => ShortVolume {
            source: Some(&spec[..first]),
            target: &spec[first + 1..],
            options: None,
        },
        [first, second] => ShortVolume {
            source: Some(&spec[..first]),
            target: &spec[first + 1..second],
            options: Some(&spec[second + 1..]),
        },
        _ => bail!("invalid volume `{spec}`: expected SOURCE:TARGET[:OPTIONS]"),
    };
    if !volume.target.starts_with('/') {
        bail!(
            "invalid volume `{spec}`: the container path `{}` must be absolute",
            volume.target
        );
    }
    if volume.source == Some("") {
        bail!("invalid volume `{spec}`: the source is empty");
    }
    for option in volume
        .options
        .into_iter()
        .flat_map(|options| options.split(','))
    {
        const KNOWN: [&str; 14] = [
            "ro",
            "rw",
            "z",
            "Z",
            "nocopy",
            "shared",
            "slave",
            "private",
            "rshared",
            "rslave",
            "rprivate",
            "consistent",
            "cached",
            "delegated",
        ];
        if !KNOWN.contains(&option) {
            bail!("invalid volume `{spec}`: unknown option `{option}` (expected ro, rw, z, Z, nocopy, a propagation or a consistency)");
        }
    }
    Ok(volume)
}

/// Whether a `-v`/`--mount` source (with no shell prefix) names a volume rather than a path.
pub(super) fn is_volume_name(source: &str) -> bool {
    let mut chars = source.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Whether a source is a host path compose will read as one.
pub(super) fn is_host_path(source: &str) -> bool {
    let bytes = source.as_bytes();
    source.starts_with(['/', '.', '~', '\\'])
        || (bytes.len() > 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
}

/// Checks a `-p` value: `[IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]`, ports or ranges.
pub(super) fn check_port(spec: &str) -> Result<()> {
    let invalid = || {
        format!(
            "invalid port mapping `{spec}`: expected [IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], \
             with IPv6 addresses in brackets"
        )
    };
    let (mapping, protocol) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
    if !matches!(protocol, "tcp" | "udp" | "sctp") {
        bail!("{}; `{protocol}` is not tcp, udp or sctp", invalid());
    }
    let (ip, ports) = match mapping.strip_prefix('[') {
        Some(bracketed) => {
            let (ip, ports) = bracketed.split_once("]:").with_context(invalid)?;
            (Some(ip), ports)
        }
        None => match mapping.splitn(3, ':').count() {
            3 => mapping
                .split_once(':')
                .map(|(ip, ports)| (Some(ip), ports))
                .with_context(invalid)?,
            _ => (None, mapping),
        },
    };
    if ip.is_some_and(|ip| {
        ip.is_empty()
            || !ip
                .chars()
                .all(|c| c.is_ascii_hexdigit() || ".:".contains(c))
    }) {
        bail!(invalid());
    }
    let (host, container) = match ports.split_once(':') {
        Some((host, container)) => (Some(host), container),
        None => (None, ports),
    };
    let container = port_range(container).with_context(invalid)?;
    match host {
        Some("") if ip.is_some() => {}
        Some(host) => {
            let host = port_range(host).with_context(invalid)?;
            if container.1 > container.0 && host.1 - host.0 != container.1 - container.0 {
                bail!(
                    "{}; the host and container ranges differ in size",
                    invalid()
                );
            }
        }
        None => {}
    }
    Ok(())
}

/// `N` or `N-M`, ports 1 to 65535.
fn port_range(text: &str) -> Option<(u16, u16)> {
    let port = |text: &str| {
        text.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| text.parse::<u16>().ok())
            .flatten()
            .filter(|&port| port > 0)
    };
    let (start, end) = match text.split_once('-') {
        Some((start, end)) => (port(start)?, port(end)?),
        None => (port(text)?, port(text)?),
    };
    (start <= end).then_some((start, end))
}

/// Checks a `--restart` policy; `None` for `no`, compose's default.
pub(super) fn restart_policy(value: &str) -> Result<Option<String>> {
    let valid = match value.split_once(':') {
        Some(("on-failure", retries)) => {
            !retries.is_empty() && retries.bytes().all(|b| b.is_ascii_digit())
        }
        Some(_) => false,
        None => matches!(value, "no" | "always" | "unless-stopped" | "on-failure"),
    };
    if !valid {
        bail!("invalid restart policy `{value}`: expected no, always, unless-stopped or on-failure[:RETRIES]");
    }
    Ok((value != "no").then(|| value.to_owned()))
}

/// Checks a `--name` the way docker does (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`, optional leading `/`).
pub(super) fn container_name(value: &str) -> Result<&str> {
    let name = value.strip_prefix('/').unwrap_or(value);
    if name.len() < 2 || !is_volume_name(name) {
        bail!("invalid container name `{value}`: expected letters, digits, `_`, `.` or `-`, starting with a letter or digit");
    }
    Ok(name)
}

/// A service name from an image reference: `registry:5000/org/tfx:1.12@sha256:…` → `tfx`.
pub(super) fn service_name_from_image(image: &str) -> String {
    let without_digest = image.split('@').next().unwrap_or(image);
    let repository = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let repository = repository.split(':').next().unwrap_or(repository);
    let name: String = repository
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    if name.is_empty() {
        "app".to_owned()
    } else {
        name.to_owned()
    }
}

/// Splits a comma-separated value where double quotes protect commas (`"device=0,1",driver=x`).
pub(super) fn csv_fields(value: &str) -> Result<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => fields.last_mut().map_or((), |field| field.push(c)),
        }
    }
    if quoted {
        bail!("unbalanced double quote in `{value}`");
    }
    Ok(fields)
}

/// A `--mount` value, checked and split into its parts.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct MountSpec {
    pub(super) kind: String,
    pub(super) source: Option<String>,
    pub(super) target: String,
    pub(super) read_only: bool,
    pub(super) consistency: Option<String>,
    pub(super) propagation: Option<String>,
    pub(super) nocopy: Option<bool>,
    pub(super) subpath: Option<String>,
    pub(super) tmpfs_size: Option<String>,
    pub(super) tmpfs_mode: Option<u32>,
}

/// Reads `type=bind,source=…,target=…,readonly` and the other `--mount` keys compose knows.
pub(super) fn parse_mount(value: &str) -> Result<MountSpec> {
    let mut mount = MountSpec {
        kind: "volume".to_owned(),
        ..MountSpec::default()
    };
    let mut target = None;
    for field in csv_fields(value)? {
        let (key, text) = match field.split_once('=') {
            Some((key, text)) => (key, Some(text)),
            None => (field.as_str(), None),
        };
        let flag = |default: bool| match text {
            None => Ok(default),
            Some(text) => super::flags::parse_bool(text)
                .with_context(|| format!("`--mount {value}`: `{key}` expects true or false")),
        };
        let text = || {
            text.filter(|text| !text.is_empty())
                .map(str::to_owned)
                .with_context(|| format!("`--mount {value}`: `{key}` needs a value"))
        };
        match key {
            "type" => mount.kind = text()?,
            "source" | "src" => mount.source = Some(text()?),
            "target" | "destination" | "dst" => target = Some(text()?),
            "readonly" | "ro" => mount.read_only = flag(true)?,
            "consistency" => mount.consistency = Some(text()?),
            "bind-propagation" => mount.propagation = Some(text()?),
            "volume-nocopy" => mount.nocopy = Some(flag(true)?),
            "volume-subpath" => mount.subpath = Some(text()?),
            "tmpfs-size" => mount.tmpfs_size = Some(text()?),
            "tmpfs-mode" => {
                let mode = text()?;
                let parsed = u32::from_str_radix(&mode, 8).ok().filter(|&bits| bits <= 0o7777);
                mount.tmpfs_mode = Some(parsed.with_context(|| {
                    format!("`--mount {value}`: `tmpfs-mode={mode}` is not an octal mode such as 1777")
                })?);
            }
            _ => bail!("unsupported `--mount` option `{key}` in `{value}`: nb2svc cannot express it in compose"),
        }
    }
    mount.target =
        target.with_context(|| format!("`--mount {value}` needs a target (target=/path)"))?;
    if !mount.target.starts_with('/') {
        bail!(
            "`--mount {value}`: the target `{}` must be an absolute path",
            mount.target
        );
    }
    match (mount.kind.as_str(), &mount.source) {
        ("bind", None) => bail!("`--mount {value}`: a bind mount needs a source"),
        ("tmpfs", Some(_)) => bail!("`--mount {value}`: a tmpfs mount takes no source"),
        ("bind" | "volume" | "tmpfs", _) => {}
        (kind, _) => {
            bail!("`--mount {value}`: unsupported type `{kind}` (expected bind, volume or tmpfs)")
        }
    }
    Ok(mount)
}

/// A `--gpus` request.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct GpuRequest {
    pub(super) driver: Option<String>,
    /// `Some(None)` for `all`, `Some(Some(n))` for a number.
    pub(super) count: Option<Option<u64>>,
    pub(super) device_ids: Vec<String>,
    pub(super) capabilities: Vec<String>,
}

/// Reads `all`, `N`, `device=0,1` (quoted or not), `count=`, `driver=`, `capabilities=`.
pub(super) fn parse_gpus(value: &str) -> Result<GpuRequest> {
    #[derive(Clone, Copy)]
    enum List {
        Devices,
        Capabilities,
    }
    let mut request = GpuRequest::default();
    let mut list = None;
    let count = |text: &str| match text {
        "all" => Ok(None),
        text => text.parse::<u64>().map(Some).with_context(|| {
            format!("invalid `--gpus {value}`: the count `{text}` is not `all` or a number")
        }),
    };
    for (index, field) in csv_fields(value)?.iter().enumerate() {
        match (field.split_once('='), list) {
            (Some(("count", text)), _) => {
                request.count = Some(count(text)?);
                list = None;
            }
            (Some(("driver", text)), _) => {
                request.driver = Some(text.to_owned());
                list = None;
            }
            (Some(("device", text)), _) => {
                request
                    .device_ids
                    .extend(text.split(',').map(str::to_owned));
                list = Some(List::Devices);
            }
            (Some(("capabilities", text)), _) => {
                request
                    .capabilities
                    .extend(text.split(',').map(str::to_owned));
                list = Some(List::Capabilities);
            }
            (None, _) if index == 0 => request.count = Some(count(field)?),
            // `--gpus device=0,1` unquoted: the shell leaves the comma, docker would not.
            (None, Some(List::Devices)) => request.device_ids.push(field.clone()),
            (None, Some(List::Capabilities)) => request.capabilities.push(field.clone()),
            _ => bail!(
                "invalid `--gpus {value}`: expected all, a number, or count=, device=, \
                 driver=, capabilities= fields"
            ),
        }
    }
    request.device_ids.retain(|id| !id.is_empty());
    request
        .capabilities
        .retain(|capability| !capability.is_empty());
    if request.count.is_some() && !request.device_ids.is_empty() {
        bail!("invalid `--gpus {value}`: give either a count or device ids, not both");
    }
    if request.count.is_none() && request.device_ids.is_empty() {
        bail!("invalid `--gpus {value}`: say how many GPUs (all, a number) or which (device=)");
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_shell_prefixes_only_at_a_path_boundary() {
        let variable = |name: &str| Some(HostPrefix::Variable(name.to_owned()));
        assert_eq!(host_prefix("$PWD"), (Some(HostPrefix::Pwd), ""));
        assert_eq!(host_prefix("%cd%\\data"), (Some(HostPrefix::Pwd), "\\data"));
        assert_eq!(host_prefix("${HOME}/x"), (Some(HostPrefix::Home), "/x"));
        assert_eq!(host_prefix("$PWDX/a"), (variable("PWDX"), "/a"));
        assert_eq!(host_prefix("${DATA}"), (variable("DATA"), ""));
        assert_eq!(host_prefix("$(pwd)x"), (None, "$(pwd)x"));
        assert_eq!(host_prefix("${DATA}x/y"), (None, "${DATA}x/y"));
        assert_eq!(host_prefix("$1/a"), (None, "$1/a"));
        assert_eq!(host_prefix("/srv/$PWD"), (None, "/srv/$PWD"));
    }

    #[test]
    fn keeps_a_windows_drive_in_the_volume_source() {
        let volume = split_volume("C:\\Users\\me:/data:ro").unwrap();
        assert_eq!(
            volume,
            ShortVolume {
                source: Some("C:\\Users\\me"),
                target: "/data",
                options: Some("ro")
            }
        );
        assert!(is_host_path("C:\\Users\\me") && is_host_path("~/x") && !is_host_path("models"));
    }

    #[test]
    fn derives_service_names_from_images() {
        for (image, name) in [
            ("tensorflow/tfx:1.12.0", "tfx"),
            ("jupyter/scipy-notebook", "scipy-notebook"),
            ("localhost:5000/team/api@sha256:0123", "api"),
            ("python", "python"),
            ("_weird+name", "weird-name"),
            ("___", "app"),
        ] {
            assert_eq!(service_name_from_image(image), name, "{image}");
        }
    }

    #[test]
    fn reads_restart_policies() {
        assert_eq!(restart_policy("no").unwrap(), None);
        assert_eq!(
            restart_policy("on-failure:5").unwrap().as_deref(),
            Some("on-failure:5")
        );
        assert!(restart_policy("on-failure:").is_err() && restart_policy("sometimes").is_err());
    }
}
