#!/usr/bin/env bash
# Build the scanner's benchmark image, pleaco-bench/scan-large:latest, only when it is missing:
# Debian bookworm made by mmdebstrap (--variant=standard plus a few common packages) from this host's
# Debian mirror, ~300 installed dpkg packages, labelled io.pleaco.base=local and io.pleaco.bench=scan.
# The mirror is found the way scripts/base-images.sh finds it (the host's apt sources).
# Prints how many packages the image has, and how long the build took.
#
#   SCAN_BENCH_MIRROR=URI            Debian mirror for bookworm (default: from the host's apt sources)
#   SCAN_BENCH_SECURITY_MIRROR=URI   mirror for bookworm-security (default: from the host's apt sources)
#
# Rebuild: `docker rmi pleaco-bench/scan-large:latest && bash scripts/scan-bench-image.sh`.
set -euo pipefail

TAG=pleaco-bench/scan-large:latest
SUITE=bookworm
VARIANT=standard
# on top of the standard variant: what app images commonly carry (runtimes, TLS, VCS, build tools)
INCLUDE=python3,python3-pip,curl,ca-certificates,git,openssh-client,gnupg,make,unzip,xz-utils,procps,iproute2,jq,sqlite3,rsync,sudo,zstd,bzip2,patch,libpq5,less,vim-tiny,wget,strace,lsof,htop,tree,gcc
CHECK_LABELS=(--label io.pleaco.managed=true --label io.pleaco.role=check --label io.pleaco.bench=scan)

say() { printf 'scan-bench-image: %s\n' "$*"; }
die() { printf 'scan-bench-image: error: %s\n' "$*" >&2; exit 1; }

for tool in docker flock mmdebstrap awk; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (run scripts/ensure-deps.sh)"
done
docker info >/dev/null 2>&1 || die "Docker Engine is not answering (bash scripts/start-dockerd.sh)"

# installed packages of the image, counted by dpkg inside a throw-away, labelled, network-less container
count_packages() {
  # shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
  docker run --rm --network none "${CHECK_LABELS[@]}" "$TAG" \
    dpkg-query -W -f '${db:Status-Status}\n' | grep -c -x installed
}

if docker image inspect "$TAG" >/dev/null 2>&1; then
  say "$TAG present: $(count_packages) installed packages"
  exit 0
fi

lock_file="${TMPDIR:-/tmp}/pleaco-scan-bench-image.lock"
exec 9>"$lock_file"
flock 9
if docker image inspect "$TAG" >/dev/null 2>&1; then # built by the run we waited for
  say "$TAG present: $(count_packages) installed packages"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "building $TAG needs root (mmdebstrap --mode=root)"

work="$(mktemp -d "${TMPDIR:-/tmp}/pleaco-scan-bench.XXXXXX")"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -d "$work" ]; then # mmdebstrap's chroot lives under $work: never recurse into a mount
    awk -v w="$work/" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$work"
  fi
  [ "$rc" -eq 0 ] || printf 'scan-bench-image: error: failed (exit %s)\n' "$rc" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# host_apt_sources, pick_mirror
# shellcheck source=scripts/lib-apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-apt.sh"

t0="$(date +%s.%N)"
sources="$(host_apt_sources)"
main="${SCAN_BENCH_MIRROR:-$(pick_mirror "^($SUITE|stable)\$" <<<"$sources")}"
updates="${SCAN_BENCH_MIRROR:-$(pick_mirror "^($SUITE|stable)-updates\$" <<<"$sources")}"
security="${SCAN_BENCH_SECURITY_MIRROR:-$(pick_mirror "^($SUITE|stable)-security\$" <<<"$sources")}"
[ -n "$main" ] || die "no Debian mirror for '$SUITE' in the host's apt sources (set SCAN_BENCH_MIRROR=URI)"
mirrors=("deb $main $SUITE main" "deb ${updates:-$main} $SUITE-updates main")
[ -z "$security" ] || mirrors+=("deb $security $SUITE-security main")
say "building $TAG: mmdebstrap --variant=$VARIANT $SUITE from $main"

# the host's options that decide whether its mirrors verify at all (e.g. a snapshot's Check-Valid-Until)
aptopts=()
for opt in Acquire::Check-Valid-Until Acquire::Check-Date; do
  val="$(apt-config dump "$opt" 2>/dev/null | awk -v k="$opt" '$1 == k { gsub(/[";]/, "", $2); print $2 }')"
  [ -z "$val" ] || aptopts+=("--aptopt=$opt \"$val\"")
done
proxy="$(apt-config dump Acquire::http::Proxy 2>/dev/null | awk '$1 == "Acquire::http::Proxy" { gsub(/[";]/, "", $2); print $2 }')"
[ -d /usr/share/mmdebstrap/hooks/merged-usr ] || die "mmdebstrap's merged-usr hook is missing (mmdebstrap >= 1.0 needed)"

cat >"$work/customize.sh" <<'EOF'
#!/bin/sh
set -eu
r="$1"
# the host's name and resolver do not belong in an image; neither do apt's lists and caches
: >"$r/etc/resolv.conf"
: >"$r/etc/hostname"
rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb "$r"/var/log/apt/*
mkdir -p "$r/var/lib/apt/lists/partial"
EOF
chmod 755 "$work/customize.sh"

if ! env TMPDIR="$work" ${proxy:+http_proxy="$proxy"} \
  mmdebstrap --quiet --mode=root --variant="$VARIANT" --include="$INCLUDE" --format=tar \
    "${aptopts[@]}" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --customize-hook="$work/customize.sh" \
    "$SUITE" "$work/rootfs.tar" "${mirrors[@]}" 2>"$work/mmdebstrap.log"; then
  tail -n 30 "$work/mmdebstrap.log" >&2
  die "mmdebstrap failed (log above)"
fi

# imported from a finished file, never a pipe: a half-made stream must not become an image
docker import \
  --change "LABEL io.pleaco.base=local" \
  --change "LABEL io.pleaco.bench=scan" \
  --change "LABEL io.pleaco.base.source=\"mmdebstrap --variant=$VARIANT $SUITE +$INCLUDE\"" \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change 'CMD ["bash"]' \
  --message "pleaco scanner bench image: mmdebstrap $VARIANT $SUITE" \
  "$work/rootfs.tar" "$TAG" >/dev/null
rm -f "$work/rootfs.tar"

n="$(count_packages)" || { docker rmi "$TAG" >/dev/null 2>&1 || true; die "$TAG does not run dpkg-query"; }
size="$(docker image inspect --format '{{.Size}}' "$TAG" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
say "$TAG built in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }'): $n installed packages, $size"
