//! Links, addresses and routes over rtnetlink, as a small blocking API.
//! A `Netlink` talks to the network namespace of the thread that opened it.

use std::net::IpAddr;
use std::os::fd::BorrowedFd;

use ipnetwork::IpNetwork;

use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    /// "bridge", "veth", ... ; None for links without IFLA_INFO_KIND (lo, physical).
    pub kind: Option<String>,
    pub mac: Option<[u8; 6]>,
    pub mtu: u32,
    /// IFF_UP is set.
    pub up: bool,
    /// Index of the master (bridge) when enslaved.
    pub master: Option<u32>,
    /// For bridges: STP enabled (IFLA_BR_STP_STATE != 0).
    pub stp: Option<bool>,
    /// For bridge ports: hairpin mode (IFLA_BRPORT_MODE), when reported.
    pub hairpin: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub destination: IpNetwork,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    /// Preferred source (RTA_PREFSRC), if any.
    pub prefsrc: Option<IpAddr>,
    /// "kernel", "boot", "static", ... (rtm_protocol), for display.
    pub protocol: u8,
}

pub struct Netlink {
    // private: a current-thread tokio runtime and an rtnetlink Handle
}

impl Netlink {
    /// Open a netlink connection in the calling thread's network namespace.
    pub fn open() -> Result<Self> { todo!() }

    pub fn link(&self, name: &str) -> Result<Option<LinkInfo>> { todo!() }
    pub fn link_by_index(&self, index: u32) -> Result<Option<LinkInfo>> { todo!() }
    pub fn links(&self) -> Result<Vec<LinkInfo>> { todo!() }

    /// Create a bridge (down). Returns its index.
    pub fn create_bridge(&self, name: &str, mtu: Option<u32>) -> Result<u32> { todo!() }
    pub fn set_up(&self, index: u32) -> Result<()> { todo!() }
    pub fn set_mac(&self, index: u32, mac: [u8; 6]) -> Result<()> { todo!() }
    pub fn set_mtu(&self, index: u32, mtu: u32) -> Result<()> { todo!() }
    pub fn delete_link(&self, index: u32) -> Result<()> { todo!() }

    /// Addresses on one link (with prefix length).
    pub fn addresses(&self, index: u32) -> Result<Vec<IpNetwork>> { todo!() }
    pub fn add_address(&self, index: u32, addr: IpNetwork) -> Result<()> { todo!() }
    pub fn del_address(&self, index: u32, addr: IpNetwork) -> Result<()> { todo!() }

    /// All routes of the main table, both families.
    pub fn routes(&self) -> Result<Vec<RouteInfo>> { todo!() }
    /// Add a route in the main table: `dest` via `gateway` and/or out `oif`.
    pub fn add_route(&self, dest: IpNetwork, gateway: Option<IpAddr>, oif: Option<u32>) -> Result<()> { todo!() }

    /// Create a veth pair: `host_name` here, its peer `peer_name` born directly in
    /// the namespace `peer_netns` (an open /run/netns/... or /proc/PID/ns/net fd).
    /// Optional MTU for both ends and MAC for the peer. Returns the host end's index.
    pub fn create_veth(&self, host_name: &str, peer_name: &str, peer_netns: BorrowedFd<'_>, mtu: Option<u32>, peer_mac: Option<[u8; 6]>) -> Result<u32> { todo!() }
    /// Enslave `index` to bridge `master`.
    pub fn set_master(&self, index: u32, master: u32) -> Result<()> { todo!() }
    /// Bridge-port hairpin mode on a port already enslaved.
    pub fn set_hairpin(&self, index: u32, on: bool) -> Result<()> { todo!() }
}
