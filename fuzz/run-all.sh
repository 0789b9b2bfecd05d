#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 30). Needs cargo-fuzz
# (`cargo install cargo-fuzz`). Exits non-zero on a build failure or the first crash;
# the crashing input is left in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-30}"
export RUSTC_BOOTSTRAP=1
cargo fuzz build
for t in $(cargo fuzz list); do
  log="$(mktemp)"
  if cargo fuzz run "$t" -- -max_total_time="$secs" -rss_limit_mb=2048 >"$log" 2>&1; then
    echo "$t: $(grep -E '^Done' "$log" | tail -n 1)"
    rm -f "$log"
  else
    echo "$t: FAILED (log: $log)"
    tail -n 30 "$log"
    exit 1
  fi
done
