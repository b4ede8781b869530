//! The network configuration on stdin, parsed and validated in full before
//! anything is changed. Keys: those of the reference bridge plugin, host-local
//! IPAM, the tuning plugin, `runtimeConfig.portMappings`, plus hostnet's own
//! `stateDir` and `runDir`.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnetwork::IpNetwork;
use serde_json::Value;

use super::portspec::{self, PortSpec};
use super::result::Dns;
use super::version::Version;
pub use crate::core::attach::spec::{Mode, RouteSpec, Tuning};
use crate::core::ipam::range::{Range, RangeSet};
use crate::core::json::{Obj, strings};
use crate::core::network::{validate_bridge_name, validate_network_name};
use crate::error::{Error, Result};

pub const DEFAULT_STATE_DIR: &str = "/var/lib/hostnet";
pub const DEFAULT_RUN_DIR: &str = "/run/hostnet";
pub use crate::core::ipam::DEFAULT_DATA_DIR as DEFAULT_IPAM_DATA_DIR;
/// The reference bridge plugin's default bridge name.
pub const DEFAULT_BRIDGE: &str = "cni0";

#[derive(Debug, Clone)]
pub enum IpamKind {
    /// Built in, on host-local's on-disk format.
    HostLocal {
        range_sets: Vec<RangeSet>,
        data_dir: PathBuf,
        resolv_conf: Option<PathBuf>,
    },
    /// Any other `ipam.type`: exec'd from CNI_PATH.
    Delegated(String),
}

#[derive(Debug, Clone)]
pub struct Ipam {
    pub kind: IpamKind,
    pub routes: Vec<RouteSpec>,
}

#[derive(Debug, Clone)]
pub struct NetConf {
    pub version: Version,
    pub name: String,
    pub mode: Mode,
    pub bridge: String,
    pub is_default_gateway: bool,
    pub hairpin: bool,
    pub promisc_mode: bool,
    /// The reference bridge plugin's `portIsolation`: each host veth is an
    /// isolated bridge port (containers reach the gateway, not each other).
    pub port_isolation: bool,
    pub mtu: Option<u32>,
    pub ipam: Ipam,
    pub tuning: Tuning,
    /// Container MAC from runtimeConfig.mac, args.cni.mac or conf `mac`.
    pub mac: Option<[u8; 6]>,
    pub port_mappings: Vec<PortSpec>,
    /// runtimeConfig.ips and args.cni.ips (they win over CNI_ARGS IP).
    pub requested_ips: Vec<IpAddr>,
    pub state_dir: PathBuf,
    pub run_dir: PathBuf,
    pub dns: Dns,
    pub prev_result: Option<Value>,
    /// GC's `cni.dev/valid-attachments`: (container id, ifname).
    pub valid_attachments: Option<Vec<(String, String)>>,
    /// The exact stdin bytes, for delegated plugins.
    pub raw: Vec<u8>,
}

/// The `cniVersion` of a config, if it can be read at all (for error output).
pub fn peek_version(bytes: &[u8]) -> Option<String> {
    // only the one field is built, the rest skipped (not made a Value); a
    // cniVersion that is not a string is no version
    #[derive(serde::Deserialize)]
    struct Peek {
        #[serde(rename = "cniVersion", default)]
        version: Option<String>,
    }
    serde_json::from_slice::<Peek>(bytes).ok()?.version
}

pub fn parse_json(bytes: &[u8]) -> Result<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::decode("no network configuration on stdin"));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| Error::decode(format!("network configuration is not valid JSON: {e}")))
}

pub fn parse_mac(at: &str, text: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = text.split([':', '-']).collect();
    let mut mac = [0u8; 6];
    let ok = parts.len() == 6
        && parts
            .iter()
            .zip(mac.iter_mut())
            .all(|(p, b)| p.len() == 2 && u8::from_str_radix(p, 16).map(|v| *b = v).is_ok());
    if !ok {
        return Err(Error::invalid(format!(
            "{at}: {text:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"
        )));
    }
    if mac[0] & 1 == 1 {
        return Err(Error::invalid(format!(
            "{at}: {text} is a multicast address"
        )));
    }
    if mac == [0; 6] {
        return Err(Error::invalid(format!(
            "{at}: the all-zero MAC address cannot be assigned"
        )));
    }
    Ok(mac)
}

fn parse_route(at: &str, v: &Value) -> Result<RouteSpec> {
    let o = Obj::new(at, v)?;
    let Some(dst) = o.str("dst")? else {
        return Err(Error::invalid(format!("{at}: dst is required")));
    };
    let net: IpNetwork = dst
        .parse()
        .map_err(|_| Error::invalid(format!("{at}.dst: {dst:?} is not a CIDR")))?;
    let dst = IpNetwork::new(net.network(), net.prefix())
        .map_err(|e| Error::invalid(format!("{at}.dst: {dst:?}: {e}")))?;
    let gw = match o.str("gw")? {
        None | Some("") => None,
        Some(text) => {
            let gw: IpAddr = text
                .parse()
                .map_err(|_| Error::invalid(format!("{at}.gw: {text:?} is not an IP address")))?;
            if gw.is_ipv4() != dst.is_ipv4() {
                return Err(Error::invalid(format!(
                    "{at}: gw {gw} and dst {dst} differ in family"
                )));
            }
            Some(gw)
        }
    };
    Ok(RouteSpec { dst, gw })
}

fn parse_ipam(o: Obj<'_>) -> Result<Ipam> {
    let kind = match o.str("type")? {
        None | Some("") => return Err(Error::invalid("ipam.type is required")),
        Some(t) => t,
    };
    let mut routes = Vec::new();
    if let Some(list) = o.array("routes")? {
        for (i, r) in list.iter().enumerate() {
            routes.push(parse_route(&format!("ipam.routes[{i}]"), r)?);
        }
    }
    if kind != "host-local" {
        if kind.contains('/') || kind == "." || kind == ".." {
            return Err(Error::invalid(format!(
                "ipam.type {kind:?} is not a plugin name"
            )));
        }
        return Ok(Ipam {
            kind: IpamKind::Delegated(kind.to_string()),
            routes,
        });
    }
    let mut sets: Vec<RangeSet> = Vec::new();
    if o.get("subnet").is_some() {
        sets.push(RangeSet {
            ranges: vec![Range::parse(o)?],
        });
    }
    if let Some(list) = o.array("ranges")? {
        for (i, set) in list.iter().enumerate() {
            let Value::Array(items) = set else {
                return Err(Error::decode(format!(
                    "ipam.ranges[{i}]: expected a list of ranges, got {set}"
                )));
            };
            if items.is_empty() {
                return Err(Error::invalid(format!("ipam.ranges[{i}] is empty")));
            }
            let mut ranges = Vec::new();
            for (j, r) in items.iter().enumerate() {
                let at = format!("ipam.ranges[{i}][{j}]");
                ranges.push(Range::parse(Obj::new(&at, r)?)?);
            }
            sets.push(RangeSet { ranges });
        }
    }
    if sets.is_empty() {
        return Err(Error::invalid(
            "ipam: host-local needs \"ranges\" or \"subnet\"",
        ));
    }
    let mut seen_v4 = false;
    let mut seen_v6 = false;
    for (i, set) in sets.iter().enumerate() {
        let first = &set.ranges[0];
        for (j, r) in set.ranges.iter().enumerate().skip(1) {
            if r.subnet != first.subnet || r.gateway != first.gateway {
                return Err(Error::unsupported(format!(
                    "ipam.ranges[{i}][{j}]: subnet {} differs from {}: hostnet needs one subnet and gateway per range set",
                    r.subnet, first.subnet
                )));
            }
            if set.ranges[..j]
                .iter()
                .any(|o| o.contains(r.start) || o.contains(r.end) || r.contains(o.start))
            {
                return Err(Error::invalid(format!(
                    "ipam.ranges[{i}][{j}]: overlaps another range of the set"
                )));
            }
        }
        let seen = if set.is_v4() {
            &mut seen_v4
        } else {
            &mut seen_v6
        };
        if *seen {
            return Err(Error::unsupported(format!(
                "ipam.ranges[{i}] ({}): hostnet supports one IPv4 and one IPv6 range set",
                set.subnet()
            )));
        }
        *seen = true;
    }
    for (i, r) in routes.iter().enumerate() {
        if !sets.iter().any(|s| s.is_v4() == r.dst.is_ipv4()) {
            return Err(Error::invalid(format!(
                "ipam.routes[{i}]: {} has no range of its family",
                r.dst
            )));
        }
    }
    let data_dir = match o.str("dataDir")? {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(DEFAULT_IPAM_DATA_DIR),
    };
    let resolv_conf = o
        .str("resolvConf")?
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    Ok(Ipam {
        kind: IpamKind::HostLocal {
            range_sets: sets,
            data_dir,
            resolv_conf,
        },
        routes,
    })
}

fn parse_ip_list(at: &str, v: &Value) -> Result<Vec<IpAddr>> {
    strings(at, v)?
        .iter()
        .map(|s| {
            super::env::parse_ip_maybe_prefix(s).map_err(|m| Error::invalid(format!("{at}: {m}")))
        })
        .collect()
}

/// Reject keys of the reference bridge that hostnet does not implement,
/// naming key and value (the spec's code 2).
fn check_unsupported(o: Obj<'_>) -> Result<()> {
    let refuse =
        |key: &str, v: &Value, why: &str| Err(Error::unsupported(format!("{key}={v}: {why}")));
    if let Some(v) = o.get("vlan")
        && v.as_u64() != Some(0)
    {
        return refuse("vlan", v, "VLAN filtering is not supported");
    }
    if let Some(v) = o.get("vlanTrunk")
        && v.as_array().is_none_or(|a| !a.is_empty())
    {
        return refuse("vlanTrunk", v, "VLAN trunks are not supported");
    }
    for key in ["macspoofchk", "disableContainerInterface"] {
        if let Some(v) = o.bool(key)?
            && v
        {
            return refuse(key, &Value::Bool(v), "not supported by hostnet");
        }
    }
    // the reference firewall plugin's ingressPolicy: hostnet always keeps
    // networks apart (same-bridge); "open" it cannot do
    if let Some(p) = o.str("ingressPolicy")?
        && p != "same-bridge"
    {
        return refuse(
            "ingressPolicy",
            &Value::String(p.into()),
            "hostnet keeps networks apart: only same-bridge",
        );
    }
    if o.bool("isGateway")? == Some(false) {
        return refuse(
            "isGateway",
            &Value::Bool(false),
            "hostnet always puts the gateway address on the bridge",
        );
    }
    if o.bool("ipMasq")? == Some(false) {
        return refuse(
            "ipMasq",
            &Value::Bool(false),
            "hostnet always masquerades traffic leaving the network",
        );
    }
    if let Some(b) = o.str("ipMasqBackend")?
        && b != "nftables"
    {
        return refuse(
            "ipMasqBackend",
            &Value::String(b.into()),
            "hostnet masquerades with nftables only",
        );
    }
    Ok(())
}

fn parse_tuning(o: Obj<'_>) -> Result<Tuning> {
    let mut t = Tuning::default();
    if let Some(map) = o.object("sysctl")? {
        for (name, value) in map {
            let Value::String(value) = value else {
                return Err(Error::decode(format!(
                    "sysctl.{name}: expected a string, got {value}"
                )));
            };
            if !name.starts_with("net.") {
                return Err(Error::invalid(format!(
                    "sysctl {name}: only net.* sysctls can be set (they belong to the container's namespace)"
                )));
            }
            if value.is_empty() || value.contains('\n') {
                return Err(Error::invalid(format!(
                    "sysctl {name}: value {value:?} is not allowed"
                )));
            }
            let key = crate::core::attach::spec::sysctl_key(name)?;
            t.sysctl.push((name.clone(), key, value.clone()));
        }
    }
    if let Some(m) = o.str("mac")? {
        t.mac = Some(parse_mac("mac", m)?);
    }
    t.promisc = o.bool("promisc")?;
    t.allmulti = o.bool("allmulti")?;
    if let Some(q) = o.u64("txQLen")? {
        t.txqlen =
            Some(u32::try_from(q).map_err(|_| Error::invalid(format!("txQLen {q} is too large")))?);
    }
    Ok(t)
}

fn env_or(key: &str, default: &str) -> PathBuf {
    match std::env::var_os(key) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(default),
    }
}

/// Everything but the pieces only VERSION needs. `mac_arg`: CNI_ARGS MAC.
pub fn parse(bytes: &[u8], mac_arg: Option<&str>) -> Result<NetConf> {
    let value = parse_json(bytes)?;
    let o = Obj::new("", &value)?;
    let version = Version::parse(o.str("cniVersion")?)?;
    let name = match o.str("name")? {
        Some(n) => n.to_string(),
        None => return Err(Error::invalid("network name (\"name\") is required")),
    };
    validate_network_name(&name).map_err(|e| Error::invalid(e.msg))?;
    let plugin_type = match o.str("type")? {
        Some(t) if !t.is_empty() => t,
        _ => return Err(Error::invalid("plugin \"type\" is required")),
    };
    let mode = if plugin_type == "bridge" {
        Mode::Bridge
    } else {
        Mode::Integrated
    };
    check_unsupported(o)?;

    let bridge = o
        .str("bridge")?
        .filter(|b| !b.is_empty())
        .unwrap_or(DEFAULT_BRIDGE)
        .to_string();
    validate_bridge_name("bridge", &bridge).map_err(|e| Error::invalid(e.msg))?;
    let mtu = match o.u64("mtu")? {
        None | Some(0) => None,
        Some(m) if (68..=65535).contains(&m) => Some(m as u32),
        Some(m) => {
            return Err(Error::invalid(format!(
                "mtu {m}: must be between 68 and 65535"
            )));
        }
    };
    let Some(ipam_value) = o.get("ipam") else {
        return Err(Error::invalid(
            "ipam is required: hostnet assigns addresses (host-local or a delegated IPAM plugin)",
        ));
    };
    let ipam = parse_ipam(Obj::new("ipam", ipam_value)?)?;

    let tuning = match mode {
        Mode::Integrated => parse_tuning(o)?,
        Mode::Bridge => Tuning::default(),
    };
    let runtime = match o.get("runtimeConfig") {
        Some(v) => Some(Obj::new("runtimeConfig", v)?),
        None => None,
    };
    let cni_args = match o.object("args")? {
        Some(args) => match args.get("cni") {
            Some(v) if !v.is_null() => Some(Obj::new("args.cni", v)?),
            _ => None,
        },
        None => None,
    };

    // MAC: runtimeConfig.mac, then args.cni.mac, then CNI_ARGS MAC, then conf `mac`.
    let mut mac = None;
    if let Some(r) = runtime
        && let Some(m) = r.str("mac")?
    {
        mac = Some(parse_mac("runtimeConfig.mac", m)?);
    }
    if mac.is_none()
        && let Some(a) = cni_args
        && let Some(m) = a.str("mac")?
    {
        mac = Some(parse_mac("args.cni.mac", m)?);
    }
    if mac.is_none()
        && let Some(m) = mac_arg
    {
        mac = Some(parse_mac("CNI_ARGS MAC", m)?);
    }
    if mac.is_none() {
        mac = tuning.mac;
    }

    let mut requested_ips = Vec::new();
    if let Some(r) = runtime
        && let Some(v) = r.get("ips")
    {
        requested_ips.extend(parse_ip_list("runtimeConfig.ips", v)?);
    }
    if let Some(a) = cni_args
        && let Some(v) = a.get("ips")
    {
        requested_ips.extend(parse_ip_list("args.cni.ips", v)?);
    }

    let port_mappings = match (mode, runtime.and_then(|r| r.get("portMappings"))) {
        (Mode::Integrated, Some(v)) => portspec::parse_list(v)?,
        _ => Vec::new(),
    };

    let state_dir = match o.str("stateDir")? {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => env_or("HOSTNET_STATE_DIR", DEFAULT_STATE_DIR),
    };
    let run_dir = match o.str("runDir")? {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => env_or("HOSTNET_RUN_DIR", DEFAULT_RUN_DIR),
    };
    let dns = match o.get("dns") {
        Some(v) => {
            serde_json::from_value(v.clone()).map_err(|e| Error::decode(format!("dns: {e}")))?
        }
        None => Dns::default(),
    };
    let valid_attachments = match o.array("cni.dev/valid-attachments")? {
        None => None,
        Some(list) => {
            let mut out = Vec::new();
            for (i, item) in list.iter().enumerate() {
                let at = format!("cni.dev/valid-attachments[{i}]");
                let a = Obj::new(&at, item)?;
                let (Some(id), Some(ifname)) = (a.str("containerID")?, a.str("ifname")?) else {
                    return Err(Error::invalid(format!(
                        "{at}: containerID and ifname are required"
                    )));
                };
                out.push((id.to_string(), ifname.to_string()));
            }
            Some(out)
        }
    };
    // as the reference bridge plugin: hairpin and a promiscuous bridge are
    // two answers to one question, and together they are refused
    let promisc_mode = o.bool("promiscMode")?.unwrap_or(false);
    let hairpin_given = o.bool("hairpinMode")?;
    if promisc_mode && hairpin_given == Some(true) {
        return Err(Error::invalid(
            "hairpinMode and promiscMode cannot both be set",
        ));
    }
    Ok(NetConf {
        version,
        name,
        mode,
        bridge,
        is_default_gateway: o.bool("isDefaultGateway")?.unwrap_or(false),
        hairpin: hairpin_given.unwrap_or(!promisc_mode),
        promisc_mode,
        port_isolation: o.bool("portIsolation")?.unwrap_or(false),
        mtu,
        ipam,
        tuning,
        mac,
        port_mappings,
        requested_ips,
        state_dir,
        run_dir,
        dns,
        prev_result: o.get("prevResult").cloned(),
        valid_attachments,
        raw: bytes.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cni::error::CniCode;
    use serde_json::json;

    fn conf(v: Value) -> Result<NetConf> {
        parse(&serde_json::to_vec(&v).unwrap(), None)
    }

    fn base() -> Value {
        json!({
            "cniVersion": "1.0.0", "name": "net1", "type": "hostnet", "bridge": "hn0",
            "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.4.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}
        })
    }

    fn with(mut v: Value, key: &str, val: Value) -> Value {
        v[key] = val;
        v
    }

    #[test]
    fn good_config() {
        let c = conf(base()).unwrap();
        assert_eq!(c.mode, Mode::Integrated);
        assert_eq!(c.bridge, "hn0");
        assert!(c.hairpin);
        match &c.ipam.kind {
            IpamKind::HostLocal {
                range_sets,
                data_dir,
                ..
            } => {
                assert_eq!(range_sets.len(), 1);
                assert_eq!(data_dir, &PathBuf::from(DEFAULT_IPAM_DATA_DIR));
            }
            other => panic!("{other:?}"),
        }
        let c = conf(with(base(), "type", json!("bridge"))).unwrap();
        assert_eq!(c.mode, Mode::Bridge);
    }

    #[test]
    fn codes() {
        assert_eq!(parse(b"{", None).unwrap_err().cni_code(), 6);
        assert_eq!(parse(b"", None).unwrap_err().cni_code(), 6);
        assert_eq!(
            conf(with(base(), "cniVersion", json!("9.9.9")))
                .unwrap_err()
                .cni_code(),
            1
        );
        let mut v = base();
        v.as_object_mut().unwrap().remove("name");
        assert_eq!(conf(v).unwrap_err().cni_code(), 7);
        assert_eq!(
            conf(with(base(), "name", json!("../x")))
                .unwrap_err()
                .cni_code(),
            7
        );
        assert_eq!(
            conf(with(base(), "mtu", json!("big")))
                .unwrap_err()
                .cni_code(),
            6
        );
        assert_eq!(
            conf(with(base(), "mtu", json!(20))).unwrap_err().cni_code(),
            7
        );
        assert_eq!(
            conf(with(base(), "vlan", json!(5))).unwrap_err().cni_code(),
            2
        );
        let both = with(
            with(base(), "hairpinMode", json!(true)),
            "promiscMode",
            json!(true),
        );
        assert_eq!(conf(both).unwrap_err().cni_code(), 7);
        assert_eq!(
            conf(with(base(), "ingressPolicy", json!("open")))
                .unwrap_err()
                .cni_code(),
            2
        );
        assert!(conf(with(base(), "ingressPolicy", json!("same-bridge"))).is_ok());
        assert!(
            conf(with(base(), "portIsolation", json!(true)))
                .unwrap()
                .port_isolation
        );
        let promisc = conf(with(base(), "promiscMode", json!(true))).unwrap();
        assert!(promisc.promisc_mode && !promisc.hairpin);
        assert_eq!(
            conf(with(base(), "ipMasq", json!(false)))
                .unwrap_err()
                .cni_code(),
            2
        );
        assert_eq!(
            conf(with(base(), "bridge", json!("a-name-that-is-too-long")))
                .unwrap_err()
                .cni_code(),
            7
        );
        assert_eq!(
            conf(with(base(), "sysctl", json!({"kernel.panic": "1"})))
                .unwrap_err()
                .cni_code(),
            7
        );
        assert_eq!(
            conf(with(base(), "mac", json!("zz")))
                .unwrap_err()
                .cni_code(),
            7
        );
        assert_eq!(
            conf(with(base(), "ipam", json!({"type": "host-local"})))
                .unwrap_err()
                .cni_code(),
            7
        );
        let two_v4 = json!({"type": "host-local", "ranges": [[{"subnet": "10.4.0.0/24"}], [{"subnet": "10.5.0.0/24"}]]});
        assert_eq!(
            conf(with(base(), "ipam", two_v4)).unwrap_err().cni_code(),
            2
        );
    }

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("m", "02:00:00:00:00:01").unwrap(),
            [2, 0, 0, 0, 0, 1]
        );
        assert!(parse_mac("m", "01:00:00:00:00:01").is_err());
        assert!(parse_mac("m", "02:00:00:00:00").is_err());
    }
}
