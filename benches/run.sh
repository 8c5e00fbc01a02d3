#!/usr/bin/env bash
# The benchmark suite in one command: builds release binaries, then runs every scenario
# against floors measured in the same run. `--smoke` runs tiny inputs once (used by CI).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--smoke" ]; then
  cargo build --bins --workspace
  exec target/debug/selfheal-perf run --smoke
fi
cargo build --release --bins --workspace
exec target/release/selfheal-perf run "$@"
