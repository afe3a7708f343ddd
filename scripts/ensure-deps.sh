#!/usr/bin/env bash
# Install what pleaco needs on a Debian 12 host, make sure Docker Engine runs, and
# install the npm dependencies. Idempotent; silent when everything is in place.
#
#   SKIP_APT=1   skip the Debian package step (e.g. a machine whose packages are managed elsewhere)
#   SKIP_NPM=1   skip the npm step
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf 'ensure-deps: %s\n' "$*"; }
die() { printf 'ensure-deps: error: %s\n' "$*" >&2; exit 1; }

# Debian packages. busybox-static and mmdebstrap feed scripts/base-images.sh
# (there is no container registry to pull base images from). iproute2 and iptables build the network
# namespaces of the cluster tests (partitions, packet loss); serf is the anchor they are measured against.
# zip writes the OSV per-ecosystem .zip form of the advisory fixtures for the scanner's tests.
# fonts-dejavu-core is the font of the benches' charts (bench/chart.ts renders SVG to PNG with no font of its own).
# qemu-system-x86, qemu-utils, ovmf and cloud-image-utils boot the golden image in its test (TCG, UEFI, a NoCloud
# seed); packer validates its template (image/pleaco.pkr.hcl).
packages=(
  docker.io
  haproxy
  git
  busybox-static
  mmdebstrap
  ca-certificates
  iproute2
  iptables
  serf
  zip
  fonts-dejavu-core
  qemu-system-x86
  qemu-utils
  ovmf
  cloud-image-utils
  packer
)

# --- Debian packages -------------------------------------------------------------
if [ "${SKIP_APT:-0}" != 1 ]; then
  missing=()
  for pkg in "${packages[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
    [ "$status" = installed ] || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}) and not root: install them or run as root"
    say "installing Debian packages: ${missing[*]}"
    apt_log="$(mktemp "${TMPDIR:-/tmp}/pleaco-apt.XXXXXX")"
    if ! { apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$apt_log" 2>&1; then
      tail -n 30 "$apt_log" >&2
      rm -f "$apt_log"
      die "apt-get could not install: ${missing[*]}"
    fi
    rm -f "$apt_log"
    say "installed: ${missing[*]}"
  fi
fi

# --- Node ----------------------------------------------------------------------
# Debian 12's own nodejs is 18; pleaco needs 20+ (package.json engines).
command -v node >/dev/null 2>&1 || die "node is not installed (pleaco needs Node.js 20 or newer)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "node $(node --version) is too old: pleaco needs Node.js 20 or newer"

# --- Docker Engine -----------------------------------------------------------------
"$repo_root/scripts/start-dockerd.sh"

# --- npm dependencies ------------------------------------------------------------
# npm rewrites node_modules/.package-lock.json on every install, so it dates the
# installed tree better than the directory's own mtime does.
if [ "${SKIP_NPM:-0}" != 1 ] && [ -f "$repo_root/package.json" ]; then
  cd "$repo_root"
  stamp=node_modules/.package-lock.json
  [ -e "$stamp" ] || stamp=node_modules
  need_npm=0
  if [ ! -d node_modules ]; then
    need_npm=1
  elif [ -f package-lock.json ] && [ package-lock.json -nt "$stamp" ]; then
    need_npm=1
  elif [ ! -f package-lock.json ] && [ package.json -nt "$stamp" ]; then
    need_npm=1
  fi
  if [ "$need_npm" = 1 ]; then
    if [ -f package-lock.json ]; then
      say "installing npm dependencies (npm ci)"
      npm ci --no-audit --no-fund --loglevel=error
    else
      say "installing npm dependencies (npm install: no package-lock.json)"
      npm install --no-audit --no-fund --loglevel=error
    fi
    touch node_modules
    if [ -e node_modules/.package-lock.json ]; then touch node_modules/.package-lock.json; fi
  fi
fi
