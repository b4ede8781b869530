//! The port mappings an attachment asks for, per host address selection,
//! expanded to one `PortMapping` per container address of the matching
//! family once the addresses are known.

use std::net::IpAddr;

use crate::core::ports::PortMapping;
use crate::error::{Error, Result};
use crate::kernel::nft::L4Proto;

/// Which host addresses a mapping listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostSel {
    /// No hostIP: every address of every family the container has.
    Any,
    /// 0.0.0.0 or :: : every address of one family.
    AnyOf {
        v4: bool,
    },
    Ip(IpAddr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub host: HostSel,
    pub proto: L4Proto,
    pub host_port: u16,
    pub container_port: u16,
}

/// One PortMapping per container address the spec applies to.
pub fn expand(specs: &[PortSpec], container_ips: &[IpAddr]) -> Result<Vec<PortMapping>> {
    let mut out = Vec::new();
    for s in specs {
        let mut matched = false;
        for ip in container_ips {
            let host_ip = match s.host {
                HostSel::Any => None,
                HostSel::AnyOf { v4 } if v4 == ip.is_ipv4() => None,
                HostSel::Ip(h) if h.is_ipv4() == ip.is_ipv4() => Some(h),
                _ => continue,
            };
            matched = true;
            out.push(PortMapping {
                host_ip,
                proto: s.proto,
                host_port: s.host_port,
                dest_ip: *ip,
                dest_port: s.container_port,
            });
        }
        if !matched && let HostSel::Ip(h) = s.host {
            return Err(Error::invalid(format!(
                "port mapping {h}:{}/{}: the container has no address of that family",
                s.host_port,
                s.proto.name()
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(host: HostSel) -> PortSpec {
        PortSpec {
            host,
            proto: L4Proto::Tcp,
            host_port: 8080,
            container_port: 80,
        }
    }

    #[test]
    fn expands_per_family_of_the_host_selection() {
        let ips: Vec<IpAddr> = vec!["10.4.0.2".parse().unwrap(), "fd00::2".parse().unwrap()];
        let any = expand(&[spec(HostSel::Any)], &ips).unwrap();
        assert_eq!(any.len(), 2);
        assert!(any.iter().all(|m| m.host_ip.is_none()));
        let v6 = expand(&[spec(HostSel::AnyOf { v4: false })], &ips).unwrap();
        assert_eq!(v6.len(), 1);
        assert_eq!(v6[0].dest_ip, ips[1]);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let one = expand(&[spec(HostSel::Ip(lo))], &ips).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!((one[0].host_ip, one[0].dest_ip), (Some(lo), ips[0]));
        assert_eq!(one[0].dest_port, 80);
    }

    #[test]
    fn a_host_address_of_a_family_the_container_lacks_is_refused() {
        let v4only: Vec<IpAddr> = vec!["10.4.0.2".parse().unwrap()];
        let e = expand(&[spec(HostSel::Ip("::1".parse().unwrap()))], &v4only).unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::Invalid);
        assert!(e.msg.contains("no address of that family"), "{e}");
        // a wildcard of the missing family maps nothing, silently
        assert!(
            expand(&[spec(HostSel::AnyOf { v4: false })], &v4only)
                .unwrap()
                .is_empty()
        );
    }
}
