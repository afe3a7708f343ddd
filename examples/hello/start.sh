#!/bin/sh
# Fill the page with what the platform says about this release, then serve it on $PORT.
set -eu
port="${PORT:-5000}"

render() {
  HELLO_APP="${PLEACO_APP:-hello}" \
  HELLO_RELEASE="${PLEACO_RELEASE:-dev}" \
  HELLO_COMMIT="${PLEACO_COMMIT:-${SOURCE_COMMIT:-unknown}}" \
  HELLO_HOST="$(hostname)" \
  awk '
    function html(s,   out, c, i) {
      out = ""
      for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "&") c = "&amp;"; else if (c == "<") c = "&lt;"
        else if (c == ">") c = "&gt;"; else if (c == "\"") c = "&quot;"
        out = out c
      }
      return out
    }
    function put(line, key, val,   out, p) {
      out = ""
      while ((p = index(line, key)) > 0) {
        out = out substr(line, 1, p - 1) val
        line = substr(line, p + length(key))
      }
      return out line
    }
    {
      $0 = put($0, "@APP@", html(ENVIRON["HELLO_APP"]))
      $0 = put($0, "@RELEASE@", html(ENVIRON["HELLO_RELEASE"]))
      $0 = put($0, "@COMMIT@", html(ENVIRON["HELLO_COMMIT"]))
      $0 = put($0, "@HOST@", html(ENVIRON["HELLO_HOST"]))
      print
    }' /app/index.html.in
}

# /app/index.html.in is the pristine page; on a read-only filesystem it is served unfilled
if render >/www/index.html.tmp 2>/dev/null; then
  mv /www/index.html.tmp /www/index.html
else
  rm -f /www/index.html.tmp 2>/dev/null || true
fi

# httpd as PID 1 would ignore SIGTERM: run it as a child and pass the signal on
httpd -f -v -p "$port" -h /www &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid" || true; exit 0' TERM INT
echo "hello: serving /www on port $port"
wait "$pid"
