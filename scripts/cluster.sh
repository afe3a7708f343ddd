#!/usr/bin/env bash
# The multi-node harness: N pleaco nodes on this machine as separate hosts. Each node is a container of the
# pleaco-node image (scripts/node-image.sh) on a bridge network of its own, with its own address, its own Docker
# Engine (Docker-in-Docker, /var/lib/docker on a volume), its own state dir (a volume) and the four pleaco
# processes; killing the container is losing the machine. docs/decisions.md says why it is built this way.
#
#   scripts/cluster.sh up [N] [--env PLEACO_X=V]...  start N nodes (default 3): node 1 founds, the others join it
#   scripts/cluster.sh down                          remove the nodes, their volumes, the network, the key
#   scripts/cluster.sh status                        the nodes, as `up` prints them
#   scripts/cluster.sh kill I | start I              docker kill / start node I (start waits until it is ready)
#   scripts/cluster.sh isolate I | heal I            drop / restore all traffic of node I (iptables in the node)
#
# `up` prints one line per node (name, address, API URL, API token), and as its last line one JSON object
# {"cluster","network","subnet","image","nodes":[{"name","index","ip","api","token","id"}]} (also in
# <dir>/cluster.json, 0600). A second `up` of a running cluster of the same size and image says so and prints it
# again; one that differs (size, image, a stopped node) is replaced. Only resources labelled io.pleaco.cluster=<name>
# are touched.
#
#   PLEACO_CLUSTER_NAME    cluster name (default pleaco): network <name>-net, containers <name>-<i>, volumes
#                          <name>-<i>-docker and <name>-<i>-state
#   PLEACO_CLUSTER_SUBNET  IPv4 subnet of its bridge (default 10.212.12.0/24): the host is .1, node i is .(10+i)
#   PLEACO_CLUSTER_DIR     where keys and the base-image tar live (default <repo>/.pleaco-cluster)
#   PLEACO_CLUSTER_OWNER   a process id recorded on the nodes (tests); a live owner's cluster is not replaced
#   PLEACO_CLUSTER_TIMEOUT seconds a node may take to become ready, and the cluster to form (default 180)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAME="${PLEACO_CLUSTER_NAME:-pleaco}"
SUBNET="${PLEACO_CLUSTER_SUBNET:-10.212.12.0/24}"
BASE_DIR="${PLEACO_CLUSTER_DIR:-$repo/.pleaco-cluster}"
DIR="$BASE_DIR/$NAME"
NET="$NAME-net"
OWNER="${PLEACO_CLUSTER_OWNER:-}"
TIMEOUT="${PLEACO_CLUSTER_TIMEOUT:-180}"
API_PORT=7070
CLUSTER_PORT=7946
L=io.pleaco.cluster
BASE_IMAGES=(busybox:latest debian:bookworm-slim)

say() { printf 'cluster: %s\n' "$*" >&2; }
die() { printf 'cluster: error: %s\n' "$*" >&2; exit 1; }

[[ $NAME =~ ^[a-z][a-z0-9-]{0,19}$ ]] || die "PLEACO_CLUSTER_NAME must be 1-20 of a-z, 0-9, - (starting with a letter)"
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "PLEACO_CLUSTER_TIMEOUT must be a number of seconds"
command -v docker >/dev/null 2>&1 || die "docker is missing (run scripts/ensure-deps.sh)"

# --- addresses ---------------------------------------------------------------------------------------------------
ip2int() { local IFS=.; read -r a b c d <<<"$1"; echo $(((a << 24) | (b << 16) | (c << 8) | d)); }
int2ip() { echo "$((($1 >> 24) & 255)).$((($1 >> 16) & 255)).$((($1 >> 8) & 255)).$(($1 & 255))"; }
# net_range CIDR: "first last" as integers
net_range() {
  local addr="${1%/*}" bits="${1#*/}" n mask
  [[ $1 == */* ]] || bits=32
  n="$(ip2int "$addr")"
  mask=$(((0xffffffff << (32 - bits)) & 0xffffffff))
  echo "$((n & mask)) $(((n & mask) | (~mask & 0xffffffff)))"
}
overlaps() { local a b c d; read -r a b <<<"$(net_range "$1")"; read -r c d <<<"$(net_range "$2")"; [ "$a" -le "$d" ] && [ "$c" -le "$b" ]; }

[[ $SUBNET =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}/(1[6-9]|2[0-6])$ ]] || die "PLEACO_CLUSTER_SUBNET must be an IPv4 subnet /16 to /26, got $SUBNET"
read -r NET_FIRST NET_LAST <<<"$(net_range "$SUBNET")"
SUBNET="$(int2ip "$NET_FIRST")/${SUBNET#*/}"
GATEWAY="$(int2ip $((NET_FIRST + 1)))"
node_ip() { int2ip $((NET_FIRST + 10 + $1)); }
node_name() { echo "$NAME-$1"; }
MAX_NODES=$((NET_LAST - NET_FIRST - 11))
[ "$MAX_NODES" -le 50 ] || MAX_NODES=50

# The subnet must not overlap a route of this host or another Docker network (ours excepted).
check_subnet() {
  local dst dev ours="" line name subnets s
  ours="$(docker network inspect --format '{{index .Options "com.docker.network.bridge.name"}}' "$NET" 2>/dev/null || true)"
  while read -r dst _ dev _; do
    [ "$dst" = default ] && continue
    [ -n "$ours" ] && [ "$dev" = "$ours" ] && continue
    ! overlaps "$SUBNET" "$dst" || die "subnet $SUBNET overlaps the route $dst (dev $dev) of this host: set PLEACO_CLUSTER_SUBNET"
  done < <(ip -4 route show table main | awk '{ for (i = 1; i <= NF; i++) if ($i == "dev") { print $1, "dev", $(i + 1), "x"; break } }')
  while read -r line; do
    name="${line%% *}"; subnets="${line#* }"
    [ "$name" = "$NET" ] && continue
    for s in $subnets; do
      [[ $s == */* ]] || continue
      [[ $s == *:* ]] && continue
      ! overlaps "$SUBNET" "$s" || die "subnet $SUBNET overlaps Docker network $name ($s): set PLEACO_CLUSTER_SUBNET"
    done
  done < <(docker network ls -q | xargs -r docker network inspect --format '{{.Name}} {{range .IPAM.Config}}{{.Subnet}} {{end}}')
}

# --- what exists ---------------------------------------------------------------------------------------------------
# node containers of this cluster, as "index name state image owner", by index
existing_nodes() { # as "index name state image env owner" lines
  docker ps -a --filter "label=$L=$NAME" --filter "label=io.pleaco.role=cluster-node" \
    --format "{{.Label \"$L.node\"}} {{.Names}} {{.State}} {{.Label \"$L.image\"}} {{.Label \"$L.env\"}} {{.Label \"$L.owner\"}}" | sort -n
}
alive_pid() { [ -n "$1" ] && [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
need_node() { # I: the container name of node I, which must exist
  [[ ${1:-} =~ ^[0-9]+$ ]] || die "which node? give its index (1, 2, ...)"
  docker container inspect "$(node_name "$1")" >/dev/null 2>&1 || die "no node $1 in cluster $NAME"
  node_name "$1"
}

down() { # [quiet]: removes every container, volume and network labelled with this cluster's name, and its key
  local ids vols nets
  mapfile -t ids < <(docker ps -aq --filter "label=$L=$NAME")
  [ "${#ids[@]}" -eq 0 ] || docker rm -f -v "${ids[@]}" >/dev/null
  mapfile -t vols < <(docker volume ls -q --filter "label=$L=$NAME")
  [ "${#vols[@]}" -eq 0 ] || docker volume rm -f "${vols[@]}" >/dev/null
  mapfile -t nets < <(docker network ls -q --filter "label=$L=$NAME")
  [ "${#nets[@]}" -eq 0 ] || docker network rm "${nets[@]}" >/dev/null
  rm -rf "$DIR"
  if [ $((${#ids[@]} + ${#vols[@]} + ${#nets[@]})) -gt 0 ]; then
    say "cluster $NAME removed (${#ids[@]} containers, ${#vols[@]} volumes, ${#nets[@]} networks)"
  elif [ "${1:-}" != quiet ]; then
    say "no cluster $NAME to remove"
  fi
}

# --- inputs of the nodes -----------------------------------------------------------------------------------------
# The base images every node loads into its Engine: saved from this host's Engine once per set of image ids.
base_images_tar() {
  bash "$repo/scripts/base-images.sh" >&2
  local ids hash tar
  ids="$(docker image inspect --format '{{.Id}}' "${BASE_IMAGES[@]}")"
  hash="$(printf '%s\n' "${BASE_IMAGES[@]}" "$ids" | sha256sum | cut -c1-16)"
  tar="$BASE_DIR/base-images-$hash.tar"
  if [ ! -f "$tar" ]; then
    mkdir -p "$BASE_DIR"
    find "$BASE_DIR" -maxdepth 1 -name 'base-images-*.tar*' -delete
    docker save -o "$tar.tmp" "${BASE_IMAGES[@]}"
    mv "$tar.tmp" "$tar"
  fi
  echo "$tar"
}

# A fresh cluster key (32 random bytes, base64), 0600, never in argv or the environment: mounted read-only.
new_key() {
  mkdir -p "$DIR"
  chmod 700 "$DIR"
  (umask 077 && head -c 32 /dev/urandom | base64 >"$DIR/cluster.key.tmp" && mv "$DIR/cluster.key.tmp" "$DIR/cluster.key")
}

run_node() { # I IMAGE TAR PEERS ENV_HASH [-e K=V]...
  local i="$1" image="$2" tar="$3" peers="$4" env_hash="$5" name v
  shift 5
  name="$(node_name "$i")"
  for v in docker state; do
    docker volume create --label "$L=$NAME" --label "io.pleaco.role=cluster-volume" --label "$L.node=$i" "$name-$v" >/dev/null
  done
  local founder=()
  [ "$i" = 1 ] && founder=(-e PLEACO_NODE_FOUNDER=1)
  # Not --privileged (root lacks CAP_SYS_RESOURCE here: "unable to apply caps"): every other capability, no
  # seccomp/AppArmor/masked paths, every device; the entry remounts /sys and the cgroups read-write.
  docker run -d --name "$name" --hostname "$name" --network "$NET" --ip "$(node_ip "$i")" \
    --label "$L=$NAME" --label io.pleaco.role=cluster-node --label "$L.node=$i" --label "$L.image=$image" --label "$L.env=$env_hash" --label "$L.owner=$OWNER" \
    --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm' --tmpfs /run:rw,exec,nosuid,mode=755 \
    -v "$name-docker:/var/lib/docker" -v "$name-state:/var/lib/pleaco" \
    -v "$DIR/cluster.key:/etc/pleaco/cluster.key:ro" -v "$tar:/opt/pleaco-images/base-images.tar:ro" \
    -e "PLEACO_NODE_PEERS=$peers" "${founder[@]}" "$@" --stop-timeout 20 "$image" >/dev/null
}

wait_ready() { # NAME: until the node's launcher wrote its ready file (its agent answers), bounded
  local name="$1" deadline=$((SECONDS + TIMEOUT)) state
  until docker exec "$name" test -e /run/pleaco/ready 2>/dev/null; do
    state="$(docker container inspect --format '{{.State.Status}}' "$name" 2>/dev/null || echo gone)"
    if [ "$state" != running ] || [ "$SECONDS" -ge "$deadline" ]; then
      docker logs --tail 40 "$name" >&2 2>&1 || true
      die "node $name is not ready ($state after $((TIMEOUT - deadline + SECONDS)) s); its last log lines are above"
    fi
    sleep 1
  done
}

alive_count() { # NAME: how many nodes the node sees alive (GET /v1/nodes through its CLI)
  docker exec "$1" pleaco nodes --json 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).nodes.filter(n=>n.state==="alive").length)}catch{console.log(0)}})'
}

wait_formed() { # N: until every node sees N alive
  local n="$1" deadline=$((SECONDS + TIMEOUT)) i ok
  while :; do
    ok=1
    for i in $(seq 1 "$n"); do [ "$(alive_count "$(node_name "$i")")" = "$n" ] || { ok=0; break; }; done
    [ "$ok" = 1 ] && return 0
    [ "$SECONDS" -lt "$deadline" ] || die "the $n nodes did not all see each other alive within $TIMEOUT s (node $i sees $(alive_count "$(node_name "$i")"))"
    sleep 1
  done
}

node_json() { # I: {"name","index","ip","api","token","id"} of a running node
  local i="$1" name ip token id
  name="$(node_name "$i")"; ip="$(node_ip "$i")"
  token="$(docker exec "$name" cat /var/lib/pleaco/token 2>/dev/null || true)"
  id="$(docker exec "$name" cat /var/lib/pleaco/node-id 2>/dev/null || true)"
  printf '{"name":"%s","index":%s,"ip":"%s","api":"http://%s:%s","token":"%s","id":"%s"}' "$name" "$i" "$ip" "$ip" "$API_PORT" "$token" "$id"
}

report() { # N IMAGE: one line per node, then the JSON line (also written to $DIR/cluster.json)
  local n="$1" image="$2" i nodes="" j
  for i in $(seq 1 "$n"); do
    j="$(node_json "$i")"
    nodes+="${nodes:+,}$j"
    printf '  %-14s %-15s %-28s token %s\n' "$(node_name "$i")" "$(node_ip "$i")" "http://$(node_ip "$i"):$API_PORT" \
      "$(sed -E 's/.*"token":"([^"]*)".*/\1/; s/^$/(not running)/' <<<"$j")"
  done
  local json="{\"cluster\":\"$NAME\",\"network\":\"$NET\",\"subnet\":\"$SUBNET\",\"image\":\"$image\",\"nodes\":[$nodes]}"
  mkdir -p "$DIR" && (umask 077 && printf '%s\n' "$json" >"$DIR/cluster.json")
  printf '%s\n' "$json"
}

# --- commands ----------------------------------------------------------------------------------------------------
up() {
  local n=3 extra=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --env) [[ ${2:-} =~ ^PLEACO_[A-Z0-9_]+=.*$ ]] || die "--env takes PLEACO_NAME=VALUE"; extra+=(-e "$2"); shift 2 ;;
      [0-9]*) n="$1"; shift ;;
      *) die "up: unknown argument $1" ;;
    esac
  done
  if ! [[ $n =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt "$MAX_NODES" ]; then die "N must be 1..$MAX_NODES for subnet $SUBNET"; fi
  local t0=$SECONDS image env_hash
  env_hash="$(printf '%s\n' "${extra[@]}" | sha256sum | cut -c1-12)"
  image="$(bash "$repo/scripts/node-image.sh" | tail -n1)"
  image="${image#image=}"
  [ -n "$image" ] || die "scripts/node-image.sh gave no image"

  local rows why="" running=0 state img env owner
  rows="$(existing_nodes)"
  if [ -n "$rows" ]; then
    while read -r _ _ state img env owner; do
      if [ -n "$owner" ] && [ "$owner" != "$OWNER" ] && alive_pid "$owner" && [ "${PLEACO_CLUSTER_REPLACE:-0}" != 1 ]; then
        die "cluster $NAME belongs to process $owner, which is running (set PLEACO_CLUSTER_REPLACE=1 to replace it)"
      fi
      [ "$state" = running ] && running=$((running + 1))
      [ "$img" = "$image" ] || why="its image is $img, not $image"
      [ "$env" = "$env_hash" ] || why="${why:-its nodes were started with other --env settings}"
      [ "$owner" = "$OWNER" ] || why="${why:-it was started by another run}"
    done <<<"$rows"
    [ "$(wc -l <<<"$rows")" = "$n" ] || why="${why:-it has $(wc -l <<<"$rows") nodes, not $n}"
    [ "$running" = "$(wc -l <<<"$rows")" ] || why="${why:-$((n - running)) of its nodes are not running}"
    [ -f "$DIR/cluster.key" ] || why="${why:-its key file is gone}"
    if [ -z "$why" ] && [ "${PLEACO_CLUSTER_REPLACE:-0}" != 1 ]; then
      say "cluster $NAME is already running ($n nodes, $image); \`make cluster-down\` removes it"
      report "$n" "$image"
      return 0
    fi
    say "replacing cluster $NAME: ${why:-PLEACO_CLUSTER_REPLACE=1}"
  fi
  down quiet
  check_subnet
  local tar peers="" i
  tar="$(base_images_tar)"
  new_key
  docker network create --driver bridge --subnet "$SUBNET" --gateway "$GATEWAY" \
    -o "com.docker.network.bridge.name=plc-${NAME:0:11}" --label "$L=$NAME" --label io.pleaco.role=cluster-network "$NET" >/dev/null
  for i in $(seq 1 "$n"); do peers+="${peers:+,}$(node_ip "$i"):$CLUSTER_PORT"; done
  say "starting $n nodes of $image on $SUBNET (bridge plc-${NAME:0:11})"
  run_node 1 "$image" "$tar" "$peers" "$env_hash" "${extra[@]}"
  wait_ready "$(node_name 1)"
  for i in $(seq 2 "$n"); do run_node "$i" "$image" "$tar" "$peers" "$env_hash" "${extra[@]}"; done
  for i in $(seq 2 "$n"); do wait_ready "$(node_name "$i")"; done
  wait_formed "$n"
  say "$n nodes up and joined in $((SECONDS - t0)) s; \`make cluster-down\` (scripts/cluster.sh down) removes them"
  report "$n" "$image"
}

status() {
  local rows n image
  rows="$(existing_nodes)"
  [ -n "$rows" ] || { say "no cluster $NAME"; return 0; }
  n="$(wc -l <<<"$rows")"
  image="$(head -n1 <<<"$rows" | awk '{ print $4 }')"
  awk '{ printf "cluster: %s %s\n", $2, $3 }' <<<"$rows" >&2
  report "$n" "$image"
}

# Isolation inside the node's own network namespace: everything in or out of its eth0 is dropped (the node's
# processes and containers keep running, as on a machine whose cable was pulled). The rules go with the container.
# Both directions change in one iptables-restore transaction.
ISO_TAG=pleaco-isolate
iso_lines() { # the node's rules tagged $ISO_TAG, as `iptables -S` prints them
  docker exec "$1" iptables -w -S | grep -e "--comment $ISO_TAG" || true
}
isolate() {
  local name
  name="$(need_node "${1:-}")"
  if [ -n "$(iso_lines "$name")" ]; then say "$name is isolated already"; return 0; fi
  docker exec -i "$name" iptables-restore -w --noflush <<EOF
*filter
-I INPUT 1 -i eth0 -m comment --comment $ISO_TAG -j DROP
-I OUTPUT 1 -o eth0 -m comment --comment $ISO_TAG -j DROP
-I FORWARD 1 -i eth0 -m comment --comment $ISO_TAG -j DROP
-I FORWARD 1 -o eth0 -m comment --comment $ISO_TAG -j DROP
COMMIT
EOF
  say "$name isolated"
}
heal() {
  local name rules
  name="$(need_node "${1:-}")"
  rules="$(iso_lines "$name")"
  if [ -z "$rules" ]; then say "$name is not isolated"; return 0; fi
  printf '*filter\n%s\nCOMMIT\n' "${rules//-A /-D }" | docker exec -i "$name" iptables-restore -w --noflush
  say "$name healed"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  up) up "$@" ;;
  down) down ;;
  status) status ;;
  kill) name="$(need_node "${1:-}")"; docker kill "$name" >/dev/null; say "$name killed" ;;
  start)
    name="$(need_node "${1:-}")"
    docker start "$name" >/dev/null
    wait_ready "$name"
    say "$name started"
    node_json "$1"; echo ;;
  isolate) isolate "${1:-}" ;;
  heal) heal "${1:-}" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
