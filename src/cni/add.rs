//! ADD: the whole attach in one process.
//!
//! `steps` runs the phases, each a function:
//! 1. `validate`: everything (the caller's parse, plus routes and requested
//!    addresses here); a delegated IPAM runs first;
//! 2. `reserve`, under the host lock: a record of intent, the host side
//!    (`core::host::ensure`, cheap when in place), addresses (host-local
//!    files), host ports, the map and anti-spoofing elements in one nft
//!    transaction, the record (incomplete);
//! 3. `link`, without the lock: veth with the peer born in the container
//!    netns, host end on the bridge with hairpin, up;
//! 4. `container_side`: container end addressed, up, routed, tuned;
//! 5. `record_result`: the record again, complete with the result.
//!
//! Any failure undoes what was done, in reverse (`Rollback`, held by a
//! guard that also undoes on a panic).

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::Path;

use ipnetwork::IpNetwork;
use serde_json::Value;

use super::config::{IpamKind, Mode, NetConf, RouteSpec};
use super::container;
use super::env::Env;
use super::ipam::delegate;
use super::netspec;
use super::portspec;
use super::result::{AddResult, Dns, Interface, IpConfig, Route, parse_resolv_conf};
use crate::core::host::ensure;
use crate::core::ipam::hostlocal::{HostLocal, LastReserved, Reservation};
use crate::core::lock::HostLock;
use crate::core::network::format_mac;
use crate::core::ports::{self, PortMapping};
use crate::core::record::{self, AttachedIp, Attachment, IpamRecord, RouteRecord};
use crate::core::recover;
use crate::core::state::{Loaded, Store};
use crate::core::vethname;
use crate::error::{Context, Error, Kind, Result};
use crate::kernel::link::{LinkInfo, Netlink};
use crate::kernel::netns;
use crate::kernel::nft::{self, PortElement, PortGuard};
use crate::kernel::sysctl::Key;

/// The attachment being worked on.
pub struct Ctx<'a> {
    pub env: &'a Env,
    pub conf: &'a NetConf,
    pub cid: &'a str,
    pub ifname: &'a str,
    pub store: Store,
}

impl<'a> Ctx<'a> {
    /// The context of the container named by the environment (validated
    /// CNI_CONTAINERID and CNI_IFNAME), with the configured state directory.
    pub fn from_env(env: &'a Env, conf: &'a NetConf) -> Result<Ctx<'a>> {
        Ok(Ctx {
            env,
            conf,
            cid: env.container_id()?,
            ifname: env.ifname()?,
            store: Store::new(&conf.state_dir, &conf.run_dir),
        })
    }
}

/// What a failed ADD has to undo, filled in step by step.
#[derive(Default)]
struct Rollback {
    delegated: Option<String>,
    data_dir: Option<std::path::PathBuf>,
    reservations: Vec<Reservation>,
    last_reserved: Vec<LastReserved>,
    claimed: Vec<PortMapping>,
    elements: Vec<PortElement>,
    guards: Vec<PortGuard>,
    record: Option<Attachment>,
    veth: Option<u32>,
    netns: Option<String>,
    container_sysctls: Vec<(String, Key, String)>,
}

impl Rollback {
    /// Undo in reverse order; returns what could not be undone.
    fn undo(self, c: &Ctx<'_>) -> Vec<String> {
        let mut problems = Vec::new();
        let mut note = |what: &str, r: Result<()>| {
            if let Err(f) = r {
                problems.push(format!("{what}: {}", f.msg));
            }
        };
        if !self.container_sysctls.is_empty()
            && let Some(ns) = &self.netns
        {
            let before = self.container_sysctls.clone();
            note(
                "restoring container sysctls",
                netns::run_in(Path::new(ns), || container::restore_sysctls(&before)),
            );
        }
        if let Some(index) = self.veth {
            note("deleting the veth", delete_link_quietly(index));
        }
        let locked_work = self.record.is_some()
            || !self.elements.is_empty()
            || !self.guards.is_empty()
            || !self.claimed.is_empty()
            || !self.reservations.is_empty();
        if locked_work {
            let r = (|| -> Result<()> {
                let _lock = HostLock::acquire(&c.conf.run_dir)?;
                let mut problems = Vec::new();
                if !(self.elements.is_empty() && self.guards.is_empty())
                    && let Err(e) = nft::update(&[], &self.elements, &[], &self.guards, true)
                {
                    problems.push(format!(
                        "deleting port and anti-spoofing elements: {}",
                        e.msg
                    ));
                }
                if !self.claimed.is_empty()
                    && let Err(e) = ports::unclaim(&c.store, c.cid, &self.claimed)
                {
                    problems.push(format!("releasing host ports: {}", e.msg));
                }
                if let Some(dir) = &self.data_dir
                    && !self.reservations.is_empty()
                {
                    let hl = HostLocal::new(dir, &c.conf.name);
                    let _dl = hl.lock()?;
                    for res in self.reservations.iter().rev() {
                        if let Err(e) = hl.release(res.address.ip(), c.cid, c.ifname) {
                            problems.push(format!("releasing {}: {}", res.address.ip(), e.msg));
                        }
                    }
                    for last in self.last_reserved.iter().rev() {
                        if let Err(e) = HostLocal::restore_last(last) {
                            problems.push(e.msg);
                        }
                    }
                }
                if let Some(rec) = &self.record
                    && let Err(e) = record::remove(&c.store, rec)
                {
                    problems.push(format!("removing the record: {}", e.msg));
                }
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(Error::internal(problems.join("; ")))
                }
            })();
            note("rolling back host state", r);
        }
        if let Some(kind) = &self.delegated {
            note(
                &format!("releasing the address through {kind}"),
                delegate::exec(&c.env.path, kind, "DEL", &c.conf.raw).map(|_| ()),
            );
        }
        problems
    }
}

/// Undoes the rollback it holds when dropped armed (a panic unwinding).
struct Guard<'a, 'b> {
    rb: Option<Rollback>,
    c: &'a Ctx<'b>,
}

impl Drop for Guard<'_, '_> {
    fn drop(&mut self) {
        if let Some(rb) = self.rb.take() {
            let problems = rb.undo(self.c);
            if !problems.is_empty() {
                eprintln!(
                    "hostnet: rollback after a panic incomplete: {}",
                    problems.join("; ")
                );
            }
        }
    }
}

/// Fault injection for tests: `HOSTNET_FAULT=<point>` panics at that point.
fn fault(point: &str) {
    if std::env::var("HOSTNET_FAULT").is_ok_and(|p| p == point) {
        panic!("injected fault at {point}");
    }
}

pub fn delete_link_quietly(index: u32) -> Result<()> {
    let nl = Netlink::open()?;
    match nl.delete_link(index) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.errno(), Some(libc::ENODEV) | Some(libc::ENOENT)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Add port elements and anti-spoofing elements in one transaction; if a
/// table is gone (a flushed ruleset), rebuild both from hostnet's state,
/// which holds these port claims already, then add the guards (this
/// attachment's record is not complete yet).
pub fn add_elements(
    store: &Store,
    elements: &[PortElement],
    guards: &[PortGuard],
) -> crate::error::Result<()> {
    match nft::update(elements, &[], guards, &[], false) {
        Ok(()) => Ok(()),
        Err(e) if e.kind == Kind::NotFound || e.errno() == Some(libc::ENOENT) => {
            let spec = crate::core::desired::table_spec(store, &store.networks()?)?;
            nft::apply_table(&spec)
                .and_then(|()| nft::update(&[], &[], guards, &[], false))
                .map_err(|e2| e2.context(format!("rebuilding the tables after: {}", e.msg)))
        }
        Err(e) => Err(e),
    }
}

pub fn add(env: &Env, conf: &NetConf) -> Result<Value> {
    let c = Ctx::from_env(env, conf)?;
    let netns_path = env.netns()?;
    let netns_file = netns::open(Path::new(netns_path))
        .map_err(|e| Error::new(Kind::NotFound, format!("CNI_NETNS: {}", e.msg)))?;
    super::netns_guard::refuse_own(netns_path, &netns_file)?;
    // a panic anywhere in the steps unwinds through the guard, which undoes
    // what was done; the CNI entry point turns the panic into error JSON
    let mut guard = Guard {
        rb: Some(Rollback {
            netns: Some(netns_path.to_string()),
            ..Rollback::default()
        }),
        c: &c,
    };
    let outcome = match guard.rb.as_mut() {
        Some(rb) => steps(&c, netns_path, &netns_file, rb),
        None => Err(Error::internal("rollback state lost")),
    };
    let rb = guard.rb.take().unwrap_or_default();
    match outcome {
        Ok(v) => Ok(v),
        Err(f) => {
            let problems = rb.undo(&c);
            if problems.is_empty() {
                Err(f)
            } else {
                let details = if f.details.is_empty() {
                    String::new()
                } else {
                    format!("{}; ", f.details)
                };
                Err(Error {
                    details: format!("{details}rollback incomplete: {}", problems.join("; ")),
                    ..f
                })
            }
        }
    }
}

/// ADD as its phases; what each phase takes goes into `rb` as it is taken.
fn steps(c: &Ctx<'_>, netns_path: &str, netns_file: &File, rb: &mut Rollback) -> Result<Value> {
    let mut p = validate(c, rb)?;
    let mut rec = reserve(c, netns_path, &mut p, rb)?;
    let links = link(c, netns_path, netns_file, &mut rec, rb)?;
    let done = container_side(c, netns_path, &p, rb)?;
    record_result(c, netns_path, p, rec, links, done)
}

/// What the validation phase hands on: the addresses so far (a delegated
/// plugin's), DNS, requested addresses per range set, routes and their next
/// hops, the network's host side and the host veth's name.
struct Prepared {
    ips: Vec<(IpNetwork, Option<IpAddr>)>,
    dns: Dns,
    requested: Vec<Option<IpAddr>>,
    routes: Vec<RouteSpec>,
    hops: Vec<(IpNetwork, IpAddr)>,
    net: crate::core::network::Network,
    host_veth: String,
}

/// Phase 1: validate what the config and the environment ask for; a
/// delegated IPAM plugin runs here (it needs no lock of ours).
fn validate(c: &Ctx<'_>, rb: &mut Rollback) -> Result<Prepared> {
    let conf = c.conf;
    let mut ips: Vec<(IpNetwork, Option<IpAddr>)> = Vec::new();
    let mut route_specs: Vec<RouteSpec> = conf.ipam.routes.clone();
    let mut dns = Dns::default();
    let (families, requested) = match &conf.ipam.kind {
        IpamKind::HostLocal { range_sets, .. } => {
            let requested =
                netspec::requested_per_set(range_sets, &conf.requested_ips, &c.env.args.ips)?;
            let families: Vec<(IpNetwork, Option<IpAddr>)> = range_sets
                .iter()
                .map(|s| (s.subnet(), Some(s.gateway())))
                .collect();
            (families, requested)
        }
        IpamKind::Delegated(kind) => {
            let answer = delegate::exec(&c.env.path, kind, "ADD", &conf.raw)?;
            rb.delegated = Some(kind.clone());
            let Some(answer) = answer else {
                return Err(Error::new(
                    Kind::Delegate,
                    format!("IPAM plugin {kind} returned nothing"),
                ));
            };
            let r = AddResult::from_json(&answer).ctx(format!("IPAM plugin {kind}'s result"))?;
            ips = r.ips.iter().map(|i| (i.address, i.gateway)).collect();
            route_specs = r
                .routes
                .iter()
                .map(|r| RouteSpec {
                    dst: r.dst,
                    gw: r.gw,
                })
                .collect();
            dns = r.dns;
            (ips.clone(), Vec::new())
        }
    };
    let routes = netspec::routes(conf, &route_specs, &families)?;
    let hops = netspec::next_hops(&routes, &families)?;
    let net = netspec::network(conf, &ips)?;
    let host_veth = vethname::derived(&conf.name, c.cid, c.ifname);
    Ok(Prepared {
        ips,
        dns,
        requested,
        routes,
        hops,
        net,
        host_veth,
    })
}

/// Phase 2, under the host lock: a record of intent first (so a crash at any
/// later point leaves something DEL, a retry or gc finds), then the host
/// side (`ensure`), the addresses, the host ports and the anti-spoofing
/// elements, and the record with what was taken.
fn reserve(
    c: &Ctx<'_>,
    netns_path: &str,
    p: &mut Prepared,
    rb: &mut Rollback,
) -> Result<Attachment> {
    let conf = c.conf;
    let Prepared {
        ips,
        dns,
        requested,
        hops,
        net,
        host_veth,
        ..
    } = p;
    {
        let _lock = HostLock::acquire(&conf.run_dir)?;
        let nl = Netlink::open()?;
        let data_dir = match &conf.ipam.kind {
            IpamKind::HostLocal { data_dir, .. } => Some(data_dir.clone()),
            IpamKind::Delegated(_) => None,
        };
        let preferred = release_previous(c, &nl, data_dir.as_deref())?;
        // the host side first: it takes nothing of this container, and the
        // table it may (re)build must not hold this attachment yet
        ensure(&c.store, net).ctx(format!(
            "setting up network {} on bridge {}",
            net.name, net.bridge
        ))?;
        let mut rec = Attachment {
            network: conf.name.clone(),
            container_id: c.cid.to_string(),
            ifname: c.ifname.to_string(),
            netns: netns_path.to_string(),
            mode: match conf.mode {
                Mode::Integrated => "hostnet".into(),
                Mode::Bridge => "bridge".into(),
            },
            bridge: conf.bridge.clone(),
            host_veth: host_veth.clone(),
            ips: Vec::new(),
            routes: hops
                .iter()
                .map(|(d, g)| RouteRecord {
                    dst: *d,
                    gw: Some(*g),
                })
                .collect(),
            port_mappings: Vec::new(),
            ipam: IpamRecord {
                kind: "host-local".into(),
                data_dir: data_dir.clone(),
            },
            hairpin: conf.hairpin,
            sysctl_before: Default::default(),
            cni_version: conf.version.to_string(),
            complete: false,
            pid: Some(std::process::id()),
            result: None,
        };
        record::write(&c.store, &rec)?;
        rb.record = Some(rec.clone());
        // Docker may have created its filter FORWARD (policy drop) after
        // init: one rule dump per family (ENOENT when absent) and, only if
        // this bridge's accepts are missing, one insert transaction. The
        // rules belong to the bridge, not to this container: DEL keeps them.
        if c.store.settings()?.docker_forward {
            nft::foreign::sync(std::slice::from_ref(&net.bridge), false).ctx(format!(
                "accepting bridge {} in filter FORWARD (Docker coexistence)",
                net.bridge
            ))?;
        }
        if let IpamKind::HostLocal {
            range_sets,
            data_dir,
            resolv_conf,
        } = &conf.ipam.kind
        {
            rb.data_dir = Some(data_dir.clone());
            recover::note_data_dir(&c.store, &conf.name, data_dir)?;
            let hl = HostLocal::new(data_dir, &conf.name);
            let _dl = hl.lock()?;
            let reclaimable = |id: &str, ifname: &str| -> bool {
                match record::read(&c.store, &conf.name, id, ifname) {
                    Ok(Loaded::Value(a)) => !recover::is_live(&nl, &a).unwrap_or(true),
                    Ok(_) => true,
                    Err(_) => false,
                }
            };
            for (i, set) in range_sets.iter().enumerate() {
                let (res, last) = hl
                    .allocate(
                        set,
                        i,
                        c.cid,
                        c.ifname,
                        requested[i],
                        &preferred,
                        &reclaimable,
                    )
                    .ctx(format!("network {}", conf.name))?;
                ips.push((res.address, Some(res.gateway)));
                rb.reservations.push(res);
                rb.last_reserved.push(last);
            }
            if let Some(path) = resolv_conf {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Error::io(format!("reading resolvConf {}", path.display()), e))?;
                *dns = parse_resolv_conf(&text);
            }
        } else if let IpamKind::Delegated(kind) = &conf.ipam.kind {
            rec.ipam.kind = kind.clone();
        }
        let (attached, mappings) = add_firewall(c, ips, host_veth, rb)?;
        // what was taken, recorded (still incomplete) once it is in the
        // kernel: `check` compares it while the links are made; a crash
        // before this leaves the record of intent, and its DEL, retry or gc
        // searches for the addresses, claims and elements
        rec.ips = attached;
        rec.port_mappings = mappings;
        record::write(&c.store, &rec)?;
        rb.record = Some(rec.clone());
        Ok(rec)
    }
}

/// Before anything is taken: an earlier attachment of the same name that is
/// stale (its veth, netns or ADD gone) is released, an unreadable record's
/// leftovers searched for; returns the addresses to prefer (the same IP back).
fn release_previous(c: &Ctx<'_>, nl: &Netlink, data_dir: Option<&Path>) -> Result<Vec<IpAddr>> {
    let conf = c.conf;
    let mut preferred: Vec<IpAddr> = Vec::new();
    match record::read(&c.store, &conf.name, c.cid, c.ifname)? {
        Loaded::Value(old) => {
            if recover::is_live(nl, &old)? {
                return Err(Error::new(
                    Kind::Conflict,
                    format!(
                        "container {} is already attached to network {} as {} (DEL it first)",
                        c.cid, conf.name, c.ifname
                    ),
                ));
            }
            eprintln!(
                "hostnet: ADD {}: releasing a stale attachment (its veth, netns or ADD is gone)",
                old.key()
            );
            recover::delete_veth(nl, &old.host_veth)?;
            recover::release_locked(&c.store, &old)?;
            if !old.complete {
                recover::search(
                    &c.store,
                    nl,
                    &conf.name,
                    data_dir,
                    c.cid,
                    c.ifname,
                    Some(&old.host_veth),
                )?;
            }
            preferred = old.ips.iter().map(|i| i.address.ip()).collect();
        }
        Loaded::Corrupt => {
            let found = recover::search(&c.store, nl, &conf.name, data_dir, c.cid, c.ifname, None)?;
            preferred = found.ips;
        }
        Loaded::Absent => {}
    }
    if preferred.is_empty() && data_dir.is_some() {
        preferred = recover::lease(&c.store, &conf.name, c.cid, c.ifname)?;
    }
    Ok(preferred)
}

/// The host ports claimed and the port and anti-spoofing elements added in
/// one nftables transaction; returns the addresses as recorded and the
/// mappings taken.
fn add_firewall(
    c: &Ctx<'_>,
    ips: &[(IpNetwork, Option<IpAddr>)],
    host_veth: &str,
    rb: &mut Rollback,
) -> Result<(Vec<AttachedIp>, Vec<PortMapping>)> {
    let conf = c.conf;
    let container_ips: Vec<IpAddr> = ips.iter().map(|(a, _)| a.ip()).collect();
    let mappings = portspec::expand(&conf.port_mappings, &container_ips)?;
    if !mappings.is_empty()
        && c.store
            .network(&conf.name)?
            .is_some_and(|r| r.network.internal)
    {
        return Err(Error::invalid(format!(
            "network {} is internal: it takes no port mappings",
            conf.name
        )));
    }
    let mut elements = Vec::new();
    if !mappings.is_empty() {
        elements = ports::claim_runs(&c.store, c.cid, &mappings)?;
        rb.claimed = mappings.clone();
    }
    // the veth's anti-spoofing elements go in with the port elements, in
    // one transaction, before the veth exists: it is guarded from its
    // first frame
    let attached: Vec<AttachedIp> = ips
        .iter()
        .map(|(a, g)| AttachedIp {
            address: *a,
            gateway: *g,
        })
        .collect();
    // this veth may send from every address of the container (its
    // other networks' too), and its other veths from these
    let siblings = record::siblings(&c.store, &conf.name, c.cid, c.ifname)?;
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
    add_elements(&c.store, &elements, &guards)
        .ctx("adding port mappings and anti-spoofing elements")?;
    rb.elements = elements;
    rb.guards = guards;
    Ok((attached, mappings))
}

/// Phase 3, outside the lock: the veth with its peer born in the container
/// netns, the host end on the bridge (hairpin, isolation) and up. Returns
/// the bridge and the host end as the kernel has them.
fn link(
    c: &Ctx<'_>,
    netns_path: &str,
    netns_file: &File,
    rec: &mut Attachment,
    rb: &mut Rollback,
) -> Result<(LinkInfo, Option<LinkInfo>)> {
    let conf = c.conf;
    let nl = Netlink::open()?;
    let Some(bridge) = nl.link(&conf.bridge)? else {
        return Err(Error::new(
            Kind::Kernel(libc::ENODEV),
            format!("bridge {} vanished right after setting it up", conf.bridge),
        ));
    };
    if conf.promisc_mode {
        nl.set_link_flags(bridge.index, Some(true), None, None)
            .ctx(format!("promiscMode on {}", conf.bridge))?;
    }
    let exists_inside = || {
        Error::new(
            Kind::Conflict,
            format!(
                "an interface named {} already exists in the container netns {netns_path}",
                c.ifname
            ),
        )
    };
    let create =
        |name: &str| nl.create_veth(name, c.ifname, netns_file.as_fd(), conf.mtu, conf.mac);
    let host_index = match create(&rec.host_veth) {
        Ok(i) => i,
        Err(e) if e.errno() == Some(libc::EEXIST) => {
            if nl.link(&rec.host_veth)?.is_none() {
                return Err(exists_inside());
            }
            // the derived name is taken on the host: a hash collision
            let name = vethname::random()?;
            let i = match create(&name) {
                Ok(i) => i,
                Err(e) if e.errno() == Some(libc::EEXIST) => return Err(exists_inside()),
                Err(e) => return Err(e),
            };
            rb.veth = Some(i);
            // the guard elements of this veth follow its new name
            let Some(old) = rb.guards.first().cloned() else {
                return Err(Error::internal("no anti-spoofing elements"));
            };
            let new = PortGuard {
                port: name.clone(),
                ..old.clone()
            };
            rec.host_veth = name;
            {
                let _lock = HostLock::acquire(&conf.run_dir)?;
                nft::update(&[], &[], std::slice::from_ref(&new), &[old], false)
                    .ctx("moving the anti-spoofing elements to the new veth name")?;
                rb.guards[0] = new;
                record::write(&c.store, rec)?;
            }
            rb.record = Some(rec.clone());
            i
        }
        Err(e) => {
            // the kernel may have made the pair before the error (a
            // transient netlink failure): it had our unused name, remove it
            let _ = recover::delete_veth(&nl, &rec.host_veth);
            return Err(e);
        }
    };
    rb.veth = Some(host_index);
    fault("after-veth");
    nl.set_master(host_index, bridge.index)
        .ctx(format!("host end {}", rec.host_veth))?;
    if conf.hairpin {
        nl.set_hairpin(host_index, true)
            .ctx(format!("host end {}", rec.host_veth))?;
    }
    if conf.port_isolation {
        nl.set_isolated(host_index, true)
            .ctx(format!("host end {}", rec.host_veth))?;
    }
    nl.set_up(host_index)
        .ctx(format!("host end {}", rec.host_veth))?;
    let host_link = nl.link_by_index(host_index)?;
    Ok((bridge, host_link))
}

/// Phase 4: the container end addressed, up, routed and tuned, inside its
/// netns.
fn container_side(
    c: &Ctx<'_>,
    netns_path: &str,
    p: &Prepared,
    rb: &mut Rollback,
) -> Result<container::Done> {
    let conf = c.conf;
    let (ips, hops) = (&p.ips, &p.hops);
    let addresses: Vec<IpNetwork> = ips.iter().map(|(a, _)| *a).collect();
    let plan = container::Plan {
        ifname: c.ifname,
        addresses: &addresses,
        routes: hops,
        tuning: &conf.tuning,
    };
    let done = netns::run_in(Path::new(netns_path), || container::configure(&plan))
        .ctx(format!("container netns {netns_path}"))?;
    rb.container_sysctls = done.sysctl_before.clone();
    Ok(done)
}

/// Phase 5: the result, recorded (the record complete, the lease saved)
/// before it is printed.
fn record_result(
    c: &Ctx<'_>,
    netns_path: &str,
    p: Prepared,
    mut rec: Attachment,
    (bridge, host_link): (LinkInfo, Option<LinkInfo>),
    done: container::Done,
) -> Result<Value> {
    let conf = c.conf;
    let Prepared {
        ips, dns, routes, ..
    } = p;
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
                name: rec.host_veth.clone(),
                mac: mac(host_link.as_ref().and_then(|l| l.mac)),
                mtu: host_link.as_ref().map(|l| l.mtu),
                sandbox: None,
            },
            Interface {
                name: c.ifname.to_string(),
                mac: mac(done.link.mac),
                mtu: Some(done.link.mtu),
                sandbox: Some(netns_path.to_string()),
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
        routes: routes
            .iter()
            .map(|r| Route {
                dst: r.dst,
                gw: r.gw,
            })
            .collect(),
        dns: if dns.is_empty() {
            conf.dns.clone()
        } else {
            dns
        },
    };
    let json = result.to_json(conf.version);
    rec.complete = true;
    rec.pid = None;
    rec.result = Some(json.clone());
    rec.sysctl_before = done
        .sysctl_before
        .iter()
        .map(|(n, _, v)| (n.clone(), v.clone()))
        .collect();
    record::write(&c.store, &rec)?;
    if rec.ipam.data_dir.is_some() {
        let ips: Vec<IpAddr> = rec.ips.iter().map(|i| i.address.ip()).collect();
        recover::save_lease(
            &c.store,
            &conf.name,
            c.cid,
            c.ifname,
            rec.ipam.data_dir.as_deref(),
            &ips,
        )?;
    }
    Ok(json)
}
