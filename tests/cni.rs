//! CNI plugin mode, integrated: a conflist with the one `hostnet` plugin gives
//! containers what bridge + host-local + portmap + firewall + tuning give,
//! for each spec version with the interface result shape.

#[path = "common/cni.rs"]
mod cni;
mod common;

use cni::{Attachment, HOST_OUT, OUTSIDE, World, result_ip};
use common::{NetNs, ask};
use serde_json::{Value, json};

const NET: &str = "hnt";
const BRIDGE: &str = "hnbr0";
const GW: &str = "10.88.0.1";

fn check_result_shape(version: &str, r: &Value, netns: &NetNs) {
    assert_eq!(r["cniVersion"], version, "{r}");
    assert_eq!(r["interfaces"][0]["name"], BRIDGE, "{r}");
    assert!(r["interfaces"][0]["mac"].is_string(), "{r}");
    assert!(
        r["interfaces"][1]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("veth") && n.len() == 12),
        "{r}"
    );
    assert_eq!(r["interfaces"][2]["name"], "eth0", "{r}");
    assert_eq!(
        r["interfaces"][2]["sandbox"],
        netns.path().to_str().unwrap(),
        "{r}"
    );
    let ip = &r["ips"][0];
    assert_eq!(ip["interface"], 2, "{r}");
    assert_eq!(ip["gateway"], GW, "{r}");
    assert!(
        ip["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("10.88.0.") && a.ends_with("/24")),
        "{r}"
    );
    let has_version = ip.get("version").is_some();
    assert_eq!(
        has_version,
        version.starts_with("0."),
        "ips[].version presence for {version}: {r}"
    );
    if has_version {
        assert_eq!(ip["version"], "4");
    }
    assert_eq!(
        r["interfaces"][2].get("mtu").is_some(),
        version == "1.1.0",
        "interfaces[].mtu only in 1.1.0: {r}"
    );
    assert_eq!(r["routes"][0]["dst"], "0.0.0.0/0", "{r}");
}

fn integrated(version: &str) {
    let w = World::new("cni");
    let mut plugin = w.plugin("hostnet", BRIDGE, &["10.88.0.0/24"]);
    plugin["ipam"]["ranges"][0][0]["gateway"] = json!(GW);
    let list = World::conflist(NET, version, vec![plugin]);
    let c1 = NetNs::new("c1");
    let c2 = NetNs::new("c2");
    let a1 = Attachment::new("ctr-one", &c1).port_mappings(json!([
        {"HostPort": 8080, "ContainerPort": 80, "Protocol": "tcp", "HostIP": ""},
        {"hostPort": 5353, "containerPort": 53, "protocol": "udp"},
        {"hostPort": 9999, "containerPort": 9999, "protocol": "sctp"},
    ]));
    let a2 = Attachment::new("ctr-two", &c2)
        .port_mappings(json!([{"hostPort": 8081, "containerPort": 80}]));
    let r1 =
        w.rt.add(&list, &a1)
            .unwrap_or_else(|e| panic!("ADD c1: {}\n{}", e.stdout, e.stderr));
    let r2 =
        w.rt.add(&list, &a2)
            .unwrap_or_else(|e| panic!("ADD c2: {}\n{}", e.stdout, e.stderr));
    check_result_shape(version, &r1, &c1);
    check_result_shape(version, &r2, &c2);
    let ip1 = result_ip(&r1, true);
    let ip2 = result_ip(&r2, true);
    assert_ne!(ip1, ip2);

    // the kernel agrees with the result
    let addr = c1.ok(&["ip", "-4", "addr", "show", "eth0"]);
    assert!(addr.contains(&format!("inet {ip1}/24")), "{addr}");
    assert!(
        c1.ok(&["ip", "route"])
            .contains(&format!("default via {GW} dev eth0"))
    );
    let veth = r1["interfaces"][1]["name"].as_str().unwrap();
    let link = w.host.ns.ok(&["ip", "-d", "link", "show", veth]);
    assert!(
        link.contains(&format!("master {BRIDGE}"))
            && link.contains("hairpin on")
            && link.contains("state UP"),
        "{link}"
    );
    // a bridge port carries no address: not even an IPv6 link-local one
    // (the container's end keeps its own)
    assert!(link.contains("addrgenmode none"), "{link}");
    let host_v6 = w.host.ns.ok(&["ip", "-6", "addr", "show", "dev", veth]);
    assert!(!host_v6.contains("inet6"), "{host_v6}");
    let inside_v6 = c1.ok(&["ip", "-6", "addr", "show", "dev", "eth0"]);
    assert!(inside_v6.contains("inet6 fe80::"), "{inside_v6}");

    // layer 3, masquerade and the mapped port from everywhere
    let (_srv, from_out) = cni::assert_attached_pair(&w, &c1, &c2, GW, &ip1, &ip2);
    common::udp_echo_peer_server(&c1, 53);
    assert!(
        from_out.starts_with(OUTSIDE),
        "container saw {from_out}: outside clients are not masqueraded"
    );
    assert!(
        ask(&c1, "tcp", GW, 8080).is_some(),
        "c1 -> its own mapped port (hairpin)"
    );
    assert!(
        ask(&c2, "tcp", HOST_OUT, 8080).is_some(),
        "c2 -> host outside address:8080"
    );
    // UDP through the mapping (conntrack is printed if it fails)
    if ask(&w.outside, "udp", HOST_OUT, 5353).is_none() {
        let ct = w.host.ns.run(&["cat", "/proc/net/nf_conntrack"]);
        let stats = c1.ok(&["ip", "-s", "link", "show", "eth0"]);
        let ss = c1.ok(&["ss", "-uanp"]);
        panic!(
            "udp outside -> host:5353 failed\nconntrack:\n{}\nc1 eth0:\n{stats}\n{ss}",
            common::stdout(&ct)
        );
    }
    assert!(
        ask(&w.outside, "tcp", HOST_OUT, 8081).is_none(),
        "8081 goes to c2, where nothing listens"
    );

    // SCTP (no SCTP in this kernel): the element is there
    let table = w.host.ns.ok(&["nft", "list", "table", "inet", "hostnet"]);
    assert!(
        table.contains(&format!("sctp . 9999 comment \"ctr-one\" : {ip1} . 9999")),
        "{table}"
    );
    assert!(
        table.contains(&format!("tcp . 8080 comment \"ctr-one\" : {ip1} . 80")),
        "{table}"
    );
    assert!(
        table.contains(&format!("tcp . 8081 comment \"ctr-two\" : {ip2} . 80")),
        "{table}"
    );

    if version != "0.3.1" {
        w.rt.check(&list, &a1)
            .unwrap_or_else(|e| panic!("CHECK: {}", e.stdout));
    }
    // the host side is what `hostnet init` makes: check is clean with attachments
    w.host.assert_check_clean("after the ADDs");

    w.rt.del(&list, &a1)
        .unwrap_or_else(|e| panic!("DEL c1: {}", e.stdout));
    assert!(
        ask(&w.outside, "tcp", HOST_OUT, 8080).is_none(),
        "mapping gone after DEL"
    );
    w.rt.del(&list, &a2)
        .unwrap_or_else(|e| panic!("DEL c2: {}", e.stdout));
    w.assert_nothing_attached(NET);
    assert_eq!(
        c1.ok(&["ip", "-o", "link"]).lines().count(),
        1,
        "only lo left in c1"
    );
}

#[test]
fn integrated_0_3_1() {
    integrated("0.3.1");
}

#[test]
fn integrated_0_4_0() {
    integrated("0.4.0");
}

#[test]
fn integrated_1_0_0() {
    integrated("1.0.0");
}

#[test]
fn integrated_1_1_0() {
    integrated("1.1.0");
}
