//! The ADD result, rendered in the config's `cniVersion`: 0.1.0/0.2.0 use
//! `ip4`/`ip6`; 0.3.x/0.4.0 have `interfaces` and `ips[].version`; 1.0.0+
//! drop `version`; 1.1.0 adds `interfaces[].mtu`. Also read back (delegated
//! IPAM answers, `prevResult`) from any of those shapes.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde_json::{Map, Value, json};

use super::version::Version;
pub use crate::core::attach::result::{AddResult, Dns, Interface, IpConfig, Route};
use crate::core::json::{Obj, strings};
use crate::error::{Error, Result};

fn route_json(r: &Route) -> Value {
    let mut m = Map::new();
    m.insert("dst".into(), json!(r.dst.to_string()));
    if let Some(gw) = r.gw {
        m.insert("gw".into(), json!(gw.to_string()));
    }
    Value::Object(m)
}

fn dns_json(d: &Dns) -> Value {
    serde_json::to_value(d).unwrap_or_else(|_| json!({}))
}

impl AddResult {
    pub fn to_json(&self, version: Version) -> Value {
        let mut top = Map::new();
        top.insert("cniVersion".into(), json!(version.to_string()));
        if version.legacy_result() {
            for (key, v4) in [("ip4", true), ("ip6", false)] {
                let Some(ip) = self.ips.iter().find(|i| i.address.is_ipv4() == v4) else {
                    continue;
                };
                let mut m = Map::new();
                m.insert("ip".into(), json!(ip.address.to_string()));
                if let Some(gw) = ip.gateway {
                    m.insert("gateway".into(), json!(gw.to_string()));
                }
                let routes: Vec<Value> = self
                    .routes
                    .iter()
                    .filter(|r| r.dst.is_ipv4() == v4)
                    .map(route_json)
                    .collect();
                if !routes.is_empty() {
                    m.insert("routes".into(), Value::Array(routes));
                }
                top.insert(key.into(), Value::Object(m));
            }
            top.insert("dns".into(), dns_json(&self.dns));
            return Value::Object(top);
        }
        let interfaces: Vec<Value> = self
            .interfaces
            .iter()
            .map(|i| {
                let mut m = Map::new();
                m.insert("name".into(), json!(i.name));
                if let Some(mac) = &i.mac {
                    m.insert("mac".into(), json!(mac));
                }
                if let Some(mtu) = i.mtu
                    && version.has_interface_mtu()
                {
                    m.insert("mtu".into(), json!(mtu));
                }
                if let Some(sb) = &i.sandbox {
                    m.insert("sandbox".into(), json!(sb));
                }
                Value::Object(m)
            })
            .collect();
        let ips: Vec<Value> = self
            .ips
            .iter()
            .map(|ip| {
                let mut m = Map::new();
                if version.ip_version_field() {
                    m.insert(
                        "version".into(),
                        json!(if ip.address.is_ipv4() { "4" } else { "6" }),
                    );
                }
                m.insert("address".into(), json!(ip.address.to_string()));
                if let Some(gw) = ip.gateway {
                    m.insert("gateway".into(), json!(gw.to_string()));
                }
                if let Some(i) = ip.interface {
                    m.insert("interface".into(), json!(i));
                }
                Value::Object(m)
            })
            .collect();
        if !interfaces.is_empty() {
            top.insert("interfaces".into(), Value::Array(interfaces));
        }
        top.insert("ips".into(), Value::Array(ips));
        if !self.routes.is_empty() {
            top.insert(
                "routes".into(),
                Value::Array(self.routes.iter().map(route_json).collect()),
            );
        }
        top.insert("dns".into(), dns_json(&self.dns));
        Value::Object(top)
    }

    /// Read a result of any version (an IPAM plugin's answer or a prevResult).
    pub fn from_json(v: &Value) -> Result<AddResult> {
        let o = Obj::new("result", v)?;
        let mut out = AddResult::default();
        let cidr = |at: &str, text: &str| -> Result<IpNetwork> {
            text.parse().map_err(|_| {
                Error::decode(format!("{at}: {text:?} is not an address in CIDR form"))
            })
        };
        let ip = |at: &str, text: &str| -> Result<IpAddr> {
            text.parse()
                .map_err(|_| Error::decode(format!("{at}: {text:?} is not an IP address")))
        };
        let routes = |at: &str, list: &Vec<Value>, out: &mut Vec<Route>| -> Result<()> {
            for (i, r) in list.iter().enumerate() {
                let at = format!("{at}[{i}]");
                let ro = Obj::new(&at, r)?;
                let Some(dst) = ro.str("dst")? else {
                    return Err(Error::decode(format!("{at}: no dst")));
                };
                let gw = match ro.str("gw")? {
                    Some(g) if !g.is_empty() => Some(ip(&format!("{at}.gw"), g)?),
                    _ => None,
                };
                out.push(Route {
                    dst: cidr(&format!("{at}.dst"), dst)?,
                    gw,
                });
            }
            Ok(())
        };
        if let Some(list) = o.array("interfaces")? {
            for (i, item) in list.iter().enumerate() {
                let at = format!("result.interfaces[{i}]");
                let io = Obj::new(&at, item)?;
                out.interfaces.push(Interface {
                    name: io.str("name")?.unwrap_or_default().to_string(),
                    mac: io.str("mac")?.map(str::to_string),
                    mtu: io.u64("mtu")?.and_then(|m| u32::try_from(m).ok()),
                    sandbox: io
                        .str("sandbox")?
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                });
            }
        }
        if let Some(list) = o.array("ips")? {
            for (i, item) in list.iter().enumerate() {
                let at = format!("result.ips[{i}]");
                let io = Obj::new(&at, item)?;
                let Some(addr) = io.str("address")? else {
                    return Err(Error::decode(format!("{at}: no address")));
                };
                let gateway = match io.str("gateway")? {
                    Some(g) if !g.is_empty() => Some(ip(&format!("{at}.gateway"), g)?),
                    _ => None,
                };
                let interface = io.u64("interface")?.map(|n| n as usize);
                out.ips.push(IpConfig {
                    address: cidr(&format!("{at}.address"), addr)?,
                    gateway,
                    interface,
                });
            }
        }
        if let Some(list) = o.array("routes")? {
            routes("result.routes", list, &mut out.routes)?;
        }
        for key in ["ip4", "ip6"] {
            let Some(v) = o.get(key) else { continue };
            let at = format!("result.{key}");
            let io = Obj::new(&at, v)?;
            let Some(addr) = io.str("ip")? else {
                return Err(Error::decode(format!("{at}: no ip")));
            };
            let gateway = match io.str("gateway")? {
                Some(g) if !g.is_empty() => Some(ip(&format!("{at}.gateway"), g)?),
                _ => None,
            };
            out.ips.push(IpConfig {
                address: cidr(&format!("{at}.ip"), addr)?,
                gateway,
                interface: None,
            });
            if let Some(list) = io.array("routes")? {
                routes(&format!("{at}.routes"), list, &mut out.routes)?;
            }
        }
        if let Some(d) = o.get("dns") {
            let dobj = Obj::new("result.dns", d)?;
            out.dns = Dns {
                nameservers: dobj
                    .get("nameservers")
                    .map(|v| strings("result.dns.nameservers", v))
                    .transpose()?
                    .unwrap_or_default(),
                domain: dobj.str("domain")?.map(str::to_string),
                search: dobj
                    .get("search")
                    .map(|v| strings("result.dns.search", v))
                    .transpose()?
                    .unwrap_or_default(),
                options: dobj
                    .get("options")
                    .map(|v| strings("result.dns.options", v))
                    .transpose()?
                    .unwrap_or_default(),
            };
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AddResult {
        AddResult {
            interfaces: vec![
                Interface {
                    name: "cni0".into(),
                    mac: Some("02:68:00:00:00:01".into()),
                    mtu: Some(1500),
                    sandbox: None,
                },
                Interface {
                    name: "eth0".into(),
                    mac: Some("02:00:00:00:00:02".into()),
                    mtu: Some(1500),
                    sandbox: Some("/run/netns/x".into()),
                },
            ],
            ips: vec![IpConfig {
                address: "10.4.0.2/24".parse().unwrap(),
                gateway: Some("10.4.0.1".parse().unwrap()),
                interface: Some(1),
            }],
            routes: vec![Route {
                dst: "0.0.0.0/0".parse().unwrap(),
                gw: None,
            }],
            dns: Dns::default(),
        }
    }

    #[test]
    fn shapes_by_version() {
        let r = sample();
        let v031 = r.to_json(Version(0, 3, 1));
        assert_eq!(v031["ips"][0]["version"], "4");
        assert!(v031["interfaces"][0].get("mtu").is_none());
        let v100 = r.to_json(Version(1, 0, 0));
        assert!(v100["ips"][0].get("version").is_none());
        let v110 = r.to_json(Version(1, 1, 0));
        assert_eq!(v110["interfaces"][1]["mtu"], 1500);
        let v020 = r.to_json(Version(0, 2, 0));
        assert_eq!(v020["ip4"]["ip"], "10.4.0.2/24");
        assert_eq!(v020["ip4"]["routes"][0]["dst"], "0.0.0.0/0");
        assert!(v020.get("ips").is_none());
        // and back
        assert_eq!(AddResult::from_json(&v110).unwrap(), r);
        assert_eq!(
            AddResult::from_json(&v020).unwrap().ips[0].address,
            r.ips[0].address
        );
    }
}
