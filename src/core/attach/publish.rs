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
