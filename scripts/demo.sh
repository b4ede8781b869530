#!/usr/bin/env bash
# `make demo`: hostnet on its embedded default network, in a throwaway network
# namespace `hostnet-demo` (never the machine's own), removed at the end.
set -euo pipefail
bin=$(realpath "${1:-target/release/hostnet}")
ns=hostnet-demo
work=$(mktemp -d /tmp/hostnet-demo.XXXXXX)
ctrs=(hostnet-demo-web hostnet-demo-db)
cleanup() {
  for n in "$ns" "${ctrs[@]}"; do
    for pid in $(ip netns pids "$n" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    ip netns del "$n" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
for n in "$ns" "${ctrs[@]}"; do ip netns del "$n" 2>/dev/null || true; done
ip netns add "$ns"
ip -n "$ns" link set lo up
hn() { "$bin" --netns "$ns" --state-dir "$work/state" --run-dir "$work/run" --cni-conf-dir "$work/net.d" "$@"; }
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step hostnet init
hn init
step hostnet init "   # again: idempotent"
hn init
# Containers, attached the way a runtime does it: the conflist init wrote,
# run as a CNI plugin (CNI_COMMAND set) inside the host namespace.
conf() {  # $1: runtimeConfig.portMappings as JSON
  jq -c --arg s "$work/state" --arg r "$work/run" --arg d "$work/ipam" --argjson pm "$1" \
    '.plugins[0] + {name, cniVersion, stateDir: $s, runDir: $r, runtimeConfig: {portMappings: $pm}}
     | .ipam.dataDir = $d' "$work/net.d/nerdctl-bridge.conflist"
}
cni() {  # $1: ADD|DEL, $2: container, $3: port mappings
  conf "${3:-[]}" | ip netns exec "$ns" env CNI_COMMAND="$1" CNI_CONTAINERID="demo-$2" \
    CNI_NETNS="/run/netns/hostnet-demo-$2" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni "$bin"
}
for c in "${ctrs[@]}"; do ip netns add "$c"; ip -n "$c" link set lo up; done
step 'CNI_COMMAND=ADD hostnet   # container "web", runtimeConfig.portMappings 8080 -> 80'
cni ADD web '[{"HostPort":8080,"ContainerPort":80,"Protocol":"tcp"}]' | jq -c '{ips, interfaces: [.interfaces[].name]}'
step 'CNI_COMMAND=ADD hostnet   # container "db"'
cni ADD db | jq -c '{ips, interfaces: [.interfaces[].name]}'
web_ip=$(ip -n hostnet-demo-web -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
step "a web server in \"web\" ($web_ip:80)"
ip netns exec hostnet-demo-web socat TCP-LISTEN:80,reuseaddr,fork \
  SYSTEM:'echo "hello from web, you are $SOCAT_PEERADDR"' &
for _ in $(seq 50); do ip netns exec hostnet-demo-web ss -tln | grep ':80 ' >/dev/null && break; sleep 0.1; done
step "db -> web directly (same bridge)"
ip netns exec hostnet-demo-db ping -c1 -W2 "$web_ip" | sed -n 1,2p
step "host -> 127.0.0.1:8080 (mapped port)"
ip netns exec "$ns" socat -u TCP:127.0.0.1:8080 -
step "db -> 10.4.0.1:8080 (mapped port via the gateway, hairpin)"
ip netns exec hostnet-demo-db socat -u TCP:10.4.0.1:8080 -
step "hostnet portmap add 9090 $web_ip:80   # a static mapping, same maps"
hn portmap add 9090 "$web_ip:80"
step hostnet portmap ls
hn portmap ls
step "host -> 127.0.0.1:9090"
ip netns exec "$ns" socat -u TCP:127.0.0.1:9090 -
step nft list map inet hostnet hostports4_any
ip netns exec "$ns" nft list map inet hostnet hostports4_any

step hostnet status
hn status
step nft list table inet hostnet
ip netns exec "$ns" nft list table inet hostnet
step hostnet check
hn check
step 'CNI_COMMAND=DEL hostnet   # both containers (CNI_NETNS is ignored: the record knows)'
cni DEL web && cni DEL db && echo "deleted"
step hostnet check
hn check
step hostnet teardown
hn teardown
echo
echo "demo done; namespace $ns is removed"
