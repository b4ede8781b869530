//! The host side of one network: validate it against the host, plan only the
//! actions that make it true, and `ensure` it (what CNI ADD runs before it
//! attaches a container; `hostnet init` and `network create` plan the same).

use crate::core::conflist;
use crate::core::desired;
use crate::core::network::{self, Isolation, Network, bridge_mac, overlaps};
use crate::core::plan::{self, Action};
use crate::core::state::{NetworkRecord, Store};
use crate::error::{Error, Result};
use crate::kernel::link::{LinkInfo, Netlink, RouteInfo};
use crate::kernel::nft;
use crate::kernel::sysctl;
use ipnetwork::IpNetwork;
use std::collections::BTreeMap;
use std::path::Path;

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
    if let Some((route, subnet, dev)) = foreign_routes(nl, &nl.routes()?, net, bridge_index)?
        .into_iter()
        .next()
    {
        return Err(Error::conflict(format!(
            "subnet {subnet} overlaps the route {route} on {dev}"
        )));
    }
    Ok(())
}

/// The routes (default routes aside) not on the bridge (`bridge_index`)
/// that overlap a subnet of `net`: (route, subnet, its device's name).
pub fn foreign_routes(
    nl: &Netlink,
    routes: &[RouteInfo],
    net: &Network,
    bridge_index: Option<u32>,
) -> Result<Vec<(IpNetwork, IpNetwork, String)>> {
    let mut out = Vec::new();
    for route in routes {
        if route.destination.prefix() == 0 || route.oif.is_some() && route.oif == bridge_index {
            continue;
        }
        for s in net
            .subnets
            .iter()
            .filter(|s| overlaps(route.destination, s.subnet))
        {
            let dev = match route.oif {
                Some(i) => nl
                    .link_by_index(i)?
                    .map(|l| l.name)
                    .unwrap_or_else(|| format!("ifindex {i}")),
                None => "no device".to_string(),
            };
            out.push((route.destination, s.subnet, dev));
        }
    }
    Ok(out)
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
/// Returns the network as it now stands (what the config cannot say, e.g.
/// `internal`, as recorded).
pub fn ensure(store: &Store, net: &Network) -> Result<Network> {
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
    if let Some(rec) = &existing
        && rec.network == net
        && nl.link(&net.bridge)?.is_some_and(|l| l.up)
        && nft::table_exists()?
    {
        return Ok(net);
    }
    let actions = plan(None, store, &nl, &net, false)?;
    plan::execute(&nl, &actions, |_| {})?;
    Ok(net)
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
    let view = HostView::read(nl, net, bridge)?;
    decide(conflist_dir, store, &view, net, force_address)
}

/// What the planner needs of the kernel, read once before it decides: the
/// bridge, its addresses, the forwarding and route_localnet sysctls, and the
/// table. Unit tests build one by hand (a fake host).
pub(crate) struct HostView {
    pub bridge: Option<LinkInfo>,
    /// The bridge's addresses (empty without a bridge).
    pub addresses: Vec<IpNetwork>,
    /// Forwarding sysctls by key (`net.ipv4.ip_forward`, …).
    pub forwarding: BTreeMap<String, String>,
    /// The bridge's route_localnet is "1".
    pub localnet: bool,
    pub table: Option<nft::TableSnapshot>,
}

fn forwarding_keys(net: &Network) -> Vec<sysctl::Key> {
    let mut keys = vec![sysctl::ipv4_forward()];
    if net.has_v6() {
        keys.push(sysctl::ipv6_forward());
    }
    keys
}

impl HostView {
    pub(crate) fn read(nl: &Netlink, net: &Network, bridge: Option<LinkInfo>) -> Result<HostView> {
        let mut forwarding = BTreeMap::new();
        for key in forwarding_keys(net) {
            let current = sysctl::read(&key)?;
            forwarding.insert(key.to_string(), current);
        }
        let addresses = match &bridge {
            Some(link) => nl.addresses(link.index)?,
            None => Vec::new(),
        };
        let localnet = bridge.is_some()
            && sysctl::read(&sysctl::iface_key("ipv4", &net.bridge, "route_localnet"))
                .is_ok_and(|v| v == "1");
        Ok(HostView {
            bridge,
            addresses,
            forwarding,
            localnet,
            table: nft::read_table()?,
        })
    }
}

/// The actions that make `net` true on a host as `view` shows it (files are
/// read from `store`; the kernel is not touched).
pub(crate) fn decide(
    conflist_dir: Option<&Path>,
    store: &Store,
    view: &HostView,
    net: &Network,
    force_address: bool,
) -> Result<Vec<Action>> {
    let bridge = &view.bridge;
    let existing = store.network(&net.name)?;
    let mut actions = Vec::new();

    // forwarding sysctls
    let mut before = store.sysctl_before()?;
    let mut before_changed = false;
    let mut sysctl_actions = Vec::new();
    for key in forwarding_keys(net) {
        let current = view
            .forwarding
            .get(&key.to_string())
            .cloned()
            .ok_or_else(|| Error::not_found(format!("sysctl {key} was not read")))?;
        if let std::collections::btree_map::Entry::Vacant(e) = before.entry(key.to_string()) {
            e.insert(current.clone());
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
            let have = &view.addresses;
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
    if !view.localnet {
        actions.push(Action::Sysctl {
            key: sysctl::iface_key("ipv4", &net.bridge, "route_localnet"),
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
    let current = view.table.as_ref();
    if current != Some(&nft::desired_table(&spec)?) {
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

pub(crate) fn json_bytes<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    let mut b = serde_json::to_vec_pretty(v)
        .map_err(|e| Error::new(crate::error::Kind::Io, format!("encoding state: {e}")))?;
    b.push(b'\n');
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::TestDir;

    fn net() -> Network {
        network::build(
            "unit",
            "hnunit0",
            &["10.77.0.0/24".to_string()],
            &[],
            None,
            "0".repeat(64),
        )
        .expect("a valid network")
    }

    /// A host with nothing of ours: no bridge, forwarding off, no table.
    fn bare() -> HostView {
        HostView {
            bridge: None,
            addresses: Vec::new(),
            forwarding: [(sysctl::ipv4_forward().to_string(), "0".to_string())].into(),
            localnet: false,
            table: None,
        }
    }

    fn bridge(mac: [u8; 6], up: bool) -> LinkInfo {
        LinkInfo {
            index: 7,
            name: "hnunit0".into(),
            kind: Some("bridge".into()),
            mac: Some(mac),
            mtu: 1500,
            up,
            master: None,
            stp: None,
            hairpin: None,
        }
    }

    fn names(actions: &[Action]) -> Vec<String> {
        actions.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn a_bare_host_gets_everything_in_order_and_up_last() {
        let d = TestDir::new("host-bare");
        let s = d.store();
        let n = net();
        let key = sysctl::ipv4_forward().to_string();
        let view = HostView {
            forwarding: [(key, "0".to_string())].into(),
            ..bare()
        };
        let a = decide(None, &s, &view, &n, false).unwrap();
        let kinds: Vec<&str> = a
            .iter()
            .map(|a| match a {
                Action::WriteFile { .. } => "write",
                Action::Sysctl { .. } => "sysctl",
                Action::CreateBridge { .. } => "create",
                Action::SetMac { .. } => "mac",
                Action::AddAddress { .. } => "addr",
                Action::ApplyTable { previous: None, .. } => "table",
                Action::SetUp { .. } => "up",
                _ => "other",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "write", "sysctl", "write", "create", "mac", "addr", "sysctl", "table", "write",
                "up"
            ],
            "{:#?}",
            names(&a)
        );
    }

    #[test]
    fn forwarding_already_on_is_left_alone_but_recorded() {
        let d = TestDir::new("host-fwd");
        let s = d.store();
        let view = HostView {
            forwarding: [(sysctl::ipv4_forward().to_string(), "1".to_string())].into(),
            ..bare()
        };
        let a = decide(None, &s, &view, &net(), false).unwrap();
        assert!(
            !a.iter()
                .any(|a| matches!(a, Action::Sysctl { key, .. } if *key == sysctl::ipv4_forward())),
            "{:#?}",
            names(&a)
        );
        assert!(matches!(&a[0], Action::WriteFile { path, .. } if *path == s.sysctl_before_path()));
    }

    #[test]
    fn a_foreign_address_on_the_bridge_is_a_conflict_unless_forced() {
        let d = TestDir::new("host-foreign");
        let s = d.store();
        let n = net();
        let view = HostView {
            forwarding: [(sysctl::ipv4_forward().to_string(), "1".to_string())].into(),
            bridge: Some(bridge(bridge_mac(&n.bridge), true)),
            addresses: vec!["192.0.2.1/24".parse().unwrap()],
            localnet: true,
            ..bare()
        };
        let e = decide(None, &s, &view, &n, false).unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Conflict);
        assert!(e.msg.contains("192.0.2.1/24"), "{e}");
        let a = decide(None, &s, &view, &n, true).unwrap();
        assert!(a.iter().any(
            |a| matches!(a, Action::DelAddress { addr, .. } if addr.to_string() == "192.0.2.1/24")
        ));
        assert!(a.iter().any(
            |a| matches!(a, Action::AddAddress { addr, .. } if addr.to_string() == "10.77.0.1/24")
        ));
        assert!(
            !a.iter().any(|a| matches!(a, Action::SetUp { .. })),
            "already up"
        );
    }

    #[test]
    fn an_adopted_bridge_keeps_its_mac_and_is_set_up_last() {
        let d = TestDir::new("host-mac");
        let s = d.store();
        let n = net();
        let view = HostView {
            forwarding: [(sysctl::ipv4_forward().to_string(), "1".to_string())].into(),
            bridge: Some(bridge([2, 0, 0, 0, 0, 1], false)),
            addresses: vec![n.subnets[0].gateway_cidr()],
            localnet: true,
            ..bare()
        };
        let a = decide(None, &s, &view, &n, false).unwrap();
        assert!(
            !a.iter().any(|a| matches!(a, Action::SetMac { .. })),
            "not ours: {:#?}",
            names(&a)
        );
        assert!(
            matches!(a.last(), Some(Action::SetUp { .. })),
            "down: set up last"
        );
    }
}
