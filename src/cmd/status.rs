//! `hostnet status`: the seed's `brctl show`, `route -n` and forwarding views
//! of the managed networks in one, plus the table and its elements.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde_json::{Value, json};

use crate::cli::Global;
use crate::error::Result;
use crate::kernel::link::{LinkInfo, Netlink, RouteInfo};
use crate::kernel::nft;
use crate::kernel::sysctl;
use crate::network::overlaps;

struct BridgeView {
    network: String,
    name: String,
    link: Option<LinkInfo>,
    ports: Vec<String>,
    gateway_mode: &'static str,
}

fn bridge_id(link: &LinkInfo) -> String {
    match link.mac {
        Some(m) => format!(
            "8000.{}",
            m.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        None => "-".into(),
    }
}

fn genmask(dest: &IpNetwork) -> String {
    match dest {
        IpNetwork::V4(v4) => v4.mask().to_string(),
        IpNetwork::V6(v6) => format!("/{}", v6.prefix()),
    }
}

fn route_flags(r: &RouteInfo) -> String {
    let mut f = String::from("U");
    if r.gateway.is_some() {
        f.push('G');
    }
    let host = match r.destination {
        IpNetwork::V4(v) => v.prefix() == 32,
        IpNetwork::V6(v) => v.prefix() == 128,
    };
    if host {
        f.push('H');
    }
    f
}

pub fn run(g: &Global) -> Result<()> {
    let store = super::store(g);
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
        bridges.push(BridgeView {
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
    let routes: Vec<RouteInfo> = nl
        .routes()?
        .into_iter()
        .filter(|r| {
            r.destination.prefix() > 0 && subnets.iter().any(|s| overlaps(*s, r.destination))
        })
        .collect();
    let forward = sysctl::read(&sysctl::ipv4_forward()).unwrap_or_else(|e| e.msg);
    let forward6 = sysctl::read(&sysctl::ipv6_forward()).unwrap_or_else(|e| e.msg);
    let attachments = crate::cni::attachments(&store)?;
    let table = nft::read_table()?;
    let ports = match &table {
        Some(_) => nft::read_ports()?,
        None => Vec::new(),
    };

    if g.json {
        let bj: Vec<Value> = bridges
            .iter()
            .map(|b| {
                json!({
                    "network": b.network,
                    "bridge": b.name,
                    "present": b.link.is_some(),
                    "up": b.link.as_ref().map(|l| l.up),
                    "bridge_id": b.link.as_ref().map(bridge_id),
                    "stp": b.link.as_ref().and_then(|l| l.stp),
                    "interfaces": b.ports,
                    "gateway_mode": b.gateway_mode,
                })
            })
            .collect();
        let rj: Vec<Value> = routes
            .iter()
            .map(|r| json!({ "destination": r.destination.to_string(), "gateway": r.gateway.map(|g| g.to_string()), "iface": name_of(r.oif) }))
            .collect();
        println!(
            "{}",
            json!({
                "bridges": bj,
                "routes": rj,
                "ip_forward": forward,
                "ipv6_forwarding": forward6,
                "table": table.is_some(),
                "port_mappings": ports.len(),
                "attachments": attachments.iter().map(attachment_json).collect::<Vec<_>>(),
            })
        );
        return Ok(());
    }

    if networks.is_empty() {
        println!("no networks: run `hostnet init`");
        return Ok(());
    }
    println!(
        "{:<16}{:<24}{:<16}interfaces",
        "bridge name", "bridge id", "STP enabled"
    );
    for b in &bridges {
        let Some(link) = &b.link else {
            println!(
                "{:<16}{:<24}{:<16}(missing: run hostnet init)",
                b.name, "-", "-"
            );
            continue;
        };
        let stp = match link.stp {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        let first = b.ports.first().map(String::as_str).unwrap_or("");
        println!("{:<16}{:<24}{:<16}{first}", b.name, bridge_id(link), stp);
        for p in b.ports.iter().skip(1) {
            println!("{:<56}{p}", "");
        }
    }
    println!();
    println!("Kernel IP routing table (managed subnets)");
    println!(
        "{:<40}{:<16}{:<16}{:<6}Iface",
        "Destination", "Gateway", "Genmask", "Flags"
    );
    for r in &routes {
        let gw = r
            .gateway
            .map(|g| g.to_string())
            .unwrap_or_else(|| match r.destination.ip() {
                IpAddr::V4(_) => "0.0.0.0".into(),
                IpAddr::V6(_) => "::".into(),
            });
        println!(
            "{:<40}{:<16}{:<16}{:<6}{}",
            r.destination.network(),
            gw,
            genmask(&r.destination),
            route_flags(r),
            name_of(r.oif)
        );
    }
    println!();
    println!("net.ipv4.ip_forward = {forward}");
    if networks.iter().any(|r| r.network.has_v6()) {
        println!("net.ipv6.conf.all.forwarding = {forward6}");
    }
    let state = if table.is_some() {
        "present"
    } else {
        "MISSING (run hostnet init)"
    };
    println!("nftables table inet {}: {state}", nft::TABLE);
    for b in &bridges {
        let what = if b.gateway_mode == "routed" {
            "the LAN reaches containers directly"
        } else {
            "the LAN reaches published ports only"
        };
        println!(
            "gateway mode of network {} ({}): {} ({what})",
            b.network, b.name, b.gateway_mode
        );
    }
    println!("port mappings: {}", ports.len());
    println!();
    println!("attachments: {}", attachments.len());
    if !attachments.is_empty() {
        println!(
            "{:<16}{:<14}{:<8}{:<20}{:<14}ports",
            "container", "network", "ifname", "address", "host veth"
        );
        for a in &attachments {
            let short: String = a.container_id.chars().take(12).collect();
            let addrs: Vec<String> = a.ips.iter().map(|i| i.address.to_string()).collect();
            println!(
                "{short:<16}{:<14}{:<8}{:<20}{:<14}{}",
                a.network,
                a.ifname,
                addrs.join(","),
                a.host_veth,
                describe_ports(&a.port_mappings)
            );
        }
    }
    Ok(())
}

fn describe_ports(ports: &[crate::ports::PortMapping]) -> String {
    let parts: Vec<String> = ports
        .iter()
        .map(|p| {
            let host = p.host_ip.map(|i| format!("{i}:")).unwrap_or_default();
            format!("{host}{}->{}/{}", p.host_port, p.dest_port, p.proto.name())
        })
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(",")
    }
}

fn attachment_json(a: &crate::cni::Attachment) -> Value {
    json!({
        "container_id": a.container_id,
        "network": a.network,
        "ifname": a.ifname,
        "netns": a.netns,
        "host_veth": a.host_veth,
        "addresses": a.ips.iter().map(|i| i.address.to_string()).collect::<Vec<_>>(),
        "ports": a.port_mappings,
        "complete": a.complete,
    })
}
