//! `hostnet init`, `check`, `status`, `teardown` against a real kernel, each
//! test in namespaces of its own.

mod common;

use common::*;

fn init_default(h: &Host) {
    h.hostnet_ok(&["init"]);
}

#[test]
fn init_builds_the_host_side() {
    let h = Host::new("init");
    assert_eq!(
        h.ns.sysctl("net.ipv4.ip_forward"),
        "0",
        "a new namespace starts without forwarding"
    );
    let out = h.hostnet_ok(&["init"]);
    assert!(
        out.contains("create bridge nerdctl0"),
        "init reports what it did: {out}"
    );

    let link = h.ns.ok(&["ip", "-d", "link", "show", "nerdctl0"]);
    assert!(link.contains("bridge "), "nerdctl0 is a bridge: {link}");
    assert!(
        link.contains("state UP") || link.contains(",UP"),
        "nerdctl0 is up: {link}"
    );
    let addr = h.ns.ok(&["ip", "-4", "addr", "show", "nerdctl0"]);
    assert!(addr.contains("inet 10.4.0.1/24"), "gateway address: {addr}");
    assert_eq!(h.ns.sysctl("net.ipv4.ip_forward"), "1");
    assert_eq!(h.ns.sysctl("net.ipv4.conf.nerdctl0.route_localnet"), "1");
    assert_eq!(
        h.ns.sysctl("net.ipv6.conf.all.forwarding"),
        "0",
        "no v6 forwarding for a v4-only network"
    );

    let table = h.ns.ok(&["nft", "list", "table", "inet", "hostnet"]);
    for want in [
        "elements = { \"nerdctl0\" }",
        "elements = { 10.4.0.0/24 }",
        "type nat hook prerouting priority dstnat; policy accept;",
        "ip saddr @subnets4 ip daddr != @subnets4 ip daddr != 224.0.0.0/4 masquerade",
        "iifname @bridges oifname @bridges drop",
    ] {
        assert!(table.contains(want), "table lacks {want:?}:\n{table}");
    }
    // nothing but our two tables
    let tables = h.ns.ok(&["nft", "list", "tables"]);
    assert_eq!(tables.trim(), "table inet hostnet\ntable bridge hostnet");

    let conf: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(h.conf_dir().join("nerdctl-bridge.conflist")).unwrap(),
    )
    .unwrap();
    assert_eq!(conf["name"], "bridge");
    assert_eq!(conf["nerdctlID"].as_str().unwrap().len(), 64);
    assert_eq!(conf["plugins"][0]["type"], "hostnet");
    assert_eq!(conf["plugins"][0]["bridge"], "nerdctl0");
    assert_eq!(
        conf["plugins"][0]["ipam"]["ranges"][0][0]["subnet"],
        "10.4.0.0/24"
    );
    assert_eq!(
        conf["plugins"][0]["ipam"]["ranges"][0][0]["gateway"],
        "10.4.0.1"
    );
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(h.state_dir().join("networks/bridge.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["bridge"], "nerdctl0");
    assert_eq!(state["owns_bridge"], true);

    h.assert_check_clean("check after init");
}

#[test]
fn init_is_idempotent() {
    let h = Host::new("idem");
    init_default(&h);
    let before = h.snapshot();
    let links_before = h.ns.ok(&["ip", "-o", "link"]);
    let out = h.hostnet_ok(&["init"]);
    assert!(
        out.contains("nothing to do"),
        "second init changes nothing: {out}"
    );
    assert_same(&before, &h.snapshot(), "changed");
    assert_eq!(h.ns.ok(&["ip", "-o", "link"]), links_before, "no new links");
    // the network id survives re-runs
    let id1 = std::fs::read_to_string(h.conf_dir().join("nerdctl-bridge.conflist")).unwrap();
    h.hostnet_ok(&["init"]);
    assert_eq!(
        std::fs::read_to_string(h.conf_dir().join("nerdctl-bridge.conflist")).unwrap(),
        id1
    );
}

#[test]
fn init_removes_temp_files_of_dead_writers() {
    // a write killed between its temp file and the rename leaves the temp
    // under <dir>/.tmp; writes do not look there, init (and gc) do
    let h = Host::new("temps");
    init_default(&h);
    let dead_pid = 4194304; // above the kernel's largest pid: nobody
    let live_pid = std::process::id();
    let plant = |dir: std::path::PathBuf, pid: u32| {
        let tmp = dir.join(".tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let p = tmp.join(format!("x.json.{pid}.0011223344556677"));
        std::fs::write(&p, b"{").unwrap();
        p
    };
    let dead = [
        plant(h.state_dir().join("networks"), dead_pid),
        plant(h.state_dir().join("ipam"), dead_pid),
        plant(h.run_dir(), dead_pid),
    ];
    let live = plant(h.run_dir(), live_pid);
    let out = h.hostnet_ok(&["init"]);
    for p in &dead {
        assert!(!p.exists(), "{} is removed", p.display());
        assert!(
            out.contains(&p.display().to_string()),
            "init says it removed {}: {out}",
            p.display()
        );
    }
    assert!(live.exists(), "a live writer's temp file stays");
}

#[test]
fn check_finds_drift_and_init_repairs_it() {
    let h = Host::new("drift");
    init_default(&h);
    let good = h.snapshot();

    h.ns.ok(&["nft", "flush", "ruleset"]);
    let check = h.hostnet(&["check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        stdout(&check).contains("table inet hostnet is missing"),
        "{}",
        stdout(&check)
    );
    h.hostnet_ok(&["init"]);
    assert!(h.hostnet(&["check"]).status.success());
    assert_same(&good, &h.snapshot(), "init restored exactly the same state");

    // a removed rule, a removed element, a downed bridge, forwarding off
    h.ns.ok(&["nft", "flush", "chain", "inet", "hostnet", "forward"]);
    h.ns.nft_element("delete", "subnets4", "{ 10.4.0.0/24 }");
    h.ns.ok(&["ip", "link", "set", "nerdctl0", "down"]);
    h.ns.ok(&["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
    let check = h.hostnet(&["check"]);
    assert_eq!(check.status.code(), Some(1));
    let text = stdout(&check);
    for want in [
        "chain forward: rules differ",
        "set subnets4: element",
        "bridge nerdctl0 is down",
        "net.ipv4.ip_forward is 0",
    ] {
        assert!(text.contains(want), "check names {want:?}: {text}");
    }
    h.hostnet_ok(&["init"]);
    let check = h.hostnet(&["check"]);
    assert!(check.status.success(), "{}", stdout(&check));
    assert_same(&good, &h.snapshot(), "changed");
}

#[test]
fn container_egress_is_masqueraded() {
    let h = Host::new("masq");
    init_default(&h);
    let outside = outside_of(&h.ns);
    let ctr = manual_container(&h.ns, "nerdctl0", "vethc0000001", "10.4.0.2/24", "10.4.0.1");

    ctr.ok(&["ping", "-c1", "-W2", "10.4.0.1"]);
    let _srv = echo_peer_server(&outside, "tcp", 9000);
    let seen = ask(&ctr, "tcp", "198.51.100.2", 9000).expect("container reaches the outside");
    assert_eq!(
        seen.trim(),
        "198.51.100.1",
        "the outside sees the host's address, not the container's"
    );

    // without the table there is no masquerade, and the reply has no way back
    h.ns.ok(&["nft", "delete", "table", "inet", "hostnet"]);
    assert_eq!(
        ask(&ctr, "tcp", "198.51.100.2", 9000),
        None,
        "no masquerade without hostnet's table"
    );
}

/// Each bad input: exit 2, one line on stderr, and no change at all.
#[test]
fn bad_input_changes_nothing() {
    let fresh = Host::new("bad");
    let ready = Host::new("bad2");
    init_default(&ready);
    let cases: &[&[&str]] = &[
        &["init", "--subnet", "10.4.0.0/33"],
        &["init", "--subnet", "banana"],
        &["init", "--subnet", "10.4.0.0"],
        &["init", "--subnet", "10.4.0.7/24"],
        &["init", "--subnet", "10.4.0.0/31"],
        &["init", "--subnet", "10.4.0.0/32"],
        &["init", "--gateway", "10.5.0.1"],
        &["init", "--gateway", "10.4.0.255"],
        &["init", "--gateway", "not-an-ip"],
        &["init", "--bridge", "abcdefghijklmnop"],
        &["init", "--bridge", "br/0"],
        &["init", "--bridge", ""],
        &["init", "--name", "../etc"],
        &["init", "--mtu", "10"],
        &["init", "--subnet", "10.4.0.0/24", "--subnet", "10.5.0.0/24"],
        // reserved ranges (issue 8): loopback, multicast, "this network",
        // link-local, class E; IPv6 multicast, link-local, loopback,
        // unspecified, IPv4-mapped; and a subnet containing loopback
        &["init", "--subnet", "127.0.0.0/24"],
        &["init", "--subnet", "127.5.0.0/16"],
        &["init", "--subnet", "224.0.0.0/24"],
        &["init", "--subnet", "239.1.0.0/16"],
        &["init", "--subnet", "0.0.0.0/24"],
        &["init", "--subnet", "169.254.0.0/24"],
        &["init", "--subnet", "240.0.0.0/24"],
        &["init", "--subnet", "96.0.0.0/3"],
        &["init", "--subnet", "10.4.0.0/24", "--subnet", "ff00::/64"],
        &["init", "--subnet", "10.4.0.0/24", "--subnet", "fe80::/64"],
        &["init", "--subnet", "10.4.0.0/24", "--subnet", "::/64"],
        &[
            "init",
            "--subnet",
            "10.4.0.0/24",
            "--subnet",
            "::ffff:0:0/120",
        ],
        // bridge names a shell would need quoted, or `ip link` refuses
        &["init", "--bridge", "a;b"],
        &["init", "--bridge", "a$b"],
        &["init", "--bridge", "ab@c"],
        &["init", "--bridge", "br\"0"],
        &["init", "--bridge", "br*"],
        &["init", "--bridge", ".."],
        &["init", "--bridge", "."],
        &["init", "--bridge", "brücke"],
    ];
    for h in [&fresh, &ready] {
        let before = h.snapshot();
        for args in cases {
            let out = h.hostnet(args);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{args:?} exits 2; stderr: {}",
                stderr(&out)
            );
            let err = stderr(&out);
            assert_eq!(
                err.trim_end().lines().count(),
                1,
                "{args:?}: one line on stderr: {err}"
            );
            assert!(err.starts_with("hostnet: "), "{args:?}: {err}");
            assert_same(
                &before,
                &h.snapshot(),
                &format!("{args:?} changed something"),
            );
        }
    }
}

#[test]
fn subnet_overlapping_another_interface_is_refused() {
    let h = Host::new("ovl");
    // (this kernel has no dummy driver: a veth pair serves as "another interface")
    h.ns.ok(&[
        "ip", "link", "add", "lan0", "type", "veth", "peer", "name", "lan1",
    ]);
    h.ns.ok(&["ip", "addr", "add", "10.4.0.0/16", "dev", "lan0"]);
    h.ns.ok(&["ip", "link", "set", "lan0", "up"]);
    h.ns.ok(&["ip", "link", "set", "lan1", "up"]);
    let before = h.snapshot();
    let out = h.hostnet(&["init"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("overlaps the route 10.4.0.0/16 on lan0"),
        "{}",
        stderr(&out)
    );
    assert_same(&before, &h.snapshot(), "changed");
    // a subnet beside it is fine
    h.hostnet_ok(&["init", "--subnet", "10.5.0.0/24"]);
}

#[test]
fn existing_links_are_respected() {
    // a non-bridge link with the bridge's name
    let h = Host::new("nonbr");
    h.ns.ok(&[
        "ip", "link", "add", "nerdctl0", "type", "veth", "peer", "name", "peer0",
    ]);
    let before = h.snapshot();
    let out = h.hostnet(&["init"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("not a bridge"), "{}", stderr(&out));
    assert_same(&before, &h.snapshot(), "changed");

    // a bridge with another address: refused, then replaced with --force-address
    let h = Host::new("addr");
    h.ns.ok(&["ip", "link", "add", "nerdctl0", "type", "bridge"]);
    h.ns.ok(&["ip", "addr", "add", "10.4.0.9/24", "dev", "nerdctl0"]);
    let before = h.snapshot();
    let out = h.hostnet(&["init"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("--force-address"), "{}", stderr(&out));
    assert_same(&before, &h.snapshot(), "changed");
    h.hostnet_ok(&["init", "--force-address"]);
    let addr = h.ns.ok(&["ip", "-4", "addr", "show", "nerdctl0"]);
    assert!(
        addr.contains("10.4.0.1/24") && !addr.contains("10.4.0.9"),
        "{addr}"
    );
    // an adopted bridge survives teardown; hostnet's address does not
    h.hostnet_ok(&["teardown"]);
    let addr = h.ns.ok(&["ip", "-4", "addr", "show", "nerdctl0"]);
    assert!(
        !addr.contains("10.4.0.1"),
        "hostnet's address removed: {addr}"
    );
}

#[test]
fn failure_half_way_rolls_back() {
    // the conflist directory cannot be created: the last step fails
    let blocked_host = |tag: &str| {
        let h = Host::new(tag);
        std::fs::write(h.dirs.join("not-a-dir"), "x").unwrap();
        h
    };
    let init_blocked = |h: &Host, extra: &[&str]| {
        let blocker = h.dirs.join("not-a-dir");
        run(std::process::Command::new(hostnet_bin())
            .arg("--netns")
            .arg(h.ns.path())
            .arg("--state-dir")
            .arg(h.state_dir())
            .arg("--run-dir")
            .arg(h.run_dir())
            .arg("--cni-conf-dir")
            .arg(blocker.join("net.d"))
            .arg("init")
            .args(extra))
    };

    // a fresh host: the bridge it created goes again
    let h = blocked_host("rollb");
    let before = h.snapshot();
    let out = init_blocked(&h, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("net.d"),
        "the error names the path: {}",
        stderr(&out)
    );
    assert_same(
        &before,
        &h.snapshot(),
        "bridge, table, sysctls and state rolled back",
    );
    assert!(!h.ns.ok(&["ip", "-o", "link"]).contains("nerdctl0"));

    // an adopted bridge, down, MTU 1500: it stays, and gets back its MTU,
    // its down state and no address
    let h = blocked_host("rollb2");
    h.ns.ok(&["ip", "link", "add", "nerdctl0", "type", "bridge"]);
    let before = h.snapshot();
    let out = init_blocked(&h, &["--mtu", "1400"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_same(&before, &h.snapshot(), "adopted bridge put back as it was");
    let link = h.ns.ok(&["ip", "link", "show", "nerdctl0"]);
    assert!(
        link.contains("mtu 1500") && link.contains("state DOWN"),
        "{link}"
    );
}

#[test]
fn dry_run_prints_and_changes_nothing() {
    let h = Host::new("dry");
    let before = h.snapshot();
    let out = h.hostnet_ok(&["init", "--dry-run"]);
    assert!(out.contains("would create bridge nerdctl0"), "{out}");
    assert!(out.contains("would sysctl net.ipv4.ip_forward=1"), "{out}");
    assert!(
        out.contains("table inet hostnet {"),
        "prints the ruleset: {out}"
    );
    assert!(
        out.contains("add element inet hostnet subnets4"),
        "prints the elements: {out}"
    );
    assert_same(&before, &h.snapshot(), "changed");
    init_default(&h);
    let before = h.snapshot();
    let out = h.hostnet_ok(&["teardown", "--dry-run"]);
    assert!(
        out.contains("would delete nftables table inet hostnet"),
        "{out}"
    );
    assert_same(&before, &h.snapshot(), "changed");
}

#[test]
fn status_shows_bridge_routes_and_forwarding() {
    let h = Host::new("stat");
    init_default(&h);
    let _ctr = manual_container(&h.ns, "nerdctl0", "vethc0000002", "10.4.0.3/24", "10.4.0.1");
    let out = h.hostnet_ok(&["status"]);
    let mac = h.ns.ok(&["cat", "/sys/class/net/nerdctl0/address"]);
    let id = format!("8000.{}", mac.trim().replace(':', ""));
    assert!(out.contains(&id), "bridge id {id} in {out}");
    assert!(
        out.contains("vethc0000002"),
        "attached interface listed: {out}"
    );
    assert!(
        out.contains("10.4.0.0") && out.contains("255.255.255.0"),
        "route -n view: {out}"
    );
    assert!(out.contains("net.ipv4.ip_forward = 1"), "{out}");
    assert!(
        out.contains("nftables table inet hostnet: present"),
        "{out}"
    );
    let j: serde_json::Value = serde_json::from_str(&h.hostnet_ok(&["--json", "status"])).unwrap();
    assert_eq!(j["bridges"][0]["bridge"], "nerdctl0");
    assert_eq!(j["bridges"][0]["interfaces"][0], "vethc0000002");
    assert_eq!(j["table"], true);
    assert_eq!(j["ip_forward"], 1, "sysctls as numbers");
}

#[test]
fn teardown_removes_exactly_what_hostnet_made() {
    let h = Host::new("tear");
    h.ns.ok(&["nft", "add", "table", "inet", "other"]);
    std::fs::create_dir_all(h.conf_dir()).unwrap();
    std::fs::write(h.conf_dir().join("99-other.conflist"), "{}").unwrap();
    init_default(&h);
    h.hostnet_ok(&[
        "init",
        "--name",
        "second",
        "--bridge",
        "br-0123456789ab",
        "--subnet",
        "10.4.1.0/24",
    ]);
    let table =
        h.ns.ok(&["nft", "list", "set", "inet", "hostnet", "bridges"]);
    assert!(
        table.contains("\"br-0123456789ab\"") && table.contains("\"nerdctl0\""),
        "{table}"
    );

    h.hostnet_ok(&["teardown"]);
    assert_eq!(
        h.ns.ok(&["nft", "list", "tables"]).trim(),
        "table inet other"
    );
    let links = h.ns.ok(&["ip", "-o", "link"]);
    assert!(
        !links.contains("nerdctl0") && !links.contains("br-0123456789ab"),
        "{links}"
    );
    assert!(
        h.conf_dir().join("99-other.conflist").exists(),
        "another conflist is left alone"
    );
    assert!(!h.conf_dir().join("nerdctl-bridge.conflist").exists());
    assert!(!h.conf_dir().join("nerdctl-second.conflist").exists());
    assert!(!h.state_dir().join("networks/bridge.json").exists());
    assert_eq!(
        h.ns.sysctl("net.ipv4.ip_forward"),
        "1",
        "forwarding kept by default"
    );

    init_default(&h);
    h.hostnet_ok(&["teardown", "--restore-sysctl"]);
    assert_eq!(
        h.ns.sysctl("net.ipv4.ip_forward"),
        "0",
        "forwarding restored to what init found"
    );
}

#[test]
fn networks_cannot_overlap_or_share_a_bridge() {
    let h = Host::new("multi");
    init_default(&h);
    let before = h.snapshot();
    for args in [
        &[
            "init",
            "--name",
            "b",
            "--bridge",
            "br-b",
            "--subnet",
            "10.4.0.128/25",
        ][..],
        &[
            "init",
            "--name",
            "b",
            "--bridge",
            "nerdctl0",
            "--subnet",
            "10.4.9.0/24",
        ][..],
    ] {
        let out = h.hostnet(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        assert_same(&before, &h.snapshot(), "changed");
    }
}

#[test]
fn dual_stack_network() {
    let h = Host::new("v6");
    h.hostnet_ok(&["init", "--subnet", "10.4.0.0/24", "--subnet", "fd00:4::/64"]);
    assert_eq!(h.ns.sysctl("net.ipv6.conf.all.forwarding"), "1");
    let addr = h.ns.ok(&["ip", "-6", "addr", "show", "nerdctl0"]);
    assert!(addr.contains("fd00:4::1/64"), "{addr}");
    let set =
        h.ns.ok(&["nft", "list", "set", "inet", "hostnet", "subnets6"]);
    assert!(set.contains("fd00:4::/64"), "{set}");
    assert!(h.hostnet(&["check"]).status.success());
}

/// Containers on one bridge reach each other even where br_netfilter sends
/// bridged traffic through the inet forward hook (iifname = oifname = the
/// bridge); containers on two different managed bridges do not.
#[test]
fn same_bridge_talks_other_bridge_is_isolated() {
    let h = Host::new("iso");
    init_default(&h);
    h.hostnet_ok(&[
        "init",
        "--name",
        "other",
        "--bridge",
        "br-0000000000aa",
        "--subnet",
        "10.4.1.0/24",
    ]);
    let br_nf =
        h.ns.run(&["sysctl", "-n", "net.bridge.bridge-nf-call-iptables"]);
    eprintln!("bridge-nf-call-iptables here: {}", stdout(&br_nf).trim());
    let a = manual_container(&h.ns, "nerdctl0", "vethc0000020", "10.4.0.2/24", "10.4.0.1");
    let b = manual_container(&h.ns, "nerdctl0", "vethc0000021", "10.4.0.3/24", "10.4.0.1");
    let c = manual_container(
        &h.ns,
        "br-0000000000aa",
        "vethc0000022",
        "10.4.1.2/24",
        "10.4.1.1",
    );
    let _srv = echo_peer_server(&b, "tcp", 7000);
    let _srv2 = echo_peer_server(&c, "tcp", 7000);
    a.ok(&["ping", "-c1", "-W2", "10.4.0.3"]);
    assert_eq!(
        ask(&a, "tcp", "10.4.0.3", 7000).as_deref(),
        Some("10.4.0.2"),
        "same bridge, no NAT"
    );
    assert_eq!(
        ask(&a, "tcp", "10.4.1.2", 7000),
        None,
        "another managed bridge is isolated"
    );
    assert!(!a.run(&["ping", "-c1", "-W1", "10.4.1.2"]).status.success());
    // both gateways still answer
    a.ok(&["ping", "-c1", "-W2", "10.4.0.1"]);
    c.ok(&["ping", "-c1", "-W2", "10.4.1.1"]);
}

/// A forward chain with policy drop in ANOTHER table (Docker's
/// `ip filter FORWARD`) drops container traffic that hostnet's table accepts:
/// `check` names that chain and how to fix it (a warning: it is not
/// hostnet's state, so the exit status stays 0).
#[test]
fn check_warns_about_a_foreign_forward_drop() {
    let h = Host::new("fdrop");
    init_default(&h);
    let outside = outside_of(&h.ns);
    let ctr = manual_container(&h.ns, "nerdctl0", "vethc0000030", "10.4.0.2/24", "10.4.0.1");
    let _srv = echo_peer_server(&outside, "tcp", 9000);
    let out = h.hostnet_ok(&["check"]);
    assert!(
        !out.contains("warning"),
        "no warning without a foreign drop: {out}"
    );
    assert!(ask(&ctr, "tcp", "198.51.100.2", 9000).is_some());

    h.ns.sh("printf 'table ip filter {\\n chain FORWARD { type filter hook forward priority 0; policy drop; }\\n}\\n' | nft -f -");
    assert_eq!(
        ask(&ctr, "tcp", "198.51.100.2", 9000),
        None,
        "the foreign drop really drops it"
    );
    let check = h.hostnet(&["check"]);
    assert!(check.status.success(), "not hostnet's state: exit 0");
    let text = stdout(&check);
    assert!(
        text.contains("warning: table ip filter chain FORWARD drops forwarded packets by default"),
        "{text}"
    );
    assert!(text.contains("nerdctl0"), "names the bridge: {text}");
    let j: serde_json::Value = serde_json::from_str(&h.hostnet_ok(&["--json", "check"])).unwrap();
    // (with bridge-nf-call-iptables on in the namespace, a br_netfilter
    // warning about the same chain follows it)
    let warnings = j["warnings"].as_array().unwrap();
    assert_eq!(
        warnings
            .iter()
            .filter(|w| w
                .as_str()
                .unwrap()
                .contains("drops forwarded packets by default"))
            .count(),
        1,
        "{j}"
    );
    assert!(
        warnings.iter().all(|w| {
            let w = w.as_str().unwrap();
            w.contains("drops forwarded packets by default") || w.starts_with("br_netfilter")
        }),
        "{j}"
    );
}
