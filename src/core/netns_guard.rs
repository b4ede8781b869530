//! CNI_NETNS must name the container's network namespace, never the one the
//! plugin itself runs in (the host's): an ADD there would put CNI_IFNAME,
//! addresses, a subnet route and a default route into the host.
//!
//! The refusal uses code 4 (INVALID_ENV): the spec's code for a bad value of
//! a CNI_* environment variable, which CNI_NETNS is; the network
//! configuration (code 7) is fine, and the namespace does exist (code 3
//! would tell the runtime the container is unknown).
//!
//! The CLI's `--netns` is entered here too: the front ends reach the kernel
//! only through the core.

use std::fs::File;

use crate::error::{Error, Kind, Result};
use crate::kernel::netns::{self, Identity};

/// Open the network namespace at `path` (CNI_NETNS). Nothing there is
/// CNI's "unknown container" (code 3); a failure to open what is there
/// (a symlink loop, no descriptors left) is an I/O failure (code 5).
pub fn open(path: &str) -> Result<File> {
    netns::open_if_present(std::path::Path::new(path))
        .map_err(|e| e.context("CNI_NETNS"))?
        .ok_or_else(|| {
            Error::new(
                Kind::NotFound,
                format!("CNI_NETNS: network namespace {path} does not exist"),
            )
        })
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

/// Move the whole (still single-threaded) process into the network
/// namespace `name_or_path` (a name under /run/netns, or a path): the CLI's
/// `--netns`.
pub fn enter_process(name_or_path: &str) -> Result<()> {
    netns::enter_process(&netns::resolve(name_or_path)?)
}

/// Is `path` the plugin's own network namespace? False when it cannot be
/// opened (gone) or is not a namespace.
pub fn is_own(path: &str) -> bool {
    netns::open(std::path::Path::new(path))
        .and_then(|f| netns::identify(&f))
        .is_ok_and(|i| i == Identity::Own)
}
