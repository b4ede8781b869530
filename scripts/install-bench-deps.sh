#!/usr/bin/env bash
# `make bench` / `make bench-quick`: install the peers hostnet is measured
# against and the tools the benchmark uses, from Debian packages, only if
# missing. (The build and test dependencies are scripts/install-deps.sh.)
#   containernetworking-plugins  the reference chain: bridge, host-local, portmap, firewall, tuning (/usr/lib/cni)
#   netavark                     podman's network backend (/usr/lib/podman/netavark)
#   iptables                     what the reference portmap/bridge/firewall and netavark program
#   strace                       counts the processes per ADD/DEL (strace -f -e trace=execve)
#   time                         GNU time: peak RSS of one ADD (wait4 ru_maxrss of the plugin it forks)
#   iproute2, nftables, procps   namespaces and links (ip), `nft list ruleset`, sysctl
set -euo pipefail
bash "$(dirname "$0")/install-deps.sh" containernetworking-plugins netavark iptables strace time iproute2 nftables procps
for f in /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/portmap /usr/lib/cni/firewall /usr/lib/cni/tuning /usr/lib/podman/netavark; do
  [ -x "$f" ] || { echo "missing $f after installing the bench dependencies" >&2; exit 1; }
done
