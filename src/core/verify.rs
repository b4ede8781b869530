//! CHECK: one attachment against the kernel. Fails (kind Differences) with
//! one message naming everything missing: host veth, bridge master, hairpin,
//! the container interface, its addresses and routes, the address
//! reservations, the port-mapping elements and the anti-spoofing elements;
//! and any address the previous result gives the container that hostnet
//! did not assign.

use std::net::IpAddr;
use std::path::Path;

use ipnetwork::IpNetwork;

use crate::core::attach::container;
use crate::core::attach::result::AddResult;
use crate::core::attachments::{host_differences, kernel_elements};
use crate::core::record::{self, Attachment};
use crate::core::state::Store;
use crate::error::{Error, Kind, Result};
use crate::kernel::link::Netlink;
use crate::kernel::netns;
use crate::kernel::nft;

/// Verify the attachment (`network`, `cid`, `ifname`) whose container netns
/// is `netns_path` (checked by the caller to exist and not to be its own).
pub fn verify(
    store: &Store,
    network: &str,
    cid: &str,
    ifname: &str,
    netns_path: &str,
    prev: Option<&AddResult>,
) -> Result<()> {
    let Some(a) = record::read(store, network, cid, ifname)?.value() else {
        return Err(Error::not_found(format!(
            "container {cid} ({ifname}) is not attached to network {network}"
        )));
    };
    let mut diffs = prev.map(|p| foreign_addresses(&a, p)).unwrap_or_default();
    let nl = Netlink::open()?;
    let elements = if a.port_mappings.is_empty() {
        None
    } else {
        Some(kernel_elements()?)
    };
    diffs.extend(host_differences(&nl, &a, elements.as_ref())?);
    let guard = a.guard(&record::siblings(
        store,
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
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(Error::new(
            Kind::Differences,
            format!("attachment {}: {}", a.key(), diffs.join("; ")),
        ))
    }
}

/// Every address the previous result gives the container must be ours.
fn foreign_addresses(a: &Attachment, prev: &AddResult) -> Vec<String> {
    prev.ips
        .iter()
        .filter(|ip| {
            let for_container = ip
                .interface
                .is_none_or(|i| prev.interfaces.get(i).is_some_and(|x| x.sandbox.is_some()));
            for_container && !a.ips.iter().any(|x| x.address == ip.address)
        })
        .map(|ip| {
            format!(
                "prevResult address {} was not assigned by hostnet",
                ip.address
            )
        })
        .collect()
}
