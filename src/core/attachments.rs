//! Attachments as the CLI sees them: every record, the files that hold one,
//! and what differs between the records and the kernel (host side only; the
//! CNI CHECK adds the container side).

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::ipam::hostlocal::HostLocal;
use super::record::{self, Attachment};
use super::recover;
use super::state::Store;
use crate::core::ports;
use crate::error::Result;
use crate::kernel::link::Netlink;
use crate::kernel::nft;

/// Host-side differences of one attachment (no netns needed): also what
/// `hostnet check` reports per attachment.
pub fn host_differences(
    nl: &Netlink,
    a: &Attachment,
    kernel_elements: Option<&BTreeSet<String>>,
) -> Result<Vec<String>> {
    let mut diffs = Vec::new();
    if !a.complete {
        diffs.push("its ADD did not finish (DEL or GC it)".to_string());
    }
    let bridge = nl.link(&a.bridge)?;
    match &bridge {
        None => diffs.push(format!("bridge {} is missing", a.bridge)),
        Some(b) if !b.up => diffs.push(format!("bridge {} is down", a.bridge)),
        Some(_) => {}
    }
    match nl.link(&a.host_veth)? {
        None => diffs.push(format!("host veth {} is missing", a.host_veth)),
        Some(l) => {
            if l.kind.as_deref() != Some("veth") {
                diffs.push(format!("{} is not a veth", a.host_veth));
            }
            if let Some(b) = &bridge
                && l.master != Some(b.index)
            {
                diffs.push(format!(
                    "host veth {} is not attached to bridge {}",
                    a.host_veth, a.bridge
                ));
            }
            if !l.up {
                diffs.push(format!("host veth {} is down", a.host_veth));
            }
            if a.hairpin && l.hairpin == Some(false) {
                diffs.push(format!("host veth {} has hairpin off", a.host_veth));
            }
        }
    }
    if let Some(dir) = &a.ipam.data_dir {
        let hl = HostLocal::new(dir, &a.network);
        for ip in &a.ips {
            if !hl.holds(ip.address.ip(), &a.container_id, &a.ifname)? {
                diffs.push(format!(
                    "address {} is not reserved for it in {}",
                    ip.address.ip(),
                    hl.dir.display()
                ));
            }
        }
    }
    if let Some(have) = kernel_elements {
        for e in ports::elements_for(&a.container_id, &a.port_mappings) {
            let key = element_key(&e);
            if !have.contains(&key) {
                diffs.push(format!("port mapping {key} is missing from nftables"));
            }
        }
    }
    Ok(diffs)
}

/// A comparable text for a port element.
pub fn element_key(e: &nft::PortElement) -> String {
    let host = match e.host_ip {
        Some(IpAddr::V6(ip)) => format!("[{ip}]:"),
        Some(ip) => format!("{ip}:"),
        None => String::new(),
    };
    let dest = match e.dest_ip {
        IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!(
        "{}/{host}{} -> {dest}:{} ({})",
        e.proto.name(),
        e.host_port,
        e.dest_port,
        e.owner
    )
}

pub fn kernel_elements() -> Result<BTreeSet<String>> {
    Ok(nft::read_ports()?.iter().map(element_key).collect())
}

/// The files that hold one attachment on disk: its host-local address
/// reservations (those still naming it), its record and its lease (its
/// index entry goes with the whole index, `index::remove_all`). `hostnet teardown`
/// removes them after deleting the host veth. A delegated IPAM plugin's
/// reservations are that plugin's (teardown cannot call it: no CNI_PATH).
pub fn attachment_files(store: &Store, a: &Attachment) -> Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    if let Some(dir) = &a.ipam.data_dir {
        let hl = HostLocal::new(dir, &a.network);
        for ip in &a.ips {
            if hl.holds(ip.address.ip(), &a.container_id, &a.ifname)? {
                files.push(hl.ip_path(ip.address.ip()));
            }
        }
    }
    files.push(record::path(store, &a.network, &a.container_id, &a.ifname));
    let lease = recover::lease_path(store, &a.network, &a.container_id, &a.ifname);
    if lease.exists() {
        files.push(lease);
    }
    Ok(files)
}

/// Every attachment record (all networks), for `hostnet status`.
pub fn attachments(store: &Store) -> Result<Vec<Attachment>> {
    record::attachments(store)
}

/// Every difference between the attachment records and the kernel, one line
/// each, for `hostnet check`: host veth missing, off its bridge or down,
/// hairpin off, address not reserved, port elements missing, ADD unfinished,
/// container netns gone (a stale attachment: DEL or GC it). No netns entered.
pub fn attachment_differences(store: &Store, nl: &Netlink) -> Result<Vec<String>> {
    let all = attachments(store)?;
    let elements = if all.iter().any(|a| !a.port_mappings.is_empty()) {
        Some(kernel_elements()?)
    } else {
        None
    };
    let mut out = Vec::new();
    for a in all.iter().filter(|a| !recover::in_progress(a)) {
        for d in host_differences(nl, a, elements.as_ref())? {
            out.push(format!("attachment {}: {d}", a.key()));
        }
        if !a.netns.is_empty()
            && a.netns.starts_with('/')
            && !std::path::Path::new(&a.netns).exists()
        {
            out.push(format!(
                "attachment {}: container netns {} is gone (stale: DEL or GC it)",
                a.key(),
                a.netns
            ));
        }
    }
    Ok(out)
}
