//! What survives a crash, a power cut or a reboot, and how it is released.
//!
//! - `lease`: `<state-dir>/leases/<net>/<cid>-<ifname>.json`, the addresses
//!   an attachment last had. It survives a reboot (the address files do too),
//!   so a container that comes back gets the same address when it is still
//!   free, and a DEL after a reboot (no record: it died with the kernel)
//!   still finds its address files. Removed by DEL.
//! - `is_live`: a record is live while its host veth exists and its netns
//!   path (if any) does, or while the ADD that wrote it still runs.
//! - `release_locked`: undo a record's host state (claims, elements,
//!   address files, record) under the host lock the caller holds.
//! - `search`: what a lost or unfinished record held, found from the
//!   address files, the claims and the kernel's elements (crash recovery
//!   only: these are listings).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::ipam::hostlocal::HostLocal;
use super::record::{self, Attachment};
use super::vethname;
use crate::core::ports;
use crate::core::state::{Durability, Store, read_json_opt, remove_file_if_exists, write_json};
use crate::error::{Error, Kind, Result};
use crate::kernel::link::Netlink;
use crate::kernel::nft::{self, PortElement};

pub fn lease_path(store: &Store, network: &str, cid: &str, ifname: &str) -> PathBuf {
    store
        .dir
        .join("leases")
        .join(network)
        .join(format!("{cid}-{ifname}.json"))
}

/// What a lease file holds.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Lease {
    /// host-local's data directory (so `gc` finds it without a record).
    pub data_dir: Option<PathBuf>,
    pub ips: Vec<IpAddr>,
}

/// The addresses this attachment last had (empty if none recorded).
pub fn lease(store: &Store, network: &str, cid: &str, ifname: &str) -> Result<Vec<IpAddr>> {
    Ok(
        read_json_opt::<Lease>(&lease_path(store, network, cid, ifname))?
            .map(|l| l.ips)
            .unwrap_or_default(),
    )
}

/// Remember the addresses (no fsync: a power cut takes the container too;
/// the lease only helps to give the same address back).
pub fn save_lease(
    store: &Store,
    network: &str,
    cid: &str,
    ifname: &str,
    data_dir: Option<&Path>,
    ips: &[IpAddr],
) -> Result<()> {
    let lease = Lease {
        data_dir: data_dir.map(Path::to_path_buf),
        ips: ips.to_vec(),
    };
    write_json(
        &lease_path(store, network, cid, ifname),
        &lease,
        Durability::Hint,
    )
}

/// `<state>/ipam/<network>.json`: the address directories ADD noted.
pub fn noted_data_dirs_path(store: &Store, network: &str) -> PathBuf {
    store.dir.join("ipam").join(format!("{network}.json"))
}

/// Remember that `network` keeps address files in `dir` (so `gc` finds
/// them when no record or lease is left). Written only when new.
pub fn note_data_dir(store: &Store, network: &str, dir: &Path) -> Result<()> {
    let path = noted_data_dirs_path(store, network);
    let mut dirs: Vec<PathBuf> = read_json_opt(&path)?.unwrap_or_default();
    if dirs.iter().any(|d| d == dir) {
        return Ok(());
    }
    dirs.push(dir.to_path_buf());
    write_json(&path, &dirs, Durability::Durable)
}

/// Every host-local data directory `network` used (noted by ADD).
pub fn noted_data_dirs(store: &Store, network: &str) -> Result<Vec<PathBuf>> {
    Ok(read_json_opt(&noted_data_dirs_path(store, network))?.unwrap_or_default())
}

/// Every host-local data directory named by a lease of `network`.
pub fn lease_data_dirs(store: &Store, network: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in crate::core::state::list_json(&store.dir.join("leases").join(network))? {
        if let Some(dir) = read_json_opt::<Lease>(&p)?.and_then(|l| l.data_dir)
            && !out.contains(&dir)
        {
            out.push(dir);
        }
    }
    Ok(out)
}

pub fn remove_lease(store: &Store, network: &str, cid: &str, ifname: &str) -> Result<()> {
    remove_file_if_exists(&lease_path(store, network, cid, ifname))
}

fn pid_alive(pid: u32) -> bool {
    pid != 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// Is another running process (an ADD or a DEL) working on this record?
pub fn in_progress(a: &Attachment) -> bool {
    a.pid
        .is_some_and(|p| p != std::process::id() && pid_alive(p))
}

/// Does this record still describe a container? Its host veth is there
/// (a veth) and its netns path, if it has one, exists; or the ADD or DEL
/// working on it is still running.
pub fn is_live(nl: &Netlink, a: &Attachment) -> Result<bool> {
    if in_progress(a) {
        return Ok(true);
    }
    if !a.complete {
        return Ok(false);
    }
    let veth = nl
        .link(&a.host_veth)?
        .is_some_and(|l| l.kind.as_deref() == Some("veth"));
    let netns = a.netns.is_empty() || !a.netns.starts_with('/') || Path::new(&a.netns).exists();
    Ok(veth && netns)
}

/// A removal that found no table (a flushed ruleset) or no such element:
/// nothing was there to remove.
pub(crate) fn tolerate_no_table(r: Result<()>) -> Result<()> {
    match r {
        Err(e) if e.is_not_found() => Ok(()),
        r => r,
    }
}

/// Release a record's claims, elements, address files and the record itself
/// (not the veth; not the lease). The caller holds the host lock.
pub fn release_locked(store: &Store, a: &Attachment) -> Result<()> {
    if !a.port_mappings.is_empty() {
        // the elements as they were claimed (same-port runs as one
        // interval); recomputed from the record when the claims are gone
        let mut elements = ports::unclaim(store, &a.container_id, &a.port_mappings)?;
        if elements.is_empty() {
            elements = ports::elements_for(&a.container_id, &a.port_mappings);
        }
        tolerate_no_table(nft::update_ports(&[], &elements, true))?;
    }
    // the veth's anti-spoofing elements (and its siblings' for these addresses)
    let siblings = record::siblings(store, &a.network, &a.container_id, &a.ifname)?;
    tolerate_no_table(nft::update(&[], &[], &[], &a.guards(&siblings), true))?;
    if let Some(dir) = &a.ipam.data_dir {
        let hl = HostLocal::new(dir, &a.network);
        let _dl = hl.lock().map_err(|f| Error::new(Kind::Io, f.msg))?;
        for ip in &a.ips {
            hl.release(ip.address.ip(), &a.container_id, &a.ifname)
                .map_err(|f| Error::new(Kind::Io, f.msg))?;
        }
    }
    record::remove(store, a)
}

/// Delete a host veth by name if it is there and is a veth.
/// Release an attachment whose container is gone: its host veth (unless a
/// reboot took it already), then everything its record names, then, for a
/// record an ADD never finished, whatever that ADD may have taken unrecorded.
/// Caller holds the host lock.
pub fn release_attachment(store: &Store, nl: &Netlink, a: &Attachment, veth: bool) -> Result<()> {
    if veth {
        delete_veth(nl, &a.host_veth)?;
    }
    release_locked(store, a)?;
    if !a.complete {
        search(
            store,
            nl,
            &a.network,
            a.ipam.data_dir.as_deref(),
            &a.container_id,
            &a.ifname,
            Some(&a.host_veth),
        )?;
    }
    Ok(())
}

pub fn delete_veth(nl: &Netlink, name: &str) -> Result<bool> {
    match nl.link(name)? {
        Some(l) if l.kind.as_deref() == Some("veth") => match nl.delete_link(l.index) {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.errno(), Some(libc::ENODEV) | Some(libc::ENOENT)) => Ok(false),
            Err(e) => Err(e),
        },
        _ => Ok(false),
    }
}

/// What a search released.
#[derive(Debug, Default)]
pub struct Found {
    pub ips: Vec<IpAddr>,
    pub claims: usize,
    pub elements: usize,
    pub veth: bool,
}

/// Release everything of (network, cid, ifname) that can be found without
/// its record: address files naming it (and those its lease names), port
/// claims of cid to those addresses, elements owned by cid to those
/// addresses, the derived host veth (plus `veth`, if known). The caller holds
/// the host lock. A listing: for a lost or unfinished record only.
pub fn search(
    store: &Store,
    nl: &Netlink,
    network: &str,
    data_dir: Option<&Path>,
    cid: &str,
    ifname: &str,
    veth: Option<&str>,
) -> Result<Found> {
    let mut found = Found::default();
    if let Some(dir) = data_dir {
        let hl = HostLocal::new(dir, network);
        let _dl = hl.lock().map_err(|f| Error::new(Kind::Io, f.msg))?;
        let mut ips: Vec<IpAddr> = hl
            .entries()
            .map_err(|f| Error::new(Kind::Io, f.msg))?
            .into_iter()
            .filter(|(_, id, ifn)| id == cid && (ifn == ifname || ifn.is_empty()))
            .map(|(ip, _, _)| ip)
            .collect();
        for ip in lease(store, network, cid, ifname)? {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        for ip in &ips {
            hl.release(*ip, cid, ifname)
                .map_err(|f| Error::new(Kind::Io, f.msg))?;
        }
        found.ips = ips;
    }
    let claims = ports::claims_of(store, cid, &found.ips)?;
    if !claims.is_empty() {
        ports::unclaim(store, cid, &claims)?;
        found.claims = claims.len();
    }
    let stale: Vec<PortElement> = match nft::read_ports() {
        Ok(all) => all
            .into_iter()
            .filter(|e| e.owner == cid && found.ips.contains(&e.dest_ip))
            .collect(),
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => return Err(e),
    };
    if !stale.is_empty() {
        tolerate_no_table(nft::update_ports(&[], &stale, true))?;
        found.elements = stale.len();
    }
    let derived = vethname::derived(network, cid, ifname);
    // anti-spoofing elements of its host veth(s)
    let mut guards = Vec::new();
    for port in std::iter::once(derived.as_str()).chain(veth) {
        guards.push(nft::PortGuard {
            port: port.to_string(),
            addrs: found.ips.clone(),
            with_port: true,
        });
    }
    tolerate_no_table(nft::update(&[], &[], &[], &guards, true))?;
    found.veth = delete_veth(nl, &derived)?;
    if let Some(v) = veth
        && v != derived
    {
        found.veth |= delete_veth(nl, v)?;
    }
    record::remove_at(store, network, cid, ifname)?;
    record::forget_lost(store, network, cid, ifname)?;
    Ok(found)
}

pub const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

fn boot_id() -> Result<String> {
    Ok(std::fs::read_to_string(BOOT_ID)
        .map_err(|e| Error::io(format!("reading {BOOT_ID}"), e))?
        .trim()
        .to_string())
}

/// At `init` (the boot unit): recognise a reboot by the kernel's boot id
/// kept in the run dir, and release every attachment whose kernel objects
/// are gone (or, after a reboot, every attachment of the previous boot): its
/// address files, port claims, elements and record; the lease stays, so the
/// container gets the same address back. One line per release. The caller
/// holds the host lock.
pub fn release_dead(store: &Store, nl: &Netlink) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    let now = boot_id()?;
    let recorded = crate::core::state::read_bytes_opt(&boot_file(store))?
        .map(|b| String::from_utf8_lossy(&b).trim().to_string());
    let rebooted = recorded.as_deref().is_some_and(|r| r != now);
    if rebooted {
        lines.push(
            "the kernel rebooted since the last init (boot id changed): releasing the previous boot's attachments"
                .to_string(),
        );
        // records under a tmpfs run dir are gone already: the leases say
        // which address files the previous boot's attachments held
        lines.extend(release_leased_addresses(store)?);
    }
    for a in record::attachments(store)? {
        if !rebooted && is_live(nl, &a)? {
            // drift of a live attachment that `check` reports: hairpin off
            if a.complete
                && a.hairpin
                && let Some(l) = nl.link(&a.host_veth)?
                && l.hairpin == Some(false)
            {
                nl.set_hairpin(l.index, true)?;
                lines.push(format!(
                    "set hairpin on {} (attachment {})",
                    a.host_veth,
                    a.key()
                ));
            }
            continue;
        }
        release_attachment(store, nl, &a, !rebooted)?;
        let ips: Vec<String> = a.ips.iter().map(|i| i.address.ip().to_string()).collect();
        lines.push(format!(
            "released attachment {} (container gone): address {}, {} port mapping(s)",
            a.key(),
            if ips.is_empty() {
                "none".to_string()
            } else {
                ips.join(" ")
            },
            a.port_mappings.len()
        ));
    }
    // the index is bookkeeping: a failure to prune it must not stop the boot
    match crate::core::index::prune(store) {
        Ok(pruned) => {
            for p in pruned {
                lines.push(format!("removed index entry {} (no record)", p.display()));
            }
        }
        Err(e) => lines.push(format!("warning: pruning the container index: {}", e.msg)),
    }
    if rebooted {
        // container claims of the previous boot without a record
        for path in crate::core::ports::claim_files(store)? {
            if path.starts_with(&store.run) {
                remove_file_if_exists(&path)?;
            }
        }
    }
    Ok(lines)
}

/// `<state>/boot_id`: the kernel boot of the last init.
pub fn boot_file(store: &Store) -> PathBuf {
    store.dir.join("boot_id")
}

/// After a reboot: release every address file a lease names that still
/// holds it (its container died with the previous boot). The lease stays,
/// so the container gets the same address back when it returns.
fn release_leased_addresses(store: &Store) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    let leases = store.dir.join("leases");
    let Ok(rd) = std::fs::read_dir(&leases) else {
        return Ok(lines);
    };
    for net_dir in rd.flatten() {
        let network = net_dir.file_name().to_string_lossy().into_owned();
        if network.starts_with('.') {
            continue;
        }
        for p in crate::core::state::list_json(&net_dir.path())? {
            let Some(lease) = read_json_opt::<Lease>(&p)? else {
                continue;
            };
            let Some(dir) = &lease.data_dir else {
                continue;
            };
            let Some(file_name) = p.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let hl = HostLocal::new(dir, &network);
            let _dl = hl.lock().map_err(|f| Error::new(Kind::Io, f.msg))?;
            for ip in &lease.ips {
                let Some(bytes) = crate::core::state::read_bytes_opt(&hl.ip_path(*ip))? else {
                    continue;
                };
                let text = String::from_utf8_lossy(&bytes);
                let Some((cid, ifname)) = text.split_once("\r\n") else {
                    continue;
                };
                if format!("{}-{}.json", cid.trim(), ifname.trim()) != file_name {
                    continue;
                }
                if hl
                    .release(*ip, cid.trim(), ifname.trim())
                    .map_err(|f| Error::new(Kind::Io, f.msg))?
                {
                    lines.push(format!(
                        "released address {ip} of container {} ({}) on network {network}: it did not survive the reboot",
                        cid.trim(),
                        ifname.trim()
                    ));
                }
            }
        }
    }
    Ok(lines)
}

/// Keep the current boot id with the state (after a successful init).
pub fn record_boot(store: &Store) -> Result<()> {
    let now = boot_id()?;
    let boot_file = boot_file(store);
    let recorded = crate::core::state::read_bytes_opt(&boot_file)?
        .map(|b| String::from_utf8_lossy(&b).trim().to_string());
    if recorded.as_deref() != Some(now.as_str()) {
        crate::core::state::write_atomic(
            &boot_file,
            format!("{now}\n").as_bytes(),
            0o600,
            Durability::Hint,
        )?;
    }
    Ok(())
}
