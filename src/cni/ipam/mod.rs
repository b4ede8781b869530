//! Address management: built-in host-local (`hostlocal`, `range`) or a
//! delegated plugin (`delegate`).

pub mod delegate;
pub mod hostlocal;
pub mod range;
