#!/usr/bin/env bash
# `make syscalls`: what one CNI ADD and one DEL cost in system calls, counted
# by strace, in a throwaway network namespace (never the machine's own):
# sockets opened by family, threads started, netlink messages sent, and the
# `strace -c` summary. The second container is measured (the first made the
# host side), so the numbers are those of the steady state.
set -euo pipefail
bin=$(realpath "${1:-target/release/hostnet}")
command -v strace >/dev/null || { echo "syscalls: strace is not installed (make deps installs it)" >&2; exit 1; }
tag=hsys-$$
ns=$tag-host
work=$(mktemp -d /tmp/hostnet-syscalls.XXXXXX)
cleanup() {
  for n in "$ns" "$tag-c1" "$tag-c2"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
for n in "$ns" "$tag-c1" "$tag-c2"; do ip netns add "$n"; ip -n "$n" link set lo up; done
conf=$(cat <<JSON
{"cniVersion":"1.0.0","name":"sys","type":"hostnet","bridge":"hsys0","isGateway":true,"ipMasq":true,
 "hairpinMode":true,"stateDir":"$work/state","runDir":"$work/run",
 "ipam":{"type":"host-local","dataDir":"$work/ipam","ranges":[[{"subnet":"10.231.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]},
 "runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}}
JSON
)
cni() {  # $1 command, $2 container, rest: a prefix (strace …)
  local cmd=$1 c=$2; shift 2
  echo "$conf" | sed "s/8080/$((8080 + ${c#c}))/" | ip netns exec "$ns" env CNI_COMMAND="$cmd" CNI_CONTAINERID="$tag-$c" \
    CNI_NETNS="/run/netns/$tag-$c" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni "$@" "$bin" >/dev/null
}
cni ADD c1
report() {  # $1: ADD|DEL
  local log=$work/$1.trace  # a line a call; a thread's call may be split "<unfinished ...>"
  cni "$1" c2 strace -f -qq -o "$log" -e trace=socket,clone,clone3,sendto,sendmsg,recvmsg,recvfrom,execve,openat
  echo "== $1 (steady state: one container already attached)"
  printf '  netlink route sockets:     %s\n' "$(grep -c 'socket(AF_NETLINK, [^,]*, NETLINK_ROUTE' "$log" || true)"
  printf '  netlink netfilter sockets: %s\n' "$(grep -c 'socket(AF_NETLINK, [^,]*, NETLINK_NETFILTER' "$log" || true)"
  printf '  other sockets:             %s\n' "$(grep 'socket(' "$log" | grep -vc 'NETLINK_ROUTE\|NETLINK_NETFILTER' || true)"
  printf '  threads started:           %s\n' "$(grep -c '^[0-9]* *clone3\?(' "$log" || true)"
  printf '  netlink sends:             %s\n' "$(grep -c '^[0-9]* *\(sendto\|sendmsg\)(' "$log" || true)"
  printf '  files opened:              %s\n' "$(grep -c '^[0-9]* *openat(' "$log" || true)"
}
report ADD
report DEL
echo "== strace -f -c of one ADD, by calls"
echo "$conf" | sed "s/8080/8082/" | ip netns exec "$ns" env CNI_COMMAND=ADD CNI_CONTAINERID="$tag-c2" \
  CNI_NETNS="/run/netns/$tag-c2" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni strace -f -qq -c -S calls "$bin" 2>&1 >/dev/null | sed -n 1,16p
cni DEL c2
cni DEL c1
