//! host-local ranges: a subnet with an allocatable span and a gateway, and
//! range sets (one per address family here). Address arithmetic is on u128.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;

use crate::core::json::Obj;
use crate::core::network::{gateway_for, last_addr, nth_host, parse_subnet};
use crate::error::{Error, Result};

pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4) as u128,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

pub fn from_u128(n: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(n))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub subnet: IpNetwork,
    pub start: IpAddr,
    pub end: IpAddr,
    pub gateway: IpAddr,
}

impl Range {
    /// One `{subnet, rangeStart, rangeEnd, gateway}` object.
    pub fn parse(o: Obj<'_>) -> Result<Range> {
        let Some(text) = o.str("subnet")? else {
            return Err(Error::invalid(format!("{}: subnet is required", o.at)));
        };
        let subnet = parse_subnet(text)
            .map_err(|e| Error::invalid(format!("{}: {}", o.path("subnet"), e.msg)))?;
        let gateway = gateway_for(subnet, o.str("gateway")?)
            .map_err(|e| Error::invalid(format!("{}: {}", o.path("gateway"), e.msg)))?;
        let first = nth_host(subnet, 1)
            .ok_or_else(|| Error::invalid(format!("{}: subnet {subnet} has no hosts", o.at)))?;
        let last = match subnet {
            IpNetwork::V4(_) => from_u128(to_u128(last_addr(subnet)) - 1, true),
            IpNetwork::V6(_) => last_addr(subnet),
        };
        let bound = |key: &str, default: IpAddr| -> Result<IpAddr> {
            let Some(text) = o.str(key)? else {
                return Ok(default);
            };
            let ip: IpAddr = text.parse().map_err(|_| {
                Error::invalid(format!("{}: {text:?} is not an IP address", o.path(key)))
            })?;
            if ip.is_ipv4() != subnet.is_ipv4() || !subnet.contains(ip) {
                return Err(Error::invalid(format!(
                    "{}: {ip} is outside the subnet {subnet}",
                    o.path(key)
                )));
            }
            Ok(ip)
        };
        let start = bound("rangeStart", first)?;
        let end = bound("rangeEnd", last)?;
        if to_u128(start) > to_u128(end) {
            return Err(Error::invalid(format!(
                "{}: rangeStart {start} is after rangeEnd {end}",
                o.at
            )));
        }
        Ok(Range {
            subnet,
            start,
            end,
            gateway,
        })
    }

    /// Inside the subnet and the span.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.subnet.is_ipv4()
            && self.subnet.contains(ip)
            && (to_u128(self.start)..=to_u128(self.end)).contains(&to_u128(ip))
    }

    /// Never handed out: the gateway, the network and the (IPv4) broadcast address.
    pub fn reserved(&self, ip: IpAddr) -> bool {
        ip == self.gateway
            || ip == self.subnet.network()
            || (self.subnet.is_ipv4() && ip == last_addr(self.subnet))
    }

    /// How many addresses of the span can be handed out.
    pub fn capacity(&self) -> u128 {
        let span = to_u128(self.end) - to_u128(self.start) + 1;
        let reserved = [self.gateway, self.subnet.network(), last_addr(self.subnet)]
            .iter()
            .enumerate()
            .filter(|(i, ip)| (*i < 2 || self.subnet.is_ipv4()) && self.contains(**ip))
            .count() as u128;
        span.saturating_sub(reserved)
    }

    pub fn describe(&self) -> String {
        format!("{}-{}", self.start, self.end)
    }
}

/// The ranges one address is allocated from (host-local's inner list).
/// hostnet wants them to share one subnet and gateway: one bridge address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSet {
    pub ranges: Vec<Range>,
}

impl RangeSet {
    pub fn subnet(&self) -> IpNetwork {
        self.ranges[0].subnet
    }
    pub fn gateway(&self) -> IpAddr {
        self.ranges[0].gateway
    }
    pub fn is_v4(&self) -> bool {
        self.subnet().is_ipv4()
    }
    pub fn range_for(&self, ip: IpAddr) -> Option<&Range> {
        self.ranges.iter().find(|r| r.contains(ip))
    }
    pub fn describe(&self) -> String {
        self.ranges
            .iter()
            .map(Range::describe)
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;
    use serde_json::json;

    fn range(v: serde_json::Value) -> Result<Range> {
        Range::parse(Obj::new("r", &v)?)
    }

    #[test]
    fn defaults_and_bounds() {
        let r = range(json!({"subnet": "10.4.0.0/24"})).unwrap();
        assert_eq!(r.start.to_string(), "10.4.0.1");
        assert_eq!(r.end.to_string(), "10.4.0.254");
        assert_eq!(r.gateway.to_string(), "10.4.0.1");
        assert_eq!(r.capacity(), 253);
        let r = range(json!({"subnet": "fd00::/120"})).unwrap();
        assert_eq!(r.end.to_string(), "fd00::ff");
        assert_eq!(
            range(json!({"subnet": "10.4.0.0/24", "rangeStart": "10.5.0.1"}))
                .unwrap_err()
                .kind,
            Kind::Invalid
        );
        assert_eq!(
            range(
                json!({"subnet": "10.4.0.0/24", "rangeStart": "10.4.0.9", "rangeEnd": "10.4.0.3"})
            )
            .unwrap_err()
            .kind,
            Kind::Invalid
        );
        assert_eq!(
            range(json!({"subnet": "10.4.0.1/24"})).unwrap_err().kind,
            Kind::Invalid
        );
        assert_eq!(
            range(json!({"subnet": "10.4.0.0/31"})).unwrap_err().kind,
            Kind::Invalid
        );
        assert_eq!(range(json!({"subnet": 5})).unwrap_err().kind, Kind::Decode);
        let r = range(
            json!({"subnet": "10.4.0.0/24", "rangeStart": "10.4.0.10", "rangeEnd": "10.4.0.12"}),
        )
        .unwrap();
        assert_eq!(r.capacity(), 3);
        assert!(r.contains("10.4.0.11".parse().unwrap()));
        assert!(!r.contains("10.4.0.13".parse().unwrap()));
    }
}
