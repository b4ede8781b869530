//! What `hostnet gc` releases and `hostnet check` reports, found from the
//! state and the kernel alone: attachments whose veth or netns is gone,
//! address files and port claims without a live attachment, elements whose
//! owner has no record, veths hostnet made on managed bridges that nobody
//! owns (named after an attachment with address files but no live record;
//! veths attached by hand are left alone), temp files of dead processes and
//! index entries whose record is gone.
//! The caller holds the host lock.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;

use super::index;
use super::ipam::hostlocal::HostLocal;
use super::record::{self, Attachment};
use super::recover::{self, tolerate_no_table};
use crate::core::ports::{self, PortMapping, STATIC_OWNER};
use crate::core::state::{self, Store};
use crate::error::Result;
use crate::kernel::link::Netlink;
use crate::kernel::nft::{self, PortElement};

/// host-local's default data directory (where a conflist without dataDir
/// keeps its reservations).
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

#[derive(Debug, Clone)]
pub enum Orphan {
    /// A record whose veth, netns or ADD is gone.
    Attachment(Box<Attachment>),
    /// An address file of a managed network without a live attachment.
    Address {
        data_dir: PathBuf,
        network: String,
        ip: IpAddr,
        id: String,
        ifname: String,
    },
    /// A container's port claim without a live attachment to its destination.
    Claim { owner: String, mapping: PortMapping },
    /// A kernel element whose owner has no record (or no static claim).
    Element(PortElement),
    /// Anti-spoofing elements of a veth no record names.
    Guard(nft::PortGuard),
    /// A veth hostnet made on a managed bridge that no record owns.
    Veth(String),
    /// A temp file of a dead process, or a marker of a record set aside.
    File(PathBuf),
    /// An entry of the per-container index whose record is gone.
    IndexEntry(PathBuf),
}

impl std::fmt::Display for Orphan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Orphan::Attachment(a) => write!(
                f,
                "attachment {} (veth {}, netns or ADD gone)",
                a.key(),
                a.host_veth
            ),
            Orphan::Address {
                network,
                ip,
                id,
                ifname,
                ..
            } => write!(
                f,
                "address {ip} of network {network} (container {id} {ifname}: no live attachment)"
            ),
            Orphan::Claim { owner, mapping } => write!(
                f,
                "host port {}/{} -> {}:{} claimed by container {owner} (no live attachment)",
                mapping.proto.name(),
                mapping.host_port,
                mapping.dest_ip,
                mapping.dest_port
            ),
            Orphan::Element(e) => {
                write!(f, "nftables element {}", super::attachments::element_key(e))
            }
            Orphan::Veth(name) => write!(f, "veth {name} on a managed bridge (no owner)"),
            Orphan::Guard(g) => write!(
                f,
                "anti-spoofing elements of veth {} ({} address(es); no record names it)",
                g.port,
                g.addrs.len()
            ),
            Orphan::File(p) => write!(f, "file {}", p.display()),
            Orphan::IndexEntry(p) => write!(f, "index entry {} (no record)", p.display()),
        }
    }
}

/// `hostnet gc`: under the host lock, the orphans found (one line each)
/// and, unless `dry_run`, released; with what could not be released.
pub fn gc(store: &Store, dry_run: bool) -> Result<(Vec<String>, Vec<String>)> {
    let _lock = super::lock::HostLock::acquire(&store.run)?;
    let nl = Netlink::open()?;
    let found = find(store, &nl)?;
    let problems = if dry_run {
        Vec::new()
    } else {
        release(store, &nl, &found)
    };
    Ok((found.iter().map(|o| o.to_string()).collect(), problems))
}

/// Everything to release, in the order to release it.
pub fn find(store: &Store, nl: &Netlink) -> Result<Vec<Orphan>> {
    let mut out = Vec::new();
    let records = record::attachments(store)?;
    let mut live: Vec<&Attachment> = Vec::new();
    let mut dead_keys: BTreeSet<(String, String, String)> = BTreeSet::new();
    for a in &records {
        if recover::is_live(nl, a)? {
            live.push(a);
        } else {
            dead_keys.insert((a.network.clone(), a.container_id.clone(), a.ifname.clone()));
            out.push(Orphan::Attachment(Box::new(a.clone())));
        }
    }
    let live_keys: BTreeSet<(String, String, String)> = live
        .iter()
        .map(|a| (a.network.clone(), a.container_id.clone(), a.ifname.clone()))
        .collect();
    // (owner, destination) pairs a record accounts for; an unfinished
    // record (an ADD under way, or one that crashed: released by search)
    // accounts for everything of its container
    let accounted = |owner: &str, ip: IpAddr| {
        records.iter().any(|a| {
            a.container_id == owner && (!a.complete || a.ips.iter().any(|i| i.address.ip() == ip))
        })
    };
    let networks = store.networks()?;

    // host veth names of attachments hostnet has files for but no live record
    let mut candidates: BTreeSet<String> = BTreeSet::new();
    // address files
    for rec in &networks {
        let net = &rec.network;
        for dir in data_dirs(store, &net.name, &records)? {
            let hl = HostLocal::new(&dir, &net.name);
            for (ip, id, ifname) in hl.entries()? {
                let key = (net.name.clone(), id.clone(), ifname.clone());
                if ifname.is_empty()
                    || live_keys.contains(&key)
                    || dead_keys.contains(&key)
                    || !net.subnets.iter().any(|s| s.subnet.contains(ip))
                {
                    continue;
                }
                candidates.insert(super::vethname::derived(&net.name, &id, &ifname));
                out.push(Orphan::Address {
                    data_dir: dir.clone(),
                    network: net.name.clone(),
                    ip,
                    id,
                    ifname,
                });
            }
            out.extend(state::dead_temps(&hl.dir)?.into_iter().map(Orphan::File));
        }
    }

    // container claims on disk
    for (owner, m) in ports::all(store)? {
        if owner != STATIC_OWNER && !accounted(&owner, m.dest_ip) {
            out.push(Orphan::Claim { owner, mapping: m });
        }
    }

    // elements in the kernel
    if nft::table_exists()? {
        let statics: BTreeSet<PortElement> = ports::persisted_elements(store)?
            .into_iter()
            .filter(|e| e.owner == STATIC_OWNER)
            .collect();
        for e in nft::read_ports()? {
            let orphan = if e.owner == STATIC_OWNER {
                !statics.contains(&e)
            } else {
                !accounted(&e.owner, e.dest_ip)
            };
            if orphan {
                out.push(Orphan::Element(e));
            }
        }
    }

    // anti-spoofing elements of veths no record names
    let named: BTreeSet<&str> = records.iter().map(|a| a.host_veth.as_str()).collect();
    match nft::read_guards() {
        Ok(guards) => {
            for g in guards {
                if !named.contains(g.port.as_str()) {
                    out.push(Orphan::Guard(g));
                }
            }
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }

    // veths on managed bridges that hostnet made (named after an attachment
    // it has address files for) and no record owns; a veth someone attached
    // by hand is not hostnet's to delete
    let owned: BTreeSet<&str> = records.iter().map(|a| a.host_veth.as_str()).collect();
    let mut bridges = Vec::new();
    for rec in &networks {
        if let Some(l) = nl.link(&rec.network.bridge)? {
            bridges.push(l.index);
        }
    }
    for l in nl.links()? {
        if l.kind.as_deref() == Some("veth")
            && l.master.is_some_and(|m| bridges.contains(&m))
            && !owned.contains(l.name.as_str())
            && candidates.contains(&l.name)
        {
            out.push(Orphan::Veth(l.name));
        }
    }

    // temp files and markers
    for d in &state_dirs(store, &networks) {
        out.extend(state::dead_temps(d)?.into_iter().map(Orphan::File));
    }
    out.extend(index::dangling(store)?.into_iter().map(Orphan::IndexEntry));
    for rec in &networks {
        let lost = store
            .attachments_dir()
            .join(&rec.network.name)
            .join(".lost");
        if let Ok(rd) = std::fs::read_dir(&lost) {
            for e in rd.flatten() {
                out.push(Orphan::File(e.path()));
            }
        }
    }
    Ok(out)
}

/// The IPAM data directories hostnet may have address files of `network`
/// in: host-local's default, those its records, leases and notes name.
fn data_dirs(store: &Store, network: &str, records: &[Attachment]) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = vec![PathBuf::from(DEFAULT_DATA_DIR)];
    for a in records.iter().filter(|a| a.network == network) {
        if let Some(d) = &a.ipam.data_dir
            && !dirs.contains(d)
        {
            dirs.push(d.clone());
        }
    }
    let mut known = recover::lease_data_dirs(store, network)?;
    known.extend(recover::noted_data_dirs(store, network)?);
    for d in known {
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    Ok(dirs)
}

/// The directories of hostnet's own state that atomic writes put temp
/// files under.
fn state_dirs(store: &Store, networks: &[state::NetworkRecord]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = vec![
        store.dir.clone(),
        store.dir.join("networks"),
        store.dir.join("ports"),
        store.dir.join("ipam"),
        store.run.clone(),
        store.run.join("ports"),
    ];
    for rec in networks {
        dirs.push(store.attachments_dir().join(&rec.network.name));
        dirs.push(store.dir.join("leases").join(&rec.network.name));
        if let Some(c) = &rec.conflist
            && let Some(d) = c.parent()
        {
            dirs.push(d.to_path_buf());
        }
    }
    dirs
}

/// `init`: remove the temp files of dead writers (a crash, a kill -9, a
/// reboot in the middle of a write) from hostnet's state and the managed
/// networks' IPAM directories; one line per removed file. The caller holds
/// the host lock.
pub fn sweep_dead_temps(store: &Store) -> Result<Vec<String>> {
    let records = record::attachments(store)?;
    let networks = store.networks()?;
    let mut dirs = state_dirs(store, &networks);
    for rec in &networks {
        for d in data_dirs(store, &rec.network.name, &records)? {
            dirs.push(HostLocal::new(&d, &rec.network.name).dir);
        }
    }
    let mut done = Vec::new();
    for d in &dirs {
        for p in state::remove_dead_temps(d)? {
            done.push(format!(
                "removed {} (temp file of a dead writer)",
                p.display()
            ));
        }
    }
    Ok(done)
}

/// Release what `find` found; returns the problems (it keeps going).
pub fn release(store: &Store, nl: &Netlink, orphans: &[Orphan]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut note = |what: &Orphan, r: Result<()>| {
        if let Err(e) = r {
            problems.push(format!("{what}: {}", e.msg));
        }
    };
    for o in orphans {
        let r = match o {
            Orphan::Attachment(a) => recover::release_attachment(store, nl, a, true),
            Orphan::Address {
                data_dir,
                network,
                ip,
                id,
                ifname,
            } => (|| {
                let hl = HostLocal::new(data_dir, network);
                let _dl = hl.lock()?;
                hl.release(*ip, id, ifname)?;
                Ok(())
            })(),
            Orphan::Claim { owner, mapping } => (|| {
                let els = ports::unclaim(store, owner, std::slice::from_ref(mapping))?;
                tolerate_no_table(nft::update_ports(&[], &els, true))
            })(),
            Orphan::Element(e) => {
                tolerate_no_table(nft::update_ports(&[], std::slice::from_ref(e), true))
            }
            Orphan::Veth(name) => recover::delete_veth(nl, name).map(|_| ()),
            Orphan::Guard(g) => {
                tolerate_no_table(nft::update(&[], &[], &[], std::slice::from_ref(g), true))
            }
            Orphan::File(p) => state::remove_file_if_exists(p),
            Orphan::IndexEntry(p) => index::remove_path(p),
        };
        note(o, r);
    }
    problems
}
