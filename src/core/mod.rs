//! The core: the host model and every state change, with the kernel behind
//! it. The two front ends (`cmd`, the CLI; `cni`, the plugin) call it and
//! never each other; nothing here imports either.
//!
//! - `network`, `conflist`, `ports`: the model (a network, its CNI config,
//!   port mappings and their clash rules);
//! - `state`, `lock`: what is on disk, and the host lock around changes;
//! - `desired`, `plan`, `txn`, `host`: the nftables spec the records imply,
//!   changes as steps with undo run in one `Transaction` (rolled back on
//!   error and on panic), and a network's host side made true (`ensure`);
//! - `attach/` (ADD: request, phases, result), `detach` (DEL), `verify`
//!   (CHECK), `collect` (GC by a list of valid attachments), `readiness`
//!   (STATUS): the attachment operations the front ends call;
//! - `record`, `index`, `recover`, `orphans`, `attachments`, `vethname`, `ipam/`:
//!   attachment records, address reservations, leftovers and crash recovery;
//! - what the CLI's commands do, each a call the CLI renders: `setup`
//!   (init), `networks/` (network create, rm, prune), `portmaps` (portmap
//!   add, del), `teardown` (and `leftovers`, the bookkeeping swept after
//!   it), `inspect` (status), `drift` and `advice` (check: differences and
//!   warnings), `orphans::gc` (gc), `features` (version);
//! - `netns_guard`: a container's namespace opened, the plugin's own refused;
//!   the CLI's `--netns` entered;
//! - `json`: typed JSON access the front ends and IPAM share.

pub mod advice;
pub mod attach;
pub mod attachments;
pub mod collect;
pub mod conflist;
pub mod desired;
pub mod detach;
pub mod drift;
pub mod features;
pub mod host;
pub mod index;
pub mod inspect;
pub mod ipam;
pub mod json;
pub mod leftovers;
pub mod lock;
pub mod netns_guard;
pub mod network;
pub mod networks;
pub mod orphans;
pub mod plan;
pub mod portmaps;
pub mod ports;
pub mod readiness;
pub mod record;
pub mod recover;
pub mod setup;
pub mod state;
pub mod teardown;
pub mod txn;
pub mod verify;
pub mod vethname;

/// The CNI spec versions this program speaks (oldest first).
pub const CNI_VERSIONS: [&str; 7] = [
    "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0",
];

/// A directory under the system temp dir for one unit test, removed on drop
/// (unit tests of files on disk need no root).
#[cfg(test)]
pub(crate) struct TestDir(pub std::path::PathBuf);

#[cfg(test)]
impl TestDir {
    pub(crate) fn new(tag: &str) -> TestDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "hostnet-unit-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create test dir");
        TestDir(p)
    }

    /// A store with its state and run dirs below this directory.
    pub(crate) fn store(&self) -> state::Store {
        state::Store::new(self.0.join("state"), self.0.join("run"))
    }
}

#[cfg(test)]
impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
