#!/usr/bin/env bash
# Runs the parsers' mutation fuzzer (tests/it/fuzz.rs) for SECONDS per target (default 60)
# and prints the executions and crashes of each: notebook reader, requirements, docker run.
#   bash scripts/fuzz.sh 300
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
NB2SVC_FUZZ_SECONDS="${1:-60}" NB2SVC_FUZZ_SEED="${NB2SVC_FUZZ_SEED:-$(date +%s)}" \
    cargo test --release --test it fuzz::parsers_never_panic_on_mutated_inputs -- --nocapture 2>&1 \
    | grep -E '^fuzz |panicked|seed|test result'
