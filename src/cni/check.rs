//! CHECK: the attachment against the kernel. Fails (code 103) with one
//! message naming everything missing: host veth, bridge master, hairpin,
//! the container interface, its addresses and routes, the address
//! reservations, the port-mapping elements and the anti-spoofing elements.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

use ipnetwork::IpNetwork;

use super::config::{IpamKind, NetConf};
use super::container;
use super::env::Env;
use super::failure::{CHECK_FAILED, CniResult, Failure, UNKNOWN_CONTAINER};
use super::ipam::delegate;
use super::ipam::hostlocal::HostLocal;
use super::record::{self, Attachment};
use super::result::AddResult;
use crate::kernel::link::Netlink;
use crate::kernel::netns;
use crate::kernel::nft;
use crate::ports;
use crate::state::Store;

/// Host-side differences of one attachment (no netns needed): also what
/// `hostnet check` reports per attachment.
pub fn host_differences(
    nl: &Netlink,
    a: &Attachment,
    kernel_elements: Option<&BTreeSet<String>>,
) -> CniResult<Vec<String>> {
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

pub fn kernel_elements() -> CniResult<BTreeSet<String>> {
    Ok(nft::read_ports()?.iter().map(element_key).collect())
}

pub fn check(env: &Env, conf: &NetConf) -> CniResult<()> {
    let cid = env.container_id()?;
    let ifname = env.ifname()?;
    let netns_path = env.netns()?;
    if !Path::new(netns_path).exists() {
        return Err(Failure::new(
            UNKNOWN_CONTAINER,
            format!("CNI_NETNS {netns_path} does not exist"),
        ));
    }
    let netns_file = netns::open(Path::new(netns_path))?;
    super::netns_guard::refuse_own(netns_path, &netns_file)?;
    let store = Store::new(&conf.state_dir, &conf.run_dir);
    let Some(a) = record::read(&store, &conf.name, cid, ifname)?.value() else {
        return Err(Failure::new(
            UNKNOWN_CONTAINER,
            format!(
                "container {cid} ({ifname}) is not attached to network {}",
                conf.name
            ),
        ));
    };
    let mut diffs = Vec::new();
    // prevResult: every address it gives the container must be ours
    if let Some(prev) = &conf.prev_result {
        let prev = AddResult::from_json(prev)?;
        for ip in &prev.ips {
            let ours = a.ips.iter().any(|x| x.address == ip.address);
            let for_container = ip
                .interface
                .is_none_or(|i| prev.interfaces.get(i).is_some_and(|x| x.sandbox.is_some()));
            if for_container && !ours {
                diffs.push(format!(
                    "prevResult address {} was not assigned by hostnet",
                    ip.address
                ));
            }
        }
    }
    let nl = Netlink::open()?;
    let elements = if a.port_mappings.is_empty() {
        None
    } else {
        Some(kernel_elements()?)
    };
    diffs.extend(host_differences(&nl, &a, elements.as_ref())?);
    let guard = a.guard(&record::siblings(
        &store,
        &a.network,
        &a.container_id,
        &a.ifname,
    )?);
    if !nft::read_guards()?.contains(&guard) {
        diffs.push(format!(
            "the anti-spoofing elements of {} ({}) are missing from table bridge hostnet",
            guard.port,
            guard
                .addrs
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let addresses: Vec<IpNetwork> = a.ips.iter().map(|i| i.address).collect();
    let routes: Vec<(IpNetwork, Option<IpAddr>)> = a.routes.iter().map(|r| (r.dst, r.gw)).collect();
    diffs.extend(netns::run_in(Path::new(netns_path), || {
        container::differences(ifname, &addresses, &routes)
    })?);
    if let IpamKind::Delegated(kind) = &conf.ipam.kind {
        delegate::exec(&env.path, kind, "CHECK", &conf.raw)?;
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            CHECK_FAILED,
            format!("attachment {}: {}", a.key(), diffs.join("; ")),
        ))
    }
}
