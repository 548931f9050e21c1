#!/usr/bin/env bash
# Prepares and hardens a Debian/Ubuntu host to run sandterm. Idempotent: run it again at any
# time; a second run changes nothing and says "unchanged". Run as root.
#
#   sudo hardening/setup-host.sh [flags]
#
# Steps:
#   1. installs and starts Docker if missing (hardening/ensure-docker.sh), and jq
#   2. merges hardened daemon settings into daemon.json: icc=false, userns-remap=default,
#      no-new-privileges=true, live-restore=true, log-driver=local with log-opts
#      max-size=10m/max-file=3. Only keys the operator has not set are added: an operator's
#      value always wins. Other keys (e.g. "runtimes") are preserved. The file is written
#      atomically, after a backup (daemon.json.sandterm-backup-<timestamp>), and only when
#      something changed; an unparseable file is refused and left alone.
#   3. restarts Docker only when its configuration changed (or is still pending) and waits
#      until it answers
#   4. AppArmor, where the kernel has it: installs and loads hardening/apparmor/sandterm-sandbox,
#      then makes the default policy use it (apparmor_profile = "sandterm-sandbox" in
#      policies/default.toml; a profile name the operator set there is kept)
#   5. builds the sandbox image (hardening/build-image.sh --if-missing), after any restart
#
# Flags:
#   --no-userns                  do not add userns-remap (it moves Docker's storage root:
#                                images must be rebuilt, existing containers and images
#                                become invisible; some bind-mount setups break)
#   --with-gvisor                install Debian's runsc package and register the "runsc"
#                                runtime (used by policies/strict.toml)
#   --no-apparmor-policy         load the AppArmor profile but leave policies/default.toml
#                                as it is
#   --force-restart              restart Docker even when running containers would be
#                                stopped by it (see "Restart" below)
#   --config-only                do not install/start Docker nor build the image; only
#                                write configuration (no restart either)
#   --dry-run                    print what would change, change nothing
#
# Environment (every path can be redirected, e.g. to test against temp files):
#   SANDTERM_DAEMON_JSON=/etc/docker/daemon.json   SANDTERM_APPARMOR_DIR=/etc/apparmor.d
#   SANDTERM_APPARMOR_ENABLED=/sys/module/apparmor/parameters/enabled
#   SANDTERM_APPARMOR_PROFILES=/sys/kernel/security/apparmor/profiles
#   SANDTERM_APPARMOR_PARSER=apparmor_parser   SANDTERM_POLICY_FILE=<repo>/policies/default.toml
#   SANDTERM_DOCKER_PIDFILE=/var/run/docker.pid
#   SANDTERM_DRY_RUN=1 (= --dry-run)   SANDTERM_NO_RESTART=1 (never restart Docker)
#   SANDTERM_CONFIG_ONLY=1 (= --config-only)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DAEMON_JSON=${SANDTERM_DAEMON_JSON:-/etc/docker/daemon.json}
APPARMOR_DIR=${SANDTERM_APPARMOR_DIR:-/etc/apparmor.d}
APPARMOR_ENABLED=${SANDTERM_APPARMOR_ENABLED:-/sys/module/apparmor/parameters/enabled}
APPARMOR_PROFILES=${SANDTERM_APPARMOR_PROFILES:-/sys/kernel/security/apparmor/profiles}
APPARMOR_PARSER=${SANDTERM_APPARMOR_PARSER:-apparmor_parser}
POLICY_FILE=${SANDTERM_POLICY_FILE:-$REPO/policies/default.toml}
DOCKER_PIDFILE=${SANDTERM_DOCKER_PIDFILE:-/var/run/docker.pid}
DRY_RUN=${SANDTERM_DRY_RUN:-0}
NO_RESTART=${SANDTERM_NO_RESTART:-0}
CONFIG_ONLY=${SANDTERM_CONFIG_ONLY:-0}
PROFILE_NAME=sandterm-sandbox
PROFILE_SRC=$REPO/hardening/apparmor/$PROFILE_NAME

with_userns=1
with_gvisor=0
apply_apparmor=1
force_restart=0
for arg in "$@"; do
  case "$arg" in
    --no-userns) with_userns=0 ;;
    --with-gvisor) with_gvisor=1 ;;
    --no-apparmor-policy) apply_apparmor=0 ;;
    --force-restart) force_restart=1 ;;
    --config-only) CONFIG_ONLY=1 ;;
    --dry-run) DRY_RUN=1 ;;
    -h|--help) sed -n '2,/^set -e/{/^#/p}' "$0"; exit 0 ;;
    *) echo "setup-host.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf 'setup-host: %s\n' "$*"; }
die() { say "$*" >&2; exit 1; }
dry() { [ "$DRY_RUN" = 1 ]; }
docker_answers() { timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if [ "$(id -u)" != 0 ] && ! dry; then
  die "run me as root (sudo $0), or with --dry-run to see what would change"
fi
dry && say "dry run: nothing will be changed"

# ---- 1. tools and Docker -------------------------------------------------------------

apt_install() {
  if dry; then say "would apt-get install $*"; return 0; fi
  say "installing $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$@" >/dev/null
}

if ! command -v jq >/dev/null 2>&1; then
  apt_install jq
fi
command -v jq >/dev/null 2>&1 || die "jq is needed to merge daemon.json (apt-get install jq)"

if [ "$CONFIG_ONLY" = 1 ]; then
  say "config only: not installing or starting Docker"
elif dry; then
  if docker_answers; then say "Docker is running"; else say "would install/start Docker (hardening/ensure-docker.sh)"; fi
else
  bash "$REPO/hardening/ensure-docker.sh"
fi

if [ "$with_gvisor" = 1 ]; then
  if command -v runsc >/dev/null 2>&1; then
    say "gVisor: runsc unchanged ($(command -v runsc))"
  else
    apt_install runsc
  fi
elif ! command -v runsc >/dev/null 2>&1; then
  say "hint: gVisor (runsc) is not installed; --with-gvisor installs it for policies/strict.toml"
fi

# ---- 2. daemon.json ------------------------------------------------------------------

# Follow a symlinked daemon.json so the atomic rename replaces the real file.
if [ -L "$DAEMON_JSON" ]; then DAEMON_JSON=$(readlink -f "$DAEMON_JSON"); fi

current='{}'
existed=0
if [ -e "$DAEMON_JSON" ]; then
  existed=1
  if ! grep -q '[^[:space:]]' "$DAEMON_JSON"; then
    say "$DAEMON_JSON is empty: treating it as {}"
  else
    if ! err=$(jq -s -e 'length == 1 and (.[0] | type) == "object"' "$DAEMON_JSON" 2>&1 >/dev/null); then
      [ -n "$err" ] || err="not a single JSON object"
      die "refusing to touch $DAEMON_JSON: it is not a valid JSON object ($err). Fix or remove it, then run again. Nothing was changed."
    fi
    current=$(jq -c . "$DAEMON_JSON")
  fi
fi
for parent in log-opts runtimes; do
  if ! jq -e --arg k "$parent" '(has($k) | not) or (.[$k] | type) == "object"' <<<"$current" >/dev/null; then
    die "refusing to touch $DAEMON_JSON: \"$parent\" is not a JSON object. Fix it, then run again. Nothing was changed."
  fi
done

additions='{}'
# consider PATH-as-JSON-array VALUE-as-JSON [WHY]: adds the setting when the operator has not set it.
consider() {
  local path=$1 want=$2 why=${3:-} name have
  name=$(jq -r 'join(".")' <<<"$path")
  if jq -e --argjson p "$path" 'try (getpath($p[:-1]) | has($p[-1])) catch false' <<<"$current" >/dev/null; then
    have=$(jq -c --argjson p "$path" 'getpath($p)' <<<"$current")
    if [ "$(jq -cS . <<<"$have")" = "$(jq -cS . <<<"$want")" ]; then
      say "  unchanged  $name = $have"
    else
      say "  kept       $name = $have (set by the operator; sandterm would use $want)"
    fi
  else
    additions=$(jq -c --argjson p "$path" --argjson v "$want" 'setpath($p; $v)' <<<"$additions")
    if dry; then say "  would add  $name = $want${why:+  ($why)}"; else say "  added      $name = $want${why:+  ($why)}"; fi
  fi
}

say "daemon settings in $DAEMON_JSON:"
consider '["icc"]' 'false' "containers on the default bridge cannot talk to each other"
if [ "$with_userns" = 1 ]; then
  consider '["userns-remap"]' '"default"' "root in a container is an unprivileged uid on the host"
elif jq -e 'has("userns-remap")' <<<"$current" >/dev/null; then
  say "  kept       userns-remap = $(jq -c '.["userns-remap"]' <<<"$current") (--no-userns does not remove an operator's setting)"
else
  say "  skipped    userns-remap (--no-userns)"
fi
consider '["no-new-privileges"]' 'true' "setuid binaries cannot raise privileges in any container"
consider '["live-restore"]' 'true' "containers keep running across daemon restarts"

# Logging: the driver and its options go together (options are driver specific), so the
# size limits are only added for drivers that understand them, and the driver is not
# changed under options the operator wrote for another one.
has_driver=$(jq 'has("log-driver")' <<<"$current")
has_opts=$(jq 'has("log-opts")' <<<"$current")
if [ "$has_driver" = false ] && [ "$has_opts" = false ]; then
  consider '["log-driver"]' '"local"' "compact, rotated container logs"
  driver=local
elif [ "$has_driver" = true ]; then
  consider '["log-driver"]' '"local"'
  driver=$(jq -r '.["log-driver"]' <<<"$current")
else
  say "  kept       log-driver unset (Docker's json-file): the operator set log-opts for it"
  driver=json-file
fi
case "$driver" in
  local|json-file)
    consider '["log-opts","max-size"]' '"10m"' "a container log cannot fill the disk"
    consider '["log-opts","max-file"]' '"3"'
    ;;
  *) say "  kept       log-opts as they are (log-driver \"$driver\" is the operator's; size limits do not apply to it)" ;;
esac

if [ "$with_gvisor" = 1 ]; then
  consider '["runtimes","runsc"]' '{"path":"/usr/bin/runsc","runtimeArgs":["--network=none","--oci-seccomp"]}' \
    "gVisor; --network=none: it refuses to set up networking in the root network namespace, and sandboxes have none; --oci-seccomp: the policy's seccomp filter also applies inside the sandbox"
fi

merged=$(jq --argjson add "$additions" '. * $add' <<<"$current")
daemon_changed=0
if [ "$additions" = '{}' ]; then
  say "daemon.json unchanged"
elif dry; then
  say "daemon.json would become:"
  printf '%s\n' "$merged"
  daemon_changed=1
else
  dir=$(dirname "$DAEMON_JSON")
  mkdir -p "$dir"
  tmp=$(mktemp "$dir/.daemon.json.sandterm.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  printf '%s\n' "$merged" > "$tmp"
  if [ "$existed" = 1 ]; then chmod --reference="$DAEMON_JSON" "$tmp"; else chmod 0644 "$tmp"; fi
  jq -e 'type == "object"' "$tmp" >/dev/null || die "internal error: the merged file is not a JSON object; nothing was changed"
  # Docker 23+ can check a configuration without starting; older versions cannot.
  if command -v dockerd >/dev/null 2>&1 && dockerd --help 2>/dev/null | grep -q -- '--validate'; then
    out=$(dockerd --validate --config-file "$tmp" 2>&1) || die "dockerd rejects the merged configuration: $out; nothing was changed"
  fi
  if [ "$existed" = 1 ]; then
    backup="$DAEMON_JSON.sandterm-backup-$(date +%Y%m%d-%H%M%S)"
    if [ -e "$backup" ]; then backup="$backup-$$"; fi
    cp -p "$DAEMON_JSON" "$backup"
    say "backup of the previous file: $backup"
  fi
  mv -f "$tmp" "$DAEMON_JSON"
  trap - EXIT
  jq -e --argjson add "$additions" '. as $d | [$add | paths(type != "object" and type != "array")] | all(. as $p | $d | getpath($p) == ($add | getpath($p)))' \
    "$DAEMON_JSON" >/dev/null || die "$DAEMON_JSON does not read back as written; restore ${backup:-it} and check the disk"
  say "daemon.json written"
  daemon_changed=1
fi

# ---- 3. restart ----------------------------------------------------------------------

# Settings in the file that the running daemon has not applied yet (a previous run may have
# written them without restarting).
pending_settings() {
  docker_answers || return 0
  local info
  info=$(docker info --format '{{.LiveRestoreEnabled}} {{json .SecurityOptions}} {{json .Runtimes}}' 2>/dev/null) || return 0
  if [ "$(jq '.["live-restore"] // false' <<<"$merged")" = true ] && [[ "$info" != true* ]]; then printf ' live-restore'; fi
  if jq -e 'has("userns-remap") and .["userns-remap"] != ""' <<<"$merged" >/dev/null && [[ "$info" != *name=userns* ]]; then printf ' userns-remap'; fi
  if jq -e '.runtimes.runsc != null' <<<"$merged" >/dev/null && [[ "$info" != *'"runsc"'* ]]; then printf ' runtimes.runsc'; fi
}

restarted=0
restart_pending=0
restart_docker() {
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker; then
    say "restarting Docker (systemctl restart docker)"
    systemctl restart docker
  else
    # A background dockerd: SIGHUP reloads only a few settings (not userns-remap, not
    # the log driver), so stop it and start it again.
    local pid=""
    [ -r "$DOCKER_PIDFILE" ] && pid=$(cat "$DOCKER_PIDFILE")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      say "stopping dockerd (pid $pid from $DOCKER_PIDFILE)"
      kill -TERM "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -0 "$pid" 2>/dev/null && die "dockerd (pid $pid) did not stop within 60 s"
    fi
    bash "$REPO/hardening/ensure-docker.sh"
  fi
  for _ in $(seq 1 60); do
    if docker_answers; then say "Docker answers again"; restarted=1; return 0; fi
    sleep 1
  done
  die "Docker did not answer within 60 s of the restart; check its log (journalctl -u docker or /var/log/sandterm-dockerd.log)"
}

pending=""
if [ "$CONFIG_ONLY" != 1 ]; then pending=$(pending_settings); fi
if [ "$daemon_changed" = 1 ] || [ -n "$pending" ]; then
  why=${pending:+the running daemon has not applied:$pending}
  [ "$daemon_changed" = 1 ] && why="daemon.json changed${why:+; $why}"
  if [ "$CONFIG_ONLY" = 1 ]; then
    say "Docker restart needed ($why): skipped (--config-only)"
  elif [ "$NO_RESTART" = 1 ]; then
    say "Docker restart needed ($why): skipped (SANDTERM_NO_RESTART=1)"
  elif dry; then
    say "would restart Docker ($why)"
  elif ! docker_answers; then
    say "Docker is not running; starting it"
    bash "$REPO/hardening/ensure-docker.sh"
  else
    running=$(docker ps -q | wc -l)
    live_now=$(docker info --format '{{.LiveRestoreEnabled}}' 2>/dev/null || echo false)
    userns_now=$(docker info --format '{{json .SecurityOptions}}' 2>/dev/null | grep -c name=userns || true)
    userns_next=$(jq 'if (.["userns-remap"] // "") != "" then 1 else 0 end' <<<"$merged")
    if [ "$running" -gt 0 ] && { [ "$live_now" != true ] || [ "$userns_now" != "$userns_next" ]; } && [ "$force_restart" != 1 ]; then
      say "Docker restart needed ($why), but $running running container(s) would be stopped or orphaned:"
      say "  live-restore is not active in the running daemon yet, or userns-remap changes the storage root."
      say "  Restart Docker when convenient, or run again with --force-restart. Not restarting."
      restart_pending=1
    else
      if [ "$running" -gt 0 ] && [ "$live_now" = true ] && [ "$userns_now" = "$userns_next" ]; then
        say "$running running container(s) keep running across the restart (live-restore)"
      elif [ "$running" -gt 0 ]; then
        say "--force-restart: $running running container(s) will be stopped, or orphaned by the new storage root"
      fi
      say "restarting Docker ($why)"
      restart_docker
    fi
  fi
else
  say "Docker restart not needed"
fi

# ---- 4. AppArmor ---------------------------------------------------------------------

apparmor_loaded() { [ -r "$APPARMOR_PROFILES" ] && grep -q "^$PROFILE_NAME " "$APPARMOR_PROFILES"; }

aa_enabled=$(cat "$APPARMOR_ENABLED" 2>/dev/null || true)
if [ "$aa_enabled" != Y ]; then
  say "AppArmor: this kernel has no AppArmor: the profile was not loaded; sandboxes rely on seccomp, capabilities, no-new-privileges and namespaces"
elif ! command -v "${APPARMOR_PARSER%% *}" >/dev/null 2>&1; then
  say "AppArmor: the kernel has it but apparmor_parser is missing (apt-get install apparmor); profile not loaded"
else
  # The profile pins the 3.0 ABI; a parser older than 3.0 (no abi/3.0 file) cannot read that line.
  wanted=$(cat "$PROFILE_SRC")
  if [ ! -e "$APPARMOR_DIR/abi/3.0" ]; then wanted=$(grep -v '^abi <abi/3.0>,$' "$PROFILE_SRC"); fi
  dest=$APPARMOR_DIR/$PROFILE_NAME
  if [ -f "$dest" ] && [ "$(cat "$dest")" = "$wanted" ]; then
    say "AppArmor: $dest unchanged"
    file_changed=0
  elif dry; then
    say "AppArmor: would install $dest"
    file_changed=1
  else
    mkdir -p "$APPARMOR_DIR"
    tmp=$(mktemp "$APPARMOR_DIR/.$PROFILE_NAME.XXXXXX")
    printf '%s\n' "$wanted" > "$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$dest"
    say "AppArmor: installed $dest"
    file_changed=1
  fi
  if [ "$file_changed" = 0 ] && apparmor_loaded; then
    say "AppArmor: profile $PROFILE_NAME loaded (unchanged)"
  elif dry; then
    say "AppArmor: would load $PROFILE_NAME ($APPARMOR_PARSER -r -W $dest)"
  else
    # shellcheck disable=SC2086  # SANDTERM_APPARMOR_PARSER may carry extra arguments
    $APPARMOR_PARSER -r -W "$dest"
    say "AppArmor: profile $PROFILE_NAME loaded"
  fi
  if [ "$apply_apparmor" != 1 ]; then
    say "policy: $POLICY_FILE left as it is (--no-apparmor-policy); to use the profile, set   apparmor_profile = \"$PROFILE_NAME\"   under [security] in a policy"
  elif ! apparmor_loaded && ! dry; then
    say "policy: $PROFILE_NAME is not in $APPARMOR_PROFILES after loading; $POLICY_FILE left as it is"
  elif grep -q "^apparmor_profile = \"$PROFILE_NAME\"" "$POLICY_FILE"; then
    say "policy: $POLICY_FILE already uses $PROFILE_NAME (unchanged)"
  elif grep -q '^apparmor_profile = ""' "$POLICY_FILE"; then
    if dry; then
      say "policy: would set apparmor_profile = \"$PROFILE_NAME\" in $POLICY_FILE"
    else
      sed -i "s/^apparmor_profile = \"\"/apparmor_profile = \"$PROFILE_NAME\"/" "$POLICY_FILE"
      say "policy: set apparmor_profile = \"$PROFILE_NAME\" in $POLICY_FILE (restart sandterm to apply it)"
    fi
  else
    say "policy: kept $POLICY_FILE's own apparmor_profile ($(grep -m1 '^apparmor_profile' "$POLICY_FILE" || echo 'no such line'))"
  fi
fi

# ---- 5. sandbox image ----------------------------------------------------------------

if [ "$CONFIG_ONLY" = 1 ]; then
  say "config only: not building the sandbox image"
elif dry; then
  say "would build the sandbox image if missing or out of date (hardening/build-image.sh --if-missing)"
else
  # After a restart with userns-remap, Docker has a new, empty storage root: build there.
  bash "$REPO/hardening/build-image.sh" --if-missing
fi

if ! command -v cargo >/dev/null 2>&1; then
  say "no Rust toolchain found: install one with https://rustup.rs (Rust 1.85 or newer), then: cargo run --release"
fi
if [ "$restarted" = 1 ]; then say "Docker was restarted; check the result with hardening/check-host.sh"; fi
if dry; then
  say "dry run done: nothing was changed"
elif [ "$restart_pending" = 1 ]; then
  say "host set up, except: Docker must still be restarted to apply daemon.json (see above)"
else
  say "host ready (check it with hardening/check-host.sh)"
fi
