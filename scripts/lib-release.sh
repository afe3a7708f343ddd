#!/usr/bin/env bash
# shellcheck disable=SC2154 # $repo comes from the script that sources this
# Shared by node-image.sh and image/build.sh (sourced): what of this checkout a node runs. Uses the caller's $repo
# (the repository root) and its die().

# The production packages of package-lock.json (neither dev nor devOptional), copied from node_modules: no network.
prod_modules() {
  local dest="$1"
  mkdir -p "$dest"
  (cd "$repo" && node -e '
    const lock = require("./package-lock.json");
    for (const [path, meta] of Object.entries(lock.packages)) {
      if (!path.startsWith("node_modules/") || meta.dev || meta.devOptional || meta.link) continue;
      if (path.slice("node_modules/".length).includes("/node_modules/")) continue; // copied with its parent
      console.log(path);
    }') | while read -r path; do
    [ -d "$repo/$path" ] || die "$path (a production package) is missing from node_modules: run npm ci"
    mkdir -p "$dest/$(dirname "${path#node_modules/}")"
    cp -a "$repo/$path" "$dest/${path#node_modules/}"
  done
}
