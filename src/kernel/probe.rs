//! What the running kernel offers, for `hostnet version`: cheap reads only
//! (uname, one nf_tables GETTABLE, a few /proc/sys paths).

use std::path::Path;

/// The kernel release (`uname -r`), or None when uname fails.
pub fn kernel_release() -> Option<String> {
    // SAFETY: utsname is plain data; uname fills it and NUL-terminates its fields.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let bytes: Vec<u8> = u
        .release
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Whether nf_tables answers a request (one lookup of hostnet's table); the
/// error text when it does not.
pub fn nf_tables() -> Result<(), String> {
    super::nft::read_table().map(|_| ()).map_err(|e| e.msg)
}

/// IPv6 is there (net.ipv6 sysctls exist).
pub fn ipv6() -> bool {
    Path::new("/proc/sys/net/ipv6").is_dir()
}

/// br_netfilter is loaded (bridged packets also pass the ip/ip6 hooks).
pub fn br_netfilter() -> bool {
    Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables").exists()
}
