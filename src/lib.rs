//! hostnet: the host side of a container bridge network, nftables-native.
//!
//! - `kernel`: the only code that talks to the kernel (links, nftables, sysctl, netns);
//! - `network`, `state`, `conflist`, `desired`, `ports`: the model and what is on disk;
//! - `plan`: changes as actions with rollback; `cmd`: one module per command.

pub mod cli;
pub mod cmd;
pub mod cni;
pub mod conflist;
pub mod desired;
pub mod error;
pub mod kernel;
pub mod lock;
pub mod manual;
pub mod network;
pub mod output;
pub mod plan;
pub mod ports;
pub mod state;
