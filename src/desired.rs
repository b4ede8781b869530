//! The desired kernel state, derived from what is on disk: the nftables
//! elements of every managed network, static port mapping and attachment
//! (its port mappings and its anti-spoofing elements).

use ipnetwork::IpNetwork;

use crate::error::Result;
use crate::kernel::nft::TableSpec;
use crate::network::GatewayMode;
use crate::state::{NetworkRecord, Store};

/// The table's elements for a set of network records plus every persisted
/// port element (static mappings and container attachments).
pub fn table_spec(store: &Store, networks: &[NetworkRecord]) -> Result<TableSpec> {
    let mut spec = TableSpec::default();
    for rec in networks {
        let net = &rec.network;
        if !spec.bridges.contains(&net.bridge) {
            spec.bridges.push(net.bridge.clone());
        }
        if net.gateway_mode == GatewayMode::Routed && !spec.routed.contains(&net.bridge) {
            spec.routed.push(net.bridge.clone());
        }
        for s in &net.subnets {
            match s.subnet {
                IpNetwork::V4(v4) => spec.subnets4.push(v4),
                IpNetwork::V6(v6) => spec.subnets6.push(v6),
            }
            match s.subnet {
                IpNetwork::V4(v4) if net.internal => spec.internal4.push(v4),
                IpNetwork::V6(v6) if net.internal => spec.internal6.push(v6),
                _ => {}
            }
        }
    }
    spec.bridges.sort();
    spec.subnets4.sort();
    spec.subnets6.sort();
    spec.routed.sort();
    spec.internal4.sort();
    spec.internal6.sort();
    spec.ports = crate::ports::persisted_elements(store)?;
    spec.ports.sort();
    // anti-spoofing elements of every attachment on record (the records
    // live in the run dir: none survives the veths it names)
    // (a record of intent, without addresses yet, has no elements)
    let attachments: Vec<_> = crate::cni::record::attachments(store)?
        .into_iter()
        .filter(|a| !a.ips.is_empty())
        .collect();
    spec.guards = attachments
        .iter()
        .map(|a| {
            let siblings: Vec<_> = attachments
                .iter()
                .filter(|s| s.container_id == a.container_id && s.key() != a.key())
                .cloned()
                .collect();
            a.guard(&siblings)
        })
        .collect();
    spec.guards.sort();
    Ok(spec)
}
