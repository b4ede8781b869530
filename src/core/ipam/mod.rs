//! Built-in host-local compatible address management: the reservation store
//! (`hostlocal`) and the ranges it allocates from (`range`). A delegated IPAM
//! plugin is the CNI front end's (`cni::ipam::delegate`).

pub mod hostlocal;
pub mod range;

/// Where host-local keeps its reservations when the config names no dataDir.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";
