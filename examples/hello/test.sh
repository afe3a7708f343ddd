#!/bin/sh
# The example's test: pleaco runs it in the built image (pleaco.json "test") before a release.
set -eu
fail() { echo "FAIL: $*" >&2; exit 1; }

[ -f /www/index.html ] || fail "/www/index.html is missing"
grep -q 'Hello from pleaco' /www/index.html || fail "the page has no greeting"
busybox --list | grep -qx httpd || fail "busybox has no httpd applet"
sh -n /app/start.sh || fail "start.sh does not parse"

# serve the page on loopback and fetch it, as a visitor would
port=18080
httpd -f -p "127.0.0.1:$port" -h /www &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
i=0
until body="$(wget -q -O - "http://127.0.0.1:$port/" 2>/dev/null)"; do
  i=$((i + 1))
  [ "$i" -lt 50 ] || fail "httpd did not answer on 127.0.0.1:$port"
  sleep 0.1
done
echo "$body" | grep -q 'Hello from pleaco' || fail "the served page has no greeting"
[ "$(wget -q -O - "http://127.0.0.1:$port/healthz")" = ok ] || fail "/healthz is not ok"
echo "ok: page, httpd and healthz"
