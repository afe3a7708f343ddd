#!/usr/bin/env bash
# `make image`: the golden image, built offline from Debian packages (issue #15). No loop devices, no mounts: the
# filesystems are made from directories (mkfs.ext4 -d, mkfs.vfat + mcopy) and written at their offsets into a GPT
# disk made with sgdisk; qemu-img makes the qcow2. Layout (docs/decisions.md, "The golden image"):
#   1 esp          EFI system partition, FAT32: systemd-boot, /pleaco/a/{vmlinuz,initrd.img}, a loader entry per slot
#                  that holds a system (pleaco-a.conf; sort-key pleaco, version: the newest good one boots)
#   2 root-a       root slot A, ext4 (the image's system)
#   3 root-b       root slot B, same size, empty until a host update writes it (src/update/host.ts, issue #16)
#   4 pleaco-data  /var/lib/pleaco and Docker's data root; grown to the disk's end on first boot (systemd-repart)
# Two stages:
#   os    mmdebstrap bookworm + the packages of image/provision/10-packages.sh, then that script in the chroot;
#         cached as image/out/cache/os-<hash>.tar, the hash of the suite, the package script and this stage's code
#   node  the cached root unpacked, image/provision/[2-9]*.sh run in it by chroot with the release staged at
#         /tmp/pleaco-stage (node binary, pleaco release, systemd units); then the disk (seconds to a minute)
# Output: image/out/pleaco.raw, image/out/pleaco.qcow2; the last line on stdout is `image=<qcow2 path>`.
#
#   IMAGE_MIRROR=URI         Debian mirror for bookworm (default: from this host's apt sources)
#   IMAGE_NODE=PATH          the Node 20 binary to put in (default: `command -v node`; none: stage no binary)
#   IMAGE_ROOT_MIB=2048      size of each root slot;  IMAGE_ESP_MIB=256;  IMAGE_DATA_MIB=512
#   IMAGE_VERSION=V          the host version (os-release IMAGE_VERSION, the loader entry's version; default: package.json's)
#   IMAGE_UPDATE_KEYS=DIR    the *.pub keys the image trusts for host updates (default image/out/keys: a development
#                            key made on first use; release images name the release keys' directory)
#   IMAGE_RELEASE_OUT=DIR    make a release's parts instead of a disk: DIR/{vmlinuz,initrd.img,rootfs.img.gz}
#   IMAGE_BREAK=agent        a deliberately broken release (its agent never starts): for the rollback test only
#   build.sh --list-provision   print the provision scripts it runs, in order (10-*.sh in stage os, the rest after)
#   build.sh --stage-only DIR   only make the staging tree (what the Packer template uploads to /tmp/pleaco-stage)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$repo/image/out"
cache="$out/cache"
prov="$repo/image/provision"
SUITE=bookworm
ROOT_MIB="${IMAGE_ROOT_MIB:-2048}"
ESP_MIB="${IMAGE_ESP_MIB:-256}"
DATA_MIB="${IMAGE_DATA_MIB:-512}"
STAGE_IN=/tmp/pleaco-stage   # where the provision scripts find the staged inputs, in the chroot as in Packer's VM
CMDLINE='rw console=tty0 console=ttyS0,115200n8 rootwait systemd.show_status=auto'

say() { printf 'image: %s\n' "$*" >&2; }
die() { printf 'image: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
mib() { du -sm --apparent-size "$1" | cut -f1; }
used_mib() { du -sm "$1" | cut -f1; }
hash_text() { sha256sum | cut -c1-16; }

# The provision scripts, in the order both paths run them (the Packer template lists the same files).
provision_scripts() { (cd "$prov" && find . -maxdepth 1 -name '[0-9][0-9]-*.sh' -printf '%f\n' | LC_ALL=C sort); }

# prod_modules
# shellcheck source=scripts/lib-release.sh
. "$repo/scripts/lib-release.sh"

image_version() {
  local v="${IMAGE_VERSION:-$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$repo/package.json" | head -n1)}"
  [[ $v =~ ^[0-9]{1,9}(\.[0-9]{1,9}){0,3}(-[0-9A-Za-z.]{1,32})?$ ]] || die "IMAGE_VERSION $v is not a host version (like 1.4.2)"
  printf '%s\n' "$v"
}

# The public keys the image trusts; the default directory gets a development key pair on first use.
update_keys_dir() {
  keys_dir="${IMAGE_UPDATE_KEYS:-$out/keys}"
  if [ -z "${IMAGE_UPDATE_KEYS:-}" ] && [ ! -f "$keys_dir/release.pub" ]; then
    say "no IMAGE_UPDATE_KEYS: making a development signing key in $keys_dir (not for releases others install)"
    node "$repo/bin/pleaco" update:keys --dir "$keys_dir" >&2
  fi
  compgen -G "$keys_dir/*.pub" >/dev/null || die "no *.pub key in $keys_dir (IMAGE_UPDATE_KEYS)"
}

# The staging tree both paths provision from: node (binary), pleaco/ (release), systemd/ (units).
make_stage() {
  local dest="$1" node_bin=""
  if [ "${IMAGE_NODE:-}" != none ]; then   # none: no binary staged (Packer: 20-node.sh takes it from the npm registry)
    node_bin="$(readlink -f "${IMAGE_NODE:-$(command -v node || true)}")"
    [ -x "$node_bin" ] || die "no node binary (set IMAGE_NODE)"
    case "$("$node_bin" --version)" in v20.*) ;; *) die "$node_bin is $("$node_bin" --version), not Node 20" ;; esac
  fi
  [ -f "$repo/dist/src/main/launch.js" ] || die "pleaco is not built: run make build first"
  [ -f "$repo/node_modules/.package-lock.json" ] || die "node_modules is missing: run npm ci first"
  mkdir -p "$dest/pleaco" "$dest/systemd"
  if [ -n "$node_bin" ]; then
    install -m 0755 "$node_bin" "$dest/node"
    if command -v strip >/dev/null 2>&1; then strip --strip-debug "$dest/node"; fi
  fi
  (cd "$repo" && find dist/src bin -type f ! -name '*.tsbuildinfo' ! -name '*.map' | LC_ALL=C sort && echo package.json) |
    (cd "$repo" && tar --no-recursion -cf - -T -) | tar -xf - -C "$dest/pleaco"
  prod_modules "$dest/pleaco/node_modules"
  local f
  shopt -s nullglob
  for f in "$repo"/systemd/*.service "$repo"/systemd/*.target "$repo"/systemd/*.timer "$repo"/systemd/*.socket "$repo"/systemd/*.path; do
    install -m 0644 "$f" "$dest/systemd/"
  done
  shopt -u nullglob
  [ ! -f "$repo/systemd/pleaco-node" ] || install -m 0755 "$repo/systemd/pleaco-node" "$dest/systemd/pleaco-node"
  # host updates: the version this image is, the keys it trusts (src/update/trust.ts), a test release's breakage
  image_version >"$dest/image-version"
  mkdir -p "$dest/update-keys"
  update_keys_dir
  cp "$keys_dir"/*.pub "$dest/update-keys/"
  [ -z "${IMAGE_BREAK:-}" ] || printf '%s\n' "$IMAGE_BREAK" >"$dest/image-break"
  # The base images apps build FROM (no registry here): saved from this host's Engine, loaded at first boot.
  if [ "${IMAGE_BASE_IMAGES:-1}" = 1 ]; then
    bash "$repo/scripts/base-images.sh" >&2
    docker save -o "$dest/base-images.tar" busybox:latest debian:bookworm-slim
  fi
}

if [ "${1:-}" = --list-provision ]; then   # the scripts this build runs, in order (test/image/build.test.ts)
  provision_scripts
  exit 0
fi
if [ "${1:-}" = --stage-only ]; then
  [ -n "${2:-}" ] || die "usage: build.sh --stage-only DIR"
  make_stage "$2"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "the image build needs root (mmdebstrap --mode=root, chroot)"
# the build's own tools (Debian packages; the apt mirror is the only network here)
need=()
for pair in mmdebstrap:mmdebstrap sgdisk:gdisk mkfs.vfat:dosfstools mcopy:mtools qemu-img:qemu-utils mkfs.ext4:e2fsprogs; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
  say "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

exec 9>"${TMPDIR:-/tmp}/pleaco-image.lock"
if ! flock -n 9; then say "another image build is running; waiting for it"; flock 9; fi

work="$(mktemp -d "${TMPDIR:-/tmp}/pleaco-image.XXXXXX")"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -d "$work" ]; then
    awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$work"
  fi
  [ "$rc" -eq 0 ] || printf 'image: error: failed (exit %s)\n' "$rc" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=scripts/lib-apt.sh
. "$repo/scripts/lib-apt.sh"

# --- stage os: mmdebstrap + 10-packages.sh ---------------------------------------------------------------------
build_os() {
  local tar="$1" sources main updates security packages
  sources="$(host_apt_sources)"
  main="${IMAGE_MIRROR:-$(pick_mirror "^($SUITE|stable)\$" <<<"$sources")}"
  updates="${IMAGE_MIRROR:-$(pick_mirror "^($SUITE|stable)-updates\$" <<<"$sources")}"
  security="$(pick_mirror "^($SUITE|stable)-security\$" <<<"$sources")"
  [ -n "$main" ] || die "no Debian mirror for '$SUITE' in the host's apt sources (set IMAGE_MIRROR=URI)"
  local mirrors=("deb $main $SUITE main" "deb ${updates:-$main} $SUITE-updates main")
  [ -z "$security" ] || mirrors+=("deb $security $SUITE-security main")
  local aptopts=() opt val proxy
  for opt in Acquire::Check-Valid-Until Acquire::Check-Date; do
    val="$(apt-config dump "$opt" 2>/dev/null | awk -v k="$opt" '$1 == k { gsub(/[";]/, "", $2); print $2 }')"
    [ -z "$val" ] || aptopts+=("--aptopt=$opt \"$val\"")
  done
  proxy="$(apt-config dump Acquire::http::Proxy 2>/dev/null | awk '$1 == "Acquire::http::Proxy" { gsub(/[";]/, "", $2); print $2 }')"
  [ -d /usr/share/mmdebstrap/hooks/merged-usr ] || die "mmdebstrap's merged-usr hook is missing (mmdebstrap >= 1.0 needed)"
  packages="$(bash "$prov/10-packages.sh" --list | paste -sd, -)"
  # the sources the node's apt keeps (the same mirrors: the node can apt-get install later where they are reachable)
  printf '%s\n' "${mirrors[@]}" >"$work/sources.list"
  say "os: mmdebstrap $SUITE minbase + $packages (mirror $main)"
  # shellcheck disable=SC2016 # the hooks' $1 is mmdebstrap's (the chroot), not ours
  if ! env TMPDIR="$work" ${proxy:+http_proxy="$proxy"} \
    mmdebstrap --mode=root --variant=minbase --format=tar --include="$packages" \
      "${aptopts[@]}" \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
      --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
      --customize-hook="mkdir -p \"\$1/tmp/pleaco-provision\"" \
      --customize-hook="copy-in $prov/10-packages.sh /tmp/pleaco-provision" \
      --customize-hook='chroot "$1" bash /tmp/pleaco-provision/10-packages.sh' \
      --customize-hook='rm -rf "$1/tmp/pleaco-provision"' \
      --customize-hook="upload $work/sources.list /etc/apt/sources.list" \
      "$SUITE" "$tar.part" "${mirrors[@]}" >"$work/mmdebstrap.log" 2>&1; then
    tail -n 40 "$work/mmdebstrap.log" >&2
    die "mmdebstrap failed (log above)"
  fi
  grep -E '^10-packages:' "$work/mmdebstrap.log" | sed 's/^/image: os: /' >&2 || true
  mv "$tar.part" "$tar"
}

t_start="$(now)"
mkdir -p "$cache"
version="$(image_version)"
say "version $version${IMAGE_BREAK:+ (deliberately broken: $IMAGE_BREAK)}"
os_hash="$( { echo "$SUITE"; cat "$prov/10-packages.sh"; declare -f build_os; } | hash_text)"
os_tar="$cache/os-$os_hash.tar"
if [ -f "$os_tar" ]; then
  say "os: $os_tar cached"
else
  t0="$(now)"
  build_os "$os_tar"
  say "os: built in $(elapsed "$t0") ($(mib "$os_tar") MiB tar)"
  find "$cache" -maxdepth 1 -name 'os-*.tar*' ! -name "os-$os_hash.tar" -delete   # older roots: stale
fi

# --- stage node: the rest of the provision scripts in a chroot -------------------------------------------------
t0="$(now)"
root="$work/root"
mkdir -p "$root"
tar -xpf "$os_tar" -C "$root" --numeric-owner
make_stage "$root$STAGE_IN"
mkdir -p "$root/tmp/pleaco-provision"
cp "$prov"/*.sh "$root/tmp/pleaco-provision/"
# the chroot needs /proc, /sys and /dev for a few tools (systemctl enable does not); mounted read-only where possible
# and only when this environment allows mounts: the scripts work without them
mounted=()
for m in proc sys dev; do
  if mount --bind "/$m" "$root/$m" 2>/dev/null; then mounted+=("$root/$m"); fi
done
for s in $(provision_scripts); do
  case "$s" in 10-*) continue ;; esac   # ran in stage os (its packages are the cached root)
  say "node: $s"
  if ! chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      PLEACO_STAGE="$STAGE_IN" LANG=C.UTF-8 /bin/bash "/tmp/pleaco-provision/$s" >"$work/$s.log" 2>&1; then
    cat "$work/$s.log" >&2
    die "$s failed in the chroot (output above)"
  fi
  grep -E "^${s%.sh}:" "$work/$s.log" | sed 's/^/image: /' >&2 || true
done
for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[$i]}"; done
rm -rf "$root/tmp/pleaco-provision" "$root$STAGE_IN"
say "node: provisioned in $(elapsed "$t0")"

# --- the disk ----------------------------------------------------------------------------------------------------
t0="$(now)"
kver="$(find "$root/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -n1)"
if [ -z "$kver" ] || [ ! -f "$root/boot/initrd.img-$kver" ]; then die "no kernel or initrd in the root's /boot"; fi
efi="$root/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
[ -f "$efi" ] || efi=/usr/lib/systemd/boot/efi/systemd-bootx64.efi
[ -f "$efi" ] || die "systemd-bootx64.efi is missing (package systemd-boot-efi)"

# ESP tree: systemd-boot as the removable-media path (no NVRAM entry needed), the kernel of slot A, loader entries.
esp="$work/esp"
mkdir -p "$esp/EFI/BOOT" "$esp/EFI/systemd" "$esp/loader/entries" "$esp/pleaco/a"
cp "$efi" "$esp/EFI/BOOT/BOOTX64.EFI"
cp "$efi" "$esp/EFI/systemd/systemd-bootx64.efi"
cp "$root/boot/vmlinuz-$kver" "$esp/pleaco/a/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$esp/pleaco/a/initrd.img"
# No default: systemd-boot boots the first entry in its order, the highest version whose boot counter is not at 0.
# Slot A has no counter (nothing to fall back to). A host update writes slot B and gives it `pleaco-b+1.conf` of a
# newer version (one trial boot); blessed, it becomes pleaco-b.conf; not blessed, it is bad and A boots again.
cat >"$esp/loader/loader.conf" <<CONF
timeout 0
editor no
console-mode keep
CONF
cat >"$esp/loader/entries/pleaco-a.conf" <<CONF
title      pleaco $version (slot A)
sort-key   pleaco
version    $version
linux      /pleaco/a/vmlinuz
initrd     /pleaco/a/initrd.img
options    root=PARTLABEL=root-a $CMDLINE
CONF
printf '%s\nimage\n' "$version" >"$esp/pleaco/a/version"
mkdir -p "$work/data"

rm -f "$work/esp.img" "$work/root.img" "$work/data.img"
truncate -s "${ESP_MIB}M" "$work/esp.img"
mkfs.vfat -F 32 -n ESP "$work/esp.img" >/dev/null
(cd "$esp" && mcopy -s -Q -i "$work/esp.img" ./* ::/)
truncate -s "${ROOT_MIB}M" "$work/root.img"
mkfs.ext4 -q -F -L pleaco-root -d "$root" "$work/root.img"
if [ -n "${IMAGE_RELEASE_OUT:-}" ]; then   # a release's parts (make release packs and signs them), no disk
  mkdir -p "$IMAGE_RELEASE_OUT"
  cp "$esp/pleaco/a/vmlinuz" "$IMAGE_RELEASE_OUT/vmlinuz"
  cp "$esp/pleaco/a/initrd.img" "$IMAGE_RELEASE_OUT/initrd.img"
  gzip -1 -c "$work/root.img" >"$IMAGE_RELEASE_OUT/rootfs.img.gz"
  say "release $version: $(mib "$IMAGE_RELEASE_OUT/rootfs.img.gz") MiB root filesystem (gzip) in $(elapsed "$t_start")"
  echo "release=$IMAGE_RELEASE_OUT"
  exit 0
fi
truncate -s "${DATA_MIB}M" "$work/data.img"
mkfs.ext4 -q -F -L pleaco-data -d "$work/data" "$work/data.img"
root_used="$(used_mib "$root")"
rm -rf --one-file-system "$root"

# GPT: 1 MiB alignment; partitions in this order so that the data partition is last and can grow.
raw="$out/pleaco.raw.part"
total_mib=$((1 + ESP_MIB + ROOT_MIB + ROOT_MIB + DATA_MIB + 1))
rm -f "$raw"
truncate -s "${total_mib}M" "$raw"
sgdisk --clear \
  -n "1:1M:+${ESP_MIB}M" -t 1:ef00 -c 1:esp \
  -n "2:0:+${ROOT_MIB}M" -t 2:8304 -c 2:root-a \
  -n "3:0:+${ROOT_MIB}M" -t 3:8304 -c 3:root-b \
  -n "4:0:+${DATA_MIB}M" -t 4:8300 -c 4:pleaco-data \
  "$raw" >/dev/null
put() { # PARTNUM IMAGE: writes IMAGE at the partition's first sector
  local start
  start="$(sgdisk -i "$1" "$raw" | awk '/^First sector:/ { print $3 }')"
  dd if="$2" of="$raw" bs=1M seek="$((start * 512))" oflag=seek_bytes conv=notrunc,sparse status=none
}
put 1 "$work/esp.img"
put 2 "$work/root.img"
put 4 "$work/data.img"
fsck.vfat -n "$work/esp.img" >/dev/null || die "fsck.vfat: the ESP is not sound"
sgdisk -v "$raw" >/dev/null || die "sgdisk -v: the partition table is not sound"
mv "$raw" "$out/pleaco.raw"
qemu-img convert -f raw -O qcow2 -c "$out/pleaco.raw" "$out/pleaco.qcow2.part"
mv "$out/pleaco.qcow2.part" "$out/pleaco.qcow2"
say "disk: made in $(elapsed "$t0")"

sgdisk -p "$out/pleaco.raw" | sed -n '/^Number/,$p' | sed 's/^/image:   /' >&2
say "kernel $kver; root A: $root_used MiB used of $ROOT_MIB MiB"
say "pleaco.raw: $(mib "$out/pleaco.raw") MiB (apparent), $(used_mib "$out/pleaco.raw") MiB on disk; pleaco.qcow2: $(used_mib "$out/pleaco.qcow2") MiB"
say "built in $(elapsed "$t_start")"
echo "image=$out/pleaco.qcow2"
