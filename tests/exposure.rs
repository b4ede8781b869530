//! What reaches a container, tried as an attacker would: a "LAN neighbour"
//! namespace wired to the host namespace that routes whatever it likes via
//! the host (127.0.0.0/8, the container subnets), and a container that takes
//! another container's address. Each attack is shown failing next to the
//! legitimate path working. Arrivals are recorded by nftables counters in the
//! receiving namespace (a packet counted there arrived), so "nothing arrives"
//! is read, not inferred from a timeout.

#[path = "common/cni.rs"]
mod cni;
mod common;

use cni::{Attachment, OUTSIDE, World, result_ip};
use common::*;
use serde_json::{Value, json};

const NEIGHBOUR: &str = "198.51.100.2";
const HOST_LAN: &str = "198.51.100.1";

/// A counter named `name` in `ns` for packets matching `matching` that
/// arrive for a local socket (input hook) of `ns`.
fn record(ns: &NetNs, name: &str, matching: &str) {
    ns.ok(&["nft", "add", "table", "inet", "rec"]);
    ns.ok(&[
        "nft",
        "add",
        "chain",
        "inet",
        "rec",
        "in",
        "{ type filter hook input priority -400; policy accept; }",
    ]);
    let rule = format!("add rule inet rec in {matching} counter comment \"{name}\"");
    ns.sh(&format!("nft '{rule}'"));
}

/// How many packets the counter `name` saw.
fn arrived(ns: &NetNs, name: &str) -> u64 {
    let list = ns.ok(&["nft", "list", "chain", "inet", "rec", "in"]);
    let line = list
        .lines()
        .find(|l| l.contains(&format!("comment \"{name}\"")))
        .unwrap_or_else(|| panic!("no counter {name} in\n{list}"));
    let n = line
        .split("packets ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    n.unwrap_or_else(|| panic!("no packet count in {line}"))
}

/// One UDP datagram from `ns` to addr:port (optionally from `bind`).
fn send_udp(ns: &NetNs, addr: &str, port: u16, bind: Option<&str>) {
    let kind = if addr.contains(':') { "UDP6" } else { "UDP" };
    let target = if addr.contains(':') {
        format!("[{addr}]")
    } else {
        addr.to_string()
    };
    let bind = bind
        .map(|b| {
            if b.contains(':') {
                format!(",bind=[{b}]")
            } else {
                format!(",bind={b}")
            }
        })
        .unwrap_or_default();
    ns.run(&[
        "timeout",
        "3",
        "sh",
        "-c",
        &format!("echo hi | socat -u - {kind}:{target}:{port}{bind}"),
    ]);
}

/// A TCP connection attempt from `ns`; true when it was answered.
fn tcp_answered(ns: &NetNs, addr: &str, port: u16) -> bool {
    let target = if addr.contains(':') {
        format!("[{addr}]")
    } else {
        addr.to_string()
    };
    ask(ns, "tcp", &target, port).is_some()
}

/// TCP servers on `port` (IPv4 and IPv6) answering with the peer address.
fn tcp_server(ns: &NetNs, port: u16) -> Vec<Server> {
    let spawn = |listen: String| {
        ns.command(&["socat", &listen, "SYSTEM:echo $SOCAT_PEERADDR"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn socat")
    };
    let v4 = Server(spawn(format!("TCP4-LISTEN:{port},reuseaddr,fork")));
    let v6 = Server(spawn(format!(
        "TCP6-LISTEN:{port},reuseaddr,fork,ipv6only=1"
    )));
    for _ in 0..200 {
        let out = ns.ok(&["ss", "-tln"]);
        if out.contains(&format!("0.0.0.0:{port} ")) && out.contains(&format!("[::]:{port} ")) {
            return vec![v4, v6];
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("nothing listens on tcp/{port} in {}", ns.name);
}

/// The LAN neighbour routes 127.0.0.0/8 via the host (its own loopback
/// routes removed, replies from 127.0.0.1 accepted on its LAN interface).
fn route_localhost_via_host(n: &NetNs) {
    n.ok(&[
        "ip",
        "route",
        "del",
        "local",
        "127.0.0.0/8",
        "dev",
        "lo",
        "table",
        "local",
    ]);
    n.ok(&[
        "ip",
        "route",
        "del",
        "local",
        "127.0.0.1",
        "dev",
        "lo",
        "table",
        "local",
    ]);
    n.ok(&["ip", "route", "add", "127.0.0.0/8", "via", HOST_LAN]);
    n.ok(&["sysctl", "-qw", "net.ipv4.conf.eth0.route_localnet=1"]);
    n.ok(&["sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"]);
}

#[test]
fn localhost_mappings_are_not_reachable_from_the_lan() {
    let host = Host::new("exlo");
    host.hostnet_ok(&["init"]);
    let lan = outside_of(&host.ns);
    route_localhost_via_host(&lan);
    let ctr = manual_container(
        &host.ns,
        "nerdctl0",
        "vethe0000001",
        "10.4.0.2/24",
        "10.4.0.1",
    );
    // every mapping kind, TCP and UDP
    for args in [
        &[
            "portmap",
            "add",
            "--host-ip",
            "127.0.0.1",
            "--proto",
            "udp",
            "5353",
            "10.4.0.2:53",
        ][..],
        &[
            "portmap",
            "add",
            "--host-ip",
            "127.0.0.1",
            "8053",
            "10.4.0.2:53",
        ],
        &["portmap", "add", "8080", "10.4.0.2:80"],
        &["portmap", "add", "--proto", "udp", "5300", "10.4.0.2:5300"],
        &["portmap", "add", "9000-9002", "10.4.0.2:9000-9002"],
    ] {
        host.hostnet_ok(args);
    }
    let _t53 = tcp_server(&ctr, 53);
    let _t80 = tcp_server(&ctr, 80);
    let _t9001 = tcp_server(&ctr, 9001);
    udp_echo_peer_server(&ctr, 53);
    udp_echo_peer_server(&ctr, 5300);
    let from_lan = |proto: &str, port: u16| format!("ip saddr {NEIGHBOUR} {proto} dport {port}");
    for (name, proto, port) in [
        ("udp53", "udp", 53),
        ("tcp53", "tcp", 53),
        ("tcp80", "tcp", 80),
        ("udp5300", "udp", 5300),
        ("tcp9001", "tcp", 9001),
    ] {
        record(&ctr, name, &from_lan(proto, port));
    }

    // the attack: 127.0.0.1:PORT sent to the host from the LAN
    send_udp(&lan, "127.0.0.1", 5353, None);
    send_udp(&lan, "127.0.0.1", 5300, None);
    for port in [8053, 8080, 9001] {
        assert!(
            !tcp_answered(&lan, "127.0.0.1", port),
            "127.0.0.1:{port} answered the LAN"
        );
    }
    for name in ["udp53", "tcp53", "tcp80", "udp5300", "tcp9001"] {
        assert_eq!(
            arrived(&ctr, name),
            0,
            "{name}: a packet to 127.0.0.1 from the LAN reached the container"
        );
    }

    // the host itself still reaches every mapping on 127.0.0.1
    assert!(
        ask(&host.ns, "udp", "127.0.0.1", 5353).is_some(),
        "host udp 127.0.0.1:5353"
    );
    assert!(
        ask(&host.ns, "udp", "127.0.0.1", 5300).is_some(),
        "host udp 127.0.0.1:5300"
    );
    for port in [8053, 8080, 9001] {
        assert!(
            tcp_answered(&host.ns, "127.0.0.1", port),
            "host tcp 127.0.0.1:{port}"
        );
    }
    // and the LAN reaches the any-address mappings on the host's address
    assert_eq!(
        ask(&lan, "tcp", HOST_LAN, 8080).as_deref(),
        Some(NEIGHBOUR),
        "LAN -> host:8080"
    );
    assert_eq!(
        ask(&lan, "udp", HOST_LAN, 5300).as_deref(),
        Some(NEIGHBOUR),
        "LAN -> host:5300/udp"
    );
    assert!(
        tcp_answered(&lan, HOST_LAN, 9001),
        "LAN -> host:9001 (range)"
    );
    assert!(arrived(&ctr, "tcp80") > 0 && arrived(&ctr, "udp5300") > 0);
    // a 127.0.0.1-bound mapping is not on the host's LAN address
    assert!(!tcp_answered(&lan, HOST_LAN, 8053));
}

/// A network with an IPv4 and an IPv6 subnet, a container at 10.4.0.2 /
/// fd00:4::2 serving TCP 9999, and a LAN neighbour routing both subnets via
/// the host.
struct Routed {
    host: Host,
    lan: NetNs,
    ctr: NetNs,
    _srv: Vec<Server>,
}

fn routed_world(tag: &str) -> Routed {
    let host = Host::new(tag);
    host.hostnet_ok(&["init", "--subnet", "10.4.0.0/24", "--subnet", "fd00:4::/64"]);
    let lan = outside_of(&host.ns);
    host.ns
        .ok(&["ip", "addr", "add", "fd00:99::1/64", "dev", "up0", "nodad"]);
    lan.ok(&["ip", "addr", "add", "fd00:99::2/64", "dev", "eth0", "nodad"]);
    lan.ok(&["ip", "route", "add", "10.4.0.0/24", "via", HOST_LAN]);
    lan.ok(&[
        "ip",
        "-6",
        "route",
        "add",
        "fd00:4::/64",
        "via",
        "fd00:99::1",
    ]);
    let ctr = manual_container(
        &host.ns,
        "nerdctl0",
        "vethe0000002",
        "10.4.0.2/24",
        "10.4.0.1",
    );
    ctr.ok(&["ip", "addr", "add", "fd00:4::2/64", "dev", "eth0", "nodad"]);
    ctr.ok(&["ip", "-6", "route", "add", "default", "via", "fd00:4::1"]);
    let srv = tcp_server(&ctr, 9999);
    Routed {
        host,
        lan,
        ctr,
        _srv: srv,
    }
}

fn gateway_mode(host: &Host) -> Value {
    let status: Value =
        serde_json::from_str(&host.hostnet_ok(&["--json", "status"])).expect("status --json");
    status["bridges"][0]["gateway_mode"].clone()
}

#[test]
fn unpublished_ports_are_closed_to_the_lan_unless_routed() {
    let w = routed_world("exrt");
    // direct access to a container port nobody published: v4 and v6
    assert!(
        !tcp_answered(&w.lan, "10.4.0.2", 9999),
        "the LAN reached an unpublished port over IPv4"
    );
    assert!(
        !tcp_answered(&w.lan, "fd00:4::2", 9999),
        "the LAN reached an unpublished port over IPv6"
    );
    assert_eq!(gateway_mode(&w.host), "nat");
    // a port published only on 127.0.0.1 is not reachable directly either
    w.host.hostnet_ok(&[
        "portmap",
        "add",
        "--host-ip",
        "127.0.0.1",
        "8999",
        "10.4.0.2:9999",
    ]);
    assert!(!tcp_answered(&w.lan, "10.4.0.2", 9999));
    // published: reachable through the host
    w.host
        .hostnet_ok(&["portmap", "add", "8080", "10.4.0.2:9999"]);
    assert_eq!(
        ask(&w.lan, "tcp", HOST_LAN, 8080).as_deref(),
        Some(NEIGHBOUR)
    );
    // egress and its replies work, v4 and v6
    let _out = tcp_server(&w.lan, 7000);
    assert_eq!(
        ask(&w.ctr, "tcp", NEIGHBOUR, 7000).as_deref(),
        Some(HOST_LAN)
    );
    assert!(tcp_answered(&w.ctr, "fd00:99::2", 7000), "IPv6 egress");

    // routed: direct access is the point
    w.host.hostnet_ok(&["init", "--gateway-mode", "routed"]);
    assert_eq!(gateway_mode(&w.host), "routed");
    let text = w.host.hostnet_ok(&["status"]);
    assert!(
        text.contains("gateway mode of network bridge (nerdctl0): routed"),
        "{text}"
    );
    assert_eq!(
        ask(&w.lan, "tcp", "10.4.0.2", 9999).as_deref(),
        Some(NEIGHBOUR)
    );
    assert!(tcp_answered(&w.lan, "fd00:4::2", 9999), "routed IPv6");
    assert_eq!(
        ask(&w.lan, "tcp", HOST_LAN, 8080).as_deref(),
        Some(NEIGHBOUR)
    );
    assert!(tcp_answered(&w.ctr, "fd00:99::2", 7000));
    // the state keeps it: a plain init changes nothing
    w.host.hostnet_ok(&["init"]);
    assert_eq!(gateway_mode(&w.host), "routed");
    let check = w.host.hostnet(&["check"]);
    assert!(check.status.success(), "{}", stdout(&check));

    // and back to nat closes it again
    w.host.hostnet_ok(&["init", "--gateway-mode", "nat"]);
    assert!(!tcp_answered(&w.lan, "10.4.0.2", 9999));
    assert!(!tcp_answered(&w.lan, "fd00:4::2", 9999));
    assert_eq!(
        ask(&w.lan, "tcp", HOST_LAN, 8080).as_deref(),
        Some(NEIGHBOUR)
    );
    let bad = w.host.hostnet(&["init", "--gateway-mode", "open"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("nat or routed"), "{}", stderr(&bad));
}

fn mac_of(ns: &NetNs) -> String {
    let out = ns.ok(&["ip", "-o", "link", "show", "eth0"]);
    out.split("link/ether ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no MAC in {out}"))
        .to_string()
}

/// The host's neighbour entry for `ip` on `bridge` ("" when none).
fn neighbour_entry(host: &NetNs, ip: &str, bridge: &str) -> String {
    host.ok(&["ip", "neigh", "show", ip, "dev", bridge])
}

/// Container 2 takes container 1's address and talks as it: to a host
/// service, to another container (when given), to the outside; then claims
/// the address at layer 2. Nothing arrives and the host's ARP entry for
/// container 1 stays; container 1 itself gets through.
#[allow(clippy::too_many_arguments)]
fn spoof_attempts(
    w: &World,
    bridge: &str,
    gw: &str,
    c1: &NetNs,
    ip1: &str,
    c2: &NetNs,
    ip2: &str,
    third: Option<(&NetNs, &str)>,
) {
    record(&w.host.ns, "host", "udp dport 7001");
    record(&w.outside, "out", "udp dport 7003");
    if let Some((c3, _)) = third {
        record(c3, "peer", "udp dport 7002");
    }
    // everyone has resolved everyone already: what is tested below is the
    // source check on IP packets, then the claims at layer 2
    assert!(cni::ping(&w.host.ns, ip1));
    assert!(cni::ping(c1, gw) && cni::ping(c2, gw));
    if let Some((_, ip3)) = third {
        assert!(cni::ping(c1, ip3) && cni::ping(c2, ip3));
    }
    let mac1 = mac_of(c1);
    let mac2 = mac_of(c2);
    assert!(neighbour_entry(&w.host.ns, ip1, bridge).contains(&mac1));

    c2.ok(&["ip", "addr", "add", &format!("{ip1}/32"), "dev", "eth0"]);
    send_udp(c2, gw, 7001, Some(ip1));
    send_udp(c2, OUTSIDE, 7003, Some(ip1));
    if let Some((_, ip3)) = third {
        send_udp(c2, ip3, 7002, Some(ip1));
    }
    // a gratuitous ARP request and an unsolicited ARP reply claiming ip1
    c2.ok(&[
        "arping", "-q", "-U", "-c", "2", "-w", "2", "-I", "eth0", "-s", ip1, ip1,
    ]);
    c2.run(&[
        "arping", "-q", "-A", "-c", "2", "-w", "2", "-I", "eth0", "-s", ip1, ip1,
    ]);
    assert_eq!(
        arrived(&w.host.ns, "host"),
        0,
        "spoofed datagram reached the host"
    );
    assert_eq!(
        arrived(&w.outside, "out"),
        0,
        "spoofed datagram reached the outside"
    );
    if let Some((c3, _)) = third {
        assert_eq!(
            arrived(c3, "peer"),
            0,
            "spoofed datagram reached another container"
        );
    }
    let entry = neighbour_entry(&w.host.ns, ip1, bridge);
    assert!(
        entry.contains(&mac1) && !entry.contains(&mac2),
        "the host's entry for {ip1} moved to container 2 ({mac2}): {entry}"
    );
    c2.ok(&["ip", "addr", "del", &format!("{ip1}/32"), "dev", "eth0"]);

    // the legitimate paths: container 1 as itself, container 2 as itself
    send_udp(c1, gw, 7001, Some(ip1));
    assert_eq!(arrived(&w.host.ns, "host"), 1, "container 1 to the host");
    send_udp(c2, gw, 7001, Some(ip2));
    assert_eq!(arrived(&w.host.ns, "host"), 2, "container 2 to the host");
    send_udp(c1, OUTSIDE, 7003, Some(ip1));
    assert_eq!(arrived(&w.outside, "out"), 1, "container 1 to the outside");
    if let Some((c3, ip3)) = third {
        send_udp(c1, ip3, 7002, Some(ip1));
        assert_eq!(arrived(c3, "peer"), 1, "container 1 to container 3");
    }
}

/// From `ns`'s eth0, an unsolicited neighbour advertisement to all nodes
/// (ff02::1) claiming `target` for `mac`, with the override flag: what a
/// container sends to take over another's IPv6 address in neighbour caches.
/// The kernel picks eth0's link-local source and fills in the checksum.
fn send_unsolicited_na(ns: &NetNs, target: &str, mac: &str) {
    let target: std::net::Ipv6Addr = target.parse().expect("IPv6 target");
    let mac: Vec<u8> = mac
        .split(':')
        .map(|x| u8::from_str_radix(x, 16).expect("MAC"))
        .collect();
    let path = ns.path();
    let sent = std::thread::spawn(move || {
        hostnet::kernel::netns::run_in(&path, || {
            let mut pkt = vec![136u8, 0, 0, 0, 0x20, 0, 0, 0];
            pkt.extend(target.octets());
            pkt.extend([2u8, 1]);
            pkt.extend(&mac);
            // SAFETY: a raw ICMPv6 socket owned by this block; every pointer
            // passed points at a live local of the size given.
            let n = unsafe {
                let fd = libc::socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_ICMPV6);
                assert!(fd >= 0, "raw socket");
                let ifindex = libc::if_nametoindex(c"eth0".as_ptr());
                let idx = ifindex as libc::c_int;
                let hops: libc::c_int = 255;
                for (opt, v) in [
                    (libc::IPV6_MULTICAST_IF, &idx),
                    (libc::IPV6_MULTICAST_HOPS, &hops),
                ] {
                    let r = libc::setsockopt(
                        fd,
                        libc::IPPROTO_IPV6,
                        opt,
                        (v as *const libc::c_int).cast(),
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    );
                    assert_eq!(r, 0, "setsockopt {opt}");
                }
                let mut dst: libc::sockaddr_in6 = std::mem::zeroed();
                dst.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                dst.sin6_addr.s6_addr = "ff02::1".parse::<std::net::Ipv6Addr>().unwrap().octets();
                dst.sin6_scope_id = ifindex;
                let n = libc::sendto(
                    fd,
                    pkt.as_ptr().cast(),
                    pkt.len(),
                    0,
                    (&dst as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                );
                libc::close(fd);
                n
            };
            Ok(n == pkt.len() as isize)
        })
    })
    .join()
    .expect("NA sender thread");
    assert!(sent.expect("NA sender"), "the advertisement was not sent");
}

fn add(w: &World, list: &Value, a: &Attachment) -> Value {
    w.rt.add(list, a)
        .unwrap_or_else(|e| panic!("ADD ({}): {}\n{}", e.plugin, e.stdout, e.stderr))
}

#[test]
fn a_container_speaks_only_with_its_own_addresses() {
    const BR: &str = "hnsp0";
    let w = World::new("exsp");
    let list = World::conflist(
        "spoof",
        "1.0.0",
        vec![w.plugin("hostnet", BR, &["10.88.0.0/24", "fd00:88::/64"])],
    );
    let (c1, c2, c3) = (NetNs::new("s1"), NetNs::new("s2"), NetNs::new("s3"));
    let (a1, a2, a3) = (
        Attachment::new("spoof-one", &c1),
        Attachment::new("spoof-two", &c2),
        Attachment::new("spoof-three", &c3),
    );
    let (r1, r2, r3) = (
        add(&w, &list, &a1),
        add(&w, &list, &a2),
        add(&w, &list, &a3),
    );
    let (ip1, ip2, ip3) = (
        result_ip(&r1, true),
        result_ip(&r2, true),
        result_ip(&r3, true),
    );
    for c in [&c1, &c2, &c3] {
        cni::settle(c);
    }
    spoof_attempts(&w, BR, "10.88.0.1", &c1, &ip1, &c2, &ip2, Some((&c3, &ip3)));

    // the elements are there, with the veth names of the result
    let veth1 = r1["interfaces"][1]["name"].as_str().expect("host veth");
    let bridge_table = w.host.ns.ok(&["nft", "list", "table", "bridge", "hostnet"]);
    assert!(
        bridge_table.contains(&format!("\"{veth1}\" . {ip1}")),
        "{bridge_table}"
    );
    // IPv6: container 2 sending as container 1's IPv6 address
    let (v6_1, v6_2) = (result_ip(&r1, false), result_ip(&r2, false));
    record(&w.host.ns, "host6", "udp dport 7006");
    assert!(cni::ping(&c1, "fd00:88::1") && cni::ping(&c2, "fd00:88::1"));
    c2.ok(&[
        "ip",
        "addr",
        "add",
        &format!("{v6_1}/128"),
        "dev",
        "eth0",
        "nodad",
    ]);
    send_udp(&c2, "fd00:88::1", 7006, Some(&v6_1));
    assert_eq!(
        arrived(&w.host.ns, "host6"),
        0,
        "spoofed IPv6 source reached the host"
    );
    c2.ok(&["ip", "addr", "del", &format!("{v6_1}/128"), "dev", "eth0"]);
    send_udp(&c1, "fd00:88::1", 7006, Some(&v6_1));
    send_udp(&c2, "fd00:88::1", 7006, Some(&v6_2));
    assert_eq!(arrived(&w.host.ns, "host6"), 2, "own IPv6 sources pass");
    // container 2 claims container 1's IPv6 address in a neighbour
    // advertisement (from its own link-local address, which passes the
    // source check): the host's entry for it keeps container 1's MAC
    assert!(cni::ping(&w.host.ns, &v6_1));
    let (mac1, mac2) = (mac_of(&c1), mac_of(&c2));
    let entry = w
        .host
        .ns
        .ok(&["ip", "-6", "neigh", "show", &v6_1, "dev", BR]);
    assert!(entry.contains(&mac1), "{entry}");
    send_unsolicited_na(&c2, &v6_1, &mac2);
    send_unsolicited_na(&c2, &v6_1, &mac2);
    let entry = w
        .host
        .ns
        .ok(&["ip", "-6", "neigh", "show", &v6_1, "dev", BR]);
    assert!(
        entry.contains(&mac1) && !entry.contains(&mac2),
        "the host's entry for {v6_1} moved to container 2 ({mac2}): {entry}"
    );
    // container 1's own advertisement (its address, its MAC) is accepted
    send_unsolicited_na(&c1, &v6_1, &mac1);

    // a flushed ruleset: `hostnet check` names what is missing, `init`
    // restores the elements from the attachment records
    w.host.ns.ok(&["nft", "flush", "ruleset"]);
    let check = w.host.hostnet(&["check"]);
    assert!(!check.status.success());
    w.host.hostnet_ok(&["init"]);
    let bridge_table = w.host.ns.ok(&["nft", "list", "table", "bridge", "hostnet"]);
    for (v, ip) in [(veth1, &ip1), (veth1, &v6_1)] {
        assert!(
            bridge_table.contains(&format!("\"{v}\" . {ip}")),
            "{v} . {ip} not restored:\n{bridge_table}"
        );
    }
    w.host
        .assert_check_clean("after init restored the anti-spoofing elements");

    // CHECK sees the elements; DEL takes them away with the attachment
    w.rt.check(&list, &a1)
        .unwrap_or_else(|e| panic!("CHECK: {}\n{}", e.stdout, e.stderr));
    for a in [&a1, &a2, &a3] {
        w.rt.del(&list, a)
            .unwrap_or_else(|e| panic!("DEL: {}\n{}", e.stdout, e.stderr));
    }
    let bridge_table = w.host.ns.ok(&["nft", "list", "table", "bridge", "hostnet"]);
    assert!(!bridge_table.contains("veth"), "{bridge_table}");
    assert!(!bridge_table.contains("10.88.0."), "{bridge_table}");
}

#[test]
fn dropin_bridge_gets_the_same_protection() {
    const BR: &str = "cni-sp0";
    let w = World::new("exdr");
    let list = World::conflist(
        "spoofdrop",
        "1.0.0",
        vec![
            w.plugin("bridge", BR, &["10.89.0.0/24"]),
            json!({"type": "firewall"}),
        ],
    );
    let (c1, c2) = (NetNs::new("d1"), NetNs::new("d2"));
    let (a1, a2) = (
        Attachment::new("spd-one", &c1),
        Attachment::new("spd-two", &c2),
    );
    let (r1, r2) = (add(&w, &list, &a1), add(&w, &list, &a2));
    let (ip1, ip2) = (result_ip(&r1, true), result_ip(&r2, true));
    spoof_attempts(&w, BR, "10.89.0.1", &c1, &ip1, &c2, &ip2, None);
    for a in [&a1, &a2] {
        w.rt.del(&list, a)
            .unwrap_or_else(|e| panic!("DEL: {}\n{}", e.stdout, e.stderr));
    }
    let bridge_table = w.host.ns.ok(&["nft", "list", "table", "bridge", "hostnet"]);
    assert!(!bridge_table.contains("10.89.0."), "{bridge_table}");
}

/// A conflist hostnet wrote, pointed at this world's directories.
fn written_conflist(w: &World, name: &str) -> Value {
    let path = w.host.conf_dir().join(format!("nerdctl-{name}.conflist"));
    let text = std::fs::read_to_string(&path).expect("conflist");
    let mut list: Value = serde_json::from_str(&text).expect("conflist json");
    w.dirs_keys(&mut list["plugins"][0]);
    list
}

/// Each of a container's two veths may send from both of its addresses.
fn assert_both_veths_own_both(w: &World, veths: [&str; 2], ips: [&str; 2]) {
    let table = w
        .host
        .ns
        .ok(&["nft", "list", "set", "bridge", "hostnet", "owned4"]);
    for v in veths {
        for ip in ips {
            assert!(
                table.contains(&format!("\"{v}\" . {ip}")),
                "{v} . {ip}:\n{table}"
            );
        }
    }
}

/// A container on two networks owns both of its addresses on both veths
/// (its default route may answer through either), and no more; DEL of one
/// interface takes its address away from the other veth too.
#[test]
fn a_container_on_two_networks_owns_both_addresses() {
    let w = World::new("exmh");
    w.host.hostnet_ok(&["init"]);
    w.host.hostnet_ok(&["network", "create", "mh"]);
    let (bridge, mh) = (written_conflist(&w, "bridge"), written_conflist(&w, "mh"));
    let c = NetNs::new("mh");
    let eth0 = Attachment::new("multi", &c);
    let mut eth1 = Attachment::new("multi", &c);
    eth1.ifname = "eth1".into();
    let (r0, r1) = (add(&w, &bridge, &eth0), add(&w, &mh, &eth1));
    let (ip0, ip1) = (result_ip(&r0, true), result_ip(&r1, true));
    let veth0 = r0["interfaces"][1]["name"]
        .as_str()
        .expect("veth")
        .to_string();
    let veth1 = r1["interfaces"][1]["name"]
        .as_str()
        .expect("veth")
        .to_string();
    assert_both_veths_own_both(&w, [&veth0, &veth1], [&ip0, &ip1]);
    w.host.assert_check_clean("check");
    w.rt.check(&bridge, &eth0)
        .unwrap_or_else(|e| panic!("CHECK: {}\n{}", e.stdout, e.stderr));
    w.rt.del(&mh, &eth1)
        .unwrap_or_else(|e| panic!("DEL: {}\n{}", e.stdout, e.stderr));
    let table = w.host.ns.ok(&["nft", "list", "table", "bridge", "hostnet"]);
    assert!(table.contains(&format!("\"{veth0}\" . {ip0}")), "{table}");
    assert!(
        !table.contains(&ip1),
        "{ip1} left after DEL of eth1:\n{table}"
    );
    assert!(
        !table.contains(&veth1),
        "{veth1} left after its DEL:\n{table}"
    );
    w.host.assert_check_clean("check");
    w.rt.del(&bridge, &eth0)
        .unwrap_or_else(|e| panic!("DEL: {}\n{}", e.stdout, e.stderr));
    let table = w.host.ns.ok(&["nft", "list", "table", "bridge", "hostnet"]);
    assert!(!table.contains("veth"), "{table}");
}

/// The same when the second ADD runs while the first is still making its
/// links (held at its first setns, into the container netns, by strace):
/// the first ADD left the host lock with its addresses recorded, so the
/// second, which takes the lock meanwhile, gives both veths both addresses.
#[test]
fn a_sibling_added_while_the_first_add_makes_its_links_owns_both_addresses() {
    let w = World::new("exms");
    w.host.hostnet_ok(&["init"]);
    w.host.hostnet_ok(&["network", "create", "ms"]);
    let (bridge, ms) = (written_conflist(&w, "bridge"), written_conflist(&w, "ms"));
    let c = NetNs::new("ms");
    let eth0 = Attachment::new("slow", &c);
    let mut eth1 = Attachment::new("slow", &c);
    eth1.ifname = "eth1".into();

    // eth0's ADD under strace, 2 s at its first setns (after phase 1)
    let conf = cni::Runtime::plugin_conf(&bridge, &bridge["plugins"][0], Some(&eth0), None);
    let mut cmd = std::process::Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &w.rt.host,
        "strace",
        "-f",
        "-qq",
        "-o",
        "/dev/null",
    ])
    .args(["-e", "inject=setns:delay_enter=2000000:when=1"])
    .arg(w.rt.find("hostnet"));
    plugin_env(
        &mut cmd,
        &[
            ("CNI_COMMAND", "ADD".to_string()),
            ("CNI_PATH", w.rt.cni_path.clone()),
            ("CNI_CONTAINERID", eth0.container_id.clone()),
            ("CNI_NETNS", eth0.netns.clone()),
            ("CNI_IFNAME", eth0.ifname.clone()),
        ],
    );
    let mut slow = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("strace");
    {
        use std::io::Write;
        let mut input = slow.stdin.take().expect("stdin");
        input
            .write_all(conf.to_string().as_bytes())
            .expect("config");
    }
    // its record of intent is there: it holds the host lock or has left it
    let t = std::time::Instant::now();
    while w.records("bridge").is_empty() {
        assert!(t.elapsed().as_secs() < 10, "eth0's ADD wrote no record");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // waits for the lock, then runs while eth0 is held after phase 1
    let r1 = add(&w, &ms, &eth1);
    let out = slow.wait_with_output().expect("eth0's ADD");
    assert!(
        out.status.success(),
        "eth0's ADD: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r0: Value = serde_json::from_slice(&out.stdout).expect("eth0's result");
    let (ip0, ip1) = (result_ip(&r0, true), result_ip(&r1, true));
    let veth = |r: &Value| {
        r["interfaces"][1]["name"]
            .as_str()
            .expect("veth")
            .to_string()
    };
    let (veth0, veth1) = (veth(&r0), veth(&r1));
    assert_both_veths_own_both(&w, [&veth0, &veth1], [&ip0, &ip1]);
    w.host.assert_check_clean("check");
}
