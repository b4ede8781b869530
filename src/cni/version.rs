//! CNI spec versions: which we speak, and what differs between them.

use crate::error::{Error, Kind, Result};

pub const SUPPORTED: [&str; 7] = crate::core::CNI_VERSIONS;
pub const LATEST: &str = "1.1.0";

/// A supported spec version, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u8, pub u8, pub u8);

impl Version {
    /// The config's `cniVersion`; an absent one means 0.1.0 (as libcni reads it).
    pub fn parse(text: Option<&str>) -> Result<Version> {
        let text = text.unwrap_or("0.1.0");
        let text = if text.is_empty() { "0.1.0" } else { text };
        if !SUPPORTED.contains(&text) {
            return Err(Error::new(
                Kind::IncompatibleVersion,
                format!(
                    "incompatible CNI version {text:?}: hostnet supports {}",
                    SUPPORTED.join(", ")
                ),
            ));
        }
        let mut parts = text.split('.').map(|p| p.parse::<u8>());
        match (parts.next(), parts.next(), parts.next()) {
            (Some(Ok(a)), Some(Ok(b)), Some(Ok(c))) => Ok(Version(a, b, c)),
            _ => Err(Error::new(
                Kind::IncompatibleVersion,
                format!("CNI version {text:?} is malformed"),
            )),
        }
    }

    /// Results with `ip4`/`ip6` instead of `interfaces`/`ips` (0.1.0, 0.2.0).
    pub fn legacy_result(self) -> bool {
        self < Version(0, 3, 0)
    }
    /// `ips[].version` is present (0.3.x, 0.4.0) or gone (1.0.0+).
    pub fn ip_version_field(self) -> bool {
        self >= Version(0, 3, 0) && self < Version(1, 0, 0)
    }
    pub fn has_check(self) -> bool {
        self >= Version(0, 4, 0)
    }
    /// GC and STATUS came with 1.1.0.
    pub fn has_gc_status(self) -> bool {
        self >= Version(1, 1, 0)
    }
    /// `interfaces[].mtu` came with 1.1.0.
    pub fn has_interface_mtu(self) -> bool {
        self >= Version(1, 1, 0)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cni::error::CniCode;

    #[test]
    fn versions() {
        assert_eq!(Version::parse(None).unwrap(), Version(0, 1, 0));
        assert_eq!(Version::parse(Some("1.1.0")).unwrap().to_string(), "1.1.0");
        assert_eq!(Version::parse(Some("0.5.0")).unwrap_err().cni_code(), 1);
        assert_eq!(Version::parse(Some("1.0")).unwrap_err().cni_code(), 1);
        assert!(Version::parse(Some("0.2.0")).unwrap().legacy_result());
        assert!(Version::parse(Some("0.4.0")).unwrap().ip_version_field());
        assert!(!Version::parse(Some("1.0.0")).unwrap().ip_version_field());
        assert!(!Version::parse(Some("0.3.1")).unwrap().has_check());
    }
}
