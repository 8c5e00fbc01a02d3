#!/usr/bin/env bash
# The benchmark suite in one command: builds optimized binaries (the `profiling` profile:
# release code with debug info, so `perf record` of a scenario names lines), then runs every
# scenario against floors measured in the same run. `--smoke` runs tiny inputs once (used by CI).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--smoke" ]; then
  cargo build --bins --workspace
  exec target/debug/selfheal-perf run --smoke
fi
cargo build --profile profiling --bins --workspace
exec target/profiling/selfheal-perf run "$@"
