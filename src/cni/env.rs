//! The CNI_* environment: parsed and validated before anything else, so a
//! container id like `../../x` never reaches a path.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::core::network::validate_ifname;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Version,
    Gc,
    Status,
}

impl Command {
    pub fn parse(text: &str) -> Result<Command> {
        Ok(match text {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "VERSION" => Command::Version,
            "GC" => Command::Gc,
            "STATUS" => Command::Status,
            other => {
                return Err(Error::env(format!(
                    "CNI_COMMAND {other:?} is not one of ADD, DEL, CHECK, VERSION, GC, STATUS"
                )));
            }
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Version => "VERSION",
            Command::Gc => "GC",
            Command::Status => "STATUS",
        }
    }
}

/// `CNI_ARGS`: `IgnoreUnknown=1;IP=10.4.0.7;MAC=..;K8S_POD_NAME=..`. Keys
/// hostnet does not use are ignored (nerdctl and kubelet send several).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniArgs {
    pub ips: Vec<IpAddr>,
    pub mac: Option<String>,
}

impl CniArgs {
    pub fn parse(text: &str) -> Result<CniArgs> {
        let mut out = CniArgs::default();
        for pair in text.split(';').filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(Error::env(format!("CNI_ARGS: {pair:?} is not KEY=VALUE")));
            };
            match key {
                "IP" => {
                    for one in value.split(',').filter(|v| !v.is_empty()) {
                        out.ips.push(
                            parse_ip_maybe_prefix(one)
                                .map_err(|m| Error::env(format!("CNI_ARGS IP: {m}")))?,
                        );
                    }
                }
                "MAC" => out.mac = Some(value.to_string()),
                _ => {}
            }
        }
        Ok(out)
    }
}

/// "10.4.0.7" or "10.4.0.7/24": the address (the prefix is the range's).
pub fn parse_ip_maybe_prefix(text: &str) -> Result<IpAddr, String> {
    let ip = text.split_once('/').map(|(ip, _)| ip).unwrap_or(text);
    ip.parse::<IpAddr>()
        .map_err(|_| format!("{text:?} is not an IP address"))
}

#[derive(Debug, Clone)]
pub struct Env {
    pub command: Command,
    pub container_id: Option<String>,
    /// CNI_NETNS; an empty value counts as absent (nerdctl's DEL).
    pub netns: Option<String>,
    pub ifname: Option<String>,
    pub args: CniArgs,
    pub path: Vec<PathBuf>,
    /// Why CNI_CONTAINERID or CNI_IFNAME cannot name an attachment (then
    /// nothing was ever attached under it: DEL succeeds, the rest fail, code 4).
    pub bad_name: Option<String>,
}

/// Room for hostnet's longest file name built from an attachment:
/// `.tmp/<cid>-<ifname>.json.<pid>.<16 hex>` must fit one name component.
pub const MAX_NAME: usize = 255;

/// Can `<cid>-<ifname>.json` (and its temp file) be a file name?
pub fn validate_file_name(id: &str, ifname: &str) -> Result<()> {
    let record = id.len() + 1 + ifname.len() + ".json".len();
    let temp = record + ".4194304.".len() + 16;
    if temp > MAX_NAME {
        return Err(Error::env(format!(
            "CNI_CONTAINERID ({} bytes) and CNI_IFNAME ({} bytes) are too long to name the attachment's files (at most {} bytes together)",
            id.len(),
            ifname.len(),
            MAX_NAME - (temp - id.len() - ifname.len())
        )));
    }
    Ok(())
}

/// CNI_CONTAINERID: `^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`, at most 255 bytes.
pub fn validate_container_id(id: &str) -> Result<()> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok || id.len() > 255 {
        return Err(Error::env(format!(
            "CNI_CONTAINERID {id:?}: must start with a letter or digit and contain only letters, digits, '_', '.', '-' (at most 255)"
        )));
    }
    Ok(())
}

impl Env {
    /// Read the environment through `get` (std::env::var in production).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Env> {
        let command = match get("CNI_COMMAND") {
            Some(c) => Command::parse(&c)?,
            None => return Err(Error::env("CNI_COMMAND is not set")),
        };
        let non_empty = |k: &str| get(k).filter(|v| !v.is_empty());
        let container_id = non_empty("CNI_CONTAINERID");
        let ifname = non_empty("CNI_IFNAME");
        let mut bad_name = None;
        if let Some(id) = &container_id
            && let Err(f) = validate_container_id(id)
        {
            bad_name = Some(f.msg);
        }
        if let Some(name) = &ifname
            && bad_name.is_none()
            && let Err(e) = validate_ifname("CNI_IFNAME", name)
        {
            bad_name = Some(e.msg);
        }
        if let (Some(id), Some(name), None) = (&container_id, &ifname, &bad_name)
            && let Err(f) = validate_file_name(id, name)
        {
            bad_name = Some(f.msg);
        }
        let args = CniArgs::parse(&get("CNI_ARGS").unwrap_or_default())?;
        let path = get("CNI_PATH")
            .unwrap_or_default()
            .split(':')
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .collect();
        Ok(Env {
            command,
            bad_name,
            container_id,
            netns: non_empty("CNI_NETNS"),
            ifname,
            args,
            path,
        })
    }

    pub fn container_id(&self) -> Result<&str> {
        if let Some(why) = &self.bad_name {
            return Err(Error::env(why.clone()));
        }
        self.container_id
            .as_deref()
            .ok_or_else(|| Error::env("CNI_CONTAINERID is not set"))
    }
    pub fn ifname(&self) -> Result<&str> {
        if let Some(why) = &self.bad_name {
            return Err(Error::env(why.clone()));
        }
        self.ifname
            .as_deref()
            .ok_or_else(|| Error::env("CNI_IFNAME is not set"))
    }
    pub fn netns(&self) -> Result<&str> {
        self.netns
            .as_deref()
            .ok_or_else(|| Error::env("CNI_NETNS is not set"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cni::error::CniCode;

    fn env(vars: &[(&str, &str)]) -> Result<Env> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::read(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn container_ids() {
        assert!(validate_container_id("abc123").is_ok());
        assert!(validate_container_id("a.b_c-d").is_ok());
        assert!(validate_container_id("../../x").is_err());
        assert!(validate_container_id("-x").is_err());
        assert!(validate_container_id("a/b").is_err());
        assert!(validate_container_id("").is_err());
        assert!(validate_container_id(&"a".repeat(256)).is_err());
    }

    #[test]
    fn environment() {
        let e = env(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_NETNS", ""),
            ("CNI_IFNAME", "eth0"),
        ])
        .unwrap();
        assert_eq!(e.command, Command::Del);
        assert_eq!(e.netns, None);
        assert_eq!(env(&[("CNI_COMMAND", "FOO")]).unwrap_err().cni_code(), 4);
        assert_eq!(env(&[]).unwrap_err().cni_code(), 4);
        // a name that cannot name an attachment: ADD refuses it (code 4),
        // DEL has nothing to do (the dispatcher reads bad_name)
        let e = env(&[("CNI_COMMAND", "ADD"), ("CNI_IFNAME", "a-very-long-ifname")]).unwrap();
        assert_eq!(e.ifname().unwrap_err().cni_code(), 4);
        let e = env(&[("CNI_COMMAND", "ADD"), ("CNI_CONTAINERID", "../../x")]).unwrap();
        assert_eq!(e.container_id().unwrap_err().cni_code(), 4);
        let e = env(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", &"a".repeat(230)),
            ("CNI_IFNAME", "eth0"),
        ])
        .unwrap();
        assert!(e.bad_name.is_some());
        assert!(validate_file_name(&"a".repeat(220), "eth0").is_ok());
        assert!(validate_file_name(&"a".repeat(221), "eth0").is_err());
    }

    #[test]
    fn cni_args() {
        let a =
            CniArgs::parse("IgnoreUnknown=1;IP=10.4.0.7/24;MAC=02:00:00:00:00:01;K8S_POD_NAME=x")
                .unwrap();
        assert_eq!(a.ips, vec!["10.4.0.7".parse::<IpAddr>().unwrap()]);
        assert_eq!(a.mac.as_deref(), Some("02:00:00:00:00:01"));
        assert!(CniArgs::parse("IP").is_err());
        assert!(CniArgs::parse("IP=notanip").is_err());
    }
}
