#!/usr/bin/env bash
# Provision step 30: the pleaco release under /opt/pleaco (dist/, bin/, package.json, production node_modules) and
# /usr/local/bin/pleaco; the host version (IMAGE_ID/IMAGE_VERSION in os-release, from $PLEACO_STAGE/image-version) and
# the keys host updates must be signed with (/usr/lib/pleaco/update-keys, from $PLEACO_STAGE/update-keys). Runs inside the target, as root. The release is staged at $PLEACO_STAGE/pleaco by the
# caller: image/build.sh copies it in from the checkout; the Packer template uploads the same tree (image/build.sh
# --stage-only makes it) with a file provisioner.
set -euo pipefail
stage="${PLEACO_STAGE:-/tmp/pleaco-stage}"
src="$stage/pleaco"
for p in dist/src/main/launch.js bin/pleaco package.json node_modules; do
  [ -e "$src/$p" ] || { echo "30-pleaco: $src/$p is missing" >&2; exit 1; }
done
rm -rf /opt/pleaco.new
mkdir -p /opt/pleaco.new
cp -a "$src/." /opt/pleaco.new/
chown -R root:root /opt/pleaco.new
rm -rf /opt/pleaco
mv /opt/pleaco.new /opt/pleaco
chmod 0755 /opt/pleaco/bin/pleaco
ln -sfn /opt/pleaco/bin/pleaco /usr/local/bin/pleaco
mkdir -p /etc/pleaco /var/lib/pleaco
chmod 0700 /etc/pleaco
version="$(cat "$stage/image-version")"
osr=/usr/lib/os-release
sed -i '/^IMAGE_ID=/d; /^IMAGE_VERSION=/d' "$osr"
printf 'IMAGE_ID=pleaco\nIMAGE_VERSION=%s\n' "$version" >>"$osr"
rm -rf /usr/lib/pleaco/update-keys
install -d -m 0755 /usr/lib/pleaco/update-keys
install -m 0644 "$stage"/update-keys/*.pub /usr/lib/pleaco/update-keys/
if [ "$(cat "$stage/image-break" 2>/dev/null || true)" = agent ]; then
  # a release for the rollback test (IMAGE_BREAK=agent): its agent never starts, so it never passes the update gate
  install -d -m 0755 /etc/systemd/system/pleaco-agent.service.d
  printf '[Service]\nExecStartPre=/bin/false\n' >/etc/systemd/system/pleaco-agent.service.d/99-broken-on-purpose.conf
  echo "30-pleaco: DELIBERATELY BROKEN release (IMAGE_BREAK=agent): its agent never starts"
fi
echo "30-pleaco: host version $version; update keys: $(ls /usr/lib/pleaco/update-keys | paste -sd' ')"
echo "30-pleaco: $(node -p 'require("/opt/pleaco/package.json").version') with $(find /opt/pleaco/node_modules -mindepth 1 -maxdepth 2 -name package.json | wc -l) packages"
