//! The core: the host model and every state change, with the kernel behind
//! it. The two front ends (`cmd`, the CLI; `cni`, the plugin) call it and
//! never each other; nothing here imports either.
//!
//! - `network`, `conflist`, `ports`: the model (a network, its CNI config,
//!   port mappings and their clash rules);
//! - `state`, `lock`: what is on disk, and the host lock around changes;
//! - `desired`, `plan`, `host`: the nftables spec the records imply, changes
//!   as actions with undo, and a network's host side made true (`ensure`);
//! - `record`, `recover`, `orphans`, `attachments`, `vethname`, `ipam/`:
//!   attachments, their records, address reservations and leftovers;
//! - `failure`, `json`: the CNI-coded error and typed JSON access the
//!   attachment code and IPAM share with the plugin.

pub mod attachments;
pub mod conflist;
pub mod desired;
pub mod failure;
pub mod host;
pub mod ipam;
pub mod json;
pub mod lock;
pub mod network;
pub mod orphans;
pub mod plan;
pub mod ports;
pub mod record;
pub mod recover;
pub mod state;
pub mod vethname;

/// The CNI spec versions this program speaks (oldest first).
pub const CNI_VERSIONS: [&str; 7] = [
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
];
