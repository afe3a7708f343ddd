#!/usr/bin/env bash
# Provision step 10: the Debian packages of a pleaco node. Runs INSIDE the target (its / is the node's root), as
# root: in the Packer VM over SSH, or in the offline build's chroot (image/build.sh), the same way. `--list` prints
# the package names, one a line, and changes nothing: the offline build hands them to mmdebstrap --include (this
# machine has only the apt mirror), then runs this script in the chroot, where it finds everything installed.
set -euo pipefail

PACKAGES=(
  # boot: kernel, initramfs, systemd as init, systemd-boot (its EFI binary goes on the ESP), fsck for the ESP
  linux-image-amd64 initramfs-tools zstd systemd systemd-sysv systemd-boot udev dbus e2fsprogs dosfstools kmod
  # network: systemd-networkd (cloud-init renders for it: no ifupdown) and systemd-resolved
  systemd-resolved iproute2 iptables netbase ca-certificates
  # the node
  docker.io containerd runc haproxy git cloud-init apparmor
  procps util-linux
)

if [ "${1:-}" = --list ]; then
  printf '%s\n' "${PACKAGES[@]}"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "10-packages: run as root" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
# Packer path: a cloud image with its own sources. Offline path: mmdebstrap left its package lists: nothing to fetch.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -print -quit 2>/dev/null)" ]; then
  apt-get update -q
fi
apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
# A cloud image boots with GRUB; the Packer path keeps its bootloader (see docs/decisions.md). Nothing to remove here.
apt-get clean
echo "10-packages: $(dpkg-query -W -f '${Package}\n' | wc -l) packages installed"
