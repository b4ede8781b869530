//! `hostnet network create|ls|inspect|rm|prune` and containers on several
//! networks: the real binary in namespaces, golden outputs, packets.

#[path = "common/cni.rs"]
mod cni;
mod common;

use cni::{Attachment, OUTSIDE, World, ping, result_ip};
use common::{Host, NetNs, assert_same, stderr, stdout};
use serde_json::{Value, json};

const BRIDGE_ID: &str = "17f29b073143d8cd97b5bbe492bdeffec1c5fee55cc1fe2112c8b9335f8b6121";

/// Replace each network's ID (full and 12-hex short form) by <ID:name> and the
/// temp dir by <DIR>, so golden texts hold across runs.
fn normalize(host: &Host, text: &str) -> String {
    let mut t = text.replace(host.dirs.str(), "<DIR>");
    let ls = host.hostnet_ok(&["network", "ls", "--format", "json"]);
    for line in ls.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let (name, short) = (v["Name"].as_str().unwrap(), v["ID"].as_str().unwrap());
        if short.is_empty() || name == "bridge" {
            continue;
        }
        let full = inspect(host, name, "native")[0]["NerdctlID"]
            .as_str()
            .unwrap()
            .to_string();
        t = t.replace(&full, &format!("<ID:{name}>"));
        t = t.replace(short, &format!("<ID12:{name}>"));
    }
    t
}

fn inspect(host: &Host, name: &str, mode: &str) -> Value {
    serde_json::from_str(&host.hostnet_ok(&["network", "inspect", "--mode", mode, name])).unwrap()
}

#[test]
fn create_ls_inspect_rm_prune() {
    let h = Host::new("netcli");
    h.hostnet_ok(&["init"]);
    let id_a = h
        .hostnet_ok(&["network", "create", "neta"])
        .trim()
        .to_string();
    assert_eq!(id_a.len(), 64, "{id_a}");
    assert!(id_a.chars().all(|c| c.is_ascii_hexdigit()), "{id_a}");
    h.hostnet_ok(&[
        "network",
        "create",
        "netb",
        "--subnet",
        "10.9.0.0/24",
        "--gateway",
        "10.9.0.254",
        "--ip-range",
        "10.9.0.128/25",
        "--label",
        "team=x",
        "--label",
        "tier=db",
    ]);
    let ls = h.hostnet_ok(&["network", "ls"]);
    assert_eq!(
        normalize(&h, &ls),
        "NETWORK ID      NAME      FILE
17f29b073143    bridge    <DIR>/net.d/nerdctl-bridge.conflist
<ID12:neta>    neta      <DIR>/net.d/nerdctl-neta.conflist
<ID12:netb>    netb      <DIR>/net.d/nerdctl-netb.conflist
                host
                none
"
    );
    let q = h.hostnet_ok(&["network", "ls", "-q"]);
    assert_eq!(
        q,
        format!(
            "{}\n{}\n{}\n",
            &BRIDGE_ID[..12],
            &id_a[..12],
            q.lines().nth(2).unwrap()
        )
    );

    // the auto subnet is the first free /24 from 10.4.1.0, on br-<12 hex>
    let a = inspect(&h, "neta", "dockercompat");
    assert_eq!(a[0]["IPAM"]["Config"][0]["Subnet"], "10.4.1.0/24");
    let br_a = format!("br-{}", &id_a[..12]);
    assert!(
        h.ns.ok(&["ip", "-o", "addr", "show", "dev", &br_a])
            .contains("10.4.1.1/24")
    );

    let compat = h.hostnet_ok(&["network", "inspect", "bridge"]);
    assert_eq!(
        compat,
        format!(
            r#"[
    {{
        "Name": "bridge",
        "Id": "{BRIDGE_ID}",
        "IPAM": {{
            "Config": [
                {{
                    "Subnet": "10.4.0.0/24",
                    "Gateway": "10.4.0.1"
                }}
            ]
        }},
        "Labels": {{
            "nerdctl/default-network": "true"
        }},
        "Containers": {{}}
    }}
]
"#
        )
    );
    let native = h.hostnet_ok(&["network", "inspect", "--mode", "native", "bridge"]);
    assert_eq!(
        normalize(&h, &native),
        format!(
            r#"[
    {{
        "CNI": {{
            "cniVersion": "1.0.0",
            "name": "bridge",
            "nerdctlID": "{BRIDGE_ID}",
            "nerdctlLabels": {{
                "nerdctl/default-network": "true"
            }},
            "plugins": [
                {{
                    "bridge": "nerdctl0",
                    "capabilities": {{
                        "portMappings": true
                    }},
                    "hairpinMode": true,
                    "ipMasq": true,
                    "ipam": {{
                        "ranges": [
                            [
                                {{
                                    "gateway": "10.4.0.1",
                                    "subnet": "10.4.0.0/24"
                                }}
                            ]
                        ],
                        "routes": [
                            {{
                                "dst": "0.0.0.0/0"
                            }}
                        ],
                        "type": "host-local"
                    }},
                    "isGateway": true,
                    "type": "hostnet"
                }}
            ]
        }},
        "NerdctlID": "{BRIDGE_ID}",
        "NerdctlLabels": {{
            "nerdctl/default-network": "true"
        }},
        "File": "<DIR>/net.d/nerdctl-bridge.conflist"
    }}
]
"#
        )
    );
    let b = h.hostnet_ok(&["network", "inspect", "netb"]);
    assert_eq!(
        normalize(&h, &b),
        r#"[
    {
        "Name": "netb",
        "Id": "<ID:netb>",
        "IPAM": {
            "Config": [
                {
                    "Subnet": "10.9.0.0/24",
                    "Gateway": "10.9.0.254",
                    "IPRange": "10.9.0.128/25"
                }
            ]
        },
        "Labels": {
            "team": "x",
            "tier": "db"
        },
        "Containers": {}
    }
]
"#
    );
    // the conflist carries the ID, the labels and the range
    let nb = inspect(&h, "netb", "native");
    let conf: Value = serde_json::from_str(
        &std::fs::read_to_string(h.conf_dir().join("nerdctl-netb.conflist")).unwrap(),
    )
    .unwrap();
    assert_eq!(conf, nb[0]["CNI"]);
    assert_eq!(conf["nerdctlLabels"], json!({"team": "x", "tier": "db"}));
    let r = &conf["plugins"][0]["ipam"]["ranges"][0][0];
    assert_eq!(
        (r["rangeStart"].as_str(), r["rangeEnd"].as_str()),
        (Some("10.9.0.128"), Some("10.9.0.254"))
    );
    // by ID prefix too
    assert_eq!(inspect(&h, &id_a[..8], "dockercompat")[0]["Name"], "neta");
    h.hostnet_ok(&["check"]);

    // rm: bridge, elements, conflist and state go; the default network stays
    let out = h.hostnet(&["network", "rm", "bridge"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("default network"), "{}", stderr(&out));
    assert_eq!(h.hostnet_ok(&["network", "rm", "neta"]), "neta\n");
    assert!(h.ns.run(&["ip", "link", "show", &br_a]).status.code() != Some(0));
    assert!(!h.conf_dir().join("nerdctl-neta.conflist").exists());
    assert!(!h.state_dir().join("networks/neta.json").exists());
    let set =
        h.ns.ok(&["nft", "list", "set", "inet", "hostnet", "subnets4"]);
    assert!(
        !set.contains("10.4.1.0/24") && set.contains("10.9.0.0/24"),
        "{set}"
    );
    h.hostnet_ok(&["check"]);
    assert_eq!(
        h.hostnet_ok(&["network", "prune"]),
        "Deleted Networks:\nnetb\n"
    );
    assert_eq!(
        normalize(&h, &h.hostnet_ok(&["network", "ls"])),
        "NETWORK ID      NAME      FILE
17f29b073143    bridge    <DIR>/net.d/nerdctl-bridge.conflist
                host
                none
"
    );
    assert_eq!(
        h.ns.ok(&["nft", "list", "set", "inet", "hostnet", "bridges"])
            .matches("br-")
            .count(),
        0
    );
    h.hostnet_ok(&["check"]);
}

#[test]
fn bad_input_changes_nothing() {
    let h = Host::new("netbad");
    h.hostnet_ok(&["init"]);
    h.hostnet_ok(&["network", "create", "neta", "--subnet", "10.9.0.0/24"]);
    // a bridge that exists and is not hostnet's: a dummy on 10.20.0.0/24
    h.ns.ok(&["ip", "link", "add", "foreign0", "type", "bridge"]);
    h.ns.ok(&["ip", "addr", "add", "10.20.0.1/24", "dev", "foreign0"]);
    h.ns.ok(&["ip", "link", "set", "foreign0", "up"]);
    let before = h.snapshot();
    let cases: &[&[&str]] = &[
        &["create", "--", "-bad"],
        &["create", "_bad"],
        &["create", "a/b"],
        &["create", &"x".repeat(65)],
        &["create", "host"],
        &["create", "none"],
        &["create", "bridge"],
        &["create", "n1", "--subnet", "10.9.0.128/25"],
        &["create", "n1", "--subnet", "10.20.0.0/16"],
        &["create", "n1", "--subnet", "10.30.0.0/31"],
        &[
            "create",
            "n1",
            "--subnet",
            "10.30.0.0/24",
            "--gateway",
            "10.31.0.1",
        ],
        &[
            "create",
            "n1",
            "--subnet",
            "10.30.0.0/24",
            "--ip-range",
            "10.31.0.0/25",
        ],
        &["create", "n1", "--subnet", "fd00:30::/121"],
        &["create", "n1", "--label", "novalue"],
        &["create", "n1", "--label", "=v"],
        &["create", "n1", "--gateway-mode", "bogus"],
        &["create", "n1", "--isolation", "bogus"],
        &["create", "neta"],
        &["inspect", "nosuch"],
        &["rm", "bridge"],
    ];
    for case in cases {
        let mut args = vec!["network"];
        args.extend_from_slice(case);
        let out = h.hostnet(&args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} succeeded");
        let code = out.status.code();
        // a conflict with existing state (the name exists, a subnet overlaps
        // another network's, no such network): 3
        let want =
            if case.get(1) == Some(&"neta") || case[0] == "inspect" || err.contains("overlaps") {
                3
            } else {
                2
            };
        assert_eq!(code, Some(want), "{args:?}: exit {code:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
        assert_same(
            &before,
            &h.snapshot(),
            &format!("{args:?} changed something"),
        );
    }
    h.ns.ok(&["ip", "link", "del", "foreign0"]);
}

/// A conflist written by hostnet, as a runtime would load it from the conf
/// dir, pointed at this test's state/run/IPAM directories.
fn load_conflist(w: &World, name: &str) -> Value {
    let path = w.host.conf_dir().join(format!("nerdctl-{name}.conflist"));
    let mut list: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    w.dirs_keys(&mut list["plugins"][0]);
    list
}

fn default_routes(c: &NetNs) -> String {
    c.ok(&["ip", "-4", "route", "show", "default"])
}

#[test]
fn container_on_two_networks() {
    let w = World::new("net2");
    let h = &w.host;
    h.hostnet_ok(&["init"]);
    h.hostnet_ok(&["network", "create", "neta"]);
    let bridge = load_conflist(&w, "bridge");
    let neta = load_conflist(&w, "neta");
    let c = NetNs::new("net2c");
    let eth0 = Attachment::new("ctr1", &c);
    let mut eth1 = Attachment::new("ctr1", &c).port_mappings(json!([
        {"hostPort": 9090, "containerPort": 9090, "protocol": "tcp"}
    ]));
    eth1.ifname = "eth1".into();
    let r0 = w.rt.add(&bridge, &eth0).unwrap_or_else(|e| panic!("{e:?}"));
    let r1 = w.rt.add(&neta, &eth1).unwrap_or_else(|e| panic!("{e:?}"));
    let (ip0, ip1) = (result_ip(&r0, true), result_ip(&r1, true));
    assert!(
        ip0.starts_with("10.4.0.") && ip1.starts_with("10.4.1."),
        "{ip0} {ip1}"
    );
    // one default route per network, appended rather than refused
    let routes = default_routes(&c);
    assert!(routes.contains("via 10.4.0.1 dev eth0"), "{routes}");
    assert!(routes.contains("via 10.4.1.1 dev eth1"), "{routes}");
    for gw in ["10.4.0.1", "10.4.1.1", OUTSIDE] {
        assert!(ping(&c, gw), "container cannot reach {gw}\n{routes}");
    }
    // the mapping of eth1's attachment points at eth1's address
    let map =
        h.ns.ok(&["nft", "list", "map", "inet", "hostnet", "hostports4_any"]);
    assert!(
        map.contains(&format!("tcp . 9090 comment \"ctr1\" : {ip1} . 9090")),
        "{map}"
    );
    let _srv = common::echo_peer_server(&c, "tcp", 9090);
    assert!(common::ask(&w.outside, "tcp", cni::HOST_OUT, 9090).is_some());
    // inspect lists the attachment with its addresses and MAC
    let a = inspect(h, "neta", "dockercompat");
    let ep = &a[0]["Containers"]["ctr1"];
    assert_eq!(ep["IPv4Address"], format!("{ip1}/24"), "{a}");
    assert_eq!(ep["MacAddress"], r1["interfaces"][2]["mac"], "{a}");

    // rm and init changes are refused while attached, naming the container
    let out = h.hostnet(&["network", "rm", "neta"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("container ctr1 (eth1)"),
        "{}",
        stderr(&out)
    );
    let out = h.hostnet(&[
        "init",
        "--name",
        "neta",
        "--subnet",
        "10.9.9.0/24",
        "--force-address",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("container ctr1 (eth1)") && err.contains("10.4.1.0/24"),
        "{err}"
    );
    let out = h.hostnet(&["init", "--name", "neta", "--bridge", "other9"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already exists on bridge br-"),
        "{}",
        stderr(&out)
    );
    h.hostnet_ok(&["check"]);

    // DEL of eth1 leaves eth0 working
    w.rt.del(&neta, &eth1).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(c.run(&["ip", "link", "show", "eth1"]).status.code() != Some(0));
    let routes = default_routes(&c);
    assert_eq!(
        routes.trim(),
        "default via 10.4.0.1 dev eth0 proto static",
        "{routes}"
    );
    assert!(ping(&c, "10.4.0.1") && ping(&c, OUTSIDE));
    assert!(
        !h.ns
            .ok(&["nft", "list", "map", "inet", "hostnet", "hostports4_any"])
            .contains("9090")
    );
    // and now the network can go
    assert_eq!(h.hostnet_ok(&["network", "rm", "neta"]), "neta\n");
    assert!(ping(&c, OUTSIDE));
    h.hostnet_ok(&["check"]);
    w.rt.del(&bridge, &eth0).unwrap_or_else(|e| panic!("{e:?}"));
}

#[test]
fn check_reports_conflist_drift_and_init_rewrites() {
    let h = Host::new("netdrift");
    h.hostnet_ok(&["init"]);
    let path = h.conf_dir().join("nerdctl-bridge.conflist");
    let good = std::fs::read_to_string(&path).unwrap();
    let drift = |what: &str| {
        let out = h.hostnet(&["check"]);
        assert!(
            !out.status.success(),
            "check passed with a conflist that {what}"
        );
        let text = stdout(&out);
        assert!(
            text.contains(&format!("network bridge: conflist {}", path.display()))
                && text.contains(what),
            "{text}"
        );
        h.hostnet_ok(&["init"]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), good);
        h.hostnet_ok(&["check"]);
    };
    std::fs::remove_file(&path).unwrap();
    drift("is missing");
    std::fs::write(&path, "garbage{").unwrap();
    drift("is not valid JSON");
    std::fs::write(&path, good.replace("10.4.0.0/24", "10.4.9.0/24")).unwrap();
    drift("differs from hostnet's state");
}

#[test]
fn cni_same_port_range_is_one_interval_element() {
    let w = World::new("netrange");
    w.host.hostnet_ok(&["init"]);
    let list = load_conflist(&w, "bridge");
    let c = NetNs::new("netrangec");
    let maps: Vec<Value> = (8000..=8099)
        .map(|p| json!({"HostPort": p, "ContainerPort": p, "Protocol": "tcp"}))
        .chain([json!({"HostPort": 9443, "ContainerPort": 443, "Protocol": "tcp"})])
        .collect();
    let att = Attachment::new("rng1", &c).port_mappings(Value::Array(maps));
    let r = w.rt.add(&list, &att).unwrap_or_else(|e| panic!("{e:?}"));
    let ip = result_ip(&r, true);
    let ranges = w
        .host
        .ns
        .ok(&["nft", "list", "map", "inet", "hostnet", "hostranges4"]);
    assert_eq!(ranges.matches("8000-8099").count(), 1, "{ranges}");
    assert!(ranges.contains(&format!(": {ip}")), "{ranges}");
    let single = w
        .host
        .ns
        .ok(&["nft", "list", "map", "inet", "hostnet", "hostports4_any"]);
    assert!(!single.contains("8050"), "{single}");
    assert!(
        single.contains(&format!("tcp . 9443 comment \"rng1\" : {ip} . 443")),
        "{single}"
    );
    let _srv = common::echo_peer_server(&c, "tcp", 8050);
    assert!(common::ask(&w.outside, "tcp", cni::HOST_OUT, 8050).is_some());
    w.rt.check(&list, &att).unwrap_or_else(|e| panic!("{e:?}"));
    w.host.hostnet_ok(&["check"]);
    w.rt.del(&list, &att).unwrap_or_else(|e| panic!("{e:?}"));
    let ranges = w
        .host
        .ns
        .ok(&["nft", "list", "map", "inet", "hostnet", "hostranges4"]);
    assert!(!ranges.contains("8000"), "{ranges}");
    assert!(
        !w.host
            .ns
            .ok(&["nft", "list", "map", "inet", "hostnet", "hostports4_any"])
            .contains("9443")
    );
    w.host.hostnet_ok(&["check"]);
}

/// ADD `id` on `list` in a fresh namespace; returns the namespace and its IPv4 address.
fn attach(w: &World, list: &Value, id: &str) -> (NetNs, Attachment, String) {
    let c = NetNs::new(&format!("{id}c"));
    let att = Attachment::new(id, &c);
    let r = w.rt.add(list, &att).unwrap_or_else(|e| panic!("{e:?}"));
    let ip = result_ip(&r, true);
    (c, att, ip)
}

#[test]
fn isolation_between_networks_and_on_one_bridge() {
    let w = World::new("netiso");
    let h = &w.host;
    h.hostnet_ok(&["init"]);
    h.hostnet_ok(&["network", "create", "neta", "--subnet", "10.20.0.0/24"]);
    h.hostnet_ok(&["network", "create", "netb", "--subnet", "10.21.0.0/24"]);
    h.hostnet_ok(&[
        "network",
        "create",
        "netiso",
        "--subnet",
        "10.22.0.0/24",
        "--isolation",
        "isolated",
    ]);
    let (a, b, iso) = (
        load_conflist(&w, "neta"),
        load_conflist(&w, "netb"),
        load_conflist(&w, "netiso"),
    );
    assert_eq!(iso["plugins"][0]["portIsolation"], true, "{iso}");
    let (a1, _, ip_a1) = attach(&w, &a, "a1");
    let (a2, _, ip_a2) = attach(&w, &a, "a2");
    let (b1, _, ip_b1) = attach(&w, &b, "b1");
    let (i1, _, ip_i1) = attach(&w, &iso, "i1");
    let (i2, att_i2, ip_i2) = attach(&w, &iso, "i2");
    // same-bridge (the default): neighbours on one network talk
    assert!(ping(&a1, &ip_a2) && ping(&a2, &ip_a1));
    // networks are apart both ways, while each reaches its gateway and the outside
    assert!(!ping(&a1, &ip_b1), "neta reached netb");
    assert!(!ping(&b1, &ip_a1), "netb reached neta");
    assert!(!ping(&i1, &ip_a1) && !ping(&a1, &ip_i1));
    for (c, gw) in [(&a1, "10.20.0.1"), (&b1, "10.21.0.1"), (&i1, "10.22.0.1")] {
        assert!(ping(c, gw), "{} cannot reach {gw}", c.name);
        assert!(ping(c, OUTSIDE), "{} cannot reach the outside", c.name);
    }
    // isolated: neighbours on one bridge do not talk; the gateway and outside stay
    assert!(!ping(&i1, &ip_i2), "isolated neighbours talked");
    assert!(!ping(&i2, &ip_i1), "isolated neighbours talked");
    assert!(ping(&i2, "10.22.0.1") && ping(&i2, OUTSIDE));
    let veth = w.rt.cached(&iso, &att_i2).unwrap()["interfaces"][1]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let port = h.ns.ok(&["ip", "-d", "link", "show", &veth]);
    assert!(port.contains("isolated on"), "{port}");
    assert_eq!(
        inspect(h, "netiso", "native")[0]["CNI"],
        iso_without_dirs(&iso)
    );
    h.hostnet_ok(&["check"]);
}

/// The conflist as hostnet wrote it (the test's directory keys removed).
fn iso_without_dirs(list: &Value) -> Value {
    let mut l = list.clone();
    let p = l["plugins"][0].as_object_mut().unwrap();
    p.remove("stateDir");
    p.remove("runDir");
    p["ipam"].as_object_mut().unwrap().remove("dataDir");
    l
}

#[test]
fn internal_network_stays_on_its_bridge() {
    let w = World::new("netint");
    let h = &w.host;
    h.hostnet_ok(&["init"]);
    h.hostnet_ok(&[
        "network",
        "create",
        "netint",
        "--internal",
        "--subnet",
        "10.23.0.0/24",
    ]);
    let int = load_conflist(&w, "netint");
    assert_eq!(int["plugins"][0]["ipam"]["routes"], json!([]), "{int}");
    assert!(int["plugins"][0].get("capabilities").is_none(), "{int}");
    let (i1, _, _) = attach(&w, &int, "in1");
    let (_i2, _, ip_i2) = attach(&w, &int, "in2");
    let (b1, _, _) = attach(&w, &load_conflist(&w, "bridge"), "out1");
    assert_eq!(default_routes(&i1).trim(), "");
    assert!(ping(&i1, "10.23.0.1") && ping(&i1, &ip_i2));
    // the legitimate path next to the attack: a container on the default
    // network reaches the outside; one on the internal network that adds its
    // own default route does not
    assert!(ping(&b1, OUTSIDE));
    i1.ok(&["ip", "route", "add", "default", "via", "10.23.0.1"]);
    assert!(
        !ping(&i1, OUTSIDE),
        "an internal container reached the outside"
    );
    let set =
        h.ns.ok(&["nft", "list", "set", "inet", "hostnet", "internal4"]);
    assert!(set.contains("10.23.0.0/24"), "{set}");
    // port mappings are refused (code 7), even from a runtime that sends them
    let mut with_caps = int.clone();
    with_caps["plugins"][0]["capabilities"] = json!({"portMappings": true});
    let c = NetNs::new("netintp");
    let att = Attachment::new("in3", &c).port_mappings(json!([
        {"hostPort": 9191, "containerPort": 80, "protocol": "tcp"}
    ]));
    let err = w.rt.add(&with_caps, &att).unwrap_err();
    assert_eq!(err.code(), 7, "{}", err.stdout);
    assert!(err.msg().contains("internal"), "{}", err.msg());
    h.hostnet_ok(&["check"]);
}

#[test]
fn networks_made_by_cni_add_get_ids_and_labels() {
    let w = World::new("netcniid");
    let c1 = NetNs::new("netcniid1");
    let c2 = NetNs::new("netcniid2");
    let other = World::conflist(
        "cninet",
        "1.0.0",
        vec![w.plugin("hostnet", "cnibr0", &["10.31.0.0/24"])],
    );
    let default = World::conflist(
        "bridge",
        "1.0.0",
        vec![w.plugin("hostnet", "nerdctl0", &["10.4.0.0/24"])],
    );
    w.rt.add(&other, &Attachment::new("k1", &c1))
        .unwrap_or_else(|e| panic!("{e:?}"));
    w.rt.add(&default, &Attachment::new("k2", &c2))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let h = &w.host;
    let n = inspect(h, "cninet", "native");
    let id = n[0]["NerdctlID"].as_str().unwrap().to_string();
    assert!(
        id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{n}"
    );
    let b = inspect(h, "bridge", "dockercompat");
    assert_eq!(b[0]["Id"], BRIDGE_ID);
    assert_eq!(b[0]["Labels"], json!({"nerdctl/default-network": "true"}));
    assert!(
        b[0]["Containers"]["k2"]["IPv4Address"]
            .as_str()
            .unwrap()
            .starts_with("10.4.0.")
    );
    // a later init keeps the ID and writes it into the conflist
    h.hostnet_ok(&["init", "--name", "cninet"]);
    let conf: Value = serde_json::from_str(
        &std::fs::read_to_string(h.conf_dir().join("nerdctl-cninet.conflist")).unwrap(),
    )
    .unwrap();
    assert_eq!(conf["nerdctlID"], id.as_str());
    assert_eq!(inspect(h, "cninet", "native")[0]["NerdctlID"], id.as_str());
}
