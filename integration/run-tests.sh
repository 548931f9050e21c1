#!/usr/bin/env bash
# The full test suite, from a fresh Debian/Ubuntu host: installs and starts what the tests
# need (Docker, the sandbox image), then runs every unit and integration test against the
# real Docker engine and a real browser. Run as root (or with sudo).
#
# SANDTERM_LONG_TESTS=1 runs the full-length fuzz and soak tests (minutes);
# SANDTERM_SKIP_BROWSER=1 skips the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "host: Docker, hardened daemon settings, gVisor, the sandbox image"
# The same setup the README gives operators, minus userns-remap (it moves Docker's storage
# root; see hardening/README.md for running the suite under it).
bash hardening/setup-host.sh --no-userns --with-gvisor

step "build"
cargo build --release --all-targets
# The README's quick start runs the service with a bare `cargo run --release`.
cargo run --release --quiet -- --help >/dev/null

step "tests"
# The integration tests start real servers and containers; two at a time fits 2 cores.
cargo test --release -- --test-threads="${SANDTERM_TEST_THREADS:-2}"
