#!/usr/bin/env bash
# The real boot test: a Debian 12 root filesystem (debootstrap --variant=minbase,
# cached under target/boot/rootfs) booted twice with systemd as PID 1 by
# systemd-nspawn --private-network (a network namespace of its own: never the
# host's), with the built binary and systemd/*.service installed and enabled,
# and Debian's nftables.service enabled (its config starts with
# `flush ruleset`).
#
# Boot 1: hostnet.service creates the host side; a test unit adds a static
#   mapping and attaches a container through CNI mode (port 8080), then
#   proves `systemctl restart nftables` and `reload nftables` put the table
#   back, and powers off.
# Boot 2 (a new network namespace and boot id: a reboot): hostnet.service has
#   restored the network and the static mapping, released the container that
#   did not come back, and `hostnet check` is clean; the container comes back
#   with the same address.
# The findings are written under /root in the rootfs and checked here.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/hostnet}
CACHE=$PWD/target/boot/rootfs
WORK=$PWD/target/boot/work
mkdir -p "$PWD/target/boot"
# the Debian archive the machine's apt uses (active lines only, not -security)
MIRROR=$({ grep -hE '^[[:space:]]*(deb[[:space:]]|URIs:)' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null || true; } \
  | grep -oE 'https?://[^ ]+' | grep -E '/debian/?$' | head -1 || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

if [ ! -x "$CACHE/usr/lib/systemd/systemd" ]; then
  rm -rf "$CACHE.partial"
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,iproute2,nftables,libnftnl11,libmnl0,procps \
    bookworm "$CACHE.partial" "$MIRROR"
  chroot "$CACHE.partial" apt-get clean
  mv "$CACHE.partial" "$CACHE"
fi
rm -rf "$WORK"
cp -a "$CACHE" "$WORK"

install -m 0755 "$BIN" "$WORK/usr/sbin/hostnet"
install -m 0644 systemd/hostnet.service systemd/hostnet-nftables.service "$WORK/etc/systemd/system/"
mkdir -p "$WORK/etc/systemd/system/multi-user.target.wants" "$WORK/etc/systemd/system/nftables.service.wants"
ln -sf /etc/systemd/system/hostnet.service "$WORK/etc/systemd/system/multi-user.target.wants/hostnet.service"
ln -sf /etc/systemd/system/hostnet-nftables.service "$WORK/etc/systemd/system/nftables.service.wants/hostnet-nftables.service"
ln -sf /lib/systemd/system/nftables.service "$WORK/etc/systemd/system/multi-user.target.wants/nftables.service"

# the test unit: ordered after the units under test (After= only, so a
# disabled unit under test is not pulled in and the check stays honest)
cat > "$WORK/etc/systemd/system/hostnet-boottest.service" <<'EOF'
[Unit]
Description=hostnet boot test
After=hostnet.service hostnet-nftables.service nftables.service multi-user.target
[Service]
Type=oneshot
ExecStart=/bin/sh /root/boottest.sh
ExecStartPost=/bin/systemctl poweroff --no-block
[Install]
WantedBy=default.target
EOF
mkdir -p "$WORK/etc/systemd/system/default.target.wants"
ln -sf /etc/systemd/system/hostnet-boottest.service "$WORK/etc/systemd/system/default.target.wants/hostnet-boottest.service"

cat > "$WORK/root/boottest.sh" <<'EOF'
#!/bin/sh
# one boot's findings under /root/boot<N>/
n=$(( $(cat /root/boots 2>/dev/null || echo 0) + 1 ))
echo $n > /root/boots
out=/root/boot$n
mkdir -p $out
cat /proc/sys/kernel/random/boot_id > $out/boot_id
systemctl is-active hostnet.service > $out/hostnet-active 2>&1
journalctl -u hostnet.service -b --no-pager -o cat > $out/hostnet-journal 2>&1
ip -o link show nerdctl0 > $out/bridge 2>&1
nft list table inet hostnet > $out/table 2>&1
hostnet portmap ls > $out/portmap-ls 2>&1
ls /var/lib/cni/networks/bridge/ > $out/ip-files 2>&1
attach() {
  ip netns add c1 2>/dev/null
  printf '%s' '{"cniVersion":"1.0.0","name":"bridge","type":"hostnet","bridge":"nerdctl0","isGateway":true,"ipMasq":true,"hairpinMode":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.4.0.0/24","gateway":"10.4.0.1"}]],"routes":[{"dst":"0.0.0.0/0"}]},"runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}}' |
    CNI_COMMAND=ADD CNI_CONTAINERID=c1 CNI_NETNS=/run/netns/c1 CNI_IFNAME=eth0 CNI_PATH=/usr/sbin hostnet > $out/add.json 2>$out/add.err
  echo $? > $out/add.rc
}
if [ $n = 1 ]; then
  hostnet portmap add 9090 10.4.0.250:80 > $out/portmap-add 2>&1
  hostnet portmap ls > $out/portmap-ls 2>&1
  attach
  nft list table inet hostnet > $out/table-attached 2>&1
  systemctl restart nftables
  systemctl start hostnet-nftables.service  # waits for the propagated restart job
  nft list table inet hostnet > $out/table-after-restart 2>&1
  systemctl reload nftables
  systemctl start hostnet-nftables.service
  nft list table inet hostnet > $out/table-after-reload 2>&1
  systemctl status hostnet-nftables.service --no-pager > $out/hostnet-nftables-status 2>&1
else
  hostnet check > $out/check 2>&1; echo $? > $out/check.rc
  attach
  hostnet check > $out/check-after-add 2>&1; echo $? > $out/check-after-add.rc
fi
journalctl -b --no-pager -o short-monotonic > $out/journal 2>&1
EOF

boot() {
  echo "boot $1: $(date -u +%T)"
  timeout 120 systemd-nspawn -q -D "$WORK" -b --private-network --register=no --keep-unit \
    --console=pipe </dev/null >"target/boot/console-$1.log" 2>&1 || true
  echo "boot $1 over: $(date -u +%T)"
}
boot 1
boot 2

R=$WORK/root
fail=0 passed=0 failed=0
t() {
  if eval "$2"; then echo "ok   $1"; passed=$((passed + 1))
  else echo "FAIL $1"; fail=1; failed=$((failed + 1)); fi
}
echo "--- boot 1"
t "booted (findings written)" "[ -f $R/boot1/boot_id ]"
t "hostnet.service active" "grep -qx active $R/boot1/hostnet-active"
t "the bridge nerdctl0 exists" "grep -q nerdctl0 $R/boot1/bridge"
t "static mapping 9090 added" "grep -q 9090 $R/boot1/portmap-ls"
t "container c1 attached (CNI ADD)" "grep -qx 0 $R/boot1/add.rc"
t "its element is there" "grep -Eq '(tcp|6) . 8080' $R/boot1/table-attached"
t "restart nftables (flush ruleset) puts the table back" "grep -Eq '(tcp|6) . 9090' $R/boot1/table-after-restart && grep -Eq '(tcp|6) . 8080' $R/boot1/table-after-restart"
t "reload nftables puts the table back" "grep -Eq '(tcp|6) . 9090' $R/boot1/table-after-reload && grep -Eq '(tcp|6) . 8080' $R/boot1/table-after-reload"
t "restart: hostnet-nftables ran init again (PartOf)" "grep -q 'hostnet.*2 port mappings' $R/boot1/journal"
t "reload: propagated to hostnet-nftables (ReloadPropagatedFrom)" "grep -q 'Reloaded hostnet-nftables.service' $R/boot1/journal"
echo "--- boot 2 (a reboot)"
t "booted again" "[ -f $R/boot2/boot_id ]"
t "a new boot id" "! cmp -s $R/boot1/boot_id $R/boot2/boot_id"
t "hostnet.service active" "grep -qx active $R/boot2/hostnet-active"
t "the bridge is back" "grep -q nerdctl0 $R/boot2/bridge"
t "the static mapping is restored" "grep -Eq '(tcp|6) . 9090' $R/boot2/table"
t "the dead container's mapping is not" "! grep -Eq '(tcp|6) . 8080' $R/boot2/table"
t "init said it released c1" "grep -q 'released address .* of container c1' $R/boot2/hostnet-journal"
t "its address file was released" "[ ! -s $R/boot2/ip-files ] || ! grep -q '^10' $R/boot2/ip-files"
t "check is clean after the boot" "grep -qx 0 $R/boot2/check.rc"
t "c1 attaches again" "grep -qx 0 $R/boot2/add.rc"
t "with the same address" "[ \"\$(grep -o '10\.4\.0\.[0-9]*/24' $R/boot1/add.json)\" = \"\$(grep -o '10\.4\.0\.[0-9]*/24' $R/boot2/add.json)\" ]"
t "check is clean after the ADD" "grep -qx 0 $R/boot2/check-after-add.rc"
echo "--- journal of hostnet.service, boot 2"
cat "$R/boot2/hostnet-journal" || true
echo "boot-test: $passed passed, $failed failed"
exit $fail
