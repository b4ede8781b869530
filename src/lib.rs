//! hostnet: the host side of a container bridge network, nftables-native.

pub mod error;
pub mod kernel;
