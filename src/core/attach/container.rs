//! The container side of an attachment: addresses, up, routes, tuning,
//! through a rtnetlink session in the container's netns (made from the
//! calling thread, `Netlink::open_in`; with tuning sysctls, on a thread
//! inside that netns, `kernel::netns::run_in`). The interface itself was
//! born there as the veth peer.

use std::net::IpAddr;

use ipnetwork::IpNetwork;

use super::spec::Tuning;
use crate::error::{Context, Error, Kind, Result};
use crate::kernel::link::{LinkInfo, Netlink};
use crate::kernel::sysctl::{self, Key};

pub struct Plan<'a> {
    pub ifname: &'a str,
    pub addresses: &'a [IpNetwork],
    /// (destination, next hop): next hops already resolved to the gateway.
    pub routes: &'a [(IpNetwork, IpAddr)],
    pub tuning: &'a Tuning,
}

pub struct Done {
    pub link: LinkInfo,
    /// Sysctls that were changed, with their previous values (to restore).
    pub sysctl_before: Vec<(String, Key, String)>,
}

/// Is this a per-interface sysctl of `ifname` (gone with the interface)?
fn is_iface_key(key: &Key, ifname: &str) -> bool {
    key.0.len() >= 5
        && key.0[0] == "net"
        && matches!(key.0[2].as_str(), "conf" | "neigh")
        && key.0[3] == ifname
}

pub fn restore_sysctls(before: &[(String, Key, String)]) -> Result<()> {
    let mut failed = Vec::new();
    for (name, key, old) in before.iter().rev() {
        if let Err(e) = sysctl::write(key, old) {
            failed.push(format!("{name}: {}", e.msg));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::new(
            Kind::Io,
            format!("restoring sysctls: {}", failed.join("; ")),
        ))
    }
}

fn apply(
    nl: &Netlink,
    plan: &Plan<'_>,
    link: &LinkInfo,
    before: &mut Vec<(String, Key, String)>,
) -> Result<()> {
    for (name, key, value) in &plan.tuning.sysctl {
        let old = sysctl::write(key, value).ctx(format!("tuning sysctl {name}"))?;
        if old != *value && !is_iface_key(key, plan.ifname) {
            before.push((name.clone(), key.clone(), old));
        }
    }
    for addr in plan.addresses {
        nl.add_address(link.index, *addr)
            .ctx(format!("in the container, {}", plan.ifname))?;
    }
    if plan.tuning.link_flags() {
        nl.set_link_flags(
            link.index,
            plan.tuning.promisc,
            plan.tuning.allmulti,
            plan.tuning.txqlen,
        )
        .ctx(format!("tuning {}", plan.ifname))?;
    }
    nl.set_up(link.index)
        .ctx(format!("in the container, {}", plan.ifname))?;
    for (dst, gw) in plan.routes {
        // appended: a container on several networks has a default route per network
        nl.append_route(*dst, Some(*gw), Some(link.index))
            .ctx(format!("in the container, {}", plan.ifname))?;
    }
    Ok(())
}

/// Configure the interface through `nl`, a session in the container's
/// netns; on failure put changed sysctls back first. Sysctls are written
/// through /proc/sys, which shows the calling thread's namespace: a plan
/// with sysctls runs on a thread inside the container netns.
pub fn configure(nl: &Netlink, plan: &Plan<'_>) -> Result<Done> {
    let Some(link) = nl.link(plan.ifname)? else {
        return Err(Error::not_found(format!(
            "{} is not in the container after creating it",
            plan.ifname
        )));
    };
    let mut before = Vec::new();
    if let Err(e) = apply(nl, plan, &link, &mut before) {
        let _ = restore_sysctls(&before);
        return Err(e);
    }
    let link = nl.link_by_index(link.index)?.unwrap_or(link);
    Ok(Done {
        link,
        sysctl_before: before,
    })
}

/// What CHECK verifies inside the container: the interface, up, with its
/// addresses, and routes to each destination. Returns the differences.
pub fn differences(
    ifname: &str,
    addresses: &[IpNetwork],
    routes: &[(IpNetwork, Option<IpAddr>)],
) -> Result<Vec<String>> {
    let nl = Netlink::open()?;
    let Some(link) = nl.link(ifname)? else {
        return Ok(vec![format!(
            "interface {ifname} is missing in the container"
        )]);
    };
    let mut diffs = Vec::new();
    if !link.up {
        diffs.push(format!("interface {ifname} is down in the container"));
    }
    let have = nl.addresses(link.index)?;
    for a in addresses {
        if !have.contains(a) {
            diffs.push(format!("interface {ifname} lacks address {a}"));
        }
    }
    if !routes.is_empty() {
        let table = nl.routes()?;
        for (dst, gw) in routes {
            let found = table.iter().any(|r| {
                r.destination == *dst
                    && r.oif == Some(link.index)
                    && (gw.is_none() || r.gateway == *gw)
            });
            if !found {
                match gw {
                    Some(g) => diffs.push(format!(
                        "route {dst} via {g} dev {ifname} is missing in the container"
                    )),
                    None => diffs.push(format!(
                        "route {dst} dev {ifname} is missing in the container"
                    )),
                }
            }
        }
    }
    Ok(diffs)
}
