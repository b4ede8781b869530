//! nftables over netlink (nftnl + mnl): the static `inet hostnet` table of
//! `rulesets/hostnet.nft`, its set/map elements, and reading it back.
//!
//! The public API is safe; every `unsafe` call into libnftnl sits in `sys.rs`.
//!
//! The table is replaced in one transaction (`apply_table`); per-container and
//! per-mapping changes are element inserts/deletes in one transaction
//! (`update_ports`), O(1) in the number of existing elements.

use std::net::IpAddr;

use ipnetwork::{Ipv4Network, Ipv6Network};

use crate::error::Result;

pub const TABLE: &str = "hostnet";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum L4Proto {
    Tcp,
    Udp,
    Sctp,
}

impl L4Proto {
    pub fn number(self) -> u8 {
        match self {
            L4Proto::Tcp => 6,
            L4Proto::Udp => 17,
            L4Proto::Sctp => 132,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            L4Proto::Tcp => "tcp",
            L4Proto::Udp => "udp",
            L4Proto::Sctp => "sctp",
        }
    }
}

/// One element of a hostports map: (host ip | any) . proto . host port ->
/// dest ip . dest port, with its owner in the element comment.
/// `host_ip` None means "any host address" (the `_any` maps); the family of
/// `dest_ip` picks the v4 or v6 map. When `host_ip` is Some, it has the same
/// family as `dest_ip`.
///
/// A same-port range (`host_port_end > host_port`) is one interval element
/// of the hostranges maps: (host ip | 0.0.0.0/0 | ::/0) . proto . host port
/// range -> dest ip, the port kept. Ranges that overlap (same family and
/// protocol, intersecting ports, the same host address or either on any) are
/// a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortElement {
    pub host_ip: Option<IpAddr>,
    pub proto: L4Proto,
    pub host_port: u16,
    /// last host port; == host_port for a single port. When > host_port the
    /// element is a same-port range: dest_port must equal host_port, and it
    /// goes to the hostranges maps.
    pub host_port_end: u16,
    pub dest_ip: IpAddr,
    pub dest_port: u16,
    /// "static" or a container id; stored as the element comment (<= 128 bytes).
    pub owner: String,
}

/// Anti-spoofing elements in `table bridge hostnet` of one bridge port (a
/// container's host veth): the addresses it may send from, i.e. every
/// address hostnet assigned to that container (on any of its networks: a
/// container with eth0 and eth1 answers through whichever its routes pick).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortGuard {
    pub port: String,
    pub addrs: Vec<IpAddr>,
    /// Also the port's own element in `ports` (false: only `port . addr`
    /// elements, for a port that is in `ports` already).
    pub with_port: bool,
}

/// Everything variable in the tables: the desired elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSpec {
    pub bridges: Vec<String>,
    /// Bridges of networks in `routed` gateway mode.
    pub routed: Vec<String>,
    pub subnets4: Vec<Ipv4Network>,
    pub subnets6: Vec<Ipv6Network>,
    pub ports: Vec<PortElement>,
    /// Subnets of internal networks: nothing from them is forwarded beyond
    /// their bridge (so nothing is masqueraded either).
    pub internal4: Vec<Ipv4Network>,
    pub internal6: Vec<Ipv6Network>,
    /// Anti-spoofing elements of every attachment.
    pub guards: Vec<PortGuard>,
}

/// What the kernel has (or what a TableSpec would produce), in a form that
/// compares exactly: chains with their hook line and each rule rendered by
/// libnftnl as text, and every set with its elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSnapshot {
    /// (chain name, "type nat hook prerouting prio -100 policy accept" or "" for a regular chain, rules)
    pub chains: Vec<ChainSnapshot>,
    pub sets: Vec<SetSnapshot>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainSnapshot {
    pub name: String,
    pub hook: String,
    /// Each rule's expressions as libnftnl prints them ("[ meta load ... ]" lines joined).
    pub rules: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetSnapshot {
    pub name: String,
    /// Elements rendered as text, sorted: e.g. "nerdctl0", "10.4.0.0/24",
    /// "tcp . 8080 : 10.4.0.2 . 80 comment static".
    pub elements: Vec<String>,
}

mod dump;
mod elements;
pub mod foreign;
mod guard;
mod sys;
mod table;

/// Replace the whole `inet hostnet` and `bridge hostnet` tables with the
/// static ruleset plus the elements of `spec`, in ONE netlink transaction
/// (creates them if absent).
pub fn apply_table(spec: &TableSpec) -> Result<()> {
    table::apply(spec)
}

/// Delete both tables; Ok(false) if the inet table did not exist.
pub fn delete_table() -> Result<bool> {
    table::delete()
}

/// Add and delete port elements in ONE transaction. An add whose key exists
/// already, or a range overlapping an existing range, fails the whole batch
/// (Kind::Conflict); a delete of a missing element fails it too
/// (Kind::NotFound) unless `ignore_missing` is set, in which case missing
/// elements are skipped (each delete checked first). A range is deleted only
/// when exactly that range exists (one GET per range delete, always).
pub fn update_ports(add: &[PortElement], del: &[PortElement], ignore_missing: bool) -> Result<()> {
    elements::update_ports(add, del, ignore_missing)
}

pub use elements::update;

/// The anti-spoofing elements in the kernel, per port (empty when the
/// bridge table does not exist).
pub fn read_guards() -> Result<Vec<PortGuard>> {
    dump::read_guards()
}

/// Close this process's nftables socket now (the next nftables call opens
/// a new one). All nftables calls of a thread share one socket, opened on
/// first use and kept until this call or process exit. After a batch that
/// deleted elements its close waits one RCU grace period: call this once the
/// host lock is released to pay that wait at a chosen moment (e.g. while a
/// veth delete runs on another thread); otherwise it is paid at process exit.
pub fn close_session() {
    sys::close_session()
}

/// Base chains of other tables (any family) on the forward hook with policy
/// drop, e.g. "table ip filter chain FORWARD": they drop what hostnet accepts.
pub fn foreign_forward_drops() -> Result<Vec<String>> {
    dump::foreign_forward_drops()
}

/// Base chains of other tables on the prerouting (0) or postrouting (4) hook
/// with policy drop, with the hook: every packet of a container (and of a
/// port mapping) passes there.
pub fn foreign_prerouting_postrouting_drops() -> Result<Vec<(u32, String)>> {
    dump::foreign_policy_drops(&[0, 4])
}

/// Do both tables exist (inet and bridge hostnet)? One round trip with a
/// GETTABLE each, no dump.
pub fn table_exists() -> Result<bool> {
    dump::table_exists()
}

/// Does the inet table exist (what `read_table` calls the table being
/// there)? One GETTABLE round trip: no chain, rule or element is read.
pub fn inet_table_exists() -> Result<bool> {
    dump::inet_table_exists()
}

/// Read the table back from the kernel; None when it does not exist.
pub fn read_table() -> Result<Option<TableSnapshot>> {
    dump::read_table()
}

/// What `apply_table(spec)` would put into the kernel, in the same form.
pub fn desired_table(spec: &TableSpec) -> Result<TableSnapshot> {
    dump::desired_table(spec)
}

/// The port elements currently in the kernel (all six maps), with owners.
pub fn read_ports() -> Result<Vec<PortElement>> {
    dump::read_ports()
}

/// The nft text of the static ruleset (rulesets/hostnet.nft, embedded) followed
/// by `add element` lines for `spec`: what `--dry-run` prints.
pub fn ruleset_text(spec: &TableSpec) -> String {
    table::text(spec)
}
