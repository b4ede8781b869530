//! `hostnet check`: the desired state (from disk) against the kernel, under
//! the host lock: every difference (`init` repairs each), the leftovers `gc`
//! would release, and warnings about what is not hostnet's but stops
//! container traffic (`advice`).

use crate::core::advice;
use crate::core::desired;
use crate::core::lock::HostLock;
use crate::core::orphans;
use crate::core::state::Store;
use crate::error::Result;
use crate::kernel::link::Netlink;
use crate::kernel::nft::{self, TableSnapshot};
use crate::kernel::sysctl;

pub struct Findings {
    /// What differs between hostnet's state and the kernel, one line each.
    pub differences: Vec<String>,
    /// What `gc` would release.
    pub leftovers: Vec<String>,
    pub warnings: Vec<String>,
}

pub fn check(store: &Store) -> Result<Findings> {
    // the host lock: no ADD or DEL is half way while the kernel is compared
    let _lock = HostLock::acquire(&store.run)?;
    let nl = Netlink::open()?;
    let differences = differences(store, &nl)?;
    let leftovers = orphans::find(store, &nl)?
        .iter()
        .map(|o| o.to_string())
        .collect();
    let warnings = advice::warnings(store, &nl)?;
    Ok(Findings {
        differences,
        leftovers,
        warnings,
    })
}

/// Every difference between what hostnet's state wants and what the kernel has.
fn differences(store: &Store, nl: &Netlink) -> Result<Vec<String>> {
    let networks = store.networks()?;
    let mut diffs = Vec::new();
    if networks.is_empty() {
        return Ok(diffs);
    }
    let mut keys = vec![sysctl::ipv4_forward()];
    if networks.iter().any(|r| r.network.has_v6()) {
        keys.push(sysctl::ipv6_forward());
    }
    for key in keys {
        let v = sysctl::read(&key)?;
        if v != "1" {
            diffs.push(format!("sysctl {key} is {v}, want 1"));
        }
    }
    for rec in &networks {
        let net = &rec.network;
        let Some(link) = nl.link(&net.bridge)? else {
            diffs.push(format!(
                "network {}: bridge {} is missing",
                net.name, net.bridge
            ));
            continue;
        };
        if link.kind.as_deref() != Some("bridge") {
            diffs.push(format!(
                "network {}: {} is not a bridge",
                net.name, net.bridge
            ));
            continue;
        }
        if !link.up {
            diffs.push(format!(
                "network {}: bridge {} is down",
                net.name, net.bridge
            ));
        }
        let have = nl.addresses(link.index)?;
        for s in &net.subnets {
            if !have.contains(&s.gateway_cidr()) {
                diffs.push(format!(
                    "network {}: bridge {} lacks address {}",
                    net.name,
                    net.bridge,
                    s.gateway_cidr()
                ));
            }
        }
        if let Some(d) = conflist_difference(rec) {
            diffs.push(d);
        }
        let key = sysctl::iface_key("ipv4", &net.bridge, "route_localnet");
        match sysctl::read(&key) {
            Ok(v) if v == "1" => {}
            Ok(v) => diffs.push(format!("sysctl {key} is {v}, want 1")),
            Err(e) => diffs.push(e.msg),
        }
    }
    let spec = desired::table_spec(store, &networks)?;
    let want = nft::desired_table(&spec)?;
    match nft::read_table()? {
        None => diffs.push(format!("nftables table inet {} is missing", nft::TABLE)),
        Some(have) => {
            diffs.extend(table_differences(&want, &have));
            diffs.extend(crate::core::attachments::attachment_differences(store, nl)?);
        }
    }
    Ok(diffs)
}

/// The network's conflist as hostnet wrote it, or what is wrong with it
/// (`init` rewrites it).
fn conflist_difference(rec: &crate::core::state::NetworkRecord) -> Option<String> {
    let path = rec.conflist.as_ref()?;
    let what = format!("network {}: conflist {}", rec.network.name, path.display());
    let problem = match std::fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "is missing".to_string(),
        Err(e) => format!("cannot be read: {e}"),
        Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Err(e) => format!("is not valid JSON ({e})"),
            Ok(v) if v != crate::core::conflist::render(&rec.network) => {
                "differs from hostnet's state".to_string()
            }
            Ok(_) => return None,
        },
    };
    Some(format!("{what} {problem} (hostnet init rewrites it)"))
}

/// Chain by chain and set by set, what differs.
fn table_differences(want: &TableSnapshot, have: &TableSnapshot) -> Vec<String> {
    let mut diffs = Vec::new();
    for w in &want.chains {
        match have.chains.iter().find(|h| h.name == w.name) {
            None => diffs.push(format!("chain {} is missing", w.name)),
            Some(h) => {
                if h.hook != w.hook {
                    diffs.push(format!(
                        "chain {}: hook is \"{}\", want \"{}\"",
                        w.name, h.hook, w.hook
                    ));
                }
                if h.rules != w.rules {
                    diffs.push(format!(
                        "chain {}: rules differ ({} in the kernel, {} wanted)",
                        w.name,
                        h.rules.len(),
                        w.rules.len()
                    ));
                }
            }
        }
    }
    for h in &have.chains {
        if !want.chains.iter().any(|w| w.name == h.name) {
            diffs.push(format!("chain {} is not hostnet's", h.name));
        }
    }
    for w in &want.sets {
        match have.sets.iter().find(|h| h.name == w.name) {
            None => diffs.push(format!("set {} is missing", w.name)),
            Some(h) => {
                // both element lists are sorted (`SetSnapshot`): a binary
                // search each, not a scan (10,000 mappings stay cheap)
                for e in &w.elements {
                    if h.elements.binary_search(e).is_err() {
                        diffs.push(format!("set {}: element {e} is missing", w.name));
                    }
                }
                for e in &h.elements {
                    if w.elements.binary_search(e).is_err() {
                        diffs.push(format!(
                            "set {}: element {e} is not in hostnet's state",
                            w.name
                        ));
                    }
                }
            }
        }
    }
    for h in &have.sets {
        if !want.sets.iter().any(|w| w.name == h.name) {
            diffs.push(format!("set {} is not hostnet's", h.name));
        }
    }
    diffs
}
