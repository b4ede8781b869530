//! One module per CLI command. Each takes the parsed arguments, calls the
//! core (which owns every read and change of the host) and renders what it
//! answers; `main` turns errors into a message and an exit code.

pub mod advice;
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
use crate::core::state::Store;

pub fn store(g: &Global) -> Store {
    Store::new(&g.state_dir, &g.run_dir)
}
