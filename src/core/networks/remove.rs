//! `network rm` and `prune`: a network without attachments goes in
//! one go (its table elements, bridge or added addresses, conflist, state),
//! rolled back as a whole when a step fails.

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
    if nft::inet_table_exists()? {
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
    out.extend(bridge_actions(nl, rec)?);
    Ok(out)
}

/// What takes a network's bridge away: the bridge when hostnet created it,
/// else the addresses hostnet added to it that it still has.
pub fn bridge_actions(nl: &Netlink, rec: &NetworkRecord) -> Result<Vec<Action>> {
    let net = &rec.network;
    let mut out = Vec::new();
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

fn remove_one(store: &Store, nl: &Netlink, rec: &NetworkRecord) -> Result<()> {
    let list = actions(store, nl, rec)?;
    plan::execute(nl, &list, |_| {})
}

/// Remove the networks `keys` name (names or ID prefixes, each checked
/// before anything is removed) under the host lock, one by one; `removed`
/// hears of each as it is gone. Returns their names.
pub fn remove(
    store: &Store,
    keys: &[String],
    mut removed: impl FnMut(&str),
) -> Result<Vec<String>> {
    let _lock = HostLock::acquire(&store.run)?;
    // every name checked before anything is removed
    let mut records: Vec<NetworkRecord> = Vec::new();
    for key in keys {
        let rec = super::find(store, key)?;
        if let Some(e) = refusal(store, &rec)? {
            return Err(e);
        }
        if !records.iter().any(|r| r.network.name == rec.network.name) {
            records.push(rec);
        }
    }
    let nl = Netlink::open()?;
    for rec in &records {
        remove_one(store, &nl, rec)?;
        removed(&rec.network.name);
    }
    Ok(records.into_iter().map(|r| r.network.name).collect())
}

/// Remove every network that can be removed (not the default network, none
/// with attachments), under the host lock. Returns their names.
pub fn prune(store: &Store) -> Result<Vec<String>> {
    let _lock = HostLock::acquire(&store.run)?;
    let nl = Netlink::open()?;
    let mut removed = Vec::new();
    for rec in store.networks()? {
        if refusal(store, &rec)?.is_some() {
            continue;
        }
        remove_one(store, &nl, &rec)?;
        removed.push(rec.network.name);
    }
    Ok(removed)
}
