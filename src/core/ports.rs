//! Port mappings: host (ip | any) . proto . port -> destination ip . port.
//!
//! One code path for static mappings (`hostnet portmap`) and container
//! mappings (CNI `runtimeConfig.portMappings`). The source of truth on disk is
//! one file per claimed host port and kind of owner, `<dir>/ports/<proto>-<port>.json`,
//! listing the mappings on that port with their owners: static mappings under
//! the state dir (they must survive a reboot; fsync'ed), containers' under the
//! run dir (they die with the kernel, as their containers do). That makes the
//! clash check O(1) (read two files) and lets `init` restore every element.
//! A claim file that does not parse is moved aside and rebuilt from the
//! kernel's elements of that port (their owner comment says whose they are).
//!
//! Clash rule, per address family: a host port taken on "any address" clashes
//! with every mapping of that port; one bound to an address clashes with the
//! same address and with "any". The error names the owner.
//!
//! Callers hold the host lock. `claim` writes the files and returns the nft
//! elements to add; the caller runs the nft transaction and calls `unclaim`
//! if it fails, so a failure leaves nothing behind.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::core::state::{
    Durability, Loaded, Store, list_json, load, remove_file_if_exists, write_json,
};
use crate::error::{Error, Result};
pub use crate::kernel::nft::{L4Proto, PortElement};

pub const STATIC_OWNER: &str = "static";

/// One host port mapped to one destination port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortMapping {
    /// None: every host address of the destination's family.
    pub host_ip: Option<IpAddr>,
    pub proto: L4Proto,
    pub host_port: u16,
    pub dest_ip: IpAddr,
    pub dest_port: u16,
}

impl PortMapping {
    pub fn element(&self, owner: &str) -> PortElement {
        PortElement {
            host_ip: self.host_ip,
            proto: self.proto,
            host_port: self.host_port,
            host_port_end: self.host_port,
            dest_ip: self.dest_ip,
            dest_port: self.dest_port,
            owner: owner.to_string(),
        }
    }
}

pub fn parse_proto(text: &str) -> Result<L4Proto> {
    match text.to_ascii_lowercase().as_str() {
        "tcp" | "" => Ok(L4Proto::Tcp),
        "udp" => Ok(L4Proto::Udp),
        "sctp" => Ok(L4Proto::Sctp),
        other => Err(Error::invalid(format!(
            "protocol {other:?}: use tcp, udp or sctp"
        ))),
    }
}

/// One claimed host port as stored on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    owner: String,
    #[serde(flatten)]
    mapping: PortMapping,
    /// The same-port range (first, last host port) this port was claimed
    /// with: the kernel holds the whole range as one interval element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    range: Option<(u16, u16)>,
}

impl Entry {
    fn element(&self) -> PortElement {
        let mut e = self.mapping.element(&self.owner);
        if let Some((first, last)) = self.range {
            e.host_port = first;
            e.dest_port = first;
            e.host_port_end = last;
        }
        e
    }
}

/// Is `mappings` one same-port range (8000-8099 -> ip:8000-8099, at least two
/// ports, one owner's request)? Then the kernel can hold it as one element.
pub fn same_port_range(mappings: &[PortMapping]) -> Option<(u16, u16)> {
    let first = mappings.first()?;
    let n = mappings.len();
    let run = n >= 2
        && mappings.iter().enumerate().all(|(i, m)| {
            m.host_ip == first.host_ip
                && m.proto == first.proto
                && m.dest_ip == first.dest_ip
                && m.host_port == m.dest_port
                && usize::from(m.host_port) == usize::from(first.host_port) + i
        });
    run.then(|| (first.host_port, first.host_port + (n as u16 - 1)))
}

/// The mappings of one request cut into same-port runs: mappings that share
/// host address, protocol and destination, map each port to itself and
/// follow each other port by port form one run (claimed and held as one
/// interval element); any other mapping is a run of its own. Sorted, so the
/// cut depends only on the set of mappings (a dual-stack request interleaves
/// families), and DEL/CHECK recompute the same runs from the record.
pub fn runs(mappings: &[PortMapping]) -> Vec<Vec<PortMapping>> {
    let mut sorted = mappings.to_vec();
    sorted.sort_by_key(|m| (m.proto, m.host_ip, m.dest_ip, m.host_port, m.dest_port));
    sorted.dedup();
    let mut out: Vec<Vec<PortMapping>> = Vec::new();
    for m in sorted {
        let extends = out.last().and_then(|run| run.last()).is_some_and(|p| {
            p.host_ip == m.host_ip
                && p.proto == m.proto
                && p.dest_ip == m.dest_ip
                && p.host_port == p.dest_port
                && m.host_port == m.dest_port
                && p.host_port.checked_add(1) == Some(m.host_port)
        });
        match out.last_mut() {
            Some(run) if extends => run.push(m),
            _ => out.push(vec![m]),
        }
    }
    out
}

/// The kernel elements of `owner`'s request: one interval element per
/// same-port run of two or more ports, one element per other mapping.
pub fn elements_for(owner: &str, mappings: &[PortMapping]) -> Vec<PortElement> {
    let mut out = Vec::new();
    for run in runs(mappings) {
        match (same_port_range(&run), run.first()) {
            (Some((first, last)), Some(m)) => {
                let mut e = m.element(owner);
                e.host_port = first;
                e.dest_port = first;
                e.host_port_end = last;
                out.push(e);
            }
            _ => out.extend(run.iter().map(|m| m.element(owner))),
        }
    }
    out.sort();
    out
}

/// Claim a container's request run by run (see `runs`): each same-port run
/// as one interval element, like `hostnet portmap add` does. All or nothing.
pub fn claim_runs(
    store: &Store,
    owner: &str,
    mappings: &[PortMapping],
) -> Result<Vec<PortElement>> {
    let mut done: Vec<Vec<PortMapping>> = Vec::new();
    let mut out = Vec::new();
    for run in runs(mappings) {
        match claim_grouped(store, owner, &run) {
            Ok(els) => {
                out.extend(els);
                done.push(run);
            }
            Err(e) => {
                for d in done.iter().rev() {
                    let _ = unclaim(store, owner, d);
                }
                return Err(e);
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn ports_dirs(store: &Store) -> [std::path::PathBuf; 2] {
    [store.dir.join("ports"), store.run.join("ports")]
}

fn is_static(owner: &str) -> bool {
    owner == STATIC_OWNER
}

/// The claim file of `owner`'s kind for one host port.
fn port_file(store: &Store, owner: &str, proto: L4Proto, port: u16) -> std::path::PathBuf {
    let base = if is_static(owner) {
        &store.dir
    } else {
        &store.run
    };
    base.join("ports")
        .join(format!("{}-{port}.json", proto.name()))
}

fn durability(owner: &str) -> Durability {
    if is_static(owner) {
        Durability::Durable
    } else {
        Durability::Volatile
    }
}

/// The entries of one claim file; an unreadable one is moved aside and
/// rebuilt (and rewritten) from the kernel's elements on that port whose
/// owners are of the file's kind.
fn read_file(
    path: &std::path::Path,
    statics: bool,
    proto: L4Proto,
    port: u16,
) -> Result<Vec<Entry>> {
    match load::<Vec<Entry>>(path)? {
        Loaded::Value(v) => Ok(v),
        Loaded::Absent => Ok(Vec::new()),
        Loaded::Corrupt => {
            let rebuilt = from_kernel(proto, port, statics)?;
            if !rebuilt.is_empty() {
                let d = if statics {
                    Durability::Durable
                } else {
                    Durability::Volatile
                };
                write_json(path, &rebuilt, d)?;
                eprintln!(
                    "hostnet: rebuilt {} from {} kernel element(s)",
                    path.display(),
                    rebuilt.len()
                );
            }
            Ok(rebuilt)
        }
    }
}

/// The claims on `port` that the kernel's elements describe.
fn from_kernel(proto: L4Proto, port: u16, statics: bool) -> Result<Vec<Entry>> {
    let elements = match crate::kernel::nft::read_ports() {
        Ok(e) => e,
        Err(e) if e.is_not_found() => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    Ok(elements
        .into_iter()
        .filter(|e| {
            e.proto == proto
                && e.host_port <= port
                && port <= e.host_port_end
                && is_static(&e.owner) == statics
        })
        .map(|e| {
            let offset = port - e.host_port;
            Entry {
                mapping: PortMapping {
                    host_ip: e.host_ip,
                    proto: e.proto,
                    host_port: port,
                    dest_ip: e.dest_ip,
                    dest_port: e.dest_port + offset,
                },
                range: (e.host_port_end > e.host_port).then_some((e.host_port, e.host_port_end)),
                owner: e.owner,
            }
        })
        .collect())
}

/// Every claim on one host port, static and containers'.
fn entries_on(store: &Store, proto: L4Proto, port: u16) -> Result<Vec<Entry>> {
    let mut out = read_file(
        &port_file(store, STATIC_OWNER, proto, port),
        true,
        proto,
        port,
    )?;
    out.extend(read_file(
        &port_file(store, "", proto, port),
        false,
        proto,
        port,
    )?);
    Ok(out)
}

fn describe(m: &PortMapping) -> String {
    let host = match m.host_ip {
        Some(ip @ IpAddr::V6(_)) => format!("[{ip}]:"),
        Some(ip) => format!("{ip}:"),
        None => String::new(),
    };
    format!("{}/{host}{}", m.proto.name(), m.host_port)
}

/// Do two mappings want the same host port? Same family, and one of them on
/// any address or both on the same one.
fn clashes(a: &PortMapping, b: &PortMapping) -> bool {
    a.proto == b.proto
        && a.host_port == b.host_port
        && a.dest_ip.is_ipv4() == b.dest_ip.is_ipv4()
        && (a.host_ip.is_none() || b.host_ip.is_none() || a.host_ip == b.host_ip)
}

/// A host address a mapping may be bound to. Refused, with the reason:
/// - 127.0.0.0/8 other than 127.0.0.1: hostnet's localhost handling (the
///   bridge's route_localnet, the guard against LAN packets to 127/8) is
///   made for 127.0.0.1, the address runtimes publish "host only" ports on;
/// - ::1 (and ::ffff:127.x): IPv6 has no route_localnet, the kernel never
///   routes a packet from ::1 out of `lo`, so a DNAT to a container is
///   impossible; bind to 127.0.0.1 or a host address instead;
/// - fe80::/10: a link-local address means nothing without its interface
///   (zone), and the map key has none;
/// - multicast and broadcast: no connection is made to them.
pub fn validate_host_ip(ip: IpAddr) -> Result<()> {
    let why = match ip {
        IpAddr::V4(v4) if v4.is_loopback() && v4 != std::net::Ipv4Addr::LOCALHOST => {
            Some("of 127.0.0.0/8 only 127.0.0.1 can be published (host-only); use 127.0.0.1")
        }
        IpAddr::V4(v4) if v4.is_multicast() || v4.is_broadcast() => {
            Some("a multicast or broadcast address cannot be published")
        }
        IpAddr::V6(v6) if v6.is_loopback() => Some(
            "::1 cannot be published: IPv6 has no route_localnet, so a packet from ::1 is never routed to a container; use 127.0.0.1",
        ),
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()) => {
            Some("an IPv4-mapped loopback address cannot be published; use 127.0.0.1")
        }
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => Some(
            "a link-local address needs an interface (zone) a mapping cannot carry; use a global or unique-local address",
        ),
        IpAddr::V6(v6) if v6.is_multicast() => Some("a multicast address cannot be published"),
        _ => None,
    };
    match why {
        Some(why) => Err(Error::invalid(format!("host ip {ip}: {why}"))),
        None => Ok(()),
    }
}

pub fn validate(m: &PortMapping) -> Result<()> {
    if m.host_port == 0 || m.dest_port == 0 {
        return Err(Error::invalid(format!(
            "{}: ports are 1-65535",
            describe(m)
        )));
    }
    if let Some(h) = m.host_ip
        && h.is_ipv4() != m.dest_ip.is_ipv4()
    {
        return Err(Error::invalid(format!(
            "{}: host address {h} and destination {} are of different families",
            describe(m),
            m.dest_ip
        )));
    }
    Ok(())
}

/// Check and record `mappings` for `owner`; returns the elements to add to
/// the kernel. On a clash nothing is written and the error names the owner.
/// A mapping identical to one `owner` already has is not an error (it is
/// returned again so the kernel can be repaired).
pub fn claim(store: &Store, owner: &str, mappings: &[PortMapping]) -> Result<Vec<PortElement>> {
    claim_as(store, owner, mappings, None)
}

/// Like `claim`, but a same-port range (see `same_port_range`) is recorded
/// and returned as ONE interval element instead of one element per port.
pub fn claim_grouped(
    store: &Store,
    owner: &str,
    mappings: &[PortMapping],
) -> Result<Vec<PortElement>> {
    claim_as(store, owner, mappings, same_port_range(mappings))
}

fn claim_as(
    store: &Store,
    owner: &str,
    mappings: &[PortMapping],
    range: Option<(u16, u16)>,
) -> Result<Vec<PortElement>> {
    // group by port, check everything first, then write owner's files
    // per file: what it held, and what it will hold; plus the other kind's claims
    let mut files: BTreeMap<std::path::PathBuf, (Vec<Entry>, Vec<Entry>)> = BTreeMap::new();
    let mut others: BTreeMap<std::path::PathBuf, Vec<Entry>> = BTreeMap::new();
    for (i, m) in mappings.iter().enumerate() {
        validate(m)?;
        if let Some(other) = mappings[..i].iter().find(|o| clashes(o, m)) {
            if other != m {
                return Err(Error::conflict(format!(
                    "{} is mapped twice in one request",
                    describe(m)
                )));
            }
            continue;
        }
        let path = port_file(store, owner, m.proto, m.host_port);
        if !files.contains_key(&path) {
            let existing = read_file(&path, is_static(owner), m.proto, m.host_port)?;
            files.insert(path.clone(), (existing.clone(), existing));
            let other_owner = if is_static(owner) { "" } else { STATIC_OWNER };
            let other = port_file(store, other_owner, m.proto, m.host_port);
            let theirs = read_file(&other, !is_static(owner), m.proto, m.host_port)?;
            others.insert(path.clone(), theirs);
        }
        let theirs = others.get(&path).cloned().unwrap_or_default();
        let (_, entries) = files
            .get_mut(&path)
            .ok_or_else(|| Error::new(crate::error::Kind::Io, "internal: port file"))?;
        if entries
            .iter()
            .any(|e| e.owner == owner && e.mapping == *m && e.range == range)
        {
            continue;
        }
        if let Some(e) = entries
            .iter()
            .chain(theirs.iter())
            .find(|e| clashes(&e.mapping, m))
        {
            let who = if e.owner == STATIC_OWNER {
                "a static mapping".to_string()
            } else {
                format!("container {}", e.owner)
            };
            return Err(Error::conflict(format!(
                "host port {} is already mapped to {}:{} by {who}",
                describe(m),
                e.mapping.dest_ip,
                e.mapping.dest_port
            )));
        }
        entries.push(Entry {
            owner: owner.to_string(),
            mapping: m.clone(),
            range,
        });
    }
    rewrite(files, durability(owner))?;
    let mut out: Vec<PortElement> = mappings
        .iter()
        .map(|m| {
            Entry {
                owner: owner.to_string(),
                mapping: m.clone(),
                range,
            }
            .element()
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Claims of one owner about to be released, read once (one read per claim
/// file): what goes (its mappings and kernel elements) and, per file, the
/// entries before and after. `apply` rewrites the files, all or none.
/// Callers delete the elements first and the claims after, so a crash in
/// between leaves a claim (visible, releasable) rather than a hidden live
/// element.
pub struct Release {
    files: BTreeMap<std::path::PathBuf, (Vec<Entry>, Vec<Entry>)>,
    gone: Vec<Entry>,
    durability: Durability,
}

impl Release {
    /// The mappings released, in claim-file order.
    pub fn mappings(&self) -> Vec<PortMapping> {
        self.gone.iter().map(|e| e.mapping.clone()).collect()
    }

    /// Their kernel elements (a same-port range once).
    pub fn elements(&self) -> Vec<PortElement> {
        let mut out: Vec<PortElement> = self.gone.iter().map(Entry::element).collect();
        out.sort();
        out.dedup();
        out
    }

    /// Rewrite the claim files without the released entries: all or none.
    pub fn apply(self) -> Result<()> {
        rewrite(self.files, self.durability)
    }
}

/// `owner`'s claims for `mappings` (those recorded; others are skipped). A
/// port claimed as part of a same-port range is released only with the
/// whole range: asking for part of one is refused, nothing read is changed.
pub fn release(store: &Store, owner: &str, mappings: &[PortMapping]) -> Result<Release> {
    let files = mappings
        .iter()
        .map(|m| (m.proto, m.host_port))
        .collect::<Vec<_>>();
    release_where(store, owner, &files, |m| mappings.contains(m))
}

/// `owner`'s claims on host ports `start..=end` of `proto` that `pick`
/// selects (range rule as `release`).
pub fn release_on_ports(
    store: &Store,
    owner: &str,
    proto: L4Proto,
    (start, end): (u16, u16),
    pick: impl Fn(&PortMapping) -> bool,
) -> Result<Release> {
    let files: Vec<(L4Proto, u16)> = (start..=end).map(|p| (proto, p)).collect();
    release_where(store, owner, &files, pick)
}

fn release_where(
    store: &Store,
    owner: &str,
    ports: &[(L4Proto, u16)],
    pick: impl Fn(&PortMapping) -> bool,
) -> Result<Release> {
    let mut files: BTreeMap<std::path::PathBuf, (Vec<Entry>, Vec<Entry>)> = BTreeMap::new();
    let mut gone: Vec<Entry> = Vec::new();
    for &(proto, port) in ports {
        let path = port_file(store, owner, proto, port);
        if files.contains_key(&path) {
            continue;
        }
        let before = read_file(&path, is_static(owner), proto, port)?;
        let (taken, after): (Vec<Entry>, Vec<Entry>) = before
            .iter()
            .cloned()
            .partition(|e| e.owner == owner && pick(&e.mapping));
        gone.extend(taken);
        files.insert(path, (before, after));
    }
    // check first: nothing is written when a range would be cut
    for e in &gone {
        if let Some((first, last)) = e.range {
            let whole = (first..=last).all(|p| {
                gone.iter()
                    .any(|o| o.mapping.host_port == p && o.mapping.proto == e.mapping.proto)
            });
            if !whole {
                return Err(Error::invalid(format!(
                    "{} is part of the range {first}-{last}: remove the whole range",
                    describe(&e.mapping)
                )));
            }
        }
    }
    Ok(Release {
        files,
        gone,
        durability: durability(owner),
    })
}

/// The elements `unclaim` would return, changing nothing.
pub fn claimed_elements(
    store: &Store,
    owner: &str,
    mappings: &[PortMapping],
) -> Result<Vec<PortElement>> {
    Ok(release(store, owner, mappings)?.elements())
}

/// Remove `owner`'s entries for `mappings`, all or none (a failure part way
/// puts back the files already changed); returns their elements.
pub fn unclaim(store: &Store, owner: &str, mappings: &[PortMapping]) -> Result<Vec<PortElement>> {
    let r = release(store, owner, mappings)?;
    let elements = r.elements();
    r.apply()?;
    Ok(elements)
}

/// Write each claim file whose entries change (an empty one is removed);
/// on a failure, the files already written get their old entries back, so
/// the claims are all changed or none.
fn rewrite(
    files: BTreeMap<std::path::PathBuf, (Vec<Entry>, Vec<Entry>)>,
    d: Durability,
) -> Result<()> {
    let put = |path: &std::path::Path, entries: &[Entry]| {
        if entries.is_empty() {
            remove_file_if_exists(path)
        } else {
            write_json(path, entries, d)
        }
    };
    let mut done: Vec<(std::path::PathBuf, Vec<Entry>)> = Vec::new();
    for (path, (before, after)) in files {
        if before == after {
            continue;
        }
        if let Err(e) = put(&path, &after) {
            for (p, old) in done.iter().rev() {
                let _ = put(p, old);
            }
            return Err(e);
        }
        done.push((path, before));
    }
    Ok(())
}

/// The mappings on host ports start..=end of one protocol, with owners:
/// one file read per port, nothing else.
pub fn on_ports(
    store: &Store,
    proto: L4Proto,
    start: u16,
    end: u16,
) -> Result<Vec<(String, PortMapping)>> {
    let mut out = Vec::new();
    for port in start..=end {
        let entries = entries_on(store, proto, port)?;
        out.extend(entries.into_iter().map(|e| (e.owner, e.mapping)));
    }
    Ok(out)
}

/// The files holding every claimed host port (for `hostnet teardown`).
pub fn claim_files(store: &Store) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for dir in ports_dirs(store) {
        out.extend(list_json(&dir)?);
    }
    Ok(out)
}

/// "tcp-8080.json" -> (tcp, 8080)
fn parse_file_name(path: &std::path::Path) -> Option<(L4Proto, u16)> {
    let stem = path.file_stem()?.to_str()?;
    let (proto, port) = stem.split_once('-')?;
    Some((parse_proto(proto).ok()?, port.parse().ok()?))
}

fn all_entries(store: &Store) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (i, dir) in ports_dirs(store).iter().enumerate() {
        for path in list_json(dir)? {
            match parse_file_name(&path) {
                Some((proto, port)) => out.extend(read_file(&path, i == 0, proto, port)?),
                None => out.extend(load::<Vec<Entry>>(&path)?.value().unwrap_or_default()),
            }
        }
    }
    Ok(out)
}

/// Every container claim (run dir) of `owner` whose destination is one of
/// `ips`: what a lost attachment record held (a listing; crash recovery only).
pub fn claims_of(store: &Store, owner: &str, ips: &[IpAddr]) -> Result<Vec<PortMapping>> {
    Ok(all_entries(store)?
        .into_iter()
        .filter(|e| e.owner == owner && ips.contains(&e.mapping.dest_ip))
        .map(|e| e.mapping)
        .collect())
}

/// Every mapping on disk with its owner, one per host port (for `portmap ls`, GC).
pub fn all(store: &Store) -> Result<Vec<(String, PortMapping)>> {
    let mut out: Vec<(String, PortMapping)> = all_entries(store)?
        .into_iter()
        .map(|e| (e.owner, e.mapping))
        .collect();
    out.sort_by(|a, b| {
        (&a.1.proto, a.1.host_port, &a.1.host_ip, &a.0).cmp(&(
            &b.1.proto,
            b.1.host_port,
            &b.1.host_ip,
            &b.0,
        ))
    });
    Ok(out)
}

/// Every port element hostnet has persisted: a same-port range once.
pub fn persisted_elements(store: &Store) -> Result<Vec<PortElement>> {
    let mut out: Vec<PortElement> = all_entries(store)?.iter().map(Entry::element).collect();
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::TestDir;
    use crate::error::Kind;

    fn tcp(host_ip: Option<&str>, host_port: u16, dest: &str, dest_port: u16) -> PortMapping {
        PortMapping {
            host_ip: host_ip.map(|a| a.parse().expect("host ip")),
            proto: L4Proto::Tcp,
            host_port,
            dest_ip: dest.parse().expect("dest ip"),
            dest_port,
        }
    }

    #[test]
    fn release_on_ports_picks_by_owner_and_filter_and_keeps_ranges_whole() {
        let d = TestDir::new("ports-release");
        let s = d.store();
        let range: Vec<PortMapping> = (8000..=8002)
            .map(|p| tcp(None, p, "10.88.0.2", p))
            .collect();
        let bound = tcp(Some("192.0.2.10"), 9000, "10.88.0.3", 80);
        claim_grouped(&s, STATIC_OWNER, &range).unwrap();
        claim_grouped(&s, STATIC_OWNER, std::slice::from_ref(&bound)).unwrap();
        claim(&s, "ctr", &[tcp(None, 9001, "10.88.0.4", 80)]).unwrap();
        let ports = |s: &Store| -> Vec<u16> {
            on_ports(s, L4Proto::Tcp, 8000, 9001)
                .unwrap()
                .iter()
                .map(|(_, m)| m.host_port)
                .collect()
        };
        // part of the range: refused, nothing changed
        let cut = release_on_ports(&s, STATIC_OWNER, L4Proto::Tcp, (8001, 8002), |_| true);
        let e = cut.err().expect("a cut range is refused");
        assert!(e.msg.contains("part of the range 8000-8002"), "{}", e.msg);
        assert_eq!(ports(&s), vec![8000, 8001, 8002, 9000, 9001]);
        // the bound mapping only: the range and the container's claim stay
        let r = release_on_ports(&s, STATIC_OWNER, L4Proto::Tcp, (8000, 9001), |m| {
            m.host_ip.is_some()
        })
        .unwrap();
        assert_eq!(r.mappings(), vec![bound.clone()]);
        assert_eq!(
            r.elements(),
            claimed_elements(&s, STATIC_OWNER, &[bound]).unwrap()
        );
        r.apply().unwrap();
        assert_eq!(ports(&s), vec![8000, 8001, 8002, 9001]);
        // the whole range at once
        let r = release_on_ports(&s, STATIC_OWNER, L4Proto::Tcp, (8000, 8002), |_| true).unwrap();
        assert_eq!(r.elements().len(), 1, "one interval element");
        r.apply().unwrap();
        assert_eq!(ports(&s), vec![9001]);
    }

    #[test]
    fn unclaim_is_whole_and_a_failed_rewrite_puts_back_what_it_changed() {
        let d = TestDir::new("ports-rewrite");
        let s = d.store();
        let range: Vec<PortMapping> = (8000..=8002)
            .map(|p| tcp(None, p, "10.88.0.2", p))
            .collect();
        let one = [tcp(Some("192.0.2.10"), 9000, "10.88.0.3", 80)];
        claim_grouped(&s, STATIC_OWNER, &range).unwrap();
        claim_grouped(&s, STATIC_OWNER, &one).unwrap();
        let mine: Vec<PortMapping> = range.iter().chain(&one).cloned().collect();
        let elements = claimed_elements(&s, STATIC_OWNER, &mine).unwrap();
        assert_eq!(unclaim(&s, STATIC_OWNER, &mine).unwrap(), elements);
        assert!(on_ports(&s, L4Proto::Tcp, 8000, 9000).unwrap().is_empty());

        // a rewrite whose second file cannot be written (its directory is
        // a regular file) puts the first one back
        claim_grouped(&s, STATIC_OWNER, &one).unwrap();
        let first = port_file(&s, STATIC_OWNER, L4Proto::Tcp, 9000);
        let before = read_file(&first, true, L4Proto::Tcp, 9000).unwrap();
        let blocker = d.0.join("zz-not-a-dir");
        std::fs::write(&blocker, b"").unwrap();
        let mut files = BTreeMap::new();
        files.insert(first.clone(), (before.clone(), Vec::new()));
        files.insert(blocker.join("tcp-9001.json"), (Vec::new(), before.clone()));
        assert!(rewrite(files, Durability::Durable).is_err());
        assert_eq!(
            read_file(&first, true, L4Proto::Tcp, 9000).unwrap(),
            before,
            "the removed claim is back"
        );
    }

    #[test]
    fn any_address_clashes_with_a_bound_mapping_of_the_same_port() {
        let d = TestDir::new("ports-any");
        let s = d.store();
        claim(&s, "c1", &[tcp(Some("192.0.2.10"), 8080, "10.88.0.2", 80)]).unwrap();
        let e = claim(&s, "c2", &[tcp(None, 8080, "10.88.0.3", 80)]).unwrap_err();
        assert_eq!(e.kind, Kind::Conflict, "{e}");
        assert!(e.msg.contains("container c1"), "names the owner: {e}");
        // and the other way round
        let e = claim(&s, "c3", &[tcp(Some("192.0.2.11"), 9090, "10.88.0.4", 80)])
            .and_then(|_| claim(&s, "c4", &[tcp(None, 9090, "10.88.0.5", 80)]))
            .unwrap_err();
        assert_eq!(e.kind, Kind::Conflict, "{e}");
    }

    #[test]
    fn different_addresses_protocols_and_families_do_not_clash() {
        let d = TestDir::new("ports-apart");
        let s = d.store();
        claim(&s, "c1", &[tcp(Some("192.0.2.10"), 8080, "10.88.0.2", 80)]).unwrap();
        claim(&s, "c2", &[tcp(Some("192.0.2.11"), 8080, "10.88.0.3", 80)]).unwrap();
        let udp = PortMapping {
            proto: L4Proto::Udp,
            ..tcp(None, 8080, "10.88.0.4", 80)
        };
        claim(&s, "c3", &[udp]).unwrap();
        // an IPv6 mapping of the same port: the rule is per family
        claim(&s, "c4", &[tcp(None, 8080, "fd00::4", 80)]).unwrap();
    }

    #[test]
    fn a_static_mapping_and_a_container_clash_across_their_stores() {
        let d = TestDir::new("ports-static");
        let s = d.store();
        claim(&s, STATIC_OWNER, &[tcp(None, 8443, "10.88.0.9", 443)]).unwrap();
        let e = claim(&s, "c1", &[tcp(None, 8443, "10.88.0.2", 443)]).unwrap_err();
        assert_eq!(e.kind, Kind::Conflict);
        assert!(e.msg.contains("a static mapping"), "{e}");
    }

    #[test]
    fn a_claim_again_is_idempotent_and_a_release_frees_the_port() {
        let d = TestDir::new("ports-again");
        let s = d.store();
        let m = [tcp(None, 8080, "10.88.0.2", 80)];
        let first = claim(&s, "c1", &m).unwrap();
        assert_eq!(claim(&s, "c1", &m).unwrap(), first);
        assert_eq!(first, vec![m[0].element("c1")]);
        assert!(claim(&s, "c2", &[tcp(None, 8080, "10.88.0.3", 80)]).is_err());
        assert_eq!(unclaim(&s, "c1", &m).unwrap(), first);
        claim(&s, "c2", &[tcp(None, 8080, "10.88.0.3", 80)]).unwrap();
    }

    #[test]
    fn one_request_mapping_a_port_twice_is_a_conflict_and_writes_nothing() {
        let d = TestDir::new("ports-twice");
        let s = d.store();
        let e = claim(
            &s,
            "c1",
            &[
                tcp(None, 8080, "10.88.0.2", 80),
                tcp(None, 8080, "10.88.0.2", 81),
            ],
        )
        .unwrap_err();
        assert_eq!(e.kind, Kind::Conflict);
        assert!(all(&s).unwrap().is_empty(), "nothing claimed");
    }

    #[test]
    fn a_same_port_range_is_one_element_and_released_only_whole() {
        let d = TestDir::new("ports-range");
        let s = d.store();
        let run: Vec<PortMapping> = (7000..=7002)
            .map(|p| tcp(None, p, "10.88.0.2", p))
            .collect();
        let els = claim_grouped(&s, "c1", &run).unwrap();
        assert_eq!(els.len(), 1, "{els:?}");
        assert_eq!((els[0].host_port, els[0].host_port_end), (7000, 7002));
        let e = unclaim(&s, "c1", &run[..1]).unwrap_err();
        assert_eq!(e.kind, Kind::Invalid, "{e}");
        assert_eq!(unclaim(&s, "c1", &run).unwrap(), els);
    }
}
