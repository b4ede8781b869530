//! CHECK: the attachment against the kernel. Fails (code 103) with one
//! message naming everything missing: host veth, bridge master, hairpin,
//! the container interface, its addresses and routes, the address
//! reservations, the port-mapping elements and the anti-spoofing elements.

use std::net::IpAddr;
use std::path::Path;

use ipnetwork::IpNetwork;

use super::config::{IpamKind, NetConf};
use super::container;
use super::env::Env;
use super::ipam::delegate;
use super::result::AddResult;
use crate::core::attachments::{host_differences, kernel_elements};
use crate::core::record::{self};
use crate::core::state::Store;
use crate::error::{Error, Kind, Result};
use crate::kernel::link::Netlink;
use crate::kernel::netns;
use crate::kernel::nft;

pub fn check(env: &Env, conf: &NetConf) -> Result<()> {
    let cid = env.container_id()?;
    let ifname = env.ifname()?;
    let netns_path = env.netns()?;
    if !Path::new(netns_path).exists() {
        return Err(Error::new(
            Kind::NotFound,
            format!("CNI_NETNS {netns_path} does not exist"),
        ));
    }
    let netns_file = netns::open(Path::new(netns_path))?;
    super::netns_guard::refuse_own(netns_path, &netns_file)?;
    let store = Store::new(&conf.state_dir, &conf.run_dir);
    let Some(a) = record::read(&store, &conf.name, cid, ifname)?.value() else {
        return Err(Error::new(
            Kind::NotFound,
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
        Err(Error::new(
            Kind::Differences,
            format!("attachment {}: {}", a.key(), diffs.join("; ")),
        ))
    }
}
