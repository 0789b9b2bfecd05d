#!/usr/bin/env bash
# The test command: every Rust test, then the end-to-end tests with real clients
# against the real binary. Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --bin wharf
cargo test --workspace
# The end-to-end tests run the binary just built, wherever cargo puts it.
export WHARF_BIN="$(realpath "${CARGO_TARGET_DIR:-target}")/debug/wharf"
python3 -m pytest -q tests/e2e "$@"
