//! The publish syntax nerdctl and Docker users type, for `portmap add`:
//! `[HOSTIP:]HOSTPORT[-END]:CONTAINERPORT[-END][/PROTO]` with the container's
//! address as the second argument. IPv6 host addresses go in brackets
//! (`[::1]:8080:80`).

use std::net::IpAddr;

use super::portmap::parse_port_range;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub host_ip: Option<IpAddr>,
    pub host: (u16, u16),
    pub container: (u16, u16),
    pub proto: Option<String>,
}

/// Is `text` the publish form (rather than today's bare `HOSTPORT[-END]`)?
pub fn is_publish(text: &str) -> bool {
    text.contains(':') || text.contains('/')
}

pub fn parse(text: &str) -> Result<Publish> {
    let bad = |why: &str| {
        Error::invalid(format!(
            "publish {text:?}: {why}; use [HOSTIP:]HOSTPORT[-END]:CONTAINERPORT[-END][/PROTO], \
             IPv6 host addresses in brackets ([::1]:8080:80)"
        ))
    };
    let (spec, proto) = match text.rsplit_once('/') {
        Some((s, p)) if !p.is_empty() => (s, Some(p.to_ascii_lowercase())),
        Some(_) => return Err(bad("empty protocol")),
        None => (text, None),
    };
    let (host_ip, ports) = if let Some(rest) = spec.strip_prefix('[') {
        let (ip, ports) = rest
            .split_once("]:")
            .ok_or_else(|| bad("no ']:' after the IPv6 address"))?;
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| bad("not an IP address in brackets"))?;
        if ip.is_ipv4() {
            return Err(bad("brackets are for IPv6 addresses"));
        }
        (Some(ip), ports)
    } else {
        match spec.matches(':').count() {
            1 => (None, spec),
            2 => {
                let (ip, ports) = spec.split_once(':').ok_or_else(|| bad("malformed"))?;
                let ip: IpAddr = ip
                    .parse()
                    .map_err(|_| bad("the host address is not an IP address"))?;
                (Some(ip), ports)
            }
            0 => return Err(bad("no container port")),
            _ => return Err(bad("too many ':'")),
        }
    };
    let (host, container) = ports
        .split_once(':')
        .ok_or_else(|| bad("no container port"))?;
    if container.contains(':') {
        return Err(bad("too many ':'"));
    }
    // 0.0.0.0 / :: mean every address, as with --host-ip
    let host_ip = host_ip.filter(|ip| !ip.is_unspecified());
    Ok(Publish {
        host_ip,
        host: parse_port_range(host)?,
        container: parse_port_range(container)?,
        proto,
    })
}

/// The container's address, bare (`10.4.0.2`) or in brackets (`[fd00::2]`).
pub fn parse_container_ip(text: &str) -> Result<IpAddr> {
    let t = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    t.parse().map_err(|_| {
        Error::invalid(format!(
            "container address {text:?}: with the publish form give the address alone \
             (10.4.0.2 or fd00::2); the port comes from the publish spec"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Publish {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn forms() {
        assert_eq!(
            p("8080:80"),
            Publish {
                host_ip: None,
                host: (8080, 8080),
                container: (80, 80),
                proto: None
            }
        );
        assert_eq!(p("8080:80/udp").proto.as_deref(), Some("udp"));
        assert_eq!(p("8080:80/SCTP").proto.as_deref(), Some("sctp"));
        let q = p("127.0.0.1:8000-8009:80-89/tcp");
        assert_eq!(q.host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!((q.host, q.container), ((8000, 8009), (80, 89)));
        let q = p("[::1]:8080:80");
        assert_eq!(q.host_ip, Some("::1".parse().unwrap()));
        assert_eq!((q.host, q.container), ((8080, 8080), (80, 80)));
        let q = p("[fd00:4::1]:6000-6001:60-61/udp");
        assert_eq!(q.host_ip, Some("fd00:4::1".parse().unwrap()));
        assert_eq!(q.proto.as_deref(), Some("udp"));
        assert_eq!(p("0.0.0.0:8080:80").host_ip, None);
        assert_eq!(p("[::]:8080:80").host_ip, None);
    }

    #[test]
    fn bad_forms() {
        for bad in [
            "8080",
            "8080:",
            ":80",
            "8080:80/",
            "::1:8080:80",
            "[::1]8080:80",
            "[127.0.0.1]:8080:80",
            "[::1:8080:80",
            "x:8080:80",
            "1.2.3.4:8080:80:90",
            "8080:80:90",
            "70000:80",
            "8080:0",
            "9-8:80",
        ] {
            assert!(!is_publish(bad) || parse(bad).is_err(), "{bad} is refused");
        }
        assert!(parse("8080:80:90").is_err());
    }

    #[test]
    fn container_address() {
        assert_eq!(
            parse_container_ip("10.4.0.2").unwrap(),
            "10.4.0.2".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            parse_container_ip("[fd00::2]").unwrap(),
            "fd00::2".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            parse_container_ip("fd00::2").unwrap(),
            "fd00::2".parse::<IpAddr>().unwrap()
        );
        assert!(parse_container_ip("10.4.0.2:80").is_err());
    }
}
