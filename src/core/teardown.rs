//! `hostnet teardown`: remove exactly what hostnet created: its table, the
//! bridges it created (addresses it added to adopted ones), the conflists it
//! wrote and its state, as one plan with undo; then the bookkeeping left
//! around it (`leftovers`). Forwarding sysctls stay unless `restore_sysctl`.

use std::path::PathBuf;

use crate::core::attachments;
use crate::core::desired;
use crate::core::index;
use crate::core::leftovers;
use crate::core::lock::HostLock;
use crate::core::networks;
use crate::core::plan::{self, Action};
use crate::core::ports;
use crate::core::recover;
use crate::core::state::Store;
use crate::error::Result;
use crate::kernel::link::Netlink;
use crate::kernel::nft;
use crate::kernel::sysctl;

pub struct Options {
    /// Put the forwarding sysctls back as they were before hostnet.
    pub restore_sysctl: bool,
    /// The store is the default one: host-local's default data directory is
    /// hostnet's to sweep too.
    pub default_state: bool,
}

/// With `dry_run`, the actions it would take (nothing changes, no lock);
/// otherwise what it did, one line each (the sweep's lines only next to a
/// teardown that removed something).
pub fn teardown(store: &Store, opts: &Options, dry_run: bool) -> Result<Vec<String>> {
    let _lock = if dry_run {
        None
    } else {
        Some(HostLock::acquire(&store.run)?)
    };
    let nl = Netlink::open()?;
    let networks = store.networks()?;
    let mut ipam_dirs: Vec<PathBuf> = leftovers::conflist_ipam_dirs(&networks, opts.default_state);
    let mut actions = Vec::new();
    // the address directories ADD noted per network (state/ipam/<net>.json)
    for rec in &networks {
        for d in recover::noted_data_dirs(store, &rec.network.name)? {
            ipam_dirs.push(d.join(&rec.network.name));
        }
    }

    // containers first: their host veths (the container ends go with them),
    // address reservations and records; then every claimed host port
    let attachments = attachments::attachments(store)?;
    for a in &attachments {
        if nl
            .link(&a.host_veth)?
            .is_some_and(|l| l.kind.as_deref() == Some("veth"))
        {
            actions.push(Action::DeleteLink {
                name: a.host_veth.clone(),
            });
        }
        for path in attachments::attachment_files(store, a)? {
            actions.push(Action::RemoveFile { path });
        }
    }
    for path in ports::claim_files(store)? {
        actions.push(Action::RemoveFile { path });
    }
    // hostnet's accept rules in Docker's filter FORWARD chains, and nothing else there
    if let Some(action) = Action::forward_accepts(Vec::new())? {
        actions.push(action);
    }
    if store.settings_path().exists() {
        actions.push(Action::RemoveFile {
            path: store.settings_path(),
        });
    }
    if nft::inet_table_exists()? {
        let previous = Some(desired::table_spec(store, &networks)?);
        actions.push(Action::DeleteTable { previous });
    }
    for rec in &networks {
        let net = &rec.network;
        actions.extend(networks::bridge_actions(&nl, rec)?);
        if let Some(path) = &rec.conflist
            && path.exists()
        {
            actions.push(Action::RemoveFile { path: path.clone() });
        }
        actions.push(Action::RemoveFile {
            path: store.network_path(&net.name),
        });
        let noted = recover::noted_data_dirs_path(store, &net.name);
        if noted.exists() {
            actions.push(Action::RemoveFile { path: noted });
        }
    }
    let boot_id = recover::boot_file(store);
    if boot_id.exists() {
        actions.push(Action::RemoveFile { path: boot_id });
    }
    if opts.restore_sysctl {
        for (name, value) in store.sysctl_before()? {
            let key = if name == sysctl::ipv4_forward().to_string() {
                sysctl::ipv4_forward()
            } else if name == sysctl::ipv6_forward().to_string() {
                sysctl::ipv6_forward()
            } else {
                continue;
            };
            if sysctl::read(&key)? != value {
                actions.push(Action::Sysctl { key, value });
            }
        }
        // the record of what forwarding was before hostnet goes with the restore;
        // while forwarding stays as hostnet set it, the record stays too
        actions.push(Action::RemoveFile {
            path: store.sysctl_before_path(),
        });
    }

    if dry_run {
        return Ok(actions.iter().map(|a| a.to_string()).collect());
    }
    let mut done = Vec::new();
    plan::execute(&nl, &actions, |a| done.push(a.to_string()))?;
    // the per-container index goes with the records it indexes (derived
    // from them, so not part of the undoable plan)
    index::remove_all(store)?;
    // no file hostnet created stays: bookkeeping, the lock, empty directories
    // (reported only next to a teardown that removed something)
    ipam_dirs.extend(leftovers::ipam_dirs(&attachments));
    ipam_dirs.sort();
    ipam_dirs.dedup();
    let swept = leftovers::sweep(&store.dir, &store.run, &ipam_dirs)?;
    if !done.is_empty() {
        done.extend(swept);
    }
    Ok(done)
}
