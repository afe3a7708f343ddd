#!/usr/bin/env bash
# `make lint`: the type-aware lint and the layering rules, then a check that docs/deps.dot (the folder graph drawn
# in docs/deps.svg) is the graph of the code as it is. `--graph` rewrites docs/deps.dot and docs/deps.svg instead.
# Each step prints what failed with its rule's name; the exit code is non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/.bin

graph_dot() {
  "$bin/depcruise" src --config .dependency-cruiser.cjs --collapse '^src/[^/]+' --exclude '^node_modules|^src/(errors|log)\.ts$' -T dot
}

if [ "${1:-}" = --graph ]; then
  graph_dot > docs/deps.dot && dot -Tsvg docs/deps.dot -o docs/deps.svg && echo "graph: docs/deps.dot and docs/deps.svg written"
  exit $?
fi

status=0
step="${1:-all}"
if [ "$step" = all ] || [ "$step" = eslint ]; then
  if "$bin/eslint" --max-warnings 0 src test bench; then echo "lint: eslint clean"; else echo "lint: eslint found problems (rule names above)"; status=1; fi
fi
if [ "$step" = all ] || [ "$step" = layers ]; then
  if "$bin/depcruise" src --config .dependency-cruiser.cjs --output-type err-long; then echo "lint: layering clean"; else echo "lint: layering broken (rule names above)"; status=1; fi
  if diff -u docs/deps.dot <(graph_dot) > /tmp/pleaco-deps.diff; then
    echo "lint: docs/deps.dot matches the code"
  else
    cat /tmp/pleaco-deps.diff
    echo "lint: docs/deps.dot is stale: run make graph and commit docs/deps.dot and docs/deps.svg"
    status=1
  fi
fi
exit $status
