//! DEL: idempotent and O(1), without the container's netns. The record says
//! what to remove: the host veth (its peer goes with it), the reserved
//! addresses (one file each, checked to name this attachment), the port
//! claims and their elements (one transaction), then the record itself.
//! Without a record, `prevResult` (if any) says which address files and
//! which host veth to look at; nothing is ever searched for.

use std::net::IpAddr;
use std::path::Path;

use super::add::{Ctx, delete_link_quietly};
use super::config::{IpamKind, NetConf};
use super::container;
use super::env::Env;
use super::ipam::delegate;
use super::result::AddResult;
use crate::core::ipam::hostlocal::HostLocal;
use crate::core::lock::HostLock;
use crate::core::ports;
use crate::core::record::{self, Attachment};
use crate::core::recover;
use crate::core::state::Loaded;
use crate::error::{Context, Error, Kind, Result};
use crate::kernel::link::Netlink;
use crate::kernel::netns;
use crate::kernel::nft;
use crate::kernel::sysctl;

pub fn del(env: &Env, conf: &NetConf) -> Result<()> {
    let c = Ctx::from_env(env, conf)?;
    let data_dir = match &conf.ipam.kind {
        IpamKind::HostLocal { data_dir, .. } => Some(data_dir.clone()),
        IpamKind::Delegated(_) => None,
    };
    match record::read(&c.store, &conf.name, c.cid, c.ifname)? {
        Loaded::Value(a) => {
            release(&c, &a, true)?;
            if !a.complete {
                // an ADD that crashed: it may have taken more than it recorded
                let _lock = HostLock::acquire(&conf.run_dir)?;
                recover::search(
                    &c.store,
                    &Netlink::open()?,
                    &conf.name,
                    data_dir.as_deref(),
                    c.cid,
                    c.ifname,
                    Some(&a.host_veth),
                )?;
            }
        }
        Loaded::Corrupt => {
            if let IpamKind::Delegated(kind) = &conf.ipam.kind {
                delegate::exec(&c.env.path, kind, "DEL", &conf.raw)?;
            }
            let _lock = HostLock::acquire(&conf.run_dir)?;
            let found = recover::search(
                &c.store,
                &Netlink::open()?,
                &conf.name,
                data_dir.as_deref(),
                c.cid,
                c.ifname,
                None,
            )?;
            eprintln!(
                "hostnet: DEL {}/{}-{}: record unreadable; released {} address(es), {} claim(s), {} element(s){}",
                conf.name,
                c.cid,
                c.ifname,
                found.ips.len(),
                found.claims,
                found.elements,
                if found.veth { " and the host veth" } else { "" }
            );
        }
        Loaded::Absent => without_record(&c)?,
    }
    recover::remove_lease(&c.store, &conf.name, c.cid, c.ifname)?;
    Ok(())
}

/// Remove the host veth if it is still there and still a veth.
fn delete_host_veth(name: &str) -> Result<()> {
    let nl = Netlink::open()?;
    if let Some(link) = nl.link(name)?
        && link.kind.as_deref() == Some("veth")
    {
        delete_link_quietly(link.index).ctx(format!("deleting {name}"))?;
    }
    Ok(())
}

/// Undo one attachment entirely (also used by GC, which tells a delegated
/// IPAM plugin with GC instead of one DEL per attachment).
///
/// Under the host lock the record is first marked as being released (our
/// pid), so `check` and `gc` leave it alone while the veth goes; the record
/// itself is removed last, once the veth is gone: a crash at any point
/// leaves a record that the next DEL or `gc` finishes.
pub fn release(c: &Ctx<'_>, a: &Attachment, delegated_del: bool) -> Result<()> {
    restore_container_sysctls(c, a);
    if delegated_del && let IpamKind::Delegated(kind) = &c.conf.ipam.kind {
        delegate::exec(&c.env.path, kind, "DEL", &c.conf.raw)?;
    }
    // Deleting a link waits for RCU (rcu_barrier, 15-20 ms here): it runs on
    // its own thread while the state is released under the host lock.
    std::thread::scope(|s| {
        let lock = HostLock::acquire(&c.conf.run_dir)?;
        let mut marked = a.clone();
        marked.pid = Some(std::process::id());
        record::write(&c.store, &marked)?;
        let veth = s.spawn(|| delete_host_veth(&a.host_veth));
        let rest = release_state(c, a);
        drop(lock);
        let veth = veth
            .join()
            .unwrap_or_else(|_| Err(Error::new(Kind::Internal, "deleting the veth panicked")));
        // Only now close the nf_tables socket that deleted the elements: its
        // release flushes nf_tables' destroy work under the commit mutex, and
        // a device removal needs that mutex, so closing it earlier would make
        // the veth delete wait behind the flush. By now the grace period the
        // flush waits for has usually passed (1-1.5 ms instead of 10-14 ms).
        nft::close_parked_socket();
        veth.and(rest)?;
        let _lock = HostLock::acquire(&c.conf.run_dir)?;
        record::remove(&c.store, a)?;
        Ok(())
    })
}

/// Namespace-wide tuning sysctls: put back when the netns is still there,
/// never into the plugin's own namespace (a CNI_NETNS naming the host would
/// write the container's old values there). Nothing else of DEL uses
/// CNI_NETNS: the record names the host veth, and no link is ever looked up
/// by CNI_IFNAME on the host.
fn restore_container_sysctls(c: &Ctx<'_>, a: &Attachment) {
    if !a.sysctl_before.is_empty()
        && let Some(ns) = c
            .env
            .netns
            .as_deref()
            .filter(|ns| Path::new(ns).exists() && !super::netns_guard::is_own(ns))
    {
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
}

/// Claims, elements and address files; the caller holds the host lock.
fn release_state(c: &Ctx<'_>, a: &Attachment) -> Result<()> {
    // the elements as they were claimed (same-port runs as one interval);
    // recomputed from the record when the claims are already gone
    let mut elements = Vec::new();
    if !a.port_mappings.is_empty() {
        elements = ports::unclaim(&c.store, &a.container_id, &a.port_mappings)?;
        if elements.is_empty() {
            elements = ports::elements_for(&a.container_id, &a.port_mappings);
        }
    }
    // port elements and the veth's anti-spoofing elements: one transaction
    let siblings = record::siblings(&c.store, &a.network, &a.container_id, &a.ifname)?;
    match nft::update(&[], &elements, &[], &a.guards(&siblings), true) {
        Ok(()) => {}
        // no table: no elements to remove
        Err(e) if e.kind == Kind::NotFound || e.errno() == Some(libc::ENOENT) => {}
        Err(e) => return Err(e).ctx("deleting port mappings and anti-spoofing elements"),
    }
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
/// plugin. Clean up what prevResult names, then the delegated IPAM.
fn without_record(c: &Ctx<'_>) -> Result<()> {
    let prev = match &c.conf.prev_result {
        Some(v) => AddResult::from_json(v).ok(),
        None => None,
    };
    if let Some(prev) = &prev {
        for iface in prev
            .interfaces
            .iter()
            .filter(|i| i.sandbox.is_none() && i.name.starts_with("veth"))
        {
            delete_host_veth(&iface.name)?;
        }
    }
    match &c.conf.ipam.kind {
        IpamKind::Delegated(kind) => {
            delegate::exec(&c.env.path, kind, "DEL", &c.conf.raw)?;
        }
        IpamKind::HostLocal { data_dir, .. } => {
            // prevResult's addresses, and those the lease names (a record
            // gone with a reboot: the address files survived it)
            let mut ips: Vec<IpAddr> = prev
                .iter()
                .flat_map(|p| p.ips.iter().map(|i| i.address.ip()))
                .collect();
            ips.extend(recover::lease(&c.store, &c.conf.name, c.cid, c.ifname)?);
            if !ips.is_empty() {
                let _lock = HostLock::acquire(&c.conf.run_dir)?;
                let hl = HostLocal::new(data_dir, &c.conf.name);
                let _dl = hl.lock()?;
                for ip in ips {
                    hl.release(ip, c.cid, c.ifname)?;
                }
            }
        }
    }
    Ok(())
}
