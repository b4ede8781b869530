//! The core's ADD request, derived from the config, the environment and a
//! delegated IPAM answer: the hostnet Network for `ensure`, the routes with
//! their next hops, the requested addresses per range set.

use std::net::IpAddr;

use ipnetwork::IpNetwork;

use std::fs::File;

use super::config::{IpamKind, NetConf, RouteSpec};
use super::env::Env;
use super::result::Dns;
use crate::core::attach::spec::{Addresses, Container, LinkOptions, Request};
use crate::core::ipam::range::RangeSet;
use crate::core::network::{self, Network};
use crate::core::state::Store;
use crate::error::{Error, Result};

/// What a delegated IPAM plugin answered.
pub struct Delegated {
    pub kind: String,
    pub ips: Vec<(IpNetwork, Option<IpAddr>)>,
    pub routes: Vec<RouteSpec>,
    pub dns: Dns,
}

/// The ADD request for the core, validated whole: names, routes, next hops,
/// requested addresses, the network.
pub fn request(
    env: &Env,
    conf: &NetConf,
    netns_path: &str,
    netns_file: File,
    delegated: Option<Delegated>,
) -> Result<Request> {
    let container = Container {
        id: env.container_id()?.to_string(),
        ifname: env.ifname()?.to_string(),
        netns: netns_path.to_string(),
        netns_file,
    };
    let (addresses, families, route_specs, given_ips) = match (&conf.ipam.kind, delegated) {
        (_, Some(d)) => {
            let families = d.ips.clone();
            let given = d.ips.clone();
            (
                Addresses::Given {
                    by: d.kind,
                    ips: d.ips,
                    dns: d.dns,
                },
                families,
                d.routes,
                given,
            )
        }
        (
            IpamKind::HostLocal {
                range_sets,
                data_dir,
                resolv_conf,
            },
            None,
        ) => {
            let requested = requested_per_set(range_sets, &conf.requested_ips, &env.args.ips)?;
            let families = range_sets
                .iter()
                .map(|s| (s.subnet(), Some(s.gateway())))
                .collect();
            (
                Addresses::HostLocal {
                    range_sets: range_sets.clone(),
                    data_dir: data_dir.clone(),
                    resolv_conf: resolv_conf.clone(),
                    requested,
                },
                families,
                conf.ipam.routes.clone(),
                Vec::new(),
            )
        }
        (IpamKind::Delegated(kind), None) => {
            return Err(Error::internal(format!(
                "IPAM plugin {kind} was not run before the request was built"
            )));
        }
    };
    let routes = routes(conf, &route_specs, &families)?;
    let hops = next_hops(&routes, &families)?;
    Ok(Request {
        store: Store::new(&conf.state_dir, &conf.run_dir),
        network: network(conf, &given_ips)?,
        mode: conf.mode,
        container,
        addresses,
        routes,
        hops,
        ports: conf.port_mappings.clone(),
        link: LinkOptions {
            mtu: conf.mtu,
            mac: conf.mac,
            hairpin: conf.hairpin,
            promisc: conf.promisc_mode,
            isolated: conf.port_isolation,
        },
        tuning: conf.tuning.clone(),
        dns: conf.dns.clone(),
        spec_version: conf.version.to_string(),
    })
}

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
