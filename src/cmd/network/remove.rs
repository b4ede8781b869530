//! `hostnet network rm` and `prune`: a network without attachments goes in
//! one go (its table elements, bridge or added addresses, conflist, state),
//! rolled back as a whole when a step fails.

use crate::cli::{Global, NetworkRmArgs};
use crate::core::desired;
use crate::core::lock::HostLock;
use crate::core::network::DEFAULT_NETWORK;
use crate::core::plan::{self, Action};
use crate::core::state::{NetworkRecord, Store};
use crate::error::{Error, Result};
use crate::kernel::link::Netlink;
use crate::kernel::nft;

/// Why `rec` cannot be removed, if it cannot.
fn refusal(store: &Store, rec: &NetworkRecord) -> Result<Option<Error>> {
    let name = &rec.network.name;
    if name == DEFAULT_NETWORK {
        return Ok(Some(Error::invalid(format!(
            "network {name} is the default network and cannot be removed (hostnet teardown removes everything)"
        ))));
    }
    let list = super::attached(store, name)?;
    if !list.is_empty() {
        return Ok(Some(Error::conflict(format!(
            "network {name} is in use by {}; detach them (CNI DEL) first",
            super::describe_attached(&list)
        ))));
    }
    Ok(None)
}

/// The actions that remove one network.
fn actions(store: &Store, nl: &Netlink, rec: &NetworkRecord) -> Result<Vec<Action>> {
    let net = &rec.network;
    let all = store.networks()?;
    let rest: Vec<NetworkRecord> = all
        .iter()
        .filter(|r| r.network.name != net.name)
        .cloned()
        .collect();
    let mut out = Vec::new();
    if nft::read_table()?.is_some() {
        out.push(Action::ApplyTable {
            spec: desired::table_spec(store, &rest)?,
            previous: Some(desired::table_spec(store, &all)?),
        });
    }
    if let Some(path) = &rec.conflist
        && path.exists()
    {
        out.push(Action::RemoveFile { path: path.clone() });
    }
    out.push(Action::RemoveFile {
        path: store.network_path(&net.name),
    });
    // the link last: its deletion has no undo, and nothing fails after it
    if let Some(link) = nl.link(&net.bridge)? {
        if rec.owns_bridge {
            out.push(Action::DeleteLink {
                name: net.bridge.clone(),
            });
        } else {
            let have = nl.addresses(link.index)?;
            for addr in rec.added_addresses.iter().filter(|a| have.contains(a)) {
                out.push(Action::DelAddress {
                    link: net.bridge.clone(),
                    addr: *addr,
                });
            }
        }
    }
    Ok(out)
}

fn remove(store: &Store, nl: &Netlink, rec: &NetworkRecord) -> Result<()> {
    let list = actions(store, nl, rec)?;
    plan::execute(nl, &list, |_| {})
}

pub fn rm(g: &Global, a: &NetworkRmArgs) -> Result<()> {
    let store = super::super::store(g);
    let _lock = HostLock::acquire(&g.run_dir)?;
    // every name checked before anything is removed
    let mut records: Vec<NetworkRecord> = Vec::new();
    for key in &a.networks {
        let rec = super::find(&store, key)?;
        if let Some(e) = refusal(&store, &rec)? {
            return Err(e);
        }
        if !records.iter().any(|r| r.network.name == rec.network.name) {
            records.push(rec);
        }
    }
    let nl = Netlink::open()?;
    for rec in &records {
        remove(&store, &nl, rec)?;
        if !g.json {
            println!("{}", rec.network.name);
        }
    }
    if g.json {
        let names: Vec<&str> = records.iter().map(|r| r.network.name.as_str()).collect();
        println!("{}", serde_json::json!({ "removed": names }));
    }
    Ok(())
}

pub fn prune(g: &Global) -> Result<()> {
    let store = super::super::store(g);
    let _lock = HostLock::acquire(&g.run_dir)?;
    let nl = Netlink::open()?;
    let mut removed = Vec::new();
    for rec in store.networks()? {
        if refusal(&store, &rec)?.is_some() {
            continue;
        }
        remove(&store, &nl, &rec)?;
        removed.push(rec.network.name);
    }
    if g.json {
        println!("{}", serde_json::json!({ "removed": removed }));
    } else if !removed.is_empty() {
        println!("Deleted Networks:");
        for n in &removed {
            println!("{n}");
        }
    }
    Ok(())
}
