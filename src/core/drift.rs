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
    pub differences: Vec<Difference>,
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

/// One difference between hostnet's state and the kernel (`init` repairs
/// each); shown as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// A sysctl hostnet sets has another value; `breaks`: what that stops.
    Sysctl {
        key: String,
        have: String,
        want: &'static str,
        breaks: &'static str,
    },
    Other(String),
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Sysctl {
                key, have, want, ..
            } => {
                write!(f, "sysctl {key} is {have}, want {want}")
            }
            Difference::Other(line) => f.write_str(line),
        }
    }
}

/// The sysctl `key` (read as `have`) is not `1`.
fn sysctl_off(key: &sysctl::Key, have: String, breaks: &'static str) -> Option<Difference> {
    (have != "1").then(|| Difference::Sysctl {
        key: key.to_string(),
        have,
        want: "1",
        breaks,
    })
}

/// Every difference between what hostnet's state wants and what the kernel has.
fn differences(store: &Store, nl: &Netlink) -> Result<Vec<Difference>> {
    let mut diffs: Vec<Difference> = Vec::new();
    let networks = store.networks()?;
    if networks.is_empty() {
        return Ok(diffs);
    }
    let v4 = sysctl::ipv4_forward();
    diffs.extend(sysctl_off(
        &v4,
        sysctl::read(&v4)?,
        "the host forwards nothing, containers reach nothing outside their bridge",
    ));
    if networks.iter().any(|r| r.network.has_v6()) {
        let v6 = sysctl::ipv6_forward();
        diffs.extend(sysctl_off(
            &v6,
            sysctl::read(&v6)?,
            "IPv6 from containers is not forwarded",
        ));
    }
    for rec in &networks {
        let mut lines = Vec::new();
        let bridge_there = bridge_differences(nl, rec, &mut lines)?;
        diffs.extend(lines.into_iter().map(Difference::Other));
        if !bridge_there {
            continue;
        }
        let key = sysctl::iface_key("ipv4", &rec.network.bridge, "route_localnet");
        match sysctl::read(&key) {
            Ok(v) => diffs.extend(sysctl_off(
                &key,
                v,
                "127.0.0.1:PORT on the host does not reach mapped ports",
            )),
            Err(e) => diffs.push(Difference::Other(e.msg)),
        }
    }
    let spec = desired::table_spec(store, &networks)?;
    let want = nft::desired_table(&spec)?;
    match nft::read_table()? {
        None => diffs.push(Difference::Other(format!(
            "nftables table inet {} is missing",
            nft::TABLE
        ))),
        Some(have) => {
            let table = table_differences(&want, &have).into_iter();
            diffs.extend(table.map(Difference::Other));
            let attachments = crate::core::attachments::attachment_differences(store, nl)?;
            diffs.extend(attachments.into_iter().map(Difference::Other));
        }
    }
    Ok(diffs)
}

/// A network's bridge (present, a bridge, up, its addresses) and, once the
/// bridge is there, its conflist; false when the bridge is missing or not a
/// bridge (nothing else of the network is compared then).
fn bridge_differences(
    nl: &Netlink,
    rec: &crate::core::state::NetworkRecord,
    diffs: &mut Vec<String>,
) -> Result<bool> {
    let net = &rec.network;
    let Some(link) = nl.link(&net.bridge)? else {
        diffs.push(format!(
            "network {}: bridge {} is missing",
            net.name, net.bridge
        ));
        return Ok(false);
    };
    if link.kind.as_deref() != Some("bridge") {
        diffs.push(format!(
            "network {}: {} is not a bridge",
            net.name, net.bridge
        ));
        return Ok(false);
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
    diffs.extend(conflist_difference(rec));
    Ok(true)
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
