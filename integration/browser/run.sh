#!/usr/bin/env bash
# Browser test for the terminal page: headless Chromium against a running sandterm server.
#
#   SANDTERM_URL=http://127.0.0.1:3900/ SANDTERM_SERVER_NAME=<its --server-name> \
#     bash integration/browser/run.sh
#
# Installs what it needs on first use (Debian's chromium package, playwright-core from the
# lock file), then runs terminal.test.mjs. Exit code 0 means every check passed.
set -euo pipefail
cd "$(dirname "$0")"

: "${SANDTERM_URL:?set SANDTERM_URL to the server's page URL, e.g. http://127.0.0.1:3900/}"
: "${SANDTERM_SERVER_NAME:?set SANDTERM_SERVER_NAME to the server's --server-name}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ! -x "$CHROMIUM" ]; then
    echo "== installing chromium (apt)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# playwright-core only drives the system Chromium: it downloads no browser.
if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "== npm ci"
    npm ci --no-audit --no-fund --loglevel=error
fi

exec node terminal.test.mjs
