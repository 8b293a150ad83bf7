#!/usr/bin/env bash
# k-fold over runs: trains one model per fold (each holding out a different fold of every
# suite's runs) and scores each on its own held-out runs, so every run is scored exactly once by
# a model that never saw it. neuneu-train's own defaults unless you pass flags after the fold
# count; the default model's recipe is the second example.
#
#   tools/kfold.sh OUT_DIR K [neuneu-train flags...]
#   tools/kfold.sh /tmp/kfold 5 --steps 10000 --prior-share 0.2 --ema-decay 0
#
# Writes OUT_DIR/fold<i>.nnb and OUT_DIR/fold<i>-<file>-<context>.{txt,json} for each curve file
# and contexts 0.1, 0.2, 0.4, then prints each file's folds pooled (tools/kfold_pool.py).
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
    # One report per curve file, so that each file's families (Pythia's MMLU vs the rest) pool
    # on their own.
    for f in "${data[@]}"; do
      stem=$(basename "$f" .csv)
      ./target/release/neuneu eval "$f" --model "$out/fold$i.nnb" --heldout --context "$c" \
        --json "$out/fold$i-$stem-$c.json" > "$out/fold$i-$stem-$c.txt"
    done
  done
done
for f in "${data[@]}"; do
  stem=$(basename "$f" .csv)
  for c in 0.1 0.2 0.4; do
    echo "== $stem, context $c"
    python3 tools/kfold_pool.py "$out"/fold*-"$stem"-"$c".json
  done
done
