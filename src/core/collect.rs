//! GC by a list of the attachments that are still valid (CNI 1.1 GC): every
//! attachment, address reservation and port mapping of one network whose
//! (container id, ifname) is not in the list is released, and anti-spoofing
//! elements of veths no attachment record names, and index entries whose
//! record is gone (`core::index`). It may list; it keeps going
//! past errors and reports them all at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use ipnetwork::IpNetwork;

use crate::core::detach;
use crate::core::ipam::hostlocal::HostLocal;
use crate::core::lock::HostLock;
use crate::core::ports::{self, PortMapping, STATIC_OWNER};
use crate::core::record;
use crate::core::state::Store;
use crate::error::{Error, Kind, Result};
use crate::kernel::nft;

/// What to keep, and where the network's addresses are.
pub struct Keep<'a> {
    pub network: &'a str,
    /// (container id, ifname) of every attachment still in use.
    pub valid: &'a BTreeSet<(String, String)>,
    /// The network's subnets when hostnet has no record of the network.
    pub subnets: &'a [IpNetwork],
    /// The host-local data dir, when the network's addresses come from it.
    pub data_dir: Option<&'a Path>,
}

/// Release everything of `keep.network` that `keep.valid` does not name;
/// the errors met, joined, if any.
pub fn collect(store: &Store, keep: &Keep<'_>) -> Result<()> {
    let mut errors = release_attachments(store, keep)?;
    let subnets: Vec<IpNetwork> = match store.network(keep.network)? {
        Some(rec) => rec.network.subnets.iter().map(|s| s.subnet).collect(),
        None => keep.subnets.to_vec(),
    };
    {
        let _lock = HostLock::acquire(&store.run)?;
        if let Some(dir) = keep.data_dir {
            release_addresses(keep, dir, &mut errors)?;
        }
        release_ports(store, keep, &subnets, &mut errors)?;
        release_orphan_guards(store, &mut errors)?;
        if let Err(e) = crate::core::index::prune(store) {
            errors.push(format!("pruning the container index: {}", e.msg));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::new(
            Kind::Internal,
            format!("GC: {}", errors.join("; ")),
        ))
    }
}

/// Step 1: attachments with a record.
fn release_attachments(store: &Store, keep: &Keep<'_>) -> Result<Vec<String>> {
    let mut errors = Vec::new();
    for a in record::list_network(store, keep.network)? {
        if keep
            .valid
            .contains(&(a.container_id.clone(), a.ifname.clone()))
        {
            continue;
        }
        if let Err(e) = detach::release(store, &a, None) {
            errors.push(format!("{}: {}", a.key(), e.msg));
        }
    }
    Ok(errors)
}

/// Step 2: address files without a valid attachment.
fn release_addresses(keep: &Keep<'_>, dir: &Path, errors: &mut Vec<String>) -> Result<()> {
    let valid_ids: BTreeSet<&str> = keep.valid.iter().map(|(id, _)| id.as_str()).collect();
    let hl = HostLocal::new(dir, keep.network);
    let _dl = hl.lock()?;
    for (ip, id, ifname) in hl.entries()? {
        let kept = if ifname.is_empty() {
            valid_ids.contains(id.as_str())
        } else {
            keep.valid.contains(&(id.clone(), ifname.clone()))
        };
        if !kept && let Err(e) = hl.release(ip, &id, &ifname) {
            errors.push(format!("releasing {ip}: {}", e.msg));
        }
    }
    Ok(())
}

/// Steps 3 and 4: port claims on disk, then elements in the kernel, of
/// owners not valid, into this network's subnets.
fn release_ports(
    store: &Store,
    keep: &Keep<'_>,
    subnets: &[IpNetwork],
    errors: &mut Vec<String>,
) -> Result<()> {
    let valid_ids: BTreeSet<&str> = keep.valid.iter().map(|(id, _)| id.as_str()).collect();
    let ours = |ip: IpAddr| subnets.iter().any(|s| s.contains(ip));
    let stale_owner = |owner: &str| owner != STATIC_OWNER && !valid_ids.contains(owner);
    let mut stale = Vec::new();
    // per owner at once: a same-port range is released only as a whole
    let mut by_owner: BTreeMap<String, Vec<PortMapping>> = BTreeMap::new();
    for (owner, m) in ports::all(store)? {
        if stale_owner(&owner) && ours(m.dest_ip) {
            by_owner.entry(owner).or_default().push(m);
        }
    }
    for (owner, list) in by_owner {
        match ports::unclaim(store, &owner, &list) {
            Ok(els) => stale.extend(els),
            Err(e) => errors.push(format!("releasing host ports of {owner}: {}", e.msg)),
        }
    }
    if nft::inet_table_exists()? {
        for e in nft::read_ports()? {
            if stale_owner(&e.owner) && ours(e.dest_ip) && !stale.contains(&e) {
                stale.push(e);
            }
        }
        if !stale.is_empty()
            && let Err(e) = nft::update_ports(&[], &stale, true)
        {
            errors.push(format!("deleting stale port elements: {}", e.msg));
        }
    }
    Ok(())
}

/// Step 5: anti-spoofing elements of a veth no record names (an ADD whose
/// record was lost). Records are written under the lock the caller holds,
/// in the critical section that adds the elements, so none is in flight.
fn release_orphan_guards(store: &Store, errors: &mut Vec<String>) -> Result<()> {
    let recorded: BTreeSet<String> = record::attachments(store)?
        .into_iter()
        .map(|a| a.host_veth)
        .collect();
    let orphans: Vec<nft::PortGuard> = nft::read_guards()?
        .into_iter()
        .filter(|g| !recorded.contains(&g.port))
        .collect();
    if !orphans.is_empty()
        && let Err(e) = nft::update(&[], &[], &[], &orphans, true)
    {
        errors.push(format!("deleting stale anti-spoofing elements: {}", e.msg));
    }
    Ok(())
}
