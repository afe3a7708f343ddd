#!/usr/bin/env bash
# Make sure a Docker Engine answers `docker info`; start dockerd if it does not.
#
# - systemd is PID 1 and working: `systemctl start docker`.
# - otherwise (containers, CI sandboxes, a fresh VM without systemd): dockerd is
#   started with setsid + nohup, detached from the caller (so it outlives `make`),
#   logging to $PLEACO_DOCKERD_LOG (default /var/log/pleaco-dockerd.log).
# Then waits up to $PLEACO_DOCKERD_WAIT seconds (default 60) for `docker info`.
# Quiet when the engine is already up; prints what it starts.
#
# Test-only knobs (leave unset in normal use):
#   PLEACO_DOCKERD_ARGS     extra dockerd arguments (word-split), e.g. a private
#                           --host/--data-root/--exec-root/--pidfile; setting it
#                           skips systemd. Point DOCKER_HOST at the same socket.
#   PLEACO_DOCKERD_PIDFILE  pid file to look at for an engine that is still starting
set -euo pipefail

log_file="${PLEACO_DOCKERD_LOG:-/var/log/pleaco-dockerd.log}"
wait_s="${PLEACO_DOCKERD_WAIT:-60}"
pid_file="${PLEACO_DOCKERD_PIDFILE:-/var/run/docker.pid}"
extra_args="${PLEACO_DOCKERD_ARGS:-}"

say() { printf 'start-dockerd: %s\n' "$*"; }
die() { printf 'start-dockerd: error: %s\n' "$*" >&2; exit 1; }

engine_up() { docker info >/dev/null 2>&1; }

command -v docker >/dev/null 2>&1 || die "the docker CLI is missing (install Debian's docker.io: scripts/ensure-deps.sh)"
engine_up && exit 0
command -v dockerd >/dev/null 2>&1 || die "dockerd is missing (install Debian's docker.io: scripts/ensure-deps.sh)"

systemd_usable() {
  [ -z "$extra_args" ] || return 1
  [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] || return 1
  [ -d /run/systemd/system ] || return 1
  command -v systemctl >/dev/null 2>&1 || return 1
  systemctl show-environment >/dev/null 2>&1
}

# A dockerd that is alive but not answering yet (just started by someone else)
# must not get a twin: only wait for it.
dockerd_alive() {
  local pid
  [ -r "$pid_file" ] || return 1
  pid="$(cat "$pid_file" 2>/dev/null || true)"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]
}

# kill -0 would still succeed on our exited, unreaped child: look at its state.
proc_running() {
  local state
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

started_pid=""
if dockerd_alive; then
  say "dockerd (pid $(cat "$pid_file")) is running but not answering yet; waiting"
elif systemd_usable && systemctl start docker 2>/dev/null; then
  say "started docker.service with systemctl"
else
  mkdir -p "$(dirname "$log_file")"
  # A pid file left by a dockerd that did not survive a reboot: dockerd refuses to start while the pid in it names any
  # live process, and after a reboot that can be anyone's. dockerd_alive said it is not a dockerd.
  if [ -f "$pid_file" ]; then say "removing the stale $pid_file (pid $(cat "$pid_file" 2>/dev/null || true) is not a dockerd)"; rm -f "$pid_file"; fi
  # shellcheck disable=SC2086 # PLEACO_DOCKERD_ARGS is meant to be word-split
  setsid nohup dockerd $extra_args </dev/null >>"$log_file" 2>&1 &
  started_pid=$!
  say "started dockerd (pid $started_pid), log: $log_file"
fi

deadline=$((SECONDS + wait_s))
until engine_up; do
  if [ -n "$started_pid" ] && ! proc_running "$started_pid"; then
    tail -n 20 "$log_file" >&2 || true
    die "dockerd exited during start-up; see $log_file"
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    [ -n "$started_pid" ] && { tail -n 20 "$log_file" >&2 || true; }
    die "Docker Engine did not answer 'docker info' within ${wait_s}s${started_pid:+; see $log_file}"
  fi
  sleep 1
done
say "Docker Engine is up ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
