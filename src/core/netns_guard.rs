//! CNI_NETNS must name the container's network namespace, never the one the
//! plugin itself runs in (the host's): an ADD there would put CNI_IFNAME,
//! addresses, a subnet route and a default route into the host.
//!
//! The refusal uses code 4 (INVALID_ENV): the spec's code for a bad value of
//! a CNI_* environment variable, which CNI_NETNS is; the network
//! configuration (code 7) is fine, and the namespace does exist (code 3
//! would tell the runtime the container is unknown).

use std::fs::File;

use crate::error::{Error, Kind, Result};
use crate::kernel::netns::{self, Identity};

/// Open the network namespace at `path` (CNI_NETNS).
pub fn open(path: &str) -> Result<File> {
    netns::open(std::path::Path::new(path))
}

/// Refuse a CNI_NETNS that is the plugin's own network namespace, or no
/// namespace at all, before anything changes.
pub fn refuse_own(path: &str, file: &File) -> Result<()> {
    match netns::identify(file)? {
        Identity::Other => Ok(()),
        Identity::Own => Err(Error::new(
            Kind::InvalidEnv,
            format!(
                "CNI_NETNS {path} is the plugin's own network namespace (the host's), not a container's; refusing to configure it"
            ),
        )),
        Identity::NotANamespace => Err(Error::new(
            Kind::InvalidEnv,
            format!("CNI_NETNS {path} is not a network namespace"),
        )),
    }
}

/// Is `path` the plugin's own network namespace? False when it cannot be
/// opened (gone) or is not a namespace.
pub fn is_own(path: &str) -> bool {
    netns::open(std::path::Path::new(path))
        .and_then(|f| netns::identify(&f))
        .is_ok_and(|i| i == Identity::Own)
}
