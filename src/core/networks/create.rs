//! A new network: refused when its name or bridge is taken, given a free
//! subnet when none is asked for, then made true by init's planner (bridge,
//! table, conflist, state) with rollback.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use ipnetwork::{IpNetwork, Ipv4Network};

use crate::core::lock::HostLock;
use crate::core::network::{self, GatewayMode, Isolation, Network, overlaps};
use crate::core::plan;
use crate::core::state::Store;
use crate::error::{Error, Result};
use crate::kernel::link::Netlink;

/// What `network create` asks for, validated by the front end.
pub struct NewNetwork<'a> {
    pub name: &'a str,
    /// Empty: the first free /24 (`free_subnet`).
    pub subnets: &'a [String],
    pub gateways: &'a [String],
    pub mtu: Option<u32>,
    pub ip_range: Option<&'a str>,
    pub labels: BTreeMap<String, String>,
    pub internal: bool,
    pub gateway_mode: GatewayMode,
    pub isolation: Isolation,
}

/// Create the network under the host lock; its conflist goes to `conf_dir`.
pub fn create(store: &Store, conf_dir: &Path, a: NewNetwork) -> Result<Network> {
    let _lock = HostLock::acquire(&store.run)?;
    if store.network(a.name)?.is_some() {
        return Err(Error::conflict(format!(
            "network {} already exists",
            a.name
        )));
    }
    let nl = Netlink::open()?;
    let id = network::id_for(a.name)?;
    let bridge = format!("br-{}", &id[..12]);
    if nl.link(&bridge)?.is_some() {
        return Err(Error::conflict(format!(
            "bridge {bridge} exists and is not hostnet's"
        )));
    }
    let subnets = if a.subnets.is_empty() {
        vec![free_subnet(store, &nl)?.to_string()]
    } else {
        a.subnets.to_vec()
    };
    let mut net = network::build(a.name, &bridge, &subnets, a.gateways, a.mtu, id)?;
    if let Some(r) = a.ip_range {
        network::set_ip_range(&mut net.subnets, r)?;
    }
    net.labels = a.labels;
    net.internal = a.internal;
    net.gateway_mode = a.gateway_mode;
    net.isolation = a.isolation;
    let actions = crate::core::host::plan(Some(conf_dir), store, &nl, &net, false)?;
    plan::execute(&nl, &actions, |_| {})?;
    Ok(net)
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
    taken.extend(nl.all_addresses()?);
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
