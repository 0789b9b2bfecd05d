#!/usr/bin/env bash
# The test command: every Rust test, then the end-to-end tests with real clients
# against the real binary. Run from the repository root.
#
# Works on a stock Debian 12, where `pip install` outside a virtual environment is
# refused (externally-managed-environment): pytest comes from Debian's python3-pytest,
# or else from a virtual environment this script makes under target/. Every tool is
# checked first, before compiling: a missing one is one line naming it and its package.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$1 (Debian package $2)"); }
need cargo "cargo, or https://rustup.rs"
need python3 python3
need curl curl
need openssl openssl
need mbsync isync
need offlineimap offlineimap3
need lftp lftp
[ -x /usr/sbin/dovecot ] || missing+=("dovecot (Debian package dovecot-imapd)")

# pytest: the system's, or a virtual environment's (made once, kept under target/).
PYTHON=python3
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import pytest' 2>/dev/null; then
  venv="${CARGO_TARGET_DIR:-target}/e2e-venv"
  if ! "$venv/bin/python" -c 'import pytest' 2>/dev/null; then
    echo "scripts/test.sh: pytest not installed; making a virtual environment in $venv" >&2
    if ! { python3 -m venv "$venv" && "$venv/bin/python" -m pip install --quiet \
        --disable-pip-version-check pytest; } >/dev/null 2>&1; then
      missing+=("pytest (Debian package python3-pytest; a virtual environment in $venv could not be made: python3-venv and network needed)")
    fi
  fi
  PYTHON="$venv/bin/python"
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "scripts/test.sh: missing: $(IFS=';'; echo "${missing[*]}" | sed 's/;/; /g')" >&2
  exit 1
fi

cargo build --bin wharf
cargo test --workspace
# The end-to-end tests run the binary just built, wherever cargo puts it.
export WHARF_BIN="$(realpath "${CARGO_TARGET_DIR:-target}")/debug/wharf"
"$PYTHON" -m pytest -q tests/e2e "$@"
