//! Static port mappings (`hostnet portmap add|del`): they share the code
//! path of container mappings (`ports` claims + one nftables transaction)
//! and are persisted, so `init` (and the boot unit) restores them. Each
//! change runs under the host lock in one `Transaction` with its undo.

use std::net::IpAddr;

use crate::core::lock::HostLock;
use crate::core::ports::{self, L4Proto, PortMapping, STATIC_OWNER};
use crate::core::state::{NetworkRecord, Store};
use crate::core::txn::Transaction;
use crate::error::{Error, Result};
use crate::kernel::link::Netlink;
use crate::kernel::nft;

pub enum Added {
    /// Every mapping was held already (its element put back if missing).
    Already,
    /// Mapped, with this many kernel elements.
    New(usize),
}

fn require_managed_dest(nets: &[NetworkRecord], ip: IpAddr) -> Result<()> {
    if nets
        .iter()
        .any(|r| r.network.subnets.iter().any(|s| s.subnet.contains(ip)))
    {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "destination {ip} is outside every managed subnet (use --allow-any-dest to map it anyway)"
    )))
}

fn require_local(nl: &Netlink, ip: IpAddr) -> Result<()> {
    if nl.all_addresses_of(ip)?.iter().any(|a| a.ip() == ip) {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "host ip {ip} is not an address of this host"
    )))
}

/// Map `mappings` (one request, all to one destination address; `host_ip`
/// must be an address of this host). Unless `allow_any_dest`, the
/// destination must be in a managed subnet; never on an internal network.
pub fn add(
    store: &Store,
    mappings: &[PortMapping],
    host_ip: Option<IpAddr>,
    allow_any_dest: bool,
) -> Result<Added> {
    let (Some(first), Some(last)) = (mappings.first(), mappings.last()) else {
        return Err(Error::invalid("no ports"));
    };
    let dest_ip = first.dest_ip;
    let _lock = HostLock::acquire(&store.run)?;
    // the networks as they are while the mapping is claimed
    let nets = store.networks()?;
    if !allow_any_dest {
        require_managed_dest(&nets, dest_ip)?;
    }
    // an internal network takes no port mappings, --allow-any-dest or not
    if let Some(r) = nets.iter().find(|r| {
        r.network.internal && r.network.subnets.iter().any(|s| s.subnet.contains(dest_ip))
    }) {
        return Err(Error::invalid(format!(
            "destination {dest_ip} is on the internal network {}: it takes no port mappings",
            r.network.name
        )));
    }
    if let Some(ip) = host_ip {
        require_local(&Netlink::open()?, ip)?;
    }
    // the same request again is nothing to do (`hostnet init` repairs the
    // kernel's copy); a failure below must not drop what was held before
    let held: Vec<PortMapping> =
        ports::on_ports(store, first.proto, first.host_port, last.host_port)?
            .into_iter()
            .filter(|(owner, m)| owner == STATIC_OWNER && mappings.contains(m))
            .map(|(_, m)| m)
            .collect();
    if held.len() == mappings.len() {
        // the claim is there; its element may not be (a crash between the
        // claim and the commit): put it back, replacing it if it is there
        let elements = ports::claimed_elements(store, STATIC_OWNER, mappings)?;
        nft::update_ports(&elements, &elements, true)
            .map_err(|e| e.context("adding port mapping"))?;
        return Ok(Added::Already);
    }
    let elements = ports::claim_grouped(store, STATIC_OWNER, mappings)?;
    let new: Vec<PortMapping> = mappings
        .iter()
        .filter(|m| !held.contains(m))
        .cloned()
        .collect();
    let mut tx = Transaction::new();
    tx.done("releasing the host ports", || {
        ports::unclaim(store, STATIC_OWNER, &new).map(|_| ())
    });
    // replace our own identical elements if there (a retry after a crash
    // between the commit and the exit): delete + add in one transaction
    if let Err(e) = nft::update_ports(&elements, &elements, true) {
        return Err(tx.fail(e.context("adding port mapping")));
    }
    tx.commit();
    Ok(Added::New(elements.len()))
}

/// Remove the static mappings on host ports `start..=end` of `proto` bound
/// to `host_ip`: their kernel elements, then their claims (a crash in
/// between leaves a claim that `ls` shows and `del` removes, never a live
/// element nobody lists); a failure puts both back. None when there is no
/// such mapping; else the mappings and how many elements went.
pub fn del(
    store: &Store,
    proto: L4Proto,
    (start, end): (u16, u16),
    host_ip: Option<IpAddr>,
) -> Result<Option<(Vec<PortMapping>, usize)>> {
    let _lock = HostLock::acquire(&store.run)?;
    // one read of each claim file: what goes, and the files without it
    let release = ports::release_on_ports(store, STATIC_OWNER, proto, (start, end), |m| {
        m.host_ip == host_ip
    })?;
    let mine = release.mappings();
    if mine.is_empty() {
        return Ok(None);
    }
    let elements = release.elements();
    let mut tx = Transaction::new();
    match nft::update_ports(&[], &elements, true) {
        Ok(()) => tx.done("putting the port mapping back", || {
            nft::update_ports(&elements, &elements, true)
        }),
        // no table (a flushed ruleset): no element to remove
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.context("removing port mapping")),
    }
    // all the claim files change, or none
    if let Err(e) = release.apply() {
        return Err(tx.fail(e));
    }
    tx.commit();
    let count = elements.len();
    Ok(Some((mine, count)))
}
