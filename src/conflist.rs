//! The nerdctl-compatible CNI conflist of a managed network:
//! `<cni-conf-dir>/nerdctl-<name>.conflist`, one plugin of type `hostnet`
//! carrying the keys of the reference bridge plugin and host-local IPAM.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::network::Network;

pub const DEFAULT_CNI_CONF_DIR: &str = "/etc/cni/net.d";
pub const CNI_VERSION: &str = "1.0.0";

pub fn path(conf_dir: &Path, network: &str) -> PathBuf {
    conf_dir.join(format!("nerdctl-{network}.conflist"))
}

pub fn render(net: &Network) -> Value {
    let ranges: Vec<Value> = net
        .subnets
        .iter()
        .map(|s| json!([{ "subnet": s.subnet.to_string(), "gateway": s.gateway.to_string() }]))
        .collect();
    let mut routes = Vec::new();
    if net.subnets.iter().any(|s| s.subnet.is_ipv4()) {
        routes.push(json!({ "dst": "0.0.0.0/0" }));
    }
    if net.has_v6() {
        routes.push(json!({ "dst": "::/0" }));
    }
    let mut plugin = json!({
        "type": "hostnet",
        "bridge": net.bridge,
        "isGateway": true,
        "ipMasq": true,
        "hairpinMode": true,
        "ipam": {
            "type": "host-local",
            "ranges": ranges,
            "routes": routes,
        },
        "capabilities": { "portMappings": true },
    });
    if let (Some(mtu), Some(obj)) = (net.mtu, plugin.as_object_mut()) {
        obj.insert("mtu".into(), json!(mtu));
    }
    json!({
        "cniVersion": CNI_VERSION,
        "name": net.name,
        "nerdctlID": net.id,
        "nerdctlLabels": {},
        "plugins": [plugin],
    })
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
