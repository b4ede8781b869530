//! `hostnet status`: the seed's `brctl show`, `route -n` and forwarding views
//! of the managed networks in one, plus the table and its elements.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde_json::{Value, json};

use crate::cli::Global;
use crate::core::inspect::{self, LinkInfo, PortElement, Route, RouteInfo, Status, TABLE};
use crate::error::Result;

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
    let Status {
        networks,
        bridges,
        routes,
        ip_forward: forward,
        ipv6_forwarding: forward6,
        table,
        ports,
        attachments,
    } = inspect::status(&store)?;

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
            .map(|Route { route: r, iface }| json!({ "destination": r.destination.to_string(), "gateway": r.gateway.map(|g| g.to_string()), "iface": iface }))
            .collect();
        println!(
            "{}",
            json!({
                "bridges": bj,
                "routes": rj,
                "ip_forward": number(&forward),
                "ipv6_forwarding": number(&forward6),
                "table": table,
                "port_mappings": ports.iter().map(port_json).collect::<Vec<_>>(),
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
    for Route { route: r, iface } in &routes {
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
            iface
        );
    }
    println!();
    println!("net.ipv4.ip_forward = {forward}");
    if networks.iter().any(|r| r.network.has_v6()) {
        println!("net.ipv6.conf.all.forwarding = {forward6}");
    }
    let state = if table {
        "present"
    } else {
        "MISSING (run hostnet init)"
    };
    println!("nftables table inet {TABLE}: {state}");
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
        let mut rows = vec![[
            "container".to_string(),
            "network".into(),
            "ifname".into(),
            "address".into(),
            "host veth".into(),
            "ports".into(),
        ]];
        for a in &attachments {
            let addrs: Vec<String> = a.ips.iter().map(|i| i.address.to_string()).collect();
            rows.push([
                a.container_id.chars().take(12).collect(),
                a.network.clone(),
                a.ifname.clone(),
                addrs.join(","),
                a.host_veth.clone(),
                describe_ports(&a.port_mappings),
            ]);
        }
        for line in columns(&rows) {
            println!("{line}");
        }
    }
    Ok(())
}

/// Rows as columns as wide as their widest cell plus two spaces, so a
/// dual-stack address list never runs into the next column.
pub fn columns<const N: usize>(rows: &[[String; N]]) -> Vec<String> {
    let mut width = [0usize; N];
    for r in rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|r| {
            let mut line = String::new();
            for (i, cell) in r.iter().enumerate() {
                if i + 1 == N {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}", w = width[i] + 2));
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// A sysctl value as a JSON number when it is one ("1" -> 1), else the text
/// (an error message when it could not be read).
fn number(text: &str) -> Value {
    text.trim()
        .parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(text))
}

fn port_json(e: &PortElement) -> Value {
    json!({
        "host_ip": e.host_ip.map(|i| i.to_string()),
        "proto": e.proto.name(),
        "host_port": e.host_port,
        "host_port_end": e.host_port_end,
        "dest_ip": e.dest_ip.to_string(),
        "dest_port": e.dest_port,
        "owner": e.owner,
    })
}

/// "8090->80/tcp": a mapping on every host address of both families (one
/// element per family) is shown once, with "(v4+v6)".
pub fn describe_ports(ports: &[crate::core::ports::PortMapping]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut seen: Vec<&crate::core::ports::PortMapping> = Vec::new();
    for p in ports {
        let twin = |q: &&crate::core::ports::PortMapping| {
            q.host_ip.is_none()
                && p.host_ip.is_none()
                && q.proto == p.proto
                && q.host_port == p.host_port
                && q.dest_port == p.dest_port
                && q.dest_ip.is_ipv4() != p.dest_ip.is_ipv4()
        };
        if seen.iter().any(twin) {
            continue;
        }
        let both = ports.iter().any(|q| twin(&q));
        seen.push(p);
        let host = match p.host_ip {
            Some(std::net::IpAddr::V6(i)) => format!("[{i}]:"),
            Some(i) => format!("{i}:"),
            None => String::new(),
        };
        let fam = if both { " (v4+v6)" } else { "" };
        parts.push(format!(
            "{host}{}->{}/{}{fam}",
            p.host_port,
            p.dest_port,
            p.proto.name()
        ));
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(",")
    }
}

fn attachment_json(a: &crate::core::record::Attachment) -> Value {
    let mut full = serde_json::to_value(a).unwrap_or(Value::Null);
    let short = json!({
        "container_id": a.container_id,
        "network": a.network,
        "ifname": a.ifname,
        "netns": a.netns,
        "host_veth": a.host_veth,
        "addresses": a.ips.iter().map(|i| i.address.to_string()).collect::<Vec<_>>(),
        "ports": a.port_mappings,
        "complete": a.complete,
    });
    // the whole record, plus the short keys scripts already read
    if let (Value::Object(full), Value::Object(short)) = (&mut full, short) {
        full.extend(short);
    }
    full
}
