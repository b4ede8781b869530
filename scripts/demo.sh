#!/usr/bin/env bash
# `make demo`: hostnet on its embedded default network, in a throwaway network
# namespace `hostnet-demo` (never the machine's own), removed at the end.
set -euo pipefail
bin=$(realpath "${1:-target/release/hostnet}")
ns=hostnet-demo
work=$(mktemp -d /tmp/hostnet-demo.XXXXXX)
cleanup() {
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns del "$ns" 2>/dev/null || true
ip netns add "$ns"
ip -n "$ns" link set lo up
hn() { "$bin" --netns "$ns" --state-dir "$work/state" --run-dir "$work/run" --cni-conf-dir "$work/net.d" "$@"; }
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step hostnet init
hn init
step hostnet init "   # again: idempotent"
hn init
step hostnet status
hn status
step nft list table inet hostnet
ip netns exec "$ns" nft list table inet hostnet
step hostnet check
hn check
step hostnet teardown
hn teardown
echo
echo "demo done; namespace $ns is removed"
