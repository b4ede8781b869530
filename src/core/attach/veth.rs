//! Phase 2 of ADD, without the host lock: the veth, its peer born in the
//! container netns, the host end on the bridge (hairpin, isolation) and up.

use std::os::fd::AsFd;

use super::spec::Request;
use crate::core::lock::HostLock;
use crate::core::record::{self, Attachment};
use crate::core::recover;
use crate::core::txn::Transaction;
use crate::core::vethname;
use crate::error::{Context, Error, Kind, Result};
use crate::kernel::link::{LinkInfo, Netlink};
use crate::kernel::nft::{self, PortGuard};

/// Fault injection for tests: `HOSTNET_FAULT=<point>` panics at that point.
fn fault(point: &str) {
    if std::env::var("HOSTNET_FAULT").is_ok_and(|p| p == point) {
        panic!("injected fault at {point}");
    }
}

/// Delete a link by index; one already gone is fine.
pub fn delete_link_quietly(nl: &Netlink, index: u32) -> Result<()> {
    match nl.delete_link(index) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.errno(), Some(libc::ENODEV) | Some(libc::ENOENT)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Create the pair and put the host end on the bridge; returns the bridge
/// and the host end as the kernel has them. The record follows the host
/// end's name if the derived one was taken (a hash collision).
pub fn create<'a>(
    req: &'a Request,
    rec: &mut Attachment,
    guard: &PortGuard,
    tx: &mut Transaction<'a>,
) -> Result<(LinkInfo, Option<LinkInfo>)> {
    let (c, bridge_name) = (&req.container, &req.network.bridge);
    let nl = Netlink::open()?;
    let Some(bridge) = nl.link(bridge_name)? else {
        return Err(Error::new(
            Kind::Kernel(libc::ENODEV),
            format!("bridge {bridge_name} vanished right after setting it up"),
        ));
    };
    if req.link.promisc {
        nl.set_link_flags(bridge.index, Some(true), None, None)
            .ctx(format!("promiscMode on {bridge_name}"))?;
    }
    let exists_inside = || {
        Error::conflict(format!(
            "an interface named {} already exists in the container netns {}",
            c.ifname, c.netns
        ))
    };
    // born a port of the bridge (down: see create_veth)
    let make = |name: &str| {
        nl.create_veth(
            name,
            &c.ifname,
            c.netns_file.as_fd(),
            req.link.mtu,
            req.link.mac,
            Some(bridge.index),
        )
    };
    let host_index = match make(&rec.host_veth) {
        Ok(i) => {
            undo_veth(tx, i);
            i
        }
        Err(e) if e.errno() == Some(libc::EEXIST) => {
            if nl.link(&rec.host_veth)?.is_none() {
                return Err(exists_inside());
            }
            // the derived name is taken on the host: a hash collision
            let name = vethname::random()?;
            let i = match make(&name) {
                Ok(i) => i,
                Err(e) if e.errno() == Some(libc::EEXIST) => return Err(exists_inside()),
                Err(e) => {
                    // as below: the pair may exist, under this name
                    let _ = recover::delete_veth(&nl, &name);
                    return Err(e);
                }
            };
            undo_veth(tx, i);
            rename_guard(req, rec, name, guard, tx)?;
            i
        }
        Err(e) => {
            // the kernel may have made the pair before the error (a
            // transient netlink failure): it had our unused name, remove it
            let _ = recover::delete_veth(&nl, &rec.host_veth);
            return Err(e);
        }
    };
    fault("after-veth");
    let end = format!("host end {}", rec.host_veth);
    nl.prepare_port(host_index, req.link.hairpin, req.link.isolated)
        .ctx(&end)?;
    nl.set_up(host_index).ctx(&end)?;
    let host_link = nl.link_by_index(host_index)?;
    Ok((bridge, host_link))
}

fn undo_veth(tx: &mut Transaction<'_>, index: u32) {
    tx.done("deleting the veth", move || {
        delete_link_quietly(&Netlink::open()?, index)
    });
}

/// The veth got another name: its anti-spoofing elements and the record
/// follow it (one nftables transaction, under the host lock).
fn rename_guard<'a>(
    req: &'a Request,
    rec: &mut Attachment,
    name: String,
    old: &PortGuard,
    tx: &mut Transaction<'a>,
) -> Result<()> {
    rec.host_veth = name;
    let new = PortGuard {
        port: rec.host_veth.clone(),
        ..old.clone()
    };
    let _lock = HostLock::acquire(&req.store.run)?;
    nft::update(
        &[],
        &[],
        std::slice::from_ref(&new),
        std::slice::from_ref(old),
        false,
    )
    .ctx("moving the anti-spoofing elements to the new veth name")?;
    tx.done(
        "deleting the renamed veth's anti-spoofing elements",
        move || {
            let _lock = HostLock::acquire(&req.store.run)?;
            nft::update(&[], &[], &[], std::slice::from_ref(&new), true)
        },
    );
    record::write(&req.store, rec)
}
