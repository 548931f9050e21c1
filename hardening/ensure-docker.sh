#!/usr/bin/env bash
# Makes sure a Docker engine is installed and answering on its socket. Idempotent.
#
# - Installs Debian/Ubuntu's docker.io package when no dockerd exists.
# - Starts the daemon when the socket does not answer: through systemd where systemd runs,
#   otherwise as a background dockerd (log: /var/log/sandterm-dockerd.log).
# Run as root (sudo). Used by setup-host.sh and by the test runner.
set -euo pipefail

say() { printf 'ensure-docker: %s\n' "$*"; }
SOCKET=/var/run/docker.sock

if ! command -v dockerd >/dev/null 2>&1; then
  say "installing docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

answers() { timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if answers; then
  say "Docker is running ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
  exit 0
fi

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  say "starting docker with systemd"
  systemctl start docker || true
fi
if ! answers; then
  say "starting dockerd in the background"
  rm -f /var/run/docker.pid
  # setsid: the daemon must not share the caller's process group (a CI runner or a test
  # harness that stops its jobs by group would take Docker down with them).
  setsid nohup dockerd --host "unix://$SOCKET" >/var/log/sandterm-dockerd.log 2>&1 < /dev/null &
fi
for _ in $(seq 1 60); do
  if answers; then
    say "Docker is running ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
    exit 0
  fi
  sleep 1
done
say "Docker did not come up within 60 s; last lines of its log:"
tail -n 20 /var/log/sandterm-dockerd.log 2>/dev/null || true
exit 1
