#!/usr/bin/env bash
# Shared by base-images.sh, scan-bench-image.sh, node-image.sh and image/build.sh (sourced): which Debian mirrors this host's apt uses.

# The host's apt sources as "URI SUITE" lines: one-line *.list files and deb822 *.sources.
host_apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '
      /^[ \t]*deb[ \t]/ {
        sub(/^[ \t]*deb[ \t]+/, "")
        if ($0 ~ /^\[/) sub(/^\[[^]]*\][ \t]*/, "")
        print $1, $2
      }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      function flush(   i, j, nu, ns, u, s) {
        if (types ~ /(^| )deb( |$)/ && tolower(enabled) != "no") {
          nu = split(uris, u, " "); ns = split(suites, s, " ")
          for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print u[i], s[j]
        }
        types = uris = suites = ""; enabled = "yes"
      }
      BEGIN { enabled = "yes" }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      {
        key = tolower($1); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
        if (key == "types:") types = val
        else if (key == "uris:") uris = val
        else if (key == "suites:") suites = val
        else if (key == "enabled:") enabled = val
      }
      END { flush() }' "$f"
  done
}

pick_mirror() { # SUITE-PATTERN: first URI serving a matching suite
  awk -v re="$1" '$2 ~ re && $1 !~ /^cdrom:/ { print $1; exit }'
}
