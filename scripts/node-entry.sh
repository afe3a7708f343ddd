#!/bin/bash
# The entry of a multi-node harness node container (image pleaco-node, scripts/node-image.sh; run by
# scripts/cluster.sh under tini). One container = one host: its own Docker Engine, its own state dir, its own
# address on the harness bridge. Steps:
#   1. make /sys and the cgroup (v1) mounts writable: the container is not --privileged (that fails on these
#      machines: root lacks CAP_SYS_RESOURCE) but has every other capability, no seccomp/AppArmor, all devices;
#   2. start dockerd (overlay2; data root /var/lib/docker, a volume) and wait for it;
#   3. put the harness's network rules in place (cuts from peers, the mDNS block; below), after dockerd's own so
#      that its FORWARD rules come first, before pleaco sends or receives anything;
#   4. `docker load` the base images the harness mounts read-only (busybox:latest, debian:bookworm-slim), if missing;
#   5. run the four pleaco processes (dist/src/main/launch.js, the supervisor `make up` uses) with this node's
#      address as the API's, the cluster's bind/advertise and the app containers' bind address (each overridable).
# Everything is logged as JSON lines on stdout (dockerd's lines too, as proc "dockerd"). SIGTERM stops pleaco first,
# then dockerd (its containers stop with it, as on a host shutting down).
#
# Environment (set by scripts/cluster.sh; defaults in the image):
#   PLEACO_NODE_PEERS     cluster addresses (ip:port, comma-separated) of every node of the cluster
#   PLEACO_NODE_FOUNDER   1 on the node that founds the cluster: on its first boot it joins nobody
#   PLEACO_JOIN           when set, used as it is (overrides the two above); set empty (`up --discover`): no seeds
#   PLEACO_NODE_CUT       addresses (comma-separated) this node is cut from (`up --apart`): everything in from and
#                         out to each is dropped, tagged pleaco-apart as `cluster.sh cut` does; once `cluster.sh
#                         cut/link` changed them, a later boot applies their list in /etc/pleaco/node-cut instead
#   PLEACO_NODE_BLOCK_MDNS 1: udp port 5353 (mDNS) dropped in and out, tagged pleaco-mdns (`up --block-mdns`)
#   PLEACO_NODE_IMAGES    tar of base images to load (default /opt/pleaco-images/base-images.tar; absent: skipped)
set -euo pipefail

READY_FILE=/run/pleaco/ready
DOCKERD_LOG=/var/log/pleaco-dockerd.log
IMAGES="${PLEACO_NODE_IMAGES:-/opt/pleaco-images/base-images.tar}"
APP=/opt/pleaco

json_str() {
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\r'/\\r}; s=${s//$'\t'/\\t}
  printf '"%s"' "$s"
}
# stamp: sets NOW to the time as src/log.ts writes it (UTC, milliseconds), without a process per line.
export TZ=UTC
stamp() {
  local t=$EPOCHREALTIME
  printf -v NOW '%(%Y-%m-%dT%H:%M:%S)T.%sZ' "${t%.*}" "${t:${#t}-6:3}"
}
# log LEVEL MSG [KEY VALUE]...: one JSON line, like src/log.ts writes them.
log() {
  local level=$1 msg=$2 out
  shift 2
  stamp
  out="{\"t\":\"$NOW\",\"level\":\"$level\",\"proc\":\"entry\",\"msg\":$(json_str "$msg")"
  while [ $# -ge 2 ]; do out+=",\"$1\":$(json_str "$2")"; shift 2; done
  printf '%s}\n' "$out"
}
die() { log error "$1" "${@:2}"; exit 1; }

# dockerd's logfmt lines (time="…" level=info msg="…"): all of them to $DOCKERD_LOG; its warnings and errors, and
# the line saying it is up, to stdout as JSON lines with proc "dockerd" (its info lines are gRPC and plugin chatter).
dockerd_json() {
  local line level msg
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$DOCKERD_LOG"
    level=info msg=$line
    [[ $line =~ level=([a-z]+) ]] && level=${BASH_REMATCH[1]}
    [[ $line =~ msg=\"(([^\"\\]|\\.)*)\" ]] && msg=${BASH_REMATCH[1]//\\\"/\"}
    case $level in
      warning) level=warn ;;
      fatal | panic) level=error ;;
      info) [[ $msg == "Daemon has completed initialization" || $msg == "API listen on"* ]] || continue ;;
      debug | trace) continue ;;
    esac
    stamp
    printf '{"t":"%s","level":"%s","proc":"dockerd","msg":%s}\n' "$NOW" "$level" "$(json_str "$msg")"
  done
}

node_ip() {
  ip -4 -o addr show dev eth0 2>/dev/null | awk '{ split($4, a, "/"); print a[1]; exit }'
}

# Docker mounts /sys and the cgroup hierarchies read-only in a container that is not --privileged; dockerd needs to
# create cgroups for its containers. Each cgroup v1 controller is a bind mount of this container's own cgroup.
writable_sys() {
  mount -o remount,rw /sys || die "cannot remount /sys read-write (the container needs CAP_SYS_ADMIN and systempaths=unconfined)"
  local m
  if mountpoint -q /sys/fs/cgroup; then mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true; fi
  while read -r m; do
    mount -o remount,rw,bind "$m" || die "cannot remount $m read-write"
  done < <(awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts)
}

dockerd_pid=""
launch_pid=""
stopping=0

# stop_all REASON [EXIT_CODE]
stop_all() {
  [ "$stopping" = 1 ] && return
  stopping=1
  log info "node stopping" signal "$1"
  if [ -n "$launch_pid" ] && kill -0 "$launch_pid" 2>/dev/null; then
    kill -TERM "$launch_pid" 2>/dev/null || true
    wait "$launch_pid" 2>/dev/null || true
  fi
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    kill -TERM "$dockerd_pid" 2>/dev/null || true
    local _
    for _ in $(seq 1 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$dockerd_pid" 2>/dev/null || true
  fi
  log info "node stopped"
  exit "${2:-0}"
}
trap 'stop_all SIGTERM' TERM
trap 'stop_all SIGINT' INT

start_dockerd() {
  local t0=$SECONDS
  mkdir -p /var/lib/docker "$(dirname "$DOCKERD_LOG")"
  # A container killed with its node leaves a stale pid file only on the volume-less /run (a tmpfs): nothing to clean.
  dockerd --storage-driver=overlay2 --data-root=/var/lib/docker --host=unix:///var/run/docker.sock \
    > >(dockerd_json) 2>&1 &
  dockerd_pid=$!
  until docker info >/dev/null 2>&1; do
    kill -0 "$dockerd_pid" 2>/dev/null || die "dockerd exited during start-up" log "$DOCKERD_LOG"
    [ $((SECONDS - t0)) -lt 60 ] || die "dockerd did not answer within 60 s" log "$DOCKERD_LOG"
    sleep 0.5
  done
  log info "dockerd ready" seconds "$((SECONDS - t0))" version "$(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')" \
    storage "$(docker info --format '{{.Driver}}' 2>/dev/null || echo '?')"
}

load_images() {
  [ -f "$IMAGES" ] || { log info "no base images to load" file "$IMAGES"; return 0; }
  local missing=0 ref
  while read -r ref; do
    [ -n "$ref" ] || continue
    docker image inspect "$ref" >/dev/null 2>&1 || missing=1
  done < <(tar -xOf "$IMAGES" manifest.json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const m of JSON.parse(s))for(const t of m.RepoTags||[])console.log(t)})')
  if [ "$missing" = 0 ]; then
    log info "base images present"
    return 0
  fi
  local t0=$SECONDS out
  out="$(docker load -q -i "$IMAGES" 2>&1)" || die "docker load of the base images failed" output "$out"
  log info "base images loaded" seconds "$((SECONDS - t0))" images "$(tr '\n' ' ' <<<"$out")"
}

# The harness's shapes of the network (scripts/cluster.sh up --apart / --block-mdns), in one iptables-restore: the
# cut from each peer (the rules `cluster.sh cut` adds: keep the two alike) and the mDNS block (udp 5353 either end).
CUT_FILE=/etc/pleaco/node-cut
network_rules() {
  local cut rules="" ip
  if [ -e "$CUT_FILE" ]; then cut="$(cat "$CUT_FILE")"; else cut="${PLEACO_NODE_CUT:-}"; fi
  for ip in ${cut//,/ }; do
    [[ $ip =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]] || die "PLEACO_NODE_CUT: not an IPv4 address: $ip"
    rules+="$(printf -- '-I %s 1 %s %s/32 -m comment --comment pleaco-apart -j DROP\n' \
      INPUT -s "$ip" OUTPUT -d "$ip" FORWARD -s "$ip" FORWARD -d "$ip")"$'\n'
  done
  if [ "${PLEACO_NODE_BLOCK_MDNS:-0}" = 1 ]; then
    rules+="$(printf -- '-I %s 1 -p udp %s 5353 -m comment --comment pleaco-mdns -j DROP\n' \
      INPUT --dport INPUT --sport OUTPUT --dport OUTPUT --sport)"$'\n'
  fi
  [ -n "$rules" ] || return 0
  printf '*filter\n%sCOMMIT\n' "$rules" | iptables-restore -w --noflush || die "the network rules could not be applied" rules "$rules"
  log info "network rules applied" cut "$cut" block_mdns "${PLEACO_NODE_BLOCK_MDNS:-0}"
}

# PLEACO_JOIN for this boot: given as it is; else the founder's first boot joins nobody, every other boot joins
# every peer (the founder too, once it has state: a restarted founder rejoins its cluster).
join_list() {
  if [ -n "${PLEACO_JOIN+x}" ]; then printf '%s' "$PLEACO_JOIN"; return; fi
  if [ "${PLEACO_NODE_FOUNDER:-0}" = 1 ] && [ ! -e "${PLEACO_STATE_DIR:-/var/lib/pleaco}/node-id" ]; then return; fi
  printf '%s' "${PLEACO_NODE_PEERS:-}"
}

main() {
  local ip join
  ip="$(node_ip)"
  [ -n "$ip" ] || die "no IPv4 address on eth0"
  log info "node starting" hostname "$(hostname)" ip "$ip"
  writable_sys
  start_dockerd
  network_rules
  load_images
  join="$(join_list)"
  export PLEACO_CLUSTER_BIND="${PLEACO_CLUSTER_BIND:-$ip}" PLEACO_CLUSTER_ADVERTISE="${PLEACO_CLUSTER_ADVERTISE:-$ip}"
  export PLEACO_BIND_HOST="${PLEACO_BIND_HOST:-$ip}" PLEACO_API_HOST="${PLEACO_API_HOST:-$ip}" PLEACO_JOIN="$join"
  [ -r "${PLEACO_CLUSTER_KEY_FILE:-/etc/pleaco/cluster.key}" ] || log warn "no cluster key file: the founder creates one, a joiner fails" file "${PLEACO_CLUSTER_KEY_FILE:-}"
  rm -f "$READY_FILE"
  node --enable-source-maps "$APP/dist/src/main/launch.js" --ready-file "$READY_FILE" &
  launch_pid=$!
  local rc=0
  wait "$launch_pid" || rc=$?
  [ "$stopping" = 1 ] && return 0
  log error "pleaco exited" code "$rc"
  stop_all exited 1
}

main "$@"
