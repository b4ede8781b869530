//! What an attachment asks for, as a front end hands it to `attach`: the
//! network's host side, the container, where its addresses come from, its
//! routes, port mappings, link options and tuning. Everything in it has been
//! validated by the front end; nothing here reads the kernel.

use std::fs::File;
use std::net::IpAddr;
use std::path::PathBuf;

use ipnetwork::IpNetwork;

use super::publish::PortSpec;
use super::result::Dns;
use crate::core::ipam::range::RangeSet;
use crate::core::network::Network;
use crate::core::state::Store;
pub use crate::kernel::sysctl::Key;

/// A container sysctl's dotted name ("net.ipv4.conf.eth0.forwarding") as its key.
pub fn sysctl_key(name: &str) -> crate::error::Result<Key> {
    crate::kernel::sysctl::parse_dotted(name).map_err(|e| crate::error::Error::invalid(e.msg))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `type: hostnet`: bridge + IPAM + port mappings + firewall + tuning in one.
    Integrated,
    /// `type: bridge`: the reference bridge's job only; portmap etc. follow.
    Bridge,
}

impl Mode {
    /// The name an attachment record keeps.
    pub fn record_name(self) -> &'static str {
        match self {
            Mode::Integrated => "hostnet",
            Mode::Bridge => "bridge",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub dst: IpNetwork,
    pub gw: Option<IpAddr>,
}

/// The tuning plugin's keys, applied to the container interface/netns.
#[derive(Debug, Clone, Default)]
pub struct Tuning {
    pub sysctl: Vec<(String, Key, String)>,
    pub mac: Option<[u8; 6]>,
    pub promisc: Option<bool>,
    pub allmulti: Option<bool>,
    pub txqlen: Option<u32>,
}

impl Tuning {
    pub fn link_flags(&self) -> bool {
        self.promisc.is_some() || self.allmulti.is_some() || self.txqlen.is_some()
    }
}

/// The container: its id, the interface name it gets, and its network
/// namespace (path, and the file opened by the front end, already checked
/// not to be the caller's own namespace).
pub struct Container {
    pub id: String,
    pub ifname: String,
    pub netns: String,
    pub netns_file: File,
}

/// Where the container's addresses come from.
pub enum Addresses {
    /// hostnet's host-local store: one address per range set, the requested
    /// one where given (`requested[i]` for `range_sets[i]`).
    HostLocal {
        range_sets: Vec<RangeSet>,
        data_dir: PathBuf,
        resolv_conf: Option<PathBuf>,
        requested: Vec<Option<IpAddr>>,
    },
    /// Given by someone else (`by`, a delegated IPAM plugin the front end ran).
    Given {
        by: String,
        ips: Vec<(IpNetwork, Option<IpAddr>)>,
        dns: Dns,
    },
}

/// The host end and the container end of the veth.
#[derive(Debug, Clone, Default)]
pub struct LinkOptions {
    pub mtu: Option<u32>,
    /// The container interface's MAC address.
    pub mac: Option<[u8; 6]>,
    pub hairpin: bool,
    /// The bridge in promiscuous mode.
    pub promisc: bool,
    /// The host end an isolated bridge port.
    pub isolated: bool,
}

/// One ADD, validated.
pub struct Request {
    pub store: Store,
    /// The network's host side (`host::ensure`): name, bridge, subnets.
    pub network: Network,
    pub mode: Mode,
    pub container: Container,
    pub addresses: Addresses,
    /// The routes as the result states them.
    pub routes: Vec<RouteSpec>,
    /// The same with their next hops resolved: what the container gets.
    pub hops: Vec<(IpNetwork, IpAddr)>,
    pub ports: Vec<PortSpec>,
    pub link: LinkOptions,
    pub tuning: Tuning,
    /// DNS for the result when the addresses came with none.
    pub dns: Dns,
    /// The protocol version the result is rendered in, kept in the record.
    pub spec_version: String,
}
