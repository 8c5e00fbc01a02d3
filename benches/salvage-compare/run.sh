#!/usr/bin/env bash
# Compares selfheal's salvage with json_repair (PyPI) and jsonrepair (npm) on seeded,
# damaged positions files with ground truth. Installs the peers itself under target/.
#
#   benches/salvage-compare/run.sh            # 50 MB files, seed 42
#   MB=5 SEED=7 benches/salvage-compare/run.sh
#   SALVAGE_CMD="selfheal salvage" benches/salvage-compare/run.sh   # the real CLI, once it exists
#   TOOLS=selfheal benches/salvage-compare/run.sh   # only some tools (default: all three)
#
# SALVAGE_CMD gets the damaged file as its last argument and must print the salvaged
# document on stdout; if it prints `seconds=S` on stderr that in-process time is used,
# otherwise the wall time of the whole process. A peer still running after PEER_TIMEOUT
# seconds (default 600) is stopped and reported as timed out.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
scratch=${SCRATCH:-$CARGO_TARGET_DIR/salvage-compare}
mb=${MB:-50}
peer_timeout=${PEER_TIMEOUT:-600}
tools=${TOOLS:-selfheal json_repair jsonrepair}
seed=${SEED:-42}
json_repair_version=0.64.4
jsonrepair_version=3.15.0

mkdir -p "$scratch"
echo "== building" >&2
cargo build --release -j2 -q -p salvage-compare --manifest-path "$root/Cargo.toml"
tool=$CARGO_TARGET_DIR/release/salvage-compare
salvage_cmd=${SALVAGE_CMD:-"$tool salvage"}

echo "== installing peers into $scratch" >&2
if [ ! -x "$scratch/venv/bin/python" ]; then python3 -m venv "$scratch/venv"; fi
"$scratch/venv/bin/pip" install -q --disable-pip-version-check "json-repair==$json_repair_version"
npm install -s --no-audit --no-fund --prefix "$scratch/node" "jsonrepair@$jsonrepair_version" >/dev/null
export JSONREPAIR_PREFIX=$scratch/node

data=$scratch/data-$mb-$seed
if [ ! -f "$data/params.json" ]; then
  echo "== generating ${mb} MB files (seed $seed) into $data" >&2
  "$tool" gen "$data" "$seed" "$mb"
fi
out=$scratch/out
mkdir -p "$out"

# run NAME FILE OUTFILE: prints the seconds the tool took
run() {
  local name=$1 file=$2 dst=$3 log=$out/$name.log start end s
  start=$(date +%s.%N)
  local rc=0
  case $name in
    selfheal) $salvage_cmd "$file" >"$dst" 2>"$log" || rc=$? ;;
    json_repair) timeout "$peer_timeout" "$scratch/venv/bin/python" "$here/peers/json_repair_run.py" "$file" "$dst" 2>"$log" || rc=$? ;;
    jsonrepair) timeout "$peer_timeout" node "$here/peers/jsonrepair_run.mjs" "$file" "$dst" 2>"$log" || rc=$? ;;
  esac
  if [ "$rc" = 124 ]; then
    echo "error: timed out after $peer_timeout s" >>"$log"
    : >"$dst"
  elif [ "$rc" != 0 ] && [ "$name" != selfheal ]; then
    echo "error: exit status $rc" >>"$log"
  fi
  end=$(date +%s.%N)
  s=$(sed -n 's/^seconds=//p' "$log" | tail -1)
  if [ -z "$s" ]; then s=$(echo "$end - $start" | bc -l); fi
  echo "$s"
}

mbps() { echo "scale=1; $1 / 1000000 / $2" | bc -l; }

echo "machine: $(nproc) cores, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  seed: $seed  size: $(stat -c %s "$data/valid.json") bytes"
echo "peers: json_repair $json_repair_version (PyPI, Python $(python3 -V | cut -d' ' -f2)), jsonrepair $jsonrepair_version (npm, Node $(node --version))"
echo

base_log=$out/baseline.log
"$tool" baseline "$data/valid.json" 2>"$base_log"
base_s=$(sed -n 's/^seconds=//p' "$base_log")
valid_bytes=$(stat -c %s "$data/valid.json")
base_mbps=$(mbps "$valid_bytes" "$base_s")
echo "serde_json::from_slice::<Value> on the valid file: $base_mbps MB/s"
echo

for kind in truncated nul_tail garbage_block second_document interleaved_4k trailing_comma bom_crlf; do
  file=$data/$kind.json
  bytes=$(stat -c %s "$file")
  echo "### $kind ($bytes bytes)"
  echo
  echo "| tool | intact records recovered | invented or altered | MB/s | note |"
  echo "|---|---|---|---|---|"
  for name in $tools; do
    dst=$out/$kind.$name.json
    s=$(run "$name" "$file" "$dst")
    score=$("$tool" score "$data" "$kind" "$dst")
    rec=$(echo "$score" | sed 's/.*"recovered":\([0-9]*\).*/\1/')
    tot=$(echo "$score" | sed 's/.*"intact":\([0-9]*\).*/\1/')
    inv=$(echo "$score" | sed 's/.*"invented":\([0-9]*\).*/\1/')
    parsed=$(echo "$score" | sed 's/.*"parsed":\([a-z]*\).*/\1/')
    docs=$(echo "$score" | sed 's/.*"documents":\([0-9]*\).*/\1/')
    note=""
    if [ "$parsed" != true ]; then note="no valid JSON output"; fi
    if [ "$docs" -gt 1 ]; then note="a JSON array of $docs values, not a positions file"; fi
    err=$(grep -m1 '^error:' "$out/$name.log" | cut -c1-60 || true)
    if [ -n "$err" ]; then note="$err"; fi
    if [ "$name" = selfheal ]; then note=$(grep -m1 '^salvaged' "$out/$name.log" || true); fi
    rate=$(mbps "$bytes" "$s")
    if grep -q '^error: timed out' "$out/$name.log"; then rate="< $(mbps "$bytes" "$peer_timeout")"; fi
    if [ "$name" = selfheal ] && [ "$kind" = truncated ]; then salvage_mbps=$rate; fi
    echo "| $name | $rec / $tot | $inv | $rate | $note |"
  done
  echo
done

echo "selfheal salvage on the truncated file: ${salvage_mbps:-?} MB/s = $(echo "scale=2; ${salvage_mbps:-0} / $base_mbps" | bc -l)x serde_json::from_slice::<Value> on the valid file"
