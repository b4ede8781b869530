//! DEL: idempotent and O(1), without the container's netns. The record says
//! what to remove: the host veth (its peer goes with it), the reserved
//! addresses (one file each, checked to name this attachment), the port
//! claims and their elements (one transaction), then the record itself.
//! Without a record, the previous result (if the front end has one) says
//! which address files and which host veth to look at; nothing is ever
//! searched for, except after an ADD that crashed (a record of intent).

use std::net::IpAddr;
use std::path::Path;

use crate::core::attach::container;
use crate::core::attach::result::AddResult;
use crate::core::attach::veth::delete_link_quietly;
use crate::core::ipam::hostlocal::HostLocal;
use crate::core::lock::HostLock;
use crate::core::ports;
use crate::core::record::{self, Attachment};
use crate::core::recover;
use crate::core::state::{Loaded, Store};
use crate::error::{Context, Error, Result};
use crate::kernel::link::Netlink;
use crate::kernel::netns;
use crate::kernel::nft;
use crate::kernel::sysctl;

/// The attachment to remove, as the front end names it.
pub struct Target<'a> {
    pub network: &'a str,
    pub container_id: &'a str,
    pub ifname: &'a str,
    /// The container's netns, where namespace-wide tuning sysctls are put
    /// back; None when it is gone or must not be written (the caller's own).
    pub netns: Option<&'a str>,
    /// The host-local data dir, when the network's addresses come from it.
    pub data_dir: Option<&'a Path>,
    /// What ADD answered, if the caller kept it (a record may be gone).
    pub prev: Option<&'a AddResult>,
}

pub fn detach(store: &Store, t: &Target<'_>) -> Result<()> {
    match record::read(store, t.network, t.container_id, t.ifname)? {
        Loaded::Value(a) => {
            release(store, &a, t.netns)?;
            if !a.complete {
                // an ADD that crashed: it may have taken more than it recorded
                let _lock = HostLock::acquire(&store.run)?;
                recover::search(
                    store,
                    &Netlink::open()?,
                    t.network,
                    t.data_dir,
                    t.container_id,
                    t.ifname,
                    Some(&a.host_veth),
                )?;
            }
        }
        Loaded::Corrupt => {
            let _lock = HostLock::acquire(&store.run)?;
            let found = recover::search(
                store,
                &Netlink::open()?,
                t.network,
                t.data_dir,
                t.container_id,
                t.ifname,
                None,
            )?;
            eprintln!(
                "hostnet: DEL {}/{}-{}: record unreadable; released {} address(es), {} claim(s), {} element(s){}",
                t.network,
                t.container_id,
                t.ifname,
                found.ips.len(),
                found.claims,
                found.elements,
                if found.veth { " and the host veth" } else { "" }
            );
        }
        Loaded::Absent => {
            // a crash may have left its index entry after the record; under
            // the lock, and only while there is still no record (an ADD of
            // the same attachment may have written one since). A repeated
            // DEL finds no entry and takes no lock.
            let entry = crate::core::index::entry_path(store, t.network, t.container_id, t.ifname);
            if std::fs::symlink_metadata(&entry).is_ok() {
                let _lock = HostLock::acquire(&store.run)?;
                let rec = record::path(store, t.network, t.container_id, t.ifname);
                if std::fs::symlink_metadata(rec).is_err() {
                    crate::core::index::remove(store, t.network, t.container_id, t.ifname)?;
                }
            }
            without_record(store, t)?
        }
    }
    recover::remove_lease(store, t.network, t.container_id, t.ifname)
}

/// Remove the host veth if it is still there and still a veth.
fn delete_host_veth(name: &str) -> Result<()> {
    let nl = Netlink::open()?;
    if let Some(link) = nl.link(name)?
        && link.kind.as_deref() == Some("veth")
    {
        delete_link_quietly(&nl, link.index).ctx(format!("deleting {name}"))?;
    }
    Ok(())
}

/// Undo one attachment entirely (DEL, and GC for each attachment it drops).
///
/// Under the host lock the record is first marked as being released (our
/// pid), so `check` and `gc` leave it alone while the veth goes; the record
/// itself is removed last, once the veth is gone: a crash at any point
/// leaves a record that the next DEL or `gc` finishes.
pub fn release(store: &Store, a: &Attachment, netns: Option<&str>) -> Result<()> {
    if let Some(ns) = netns {
        restore_container_sysctls(a, ns);
    }
    // Deleting a link waits for RCU (rcu_barrier, 15-20 ms here): it runs on
    // its own thread while the state is released under the host lock.
    std::thread::scope(|s| {
        let lock = HostLock::acquire(&store.run)?;
        let mut marked = a.clone();
        marked.pid = Some(std::process::id());
        record::write(store, &marked)?;
        let veth = s.spawn(|| delete_host_veth(&a.host_veth));
        let rest = release_state(store, a);
        drop(lock);
        let veth = veth
            .join()
            .unwrap_or_else(|_| Err(Error::internal("deleting the veth panicked")));
        // Only now close the nf_tables socket that deleted the elements: its
        // release flushes nf_tables' destroy work under the commit mutex, and
        // a device removal needs that mutex, so closing it earlier would make
        // the veth delete wait behind the flush. By now the grace period the
        // flush waits for has usually passed (1-1.5 ms instead of 10-14 ms).
        nft::close_session();
        veth.and(rest)?;
        let _lock = HostLock::acquire(&store.run)?;
        record::remove(store, a)?;
        Ok(())
    })
}

/// Namespace-wide tuning sysctls, put back when the netns is still there.
/// Nothing else of DEL uses the netns: the record names the host veth, and
/// no link is ever looked up by the container's interface name on the host.
fn restore_container_sysctls(a: &Attachment, ns: &str) {
    if a.sysctl_before.is_empty() || !Path::new(ns).exists() {
        return;
    }
    let keys: Vec<_> = a
        .sysctl_before
        .iter()
        .filter_map(|(n, v)| {
            sysctl::parse_dotted(n)
                .ok()
                .map(|k| (n.clone(), k, v.clone()))
        })
        .collect();
    if let Err(e) = netns::run_in(Path::new(ns), || container::restore_sysctls(&keys)) {
        eprintln!("hostnet: DEL {}: {}", a.key(), e.msg);
    }
}

/// Claims, elements and address files; the caller holds the host lock.
fn release_state(store: &Store, a: &Attachment) -> Result<()> {
    // the elements as they were claimed (same-port runs as one interval);
    // recomputed from the record when the claims are already gone
    let mut elements = Vec::new();
    if !a.port_mappings.is_empty() {
        elements = ports::unclaim(store, &a.container_id, &a.port_mappings)?;
        if elements.is_empty() {
            elements = ports::elements_for(&a.container_id, &a.port_mappings);
        }
    }
    // port elements and the veth's anti-spoofing elements: one transaction
    let siblings = record::siblings(store, &a.network, &a.container_id, &a.ifname)?;
    recover::tolerate_no_table(nft::update(&[], &elements, &[], &a.guards(&siblings), true))
        .ctx("deleting port mappings and anti-spoofing elements")?;
    if let Some(dir) = &a.ipam.data_dir {
        let hl = HostLocal::new(dir, &a.network);
        let _dl = hl.lock()?;
        for ip in &a.ips {
            hl.release(ip.address.ip(), &a.container_id, &a.ifname)?;
        }
    }
    Ok(())
}

/// No record: an ADD that never got far, or an attachment made by another
/// plugin. Clean up what the previous result names, and the addresses the
/// lease names (a record gone with a reboot: the address files survived it).
fn without_record(store: &Store, t: &Target<'_>) -> Result<()> {
    if let Some(prev) = t.prev {
        for iface in prev
            .interfaces
            .iter()
            .filter(|i| i.sandbox.is_none() && i.name.starts_with("veth"))
        {
            delete_host_veth(&iface.name)?;
        }
    }
    let Some(data_dir) = t.data_dir else {
        return Ok(());
    };
    let mut ips: Vec<IpAddr> = t
        .prev
        .iter()
        .flat_map(|p| p.ips.iter().map(|i| i.address.ip()))
        .collect();
    ips.extend(recover::lease(store, t.network, t.container_id, t.ifname)?);
    if !ips.is_empty() {
        let _lock = HostLock::acquire(&store.run)?;
        let hl = HostLocal::new(data_dir, t.network);
        let _dl = hl.lock()?;
        for ip in ips {
            hl.release(ip, t.container_id, t.ifname)?;
        }
    }
    Ok(())
}
