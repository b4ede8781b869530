//! ADD: one container attached to one network, in one process. `attach`
//! reads as its phases, each in its own file, every step taken registered
//! with its undo in one `Transaction` (rolled back on error and, by its
//! guard, on a panic):
//! 1. `reserve` (under the host lock): a record of intent, the network's
//!    host side (`host::ensure`, cheap when in place), addresses, host
//!    ports, the port and anti-spoofing elements in one nftables
//!    transaction, the record with what was taken;
//! 2. `veth` (without the lock): the veth with its peer born in the
//!    container netns, host end on the bridge, hairpin, up;
//! 3. `container`: the container end addressed, up, routed, tuned, inside
//!    its netns;
//! 4. `finish`: the result rendered by the front end, the record completed
//!    with it and the lease saved.
//!
//! A front end builds the `Request` (`spec`), and renders the `AddResult`
//! (`result`) in its own format.

pub mod container;
pub mod publish;
pub mod reserve;
pub mod result;
pub mod spec;
pub mod veth;

use std::net::IpAddr;
use std::path::Path;

use ipnetwork::IpNetwork;
use serde_json::Value;

use crate::core::network::format_mac;
use crate::core::record::{self, Attachment};
use crate::core::recover;
use crate::core::txn::Transaction;
use crate::error::{Context, Result};
use crate::kernel::link::{LinkInfo, Netlink};
use crate::kernel::netns;
use result::{AddResult, Interface, IpConfig, Route};
use spec::{Addresses, Request};

/// Attach, or leave nothing behind. `render` turns the result into what the
/// front end answers (it is kept in the record for CHECK and retries).
pub fn attach(req: &Request, render: &dyn Fn(&AddResult) -> Value) -> Result<Value> {
    let mut tx = Transaction::new();
    match phases(req, render, &mut tx) {
        Ok(v) => {
            tx.commit();
            Ok(v)
        }
        Err(e) => Err(tx.fail(e)),
    }
}

fn phases<'a>(
    req: &'a Request,
    render: &dyn Fn(&AddResult) -> Value,
    tx: &mut Transaction<'a>,
) -> Result<Value> {
    let mut taken = reserve::reserve(req, tx)?;
    let links = veth::create(req, &mut taken.record, &taken.guard, tx)?;
    let done = container_side(req, &taken.ips, tx)?;
    finish(req, render, taken, links, done)
}

/// Phase 3: the container end addressed, up, routed and tuned, inside its
/// netns; tuning sysctls it changed are put back on rollback.
fn container_side<'a>(
    req: &'a Request,
    ips: &[(IpNetwork, Option<IpAddr>)],
    tx: &mut Transaction<'a>,
) -> Result<container::Done> {
    let netns_path = req.container.netns.as_str();
    let addresses: Vec<IpNetwork> = ips.iter().map(|(a, _)| *a).collect();
    let plan = container::Plan {
        ifname: &req.container.ifname,
        addresses: &addresses,
        routes: &req.hops,
        tuning: &req.tuning,
    };
    // the netns file the front end opened and checked, never the path again
    let (file, path) = (&req.container.netns_file, Path::new(netns_path));
    let done = if plan.tuning.sysctl.is_empty() {
        // a socket there is all it takes: no thread
        Netlink::open_in(file, path).and_then(|nl| container::configure(&nl, &plan))
    } else {
        netns::run_in_file(file, path, || {
            container::configure(&Netlink::open()?, &plan)
        })
    }
    .ctx(format!("container netns {netns_path}"))?;
    if !done.sysctl_before.is_empty() {
        let before = done.sysctl_before.clone();
        tx.done("restoring container sysctls", move || {
            netns::run_in_file(file, path, || container::restore_sysctls(&before))
        });
    }
    Ok(done)
}

/// Phase 4: the result, recorded (the record complete, the lease saved)
/// before the front end prints it.
fn finish(
    req: &Request,
    render: &dyn Fn(&AddResult) -> Value,
    taken: reserve::Taken,
    (bridge, host_link): (LinkInfo, Option<LinkInfo>),
    done: container::Done,
) -> Result<Value> {
    let reserve::Taken {
        ips,
        dns,
        mut record,
        ..
    } = taken;
    let mac = |m: Option<[u8; 6]>| m.map(|m| format_mac(&m));
    let result = AddResult {
        interfaces: vec![
            Interface {
                name: bridge.name.clone(),
                mac: mac(bridge.mac),
                mtu: Some(bridge.mtu),
                sandbox: None,
            },
            Interface {
                name: record.host_veth.clone(),
                mac: mac(host_link.as_ref().and_then(|l| l.mac)),
                mtu: host_link.as_ref().map(|l| l.mtu),
                sandbox: None,
            },
            Interface {
                name: req.container.ifname.clone(),
                mac: mac(done.link.mac),
                mtu: Some(done.link.mtu),
                sandbox: Some(req.container.netns.clone()),
            },
        ],
        ips: ips
            .iter()
            .map(|(a, g)| IpConfig {
                address: *a,
                gateway: *g,
                interface: Some(2),
            })
            .collect(),
        routes: req
            .routes
            .iter()
            .map(|r| Route {
                dst: r.dst,
                gw: r.gw,
            })
            .collect(),
        dns: if dns.is_empty() { req.dns.clone() } else { dns },
    };
    let json = render(&result);
    record.complete = true;
    record.pid = None;
    record.result = Some(json.clone());
    record.sysctl_before = done
        .sysctl_before
        .iter()
        .map(|(n, _, v)| (n.clone(), v.clone()))
        .collect();
    record::write(&req.store, &record)?;
    save_lease(req, &record)?;
    Ok(json)
}

fn save_lease(req: &Request, record: &Attachment) -> Result<()> {
    if matches!(req.addresses, Addresses::HostLocal { .. }) {
        let ips: Vec<IpAddr> = record.ips.iter().map(|i| i.address.ip()).collect();
        recover::save_lease(
            &req.store,
            &req.network.name,
            &req.container.id,
            &req.container.ifname,
            record.ipam.data_dir.as_deref(),
            &ips,
        )?;
    }
    Ok(())
}
