//! `hostnet portmap`: packets through the map-based DNAT, from outside, from
//! the host itself, from other containers and from the owner (hairpin).

mod common;

use common::*;

/// A host with the default network, an "outside" namespace on 198.51.100.0/24
/// (the host is .1 and .3, outside is .2) and one container at 10.4.0.2.
struct World {
    host: Host,
    outside: NetNs,
    ctr: NetNs,
}

fn world(tag: &str) -> World {
    let host = Host::new(tag);
    host.hostnet_ok(&["init"]);
    let outside = outside_of(&host.ns);
    host.ns
        .ok(&["ip", "addr", "add", "198.51.100.3/24", "dev", "up0"]);
    let ctr = manual_container(
        &host.ns,
        "nerdctl0",
        "vethc0000010",
        "10.4.0.2/24",
        "10.4.0.1",
    );
    host.ns.ok(&[
        "ip",
        "link",
        "set",
        "vethc0000010",
        "type",
        "bridge_slave",
        "hairpin",
        "on",
    ]);
    World { host, outside, ctr }
}

/// A listener that answers every connection with `tag` (which port answered).
fn tagged_server(ns: &NetNs, proto: &str, port: u16, tag: &str) -> common::Server {
    let listen = match proto {
        "udp" => format!("UDP-RECVFROM:{port},reuseaddr,fork"),
        _ => format!("TCP-LISTEN:{port},reuseaddr,fork"),
    };
    let child = ns
        .command(&["socat", &listen, &format!("SYSTEM:echo {tag}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn socat");
    wait_listening(ns, proto, port);
    common::Server(child)
}

#[test]
fn tcp_and_udp_reach_the_container_from_outside() {
    let w = world("pm-out");
    let _t = echo_peer_server(&w.ctr, "tcp", 80);
    udp_echo_peer_server(&w.ctr, 53);
    assert_eq!(
        ask(&w.outside, "tcp", "198.51.100.1", 8080),
        None,
        "nothing mapped yet"
    );

    w.host
        .hostnet_ok(&["portmap", "add", "8080", "10.4.0.2:80"]);
    w.host
        .hostnet_ok(&["portmap", "add", "--proto", "udp", "5353", "10.4.0.2:53"]);
    w.host
        .hostnet_ok(&["portmap", "add", "--proto", "sctp", "9999", "10.4.0.2:9999"]);
    assert_eq!(
        ask(&w.outside, "tcp", "198.51.100.1", 8080).as_deref(),
        Some("198.51.100.2"),
        "tcp keeps the client's address"
    );
    assert_eq!(
        ask(&w.outside, "udp", "198.51.100.1", 5353).as_deref(),
        Some("198.51.100.2"),
        "udp"
    );
    // SCTP is not in this kernel; its element is checked in the map
    let map = w
        .host
        .ns
        .ok(&["nft", "list", "map", "inet", "hostnet", "hostports4_any"]);
    assert!(
        map.contains("sctp . 9999 comment \"static\" : 10.4.0.2 . 9999"),
        "{map}"
    );

    let ls = w.host.hostnet_ok(&["portmap", "ls"]);
    assert!(
        ls.contains("0.0.0.0")
            && ls.contains("8080")
            && ls.contains("10.4.0.2:80")
            && ls.contains("static"),
        "{ls}"
    );
    let j: serde_json::Value =
        serde_json::from_str(&w.host.hostnet_ok(&["--json", "portmap", "ls"])).unwrap();
    assert_eq!(j.as_array().unwrap().len(), 3);

    w.host.hostnet_ok(&["portmap", "del", "8080"]);
    assert_eq!(
        ask(&w.outside, "tcp", "198.51.100.1", 8080),
        None,
        "del stops it answering"
    );
    assert!(w.host.hostnet(&["check"]).status.success());
}

#[test]
fn localhost_bridge_ip_other_container_and_hairpin() {
    let w = world("pm-loc");
    let _s = tagged_server(&w.ctr, "tcp", 80, "ctr-a");
    w.host
        .hostnet_ok(&["portmap", "add", "8080", "10.4.0.2:80"]);
    let other = manual_container(
        &w.host.ns,
        "nerdctl0",
        "vethc0000011",
        "10.4.0.3/24",
        "10.4.0.1",
    );

    assert_eq!(
        ask(&w.host.ns, "tcp", "127.0.0.1", 8080).as_deref(),
        Some("ctr-a"),
        "host via 127.0.0.1"
    );
    assert_eq!(
        ask(&w.host.ns, "tcp", "10.4.0.1", 8080).as_deref(),
        Some("ctr-a"),
        "host via the bridge address"
    );
    assert_eq!(
        ask(&w.host.ns, "tcp", "198.51.100.1", 8080).as_deref(),
        Some("ctr-a"),
        "host via its outside address"
    );
    assert_eq!(
        ask(&other, "tcp", "10.4.0.1", 8080).as_deref(),
        Some("ctr-a"),
        "another container via the gateway"
    );
    assert_eq!(
        ask(&other, "tcp", "198.51.100.1", 8080).as_deref(),
        Some("ctr-a"),
        "another container via a host address"
    );
    assert_eq!(
        ask(&w.ctr, "tcp", "10.4.0.1", 8080).as_deref(),
        Some("ctr-a"),
        "the owner itself (hairpin)"
    );
}

#[test]
fn range_maps_port_for_port() {
    let w = world("pm-rng");
    let _a = tagged_server(&w.ctr, "tcp", 80, "p80");
    let _b = tagged_server(&w.ctr, "tcp", 81, "p81");
    let _c = tagged_server(&w.ctr, "tcp", 82, "p82");
    w.host
        .hostnet_ok(&["portmap", "add", "8000-8002", "10.4.0.2:80-82"]);
    for (port, tag) in [(8000, "p80"), (8001, "p81"), (8002, "p82")] {
        assert_eq!(
            ask(&w.outside, "tcp", "198.51.100.1", port).as_deref(),
            Some(tag),
            "host port {port}"
        );
    }
    let ls = w.host.hostnet_ok(&["portmap", "ls"]);
    assert!(
        ls.contains("8000-8002") && ls.contains("10.4.0.2:80-82"),
        "ls shows the range as one row: {ls}"
    );
    w.host.hostnet_ok(&["portmap", "del", "8000-8002"]);
    assert_eq!(ask(&w.outside, "tcp", "198.51.100.1", 8001), None);
}

#[test]
fn host_ip_bound_mapping_answers_only_there() {
    let w = world("pm-hip");
    let _s = tagged_server(&w.ctr, "tcp", 80, "bound");
    w.host.hostnet_ok(&[
        "portmap",
        "add",
        "--host-ip",
        "198.51.100.3",
        "8081",
        "10.4.0.2:80",
    ]);
    assert_eq!(
        ask(&w.outside, "tcp", "198.51.100.3", 8081).as_deref(),
        Some("bound")
    );
    assert_eq!(
        ask(&w.outside, "tcp", "198.51.100.1", 8081),
        None,
        "not on the other address"
    );
    // the same port on "any" clashes with the bound one, naming the owner
    let before = w.host.snapshot();
    let out = w.host.hostnet(&["portmap", "add", "8081", "10.4.0.2:81"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already mapped") && stderr(&out).contains("static"),
        "{}",
        stderr(&out)
    );
    assert_same(&before, &w.host.snapshot(), "changed");
    w.host
        .hostnet_ok(&["portmap", "del", "--host-ip", "198.51.100.3", "8081"]);
}

#[test]
fn clash_changes_nothing() {
    let w = world("pm-cl");
    w.host
        .hostnet_ok(&["portmap", "add", "8080", "10.4.0.2:80"]);
    let before = w.host.snapshot();
    for args in [
        &["portmap", "add", "8080", "10.4.0.3:80"][..],
        &[
            "portmap",
            "add",
            "--host-ip",
            "198.51.100.1",
            "8080",
            "10.4.0.3:80",
        ][..],
        &["portmap", "add", "8079-8081", "10.4.0.3:79-81"][..],
    ] {
        let out = w.host.hostnet(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("8080 is already mapped to 10.4.0.2:80 by a static mapping"),
            "{}",
            stderr(&out)
        );
        assert_same(
            &before,
            &w.host.snapshot(),
            &format!("{args:?} changed something"),
        );
    }
    // the same port on another protocol is a different key
    w.host
        .hostnet_ok(&["portmap", "add", "--proto", "udp", "8080", "10.4.0.3:80"]);
}

/// A `portmap del` that fails after its kernel element is gone (strace
/// makes the first unlink, the claim file's, fail with EIO) puts the
/// element and the claim back: the same state as before, the mapping still
/// answers from outside and `ls` still lists it; the retry then removes it.
#[test]
fn failed_del_puts_the_mapping_back() {
    let w = world("pm-undo");
    let _t = echo_peer_server(&w.ctr, "tcp", 80);
    w.host
        .hostnet_ok(&["portmap", "add", "8080", "10.4.0.2:80"]);
    let before = w.host.snapshot();

    let del = w.host.command(&["portmap", "del", "8080"]);
    let mut injected = std::process::Command::new("strace");
    injected
        .args([
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "inject=unlink,unlinkat:error=EIO:when=1",
        ])
        .arg(del.get_program())
        .args(del.get_args());
    let out = run(&mut injected);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ports/tcp-8080.json: Input/output error"),
        "the failure is the claim file's removal, after the element's: {}",
        stderr(&out)
    );
    assert_same(
        &before,
        &w.host.snapshot(),
        "a failed del changed something",
    );
    assert_eq!(
        ask(&w.outside, "tcp", "198.51.100.1", 8080).as_deref(),
        Some("198.51.100.2"),
        "the mapping answers after the failed del"
    );
    assert!(
        w.host
            .hostnet_ok(&["portmap", "ls"])
            .contains("10.4.0.2:80")
    );

    w.host.hostnet_ok(&["portmap", "del", "8080"]);
    assert_eq!(ask(&w.outside, "tcp", "198.51.100.1", 8080), None);
    assert!(
        !w.host
            .hostnet_ok(&["portmap", "ls"])
            .contains("10.4.0.2:80")
    );
}

#[test]
fn bad_mappings_change_nothing() {
    let w = world("pm-bad");
    let before = w.host.snapshot();
    let cases: &[&[&str]] = &[
        &["portmap", "add", "0", "10.4.0.2:80"],
        &["portmap", "add", "70000", "10.4.0.2:80"],
        &["portmap", "add", "8080", "10.4.0.2:0"],
        &["portmap", "add", "8080", "10.4.0.2:70000"],
        &["portmap", "add", "8090-8080", "10.4.0.2:80-90"],
        &["portmap", "add", "8080-8090", "10.4.0.2:80-85"],
        &["portmap", "add", "8080-8090", "10.4.0.2:80"],
        &["portmap", "add", "--proto", "icmp", "8080", "10.4.0.2:80"],
        &["portmap", "add", "8080", "192.0.2.9:80"],
        &["portmap", "add", "8080", "10.4.0.2"],
        &["portmap", "add", "8080", "banana:80"],
        &[
            "portmap",
            "add",
            "--host-ip",
            "203.0.113.9",
            "8080",
            "10.4.0.2:80",
        ],
        &[
            "portmap",
            "add",
            "--host-ip",
            "fd00::1",
            "8080",
            "10.4.0.2:80",
        ],
        &["portmap", "add", "--host-ip", "x", "8080", "10.4.0.2:80"],
        &["portmap", "del", "abc"],
        // issue 8: loopback other than 127.0.0.1, ::1, link-local v6
        &[
            "portmap",
            "add",
            "--host-ip",
            "127.0.0.2",
            "8080",
            "10.4.0.2:80",
        ],
        &[
            "portmap",
            "add",
            "--host-ip",
            "127.1.2.3",
            "8080",
            "10.4.0.2:80",
        ],
        &[
            "portmap",
            "add",
            "--allow-any-dest",
            "--host-ip",
            "::1",
            "8080",
            "[fd00::2]:80",
        ],
        &[
            "portmap",
            "add",
            "--allow-any-dest",
            "--host-ip",
            "fe80::1",
            "8080",
            "[fd00::2]:80",
        ],
        &[
            "portmap",
            "add",
            "--host-ip",
            "224.0.0.1",
            "8080",
            "10.4.0.2:80",
        ],
    ];
    // the reason, not "not an address of this host" (127.0.0.2 is local, ::1 is on lo)
    for (ip, why) in [
        ("127.0.0.2", "only 127.0.0.1 can be published"),
        ("::1", "IPv6 has no route_localnet"),
        ("fe80::1", "needs an interface (zone)"),
    ] {
        let dest = if ip.contains(':') {
            "[fd00::2]:80"
        } else {
            "10.4.0.2:80"
        };
        let out = w.host.hostnet(&[
            "portmap",
            "add",
            "--allow-any-dest",
            "--host-ip",
            ip,
            "8080",
            dest,
        ]);
        assert!(stderr(&out).contains(why), "{ip}: {}", stderr(&out));
    }
    for args in cases {
        let out = w.host.hostnet(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?} exits 2: {}",
            stderr(&out)
        );
        assert_eq!(
            stderr(&out).trim_end().lines().count(),
            1,
            "{args:?}: {}",
            stderr(&out)
        );
        assert_same(
            &before,
            &w.host.snapshot(),
            &format!("{args:?} changed something"),
        );
    }
    let out = w.host.hostnet(&["portmap", "del", "8080"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "deleting what is not there is an error"
    );
    assert!(
        stderr(&out).contains("no static mapping"),
        "{}",
        stderr(&out)
    );
    // --allow-any-dest lifts the subnet check
    w.host
        .hostnet_ok(&["portmap", "add", "--allow-any-dest", "8080", "192.0.2.9:80"]);
}

#[test]
fn rule_count_does_not_grow_with_mappings() {
    let w = world("pm-flat");
    let terse = || {
        w.host
            .ns
            .ok(&["nft", "-t", "list", "table", "inet", "hostnet"])
    };
    let rules_before = terse();
    for i in 0..50u16 {
        w.host.hostnet_ok(&[
            "portmap",
            "add",
            &(10000 + 2 * i).to_string(),
            "10.4.0.2:80",
        ]);
    }
    w.host
        .hostnet_ok(&["portmap", "add", "20000-20999", "10.4.0.9:1000-1999"]);
    w.host.hostnet_ok(&[
        "portmap",
        "add",
        "--proto",
        "udp",
        "30000-30999",
        "10.4.0.9:30000-30999",
    ]);
    let listing = w.host.ns.ok(&["nft", "list", "table", "inet", "hostnet"]);
    assert!(listing.contains("tcp . 20999"), "the elements are there");
    assert_eq!(
        terse(),
        rules_before,
        "chains and rules are the same with 2050 mappings as with none"
    );
    let j: serde_json::Value =
        serde_json::from_str(&w.host.hostnet_ok(&["--json", "portmap", "ls"])).unwrap();
    assert_eq!(
        j.as_array().unwrap().len(),
        52,
        "ranges listed as one row each"
    );
}

#[test]
fn boot_unit_restores_everything_after_a_flush() {
    let w = world("pm-boot");
    let _s = tagged_server(&w.ctr, "tcp", 80, "back");
    w.host
        .hostnet_ok(&["portmap", "add", "8080", "10.4.0.2:80"]);
    let good = w.host.snapshot();
    w.host.ns.ok(&["nft", "flush", "ruleset"]);
    assert_eq!(ask(&w.outside, "tcp", "198.51.100.1", 8080), None);
    assert!(!w.host.hostnet(&["check"]).status.success());

    for unit in [
        "systemd/hostnet.service",
        "systemd/hostnet-nftables.service",
    ] {
        let text =
            std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(unit))
                .unwrap();
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .expect("ExecStart line");
        let mut words = exec.split_whitespace();
        assert_eq!(words.next(), Some("/usr/sbin/hostnet"));
        let args: Vec<&str> = words.collect();
        w.host.ns.ok(&["nft", "flush", "ruleset"]);
        w.host.hostnet_ok(&args);
        let check = w.host.hostnet(&["check"]);
        assert!(check.status.success(), "{unit}: {}", stdout(&check));
        assert_same(
            &good,
            &w.host.snapshot(),
            &format!("{unit} restored the same state"),
        );
        assert_eq!(
            ask(&w.outside, "tcp", "198.51.100.1", 8080).as_deref(),
            Some("back")
        );
    }
}

#[test]
fn same_port_range_is_one_interval_element() {
    let w = world("pm-same");
    let _a = tagged_server(&w.ctr, "tcp", 9000, "p9000");
    let _b = tagged_server(&w.ctr, "tcp", 9002, "p9002");
    w.host
        .hostnet_ok(&["portmap", "add", "9000-9002", "10.4.0.2:9000-9002"]);
    let map = w
        .host
        .ns
        .ok(&["nft", "list", "map", "inet", "hostnet", "hostranges4"]);
    assert!(
        map.contains("0.0.0.0/0 . tcp . 9000-9002 comment \"static\" : 10.4.0.2"),
        "one interval element: {map}"
    );
    let any = w
        .host
        .ns
        .ok(&["nft", "list", "map", "inet", "hostnet", "hostports4_any"]);
    assert!(!any.contains("9001"), "no per-port elements: {any}");
    assert_eq!(
        ask(&w.outside, "tcp", "198.51.100.1", 9000).as_deref(),
        Some("p9000")
    );
    assert_eq!(
        ask(&w.outside, "tcp", "198.51.100.1", 9002).as_deref(),
        Some("p9002")
    );
    assert!(w.host.hostnet(&["check"]).status.success());

    // a port inside the range clashes; a piece of the range cannot be removed alone
    let before = w.host.snapshot();
    let out = w.host.hostnet(&["portmap", "add", "9001", "10.4.0.3:80"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = w.host.hostnet(&["portmap", "del", "9001"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("part of the range 9000-9002"),
        "{}",
        stderr(&out)
    );
    assert_same(
        &before,
        &w.host.snapshot(),
        "refused changes changed something",
    );

    // restored by init after a flush, then removed whole
    w.host.ns.ok(&["nft", "flush", "ruleset"]);
    w.host.hostnet_ok(&["init"]);
    assert_same(
        &before,
        &w.host.snapshot(),
        "init restores the range element",
    );
    w.host.hostnet_ok(&["portmap", "del", "9000-9002"]);
    assert_eq!(ask(&w.outside, "tcp", "198.51.100.1", 9002), None);
    let map = w
        .host
        .ns
        .ok(&["nft", "list", "map", "inet", "hostnet", "hostranges4"]);
    assert!(!map.contains("9000"), "{map}");
}

/// After a flushed ruleset (no table: nothing in the kernel to remove),
/// `portmap del` still removes the mapping's claim, as DEL and gc do.
#[test]
fn del_after_a_flushed_ruleset_removes_the_claim() {
    let w = world("pm-flushed");
    w.host
        .hostnet_ok(&["portmap", "add", "8080", "10.4.0.2:80"]);
    w.host.ns.ok(&["nft", "flush", "ruleset"]);
    w.host.hostnet_ok(&["portmap", "del", "8080"]);
    let ls = w.host.hostnet_ok(&["portmap", "ls"]);
    assert!(!ls.contains("8080"), "{ls}");
    assert!(
        !w.host
            .state_dir()
            .join("ports")
            .join("tcp-8080.json")
            .exists(),
        "the claim file is gone"
    );
}
