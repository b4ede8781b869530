//! Everything that talks to the kernel lives below this module, and only here:
//! links/addresses/routes (`link`), nftables (`nft`), sysctls (`sysctl`), and
//! the one helper that runs code inside another network namespace (`netns`).

pub mod link;
pub mod netns;
pub mod nft;
pub mod probe;
pub mod sysctl;
