//! What `hostnet status` shows, read once: the managed networks' bridges
//! and their ports, the routes into managed subnets, forwarding, the table
//! and its port elements, and the attachments. The CLI renders it.

use ipnetwork::IpNetwork;

use crate::core::attachments;
use crate::core::network::overlaps;
use crate::core::record::Attachment;
use crate::core::state::{NetworkRecord, Store};
use crate::error::Result;
use crate::kernel::link::Netlink;
pub use crate::kernel::link::{LinkInfo, RouteInfo};
use crate::kernel::nft;
pub use crate::kernel::nft::{PortElement, TABLE};
use crate::kernel::sysctl;

pub struct Bridge {
    pub network: String,
    pub name: String,
    /// None: missing.
    pub link: Option<LinkInfo>,
    /// The links enslaved to it, sorted.
    pub ports: Vec<String>,
    pub gateway_mode: &'static str,
}

pub struct Route {
    pub route: RouteInfo,
    /// The name of its output interface ("-" when none or unknown).
    pub iface: String,
}

pub struct Status {
    pub networks: Vec<NetworkRecord>,
    pub bridges: Vec<Bridge>,
    /// Routes (not default ones) overlapping a managed subnet.
    pub routes: Vec<Route>,
    /// The forwarding sysctls' values, or why they could not be read.
    pub ip_forward: String,
    pub ipv6_forwarding: String,
    /// hostnet's table is there.
    pub table: bool,
    pub ports: Vec<PortElement>,
    pub attachments: Vec<Attachment>,
}

pub fn status(store: &Store) -> Result<Status> {
    let nl = Netlink::open()?;
    let networks = store.networks()?;
    let all_links = nl.links()?;
    let name_of = |index: Option<u32>| -> String {
        index
            .and_then(|i| all_links.iter().find(|l| l.index == i))
            .map(|l| l.name.clone())
            .unwrap_or_else(|| "-".into())
    };

    let mut bridges = Vec::new();
    for rec in &networks {
        let link = all_links
            .iter()
            .find(|l| l.name == rec.network.bridge)
            .cloned();
        let mut ports: Vec<String> = match &link {
            Some(b) => all_links
                .iter()
                .filter(|l| l.master == Some(b.index))
                .map(|l| l.name.clone())
                .collect(),
            None => Vec::new(),
        };
        ports.sort();
        bridges.push(Bridge {
            network: rec.network.name.clone(),
            name: rec.network.bridge.clone(),
            link,
            ports,
            gateway_mode: rec.network.gateway_mode.as_str(),
        });
    }
    let subnets: Vec<IpNetwork> = networks
        .iter()
        .flat_map(|r| r.network.subnets.iter().map(|s| s.subnet))
        .collect();
    let routes: Vec<Route> = nl
        .routes()?
        .into_iter()
        .filter(|r| {
            r.destination.prefix() > 0 && subnets.iter().any(|s| overlaps(*s, r.destination))
        })
        .map(|route| Route {
            iface: name_of(route.oif),
            route,
        })
        .collect();
    let ip_forward = sysctl::read(&sysctl::ipv4_forward()).unwrap_or_else(|e| e.msg);
    let ipv6_forwarding = sysctl::read(&sysctl::ipv6_forward()).unwrap_or_else(|e| e.msg);
    let attachments = attachments::attachments(store)?;
    let table = nft::inet_table_exists()?;
    let ports = if table {
        nft::read_ports()?
    } else {
        Vec::new()
    };
    Ok(Status {
        networks,
        bridges,
        routes,
        ip_forward,
        ipv6_forwarding,
        table,
        ports,
        attachments,
    })
}
