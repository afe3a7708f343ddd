#!/usr/bin/env bash
# What CI needs before `make test` on a fresh Debian 12 machine: Debian packages,
# a running Docker Engine, npm dependencies, and the local base images.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/ensure-deps.sh"
"$here/base-images.sh"
