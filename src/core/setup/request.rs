//! The networks one run of `init` is about: the one its options describe
//! (validated; an existing network keeps its bridge and, while containers
//! are attached, its subnets), or every recorded network.

use std::path::Path;

use ipnetwork::IpNetwork;

use super::Request;
use crate::core::conflist;
use crate::core::network::{self, GatewayMode, Network};
use crate::core::networks;
use crate::core::state::Store;
use crate::error::{Error, Result};

/// The networks this run of init is about: the one its options describe, or,
/// with no network options and a non-empty state, every recorded network.
/// A network whose state file is gone (or did not parse) but whose conflist
/// hostnet wrote is still there is rebuilt from the conflist.
pub(super) fn requested_networks(
    store: &Store,
    conf_dir: &Path,
    args: &Request,
) -> Result<Vec<Network>> {
    let no_options = args.name.is_none()
        && args.bridge.is_none()
        && args.subnet.is_empty()
        && args.gateway.is_empty()
        && args.mtu.is_none()
        && args.gateway_mode.is_none();
    if no_options {
        let mut recorded: Vec<Network> = store.networks()?.into_iter().map(|r| r.network).collect();
        // networks recorded before they had IDs (a CNI ADD of old) get theirs now
        for n in &mut recorded {
            if n.id.is_empty() {
                n.id = network::id_for(&n.name)?;
                if n.labels.is_empty() {
                    n.labels = network::default_labels(&n.name);
                }
            }
        }
        for net in conflist::networks_in(conf_dir) {
            if !recorded.iter().any(|r| r.name == net.name) {
                eprintln!(
                    "hostnet: network {} has no readable state; rebuilding it from {}",
                    net.name,
                    conflist::path(conf_dir, &net.name).display()
                );
                recorded.push(net);
            }
        }
        if !recorded.is_empty() {
            return Ok(recorded);
        }
    }
    let name = args.name.unwrap_or(network::DEFAULT_NETWORK);
    network::validate_network_name(name)?;
    let mode = match args.gateway_mode {
        Some(m) => Some(GatewayMode::parse(m)?),
        None => None,
    };
    let existing = store.network(name)?;
    // the network id is fixed at creation; re-running keeps it, and so are
    // options not given again
    let id = match &existing {
        Some(rec) if !rec.network.id.is_empty() => rec.network.id.clone(),
        _ => network::id_for(name)?,
    };
    let bridge = match (args.bridge, &existing) {
        (Some(b), _) => b.to_string(),
        (None, Some(rec)) => rec.network.bridge.clone(),
        (None, None) => network::DEFAULT_BRIDGE.to_string(),
    };
    let mut net = network::build(name, &bridge, args.subnet, args.gateway, args.mtu, id)?;
    net.labels = network::default_labels(name);
    let net = match (&existing, args.subnet.is_empty() && args.gateway.is_empty()) {
        // `init --name X` alone re-applies X as recorded
        (Some(rec), true) => Network {
            subnets: rec.network.subnets.clone(),
            mtu: args.mtu.or(rec.network.mtu),
            ..net
        },
        _ => net,
    };
    let net = match &existing {
        Some(rec) => {
            refuse_change(store, &rec.network, &net)?;
            // what init has no options for stays as recorded
            Network {
                labels: if rec.network.labels.is_empty() {
                    net.labels
                } else {
                    rec.network.labels.clone()
                },
                internal: rec.network.internal,
                // kept unless given again
                gateway_mode: mode.unwrap_or(rec.network.gateway_mode),
                isolation: rec.network.isolation,
                ..net
            }
        }
        None => Network {
            gateway_mode: mode.unwrap_or_default(),
            ..net
        },
    };
    Ok(vec![net])
}

/// An existing network keeps its bridge; its subnets and gateways change
/// only while no container is attached.
fn refuse_change(store: &Store, old: &Network, new: &Network) -> Result<()> {
    let attached = networks::attached(store, &old.name)?;
    let users = if attached.is_empty() {
        String::new()
    } else {
        format!("; attached: {}", networks::describe_attached(&attached))
    };
    if old.bridge != new.bridge {
        return Err(Error::conflict(format!(
            "network {} already exists on bridge {}, not {} (to move it: hostnet network rm {} first){users}",
            old.name, old.bridge, new.bridge, old.name
        )));
    }
    let key = |n: &Network| -> Vec<(IpNetwork, std::net::IpAddr)> {
        n.subnets.iter().map(|s| (s.subnet, s.gateway)).collect()
    };
    if key(old) != key(new) && !attached.is_empty() {
        let show = |n: &Network| {
            n.subnets
                .iter()
                .map(|s| format!("{} gateway {}", s.subnet, s.gateway))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(Error::conflict(format!(
            "network {} exists on bridge {} with {}; refusing to change it to {} while containers are attached: {}",
            old.name,
            old.bridge,
            show(old),
            show(new),
            networks::describe_attached(&attached)
        )));
    }
    Ok(())
}
