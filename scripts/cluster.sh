#!/usr/bin/env bash
# The multi-node harness: N pleaco nodes on this machine as separate hosts. Each node is a container of the
# pleaco-node image (scripts/node-image.sh) on a bridge network of its own, with its own address, its own Docker
# Engine (Docker-in-Docker, /var/lib/docker on a volume), its own state dir (a volume) and the four pleaco
# processes; killing the container is losing the machine. docs/decisions.md says why it is built this way.
#
#   scripts/cluster.sh up [N] [--env PLEACO_X=V]... [--discover] [--other-key I]... [--apart] [--block-mdns]
#                                                    start N nodes (default 3): node 1 founds, the others join it
#   scripts/cluster.sh down                          remove the nodes, their volumes, the network, the keys
#   scripts/cluster.sh status                        the nodes, as `up` prints them
#   scripts/cluster.sh kill I | start I              docker kill / start node I (start waits until it is ready)
#   scripts/cluster.sh isolate I | heal I            drop / restore all traffic of node I (iptables in the node)
#   scripts/cluster.sh cut I J | link I J            drop / restore all traffic between nodes I and J (iptables in
#                                                    both; the host still reaches both)
#
# The shapes of `up` (issue #14's discovery tests; they combine):
#   --discover      no node gets a join list (PLEACO_JOIN empty: they must find each other by mDNS), and all are
#                   started at the same moment; `up` waits for them to form a cluster as usual
#   --other-key I   node I gets a cluster key of its own (<dir>/cluster-<I>.key): `up` waits until the other nodes
#                   see each other and node I sees only itself (repeatable; the lowest node on the cluster key founds)
#   --apart         every node starts cut off from every other one (`cut` on each pair, in place before pleaco
#                   starts; `link I J` joins two); `up` waits for each node to be ready, not for a cluster
#   --block-mdns    every node drops udp port 5353 in and out, from before pleaco starts (seeds still work)
# A cluster that cannot form (--apart; --discover with --block-mdns) is waited for node by node only.
#
# `up` prints one line per node (name, address, API URL, API token), and as its last line one JSON object
# {"cluster","network","subnet","image","nodes":[{"name","index","ip","api","token","id"}]} (also in
# <dir>/cluster.json, 0600). A second `up` of a running cluster of the same size, image, --env settings and shape
# says so and prints it again; one that differs (in any of those, or a stopped node) is replaced. Only resources
# labelled io.pleaco.cluster=<name> are touched.
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
# node containers of this cluster, as "index|name|state|image|env|shape|owner" lines, by index (| keeps an empty
# field, e.g. the owner of a cluster started by hand or the shape of one started before shapes, in its place)
existing_nodes() {
  docker ps -a --filter "label=$L=$NAME" --filter "label=io.pleaco.role=cluster-node" \
    --format "{{.Label \"$L.node\"}}|{{.Names}}|{{.State}}|{{.Label \"$L.image\"}}|{{.Label \"$L.env\"}}|{{.Label \"$L.shape\"}}|{{.Label \"$L.owner\"}}" | sort -t'|' -k1,1n
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
new_key() { # [FILE] (default $DIR/cluster.key)
  local file="${1:-$DIR/cluster.key}"
  mkdir -p "$DIR"
  chmod 700 "$DIR"
  (umask 077 && head -c 32 /dev/urandom | base64 >"$file.tmp" && mv "$file.tmp" "$file")
}

run_node() { # I IMAGE TAR KEY_FILE ENV_HASH SHAPE [docker run options: -e K=V]...
  local i="$1" image="$2" tar="$3" key="$4" env_hash="$5" shape="$6" name v
  shift 6
  name="$(node_name "$i")"
  for v in docker state; do
    docker volume create --label "$L=$NAME" --label "io.pleaco.role=cluster-volume" --label "$L.node=$i" "$name-$v" >/dev/null
  done
  # Not --privileged (root lacks CAP_SYS_RESOURCE here: "unable to apply caps"): every other capability, no
  # seccomp/AppArmor/masked paths, every device; the entry remounts /sys and the cgroups read-write.
  docker run -d --name "$name" --hostname "$name" --network "$NET" --ip "$(node_ip "$i")" \
    --label "$L=$NAME" --label io.pleaco.role=cluster-node --label "$L.node=$i" --label "$L.image=$image" --label "$L.env=$env_hash" \
    --label "$L.shape=$shape" --label "$L.owner=$OWNER" \
    --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm' --tmpfs /run:rw,exec,nosuid,mode=755 \
    -v "$name-docker:/var/lib/docker" -v "$name-state:/var/lib/pleaco" \
    -v "$key:/etc/pleaco/cluster.key:ro" -v "$tar:/opt/pleaco-images/base-images.tar:ro" \
    "$@" --stop-timeout 20 "$image" >/dev/null
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

wait_formed() { # COUNT...: until node i sees the i-th COUNT alive
  local want=("$@") deadline=$((SECONDS + TIMEOUT)) i ok
  while :; do
    ok=1
    for i in $(seq 1 "${#want[@]}"); do [ "$(alive_count "$(node_name "$i")")" = "${want[i - 1]}" ] || { ok=0; break; }; done
    [ "$ok" = 1 ] && return 0
    [ "$SECONDS" -lt "$deadline" ] ||
      die "the nodes did not see the cluster they should within $TIMEOUT s (node $i sees $(alive_count "$(node_name "$i")") alive, not ${want[i - 1]})"
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
  local n=3 extra=() discover=0 apart=0 block_mdns=0 other=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --env) [[ ${2:-} =~ ^PLEACO_[A-Z0-9_]+=.*$ ]] || die "--env takes PLEACO_NAME=VALUE"; extra+=(-e "$2"); shift 2 ;;
      --discover) discover=1; shift ;;
      --apart) apart=1; shift ;;
      --block-mdns) block_mdns=1; shift ;;
      --other-key) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--other-key takes a node index (1, 2, ...)"; other+=("$2"); shift 2 ;;
      [0-9]*) n="$1"; shift ;;
      *) die "up: unknown argument $1" ;;
    esac
  done
  if ! [[ $n =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt "$MAX_NODES" ]; then die "N must be 1..$MAX_NODES for subnet $SUBNET"; fi
  local i j
  for i in "${other[@]}"; do [ "$i" -le "$n" ] || die "--other-key $i: there is no node $i in a cluster of $n"; done
  [ "${#other[@]}" -eq 0 ] || mapfile -t other < <(printf '%s\n' "${other[@]}" | sort -nu)
  # node i's key file, and the founder: the lowest node with the cluster's key
  local keys=() founder=0
  for i in $(seq 1 "$n"); do
    if [[ " ${other[*]} " == *" $i "* ]]; then keys[i]="$DIR/cluster-$i.key"; else keys[i]="$DIR/cluster.key"; [ "$founder" != 0 ] || founder=$i; fi
  done
  # The shape takes part in the cluster's identity (a label, compared like the image and the --env hash).
  local shape="" other_csv
  other_csv="$(IFS=,; echo "${other[*]}")"
  [ "$discover" = 0 ] || shape+="${shape:+,}discover"
  [ "$apart" = 0 ] || shape+="${shape:+,}apart"
  [ "$block_mdns" = 0 ] || shape+="${shape:+,}block-mdns"
  [ -z "$other_csv" ] || shape+="${shape:+,}other-key=${other_csv//,/+}"
  shape="${shape:-seeded}"
  local t0=$SECONDS image env_hash
  env_hash="$(printf '%s\n' "${extra[@]}" | sha256sum | cut -c1-12)"
  image="$(bash "$repo/scripts/node-image.sh" | tail -n1)"
  image="${image#image=}"
  [ -n "$image" ] || die "scripts/node-image.sh gave no image"

  local rows why="" running=0 state img env shp owner
  rows="$(existing_nodes)"
  if [ -n "$rows" ]; then
    while IFS='|' read -r _ _ state img env shp owner; do
      if [ -n "$owner" ] && [ "$owner" != "$OWNER" ] && alive_pid "$owner" && [ "${PLEACO_CLUSTER_REPLACE:-0}" != 1 ]; then
        die "cluster $NAME belongs to process $owner, which is running (set PLEACO_CLUSTER_REPLACE=1 to replace it)"
      fi
      [ "$state" = running ] && running=$((running + 1))
      [ "$img" = "$image" ] || why="its image is $img, not $image"
      [ "$env" = "$env_hash" ] || why="${why:-its nodes were started with other --env settings}"
      [ "$shp" = "$shape" ] || why="${why:-its shape is $shp, not $shape}"
      [ "$owner" = "$OWNER" ] || why="${why:-it was started by another run}"
    done <<<"$rows"
    [ "$(wc -l <<<"$rows")" = "$n" ] || why="${why:-it has $(wc -l <<<"$rows") nodes, not $n}"
    [ "$running" = "$(wc -l <<<"$rows")" ] || why="${why:-$((n - running)) of its nodes are not running}"
    for i in $(seq 1 "$n"); do [ -f "${keys[i]}" ] || why="${why:-its key file ${keys[i]##*/} is gone}"; done
    if [ -z "$why" ] && [ "${PLEACO_CLUSTER_REPLACE:-0}" != 1 ]; then
      say "cluster $NAME is already running ($n nodes, $image, $shape); \`make cluster-down\` removes it"
      report "$n" "$image"
      return 0
    fi
    say "replacing cluster $NAME: ${why:-PLEACO_CLUSTER_REPLACE=1}"
  fi
  down quiet
  check_subnet
  local tar peers=""
  tar="$(base_images_tar)"
  new_key
  for i in "${other[@]}"; do new_key "${keys[i]}"; done
  docker network create --driver bridge --subnet "$SUBNET" --gateway "$GATEWAY" \
    -o "com.docker.network.bridge.name=plc-${NAME:0:11}" --label "$L=$NAME" --label io.pleaco.role=cluster-network "$NET" >/dev/null
  for i in $(seq 1 "$n"); do peers+="${peers:+,}$(node_ip "$i"):$CLUSTER_PORT"; done
  # node_env I sets envs to node I's environment: its peers (or no join list at all), founder, cut and mDNS block,
  # and --env's settings last (Docker keeps the last of two: they win)
  local envs=()
  node_env() {
    local cut=""
    envs=(-e "PLEACO_NODE_PEERS=$peers")
    if [ "$discover" = 1 ]; then envs+=(-e PLEACO_JOIN=); elif [ "$1" = "$founder" ]; then envs+=(-e PLEACO_NODE_FOUNDER=1); fi
    if [ "$apart" = 1 ]; then
      for j in $(seq 1 "$n"); do [ "$j" = "$1" ] || cut+="${cut:+,}$(node_ip "$j")"; done
      envs+=(-e "PLEACO_NODE_CUT=$cut")
    fi
    [ "$block_mdns" = 0 ] || envs+=(-e PLEACO_NODE_BLOCK_MDNS=1)
    envs+=("${extra[@]}")
  }
  say "starting $n nodes of $image on $SUBNET (bridge plc-${NAME:0:11}; $shape)"
  local first=() rest=()
  for i in $(seq 1 "$n"); do
    # --discover: all at the same moment; else the founder first (its agent answers), then the others at once
    if [ "$discover" = 0 ] && [ "$i" = "$founder" ]; then first=("$i"); else rest+=("$i"); fi
  done
  for i in "${first[@]}"; do node_env "$i"; run_node "$i" "$image" "$tar" "${keys[i]}" "$env_hash" "$shape" "${envs[@]}"; wait_ready "$(node_name "$i")"; done
  for i in "${rest[@]}"; do node_env "$i"; run_node "$i" "$image" "$tar" "${keys[i]}" "$env_hash" "$shape" "${envs[@]}"; done
  for i in "${rest[@]}"; do wait_ready "$(node_name "$i")"; done
  if [ "$apart" = 1 ] || { [ "$discover" = 1 ] && [ "$block_mdns" = 1 ]; }; then
    say "$n nodes up in $((SECONDS - t0)) s, each on its own (not waiting for a cluster: $shape)"
  else
    # every node with the cluster's key sees those; one with a key of its own sees itself
    local want=()
    for i in $(seq 1 "$n"); do
      if [ "${keys[i]}" = "$DIR/cluster.key" ]; then want+=($((n - ${#other[@]}))); else want+=(1); fi
    done
    wait_formed "${want[@]}"
    say "$n nodes up and joined in $((SECONDS - t0)) s ($shape); \`make cluster-down\` (scripts/cluster.sh down) removes them"
  fi
  report "$n" "$image"
}

status() {
  local rows n image
  rows="$(existing_nodes)"
  [ -n "$rows" ] || { say "no cluster $NAME"; return 0; }
  n="$(wc -l <<<"$rows")"
  image="$(head -n1 <<<"$rows" | awk -F'|' '{ print $4 }')"
  awk -F'|' '{ printf "cluster: %s %s (%s)\n", $2, $3, $6 }' <<<"$rows" >&2
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

# Cuts between two nodes, in each node's own network namespace: everything in from and out to the other's address
# (INPUT also drops its multicast; FORWARD its traffic to and from this node's app containers) is dropped; the host
# (the bridge's gateway) and every other node still reach both. Tagged apart from isolate's rules: the two compose.
# `up --apart` has node-entry.sh put the same rules in place before pleaco starts (PLEACO_NODE_CUT). Each node keeps
# the list of addresses it is cut from in NODE_CUT_FILE (in the container, not a volume): a node that is started
# again comes back with the cuts it had, from before its pleaco starts.
APART_TAG=pleaco-apart
NODE_CUT_FILE=/etc/pleaco/node-cut
apart_lines() { # NAME IP: the node's rules cutting it from IP, as `iptables -S` prints them
  docker exec "$1" iptables -w -S | grep -F -e "--comment $APART_TAG" | grep -F -e " -s $2/32 " -e " -d $2/32 " || true
}
apart_rules() { # IP: the rules cutting a node from IP, for iptables-restore (node-entry.sh writes the same)
  printf -- '-I %s 1 %s %s/32 -m comment --comment %s -j DROP\n' \
    INPUT -s "$1" "$APART_TAG" OUTPUT -d "$1" "$APART_TAG" FORWARD -s "$1" "$APART_TAG" FORWARD -d "$1" "$APART_TAG"
}
save_cut() { # NAME: writes the addresses the node is cut from now (one iptables -S) to its NODE_CUT_FILE
  docker exec "$1" iptables -w -S INPUT |
    awk -v tag="$APART_TAG" '$0 ~ "--comment " tag " " && $3 == "-s" { sub("/32$", "", $4); printf "%s%s", sep, $4; sep = "," }' |
    docker exec -i "$1" tee "$NODE_CUT_FILE" >/dev/null
}
pair() { # I J: sets A, B (container names) and IP_A, IP_B of two different running nodes
  A="$(need_node "${1:-}")"; B="$(need_node "${2:-}")"
  [ "$1" != "$2" ] || die "nodes I and J must differ"
  for name in "$A" "$B"; do
    [ "$(docker container inspect --format '{{.State.Status}}' "$name")" = running ] || die "$name is not running"
  done
  IP_A="$(node_ip "$1")"; IP_B="$(node_ip "$2")"
}
cut_pair() { # I J
  local A B IP_A IP_B name ip rules changed=0
  pair "$@"
  for name in "$A" "$B"; do
    ip="$IP_B"; [ "$name" = "$A" ] || ip="$IP_A"
    rules="$(apart_lines "$name" "$ip")"
    [ "$(grep -c . <<<"$rules")" != 4 ] || continue
    # one transaction: what there was of the cut (a partial one), then the whole cut
    { echo '*filter'; [ -z "$rules" ] || printf '%s\n' "${rules//-A /-D }"; apart_rules "$ip"; echo COMMIT; } |
      docker exec -i "$name" iptables-restore -w --noflush
    save_cut "$name"
    changed=1
  done
  if [ "$changed" = 1 ]; then say "$A and $B cut from each other"; else say "$A and $B are cut from each other already"; fi
}
link_pair() { # I J
  local A B IP_A IP_B name ip rules changed=0
  pair "$@"
  for name in "$A" "$B"; do
    ip="$IP_B"; [ "$name" = "$A" ] || ip="$IP_A"
    rules="$(apart_lines "$name" "$ip")"
    [ -n "$rules" ] || continue
    printf '*filter\n%s\nCOMMIT\n' "${rules//-A /-D }" | docker exec -i "$name" iptables-restore -w --noflush
    save_cut "$name"
    changed=1
  done
  if [ "$changed" = 1 ]; then say "$A and $B linked"; else say "$A and $B are linked already"; fi
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
  cut) cut_pair "${1:-}" "${2:-}" ;;
  link) link_pair "${1:-}" "${2:-}" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
