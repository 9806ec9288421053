#!/usr/bin/env bash
# Benchmark the image build of the penguins example: the locked uv build nb2svc generates now
# against the pip build it generated before (issue 10), side by side in one run.
#
# Usage: scripts/bench-build.sh
# Environment: BENCH_ROUNDS (2: cold builds of each, taking turns; each figure is the median),
#              BENCH_OUT (target/bench-build), NB2SVC_BASE_IMAGE (python:3.11-slim),
#              BENCH_PIP_TEMPLATE_REV (55f46ca: the commit whose templates/Dockerfile is the
#              pip build; rendered by today's nb2svc through --templates),
#              BENCH_STORAGE (empty: the running engine; vfs: a private engine with the vfs
#              storage driver, started on its own socket, data root and bridge, with the base
#              image copied in from the running engine, and stopped on exit; needs root).
#
# Needs: a Docker engine, the base image, uv with PyPI reachable, git, cargo. Builds with the
# classic builder (DOCKER_BUILDKIT=0) and `--network host`, as the tests do; images are named
# nb2svc-bench-build-* and removed on exit, pass or fail.
#
# What it measures:
#   1. generation with locking: `nb2svc --lock` into a fresh folder, uv's cache warm (median
#      of 3), and `--no-lock` for comparison;
#   2. cold builds (`docker build --no-cache`): pip (the previous Dockerfile, unlocked
#      requirements) and uv (the lock, --require-hashes), taking turns for BENCH_ROUNDS rounds;
#   3. a rebuild after a comment is appended to app/main.py, for both, and whether the
#      training step ran again.
# Results: a table on stdout and in $BENCH_OUT/results.md; build logs in $BENCH_OUT/*.log.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
ROUNDS="${BENCH_ROUNDS:-2}"
OUT="${BENCH_OUT:-$repo/target/bench-build}"
BASE_IMAGE="${NB2SVC_BASE_IMAGE:-python:3.11-slim}"
PIP_REV="${BENCH_PIP_TEMPLATE_REV:-55f46ca}"
case "${1:-}" in
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d'; exit 0 ;;
    "") ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
esac

log() { printf '[bench-build] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
percent() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f %%", 100 * a / b }'; }

for tool in docker uv git cargo; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done
docker info >/dev/null 2>&1 || die "no Docker engine answers"
docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || die "base image $BASE_IMAGE is missing (scripts/provision.sh)"

# A private vfs engine. Its own bridge: an engine started with --bridge=none deletes the
# running engine's docker0. Builds use --network host, so the bridge carries nothing.
VFS_ROOT=/var/lib/nb2svc-bench-vfs VFS_RUN=/run/nb2svc-bench-vfs VFS_BRIDGE=nb2svc-vfs0
stop_vfs_engine() {
    [ -f "$VFS_RUN/dockerd.pid" ] && kill "$(cat "$VFS_RUN/dockerd.pid")" 2>/dev/null
    for _ in $(seq 30); do [ -f "$VFS_RUN/dockerd.pid" ] || break; sleep 1; done
    ip link delete "$VFS_BRIDGE" 2>/dev/null || true
}
start_vfs_engine() {
    mkdir -p "$VFS_ROOT" "$VFS_RUN"
    ip link show "$VFS_BRIDGE" >/dev/null 2>&1 || {
        ip link add "$VFS_BRIDGE" type bridge
        ip addr add 172.31.254.1/24 dev "$VFS_BRIDGE"
        ip link set "$VFS_BRIDGE" up
    }
    setsid dockerd --storage-driver=vfs --data-root="$VFS_ROOT" --exec-root="$VFS_RUN/exec" \
        --pidfile="$VFS_RUN/dockerd.pid" -H "unix://$VFS_RUN/docker.sock" \
        --bridge="$VFS_BRIDGE" --iptables=false --ip-masq=false \
        >"$VFS_RUN/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 60); do
        DOCKER_HOST="unix://$VFS_RUN/docker.sock" docker info >/dev/null 2>&1 && break
        sleep 1
    done
    DOCKER_HOST="unix://$VFS_RUN/docker.sock" docker info >/dev/null 2>&1 \
        || die "the vfs engine did not start (log: $VFS_RUN/dockerd.log)"
    docker save "$BASE_IMAGE" | DOCKER_HOST="unix://$VFS_RUN/docker.sock" docker load >/dev/null
    export DOCKER_HOST="unix://$VFS_RUN/docker.sock"
}

PIP_IMAGE=nb2svc-bench-build-pip
UV_IMAGE=nb2svc-bench-build-uv
export DOCKER_BUILDKIT=0
cleanup() {
    set +e
    docker image rm -f "$PIP_IMAGE:latest" "$UV_IMAGE:latest" >/dev/null 2>&1
    # Untagged images earlier builds of these tags left behind.
    # Every image a build made, the untagged ones an earlier build of the same tag left too
    # (recorded by --iidfile: a --label would add one more step, a whole image copy on vfs).
    cat "$OUT"/*.iid 2>/dev/null | sort -u | xargs -r docker image rm -f >/dev/null 2>&1
    [ "${BENCH_STORAGE:-}" != vfs ] || stop_vfs_engine
}
trap cleanup EXIT
case "${BENCH_STORAGE:-}" in
    "") ;;
    vfs) start_vfs_engine ;;
    *) die "BENCH_STORAGE=${BENCH_STORAGE}: expected vfs or nothing" ;;
esac

rm -rf "$OUT"
mkdir -p "$OUT/pip-templates"
cd "$repo"
log "machine: $(nproc) cores, docker engine $(docker version -f '{{.Server.Version}}'), storage $(docker info -f '{{.Driver}}'), $(uv --version)"
cargo build --quiet --release
NB2SVC="$repo/target/release/nb2svc"
NOTEBOOK=examples/penguins/penguins.ipynb
REQUIREMENTS=examples/penguins/requirements.txt
git show "$PIP_REV:templates/Dockerfile" >"$OUT/pip-templates/Dockerfile"

# --- 1. generation ------------------------------------------------------------------------------
"$NB2SVC" "$NOTEBOOK" -r "$REQUIREMENTS" -o "$OUT/warm-up" --lock -q  # fills uv's cache
LOCKED_TIMES=() UNLOCKED_TIMES=()
for i in 1 2 3; do
    t0=$(now)
    "$NB2SVC" "$NOTEBOOK" -r "$REQUIREMENTS" -o "$OUT/gen-locked-$i" --lock -q
    LOCKED_TIMES+=("$(since "$t0")")
    t0=$(now)
    "$NB2SVC" "$NOTEBOOK" -r "$REQUIREMENTS" -o "$OUT/gen-unlocked-$i" --no-lock -q
    UNLOCKED_TIMES+=("$(since "$t0")")
done
GEN_LOCKED=$(printf '%s\n' "${LOCKED_TIMES[@]}" | median)
GEN_UNLOCKED=$(printf '%s\n' "${UNLOCKED_TIMES[@]}" | median)
log "generation: --lock ${GEN_LOCKED} s (${LOCKED_TIMES[*]}), --no-lock ${GEN_UNLOCKED} s"

# The two services: today's locked uv build, and the previous pip Dockerfile on the unlocked
# requirements (what nb2svc generated before the lock).
"$NB2SVC" "$NOTEBOOK" -r "$REQUIREMENTS" -o "$OUT/uv" --lock -q
"$NB2SVC" "$NOTEBOOK" -r "$REQUIREMENTS" -o "$OUT/pip" --no-lock -q --templates "$OUT/pip-templates"
grep -q 'RUN pip install --no-cache-dir -r requirements.txt' "$OUT/pip/Dockerfile" || die "the pip Dockerfile is not the previous one"
grep -q -- '--require-hashes' "$OUT/uv/Dockerfile" || die "the uv Dockerfile does not require hashes"
PACKAGES=$(grep -c '^[a-z0-9].*==' "$OUT/uv/requirements.txt")

build() { # build KIND LOGNAME [--no-cache]: prints seconds
    local kind=$1 name=$2 t0
    shift 2
    t0=$(now)
    (cd "$OUT/$kind" && docker build --network host --iidfile "$OUT/$name.iid" "$@" \
        -t "nb2svc-bench-build-$kind:latest" .) >"$OUT/$name.log" 2>&1 \
        || { tail -n 40 "$OUT/$name.log" >&2; die "$name failed"; }
    since "$t0"
}
trained_again() { # trained_again LOG: yes when the training step ran
    awk '/^Step .*RUN python -m app.notebook/ { step = 1; next } step && /^Step / { exit } step && /Using cache/ { cached = 1 } END { print cached ? "no" : "yes" }' "$1"
}

# --- 2. cold builds, taking turns ---------------------------------------------------------------
PIP_COLD=() UV_COLD=()
for round in $(seq "$ROUNDS"); do
    PIP_COLD+=("$(build pip "pip-cold-$round" --no-cache)")
    UV_COLD+=("$(build uv "uv-cold-$round" --no-cache)")
    log "round $round: pip ${PIP_COLD[-1]} s, uv ${UV_COLD[-1]} s"
done
PIP=$(printf '%s\n' "${PIP_COLD[@]}" | median)
UV=$(printf '%s\n' "${UV_COLD[@]}" | median)

# --- 3. an edit of app/main.py ------------------------------------------------------------------
for kind in pip uv; do
    printf '\n# bench: an edit of the serving code\n' >>"$OUT/$kind/app/main.py"
done
PIP_EDIT=$(build pip pip-edit)
UV_EDIT=$(build uv uv-edit)
PIP_RETRAINED=$(trained_again "$OUT/pip-edit.log")
UV_RETRAINED=$(trained_again "$OUT/uv-edit.log")
PIP_SIZE=$(docker image inspect -f '{{.Size}}' "$PIP_IMAGE:latest" | awk '{ printf "%.0f MB", $1 / 1e6 }')
UV_SIZE=$(docker image inspect -f '{{.Size}}' "$UV_IMAGE:latest" | awk '{ printf "%.0f MB", $1 / 1e6 }')

{
    echo "| figure | pip (previous Dockerfile, unlocked) | uv (lock, --require-hashes) |"
    echo "|---|---:|---:|"
    echo "| cold build (\`docker build --no-cache\`), median of $ROUNDS | $PIP s (${PIP_COLD[*]}) | $UV s (${UV_COLD[*]}) |"
    echo "| cold build, pip / uv | | $(ratio "$PIP" "$UV") x faster |"
    echo "| rebuild after an edit of \`app/main.py\` | $PIP_EDIT s ($(percent "$PIP_EDIT" "$PIP") of cold) | $UV_EDIT s ($(percent "$UV_EDIT" "$UV") of cold) |"
    echo "| training ran again in that rebuild | $PIP_RETRAINED | $UV_RETRAINED |"
    echo "| image size | $PIP_SIZE | $UV_SIZE |"
    echo "| generation (\`nb2svc\`, release build), median of 3 | $GEN_UNLOCKED s (\`--no-lock\`) | $GEN_LOCKED s (\`--lock\`, uv's cache warm; $PACKAGES packages) |"
} | tee "$OUT/results.md"
