//! `hostnet network create|ls|inspect|rm|prune`: networks as nerdctl has
//! them; finding, creating and removing them is `core::networks`.

mod create;
mod remove;
mod show;

pub use create::create;
pub use remove::{prune, rm};
pub use show::{inspect, ls};

pub use crate::core::networks::{attached, find};

/// Names nerdctl gives its pseudo-networks and its default network; `create` refuses them.
pub const RESERVED: [&str; 3] = ["host", "none", "bridge"];
