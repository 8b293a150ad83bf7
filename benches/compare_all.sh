#!/usr/bin/env bash
# Every row of the compare_all table of benches/README.md in one run (same machine state for all of them):
#   cargo build --release && bash benches/compare_all.sh > compare.log
# PYTHON: a python with onnxruntime and numpy (default /tmp/ortvenv/bin/python, see
# benches/README.md). OLD_MODEL: a bundle to time the default model's single forecast against
# (e.g. `git show ad39d7d:models/default.nnb > old.nnb`, the graphs before variable lengths).
set -euo pipefail
cd "$(dirname "$0")/.."
P=${PYTHON:-/tmp/ortvenv/bin/python}
N=${NEUNEU:-target/release/neuneu}
C="$P benches/compare_onnxruntime.py --neuneu $N --threads 1"
uptime
for c in 3 8 30; do
  echo "default, one forecast, $c points: $($N bench --threads 1 --context $c | grep p50)"
  if [ -n "${OLD_MODEL:-}" ]; then
    echo "  the same with $OLD_MODEL: $($N bench --model "$OLD_MODEL" --threads 1 --context $c | grep p50)"
  fi
done
# The embedded default model against onnxruntime on the same graphs (issue 26's measure): the
# forecaster at 1 and 64 rows, and the 64-arm scheduler with 512 token losses per arm.
$C --batches 1,64
$C --seconds 2 --scheduler
for c in 3 8; do
  for rb in exact throughput; do
    echo "default, 64 runs of $c points, $rb: $($N bench --batch 64 --threads 1 --context $c --row-batching $rb | grep p50)"
  done
done
for rb in exact throughput; do
  echo "== row batching $rb"
  $C --random reference --seconds 3 --context 30 --encoder --row-batching $rb
  $C --random small --seconds 2 --scheduler --context 8 --row-batching $rb
done
$C --random reference --seconds 3 --context 64
$C --random small --seconds 2 --scheduler --context 30
$C --random small --seconds 2 --batches 1 --scheduler --loss-len 256000 --context 30
uptime
