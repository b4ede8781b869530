//! `hostnet portmap add|del|ls`: static port mappings, parsed here, made
//! and removed by `core::portmaps` (claims + one nft transaction, with undo).

use std::net::IpAddr;

use serde_json::json;

use crate::cli::{Global, PortmapAddArgs, PortmapDelArgs};
use crate::core::portmaps::{self, Added};
use crate::core::ports::{self, PortMapping, STATIC_OWNER, parse_proto};
use crate::error::{Error, Result};

/// "8080" or "8000-8099" -> (start, end), validated.
pub fn parse_port_range(text: &str) -> Result<(u16, u16)> {
    let bad = || {
        Error::invalid(format!(
            "port {text:?}: use PORT or START-END with ports 1-65535"
        ))
    };
    let (a, b) = match text.split_once('-') {
        Some((a, b)) => (a, b),
        None => (text, text),
    };
    let start: u16 = a.parse().map_err(|_| bad())?;
    let end: u16 = b.parse().map_err(|_| bad())?;
    if start == 0 || end == 0 {
        return Err(bad());
    }
    if end < start {
        return Err(Error::invalid(format!(
            "port range {text}: the end is below the start"
        )));
    }
    Ok((start, end))
}

/// "10.4.0.2:80", "10.4.0.2:80-179", "[fd00::2]:80" -> (ip, start, end).
pub fn parse_dest(text: &str) -> Result<(IpAddr, u16, u16)> {
    let bad = || {
        Error::invalid(format!(
            "destination {text:?}: use IP:PORT[-END], or [IPv6]:PORT[-END]"
        ))
    };
    let (ip, ports) = if let Some(rest) = text.strip_prefix('[') {
        let (ip, ports) = rest.split_once("]:").ok_or_else(bad)?;
        (ip, ports)
    } else {
        let (ip, ports) = text.rsplit_once(':').ok_or_else(bad)?;
        if ip.contains(':') {
            // fd00::2:80 is ambiguous: IPv6 destinations need brackets
            return Err(bad());
        }
        (ip, ports)
    };
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    let (start, end) = parse_port_range(ports)?;
    Ok((ip, start, end))
}

/// `validate`: refuse addresses a new mapping cannot use (del still takes
/// any address, so a mapping made before that rule can be removed).
fn parse_host_ip(text: Option<&str>, validate: bool) -> Result<Option<IpAddr>> {
    match text {
        None | Some("") => Ok(None),
        Some(t) => {
            let ip: IpAddr = t
                .parse()
                .map_err(|_| Error::invalid(format!("host ip {t:?} is not an IP address")))?;
            if ip.is_unspecified() {
                return Ok(None);
            }
            if validate {
                crate::core::ports::validate_host_ip(ip)?;
            }
            Ok(Some(ip))
        }
    }
}

/// The single-port mappings a range request stands for (port-for-port).
pub fn expand(
    host_ip: Option<IpAddr>,
    proto: &str,
    host: (u16, u16),
    dest: (IpAddr, u16, u16),
) -> Result<Vec<PortMapping>> {
    let proto = parse_proto(proto)?;
    let (ip, dstart, dend) = dest;
    let len = host.1 - host.0;
    if dstart == dend && len > 0 {
        // many host ports to one destination port is not port-for-port
        return Err(Error::invalid(format!(
            "host ports {}-{} map to a single port {dstart}: give a destination range of the same length",
            host.0, host.1
        )));
    }
    if dend - dstart != len {
        return Err(Error::invalid(format!(
            "host range {}-{} and destination range {dstart}-{dend} differ in length",
            host.0, host.1
        )));
    }
    if let Some(h) = host_ip
        && h.is_ipv4() != ip.is_ipv4()
    {
        return Err(Error::invalid(format!(
            "host ip {h} and destination {ip} are of different families"
        )));
    }
    Ok((0..=len)
        .map(|i| PortMapping {
            host_ip,
            proto,
            host_port: host.0 + i,
            dest_ip: ip,
            dest_port: dstart + i,
        })
        .collect())
}

pub fn add(g: &Global, a: &PortmapAddArgs) -> Result<()> {
    let store = super::store(g);
    let mut host_ip = parse_host_ip(a.host_ip.as_deref(), true)?;
    let mappings = if super::publish::is_publish(&a.host_ports) {
        // nerdctl/Docker's -p form plus the container's address
        let p = super::publish::parse(&a.host_ports)?;
        let ip = super::publish::parse_container_ip(&a.dest)?;
        if let (Some(flag), Some(spec)) = (host_ip, p.host_ip)
            && flag != spec
        {
            return Err(Error::invalid(format!(
                "--host-ip {flag} and the publish spec's host address {spec} differ"
            )));
        }
        if let Some(spec) = p.host_ip {
            crate::core::ports::validate_host_ip(spec)?;
        }
        host_ip = host_ip.or(p.host_ip);
        let proto = match (&p.proto, a.proto.to_ascii_lowercase()) {
            (Some(spec), flag) if flag != "tcp" && *spec != flag => {
                return Err(Error::invalid(format!(
                    "--proto {flag} and the publish spec's /{spec} differ"
                )));
            }
            (Some(spec), _) => spec.clone(),
            (None, flag) => flag,
        };
        expand(host_ip, &proto, p.host, (ip, p.container.0, p.container.1))?
    } else {
        expand(
            host_ip,
            &a.proto,
            parse_port_range(&a.host_ports)?,
            parse_dest(&a.dest)?,
        )?
    };
    let (verb, added) = match portmaps::add(&store, &mappings, host_ip, a.allow_any_dest)? {
        Added::Already => ("already mapped", 0),
        Added::New(n) => ("mapped", n),
    };
    // not empty: `portmaps::add` refuses no ports
    let (first, last) = (&mappings[0], &mappings[mappings.len() - 1]);
    if g.json {
        println!(
            "{}",
            json!({ "added": added, "mappings": rows_json(&rows(static_rows(&mappings))) })
        );
    } else {
        println!(
            "{verb} {} {} -> {}",
            first.proto.name(),
            host_side(
                host_ip,
                first.dest_ip,
                &span_of(first.host_port, last.host_port)
            ),
            dest_side(first.dest_ip, &span_of(first.dest_port, last.dest_port)),
        );
    }
    Ok(())
}

pub fn del(g: &Global, a: &PortmapDelArgs) -> Result<()> {
    let store = super::store(g);
    let host_ip = parse_host_ip(a.host_ip.as_deref(), false)?;
    let proto = parse_proto(&a.proto)?;
    let (start, end) = parse_port_range(&a.host_ports)?;
    let Some((mine, removed)) = portmaps::del(&store, proto, (start, end), host_ip)? else {
        return Err(Error::not_found(format!(
            "no static mapping on {}/{}",
            proto.name(),
            a.host_ports
        )));
    };
    if g.json {
        println!(
            "{}",
            json!({ "removed": removed, "mappings": rows_json(&rows(static_rows(&mine))) })
        );
    } else {
        let ip = mine[0].dest_ip;
        println!(
            "removed {} {}",
            proto.name(),
            host_side(host_ip, ip, &a.host_ports)
        );
    }
    Ok(())
}

/// Consecutive single-port mappings of one owner shown as one range.
struct Row {
    owner: String,
    first: PortMapping,
    count: u16,
}

fn rows(all: Vec<(String, PortMapping)>) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    for (owner, m) in all {
        if let Some(last) = out.last_mut() {
            let f = &last.first;
            let next = f.host_port.checked_add(last.count);
            if last.owner == owner
                && f.proto == m.proto
                && f.host_ip == m.host_ip
                && f.dest_ip == m.dest_ip
                && next == Some(m.host_port)
                && f.dest_port.checked_add(last.count) == Some(m.dest_port)
            {
                last.count += 1;
                continue;
            }
        }
        out.push(Row {
            owner,
            first: m,
            count: 1,
        });
    }
    out
}

fn static_rows(m: &[PortMapping]) -> Vec<(String, PortMapping)> {
    m.iter()
        .map(|m| (STATIC_OWNER.to_string(), m.clone()))
        .collect()
}

fn span_of(start: u16, end: u16) -> String {
    if start == end {
        start.to_string()
    } else {
        format!("{start}-{end}")
    }
}

/// "192.0.2.1:6000", "0.0.0.0:8080", "[::]:8080": always names the host address.
fn host_side(host_ip: Option<IpAddr>, dest_ip: IpAddr, ports: &str) -> String {
    match host_ip {
        Some(ip) => dest_side(ip, ports),
        None if dest_ip.is_ipv4() => format!("0.0.0.0:{ports}"),
        None => format!("[::]:{ports}"),
    }
}

fn dest_side(ip: IpAddr, ports: &str) -> String {
    match ip {
        IpAddr::V6(ip) => format!("[{ip}]:{ports}"),
        IpAddr::V4(ip) => format!("{ip}:{ports}"),
    }
}

fn rows_json(rows: &[Row]) -> serde_json::Value {
    rows.iter()
        .map(|r| {
            json!({
                "host_ip": r.first.host_ip.map(|i| i.to_string()),
                "proto": r.first.proto.name(),
                "host_port": r.first.host_port,
                "host_port_end": r.first.host_port + r.count - 1,
                "dest_ip": r.first.dest_ip.to_string(),
                "dest_port": r.first.dest_port,
                "dest_port_end": r.first.dest_port + r.count - 1,
                "owner": r.owner,
            })
        })
        .collect()
}

fn span(start: u16, count: u16) -> String {
    if count == 1 {
        start.to_string()
    } else {
        format!("{start}-{}", start + count - 1)
    }
}

pub fn ls(g: &Global) -> Result<()> {
    let store = super::store(g);
    let rows = rows(ports::all(&store)?);
    if g.json {
        println!("{}", rows_json(&rows));
        return Ok(());
    }
    println!(
        "{:<18}{:<7}{:<14}{:<30}owner",
        "host ip", "proto", "host port", "destination"
    );
    for r in &rows {
        let host = match r.first.host_ip {
            Some(ip) => ip.to_string(),
            None if r.first.dest_ip.is_ipv4() => "0.0.0.0".into(),
            None => "::".into(),
        };
        let dest = match r.first.dest_ip {
            IpAddr::V6(ip) => format!("[{ip}]:{}", span(r.first.dest_port, r.count)),
            IpAddr::V4(ip) => format!("{ip}:{}", span(r.first.dest_port, r.count)),
        };
        println!(
            "{host:<18}{:<7}{:<14}{dest:<30}{}",
            r.first.proto.name(),
            span(r.first.host_port, r.count),
            r.owner
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(parse_port_range("8080").unwrap(), (8080, 8080));
        assert_eq!(parse_port_range("8000-8099").unwrap(), (8000, 8099));
        for bad in ["0", "65536", "-1", "10-5", "a", "", "1-", "80-0"] {
            assert!(parse_port_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn destinations() {
        assert_eq!(
            parse_dest("10.4.0.2:80").unwrap(),
            ("10.4.0.2".parse().unwrap(), 80, 80)
        );
        assert_eq!(
            parse_dest("[fd00::2]:80-81").unwrap(),
            ("fd00::2".parse().unwrap(), 80, 81)
        );
        for bad in [
            "10.4.0.2",
            "fd00::2:80",
            "[fd00::2]80",
            "x:80",
            "10.4.0.2:0",
        ] {
            assert!(parse_dest(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_expand_port_for_port() {
        let d = parse_dest("10.4.0.2:80-82").unwrap();
        let m = expand(None, "tcp", (8000, 8002), d).unwrap();
        assert_eq!(
            m.iter()
                .map(|m| (m.host_port, m.dest_port))
                .collect::<Vec<_>>(),
            [(8000, 80), (8001, 81), (8002, 82)]
        );
        assert!(
            expand(
                None,
                "tcp",
                (8000, 8002),
                parse_dest("10.4.0.2:80").unwrap()
            )
            .is_err()
        );
        assert!(
            expand(
                None,
                "tcp",
                (8000, 8002),
                parse_dest("10.4.0.2:80-81").unwrap()
            )
            .is_err()
        );
        assert!(expand(Some("fd00::1".parse().unwrap()), "tcp", (80, 80), d).is_err());
        assert!(expand(None, "icmp", (80, 80), parse_dest("10.4.0.2:80").unwrap()).is_err());
    }
}
