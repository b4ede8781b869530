//! The nerdctl-compatible CNI conflist of a managed network:
//! `<cni-conf-dir>/nerdctl-<name>.conflist`, one plugin of type `hostnet`
//! carrying the keys of the reference bridge plugin and host-local IPAM.

use std::path::{Path, PathBuf};

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde_json::{Value, json};

use crate::core::network::{self, Isolation, Network, Subnet};

pub const DEFAULT_CNI_CONF_DIR: &str = "/etc/cni/net.d";
pub const CNI_VERSION: &str = "1.0.0";

pub fn path(conf_dir: &Path, network: &str) -> PathBuf {
    conf_dir.join(format!("nerdctl-{network}.conflist"))
}

pub fn render(net: &Network) -> Value {
    let ranges: Vec<Value> = net.subnets.iter().map(range).collect();
    let mut routes = Vec::new();
    // an internal network hands its containers no default route
    if !net.internal {
        if net.subnets.iter().any(|s| s.subnet.is_ipv4()) {
            routes.push(json!({ "dst": "0.0.0.0/0" }));
        }
        if net.has_v6() {
            routes.push(json!({ "dst": "::/0" }));
        }
    }
    let mut plugin = json!({
        "type": "hostnet",
        "bridge": net.bridge,
        "isGateway": true,
        "hairpinMode": true,
        "ipam": {
            "type": "host-local",
            "ranges": ranges,
            "routes": routes,
        },
    });
    if let Some(obj) = plugin.as_object_mut() {
        if !net.internal {
            obj.insert("ipMasq".into(), json!(true));
            obj.insert("capabilities".into(), json!({ "portMappings": true }));
        }
        if let Some(mtu) = net.mtu {
            obj.insert("mtu".into(), json!(mtu));
        }
        // the reference bridge plugin's key for bridge port isolation
        if net.isolation == Isolation::Isolated {
            obj.insert("portIsolation".into(), json!(true));
        }
    }
    json!({
        "cniVersion": CNI_VERSION,
        "name": net.name,
        "nerdctlID": net.id,
        "nerdctlLabels": net.labels,
        "plugins": [plugin],
    })
}

/// One host-local range set: the subnet, its gateway and, with an ip range,
/// its first and last usable address.
fn range(s: &Subnet) -> Value {
    let mut r = json!({ "subnet": s.subnet.to_string(), "gateway": s.gateway.to_string() });
    if let (Some(ip_range), Some(obj)) = (s.ip_range, r.as_object_mut()) {
        let mut start = ip_range.network();
        if start == s.subnet.network() {
            start = network::nth_host(s.subnet, 1).unwrap_or(start);
        }
        let mut end = network::last_addr(ip_range);
        if let (IpNetwork::V4(v4), IpAddr::V4(e)) = (s.subnet, end)
            && e == v4.broadcast()
        {
            end = IpAddr::V4((u32::from(e) - 1).into());
        }
        obj.insert("rangeStart".into(), json!(start.to_string()));
        obj.insert("rangeEnd".into(), json!(end.to_string()));
    }
    json!([r])
}

/// The conflist as the bytes written to disk.
pub fn render_text(net: &Network) -> String {
    let mut s = serde_json::to_string_pretty(&render(net)).unwrap_or_default();
    s.push('\n');
    s
}

/// A fresh nerdctl-style network id: 64 hex characters from the kernel's RNG.
pub fn new_id() -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The networks described by hostnet's own conflists in `conf_dir`
/// (`nerdctl-*.conflist` with one plugin of type hostnet): how `init`
/// rebuilds a network whose state file was lost or did not parse.
pub fn networks_in(conf_dir: &Path) -> Vec<Network> {
    let Ok(rd) = std::fs::read_dir(conf_dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in rd.flatten() {
        let name = entry.file_name();
        let Some(n) = name.to_str() else { continue };
        if !(n.starts_with("nerdctl-") && n.ends_with(".conflist")) {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        if let Some(net) = parse(&v) {
            out.push(net);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn parse(v: &Value) -> Option<Network> {
    let plugin = v.get("plugins")?.as_array()?.first()?;
    if plugin.get("type")?.as_str()? != "hostnet" {
        return None;
    }
    let mut subnets = Vec::new();
    let mut gateways = Vec::new();
    for set in plugin.get("ipam")?.get("ranges")?.as_array()? {
        let r = set.as_array()?.first()?;
        subnets.push(r.get("subnet")?.as_str()?.to_string());
        gateways.push(r.get("gateway")?.as_str()?.to_string());
    }
    let mtu = plugin
        .get("mtu")
        .and_then(|m| m.as_u64())
        .and_then(|m| u32::try_from(m).ok());
    crate::core::network::build(
        v.get("name")?.as_str()?,
        plugin.get("bridge")?.as_str()?,
        &subnets,
        &gateways,
        mtu,
        v.get("nerdctlID")?.as_str()?.to_string(),
    )
    .ok()
}
