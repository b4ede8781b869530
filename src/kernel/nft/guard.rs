//! The `bridge hostnet` table of `rulesets/hostnet.nft`: anti-spoofing on the
//! bridge ports (the host ends of the containers' veths).
//!
//! Inet hooks see a container's packet arriving on the bridge; the bridge
//! family's prerouting hook sees the port it came in on, so a per-container
//! source check is one lookup of `port . source address`. Static rules, one
//! element per veth in `ports` and one per assigned address in `owned4`,
//! `owned6` and `nd_targets6`.
//!
//! Encoding, as nft 1.0.6 sends it (captured with `nft --debug=netlink,mnl`):
//! - `ports`: ifname (type 41, 16 bytes), key byteorder host;
//! - `owned4`/`owned6`: `ifname . ipv4_addr` (41<<6|7, 20 bytes) and
//!   `ifname . ipv6_addr` (41<<6|8, 32 bytes), the concatenated-set userdata;
//! - `nd_targets6`: `typeof iifname . @th,64,128`: key type 41<<6|4
//!   (integer), 32 bytes, and nft's typeof blob (below) so that `nft list`
//!   prints the typeof line;
//! - the rules load `iifname` into the 16-byte register 1 and the address
//!   into register 2, then one lookup of the concatenation.

use std::net::IpAddr;

use super::sys::{self, BaseChain, ChainDef, Elem, Expr, SetDef};
use super::{PortGuard, TableSpec};
use crate::error::{Error, Result};

pub(super) const PORTS: &str = "ports";
pub(super) const OWNED4: &str = "owned4";
pub(super) const OWNED6: &str = "owned6";
pub(super) const ND_TARGETS6: &str = "nd_targets6";
pub(super) const GUARD_SETS: [&str; 4] = [PORTS, OWNED4, OWNED6, ND_TARGETS6];

const TYPE_INTEGER: u32 = 4;
const TYPE_IPADDR: u32 = 7;
const TYPE_IP6ADDR: u32 = 8;
const TYPE_IFNAME: u32 = 41;

const UDATA_HOST_ORDER: &[u8] = &[0, 4, 1, 0, 0, 0];
/// Key byteorder 0 and an empty typeof concatenation (as for bridge_self).
const UDATA_CONCAT_SET: &[u8] = &[
    0, 4, 0, 0, 0, 0, //
    3, 8, 0, 4, 13, 0, 0, 0, 1, 0,
];
/// What nft 1.0.6 writes for `typeof iifname . @th,64,128`: key byteorder 0,
/// then the key typeof TLV: a concatenation of `meta iifname` and a raw
/// transport-header payload at bit 64, 128 bits long.
const UDATA_ND_TYPEOF: &[u8] = &[
    0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x03, 0x40, 0x00, 0x04, 0x0d, 0x00, 0x00, 0x00, 0x01, 0x38,
    0x00, 0x0e, 0x00, 0x04, 0x09, 0x00, 0x00, 0x00, 0x01, 0x06, 0x00, 0x04, 0x06, 0x00, 0x00, 0x00,
    0x01, 0x26, 0x00, 0x04, 0x07, 0x00, 0x00, 0x00, 0x01, 0x1e, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x02, 0x04, 0x03, 0x00, 0x00, 0x00, 0x03, 0x04, 0x40, 0x00,
    0x00, 0x00, 0x04, 0x04, 0x80, 0x00, 0x00, 0x00,
];

/// Set ids of this table (unique in a batch that also creates the inet sets).
const ID_BASE: u32 = 100;

fn def(i: u32, name: &str, key_type: u32, key_len: u32, udata: &[u8]) -> SetDef {
    SetDef {
        name: name.to_string(),
        id: ID_BASE + i,
        flags: 0,
        key_type,
        key_len,
        data: None,
        concat: Vec::new(),
        udata: udata.to_vec(),
    }
}

pub(super) fn set_defs() -> Vec<SetDef> {
    vec![
        def(1, PORTS, TYPE_IFNAME, 16, UDATA_HOST_ORDER),
        def(
            2,
            OWNED4,
            (TYPE_IFNAME << 6) | TYPE_IPADDR,
            20,
            UDATA_CONCAT_SET,
        ),
        def(
            3,
            OWNED6,
            (TYPE_IFNAME << 6) | TYPE_IP6ADDR,
            32,
            UDATA_CONCAT_SET,
        ),
        def(
            4,
            ND_TARGETS6,
            (TYPE_IFNAME << 6) | TYPE_INTEGER,
            32,
            UDATA_ND_TYPEOF,
        ),
    ]
}

fn set_id(name: &str) -> u32 {
    set_defs()
        .iter()
        .find(|s| s.name == name)
        .map_or(0, |s| s.id)
}

pub(super) fn chain_defs() -> Vec<ChainDef> {
    vec![ChainDef {
        name: "prerouting".to_string(),
        base: Some(BaseChain {
            kind: "filter".to_string(),
            hook: 0, // NF_BR_PRE_ROUTING
            prio: -200,
            policy: libc::NF_ACCEPT as u32,
        }),
    }]
}

fn iifname() -> Expr {
    Expr::Meta {
        key: sys::META_IIFNAME,
        dreg: sys::REG_1,
    }
}
fn cmp(op: u32, data: &[u8]) -> Expr {
    Expr::Cmp {
        sreg: sys::REG_1,
        op,
        data: data.to_vec(),
    }
}
fn load(base: u32, offset: u32, len: u32, dreg: u32) -> Expr {
    Expr::Payload {
        base,
        offset,
        len,
        dreg,
    }
}
fn lookup(set: &str, invert: bool) -> Expr {
    Expr::Lookup {
        sreg: sys::REG_1,
        set: set.to_string(),
        set_id: set_id(set),
        dreg: None,
        invert,
    }
}
fn mask(len: usize, m: &[u8]) -> Expr {
    let mut mask = m.to_vec();
    mask.resize(len, 0);
    Expr::Bitwise {
        sreg: sys::REG_1,
        dreg: sys::REG_1,
        mask,
        xor: vec![0; len],
    }
}

pub(super) fn rules() -> Vec<(String, Vec<Expr>)> {
    let on_port = || vec![iifname(), lookup(PORTS, false)];
    let ether_type = |t: u16| {
        vec![
            load(sys::PAYLOAD_LINK, 12, 2, sys::REG_1),
            cmp(sys::CMP_EQ, &t.to_be_bytes()),
        ]
    };
    // iifname . <address at base+offset> != @set drop
    let not_owned = |base: u32, offset: u32, len: u32, set: &str| {
        vec![
            iifname(),
            load(base, offset, len, sys::REG_2),
            lookup(set, true),
            Expr::Drop,
        ]
    };
    let net = sys::PAYLOAD_NETWORK;
    let th = sys::PAYLOAD_TRANSPORT;
    let mut fe80 = vec![0xfe, 0x80];
    fe80.resize(16, 0);
    let r = |parts: Vec<Vec<Expr>>| ("prerouting".to_string(), parts.concat());
    vec![
        // iifname @ports ether type ip iifname . ip saddr != @owned4 drop
        r(vec![
            on_port(),
            ether_type(0x0800),
            not_owned(net, 12, 4, OWNED4),
        ]),
        // iifname @ports ether type arp iifname . arp saddr ip != @owned4 drop
        r(vec![
            on_port(),
            ether_type(0x0806),
            not_owned(net, 14, 4, OWNED4),
        ]),
        // iifname @ports ether type ip6 ip6 saddr != :: ip6 saddr != fe80::/10
        //   iifname . ip6 saddr != @owned6 drop
        r(vec![
            on_port(),
            ether_type(0x86dd),
            vec![
                load(net, 8, 16, sys::REG_1),
                cmp(sys::CMP_NEQ, &[0; 16]),
                load(net, 8, 16, sys::REG_1),
                mask(16, &[0xff, 0xc0]),
                cmp(sys::CMP_NEQ, &fe80),
            ],
            not_owned(net, 8, 16, OWNED6),
        ]),
        // iifname @ports icmpv6 type nd-neighbor-advert @th,64,16 & 0xffc0 != 0xfe80
        //   iifname . @th,64,128 != @nd_targets6 drop
        r(vec![
            on_port(),
            ether_type(0x86dd),
            vec![
                Expr::Meta {
                    key: sys::META_L4PROTO,
                    dreg: sys::REG_1,
                },
                cmp(sys::CMP_EQ, &[58]),
                load(th, 0, 1, sys::REG_1),
                cmp(sys::CMP_EQ, &[136]),
                load(th, 8, 2, sys::REG_1),
                mask(2, &[0xff, 0xc0]),
                cmp(sys::CMP_NEQ, &[0xfe, 0x80]),
            ],
            not_owned(th, 8, 16, ND_TARGETS6),
        ]),
    ]
}

/// A veth name as a 16-byte (IFNAMSIZ) key, NUL padded.
pub(super) fn port_key(name: &str) -> Result<Vec<u8>> {
    if name.is_empty() || name.len() >= 16 || name.contains('\0') || name.contains('"') {
        return Err(Error::invalid(format!(
            "port name {name:?}: not a valid interface name"
        )));
    }
    let mut key = name.as_bytes().to_vec();
    key.resize(16, 0);
    Ok(key)
}

/// The elements of one attachment: (set, element), `ports` first.
pub(super) fn elems_of(g: &PortGuard) -> Result<Vec<(&'static str, Elem)>> {
    let port = port_key(&g.port)?;
    let mut out = Vec::new();
    if g.with_port {
        out.push((
            PORTS,
            Elem {
                key: port.clone(),
                ..Elem::default()
            },
        ));
    }
    let mut addrs = g.addrs.clone();
    addrs.sort();
    addrs.dedup();
    for a in addrs {
        let with = |b: &[u8]| Elem {
            key: [port.as_slice(), b].concat(),
            ..Elem::default()
        };
        match a {
            IpAddr::V4(v4) => out.push((OWNED4, with(&v4.octets()))),
            IpAddr::V6(v6) => {
                out.push((OWNED6, with(&v6.octets())));
                out.push((ND_TARGETS6, with(&v6.octets())));
            }
        }
    }
    Ok(out)
}

/// The guards of a spec, sorted and deduplicated by port.
pub(super) fn guards(spec: &TableSpec) -> Vec<PortGuard> {
    let mut g = spec.guards.clone();
    g.sort();
    g.dedup_by(|a, b| a.port == b.port);
    g
}

/// Every element of the table, per set in `set_defs` order.
pub(super) fn all_elems(spec: &TableSpec) -> Result<Vec<Vec<Elem>>> {
    let mut out = vec![Vec::new(); GUARD_SETS.len()];
    for g in guards(spec) {
        for (set, e) in elems_of(&g)? {
            if let Some(i) = GUARD_SETS.iter().position(|s| *s == set) {
                out[i].push(e);
            }
        }
    }
    Ok(out)
}

/// Snapshot text of an element: "veth1 . 10.4.0.2", "veth1 . fd00::2".
pub(super) fn render(set: &str, e: &Elem) -> Option<String> {
    let plain = e.data.is_none() && e.key_end.is_none() && e.flags == 0 && e.udata.is_none();
    if !plain || e.key.len() < 16 {
        return None;
    }
    let name = e.key[..16].split(|b| *b == 0).next().unwrap_or_default();
    let name = String::from_utf8_lossy(name).into_owned();
    let rest = &e.key[16..];
    match (set, rest.len()) {
        (PORTS, 0) => Some(name),
        (OWNED4, 4) => Some(format!(
            "{name} . {}",
            std::net::Ipv4Addr::new(rest[0], rest[1], rest[2], rest[3])
        )),
        (OWNED6 | ND_TARGETS6, 16) => {
            let mut o = [0u8; 16];
            o.copy_from_slice(rest);
            Some(format!("{name} . {}", std::net::Ipv6Addr::from(o)))
        }
        _ => None,
    }
}

/// `add element bridge hostnet ...` lines for `--dry-run`.
pub(super) fn text(spec: &TableSpec) -> String {
    let mut lines: Vec<(&str, Vec<String>)> = GUARD_SETS.iter().map(|s| (*s, vec![])).collect();
    for g in guards(spec) {
        let mut addrs = g.addrs.clone();
        addrs.sort();
        addrs.dedup();
        if g.with_port {
            lines[0].1.push(format!("\"{}\"", g.port));
        }
        for a in addrs {
            match a {
                IpAddr::V4(v4) => lines[1].1.push(format!("\"{}\" . {v4}", g.port)),
                IpAddr::V6(v6) => {
                    lines[2].1.push(format!("\"{}\" . {v6}", g.port));
                    lines[3]
                        .1
                        .push(format!("\"{}\" . 0x{:032x}", g.port, u128::from(v6)));
                }
            }
        }
    }
    let mut out = String::new();
    for (set, items) in lines {
        if !items.is_empty() {
            out.push_str(&format!(
                "add element bridge {} {set} {{ {} }}\n",
                super::TABLE,
                items.join(", ")
            ));
        }
    }
    out
}
