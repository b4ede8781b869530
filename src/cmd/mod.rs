//! One module per CLI command. Each takes the parsed arguments, calls the
//! core (which owns every read and change of the host) and renders what it
//! answers; `main` turns errors into a message and an exit code.

pub mod check;
pub mod completions;
pub mod gc;
pub mod init;
pub mod network;
pub mod output;
pub mod portmap;
pub mod publish;
pub mod status;
pub mod teardown;
pub mod version;

use crate::cli::Global;
use crate::core::netns_guard;
use crate::core::state::Store;
use crate::error::Result;

pub fn store(g: &Global) -> Store {
    Store::new(&g.state_dir, &g.run_dir)
}

/// `--netns NAME|PATH`: the whole process moves there before any command
/// runs (every socket and /proc/sys file it opens then belongs to it).
pub fn enter_netns(g: &Global) -> Result<()> {
    match &g.netns {
        Some(ns) => netns_guard::enter_process(ns),
        None => Ok(()),
    }
}
