//! Phase 1 of ADD, under the host lock: everything taken on the host before
//! a link exists. A record of intent first (a crash at any later point
//! leaves something DEL, a retry or gc finds), then the network's host side,
//! the addresses, the host ports and the elements, and the record with what
//! was taken. Each step registers its undo.

use std::net::IpAddr;
use std::path::Path;

use ipnetwork::IpNetwork;

use super::publish;
use super::result::{Dns, parse_resolv_conf};
use super::spec::{Addresses, Request};
use crate::core::desired;
use crate::core::host::ensure;
use crate::core::ipam::hostlocal::HostLocal;
use crate::core::lock::HostLock;
use crate::core::ports::{self, PortMapping};
use crate::core::record::{self, AttachedIp, Attachment, IpamRecord, RouteRecord};
use crate::core::recover;
use crate::core::state::{Loaded, Store};
use crate::core::txn::Transaction;
use crate::core::vethname;
use crate::error::{Context, Error, Result};
use crate::kernel::link::Netlink;
use crate::kernel::nft::{self, PortElement, PortGuard};

/// An address of the container, with its gateway.
pub type Address = (IpNetwork, Option<IpAddr>);

/// What the phase took: the container's addresses (with gateways), the DNS
/// its IPAM gave, and the record as written (incomplete).
pub struct Taken {
    pub ips: Vec<Address>,
    pub dns: Dns,
    pub record: Attachment,
    /// The host veth's anti-spoofing elements as added.
    pub guard: PortGuard,
}

pub fn reserve<'a>(req: &'a Request, tx: &mut Transaction<'a>) -> Result<Taken> {
    let c = &req.container;
    let net = &req.network;
    let _lock = HostLock::acquire(&req.store.run)?;
    let nl = Netlink::open()?;
    let data_dir = match &req.addresses {
        Addresses::HostLocal { data_dir, .. } => Some(data_dir.as_path()),
        Addresses::Given { .. } => None,
    };
    let preferred = release_previous(req, &nl, data_dir)?;
    // the host side first: it takes nothing of this container, and the
    // table it may (re)build must not hold this attachment yet
    let network = ensure(&req.store, net).ctx(format!(
        "setting up network {} on bridge {}",
        net.name, net.bridge
    ))?;
    let mut rec = Attachment {
        network: net.name.clone(),
        container_id: c.id.clone(),
        ifname: c.ifname.clone(),
        netns: c.netns.clone(),
        mode: req.mode.record_name().into(),
        bridge: net.bridge.clone(),
        host_veth: vethname::derived(&net.name, &c.id, &c.ifname),
        ips: Vec::new(),
        routes: req
            .hops
            .iter()
            .map(|(d, g)| RouteRecord {
                dst: *d,
                gw: Some(*g),
            })
            .collect(),
        port_mappings: Vec::new(),
        ipam: IpamRecord {
            kind: match &req.addresses {
                Addresses::HostLocal { .. } => "host-local".into(),
                Addresses::Given { by, .. } => by.clone(),
            },
            data_dir: data_dir.map(Path::to_path_buf),
        },
        hairpin: req.link.hairpin,
        sysctl_before: Default::default(),
        cni_version: req.spec_version.clone(),
        complete: false,
        pid: Some(std::process::id()),
        result: None,
    };
    // alone: the container has no other attachment to tie this one to
    let alone = record::write_first(&req.store, &rec)?;
    let intent = rec.clone();
    tx.done("removing the record", move || {
        let _lock = HostLock::acquire(&req.store.run)?;
        record::remove(&req.store, &intent)
    });
    // Docker may have created its filter FORWARD (policy drop) after
    // init: one rule dump per family (ENOENT when absent) and, only if
    // this bridge's accepts are missing, one insert transaction. The
    // rules belong to the bridge, not to this container: DEL keeps them.
    if req.store.settings()?.docker_forward {
        nft::foreign::sync(std::slice::from_ref(&net.bridge), false).ctx(format!(
            "accepting bridge {} in filter FORWARD (Docker coexistence)",
            net.bridge
        ))?;
    }
    let (ips, dns) = addresses(req, &nl, &preferred, tx)?;
    let (attached, mappings, guard) =
        firewall(req, &ips, &rec.host_veth, network.internal, alone, tx)?;
    // what was taken, recorded (still incomplete) before the lock goes:
    // whoever takes the lock next reads it (a sibling ADD of the same
    // container builds its veth's anti-spoofing elements from it; a table
    // rebuild keeps this attachment's elements only if it names its
    // addresses; `check` compares it while the links are made). A crash
    // before this leaves the record of intent, and its DEL, retry or gc
    // searches for the addresses, claims and elements
    rec.ips = attached;
    rec.port_mappings = mappings;
    record::write(&req.store, &rec)?;
    Ok(Taken {
        ips,
        dns,
        record: rec,
        guard,
    })
}

/// Before anything is taken: an earlier attachment of the same name that is
/// stale (its veth, netns or ADD gone) is released, an unreadable record's
/// leftovers searched for; returns the addresses to prefer (the same IP back).
fn release_previous(req: &Request, nl: &Netlink, data_dir: Option<&Path>) -> Result<Vec<IpAddr>> {
    let (net, c) = (&req.network.name, &req.container);
    let mut preferred: Vec<IpAddr> = Vec::new();
    match record::read(&req.store, net, &c.id, &c.ifname)? {
        Loaded::Value(old) => {
            if recover::is_live(nl, &old)? {
                return Err(Error::conflict(format!(
                    "container {} is already attached to network {net} as {} (DEL it first)",
                    c.id, c.ifname
                )));
            }
            eprintln!(
                "hostnet: ADD {}: releasing a stale attachment (its veth, netns or ADD is gone)",
                old.key()
            );
            recover::delete_veth(nl, &old.host_veth)?;
            recover::release_locked(&req.store, &old)?;
            if !old.complete {
                recover::search(
                    &req.store,
                    nl,
                    net,
                    data_dir,
                    &c.id,
                    &c.ifname,
                    Some(&old.host_veth),
                )?;
            }
            preferred = old.ips.iter().map(|i| i.address.ip()).collect();
        }
        Loaded::Corrupt => {
            let found = recover::search(&req.store, nl, net, data_dir, &c.id, &c.ifname, None)?;
            preferred = found.ips;
        }
        Loaded::Absent => {}
    }
    if preferred.is_empty() && data_dir.is_some() {
        preferred = recover::lease(&req.store, net, &c.id, &c.ifname)?;
    }
    Ok(preferred)
}

/// The container's addresses: reserved in the host-local store (one per
/// range set; an address of a dead attachment may be reclaimed when a
/// range is full), or as given.
fn addresses<'a>(
    req: &'a Request,
    nl: &Netlink,
    preferred: &[IpAddr],
    tx: &mut Transaction<'a>,
) -> Result<(Vec<Address>, Dns)> {
    let (net, c) = (&req.network.name, &req.container);
    let (range_sets, data_dir, resolv_conf, requested) = match &req.addresses {
        Addresses::Given { ips, dns, .. } => return Ok((ips.clone(), dns.clone())),
        Addresses::HostLocal {
            range_sets,
            data_dir,
            resolv_conf,
            requested,
        } => (range_sets, data_dir, resolv_conf, requested),
    };
    recover::note_data_dir(&req.store, net, data_dir)?;
    let hl = HostLocal::new(data_dir, net);
    let _dl = hl.lock()?;
    let reclaimable = |id: &str, ifname: &str| -> bool {
        match record::read(&req.store, net, id, ifname) {
            Ok(Loaded::Value(a)) => !recover::is_live(nl, &a).unwrap_or(true),
            Ok(_) => true,
            Err(_) => false,
        }
    };
    let mut ips = Vec::new();
    for (i, set) in range_sets.iter().enumerate() {
        let want = requested.get(i).copied().flatten();
        let (res, last) = hl
            .allocate(set, i, &c.id, &c.ifname, want, preferred, &reclaimable)
            .ctx(format!("network {net}"))?;
        ips.push((res.address, Some(res.gateway)));
        tx.done(format!("releasing {}", res.address.ip()), move || {
            let _lock = HostLock::acquire(&req.store.run)?;
            let hl = HostLocal::new(data_dir, net);
            let _dl = hl.lock()?;
            hl.release(res.address.ip(), &c.id, &c.ifname)?;
            HostLocal::restore_last(&last)
        });
    }
    let dns = match resolv_conf {
        Some(path) => parse_resolv_conf(
            &std::fs::read_to_string(path)
                .map_err(|e| Error::io(format!("reading resolvConf {}", path.display()), e))?,
        ),
        None => Dns::default(),
    };
    Ok((ips, dns))
}

/// The host ports claimed and the port and anti-spoofing elements added in
/// one nftables transaction, before the veth exists (it is guarded from its
/// first frame); returns the addresses as recorded, the mappings taken and
/// the veth's own anti-spoofing elements. `alone`: the container has no
/// other attachment (no sibling records to read).
fn firewall<'a>(
    req: &'a Request,
    ips: &[Address],
    host_veth: &str,
    internal: bool,
    alone: bool,
    tx: &mut Transaction<'a>,
) -> Result<(Vec<AttachedIp>, Vec<PortMapping>, PortGuard)> {
    let (net, c) = (&req.network.name, &req.container);
    let container_ips: Vec<IpAddr> = ips.iter().map(|(a, _)| a.ip()).collect();
    let mappings = publish::expand(&req.ports, &container_ips)?;
    if !mappings.is_empty() && internal {
        return Err(Error::invalid(format!(
            "network {net} is internal: it takes no port mappings"
        )));
    }
    let mut elements = Vec::new();
    if !mappings.is_empty() {
        elements = ports::claim_runs(&req.store, &c.id, &mappings)?;
        let claimed = mappings.clone();
        tx.done("releasing host ports", move || {
            let _lock = HostLock::acquire(&req.store.run)?;
            ports::unclaim(&req.store, &c.id, &claimed).map(|_| ())
        });
    }
    let attached: Vec<AttachedIp> = ips
        .iter()
        .map(|(a, g)| AttachedIp {
            address: *a,
            gateway: *g,
        })
        .collect();
    // this veth may send from every address of the container (its other
    // networks' too), and its other veths from these
    let siblings = if alone {
        Vec::new()
    } else {
        record::siblings(&req.store, net, &c.id, &c.ifname)?
    };
    let mut guards = vec![record::guard_of(host_veth, &attached)];
    for s in &siblings {
        guards[0].addrs.extend(s.ips.iter().map(|i| i.address.ip()));
        guards.push(PortGuard {
            with_port: false,
            ..record::guard_of(&s.host_veth, &attached)
        });
    }
    guards[0].addrs.sort();
    guards[0].addrs.dedup();
    add_elements(&req.store, &elements, &guards)
        .ctx("adding port mappings and anti-spoofing elements")?;
    let own = guards[0].clone();
    tx.done("deleting port and anti-spoofing elements", move || {
        let _lock = HostLock::acquire(&req.store.run)?;
        nft::update(&[], &elements, &[], &guards, true)
    });
    Ok((attached, mappings, own))
}

/// Add port elements and anti-spoofing elements in one transaction; if a
/// table is gone (a flushed ruleset), rebuild both from hostnet's state,
/// which holds these port claims already, then add the guards (this
/// attachment's record is not complete yet).
fn add_elements(store: &Store, elements: &[PortElement], guards: &[PortGuard]) -> Result<()> {
    match nft::update(elements, &[], guards, &[], false) {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => {
            let spec = desired::table_spec(store, &store.networks()?)?;
            nft::apply_table(&spec)
                .and_then(|()| nft::update(&[], &[], guards, &[], false))
                .map_err(|e2| e2.context(format!("rebuilding the tables after: {}", e.msg)))
        }
        Err(e) => Err(e),
    }
}
