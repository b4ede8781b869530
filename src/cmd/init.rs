//! `hostnet init`: make the host side of one network true, idempotently.
//!
//! 1. validate the input (no kernel access);
//! 2. read the kernel (links, addresses, routes, the table) and refuse
//!    conflicts before changing anything;
//! 3. plan only the actions that are needed, then execute them with rollback.

use std::collections::BTreeMap;
use std::path::Path;

use ipnetwork::IpNetwork;
use serde_json::json;

use crate::cli::{Global, InitArgs};
use crate::conflist;
use crate::desired;
use crate::error::{Error, Result};
use crate::kernel::link::{LinkInfo, Netlink};
use crate::kernel::nft;
use crate::kernel::sysctl;
use crate::lock::HostLock;
use crate::network::{self, GatewayMode, Isolation, Network, bridge_mac, overlaps};
use crate::plan::{self, Action};
use crate::state::{NetworkRecord, Store};

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
        done.extend(crate::cni::recover::release_dead(&store, &nl)?);
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
    crate::cni::recover::record_boot(&store)?;
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
    let changes = nft::foreign::pending(&bridges, true)?;
    if !changes.is_empty() {
        let mut previous: Vec<String> = nft::foreign::present()?
            .rules
            .into_iter()
            .map(|(r, _)| r.bridge)
            .collect();
        previous.sort();
        previous.dedup();
        actions.push(Action::ForwardAccepts {
            bridges,
            changes,
            previous,
        });
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

/// Refuse what cannot work, before anything changes.
fn validate_against_host(
    store: &Store,
    nl: &Netlink,
    net: &Network,
    bridge: Option<&LinkInfo>,
) -> Result<()> {
    if let Some(link) = bridge
        && link.kind.as_deref() != Some("bridge")
    {
        return Err(Error::conflict(format!(
            "{} exists and is not a bridge (kind {})",
            net.bridge,
            link.kind.as_deref().unwrap_or("none")
        )));
    }
    for other in store.networks()? {
        let o = &other.network;
        if o.name == net.name {
            continue;
        }
        if o.bridge == net.bridge {
            return Err(Error::conflict(format!(
                "bridge {} already belongs to network {}",
                net.bridge, o.name
            )));
        }
        for a in &o.subnets {
            for b in &net.subnets {
                if overlaps(a.subnet, b.subnet) {
                    return Err(Error::conflict(format!(
                        "subnet {} overlaps subnet {} of network {}",
                        b.subnet, a.subnet, o.name
                    )));
                }
            }
        }
    }
    let bridge_index = bridge.map(|l| l.index);
    let routes = nl.routes()?;
    for route in &routes {
        if route.destination.prefix() == 0 || route.oif.is_some() && route.oif == bridge_index {
            continue;
        }
        for s in &net.subnets {
            if overlaps(route.destination, s.subnet) {
                let dev = match route.oif {
                    Some(i) => nl
                        .link_by_index(i)?
                        .map(|l| l.name)
                        .unwrap_or_else(|| format!("ifindex {i}")),
                    None => "no device".to_string(),
                };
                return Err(Error::conflict(format!(
                    "subnet {} overlaps the route {} on {dev}",
                    s.subnet, route.destination
                )));
            }
        }
    }
    Ok(())
}

fn is_link_local(a: &IpNetwork) -> bool {
    match a {
        IpNetwork::V6(v6) => (v6.ip().segments()[0] & 0xffc0) == 0xfe80,
        IpNetwork::V4(v4) => v4.ip().is_link_local(),
    }
}

/// Make the host side of `net` true as `init` does, cheaply when it already
/// is: a state record equal to `net`, its bridge present and up, and the
/// table present (a flushed ruleset is repaired by the next ADD) means
/// nothing else is read (no dumps). Used by the CNI plugin on every ADD; the
/// caller holds the host lock. Writes no conflist (the runtime has one).
pub fn ensure(store: &Store, net: &Network) -> Result<()> {
    let nl = Netlink::open()?;
    let existing = store.network(&net.name)?;
    let mut net = net.clone();
    match &existing {
        // what a CNI config cannot say stays as recorded
        Some(rec) if !rec.network.id.is_empty() => {
            net.id = rec.network.id.clone();
            net.labels = rec.network.labels.clone();
            net.internal = rec.network.internal;
            net.gateway_mode = rec.network.gateway_mode;
            // isolated when created so or when a config asks for portIsolation
            if rec.network.isolation == Isolation::Isolated {
                net.isolation = Isolation::Isolated;
            }
            for s in &mut net.subnets {
                if let Some(old) = rec.network.subnets.iter().find(|o| o.subnet == s.subnet) {
                    s.ip_range = old.ip_range;
                }
            }
        }
        _ => {
            net.id = network::id_for(&net.name)?;
            net.labels = network::default_labels(&net.name);
        }
    }
    if let Some(rec) = &existing {
        if rec.network == net && nl.link(&net.bridge)?.is_some_and(|l| l.up) && nft::table_exists()?
        {
            return Ok(());
        }
    }
    let actions = plan(None, store, &nl, &net, false)?;
    plan::execute(&nl, &actions, |_| {})
}

/// Only the actions needed to make `net` true. `conflist_dir`: where to write
/// the network's conflist (None: write none, keep any recorded one).
pub(crate) fn plan(
    conflist_dir: Option<&Path>,
    store: &Store,
    nl: &Netlink,
    net: &Network,
    force_address: bool,
) -> Result<Vec<Action>> {
    let bridge = nl.link(&net.bridge)?;
    validate_against_host(store, nl, net, bridge.as_ref())?;
    let existing = store.network(&net.name)?;
    let mut actions = Vec::new();

    // forwarding sysctls
    let mut keys = vec![sysctl::ipv4_forward()];
    if net.has_v6() {
        keys.push(sysctl::ipv6_forward());
    }
    let mut before = store.sysctl_before()?;
    let mut before_changed = false;
    let mut sysctl_actions = Vec::new();
    for key in keys {
        let current = sysctl::read(&key)?;
        if !before.contains_key(&key.to_string()) {
            before.insert(key.to_string(), current.clone());
            before_changed = true;
        }
        if current != "1" {
            sysctl_actions.push(Action::Sysctl {
                key,
                value: "1".into(),
            });
        }
    }
    // what forwarding was, recorded before it changes (a crash in between
    // must not make the retry record hostnet's own "1")
    if before_changed {
        actions.push(Action::WriteFile {
            path: store.sysctl_before_path(),
            contents: json_bytes(&before.clone().into_iter().collect::<BTreeMap<_, _>>())?,
            mode: 0o600,
        });
    }
    actions.extend(sysctl_actions);

    // the bridge
    let want: Vec<IpNetwork> = net.subnets.iter().map(|s| s.gateway_cidr()).collect();
    let mac = bridge_mac(&net.bridge);
    let owns_bridge = match &existing {
        Some(rec) => rec.owns_bridge || bridge.is_none(),
        None => bridge.is_none(),
    };
    let mut added: Vec<IpNetwork> = existing
        .as_ref()
        .map(|r| r.added_addresses.clone())
        .unwrap_or_default();
    let name = net.bridge.clone();
    match &bridge {
        None => {
            // ownership recorded before the bridge exists: a crash right
            // after creating it must not make the retry adopt it
            if existing.as_ref().is_none_or(|r| !r.owns_bridge) {
                let intent = NetworkRecord {
                    network: net.clone(),
                    owns_bridge: true,
                    added_addresses: Vec::new(),
                    conflist: existing.as_ref().and_then(|r| r.conflist.clone()),
                };
                actions.push(Action::WriteFile {
                    path: store.network_path(&net.name),
                    contents: json_bytes(&intent)?,
                    mode: 0o600,
                });
            }
            actions.push(Action::CreateBridge {
                name: name.clone(),
                mtu: net.mtu,
            });
            actions.push(Action::SetMac {
                link: name.clone(),
                mac,
            });
            for addr in &want {
                actions.push(Action::AddAddress {
                    link: name.clone(),
                    addr: *addr,
                });
            }
        }
        Some(link) => {
            if owns_bridge && link.mac != Some(mac) {
                actions.push(Action::SetMac {
                    link: name.clone(),
                    mac,
                });
            }
            if let Some(m) = net.mtu
                && link.mtu != m
            {
                actions.push(Action::SetMtu {
                    link: name.clone(),
                    mtu: m,
                });
            }
            let have = nl.addresses(link.index)?;
            let foreign: Vec<IpNetwork> = have
                .iter()
                .filter(|a| !is_link_local(a) && !want.contains(a))
                .copied()
                .collect();
            if !foreign.is_empty() && !force_address {
                let list: Vec<String> = foreign.iter().map(|a| a.to_string()).collect();
                return Err(Error::conflict(format!(
                    "bridge {} already has address {} (want {}); use --force-address to replace it",
                    net.bridge,
                    list.join(", "),
                    want.iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            for addr in foreign {
                actions.push(Action::DelAddress {
                    link: name.clone(),
                    addr,
                });
                added.retain(|a| *a != addr);
            }
            for addr in &want {
                if !have.contains(addr) {
                    actions.push(Action::AddAddress {
                        link: name.clone(),
                        addr: *addr,
                    });
                    if !owns_bridge && !added.contains(addr) {
                        added.push(*addr);
                    }
                }
            }
        }
    }
    if owns_bridge {
        added.clear();
    }
    // localhost -> mapped port needs route_localnet on the bridge
    let localnet = sysctl::iface_key("ipv4", &net.bridge, "route_localnet");
    let localnet_ok = bridge.is_some() && sysctl::read(&localnet).is_ok_and(|v| v == "1");
    if !localnet_ok {
        actions.push(Action::Sysctl {
            key: localnet,
            value: "1".into(),
        });
    }

    // the nftables table, from every managed network plus this one
    let conflist_path = conflist_dir.map(|d| conflist::path(d, &net.name));
    let record = NetworkRecord {
        network: net.clone(),
        owns_bridge,
        added_addresses: added,
        conflist: conflist_path
            .clone()
            .or_else(|| existing.as_ref().and_then(|r| r.conflist.clone())),
    };
    let previous_records = store.networks()?;
    let mut records: Vec<NetworkRecord> = previous_records
        .iter()
        .filter(|r| r.network.name != net.name)
        .cloned()
        .collect();
    records.push(record.clone());
    let spec = desired::table_spec(store, &records)?;
    let current = nft::read_table()?;
    if current.as_ref() != Some(&nft::desired_table(&spec)?) {
        let previous = match current {
            Some(_) => Some(desired::table_spec(store, &previous_records)?),
            None => None,
        };
        actions.push(Action::ApplyTable { spec, previous });
    }

    // files after the kernel work: a failed kernel step leaves them untouched
    if existing.as_ref() != Some(&record) {
        actions.push(Action::WriteFile {
            path: store.network_path(&net.name),
            contents: json_bytes(&record)?,
            mode: 0o600,
        });
    }
    if let Some(path) = conflist_path {
        let text = conflist::render_text(net);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            actions.push(Action::WriteFile {
                path,
                contents: text.into_bytes(),
                mode: 0o644,
            });
        }
    }
    // up at the very end: a link that has been up keeps traces no undo
    // removes (its qdisc), so nothing may fail after this
    if bridge.as_ref().is_none_or(|l| !l.up) {
        actions.push(Action::SetUp { link: name });
    }
    Ok(actions)
}

fn json_bytes<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    let mut b = serde_json::to_vec_pretty(v)
        .map_err(|e| Error::new(crate::error::Kind::Io, format!("encoding state: {e}")))?;
    b.push(b'\n');
    Ok(b)
}
