//! `hostnet init`: make the host side of one network true, idempotently.
//!
//! 1. validate the input (no kernel access);
//! 2. read the kernel (links, addresses, routes, the table) and refuse
//!    conflicts before changing anything;
//! 3. plan only the actions that are needed (`core::host::plan`), then
//!    execute them with rollback.

use std::path::Path;

use ipnetwork::IpNetwork;
use serde_json::json;

use crate::cli::{Global, InitArgs};
use crate::core::conflist;
use crate::core::desired;
use crate::core::host::{json_bytes, plan};
use crate::core::lock::HostLock;
use crate::core::network::{self, GatewayMode, Network};
use crate::core::plan::{self, Action};
use crate::core::state::{NetworkRecord, Store};
use crate::error::{Error, Result};
use crate::kernel::link::Netlink;
use crate::kernel::nft;

pub fn run(g: &Global, args: &InitArgs) -> Result<()> {
    let store = super::store(g);
    let networks = requested_networks(&store, &g.cni_conf_dir, args)?;
    let _lock = if args.dry_run {
        None
    } else {
        Some(HostLock::acquire(&g.run_dir)?)
    };
    let nl = Netlink::open()?;
    let mut done = Vec::new();
    if !args.dry_run {
        // attachments whose containers are gone (a reboot, a crash) first,
        // so the table is planned without their elements
        done.extend(crate::core::recover::release_dead(&store, &nl)?);
    }
    let mut planned = Vec::new();
    for net in &networks {
        let actions = plan(Some(&g.cni_conf_dir), &store, &nl, net, args.force_address)?;
        if args.dry_run {
            planned.push((net, actions));
            continue;
        }
        plan::execute(&nl, &actions, |a| done.push(a.to_string()))?;
    }
    // host-wide, after every network: the Docker coexistence rules for all
    // managed bridges, and the setting that turns them on or off
    let host_actions = host_wide_plan(&store, &networks, args)?;
    if args.dry_run {
        if let Some(last) = planned.last_mut() {
            last.1.extend(host_actions);
        }
        return print_dry_run(g, &store, &planned);
    }
    plan::execute(&nl, &host_actions, |a| done.push(a.to_string()))?;
    crate::core::recover::record_boot(&store)?;
    let names: Vec<&str> = networks.iter().map(|n| n.name.as_str()).collect();
    if g.json {
        println!("{}", json!({ "networks": names, "actions": done }));
    } else if done.is_empty() {
        println!("{} in place; nothing to do", describe(&networks));
    } else {
        for line in &done {
            println!("{line}");
        }
    }
    Ok(())
}

/// The settings file, if `--docker-forward` changes it, then the rules in
/// foreign `filter FORWARD` chains that make them hold exactly the accepts
/// for every managed bridge (none when the setting is off).
fn host_wide_plan(store: &Store, networks: &[Network], args: &InitArgs) -> Result<Vec<Action>> {
    let mut actions = Vec::new();
    let before = store.settings()?;
    let mut settings = before.clone();
    if let Some(v) = &args.docker_forward {
        settings.docker_forward = v == "on";
    }
    if settings != before || (args.docker_forward.is_some() && !store.settings_path().exists()) {
        actions.push(Action::WriteFile {
            path: store.settings_path(),
            contents: json_bytes(&settings)?,
            mode: 0o644,
        });
    }
    let mut bridges: Vec<String> = store
        .networks()?
        .into_iter()
        .map(|r| r.network.bridge)
        .chain(networks.iter().map(|n| n.bridge.clone()))
        .collect();
    bridges.sort();
    bridges.dedup();
    if !settings.docker_forward {
        bridges.clear();
    }
    if let Some(action) = Action::forward_accepts(bridges)? {
        actions.push(action);
    }
    Ok(actions)
}

fn describe(networks: &[Network]) -> String {
    let parts: Vec<String> = networks
        .iter()
        .map(|n| format!("network {} on {}", n.name, n.bridge))
        .collect();
    parts.join(", ")
}

/// The networks this run of init is about: the one its options describe, or,
/// with no network options and a non-empty state, every recorded network.
/// A network whose state file is gone (or did not parse) but whose conflist
/// hostnet wrote is still there is rebuilt from the conflist.
fn requested_networks(store: &Store, conf_dir: &Path, args: &InitArgs) -> Result<Vec<Network>> {
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
    let name = args.name.as_deref().unwrap_or(network::DEFAULT_NETWORK);
    network::validate_network_name(name)?;
    let mode = match &args.gateway_mode {
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
    let bridge = match (&args.bridge, &existing) {
        (Some(b), _) => b.clone(),
        (None, Some(rec)) => rec.network.bridge.clone(),
        (None, None) => network::DEFAULT_BRIDGE.to_string(),
    };
    let mut net = network::build(name, &bridge, &args.subnet, &args.gateway, args.mtu, id)?;
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
    let attached = super::network::attached(store, &old.name)?;
    let users = if attached.is_empty() {
        String::new()
    } else {
        format!(
            "; attached: {}",
            super::network::describe_attached(&attached)
        )
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
            super::network::describe_attached(&attached)
        )));
    }
    Ok(())
}

fn print_dry_run(g: &Global, store: &Store, planned: &[(&Network, Vec<Action>)]) -> Result<()> {
    let mut records = store.networks()?;
    for (net, _) in planned {
        records.retain(|r| r.network.name != net.name);
        records.push(NetworkRecord {
            network: (*net).clone(),
            owns_bridge: false,
            added_addresses: vec![],
            conflist: None,
        });
    }
    let spec = desired::table_spec(store, &records)?;
    let lines: Vec<String> = planned
        .iter()
        .flat_map(|(_, a)| a.iter().map(|a| a.to_string()))
        .collect();
    if g.json {
        println!(
            "{}",
            json!({ "dry_run": true, "actions": lines, "ruleset": nft::ruleset_text(&spec) })
        );
        return Ok(());
    }
    if lines.is_empty() {
        let nets: Vec<Network> = planned.iter().map(|(n, _)| (*n).clone()).collect();
        println!("# nothing to do: {} in place", describe(&nets));
    }
    for line in &lines {
        println!("would {line}");
    }
    println!(
        "\n# nftables ruleset (nft -f syntax):\n{}",
        nft::ruleset_text(&spec)
    );
    Ok(())
}
