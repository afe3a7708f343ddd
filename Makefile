# pleaco — the commands a newcomer runs: `make up` and `make test`. Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NODE ?= node
export PLEACO_STATE_DIR ?= $(CURDIR)/.pleaco

.PHONY: help deps build base-images up test test-unit bench-deploy bench-proxy bench-rollout bench-scan bench-state fuzz-api clean lint graph node-image image release test-update test-image-cluster bench-boot cluster cluster-down bench-failover bench-spread bench-autoscale

help:
	@echo "make up            start a node here and serve the example app (prints URL and API token)"
	@echo "make test          the whole test suite, lint first (ends with 'N passed, N failed, N skipped')"
	@echo "make lint          type-aware lint (typescript-eslint) and the layering rules (dependency-cruiser)"
	@echo "make graph         docs/deps.svg: the folders of src/ and what each imports, drawn from the code"
	@echo "make bench-deploy  push-to-serving time vs a bare docker build + run"
	@echo "make bench-proxy   wrk: backend direct vs nginx keep-alive proxy vs pleaco's HAProxy routing"
	@echo "make bench-rollout failed requests under load while an app is redeployed 5 times"
	@echo "make bench-scan    scan seconds (inventory, SBOM, matching) for the example image and a ~300-package image"
	@echo "make bench-state   agent with 100 apps x 300 builds: start time, RSS, longest event-loop stall in compaction, retention"
	@echo "make fuzz-api      10,000 malformed and hostile requests against a running node; then it must be healthy and route its app"
	@echo "make sim           SWIM/Lifeguard core on a simulated 1,000-node network: dissemination, detection, false positives"
	@echo "make bench-gossip  event and failure-detection times, false positives at 10% loss: pleaco vs serf (netns)"
	@echo "make bench-join    seconds from process start to full membership, 3 and 10 nodes, by mDNS and by seeds (netns)"
	@echo "make partition     5 agents in netns split 3/2 for 30 s, writes on both sides, heal: convergence time"
	@echo "make base-images   build busybox:latest and debian:bookworm-slim locally"
	@echo "make bench-failover 3 nodes, app with 3 replicas under load, one node killed: seconds until every slot runs again"
	@echo "make bench-autoscale a load step on 3 nodes: seconds to new replicas, errors, cold start from zero; bench/out/autoscale.png"
	@echo "make bench-spread   3 nodes, a one-line change: image on every node (s, bytes), push-to-serving vs bare docker"
	@echo "make cluster N=3   N nodes on this machine as separate hosts (own address, state, Docker Engine); prints API URLs and tokens"
	@echo "make cluster-down  remove the nodes of make cluster, their volumes and network"
	@echo "make node-image    build the image of those nodes (pleaco-node) locally; only what changed is rebuilt"
	@echo "make image        the golden VM image, offline (mmdebstrap, no loop devices): image/out/pleaco.{raw,qcow2}"
	@echo "make test-image-cluster 3 VMs of the image on a LAN of their own: one cluster by mDNS, an app on all three"
	@echo "make bench-boot   seconds from qemu start to API ready and to a 3-node cluster (TCG), the image size"
	@echo "make clean         remove build output (not the node's state in .pleaco)"

# Debian packages (docker.io, haproxy, git, busybox-static, mmdebstrap), dockerd running, npm packages.
deps:
	@bash scripts/ensure-deps.sh

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build: node_modules/.package-lock.json
	@npx tsc -p tsconfig.json

base-images: deps
	@bash scripts/base-images.sh

up: deps build base-images
	@$(NODE) dist/src/main/up.js

# The lint runs first, as two suites of the summary (test/run.mjs), then every test suite. The multi-node suites
# need the node image (built once, minutes on a fresh machine; a code change rebuilds its top layer in seconds), the
# VM test (test/image/update.test.ts: boot, an app, v1 → v2, a broken v3 rolled back; about 15 min under TCG) the
# golden image (about 5 min once, then about 1 min) and two releases of it (about 1 min each).
test: deps build base-images node-image image
	@$(NODE) test/run.mjs

# Only the suites that need neither Docker nor git servers (quick feedback while editing).
test-unit: build
	@$(NODE) test/run.mjs state/ cli/ config/ source/url source/signature source/github agent/domains scan/versions scan/match scan/db scan/parsers runtime/plan runtime/desired images/digest bench/chart

# eslint (type-aware, eslint.config.js) and dependency-cruiser (.dependency-cruiser.cjs: the layering); a
# violation prints the rule's name. Also checks that docs/deps.dot is the graph of the code as it is.
lint: node_modules/.package-lock.json
	@bash scripts/lint.sh

graph: node_modules/.package-lock.json
	@command -v dot >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends graphviz >/dev/null
	@bash scripts/lint.sh --graph

bench-deploy: deps build base-images
	@$(NODE) dist/bench/deploy.js

# wrk and nginx are only needed by this benchmark.
bench-proxy: deps build
	@command -v wrk >/dev/null && command -v nginx >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk nginx-light >/dev/null
	@$(NODE) dist/bench/proxy.js

bench-scan: deps build base-images
	@bash scripts/scan-bench-image.sh
	@$(NODE) dist/bench/scan.js

# FUZZ_SEED repeats a run, FUZZ_N sets the number of requests (default 10,000); last line fuzz_5xx=N.
fuzz-api: deps build base-images
	@$(NODE) dist/bench/fuzz-api.js

# 3 nodes of the harness, one killed under load: seconds until every slot runs again, failed requests (issue #12).
bench-failover: deps build base-images
	@$(NODE) dist/bench/failover.js

# 3 nodes: a one-line change pushed; seconds until its image is on every node, bytes sent, push-to-serving vs bare (#12).
bench-spread: deps build base-images
	@$(NODE) dist/bench/spread.js

bench-autoscale: deps build base-images
	@$(NODE) dist/bench/autoscale.js

bench-rollout: deps build base-images
	@command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk >/dev/null
	@$(NODE) dist/bench/rollout.js

# serf (the anchor) and iptables are only needed by this benchmark; it runs agents in network namespaces it creates.
.PHONY: bench-gossip
# Seconds from process start to full membership, 3 and 10 nodes, by mDNS and by seeds (network namespaces).
.PHONY: bench-join
bench-join: build
	@command -v iptables >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends iptables >/dev/null
	@$(NODE) dist/bench/join.js

bench-gossip: build
	@command -v serf >/dev/null && command -v iptables >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends serf iptables >/dev/null
	@$(NODE) dist/bench/gossip.js

# The issue's full 30 s split (make test runs the same suite with a 12 s split, and skips it without iptables).
.PHONY: partition
partition: build
	@command -v iptables >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends iptables >/dev/null
	@PLEACO_PARTITION_SPLIT_S=30 $(NODE) test/run.mjs cluster/partition

# The store at scale: needs neither Docker nor the network (the agent's Docker client is never called).
bench-state: build
	@$(NODE) dist/bench/state.js

clean:
	rm -rf dist

# The multi-node harness (scripts/cluster.sh; docs/decisions.md, issue #12). `make cluster` builds the node image
# when it is missing or stale; a second `make cluster` says the cluster runs, or replaces one that differs.
N ?= 3
node-image: deps build base-images
	@bash scripts/node-image.sh >/dev/null

# The golden image (issue #15; image/build.sh, docs/decisions.md): root needed; the Debian root is cached by its
# package list, so a rebuild after a code change redoes only the provisioning and the disk. Last line image=<qcow2>.
image: deps build base-images
	@bash image/build.sh

# A host update bundle (issue #16): the image's root filesystem, kernel and initrd at VERSION, signed with UPDATE_KEY
# (default: the development key image/out/keys/release.key that `make image` trusts). IMAGE_BREAK=agent: a release
# whose agent never starts (the rollback test). Last line: bundle=image/out/pleaco-VERSION.bundle …
release: deps build base-images
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=1.2.3 [UPDATE_KEY=DIR/release.key] [IMAGE_BREAK=agent]" >&2; exit 2; }
	@IMAGE_VERSION=$(VERSION) IMAGE_RELEASE_OUT=image/out/release-$(VERSION) bash image/build.sh
	@$(NODE) dist/src/main/release.js pack image/out/pleaco-$(VERSION).bundle $(VERSION) $(or $(UPDATE_KEY),image/out/keys/release.key) \
	  image/out/release-$(VERSION)/vmlinuz image/out/release-$(VERSION)/initrd.img image/out/release-$(VERSION)/rootfs.img.gz

# Host updates on VMs of the golden image (qemu TCG): v1 → v2 rolls through while an app serves, a broken v3 rolls
# itself back. Reduced (one VM) in make test. Last line update_failed_requests=N.
test-update: image
	@PLEACO_SUITE_TIMEOUT_MS=5400000 PLEACO_UPDATE_VMS=3 $(NODE) test/run.mjs full/update

# 3 VMs of the golden image (qemu TCG, 20-30 min on 2 cores): one cluster by mDNS with no seeds, an app scaled to 3 on all.
test-image-cluster: image
	@PLEACO_SUITE_TIMEOUT_MS=3600000 $(NODE) test/run.mjs full/image-cluster

# Boot figures of the golden image: one VM to API ready, three to one cluster, the image size. Last boot_to_ready_s=.
bench-boot: image
	@$(NODE) dist/bench/boot.js

cluster: deps build base-images
	@bash scripts/cluster.sh up $(N)

cluster-down:
	@bash scripts/cluster.sh down

sim: build
	@$(NODE) dist/bench/sim.js
