//! What an attachment is made of, derived from the config (and a delegated
//! IPAM answer): the hostnet Network for `ensure`, the routes with their next
//! hops, the requested addresses per range set.

use std::net::IpAddr;

use ipnetwork::IpNetwork;

use super::config::{IpamKind, NetConf, RouteSpec};
use crate::core::ipam::range::RangeSet;
use crate::core::network::{self, Network};
use crate::error::{Error, Result};

/// The Network hostnet manages for this config: subnets and gateways from
/// the range sets (or from the delegated IPAM's addresses).
pub fn network(conf: &NetConf, delegated_ips: &[(IpNetwork, Option<IpAddr>)]) -> Result<Network> {
    let mut subnets = Vec::new();
    let mut gateways = Vec::new();
    match &conf.ipam.kind {
        IpamKind::HostLocal { range_sets, .. } => {
            for set in range_sets {
                subnets.push(set.subnet().to_string());
                gateways.push(set.gateway().to_string());
            }
        }
        IpamKind::Delegated(kind) => {
            for (addr, gw) in delegated_ips {
                let subnet = IpNetwork::new(addr.network(), addr.prefix())
                    .map_err(|e| Error::invalid(format!("{kind} returned {addr}: {e}")))?;
                if subnets.contains(&subnet.to_string()) {
                    continue;
                }
                subnets.push(subnet.to_string());
                if let Some(g) = gw {
                    gateways.push(g.to_string());
                }
            }
            if subnets.is_empty() {
                return Err(Error::invalid(format!(
                    "IPAM plugin {kind} returned no address"
                )));
            }
        }
    }
    let mut net = network::build(
        &conf.name,
        &conf.bridge,
        &subnets,
        &gateways,
        conf.mtu,
        String::new(),
    )
    .map_err(|e| Error::invalid(e.msg))?;
    if conf.port_isolation {
        net.isolation = network::Isolation::Isolated;
    }
    Ok(net)
}

/// Requested addresses (runtimeConfig/args win over CNI_ARGS IP), one per
/// range set at most, each inside a set.
pub fn requested_per_set(
    sets: &[RangeSet],
    conf_ips: &[IpAddr],
    arg_ips: &[IpAddr],
) -> Result<Vec<Option<IpAddr>>> {
    let ips = if conf_ips.is_empty() {
        arg_ips
    } else {
        conf_ips
    };
    let mut out = vec![None; sets.len()];
    for ip in ips {
        let Some(i) = sets.iter().position(|s| s.range_for(*ip).is_some()) else {
            let all: Vec<String> = sets.iter().map(RangeSet::describe).collect();
            return Err(Error::invalid(format!(
                "requested address {ip} is in no range of this network ({})",
                all.join(", ")
            )));
        };
        if let Some(other) = out[i] {
            return Err(Error::invalid(format!(
                "requested addresses {other} and {ip} are in the same range set"
            )));
        }
        out[i] = Some(*ip);
    }
    Ok(out)
}

/// The container's routes: the configured ones (next hop defaulting to the
/// gateway of the family) plus default routes for isDefaultGateway.
pub fn routes(
    conf: &NetConf,
    routes: &[RouteSpec],
    ips: &[(IpNetwork, Option<IpAddr>)],
) -> Result<Vec<RouteSpec>> {
    let mut out: Vec<RouteSpec> = routes.to_vec();
    if conf.is_default_gateway {
        for (addr, gw) in ips {
            let default = if addr.is_ipv4() { "0.0.0.0/0" } else { "::/0" };
            let dst: IpNetwork = default
                .parse()
                .map_err(|_| Error::invalid("default route"))?;
            if !out.iter().any(|r| r.dst == dst) {
                out.push(RouteSpec { dst, gw: *gw });
            }
        }
    }
    for r in &out {
        if !ips.iter().any(|(a, _)| a.is_ipv4() == r.dst.is_ipv4()) {
            return Err(Error::invalid(format!(
                "route {}: the container gets no address of that family",
                r.dst
            )));
        }
    }
    Ok(out)
}

/// Next hop for each route: its own `gw`, else the gateway of its family.
pub fn next_hops(
    routes: &[RouteSpec],
    ips: &[(IpNetwork, Option<IpAddr>)],
) -> Result<Vec<(IpNetwork, IpAddr)>> {
    routes
        .iter()
        .map(|r| {
            let gw = r.gw.or_else(|| {
                ips.iter()
                    .find(|(a, _)| a.is_ipv4() == r.dst.is_ipv4())
                    .and_then(|(_, g)| *g)
            });
            match gw {
                Some(g) => Ok((r.dst, g)),
                None => Err(Error::invalid(format!(
                    "route {}: no gateway to route it through",
                    r.dst
                ))),
            }
        })
        .collect()
}
