#!/usr/bin/env bash
# Builds the default sandbox image (sandterm/sandbox:latest) without any image registry:
# a minimal Debian root filesystem from Debian's own package mirror (debootstrap), plus a
# non-root user, imported into Docker. With a registry reachable, `--from-registry` builds
# the same image FROM debian:bookworm-slim instead.
#
#   sudo hardening/build-image.sh                 # debootstrap (works air-gapped from a mirror)
#   sudo hardening/build-image.sh --from-registry # docker build FROM debian:bookworm-slim
#   sudo hardening/build-image.sh --if-missing    # do nothing when the image already exists
#
# Environment: SANDTERM_IMAGE (default sandterm/sandbox:latest), SANDTERM_SUITE (bookworm),
# SANDTERM_MIRROR (default: the host's apt mirror, else http://deb.debian.org/debian).
set -euo pipefail

IMAGE=${SANDTERM_IMAGE:-sandterm/sandbox:latest}
SUITE=${SANDTERM_SUITE:-bookworm}
# Packages beyond debootstrap's minbase (which already has bash, coreutils, perl-base,
# util-linux, ncurses-base): what a person at a terminal expects, nothing that opens a network.
PACKAGES=procps,less,vim-tiny,nano,ncurses-bin,ncurses-term,keyutils,bash-completion,file,psmisc,busybox-static
SANDBOX_UID=1000
mode=debootstrap
if_missing=0

for arg in "$@"; do
  case "$arg" in
    --from-registry) mode=registry ;;
    --if-missing) if_missing=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "build-image.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf 'build-image: %s\n' "$*"; }
work=""
trap 'if [ -n "$work" ]; then rm -rf "$work"; fi' EXIT

# The image records which version of this script built it, so --if-missing rebuilds an
# image made by an older recipe.
RECIPE=$(sha256sum "$0" | cut -c1-16)
if [ "$if_missing" = 1 ]; then
  have=$(docker image inspect --format '{{index .Config.Labels "org.sandterm.recipe"}}' "$IMAGE" 2>/dev/null || true)
  if [ "$have" = "$RECIPE" ]; then
    say "$IMAGE is up to date; nothing to do"
    exit 0
  fi
fi

# Files every variant of the image carries: the user, the prompt, a short welcome.
write_customisations() {
  local root=$1
  mkdir -p "$root/home/sandbox"
  if ! grep -q '^sandbox:' "$root/etc/passwd"; then
    echo "sandbox:x:${SANDBOX_UID}:${SANDBOX_UID}:sandbox user:/home/sandbox:/bin/bash" >> "$root/etc/passwd"
    echo "sandbox:x:${SANDBOX_UID}:" >> "$root/etc/group"
    echo "sandbox:*:19000:0:99999:7:::" >> "$root/etc/shadow"
  fi
  chown "${SANDBOX_UID}:${SANDBOX_UID}" "$root/home/sandbox"
  # The root filesystem is read-only and $HOME is an empty tmpfs, so the shell's settings
  # live system-wide. Debian's stock bash.bashrc would override PS1.
  cat > "$root/etc/bash.bashrc" <<'RC'
# sandterm sandbox shell settings
[ -z "$PS1" ] && return
shopt -s checkwinsize histappend
HISTFILE=${HOME:-/tmp}/.bash_history
PS1='\[\e[32m\]sandbox\[\e[0m\]:\[\e[34m\]\w\[\e[0m\]$ '
alias ls='ls --color=auto' ll='ls -l --color=auto' grep='grep --color=auto'
[ -r /usr/share/bash-completion/bash_completion ] && . /usr/share/bash-completion/bash_completion
RC
  cat > "$root/etc/motd" <<'MOTD'
Welcome to a sandterm sandbox: a throw-away container with no network.
Everything here disappears when you close the page.
MOTD
  # gVisor compatibility (policies/strict.toml puts this directory first in PATH): the
  # gVisor release Debian 12 ships (runsc 20221219) answers statx(AT_NO_AUTOMOUNT) with
  # EINVAL, which breaks coreutils' ls, stat, dir and vdir; busybox's use plain stat calls.
  mkdir -p "$root/usr/local/lib/sandterm/gvisor-compat"
  for tool in ls stat dir vdir; do
    target=$tool
    case "$tool" in dir|vdir) target=ls ;; esac
    printf '#!/bin/sh\nexec /bin/busybox %s "$@"\n' "$target" > "$root/usr/local/lib/sandterm/gvisor-compat/$tool"
    chmod 0755 "$root/usr/local/lib/sandterm/gvisor-compat/$tool"
  done
  # Drop setuid/setgid bits: nothing in a sandbox should change identity.
  find "$root" -xdev -perm /6000 -type f -exec chmod ug-s {} + 2>/dev/null || true
}

build_from_debootstrap() {
  command -v debootstrap >/dev/null 2>&1 || {
    say "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  local mirror=${SANDTERM_MIRROR:-}
  if [ -z "$mirror" ]; then
    mirror=$(grep -hoE '^(deb|URIs:)\s+\S+debian/?(\s|$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | awk 'NR==1{print $2}' || true)
    mirror=${mirror:-http://deb.debian.org/debian}
  fi
  work=$(mktemp -d /var/tmp/sandterm-rootfs.XXXXXX)
  say "debootstrap $SUITE from $mirror (about 30-60 s)"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2
    say "debootstrap failed; see the lines above"; exit 1
  }
  # Keep the image small: no apt lists, caches, docs or man pages.
  rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin \
         "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/usr/share/doc/"* \
         "$work/rootfs/usr/share/man/"* "$work/rootfs/usr/share/info/"*
  write_customisations "$work/rootfs"
  say "importing into Docker as $IMAGE"
  tar -C "$work/rootfs" -c . | docker import \
    --change 'ENV LANG=C.UTF-8 TERM=xterm-256color HOME=/home/sandbox' \
    --change "USER ${SANDBOX_UID}:${SANDBOX_UID}" \
    --change 'WORKDIR /home/sandbox' \
    --change 'CMD ["/bin/bash", "-i"]' \
    --change 'LABEL org.opencontainers.image.title=sandterm-sandbox' \
    --change "LABEL org.sandterm.recipe=$RECIPE" \
    - "$IMAGE" >/dev/null
}

build_from_registry() {
  work=$(mktemp -d)
  cat > "$work/Dockerfile" <<DOCKERFILE
FROM debian:${SUITE}-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      $(echo "$PACKAGES" | tr ',' ' ') && rm -rf /var/lib/apt/lists/*
COPY customise.sh /tmp/customise.sh
RUN bash /tmp/customise.sh / && rm /tmp/customise.sh
ENV LANG=C.UTF-8 TERM=xterm-256color HOME=/home/sandbox
USER ${SANDBOX_UID}:${SANDBOX_UID}
WORKDIR /home/sandbox
CMD ["/bin/bash", "-i"]
LABEL org.opencontainers.image.title=sandterm-sandbox org.sandterm.recipe=$RECIPE
DOCKERFILE
  { echo "SANDBOX_UID=${SANDBOX_UID}"; declare -f write_customisations; echo 'write_customisations "$1"'; } > "$work/customise.sh"
  docker build -t "$IMAGE" "$work"
}

case "$mode" in
  debootstrap) build_from_debootstrap ;;
  registry) build_from_registry ;;
esac
say "done: $(docker image inspect --format '{{.Id}} {{.Size}} bytes' "$IMAGE")"
