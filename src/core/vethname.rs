//! Host-side veth names: "veth" + 8 hex digits, derived from the network,
//! container id and ifname (stable across retries), or random when the
//! derived name is taken (a hash collision).

use crate::error::{Context, Result};

/// FNV-1a (64 bit) over the three parts, folded to 32 bits.
pub fn derived(network: &str, container_id: &str, ifname: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [network, container_id, ifname] {
        for b in part.bytes().chain(std::iter::once(0u8)) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("veth{:08x}", (h ^ (h >> 32)) as u32)
}

pub fn random() -> Result<String> {
    use std::io::Read;
    let mut buf = [0u8; 4];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .ctx("reading /dev/urandom")?;
    Ok(format!("veth{:08x}", u32::from_be_bytes(buf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let a = derived("net", "c1", "eth0");
        assert_eq!(a.len(), 12);
        assert!(a.starts_with("veth"));
        assert_eq!(a, derived("net", "c1", "eth0"));
        assert_ne!(a, derived("net", "c2", "eth0"));
        assert_ne!(a, derived("net", "c1", "eth1"));
        assert_ne!(derived("a", "bc", "x"), derived("ab", "c", "x"));
        assert_eq!(random().unwrap().len(), 12);
    }
}
