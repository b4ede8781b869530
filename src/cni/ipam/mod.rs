//! A delegated IPAM plugin (`delegate`); the built-in host-local store is
//! the core's (`core::ipam`).

pub mod delegate;
