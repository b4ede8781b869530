//! hostnet: the host side of a container bridge network, nftables-native.
//!
//! Layers (docs/architecture.md): `cmd` (the CLI) and `cni` (the CNI plugin)
//! are two front ends over `core` (the model and every state change), which
//! sits on `kernel` (the only code that talks to the kernel: links,
//! nftables, sysctl, netns). The front ends never import each other; `core`
//! imports neither (tests/layers.rs).

pub mod cli;
pub mod cmd;
pub mod cni;
pub mod core;
pub mod error;
pub mod kernel;
pub mod manual;
