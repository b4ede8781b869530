//! CNI plugin mode as a drop-in `bridge`: hostnet (installed as `bridge`)
//! ahead of the reference portmap, firewall and tuning plugins from
//! /usr/lib/cni, driven like libcni does. Port mappings are portmap's here;
//! hostnet does the bridge, addresses, masquerade and the record.

#[path = "common/cni.rs"]
mod cni;
mod common;

use cni::{Attachment, World, result_ip};
use common::NetNs;
use serde_json::json;

const NET: &str = "hnd";
const BRIDGE: &str = "cni-hn0";
const GW: &str = "10.89.0.1";

fn dropin(version: &str) {
    let w = World::new("drop");
    let bridge = w.plugin("bridge", BRIDGE, &["10.89.0.0/24"]);
    let list = World::conflist(
        NET,
        version,
        vec![
            bridge,
            json!({"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}),
            json!({"type": "firewall"}),
            json!({"type": "tuning", "sysctl": {"net.core.somaxconn": "777"}}),
        ],
    );
    let c1 = NetNs::new("d1");
    let c2 = NetNs::new("d2");
    let a1 = Attachment::new("drop-one", &c1).port_mappings(json!([
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}
    ]));
    let a2 = Attachment::new("drop-two", &c2);
    let r1 =
        w.rt.add(&list, &a1)
            .unwrap_or_else(|e| panic!("ADD c1 ({}): {}\n{}", e.plugin, e.stdout, e.stderr));
    let r2 =
        w.rt.add(&list, &a2)
            .unwrap_or_else(|e| panic!("ADD c2 ({}): {}\n{}", e.plugin, e.stdout, e.stderr));
    // the chain's final result still has the bridge first, the container third
    assert_eq!(r1["cniVersion"], version, "{r1}");
    assert_eq!(r1["interfaces"][0]["name"], BRIDGE, "{r1}");
    assert_eq!(
        r1["interfaces"][2]["sandbox"],
        c1.path().to_str().unwrap(),
        "{r1}"
    );
    assert_eq!(r1["ips"][0]["interface"], 2, "{r1}");
    let ip1 = result_ip(&r1, true);
    let ip2 = result_ip(&r2, true);

    // tuning ran inside the container
    assert_eq!(c1.sysctl("net.core.somaxconn"), "777");
    // portmap mapped through iptables, not through hostnet's maps
    assert!(
        !w.port_elements().contains("comment"),
        "no hostnet elements in drop-in mode"
    );

    let (_srv, _from_out) = cni::assert_attached_pair(&w, &c1, &c2, GW, &ip1, &ip2);

    // CHECK hostnet's part (portmap 1.1.1's own CHECK looks for an IPv6
    // chain it never created when there is no IPv6 address: its bug)
    w.rt.check_one(&list, 0, &a1)
        .unwrap_or_else(|e| panic!("CHECK ({}): {}\n{}", e.plugin, e.stdout, e.stderr));

    for a in [&a1, &a2] {
        w.rt.del(&list, a)
            .unwrap_or_else(|e| panic!("DEL ({}): {}\n{}", e.plugin, e.stdout, e.stderr));
    }
    w.assert_nothing_attached(NET);
    let nat = w.host.ns.ok(&["iptables-save", "-t", "nat"]);
    assert!(!nat.contains(&ip1), "portmap left a rule for {ip1}:\n{nat}");
    // DEL again: idempotent through the whole chain
    w.rt.del(&list, &a1)
        .unwrap_or_else(|e| panic!("second DEL ({}): {}", e.plugin, e.stdout));
}

#[test]
fn dropin_bridge_chain_0_4_0() {
    dropin("0.4.0");
}

#[test]
fn dropin_bridge_chain_1_0_0() {
    dropin("1.0.0");
}
