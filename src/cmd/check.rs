//! `hostnet check`: the desired state (from disk) against the kernel. Prints
//! one line per difference and fails (exit 1) when there is any.

use serde_json::json;

use crate::cli::Global;
use crate::desired;
use crate::error::{Error, Kind, Result};
use crate::kernel::link::Netlink;
use crate::kernel::nft::{self, TableSnapshot};
use crate::kernel::sysctl;
use crate::state::Store;

/// Every difference between what hostnet's state wants and what the kernel has.
pub fn differences(store: &Store, nl: &Netlink) -> Result<Vec<String>> {
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
            diffs.extend(crate::cni::attachment_differences(store, nl)?);
        }
    }
    Ok(diffs)
}

/// The network's conflist as hostnet wrote it, or what is wrong with it
/// (`init` rewrites it).
fn conflist_difference(rec: &crate::state::NetworkRecord) -> Option<String> {
    let path = rec.conflist.as_ref()?;
    let what = format!("network {}: conflist {}", rec.network.name, path.display());
    let problem = match std::fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "is missing".to_string(),
        Err(e) => format!("cannot be read: {e}"),
        Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Err(e) => format!("is not valid JSON ({e})"),
            Ok(v) if v != crate::conflist::render(&rec.network) => {
                "differs from hostnet's state".to_string()
            }
            Ok(_) => return None,
        },
    };
    Some(format!("{what} {problem} (hostnet init rewrites it)"))
}

/// What is not hostnet's but breaks what hostnet sets up: a base chain of
/// another table on the forward hook whose policy is drop (Docker's
/// `ip filter FORWARD`, firewalld). Its verdict comes on top of ours, so a
/// packet hostnet accepts is still dropped there. Not a difference (the exit
/// status is unchanged): the user may have accepted our bridges in that chain.
pub fn warnings(store: &Store) -> Result<Vec<String>> {
    let bridges: Vec<String> = store
        .networks()?
        .into_iter()
        .map(|r| r.network.bridge)
        .collect();
    let Some(example) = bridges.first() else {
        return Ok(Vec::new());
    };
    Ok(uncovered_drops(store, &bridges)?
        .into_iter()
        .map(|chain| {
            format!(
                "{chain} drops forwarded packets by default (policy drop); an accept in \
                 hostnet's table does not override it, so container traffic through {} is \
                 dropped there unless that chain accepts it (e.g. rules accepting iifname \
                 \"{example}\" and oifname \"{example}\")",
                bridges.join(", ")
            )
        })
        .collect())
}

/// Forward chains of other tables with policy drop that do not hold
/// hostnet's accepts for every bridge.
pub fn uncovered_drops(store: &Store, bridges: &[String]) -> Result<Vec<String>> {
    // a Docker filter FORWARD chain holding hostnet's accepts for every
    // bridge (init --docker-forward on, the default) does not drop ours
    let covered: Vec<String> = if store.settings()?.docker_forward {
        let present = nft::foreign::present()?;
        let (missing, _) = nft::foreign::diff(&present, bridges, false);
        present
            .chains
            .iter()
            .filter(|f| !missing.iter().any(|r| r.family == **f))
            .map(|f| format!("table {} filter chain FORWARD", f.name()))
            .collect()
    } else {
        Vec::new()
    };
    Ok(nft::foreign_forward_drops()?
        .into_iter()
        .filter(|chain| !covered.contains(chain))
        .collect())
}

/// Chain by chain and set by set, what differs.
pub fn table_differences(want: &TableSnapshot, have: &TableSnapshot) -> Vec<String> {
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
                for e in &w.elements {
                    if !h.elements.contains(e) {
                        diffs.push(format!("set {}: element {e} is missing", w.name));
                    }
                }
                for e in &h.elements {
                    if !w.elements.contains(e) {
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

pub fn run(g: &Global) -> Result<()> {
    let store = super::store(g);
    // the host lock: no ADD or DEL is half way while the kernel is compared
    let _lock = crate::lock::HostLock::acquire(&g.run_dir)?;
    let nl = Netlink::open()?;
    let mut diffs: Vec<String> = differences(&store, &nl)?
        .iter()
        .map(|d| super::advice::fix_for(d))
        .collect();
    for o in crate::cni::orphans::find(&store, &nl)? {
        diffs.push(format!("leftover {o} (fix: hostnet gc)"));
    }
    let mut warns = warnings(&store)?;
    let networks = store.networks()?;
    if !networks.is_empty() {
        let bridges: Vec<String> = networks.iter().map(|r| r.network.bridge.clone()).collect();
        warns.extend(super::advice::br_netfilter(
            &uncovered_drops(&store, &bridges)?,
            &networks,
        ));
        warns.extend(super::advice::prerouting_postrouting_drops(&networks)?);
        warns.extend(super::advice::rp_filter(&networks));
        warns.extend(super::advice::overlapping_routes(&nl, &networks)?);
    }
    if g.json {
        println!(
            "{}",
            json!({ "ok": diffs.is_empty(), "differences": diffs, "warnings": warns })
        );
    } else {
        if diffs.is_empty() {
            println!("ok: the kernel matches hostnet's state");
        }
        for d in &diffs {
            println!("{d}");
        }
        if !diffs.is_empty() {
            println!("(hostnet init repairs every difference above)");
        }
        for w in &warns {
            println!("warning: {w}");
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(Error::new(
            Kind::Differences,
            format!(
                "{} difference(s) between hostnet's state and the kernel",
                diffs.len()
            ),
        ))
    }
}
