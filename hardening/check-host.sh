#!/usr/bin/env bash
# Reports which host and Docker daemon protections are active for sandterm, one line each:
#   PASS  the protection is on
#   WARN  it is off or weaker than it should be; the line says what to do
#   INFO  context, or something this machine cannot show (e.g. a kernel without AppArmor)
# Read-only: it never changes anything (Docker is only asked read-only questions).
#
#   hardening/check-host.sh            # always exits 0
#   hardening/check-host.sh --strict   # exits 1 when any line is WARN
#
# Environment: SANDTERM_DAEMON_JSON (/etc/docker/daemon.json), SANDTERM_IMAGE
# (sandterm/sandbox:latest), SANDTERM_DOCKER_SOCKET (/var/run/docker.sock),
# SANDTERM_DOCKER_PIDFILE (/var/run/docker.pid), SANDTERM_APPARMOR_ENABLED,
# SANDTERM_APPARMOR_PROFILES (the kernel's AppArmor files under /sys), SANDTERM_POLICY_FILE
# (policies/default.toml).
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DAEMON_JSON=${SANDTERM_DAEMON_JSON:-/etc/docker/daemon.json}
IMAGE=${SANDTERM_IMAGE:-sandterm/sandbox:latest}
SOCKET=${SANDTERM_DOCKER_SOCKET:-/var/run/docker.sock}
DOCKER_PIDFILE=${SANDTERM_DOCKER_PIDFILE:-/var/run/docker.pid}
APPARMOR_ENABLED=${SANDTERM_APPARMOR_ENABLED:-/sys/module/apparmor/parameters/enabled}
APPARMOR_PROFILES=${SANDTERM_APPARMOR_PROFILES:-/sys/kernel/security/apparmor/profiles}
POLICY_FILE=${SANDTERM_POLICY_FILE:-$REPO/policies/default.toml}
PROFILE_NAME=sandterm-sandbox

strict=0
for arg in "$@"; do
  case "$arg" in
    --strict) strict=1 ;;
    -h|--help) sed -n '2,/^set -/{/^#/p}' "$0"; exit 0 ;;
    *) echo "check-host.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

warnings=0
line() { printf '%-4s  %-20s %s\n' "$1" "$2" "$3"; }
pass() { line PASS "$1" "$2"; }
info() { line INFO "$1" "$2"; }
warn() { line WARN "$1" "$2"; warnings=$((warnings + 1)); }

# ---- daemon.json (as written; what the daemon applies is checked through Docker) -------

conf='{}'
conf_state=missing
if [ -e "$DAEMON_JSON" ]; then
  if ! command -v jq >/dev/null 2>&1; then
    conf_state=unread
  elif conf=$(jq -c -s 'if length == 1 and (.[0] | type) == "object" then .[0] else error("not one JSON object") end' "$DAEMON_JSON" 2>/dev/null); then
    conf_state=ok
  elif ! grep -q '[^[:space:]]' "$DAEMON_JSON"; then
    conf='{}'; conf_state=ok
  else
    conf='{}'; conf_state=invalid
  fi
fi
cfg() { [ "$conf_state" = ok ] && jq -r "$1" <<<"$conf"; }

case "$conf_state" in
  ok) pass "daemon.json" "$DAEMON_JSON parses" ;;
  missing) info "daemon.json" "$DAEMON_JSON does not exist: Docker runs on defaults -> hardening/setup-host.sh writes one" ;;
  unread) info "daemon.json" "jq is not installed, so $DAEMON_JSON was not read (apt-get install jq)" ;;
  invalid) warn "daemon.json" "$DAEMON_JSON is not a valid JSON object: Docker will refuse to start with it -> fix it" ;;
esac

# ---- Docker ------------------------------------------------------------------------

docker_up=0
if command -v docker >/dev/null 2>&1 && timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  docker_up=1
  version=$(docker version --format '{{.Server.Version}}' 2>/dev/null)
  info "docker" "engine $version answering on ${DOCKER_HOST:-unix://$SOCKET}"
  secopts=$(docker info --format '{{json .SecurityOptions}}' 2>/dev/null)
  live=$(docker info --format '{{.LiveRestoreEnabled}}' 2>/dev/null)
  runtimes=$(docker info --format '{{json .Runtimes}}' 2>/dev/null)
  logdriver=$(docker info --format '{{.LoggingDriver}}' 2>/dev/null)
  cgroupv=$(docker info --format '{{.CgroupVersion}}' 2>/dev/null)
  dwarnings=$(docker info --format '{{json .Warnings}}' 2>/dev/null)
  rootdir=$(docker info --format '{{.DockerRootDir}}' 2>/dev/null)
else
  warn "docker" "the Docker daemon does not answer: daemon checks below cannot be made -> hardening/ensure-docker.sh"
  secopts=""; live=""; runtimes=""; logdriver=""; cgroupv=""; dwarnings=""; rootdir=""
fi
need_docker() { [ "$docker_up" = 1 ] || { info "$1" "cannot be checked: Docker does not answer"; return 1; }; }

# A daemon.json written after the daemon started has not been applied yet.
conf_pending=0
if [ "$docker_up" = 1 ] && [ -e "$DAEMON_JSON" ] && [ -r "$DOCKER_PIDFILE" ]; then
  pid=$(cat "$DOCKER_PIDFILE" 2>/dev/null)
  if [ -n "$pid" ] && elapsed=$(ps -o etimes= -p "$pid" 2>/dev/null); then
    started=$(( $(date +%s) - elapsed ))
    if [ "$(stat -c %Y "$DAEMON_JSON")" -gt "$started" ]; then
      warn "daemon.json" "changed after dockerd (pid $pid) started: not applied yet -> restart Docker (hardening/setup-host.sh does)"
      conf_pending=1
    fi
  fi
fi

# User namespaces: root in a container maps to an unprivileged host uid.
if need_docker "user namespaces"; then
  if [[ "$secopts" == *name=userns* ]]; then
    pass "user namespaces" "userns-remap active (storage root $rootdir)"
  elif [ -n "$(cfg '.["userns-remap"] // empty')" ]; then
    warn "user namespaces" "userns-remap is in daemon.json but not active -> restart Docker, then rebuild the image (hardening/setup-host.sh)"
  else
    warn "user namespaces" "off: container root is host root if it escapes -> hardening/setup-host.sh (adds userns-remap)"
  fi
fi

# Inter-container communication on the default bridge (sandboxes use network none anyway).
if need_docker "icc"; then
  icc=$(docker network inspect bridge --format '{{index .Options "com.docker.network.bridge.enable_icc"}}' 2>/dev/null)
  if [ "$icc" = false ]; then
    pass "icc" "disabled on the default bridge"
  elif [ -z "$icc" ] && ! docker network inspect bridge >/dev/null 2>&1; then
    info "icc" "no default bridge network (daemon runs with bridge none)"
  elif [ "$(cfg '.icc')" = false ]; then
    warn "icc" "icc=false is in daemon.json but the bridge still allows it -> restart Docker"
  else
    warn "icc" "containers on the default bridge can reach each other (sandboxes have no network, other containers do) -> hardening/setup-host.sh"
  fi
fi

# no-new-privileges as the daemon default (sandterm also sets it on every sandbox).
if need_docker "no-new-privileges"; then
  if [[ "$secopts" == *name=no-new-privileges* ]]; then
    pass "no-new-privileges" "daemon default for every container"
  elif [ "$(cfg '.["no-new-privileges"]')" = true ] && [ "$conf_pending" = 1 ]; then
    warn "no-new-privileges" "in daemon.json but not applied yet -> restart Docker"
  elif [ "$(cfg '.["no-new-privileges"]')" = true ]; then
    pass "no-new-privileges" "set in daemon.json (this Docker does not list it in its security options; sandbox policies set it per container too)"
  else
    warn "no-new-privileges" "not the daemon default (sandterm's policies set it per container; other containers lack it) -> hardening/setup-host.sh"
  fi
fi

if need_docker "live-restore"; then
  if [ "$live" = true ]; then
    pass "live-restore" "containers survive a daemon restart or upgrade"
  else
    warn "live-restore" "off: restarting Docker kills every sandbox -> hardening/setup-host.sh"
  fi
fi

if need_docker "seccomp"; then
  if [[ "$secopts" == *name=seccomp* ]]; then
    profile=$(grep -o 'name=seccomp,profile=[^"]*' <<<"$secopts" | sed 's/.*profile=//')
    if [ "$profile" = unconfined ]; then
      warn "seccomp" "daemon default profile is unconfined -> remove seccomp-profile from daemon.json"
    else
      pass "seccomp" "on (profile: ${profile:-default})"
    fi
  else
    warn "seccomp" "not available: the kernel or Docker build lacks seccomp; sandboxes lose their syscall filter"
  fi
fi

# AppArmor: only where the kernel has it.
if [ "$(cat "$APPARMOR_ENABLED" 2>/dev/null)" = Y ]; then
  pass "AppArmor" "enabled in the kernel"
  if [ -r "$APPARMOR_PROFILES" ] && grep -q "^$PROFILE_NAME " "$APPARMOR_PROFILES"; then
    pass "AppArmor profile" "$PROFILE_NAME loaded $(grep "^$PROFILE_NAME " "$APPARMOR_PROFILES" | sed 's/.* //')"
  elif [ -r "$APPARMOR_PROFILES" ]; then
    warn "AppArmor profile" "$PROFILE_NAME not loaded (sandboxes get docker-default) -> hardening/setup-host.sh"
  else
    info "AppArmor profile" "cannot read $APPARMOR_PROFILES (not root?)"
  fi
  if grep -qs "^apparmor_profile = \"$PROFILE_NAME\"" "$POLICY_FILE"; then
    pass "AppArmor policy" "$POLICY_FILE uses $PROFILE_NAME"
  else
    warn "AppArmor policy" "$POLICY_FILE does not name $PROFILE_NAME (sandboxes get docker-default) -> hardening/setup-host.sh sets it once the profile loads"
  fi
else
  info "AppArmor" "not in this kernel: cannot be checked here; sandboxes rely on seccomp, capabilities, no-new-privileges and namespaces"
fi

# Default log driver (sandbox policies choose their own; this covers every other container).
if need_docker "log driver"; then
  case "$logdriver" in
    none) pass "log driver" "default none: containers write no log on the host" ;;
    local|json-file)
      size=$(cfg '.["log-opts"]["max-size"] // empty')
      files=$(cfg '.["log-opts"]["max-file"] // empty')
      if [ -n "$size" ] && [ "$conf_pending" = 1 ]; then
        warn "log driver" "default $logdriver; daemon.json's log settings are not applied yet -> restart Docker"
      elif [ -n "$size" ]; then
        pass "log driver" "default $logdriver, max-size $size, max-file ${files:-Docker default} (daemon.json)"
      elif [ "$logdriver" = local ]; then
        pass "log driver" "default local (rotates at 20m x 5 files by Docker's own default)"
      elif [ "$conf_state" = unread ]; then
        info "log driver" "default json-file; limits unknown (jq missing)"
      else
        warn "log driver" "default json-file without max-size: a chatty container can fill the disk -> hardening/setup-host.sh"
      fi
      ;;
    *) info "log driver" "default $logdriver (the operator's choice; size limits are its business)" ;;
  esac
fi

# The Docker socket is root on the host: only root and the docker group may use it.
if [ -S "$SOCKET" ]; then
  read -r mode owner group < <(stat -c '%a %U %G' "$SOCKET")
  if (( 8#$mode & 8#002 )); then
    warn "docker socket" "$SOCKET is world-writable ($mode $owner:$group): any local user is root -> chmod 660"
  elif [ "$group" != docker ] && [ "$group" != root ] && (( 8#$mode & 8#020 )); then
    warn "docker socket" "$SOCKET is group-writable by '$group' ($mode $owner:$group) -> chgrp docker"
  else
    members=$(getent group docker 2>/dev/null | cut -d: -f4)
    pass "docker socket" "$mode $owner:$group${members:+ (docker group, root-equivalent: $members)}"
  fi
else
  info "docker socket" "$SOCKET is not a socket here (DOCKER_HOST elsewhere?)"
fi
if command -v ss >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  tcp=$(ss -ltnpH 2>/dev/null | grep -E 'dockerd' | awk '{print $4}' | tr '\n' ' ')
  if [ -n "$tcp" ]; then
    warn "docker tcp" "dockerd listens on TCP $tcp: without TLS client auth that is remote root -> remove the tcp:// host"
  else
    pass "docker tcp" "dockerd listens on no TCP port"
  fi
fi

# gVisor, for policies/strict.toml.
if need_docker "gVisor"; then
  if [[ "$runtimes" == *'"runsc"'* ]]; then
    if [[ "$runtimes" == *'--oci-seccomp'* ]]; then
      pass "gVisor" "runtime runsc registered with --oci-seccomp (policies/strict.toml can run)"
    else
      warn "gVisor" "runsc is registered without --oci-seccomp: inside gVisor the policy's seccomp filter is not applied -> add \"--oci-seccomp\" to its runtimeArgs in daemon.json"
    fi
  elif command -v runsc >/dev/null 2>&1; then
    warn "gVisor" "runsc is installed but not registered with Docker -> hardening/setup-host.sh --with-gvisor"
  else
    info "gVisor" "runsc not installed: policies/strict.toml cannot run here -> hardening/setup-host.sh --with-gvisor"
  fi
fi

# The sandbox image.
if need_docker "sandbox image"; then
  if label=$(docker image inspect --format '{{index .Config.Labels "org.sandterm.recipe"}}' "$IMAGE" 2>/dev/null); then
    recipe=$(sha256sum "$REPO/hardening/build-image.sh" 2>/dev/null | cut -c1-16)
    if [ -n "$recipe" ] && [ "$label" != "$recipe" ]; then
      info "sandbox image" "$IMAGE present, built by another version of build-image.sh -> hardening/build-image.sh --if-missing rebuilds it"
    else
      pass "sandbox image" "$IMAGE present"
    fi
  else
    warn "sandbox image" "$IMAGE missing (sessions get image_missing) -> hardening/build-image.sh"
  fi
fi

# cgroups: version, and whether memory_swap limits are enforced.
if [ -z "$cgroupv" ]; then
  if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then cgroupv=2; else cgroupv=1; fi
fi
info "cgroups" "version $cgroupv"
if [ "$cgroupv" = 1 ]; then
  if [ -e /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes ]; then
    pass "swap accounting" "memory.memsw present: memory_swap limits are enforced (no swap for sandboxes)"
  else
    warn "swap accounting" "no memory.memsw: memory_swap is ignored, sandboxes may swap -> boot with swapaccount=1"
  fi
elif [[ "$dwarnings" == *"No swap limit support"* ]]; then
  warn "swap accounting" "Docker reports no swap limit support: memory_swap is ignored -> enable the memory controller's swap accounting"
else
  pass "swap accounting" "cgroup v2 memory.swap.max available"
fi
if [[ "$dwarnings" == *"No memory limit support"* ]] || [[ "$dwarnings" == *"No cpu cfs quota support"* ]]; then
  warn "cgroup limits" "Docker reports missing memory or CPU limit support: sandbox limits would not hold"
fi

if [ "$warnings" -gt 0 ]; then
  echo "$warnings warning(s)"
  [ "$strict" = 1 ] && exit 1
else
  echo "no warnings"
fi
exit 0
