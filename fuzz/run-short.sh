#!/usr/bin/env bash
# Runs every fuzz target briefly (CI smoke). Needs cargo-fuzz; uses nightly features on the
# stable toolchain via RUSTC_BOOTSTRAP (ASan). The first run builds tract with coverage
# instrumentation in fuzz/target: expect several minutes of extra build time.
set -euo pipefail
cd "$(dirname "$0")"
SECS="${FUZZ_SECONDS:-20}"
mkdir -p corpus/bundle_bytes
cp ../models/default.nnb corpus/bundle_bytes/default.nnb
for t in request_line token_losses bundle_bytes; do
  mkdir -p "corpus/$t"
  RUSTC_BOOTSTRAP=1 timeout $((SECS + 600)) cargo fuzz run "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$SECS" -rss_limit_mb=4096 -timeout=20
done
