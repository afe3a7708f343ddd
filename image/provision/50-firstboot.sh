#!/usr/bin/env bash
# Provision step 50: what a node needs at its first boot. Runs inside the target, as root.
#  - the data partition (GPT name pleaco-data) mounted at /var/lib/pleaco, by PARTLABEL, grown to the end of the disk
#    on first boot by systemd-repart (/etc/repart.d) and its ext4 by systemd-growfs (x-systemd.growfs)
#  - Docker's data root on it (/var/lib/pleaco/docker, /etc/docker/daemon.json data-root)
#  - the ESP at /efi (systemd-bless-boot renames the loader entry there: boot counting)
#  - hostname, /etc/issue placeholder, a getty on the serial console ttyS0, DHCP on every en*/eth* link
# The Packer path keeps its cloud image's own partitions: PLEACO_DATA_FSTAB=0 leaves fstab and repart.d alone there.
set -euo pipefail

if [ "${PLEACO_DATA_FSTAB:-1}" = 1 ]; then
  mkdir -p /efi /var/lib/pleaco /etc/repart.d
  {
    echo '# pleaco: the golden image layout (docs/decisions.md). / comes from the loader entry: root=PARTLABEL=root-a|b'
    echo 'PARTLABEL=esp          /efi             vfat  umask=0077,noauto,x-systemd.automount  0 2'
    echo 'PARTLABEL=pleaco-data  /var/lib/pleaco  ext4  defaults,x-systemd.growfs  0 2'
  } >/etc/fstab
  # the data partition is last: systemd-repart grows it into the space of a bigger disk (matched by type and label)
  cat >/etc/repart.d/50-pleaco-data.conf <<'CONF'
[Partition]
Type=linux-generic
Label=pleaco-data
CONF
fi

mkdir -p /etc/docker
cat >/etc/docker/daemon.json <<'JSON'
{
  "data-root": "/var/lib/pleaco/docker",
  "log-driver": "journald"
}
JSON
mkdir -p /etc/systemd/system/docker.service.d /etc/systemd/system/containerd.service.d
for d in docker containerd; do
  cat >"/etc/systemd/system/$d.service.d/10-pleaco-data.conf" <<'CONF'
[Unit]
RequiresMountsFor=/var/lib/pleaco
CONF
done

echo pleaco >/etc/hostname
cat >/etc/hosts <<'HOSTS'
127.0.0.1	localhost
127.0.1.1	pleaco
::1	localhost ip6-localhost ip6-loopback
HOSTS
# A placeholder until the node's first-boot unit writes its address, API URL and where the token is.
cat >/etc/issue <<'ISSUE'
pleaco node \n (\l) — address \4
The API and the token's location are shown here once the node has started.

ISSUE

# systemd-networkd: DHCP on every wired link (cloud-init's network config, when given, is rendered for networkd)
mkdir -p /etc/systemd/network
cat >/etc/systemd/network/80-pleaco-dhcp.network <<'NET'
[Match]
Name=en* eth*

[Network]
DHCP=yes
NET
systemctl enable systemd-networkd.service systemd-resolved.service
ln -sfn ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf
systemctl enable serial-getty@ttyS0.service
# no root password, no shell login: the console is for reading (/etc/issue)
passwd -l root >/dev/null
# an empty machine-id makes the first boot a "first boot" (a new id, presets applied): systemd-firstboot would then
# ask for a locale, timezone and root password on the console and wait. Zero-touch: it is masked, UTC and C.UTF-8.
systemctl mask systemd-firstboot.service >/dev/null
ln -sfn /usr/share/zoneinfo/Etc/UTC /etc/localtime
echo 'LANG=C.UTF-8' >/etc/default/locale
: >/etc/machine-id
echo "50-firstboot: fstab, docker data-root, hostname, issue, serial getty"
