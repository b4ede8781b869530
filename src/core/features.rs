//! What the running kernel offers, for `hostnet version`: probed once, cheap
//! reads only (see `kernel::probe`).

use crate::kernel::probe;

pub struct Features {
    /// `uname -r`, None when uname fails.
    pub kernel: Option<String>,
    /// nf_tables answers a request; the error text when it does not.
    pub nf_tables: Result<(), String>,
    pub ipv6: bool,
    pub br_netfilter: bool,
}

pub fn probe() -> Features {
    Features {
        nf_tables: probe::nf_tables(),
        kernel: probe::kernel_release(),
        ipv6: probe::ipv6(),
        br_netfilter: probe::br_netfilter(),
    }
}
