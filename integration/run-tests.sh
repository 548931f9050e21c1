#!/usr/bin/env bash
# The full test suite, from a fresh Debian/Ubuntu host: installs and starts what the tests
# need (Docker, the sandbox image), then runs every unit and integration test against the
# real Docker engine. Run as root: sudo bash integration/run-tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "Docker"
bash hardening/ensure-docker.sh

step "sandbox image"
bash hardening/build-image.sh --if-missing

step "build"
cargo build --release --all-targets

step "tests"
# The integration tests start real servers and containers; two at a time fits 2 cores.
cargo test --release -- --test-threads="${SANDTERM_TEST_THREADS:-2}"
