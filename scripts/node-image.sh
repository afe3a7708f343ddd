#!/usr/bin/env bash
# Builds `pleaco-node`, the image of the multi-node harness's node containers (scripts/cluster.sh), locally from
# Debian packages: there is no registry to pull from. Three images, each tagged by the hash of what it is made of,
# so a rebuild redoes only what changed:
#   pleaco-node-os:<h>    Debian bookworm minbase + docker.io, haproxy, git, iptables, iproute2, tini, … (mmdebstrap,
#                         docker import; minutes, once)
#   pleaco-node-deps:<h>  + this host's Node 20 binary + pleaco's production node_modules (from package-lock.json)
#   pleaco-node:<h>       + dist/src, bin/, package.json, scripts/node-entry.sh (a code change: seconds)
# `pleaco-node:latest` names the newest. Every image is labelled io.pleaco.node-image=os|deps|app; ours that are
# more than a day old and not current are removed after a build (never one a container uses, nor an unlabelled one).
# Progress on stderr; the last line on stdout is `image=pleaco-node:<h>`.
#
#   NODE_IMAGE_MIRROR=URI   Debian mirror for bookworm (default: from this host's apt sources)
#   NODE_IMAGE_NODE=PATH    the Node 20 binary to put in (default: `command -v node`)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUITE=bookworm
LABEL_KEY=io.pleaco.node-image
CHECK_LABEL=io.pleaco.role=check
PATH_ENV=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# What the OS layer holds. Changing this list (or build_os) changes the OS layer's hash: it is rebuilt.
OS_PACKAGES=(docker.io containerd runc tini iptables iproute2 haproxy git ca-certificates procps busybox-static
  libstdc++6 netbase util-linux)

say() { printf 'node-image: %s\n' "$*" >&2; }
die() { printf 'node-image: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
size_of() { docker image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'; }
hash_text() { sha256sum | cut -c1-16; }
present() { docker image inspect "$1" >/dev/null 2>&1; }

for tool in docker tar flock sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (run scripts/ensure-deps.sh)"
done
docker info >/dev/null 2>&1 || die "Docker Engine is not answering (run scripts/ensure-deps.sh)"
[ -f "$repo/dist/src/main/launch.js" ] || die "pleaco is not built: run make build (npx tsc -p tsconfig.json) first"
[ -f "$repo/node_modules/.package-lock.json" ] || die "node_modules is missing: run npm ci first"
node_bin="${NODE_IMAGE_NODE:-$(command -v node || true)}"
[ -x "$node_bin" ] || die "no node binary (set NODE_IMAGE_NODE)"
node_bin="$(readlink -f "$node_bin")"
case "$("$node_bin" --version)" in v20.*) ;; *) die "$node_bin is $("$node_bin" --version), not Node 20" ;; esac

# One build at a time on a machine (two would race on the tags).
exec 9>"${TMPDIR:-/tmp}/pleaco-node-image.lock"
if ! flock -n 9; then
  say "another node-image build is running; waiting for it"
  flock 9
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/pleaco-node-image.XXXXXX")"
run_id="node-image-$$"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local ids=()
  mapfile -t ids < <(docker ps -aq --filter "label=io.pleaco.check-run=$run_id" 2>/dev/null || true)
  [ "${#ids[@]}" -eq 0 ] || docker rm -f "${ids[@]}" >/dev/null 2>&1 || true
  if [ -d "$work" ]; then
    # mmdebstrap's chroot lives under $work: never recurse into something still mounted
    awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$work"
  fi
  [ "$rc" -eq 0 ] || printf 'node-image: error: failed (exit %s)\n' "$rc" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

check_run() {
  local image="$1"; shift
  docker run --rm --network none --label "$CHECK_LABEL" --label "io.pleaco.check-run=$run_id" --entrypoint "$1" "$image" "${@:2}"
}

# Removes the images of one kind (os, deps, app) other than `keep` that are more than a day old. Several checkouts
# share this Engine, each with its own current images: a younger one may be another checkout's (or about to be run
# by its cluster.sh), so it stays. One a container uses stays too (rmi refuses), and so does every unlabelled one.
PRUNE_AFTER_S=$((24 * 3600))
prune_kind() {
  local kind="$1" keep="$2" ref created
  while read -r ref; do
    if [ -z "$ref" ] || [ "$ref" = "$keep" ] || [ "${ref##*:}" = latest ]; then continue; fi
    created="$(date -d "$(docker image inspect --format '{{.Created}}' "$ref" 2>/dev/null)" +%s 2>/dev/null || echo 0)"
    [ $(($(date +%s) - created)) -gt "$PRUNE_AFTER_S" ] || continue
    if docker rmi "$ref" >/dev/null 2>&1; then say "removed $ref (older than a day)"; fi
  done < <(docker images --filter "label=$LABEL_KEY=$kind" --format '{{.Repository}}:{{.Tag}}')
}

# shellcheck source=scripts/lib-apt.sh
. "$repo/scripts/lib-apt.sh"

# --- OS layer ------------------------------------------------------------------------------------------------------
build_os() {
  local tag="$1" sources main updates security
  command -v mmdebstrap >/dev/null 2>&1 || die "mmdebstrap is missing (run scripts/ensure-deps.sh)"
  [ "$(id -u)" = 0 ] || die "building $tag needs root (mmdebstrap --mode=root)"
  sources="$(host_apt_sources)"
  main="${NODE_IMAGE_MIRROR:-$(pick_mirror "^($SUITE|stable)\$" <<<"$sources")}"
  updates="${NODE_IMAGE_MIRROR:-$(pick_mirror "^($SUITE|stable)-updates\$" <<<"$sources")}"
  security="$(pick_mirror "^($SUITE|stable)-security\$" <<<"$sources")"
  [ -n "$main" ] || die "no Debian mirror for '$SUITE' in the host's apt sources (set NODE_IMAGE_MIRROR=URI)"
  local mirrors=("deb $main $SUITE main" "deb ${updates:-$main} $SUITE-updates main")
  [ -z "$security" ] || mirrors+=("deb $security $SUITE-security main")
  # the host's apt options that decide whether its mirrors verify at all (e.g. a snapshot mirror's Valid-Until)
  local aptopts=() opt val proxy
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
: >"$r/etc/resolv.conf"
: >"$r/etc/hostname"
mkdir -p "$r/etc/pleaco" "$r/opt/pleaco" "$r/opt/pleaco-images" "$r/var/lib/pleaco" "$r/var/log"
rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb "$r"/var/log/apt/* "$r"/var/log/*.log
mkdir -p "$r/var/lib/apt/lists/partial"
EOF
  chmod 755 "$work/customize.sh"
  local packages
  packages="$(IFS=,; echo "${OS_PACKAGES[*]}")"
  say "os: mmdebstrap $SUITE minbase + $packages (mirror $main)"
  if ! env TMPDIR="$work" ${proxy:+http_proxy="$proxy"} \
    mmdebstrap --quiet --mode=root --variant=minbase --format=tar --include="$packages" \
      "${aptopts[@]}" \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
      --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
      --customize-hook="$work/customize.sh" \
      "$SUITE" "$work/rootfs.tar" "${mirrors[@]}" 2>"$work/mmdebstrap.log"; then
    tail -n 30 "$work/mmdebstrap.log" >&2
    die "mmdebstrap failed (log above)"
  fi
  docker import \
    --change "LABEL $LABEL_KEY=os $LABEL_KEY.hash=${tag##*:}" \
    --change "ENV PATH=$PATH_ENV" \
    --message "pleaco node image, OS layer: mmdebstrap minbase $SUITE + ${OS_PACKAGES[*]}" \
    "$work/rootfs.tar" "$tag" >/dev/null
  rm -f "$work/rootfs.tar"
  local out
  out="$(check_run "$tag" sh -c 'dockerd --version; haproxy -v | head -n1; git --version; tini --version; iptables --version')" ||
    die "the OS layer's check failed: $out"
  say "os: $(tr '\n' ';' <<<"$out")"
}

# --- deps layer: Node 20 and the production node_modules -------------------------------------------------------
# prod_modules
# shellcheck source=scripts/lib-release.sh
. "$repo/scripts/lib-release.sh"

build_deps() {
  local tag="$1" from="$2" ctx="$work/deps"
  mkdir -p "$ctx"
  install -m 0755 "$node_bin" "$ctx/node"
  if command -v strip >/dev/null 2>&1; then strip --strip-debug "$ctx/node"; fi
  prod_modules "$ctx/node_modules"
  cat >"$ctx/Dockerfile" <<EOF
FROM $from
COPY node /usr/local/bin/node
COPY node_modules /opt/pleaco/node_modules
ENV NODE_ENV=production
EOF
  docker build --force-rm --label "$LABEL_KEY=deps" --label "$LABEL_KEY.hash=${tag##*:}" -t "$tag" "$ctx" >"$work/deps-build.log" 2>&1 ||
    { tail -n 30 "$work/deps-build.log" >&2; die "docker build of $tag failed (log above)"; }
  local out
  out="$(check_run "$tag" node --version 2>&1)" || die "the deps layer's check failed: $out"
  say "deps: node $out, $(find "$ctx/node_modules" -maxdepth 2 -name package.json | wc -l) packages"
}

# --- app layer: pleaco itself -----------------------------------------------------------------------------------
app_files() { # the files of the app layer, relative to the repository
  (cd "$repo" && find dist/src bin -type f ! -name '*.tsbuildinfo' | LC_ALL=C sort && echo package.json && echo scripts/node-entry.sh)
}

build_app() {
  local tag="$1" from="$2" ctx="$work/app"
  mkdir -p "$ctx/pleaco"
  (cd "$repo" && app_files | tar --no-recursion -cf - -T -) | tar -xf - -C "$ctx/pleaco"
  cat >"$ctx/Dockerfile" <<EOF
FROM $from
COPY pleaco /opt/pleaco/
ENV PATH=/opt/pleaco/bin:$PATH_ENV \\
    PLEACO_STATE_DIR=/var/lib/pleaco PLEACO_CLUSTER_KEY_FILE=/etc/pleaco/cluster.key \\
    PLEACO_API_PORT=7070 PLEACO_CLUSTER_PORT=7946 \\
    PLEACO_PROXY_BIND=0.0.0.0 PLEACO_PROXY_PORT=8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/pleaco/scripts/node-entry.sh"]
EOF
  docker build --force-rm --label "$LABEL_KEY=app" --label "$LABEL_KEY.hash=${tag##*:}" -t "$tag" "$ctx" >"$work/app-build.log" 2>&1 ||
    { tail -n 30 "$work/app-build.log" >&2; die "docker build of $tag failed (log above)"; }
  local out
  # shellcheck disable=SC2016 # JavaScript, not shell
  out="$(check_run "$tag" node -e 'Promise.all(["api","runtime/docker","cluster"].map((m) => import(`/opt/pleaco/dist/src/${m}/index.js`))).then(() => console.log("ok"), (e) => { console.error(e.message); process.exit(1) })' 2>&1)" ||
    die "the app layer's check failed: $out"
}

# ensure KIND TAG BUILD_FN [ARGS]: builds TAG unless present; says how long it took either way.
ensure() {
  local kind="$1" tag="$2" fn="$3" t0
  shift 3
  t0="$(now)"
  if present "$tag"; then
    say "$kind: $tag present"
    return 0
  fi
  say "$kind: building $tag"
  "$fn" "$tag" "$@"
  say "$kind: $tag built in $(elapsed "$t0") ($(size_of "$tag"))"
}

t_start="$(now)"
os_hash="$( { printf '%s\n' "$SUITE" "${OS_PACKAGES[@]}"; declare -f build_os; } | hash_text)"
os_tag="pleaco-node-os:$os_hash"
ensure os "$os_tag" build_os

deps_hash="$( { echo "$os_tag"; sha256sum "$node_bin" | cut -d' ' -f1; command -v strip >/dev/null 2>&1 && echo strip;
  cat "$repo/package-lock.json"; declare -f build_deps prod_modules; } | hash_text)"
deps_tag="pleaco-node-deps:$deps_hash"
ensure deps "$deps_tag" build_deps "$os_tag"

app_hash="$( { echo "$deps_tag"; declare -f build_app; (cd "$repo" && app_files | tr '\n' '\0' | xargs -0 sha256sum); } | hash_text)"
app_tag="pleaco-node:$app_hash"
ensure app "$app_tag" build_app "$deps_tag"
docker tag "$app_tag" pleaco-node:latest
prune_kind app "$app_tag"
prune_kind deps "$deps_tag"
prune_kind os "$os_tag"
docker image prune -f --filter "label=$LABEL_KEY" --filter "until=24h" >/dev/null 2>&1 || true

say "$app_tag ready in $(elapsed "$t_start") (image size $(size_of "$app_tag"))"
echo "image=$app_tag"
