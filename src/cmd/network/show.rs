//! `hostnet network ls` and `hostnet network inspect`, in nerdctl's shapes.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::cli::{Global, NetworkInspectArgs, NetworkLsArgs};
use crate::core::conflist;
use crate::core::record::Attachment;
use crate::core::state::{NetworkRecord, Store};
use crate::error::{Error, Result};

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn file_of(rec: &NetworkRecord) -> String {
    rec.conflist
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// Columns padded the way nerdctl's tabwriter pads them (cell width + 4),
/// trailing blanks trimmed.
fn table(rows: &[[String; 3]]) -> String {
    let w = |i: usize| rows.iter().map(|r| r[i].len()).max().unwrap_or(0) + 4;
    let (w0, w1) = (w(0), w(1));
    let mut out = String::new();
    for r in rows {
        let line = format!("{:<w0$}{:<w1$}{}", r[0], r[1], r[2]);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn ls(g: &Global, a: &NetworkLsArgs) -> Result<()> {
    // --format json: nerdctl's one object per line; the global --json: one
    // document (an array), as every command prints
    let lines = matches!(a.format.as_str(), "json" | "{{json .}}");
    let json = match a.format.as_str() {
        "table" | "" => g.json,
        "json" | "{{json .}}" => true,
        other => {
            return Err(Error::invalid(format!(
                "--format {other:?}: use table or json"
            )));
        }
    };
    let store = super::super::store(g);
    let records = store.networks()?;
    if a.quiet && g.json && !lines {
        let ids: Vec<&str> = records.iter().map(|r| short(&r.network.id)).collect();
        println!("{}", serde_json::json!(ids));
        return Ok(());
    }
    if a.quiet {
        for r in &records {
            println!("{}", short(&r.network.id));
        }
        return Ok(());
    }
    if json {
        let mut docs = Vec::new();
        for r in &records {
            let labels: Vec<String> = r
                .network
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            docs.push(serde_json::json!({
                "ID": short(&r.network.id),
                "Name": r.network.name,
                "Labels": labels.join(","),
                "File": file_of(r),
            }));
        }
        for pseudo in ["host", "none"] {
            docs.push(serde_json::json!({ "ID": "", "Name": pseudo, "Labels": "", "File": "" }));
        }
        if lines {
            for d in &docs {
                println!("{d}");
            }
        } else {
            println!("{}", serde_json::Value::Array(docs));
        }
        return Ok(());
    }
    let mut rows = vec![["NETWORK ID".into(), "NAME".into(), "FILE".into()]];
    for r in &records {
        rows.push([
            short(&r.network.id).into(),
            r.network.name.clone(),
            file_of(r),
        ]);
    }
    for pseudo in ["host", "none"] {
        rows.push([String::new(), pseudo.into(), String::new()]);
    }
    print!("{}", table(&rows));
    Ok(())
}

#[derive(Serialize)]
struct Compat {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "IPAM")]
    ipam: CompatIpam,
    #[serde(rename = "Labels")]
    labels: BTreeMap<String, String>,
    #[serde(rename = "Containers")]
    containers: BTreeMap<String, Endpoint>,
}

#[derive(Serialize)]
struct CompatIpam {
    #[serde(rename = "Config")]
    config: Vec<IpamConfig>,
}

#[derive(Serialize)]
struct IpamConfig {
    #[serde(rename = "Subnet")]
    subnet: String,
    #[serde(rename = "Gateway")]
    gateway: String,
    #[serde(rename = "IPRange", skip_serializing_if = "Option::is_none")]
    ip_range: Option<String>,
}

#[derive(Serialize)]
struct Endpoint {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "MacAddress")]
    mac: String,
    #[serde(rename = "IPv4Address")]
    v4: String,
    #[serde(rename = "IPv6Address")]
    v6: String,
}

#[derive(Serialize)]
struct Native {
    #[serde(rename = "CNI")]
    cni: Value,
    #[serde(rename = "NerdctlID")]
    id: String,
    #[serde(rename = "NerdctlLabels")]
    labels: BTreeMap<String, String>,
    #[serde(rename = "File", skip_serializing_if = "String::is_empty")]
    file: String,
}

/// The container-side MAC from the recorded result (interfaces[2] or the
/// interface with a sandbox).
fn mac_of(a: &Attachment) -> String {
    let Some(list) = a
        .result
        .as_ref()
        .and_then(|r| r.get("interfaces"))
        .and_then(Value::as_array)
    else {
        return String::new();
    };
    list.iter()
        .find(|i| i.get("sandbox").is_some_and(|s| !s.is_null()))
        .and_then(|i| i.get("mac"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn compat(store: &Store, rec: &NetworkRecord) -> Result<Compat> {
    let net = &rec.network;
    let mut containers = BTreeMap::new();
    for a in super::attached(store, &net.name)? {
        let pick = |v6: bool| {
            a.ips
                .iter()
                .find(|i| i.address.is_ipv6() == v6)
                .map(|i| i.address.to_string())
                .unwrap_or_default()
        };
        let key = if containers.contains_key(&a.container_id) {
            format!("{}-{}", a.container_id, a.ifname)
        } else {
            a.container_id.clone()
        };
        containers.insert(
            key,
            Endpoint {
                name: a.container_id.clone(),
                mac: mac_of(&a),
                v4: pick(false),
                v6: pick(true),
            },
        );
    }
    Ok(Compat {
        name: net.name.clone(),
        id: net.id.clone(),
        ipam: CompatIpam {
            config: net
                .subnets
                .iter()
                .map(|s| IpamConfig {
                    subnet: s.subnet.to_string(),
                    gateway: s.gateway.to_string(),
                    ip_range: s.ip_range.map(|r| r.to_string()),
                })
                .collect(),
        },
        labels: net.labels.clone(),
        containers,
    })
}

fn native(rec: &NetworkRecord) -> Native {
    // the conflist as it is on disk; hostnet's rendering when there is none
    let cni = rec
        .conflist
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .unwrap_or_else(|| conflist::render(&rec.network));
    Native {
        cni,
        id: rec.network.id.clone(),
        labels: rec.network.labels.clone(),
        file: file_of(rec),
    }
}

/// JSON indented by four spaces, as nerdctl prints it.
pub fn pretty<T: Serialize>(v: &T) -> Result<String> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser)
        .map_err(|e| Error::new(crate::error::Kind::Io, format!("encoding JSON: {e}")))?;
    String::from_utf8(out)
        .map_err(|e| Error::new(crate::error::Kind::Io, format!("encoding JSON: {e}")))
}

pub fn inspect(g: &Global, a: &NetworkInspectArgs) -> Result<()> {
    let store = super::super::store(g);
    let records = a
        .networks
        .iter()
        .map(|k| super::find(&store, k))
        .collect::<Result<Vec<_>>>()?;
    let text = match a.mode.as_str() {
        "dockercompat" => pretty(
            &records
                .iter()
                .map(|r| compat(&store, r))
                .collect::<Result<Vec<_>>>()?,
        )?,
        "native" => pretty(&records.iter().map(native).collect::<Vec<_>>())?,
        other => {
            return Err(Error::invalid(format!(
                "--mode {other:?}: use dockercompat or native"
            )));
        }
    };
    println!("{text}");
    Ok(())
}
