//! Sysctls of the current network namespace, read and written as files under
//! /proc/sys (which follows the caller's network namespace).
//!
//! Keys are given as path components, never as a dotted string, because an
//! interface name may itself contain dots (`eth0.100`): `ip_forward()` and
//! `iface_key("ipv4", "eth0.100", "route_localnet")` build them.

use std::path::PathBuf;

use crate::error::{Context, Error, Result};

/// A sysctl key as its path components below /proc/sys.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Key(pub Vec<String>);

impl Key {
    pub fn new(parts: &[&str]) -> Key {
        Key(parts.iter().map(|s| s.to_string()).collect())
    }
    fn path(&self) -> Result<PathBuf> {
        let mut p = PathBuf::from("/proc/sys");
        for part in &self.0 {
            if part.is_empty() || part == "." || part == ".." || part.contains('/') {
                return Err(Error::invalid(format!(
                    "sysctl key {self}: bad component {part:?}"
                )));
            }
            p.push(part);
        }
        Ok(p)
    }
}

impl std::fmt::Display for Key {
    /// The conventional dotted name; components with dots are shown with '/'
    /// as `sysctl` does (net.ipv4.conf.eth0/100.forwarding).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<String> = self.0.iter().map(|p| p.replace('.', "/")).collect();
        f.write_str(&shown.join("."))
    }
}

pub fn ipv4_forward() -> Key {
    Key::new(&["net", "ipv4", "ip_forward"])
}

pub fn ipv6_forward() -> Key {
    Key::new(&["net", "ipv6", "conf", "all", "forwarding"])
}

/// `net.<family>.conf.<ifname>.<leaf>`, with the interface name kept whole.
pub fn iface_key(family: &str, ifname: &str, leaf: &str) -> Key {
    Key::new(&["net", family, "conf", ifname, leaf])
}

pub fn read(key: &Key) -> Result<String> {
    let path = key.path()?;
    let v = std::fs::read_to_string(&path).ctx(format!("reading sysctl {key}"))?;
    Ok(v.trim().to_string())
}

/// Write only when the value differs; returns the previous value.
pub fn write(key: &Key, value: &str) -> Result<String> {
    let old = read(key)?;
    if old != value {
        let path = key.path()?;
        std::fs::write(&path, value).ctx(format!("setting sysctl {key}={value}"))?;
    }
    Ok(old)
}

/// Parse "net.ipv4.conf.eth0.rp_filter" style names given by users (CNI tuning):
/// the interface component may be written with '/' for dots, as sysctl(8) does.
pub fn parse_dotted(name: &str) -> Result<Key> {
    if name.is_empty() || name.starts_with('.') || name.ends_with('.') {
        return Err(Error::invalid(format!("sysctl name {name:?} is malformed")));
    }
    let parts: Vec<String> = name.split('.').map(|p| p.replace('/', ".")).collect();
    let key = Key(parts);
    key.path()?;
    Ok(key)
}
