#!/usr/bin/env bash
# Where does the wall time of one hostnet CNI ADD/DEL (or `portmap del`) go?
#   scripts/profile-del.sh [path/to/hostnet] [add|del|portmap-del] [N attached first, default 3]
# In throwaway namespaces (never the initial one): attaches N containers
# (networks of 1000: a bridge takes at most 1023 ports), then profiles one
# more operation three ways:
#   1. off-CPU time by kernel stack (perf record -a -e sched:sched_switch -g),
#      i.e. what the process sleeps on (RCU waits, locks, I/O);
#   2. syscalls by wall time (strace -f -w -c);
#   3. on-CPU samples (perf record -F 20000 -g), top symbols.
# Needs linux-perf, strace and python3 (all Debian packages).
set -euo pipefail
bin=$(realpath "${1:-target/release/hostnet}")
what=${2:-del}
N=${3:-3}
tag=$$
h=hnb-$tag-profh
work=$(mktemp -d /dev/shm/hnb-prof.XXXXXX)
cns=()
cleanup() {
  for n in "$h" "${cns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
command -v perf >/dev/null || { echo "perf missing: apt-get install linux-perf" >&2; exit 1; }
ip netns add "$h"
ip -n "$h" link set lo up
conf=$(cat <<EOF
{"cniVersion":"1.0.0","name":"benchNET","type":"hostnet","bridge":"hnbNET","isGateway":true,"ipMasq":true,"hairpinMode":true,
 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.SUB.0.0/16","gateway":"10.SUB.0.1"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"$work/ipam"},
 "stateDir":"$work/state","runDir":"$work/run","capabilities":{"portMappings":true},
 "runtimeConfig":{"portMappings":[{"hostPort":PORT,"containerPort":80,"protocol":"tcp"}]}}
EOF
)
# cni VERB ID [wrapper...]: run the plugin from inside the host namespace
cni() {
  local verb=$1 id=$2; shift 2
  local i=${id#c} k
  k=$(( i > N ? (N > 0 ? (N - 1) / 1000 : 0) : (i - 1) / 1000 ))
  local c=${conf//PORT/$((10000 + i))}; c=${c//NET/$k}; c=${c//SUB/$((128 + k))}
  echo "$c" > "$work/in.json"
  ip netns exec "$h" "$@" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$verb" CNI_CONTAINERID="$id" \
    CNI_NETNS="/run/netns/hnb-$tag-$id" CNI_IFNAME=eth0 CNI_PATH="$(dirname "$bin"):/usr/lib/cni" "$bin" < "$work/in.json" > "$work/out.json"
}
hn() { ip netns exec "$h" "$bin" --state-dir "$work/state" --run-dir "$work/run" --cni-conf-dir "$work/net.d" "$@"; }
for i in $(seq 1 $((N + 4))); do
  ip netns add "hnb-$tag-c$i"; cns+=("hnb-$tag-c$i")
done
echo "attaching $N containers..." >&2
for i in $(seq 1 "$N"); do cni ADD "c$i"; done
[ "$N" -ge 100 ] && sleep 12   # let the new interfaces' IPv6 chatter settle

offcpu() { # perf script text -> off-CPU ms by the first kernel frames below schedule()
  python3 - "$1" "$2" <<'PY'
import re, sys
blocks = open(sys.argv[1]).read().split('\n\n')
comm = sys.argv[2]
skip = {'__schedule','schedule','schedule_timeout','wait_for_completion','__wait_for_common','wait_for_common',
        'wait_for_completion_state','__wait_rcu_gp','synchronize_rcu_normal','io_schedule','schedule_preempt_disabled'}
ev = []
for b in blocks:
    lines = b.strip().split('\n')
    if not lines or 'sched_switch' not in lines[0]:
        continue
    h = lines[0]
    t = float(re.search(r'(\d+\.\d+):', h).group(1))
    p = re.search(r'prev_comm=(\S+) prev_pid=(\d+)', h); n = re.search(r'next_comm=(\S+) next_pid=(\d+)', h)
    syms = [l.split()[1].split('+')[0] for l in lines[1:] if len(l.split()) > 1]
    ev.append((t, p.group(1), int(p.group(2)), int(n.group(2)), syms))
ev.sort()
pids = {e[2] for e in ev if e[1] == comm}
agg, total = {}, 0.0
for pid in pids:
    out = None
    for t, pc, pp, npid, syms in ev:
        if pp == pid and pc == comm:   # after exec only (not `ip netns exec`'s own work)
            out = (t, syms)
        elif npid == pid and out:
            key = ' <- '.join([s for s in out[1] if s not in skip][:4])
            agg[key] = agg.get(key, 0) + t - out[0]; total += t - out[0]; out = None
print(f"  off-CPU total {total*1000:.2f} ms")
for k, v in sorted(agg.items(), key=lambda x: -x[1])[:8]:
    print(f"  {v*1000:8.2f} ms  {k}")
PY
}

run_op() { # run the profiled operation once, with an optional wrapper
  case "$what" in
    add) cni ADD "c$1" "${@:2}" ;;
    del) cni DEL "c$1" "${@:2}" ;;
    portmap-del) ip netns exec "$h" "${@:2}" "$bin" --state-dir "$work/state" --run-dir "$work/run" --cni-conf-dir "$work/net.d" portmap del "$((20000 + $1))" ;;
  esac
}
prep() { # make the operation possible for container/port $1
  case "$what" in
    add) ;;
    del) cni ADD "c$1" ;;
    portmap-del) hn portmap add "$((20000 + $1))" "10.128.0.2:80" >/dev/null ;;
  esac
}

echo "== 1. off-CPU (what '$what' sleeps on)"
prep $((N + 1))
perf record -q -a -g -e sched:sched_switch -o "$work/perf.data" -- bash -c "$(declare -f cni run_op); bin=$bin h=$h tag=$tag work=$work what=$what N=$N conf='$conf'; run_op $((N + 1))" >/dev/null 2>&1
perf script -i "$work/perf.data" -F comm,pid,time,event,trace,ip,sym 2>/dev/null > "$work/perf.txt"
offcpu "$work/perf.txt" hostnet

echo "== 2. syscalls by wall time (strace -f -w -c)"
prep $((N + 2))
run_op $((N + 2)) strace -f -w -c -o "$work/strace.txt" >/dev/null 2>&1 || true
head -14 "$work/strace.txt" | sed 's/^/  /'
echo "  -- the slowest single syscalls (strace -f -T)"
prep $((N + 4))
run_op $((N + 4)) strace -f -T -s 40 -o "$work/strace-T.txt" >/dev/null 2>&1 || true
awk -F'<' '/<[0-9.]+>$/ {t=$NF; sub(/>$/, "", t); print t, substr($0, 1, 150)}' "$work/strace-T.txt" | sort -rn | head -8 | sed 's/^/  /'

echo "== 3. on-CPU samples of the hostnet process (perf record -F 20000), by DSO, then by symbol"
prep $((N + 3))
perf record -q -F 20000 -g -o "$work/cpu.data" -- bash -c "$(declare -f cni run_op); bin=$bin h=$h tag=$tag work=$work what=$what N=$N conf='$conf'; run_op $((N + 3))" >/dev/null 2>&1
perf report -i "$work/cpu.data" --comm hostnet --percentage relative --no-children -g none --sort dso --stdio 2>/dev/null | grep -E "^ +[0-9]" | head -6 | sed "s/^/  /"
echo "  -- top symbols"
perf report -i "$work/cpu.data" --comm hostnet --percentage relative --no-children -g none --sort dso,sym --stdio 2>/dev/null | grep -E "^ +[0-9]" | head -14 | sed "s/^/  /"
