//! `runtimeConfig.portMappings`: parsed with keys in any case (nerdctl sends
//! `HostPort`, `ContainerPort`, `Protocol`, `HostIP`), validated, and expanded
//! to one `PortMapping` per container address of the matching family.

use std::net::IpAddr;

use serde_json::Value;

pub use crate::core::attach::publish::{HostSel, PortSpec, expand};
use crate::core::json::Obj;
use crate::core::ports::L4Proto;
use crate::core::ports::parse_proto;
use crate::error::{Error, Result};

fn port(o: &Obj<'_>, key: &str, at: &str) -> Result<u16> {
    let Some((name, v)) = o.get_nocase(key) else {
        return Err(Error::invalid(format!("{at}: {key} is required")));
    };
    let n = match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| Error::invalid(format!("{at}.{name}: {n} is not a port number")))?,
        other => {
            return Err(Error::decode(format!(
                "{at}.{name}: expected a number, got {other}"
            )));
        }
    };
    if !(1..=65535).contains(&n) {
        return Err(Error::invalid(format!(
            "{at}.{name}: {n} is not a port (1-65535)"
        )));
    }
    Ok(n as u16)
}

pub fn parse_one(at: &str, v: &Value) -> Result<PortSpec> {
    let o = Obj::new(at, v)?;
    let host_port = port(&o, "hostPort", at)?;
    let container_port = port(&o, "containerPort", at)?;
    let proto = match o.get_nocase("protocol") {
        None => L4Proto::Tcp,
        Some((name, Value::String(p))) => {
            parse_proto(p).map_err(|e| Error::invalid(format!("{at}.{name}: {}", e.msg)))?
        }
        Some((name, other)) => {
            return Err(Error::decode(format!(
                "{at}.{name}: expected a string, got {other}"
            )));
        }
    };
    let host = match o.get_nocase("hostIP") {
        None => HostSel::Any,
        Some((_, Value::String(s))) if s.is_empty() => HostSel::Any,
        Some((name, Value::String(s))) => {
            let ip: IpAddr = s
                .parse()
                .map_err(|_| Error::invalid(format!("{at}.{name}: {s:?} is not an IP address")))?;
            if ip.is_unspecified() {
                HostSel::AnyOf { v4: ip.is_ipv4() }
            } else {
                crate::core::ports::validate_host_ip(ip)
                    .map_err(|e| Error::invalid(format!("{at}.{name}: {}", e.msg)))?;
                HostSel::Ip(ip)
            }
        }
        Some((name, other)) => {
            return Err(Error::decode(format!(
                "{at}.{name}: expected a string, got {other}"
            )));
        }
    };
    Ok(PortSpec {
        host,
        proto,
        host_port,
        container_port,
    })
}

pub fn parse_list(v: &Value) -> Result<Vec<PortSpec>> {
    let Value::Array(items) = v else {
        return Err(Error::decode(format!(
            "runtimeConfig.portMappings: expected a list, got {v}"
        )));
    };
    let mut out: Vec<PortSpec> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("runtimeConfig.portMappings[{i}]");
        let spec = parse_one(&at, item)?;
        if out.contains(&spec) {
            continue; // the same mapping twice is one mapping
        }
        out.push(spec);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cni::error::CniCode;
    use serde_json::json;

    #[test]
    fn nerdctl_keys() {
        let v = json!([{"HostPort": 8080, "ContainerPort": 80, "Protocol": "TCP", "HostIP": "0.0.0.0"},
                       {"hostPort": 53, "containerPort": 53, "protocol": "udp"}]);
        let l = parse_list(&v).unwrap();
        assert_eq!(
            l[0],
            PortSpec {
                host: HostSel::AnyOf { v4: true },
                proto: L4Proto::Tcp,
                host_port: 8080,
                container_port: 80
            }
        );
        assert_eq!(l[1].proto, L4Proto::Udp);
        let ips: Vec<IpAddr> = vec!["10.4.0.2".parse().unwrap(), "fd00::2".parse().unwrap()];
        let m = expand(&l, &ips).unwrap();
        assert_eq!(m.len(), 3, "{m:?}");
    }

    #[test]
    fn bad_mappings() {
        let code = |v: Value| parse_list(&json!([v])).unwrap_err().cni_code();
        assert_eq!(code(json!({"hostPort": 0, "containerPort": 80})), 7);
        assert_eq!(code(json!({"hostPort": 70000, "containerPort": 80})), 7);
        assert_eq!(
            code(json!({"hostPort": 80, "containerPort": 80, "protocol": "icmp"})),
            7
        );
        assert_eq!(code(json!({"hostPort": 80})), 7);
        assert_eq!(code(json!({"hostPort": "80", "containerPort": 80})), 6);
        assert_eq!(
            code(json!({"hostPort": 80, "containerPort": 80, "hostIP": "nope"})),
            7
        );
    }
}
