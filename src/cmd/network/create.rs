//! `hostnet network create`: validate, pick a free subnet when none is
//! given, then init's planner makes it true (bridge, table, conflist, state)
//! with rollback.

use std::net::Ipv4Addr;

use ipnetwork::{IpNetwork, Ipv4Network};

use crate::cli::{Global, NetworkCreateArgs};
use crate::core::lock::HostLock;
use crate::core::network::{self, GatewayMode, Isolation, overlaps};
use crate::core::plan;
use crate::core::state::Store;
use crate::error::{Error, Result};
use crate::kernel::link::Netlink;

pub fn create(g: &Global, a: &NetworkCreateArgs) -> Result<()> {
    network::validate_nerdctl_name(&a.name)?;
    if super::RESERVED.contains(&a.name.as_str()) {
        return Err(Error::invalid(format!(
            "network name {} is reserved (host, none and bridge are nerdctl's)",
            a.name
        )));
    }
    let labels = network::parse_labels(&a.label)?;
    let gateway_mode = GatewayMode::parse(&a.gateway_mode)?;
    let isolation = Isolation::parse(&a.isolation)?;
    if a.subnet.is_empty() && !a.gateway.is_empty() {
        return Err(Error::invalid("--gateway needs --subnet"));
    }
    let store = super::super::store(g);
    let _lock = HostLock::acquire(&g.run_dir)?;
    if store.network(&a.name)?.is_some() {
        return Err(Error::conflict(format!(
            "network {} already exists",
            a.name
        )));
    }
    let nl = Netlink::open()?;
    let id = network::id_for(&a.name)?;
    let bridge = format!("br-{}", &id[..12]);
    if nl.link(&bridge)?.is_some() {
        return Err(Error::conflict(format!(
            "bridge {bridge} exists and is not hostnet's"
        )));
    }
    let subnets = if a.subnet.is_empty() {
        vec![free_subnet(&store, &nl)?.to_string()]
    } else {
        a.subnet.clone()
    };
    let mut net = network::build(&a.name, &bridge, &subnets, &a.gateway, a.mtu, id)?;
    if let Some(r) = &a.ip_range {
        network::set_ip_range(&mut net.subnets, r)?;
    }
    net.labels = labels;
    net.internal = a.internal;
    net.gateway_mode = gateway_mode;
    net.isolation = isolation;
    let actions = crate::core::host::plan(Some(&g.cni_conf_dir), &store, &nl, &net, false)?;
    plan::execute(&nl, &actions, |_| {})?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({ "id": net.id, "name": net.name, "bridge": net.bridge })
        );
    } else {
        println!("{}", net.id);
    }
    Ok(())
}

/// The first /24 from 10.4.1.0 upward that overlaps no managed network, no
/// route and no address of the host.
fn free_subnet(store: &Store, nl: &Netlink) -> Result<Ipv4Network> {
    let mut taken: Vec<IpNetwork> = Vec::new();
    for r in store.networks()? {
        taken.extend(r.network.subnets.iter().map(|s| s.subnet));
    }
    for r in nl.routes()? {
        if r.destination.prefix() > 0 {
            taken.push(r.destination);
        }
    }
    for l in nl.links()? {
        taken.extend(nl.addresses(l.index)?);
    }
    let first = u32::from(Ipv4Addr::new(10, 4, 1, 0));
    let last = u32::from(Ipv4Addr::new(10, 255, 255, 0));
    let mut at = first;
    while at <= last {
        let candidate = Ipv4Network::new(Ipv4Addr::from(at), 24)
            .map_err(|e| Error::invalid(format!("subnet: {e}")))?;
        let c = IpNetwork::V4(candidate);
        if !taken.iter().any(|t| overlaps(*t, c)) {
            return Ok(candidate);
        }
        at += 256;
    }
    Err(Error::conflict(
        "no free /24 between 10.4.1.0 and 10.255.255.0; give --subnet",
    ))
}
