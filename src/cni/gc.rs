//! GC (1.1): release every attachment, address reservation and port mapping
//! of this network whose (container id, ifname) is not in
//! `cni.dev/valid-attachments`, and anti-spoofing elements of veths no
//! attachment record names. GC may list; it keeps going past errors and
//! reports them all at the end.

use std::collections::BTreeSet;

use ipnetwork::IpNetwork;

use super::add::Ctx;
use super::config::{IpamKind, NetConf};
use super::del;
use super::env::Env;
use super::ipam::delegate;
use crate::core::ipam::hostlocal::HostLocal;
use crate::core::lock::HostLock;
use crate::core::ports::{self, STATIC_OWNER};
use crate::core::record;
use crate::core::state::Store;
use crate::error::{Error, Kind, Result};
use crate::kernel::nft;

pub fn gc(env: &Env, conf: &NetConf) -> Result<()> {
    let Some(valid) = &conf.valid_attachments else {
        return Err(Error::invalid(
            "GC needs cni.dev/valid-attachments (an empty list releases everything)",
        ));
    };
    let valid: BTreeSet<(String, String)> = valid.iter().cloned().collect();
    let valid_ids: BTreeSet<&str> = valid.iter().map(|(id, _)| id.as_str()).collect();
    let store = Store::new(&conf.state_dir, &conf.run_dir);
    let mut errors: Vec<String> = Vec::new();

    // 1. attachments with a record
    for a in record::list_network(&store, &conf.name)? {
        if valid.contains(&(a.container_id.clone(), a.ifname.clone())) {
            continue;
        }
        let c = Ctx {
            env,
            conf,
            cid: &a.container_id,
            ifname: &a.ifname,
            store: store.clone(),
        };
        if let Err(f) = del::release(&c, &a, false) {
            errors.push(format!("{}: {}", a.key(), f.msg));
        }
    }

    let subnets: Vec<IpNetwork> = match store.network(&conf.name)? {
        Some(rec) => rec.network.subnets.iter().map(|s| s.subnet).collect(),
        None => match &conf.ipam.kind {
            IpamKind::HostLocal { range_sets, .. } => {
                range_sets.iter().map(|s| s.subnet()).collect()
            }
            IpamKind::Delegated(_) => Vec::new(),
        },
    };
    let ours = |ip: std::net::IpAddr| subnets.iter().any(|s| s.contains(ip));
    let stale_owner = |owner: &str| owner != STATIC_OWNER && !valid_ids.contains(owner);

    {
        let _lock = HostLock::acquire(&conf.run_dir)?;
        // 2. address files without a valid attachment
        if let IpamKind::HostLocal { data_dir, .. } = &conf.ipam.kind {
            let hl = HostLocal::new(data_dir, &conf.name);
            let _dl = hl.lock()?;
            for (ip, id, ifname) in hl.entries()? {
                let keep = if ifname.is_empty() {
                    valid_ids.contains(id.as_str())
                } else {
                    valid.contains(&(id.clone(), ifname.clone()))
                };
                if !keep && let Err(f) = hl.release(ip, &id, &ifname) {
                    errors.push(format!("releasing {ip}: {}", f.msg));
                }
            }
        }
        // 3. port claims on disk, then 4. elements in the kernel
        let mut stale = Vec::new();
        // per owner at once: a same-port range is released only as a whole
        let mut by_owner: std::collections::BTreeMap<String, Vec<ports::PortMapping>> =
            Default::default();
        for (owner, m) in ports::all(&store)? {
            if stale_owner(&owner) && ours(m.dest_ip) {
                by_owner.entry(owner).or_default().push(m);
            }
        }
        for (owner, list) in by_owner {
            match ports::unclaim(&store, &owner, &list) {
                Ok(els) => stale.extend(els),
                Err(e) => errors.push(format!("releasing host ports of {owner}: {}", e.msg)),
            }
        }
        if nft::read_table()?.is_some() {
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
        // 5. anti-spoofing elements of a veth no record names (an ADD whose
        // record was lost): records are written under the lock held here,
        // in the critical section that adds the elements, so none is in flight
        let recorded: BTreeSet<String> = record::attachments(&store)?
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
    }
    if let IpamKind::Delegated(kind) = &conf.ipam.kind
        && let Err(f) = delegate::exec(&env.path, kind, "GC", &conf.raw)
    {
        errors.push(f.msg);
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
