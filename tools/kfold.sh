#!/usr/bin/env bash
# k-fold over runs: trains one model per fold (each holding out a different fold of every
# suite's runs) and scores each on its own held-out runs, so every run is scored exactly once by
# a model that never saw it. neuneu-train's own defaults unless you pass flags after the fold
# count; the default model's recipe is the second example.
#
#   tools/kfold.sh OUT_DIR K [neuneu-train flags...]
#   tools/kfold.sh /tmp/kfold 5 --steps 10000 --prior-share 0.2 --ema-decay 0
#
# Writes OUT_DIR/fold<i>.nnb, OUT_DIR/fold<i>-<context>.{txt,json} for contexts 0.1, 0.2, 0.4.
# Cost: K trainings (about 8 minutes each at 10,000 steps, release build, alone on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?OUT_DIR}; k=${2:?K}; shift 2
data=(../shared/data/pythia-dev.csv ../shared/data/scan-vlm-dev.csv)
cargo build --release --features train --bin neuneu-train --bin neuneu
mkdir -p "$out"
for ((i = 0; i < k; i++)); do
  ./target/release/neuneu-train "${data[@]}" -o "$out/fold$i.nnb" --holdout "$i/$k" --quiet "$@"
  for c in 0.1 0.2 0.4; do
    ./target/release/neuneu eval "${data[@]}" --model "$out/fold$i.nnb" --heldout --context "$c" \
      --json "$out/fold$i-$c.json" > "$out/fold$i-$c.txt"
  done
done
grep -H "^neuneu \|^persistence \|^power-law " "$out"/fold*-0.2.txt
