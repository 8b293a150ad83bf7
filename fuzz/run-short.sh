#!/usr/bin/env bash
# Runs every fuzz target briefly (CI smoke; FUZZ_SECONDS each, default 15) and prints each
# target's executions. Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). Stable toolchain:
# no sanitizer by default (`-s none`); FUZZ_SANITIZER=address adds ASan through RUSTC_BOOTSTRAP.
# FUZZ_TARGETS narrows the list. The first build instruments tract in fuzz/target (minutes).
set -euo pipefail
cd "$(dirname "$0")"
SECS="${FUZZ_SECONDS:-15}"
SAN="${FUZZ_SANITIZER:-none}"
TARGETS="${FUZZ_TARGETS:-request_line token_losses plan_request sweep_events c_abi c_sweep bundle_bytes}"
if [ "$SAN" != none ]; then export RUSTC_BOOTSTRAP=1; fi
LOGS="$(mktemp -d)"

cargo fuzz build -s "$SAN"
# The whole bundle as a seed: too big to commit twice, so copied in from models/.
mkdir -p corpus/bundle_bytes
cp ../models/default.nnb corpus/bundle_bytes/default.nnb
for t in $TARGETS; do
  mkdir -p "corpus/$t"
  if ! cargo fuzz run -s "$SAN" "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$SECS" -rss_limit_mb=4096 -timeout=20 >"$LOGS/$t.log" 2>&1; then
    tail -n 60 "$LOGS/$t.log"
    echo "fuzz target $t FAILED (artifacts/$t/ has the input)"
    exit 1
  fi
  echo "fuzz $t: $(grep -E '^Done [0-9]+ runs' "$LOGS/$t.log" | tail -n 1)"
done
