#!/usr/bin/env bash
# Prepares a Debian/Ubuntu host to run sandterm. Idempotent: run it again at any time.
#
#   sudo hardening/setup-host.sh
#
# - installs and starts Docker if missing
# - builds the default sandbox image (sandterm/sandbox:latest) without any registry
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup-host: %s\n' "$*"; }
[ "$(id -u)" = 0 ] || { say "run me as root (sudo $0)"; exit 1; }

bash hardening/ensure-docker.sh
bash hardening/build-image.sh --if-missing

if ! command -v cargo >/dev/null 2>&1; then
  say "no Rust toolchain found: install one with https://rustup.rs (Rust 1.85 or newer), then: cargo run --release"
fi
say "host ready"
