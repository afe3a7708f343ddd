#!/usr/bin/env bash
# Provision step 40: the systemd units of the repository (systemd/*.service, systemd/*.target, staged at
# $PLEACO_STAGE/systemd) into /lib/systemd/system; enables pleaco.target when there is one, and Docker. Whatever
# units exist are installed: nothing is assumed about their names. Runs inside the target, as root.
set -euo pipefail
stage="${PLEACO_STAGE:-/tmp/pleaco-stage}"
units=()
if [ -d "$stage/systemd" ]; then
  shopt -s nullglob
  for f in "$stage"/systemd/*.service "$stage"/systemd/*.target "$stage"/systemd/*.timer "$stage"/systemd/*.socket "$stage"/systemd/*.path; do
    install -m 0644 "$f" "/lib/systemd/system/$(basename "$f")"
    units+=("$(basename "$f")")
  done
  shopt -u nullglob
fi
systemctl enable docker.service containerd.service >/dev/null 2>&1 || systemctl enable docker.service
if [ -f "$stage/systemd/pleaco-node" ]; then
  install -d -m 0755 /opt/pleaco/libexec
  install -m 0755 "$stage/systemd/pleaco-node" /opt/pleaco/libexec/pleaco-node
fi
if [ -f /lib/systemd/system/pleaco.target ]; then
  systemctl enable pleaco.target
  for u in pleaco-agent pleaco-builder pleaco-runner pleaco-proxy pleaco-issue pleaco-images; do
    [ ! -f "/lib/systemd/system/$u.service" ] || systemctl enable "$u.service"
  done
  systemctl set-default multi-user.target
fi
# host updates: pleaco-host runs when the agent files a request; the gate holds boot-complete.target on a trial boot
for u in pleaco-host.path pleaco-update-gate.service; do
  [ ! -f "/lib/systemd/system/$u" ] || systemctl enable "$u"
done
# pleaco-proxy runs HAProxy itself
systemctl disable haproxy.service >/dev/null 2>&1 || true
# The base images apps build FROM, loaded into Docker at first boot by pleaco-images.service
if [ -f "$stage/base-images.tar" ]; then
  install -d -m 0755 /opt/pleaco-images
  install -m 0644 "$stage/base-images.tar" /opt/pleaco-images/base-images.tar
fi
# first-boot unit of the units' author, when present (it carries its own [Install])
if [ -f /lib/systemd/system/pleaco-firstboot.service ]; then
  systemctl enable pleaco-firstboot.service
fi
echo "40-units: installed ${#units[@]} unit(s)${units[*]:+: ${units[*]}}; docker enabled$([ -f /lib/systemd/system/pleaco.target ] && echo ", pleaco.target enabled")"
