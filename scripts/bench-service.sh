#!/usr/bin/env bash
# Benchmark the service nb2svc generates from examples/penguins against hand-written FastAPI
# services doing the same prediction, all in containers on the same base image.
#
# Usage: scripts/bench-service.sh [--quick]
#   --quick   one 5 s load run per service (a smoke run; the figures are not the reference)
# Environment: BENCH_DURATION (10s), BENCH_ROUNDS (3), BENCH_CONCURRENCY (16),
#              BENCH_OUT (target/bench-service),
#              NB2SVC_BASE_IMAGE (python:3.11-slim; the naive hand-written image uses it too).
#
# Needs: a Docker engine with the compose plugin, the base image, `hey` (scripts/provision.sh
# --bench), curl, cargo. Talks to the services on 127.0.0.1 only. Everything it starts
# (containers, networks, images named nb2svc-bench-*) is removed on exit, pass or fail.
#
# What it measures, in order:
#   1. cold build (`docker compose build --no-cache`, classic builder) and a code-only rebuild
#      (a comment appended to app/main.py) of the generated service;
#   2. the dev loop: `docker compose up -d` as generated (bind mount + --reload), then five edits
#      of app/main.py each adding a route, timed from the write to the first 200 of the route;
#   3. time from `docker compose -f docker-compose.prod.yaml up -d` to /ready 200 (three times);
#   4. throughput and latency with hey (POST /predict, concurrency 16, after a warm-up; the
#      services take turns for 3 rounds of 10 s and each figure is the median of the rounds) of
#        - generated:         the production compose service,
#        - one-worker:        the same generated image with WEB_CONCURRENCY=1 (one process,
#                             like the hand-written services),
#        - hand-per-request:  hand-written, loads the joblib model on every request, as the
#                             course's reference solution does (async def, like the course),
#        - hand-load-once:    hand-written, loads the model once at import (async def),
#        - hand-load-once-sync: the same with a plain `def` route (FastAPI's thread pool);
#      the hand-written ones run in a naive image: `FROM python:3.11-slim`, `COPY . .`,
#      `RUN pip install -r requirements.txt` over the whole project folder (notebook included);
#   5. image sizes: generated vs naive.
# Results: a table on stdout and in $BENCH_OUT/results.md; raw hey output in $BENCH_OUT/*.hey.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
DURATION="${BENCH_DURATION:-10s}"
ROUNDS="${BENCH_ROUNDS:-3}"
CONCURRENCY="${BENCH_CONCURRENCY:-16}"
OUT="${BENCH_OUT:-$repo/target/bench-service}"
BASE_IMAGE="${NB2SVC_BASE_IMAGE:-python:3.11-slim}"
for arg in "$@"; do
    case "$arg" in
        --quick) DURATION=5s ROUNDS=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d'; exit 0 ;;
        *) echo "unknown option: $arg (see --help)" >&2; exit 2 ;;
    esac
done

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

for tool in docker hey curl cargo python3; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/provision.sh --bench installs hey)"
done
docker info >/dev/null 2>&1 || die "no Docker engine answers"
docker compose version >/dev/null 2>&1 || die "the docker compose plugin is missing"
docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || die "base image $BASE_IMAGE is missing (scripts/provision.sh)"

GEN=nb2svc-bench-gen
VAR=nb2svc-bench-variant
NAIVE=nb2svc-bench-naive
export DOCKER_BUILDKIT=0 COMPOSE_BAKE=false

cleanup() {
    set +e
    for project in "$GEN:$OUT/generated" "$VAR:$OUT/one-worker"; do
        name="${project%%:*}" dir="${project#*:}"
        [ -d "$dir" ] || continue
        for file in docker-compose.yaml docker-compose.prod.yaml; do
            (cd "$dir" && docker compose -p "$name" -f "$file" down -v --remove-orphans --timeout 5) >/dev/null 2>&1
        done
    done
    docker rm -f nb2svc-bench-per-request nb2svc-bench-load-once nb2svc-bench-load-once-sync nb2svc-bench-extract >/dev/null 2>&1
    docker network rm nb2svc-bench-net >/dev/null 2>&1
    docker image rm -f "$GEN:latest" "$VAR:latest" "$NAIVE:latest" ${STALE_IMAGE:+"$STALE_IMAGE"} >/dev/null 2>&1
}
trap cleanup EXIT

wait_ready() { # wait_ready PORT SECONDS
    local deadline=$(( $(date +%s) + $2 ))
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/ready")" = 200 ]; do
        [ "$(date +%s)" -lt "$deadline" ] || die "127.0.0.1:$1/ready did not answer 200 in $2 s"
        sleep 0.05
    done
}

BODY='{"island":"Torgersen","bill_length_mm":39.1,"bill_depth_mm":18.7,"flipper_length_mm":181.0,"body_mass_g":3750.0,"sex":"male"}'
EXPECT='{"model":"penguins_rf","prediction":"Adelie"}'

rm -rf "$OUT"
mkdir -p "$OUT"
cd "$repo"
log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), docker engine $(docker version -f '{{.Server.Version}}')"
cargo build --quiet
GEN_PORT=$(free_port)
./target/debug/nb2svc examples/penguins/penguins.ipynb -r examples/penguins/requirements.txt \
    -o "$OUT/generated" --name "$GEN" --port "$GEN_PORT" -q

# --- 1. cold build and code-only rebuild --------------------------------------------------------
cd "$OUT/generated"
t0=$(now)
docker compose -p "$GEN" build --no-cache >"$OUT/build-cold.log" 2>&1 || { cat "$OUT/build-cold.log"; die "cold build failed"; }
COLD=$(since "$t0")
STALE_IMAGE=$(docker image inspect -f '{{.Id}}' "$GEN:latest")  # removed on exit
printf '\n# bench: a code-only change\n' >>app/main.py
t0=$(now)
docker compose -p "$GEN" build >"$OUT/build-rebuild.log" 2>&1 || { cat "$OUT/build-rebuild.log"; die "rebuild failed"; }
REBUILD=$(since "$t0")
grep -A1 'RUN pip install' "$OUT/build-rebuild.log" | grep -q 'Using cache' || die "the rebuild reinstalled the requirements"
log "cold build ${COLD} s, code-only rebuild ${REBUILD} s"

# --- 2. dev loop --------------------------------------------------------------------------------
docker compose -p "$GEN" up -d >/dev/null 2>&1
wait_ready "$GEN_PORT" 120
DEV_TIMES=()
for i in 1 2 3 4 5; do
    printf '\n\n@app.get("/bench-probe-%s")\ndef bench_probe_%s() -> Dict[str, int]:\n    return {"probe": %s}\n' "$i" "$i" "$i" >>app/main.py
    t0=$(now)
    until [ "$(curl -s "http://127.0.0.1:$GEN_PORT/bench-probe-$i")" = "{\"probe\":$i}" ]; do
        sleep 0.01
    done
    DEV_TIMES+=("$(since "$t0")")
    sleep 1
done
DEV_MEDIAN=$(printf '%s\n' "${DEV_TIMES[@]}" | sort -n | sed -n 3p)
log "dev loop edit-to-served: ${DEV_TIMES[*]} s (median $DEV_MEDIAN s)"
docker compose -p "$GEN" down --timeout 5 >/dev/null 2>&1

# --- 3. production: up to ready -----------------------------------------------------------------
UP_TIMES=()
for i in 1 2 3; do
    t0=$(now)
    docker compose -p "$GEN" -f docker-compose.prod.yaml up -d >/dev/null 2>&1
    wait_ready "$GEN_PORT" 120
    UP_TIMES+=("$(since "$t0")")
    [ "$i" = 3 ] || docker compose -p "$GEN" -f docker-compose.prod.yaml down --timeout 5 >/dev/null 2>&1
done
UP_MEDIAN=$(printf '%s\n' "${UP_TIMES[@]}" | sort -n | sed -n 2p)
log "production up to /ready 200: ${UP_TIMES[*]} s (median $UP_MEDIAN s)"
answer=$(curl -s -X POST -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$GEN_PORT/predict")
[ "$answer" = "$EXPECT" ] || die "generated service answered $answer"

# --- 4a. the same image with one worker ---------------------------------------------------------
# The generated image runs WEB_CONCURRENCY=2 uvicorn workers; the hand-written services run one
# process, as their authors wrote them. The same image with one worker compares like with like.
cp -r "$OUT/generated" "$OUT/one-worker"
cd "$OUT/one-worker"
VAR_PORT=$(free_port)
sed -i "s/\"$GEN\"/\"$VAR\"/; s/\"$GEN_PORT:80\"/\"$VAR_PORT:80\"/" docker-compose.prod.yaml
sed -i "s/    restart: unless-stopped/    restart: unless-stopped\n    environment:\n      WEB_CONCURRENCY: \"1\"/" docker-compose.prod.yaml
docker compose -p "$VAR" -f docker-compose.prod.yaml up -d >/dev/null 2>&1
wait_ready "$VAR_PORT" 120

# --- 4b. hand-written services in a naive image -------------------------------------------------
HAND="$OUT/handwritten"
cp -r "$OUT/generated" "$HAND"
rm -f "$HAND/.dockerignore" "$HAND/docker-compose.yaml" "$HAND/docker-compose.prod.yaml"
cp "$repo/examples/penguins/penguins.ipynb" "$HAND/"
# The model the generated image trained, so every service predicts with the same bytes.
docker create --name nb2svc-bench-extract "$GEN:latest" >/dev/null
docker cp nb2svc-bench-extract:/code/data/models/penguins_rf.joblib "$HAND/penguins_rf.joblib"
docker rm nb2svc-bench-extract >/dev/null
cat >"$HAND/main_per_request.py" <<'EOF'
# Hand-written penguin API: the model file is opened on every request.
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
import pandas as pd
from joblib import load

app = FastAPI()


class Penguin(BaseModel):
    island: str = "Torgersen"
    bill_length_mm: float = 39.1
    bill_depth_mm: float = 18.7
    flipper_length_mm: float = 181.0
    body_mass_g: float = 3750.0
    sex: str = "male"


@app.post("/predict")
async def predict(penguin: Penguin):
    try:
        model = load("penguins_rf.joblib")
        frame = pd.DataFrame([penguin.model_dump()])
        species = model.predict(frame)[0]
    except Exception as e:
        raise HTTPException(status_code=500, detail=str(e))
    return {"model": "penguins_rf", "prediction": str(species)}
EOF
cat >"$HAND/main_load_once.py" <<'EOF'
# Hand-written penguin API: the model is loaded once, when the module is imported.
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
import pandas as pd
from joblib import load

app = FastAPI()
model = load("penguins_rf.joblib")


class Penguin(BaseModel):
    island: str = "Torgersen"
    bill_length_mm: float = 39.1
    bill_depth_mm: float = 18.7
    flipper_length_mm: float = 181.0
    body_mass_g: float = 3750.0
    sex: str = "male"


@app.post("/predict")
async def predict(penguin: Penguin):
    try:
        frame = pd.DataFrame([penguin.model_dump()])
        species = model.predict(frame)[0]
    except Exception as e:
        raise HTTPException(status_code=500, detail=str(e))
    return {"model": "penguins_rf", "prediction": str(species)}
EOF
sed 's/^async def predict/def predict/; s/loaded once,/loaded once (plain def route),/' \
    "$HAND/main_load_once.py" >"$HAND/main_load_once_sync.py"
cat >"$HAND/Dockerfile" <<EOF
FROM $BASE_IMAGE
WORKDIR /app
COPY . .
RUN pip install -r requirements.txt
CMD ["uvicorn", "main_load_once:app", "--host", "0.0.0.0", "--port", "80"]
EOF
t0=$(now)
docker build --network host -t "$NAIVE:latest" "$HAND" >"$OUT/build-naive.log" 2>&1 || { cat "$OUT/build-naive.log"; die "naive build failed"; }
NAIVE_BUILD=$(since "$t0")
declare -A PORTS=([generated]=$GEN_PORT [one-worker]=$VAR_PORT)
# A network of their own, as compose gives the generated service (some engines have no docker0).
docker network create nb2svc-bench-net >/dev/null
for module in per_request load_once load_once_sync; do
    name="hand-${module//_/-}"
    port=$(free_port)
    PORTS[$name]=$port
    docker run -d --name "nb2svc-bench-${module//_/-}" --network nb2svc-bench-net -p "127.0.0.1:$port:80" "$NAIVE:latest" \
        uvicorn "main_$module:app" --host 0.0.0.0 --port 80 >/dev/null
    deadline=$(( $(date +%s) + 60 ))
    until [ "$(curl -s -X POST -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$port/predict")" = "$EXPECT" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || die "$name does not answer the prediction"
        sleep 0.2
    done
done

# --- 4c. load, one service at a time, in rounds -------------------------------------------------
# The services take turns, ROUNDS times, and each figure is the median over the rounds, so load
# from other work on the machine hits them all alike rather than one of them.
ORDER=(generated one-worker hand-per-request hand-load-once hand-load-once-sync)
declare -A RPS P50 P99 ERRORS
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for name in "${ORDER[@]}"; do
    hey -n 300 -c 4 -m POST -T application/json -d "$BODY" "http://127.0.0.1:${PORTS[$name]}/predict" >/dev/null   # warm-up
done
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 1 "$ROUNDS"); do
    for name in "${ORDER[@]}"; do
        log "load: round $round/$ROUNDS, $name, $DURATION at concurrency $CONCURRENCY"
        hey -z "$DURATION" -c "$CONCURRENCY" -m POST -T application/json -d "$BODY" \
            "http://127.0.0.1:${PORTS[$name]}/predict" >"$OUT/$name.$round.hey"
    done
done
for name in "${ORDER[@]}"; do
    RPS[$name]=$(awk '/Requests\/sec:/ {print $2}' "$OUT/$name".*.hey | median)
    P50[$name]=$(awk '/ 50% in / {printf "%.1f\n", $3 * 1000}' "$OUT/$name".*.hey | median)
    P99[$name]=$(awk '/ 99% in / {printf "%.1f\n", $3 * 1000}' "$OUT/$name".*.hey | median)
    ERRORS[$name]=$(cat "$OUT/$name".*.hey | awk '/^[ \t]+\[[0-9]+\]/ && $1 != "[200]" {n += $2} /Error distribution/ {e = 1} END {print n + 0 + e}')
    log "$name: requests/s per round: $(awk '/Requests\/sec:/ {printf "%s ", $2}' "$OUT/$name".*.hey)"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 5. image sizes -------------------------------------------------------------------------------
size() { docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f", $1 / 1000000}'; }
GEN_SIZE=$(size "$GEN:latest")
NAIVE_SIZE=$(size "$NAIVE:latest")

best_name=hand-load-once
if awk -v a="${RPS[hand-load-once-sync]}" -v b="${RPS[hand-load-once]}" 'BEGIN { exit !(a > b) }'; then
    best_name=hand-load-once-sync
fi
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
for name in "${ORDER[@]}"; do RPS[$name]=$(printf '%.1f' "${RPS[$name]}"); done
{
    echo "## Results ($(date -u +%Y-%m-%d), $(nproc) cores, hey -z $DURATION -c $CONCURRENCY, median of $ROUNDS rounds)"
    echo
    echo "Load average before the load runs: $LOAD_BEFORE; after: $LOAD_AFTER."
    echo
    echo "| service | requests/s | p50 ms | p99 ms | non-200 |"
    echo "|---|---:|---:|---:|---:|"
    for name in "${ORDER[@]}"; do
        echo "| $name | ${RPS[$name]} | ${P50[$name]} | ${P99[$name]} | ${ERRORS[$name]} |"
    done
    echo
    echo "| figure | value | target |"
    echo "|---|---:|---|"
    echo "| generated / best hand-written ($best_name) | $(ratio "${RPS[generated]}" "${RPS[$best_name]}") | >= 0.95 |"
    echo "| generated / hand-per-request | $(ratio "${RPS[generated]}" "${RPS[hand-per-request]}") | >= 5 |"
    echo "| one-worker / best hand-written | $(ratio "${RPS[one-worker]}" "${RPS[$best_name]}") | >= 0.95 |"
    echo "| dev loop edit-to-served (median of 5) | $DEV_MEDIAN s (${DEV_TIMES[*]}) | < 2 s |"
    echo "| cold build | $COLD s | |"
    echo "| code-only rebuild | $REBUILD s ($(awk -v a="$REBUILD" -v b="$COLD" 'BEGIN { printf "%.0f", 100 * a / b }') % of cold) | < 15 % |"
    echo "| production up to /ready 200 (median of 3) | $UP_MEDIAN s (${UP_TIMES[*]}) | |"
    echo "| image size: generated | $GEN_SIZE MB | |"
    echo "| image size: naive COPY . . | $NAIVE_SIZE MB (built in $NAIVE_BUILD s) | |"
} | tee "$OUT/results.md"
