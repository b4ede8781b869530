//! The `inet hostnet` table of `rulesets/hostnet.nft`, as netlink objects.
//!
//! The sets, chains and rules below are that file, encoded the way nft 1.0.6
//! encodes it (same set key/data types and userdata, same registers), so that
//! `nft list table inet hostnet` prints the same whether the table came from
//! `nft -f` or from `apply`. A test loads both and compares the listings.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnetwork::{Ipv4Network, Ipv6Network};

use super::elements::{
    self, HOSTPORTS4, HOSTPORTS4_ANY, HOSTPORTS6, HOSTPORTS6_ANY, HOSTRANGES4, HOSTRANGES6,
    PORT_MAPS, UDATA_ELEM_FLAGS,
};
use super::guard;
use super::sys::{self, BaseChain, Batch, ChainDef, Elem, ElemOp, Expr, SetDef, Socket};
use super::{PortElement, TABLE, TableSpec};
use crate::error::{Context, Error, Result};

const RULESET: &str = include_str!("../../../rulesets/hostnet.nft");

pub(super) const BRIDGES: &str = "bridges";
/// Each managed bridge paired with itself (`"br" . "br"`): derived from
/// `TableSpec::bridges`, so the forward chain accepts traffic that stays on
/// one bridge (which reaches the inet forward hook when br_netfilter is
/// loaded) and drops only traffic between two different managed bridges.
pub(super) const BRIDGE_SELF: &str = "bridge_self";
/// Bridges of networks in `routed` gateway mode.
pub(super) const ROUTED_BRIDGES: &str = "routed_bridges";
pub(super) const SUBNETS4: &str = "subnets4";
pub(super) const SUBNETS6: &str = "subnets6";
/// Subnets of internal networks (`network create --internal`).
pub(super) const INTERNAL4: &str = "internal4";
pub(super) const INTERNAL6: &str = "internal6";

/// nft datatype ids (nftables include/datatype.h) and a concatenation of
/// them: each component shifted in by 6 bits.
const TYPE_IPADDR: u32 = 7;
const TYPE_IP6ADDR: u32 = 8;
const TYPE_INET_PROTOCOL: u32 = 12;
const TYPE_INET_SERVICE: u32 = 13;
const TYPE_IFNAME: u32 = 41;
const fn concat(types: &[u32]) -> u32 {
    let mut t = 0;
    let mut i = 0;
    while i < types.len() {
        t = (t << 6) | types[i];
        i += 1;
    }
    t
}

/// Set userdata as nft 1.0.6 writes it for these declarations:
/// NFTNL_UDATA_SET_KEYBYTEORDER (0) = 1 (host: ifname), 2 (big endian: addresses).
const UDATA_HOST_ORDER: &[u8] = &[0, 4, 1, 0, 0, 0];
const UDATA_BIG_ENDIAN: &[u8] = &[0, 4, 2, 0, 0, 0];
/// For `ifname . ifname`: key byteorder 0 (mixed) and the key "typeof" TLV
/// (3) holding an EXPR_CONCAT (13) with no sub-expressions, as nft 1.0.6
/// writes it for a concatenated (non-interval) set declared by `type`.
const UDATA_CONCAT_SET: &[u8] = &[
    0, 4, 0, 0, 0, 0, //
    3, 8, 0, 4, 13, 0, 0, 0, 1, 0,
];
/// For the concatenated maps: key and data byteorder 0 (mixed), key and data
/// "typeof" TLVs (3, 4) holding an EXPR_CONCAT (13) with no sub-expressions,
/// NFTNL_UDATA_SET_DATA_INTERVAL (6) = 0.
const UDATA_CONCAT_MAP: &[u8] = &[
    0, 4, 0, 0, 0, 0, //
    1, 4, 0, 0, 0, 0, //
    3, 8, 0, 4, 13, 0, 0, 0, 1, 0, //
    4, 8, 0, 4, 13, 0, 0, 0, 1, 0, //
    6, 4, 0, 0, 0, 0,
];
/// For the concatenated interval maps (hostranges): key byteorder 0 (mixed),
/// data byteorder 2 (big endian: an address), the key "typeof" TLV (3) as
/// above, no data typeof, NFTNL_UDATA_SET_DATA_INTERVAL (6) = 0.
const UDATA_CONCAT_RANGE_MAP: &[u8] = &[
    0, 4, 0, 0, 0, 0, //
    1, 4, 2, 0, 0, 0, //
    3, 8, 0, 4, 13, 0, 0, 0, 1, 0, //
    6, 4, 0, 0, 0, 0,
];
/// Element userdata of an interval open to the top of the address space:
/// NFTNL_UDATA_SET_ELEM_FLAGS = NFTNL_SET_ELEM_F_INTERVAL_OPEN.
const UDATA_INTERVAL_OPEN: &[u8] = &[UDATA_ELEM_FLAGS, 4, 1, 0, 0, 0];

/// Everything `apply` sends for one table, in order; also what
/// `desired_table` renders.
pub(super) struct Objects {
    pub sets: Vec<(SetDef, Vec<Elem>)>,
    pub chains: Vec<ChainDef>,
    /// (chain, expressions), in file order
    pub rules: Vec<(String, Vec<Expr>)>,
}

/// Both tables: `inet hostnet` and `bridge hostnet`.
pub(super) struct Tables {
    pub inet: Objects,
    pub bridge: Objects,
}

fn set_def(
    id: u32,
    name: &str,
    flags: u32,
    key: (u32, u32),
    data: Option<(u32, u32)>,
    udata: &[u8],
) -> SetDef {
    SetDef {
        name: name.to_string(),
        id,
        flags,
        key_type: key.0,
        key_len: key.1,
        data,
        concat: Vec::new(),
        udata: udata.to_vec(),
    }
}

/// A concatenated interval map (NFT_SET_CONCAT | NFT_SET_INTERVAL |
/// NFT_SET_MAP) with NFTA_SET_DESC_CONCAT giving each field's real length
/// (not the 4-byte padded one).
fn range_map_def(id: u32, name: &str, key: (u32, u32), data: (u32, u32), fields: &[u8]) -> SetDef {
    SetDef {
        concat: fields.to_vec(),
        ..set_def(
            id,
            name,
            sys::SET_CONCAT | sys::SET_INTERVAL | sys::SET_MAP,
            key,
            Some(data),
            UDATA_CONCAT_RANGE_MAP,
        )
    }
}

fn set_defs() -> Vec<SetDef> {
    let proto_port = [TYPE_INET_PROTOCOL, TYPE_INET_SERVICE];
    let v4_port = concat(&[TYPE_IPADDR, TYPE_INET_SERVICE]);
    let v6_port = concat(&[TYPE_IP6ADDR, TYPE_INET_SERVICE]);
    vec![
        set_def(1, BRIDGES, 0, (TYPE_IFNAME, 16), None, UDATA_HOST_ORDER),
        // a plain hash set of two 16-byte names: no NFT_SET_CONCAT flag and
        // no NFTA_SET_DESC_CONCAT (those are for concatenated intervals)
        set_def(
            2,
            BRIDGE_SELF,
            0,
            (concat(&[TYPE_IFNAME, TYPE_IFNAME]), 32),
            None,
            UDATA_CONCAT_SET,
        ),
        set_def(
            11,
            ROUTED_BRIDGES,
            0,
            (TYPE_IFNAME, 16),
            None,
            UDATA_HOST_ORDER,
        ),
        set_def(
            3,
            SUBNETS4,
            sys::SET_INTERVAL,
            (TYPE_IPADDR, 4),
            None,
            UDATA_BIG_ENDIAN,
        ),
        set_def(
            4,
            SUBNETS6,
            sys::SET_INTERVAL,
            (TYPE_IP6ADDR, 16),
            None,
            UDATA_BIG_ENDIAN,
        ),
        // in the order of rulesets/hostnet.nft: nft lists sets as created
        set_def(
            13,
            INTERNAL4,
            sys::SET_INTERVAL,
            (TYPE_IPADDR, 4),
            None,
            UDATA_BIG_ENDIAN,
        ),
        set_def(
            12,
            INTERNAL6,
            sys::SET_INTERVAL,
            (TYPE_IP6ADDR, 16),
            None,
            UDATA_BIG_ENDIAN,
        ),
        set_def(
            5,
            HOSTPORTS4,
            sys::SET_MAP,
            (concat(&[TYPE_IPADDR, proto_port[0], proto_port[1]]), 12),
            Some((v4_port, 8)),
            UDATA_CONCAT_MAP,
        ),
        set_def(
            6,
            HOSTPORTS6,
            sys::SET_MAP,
            (concat(&[TYPE_IP6ADDR, proto_port[0], proto_port[1]]), 24),
            Some((v6_port, 20)),
            UDATA_CONCAT_MAP,
        ),
        set_def(
            7,
            HOSTPORTS4_ANY,
            sys::SET_MAP,
            (concat(&proto_port), 8),
            Some((v4_port, 8)),
            UDATA_CONCAT_MAP,
        ),
        set_def(
            8,
            HOSTPORTS6_ANY,
            sys::SET_MAP,
            (concat(&proto_port), 8),
            Some((v6_port, 20)),
            UDATA_CONCAT_MAP,
        ),
        range_map_def(
            9,
            HOSTRANGES4,
            (concat(&[TYPE_IPADDR, proto_port[0], proto_port[1]]), 12),
            (TYPE_IPADDR, 4),
            &[4, 1, 2],
        ),
        range_map_def(
            10,
            HOSTRANGES6,
            (concat(&[TYPE_IP6ADDR, proto_port[0], proto_port[1]]), 24),
            (TYPE_IP6ADDR, 16),
            &[16, 1, 2],
        ),
    ]
}

fn set_id(name: &str) -> u32 {
    set_defs()
        .iter()
        .find(|s| s.name == name)
        .map_or(0, |s| s.id)
}

fn chain_defs() -> Vec<ChainDef> {
    let base = |name: &str, kind: &str, hook: i32, prio: i32| ChainDef {
        name: name.to_string(),
        base: Some(BaseChain {
            kind: kind.to_string(),
            hook: hook as u32,
            prio,
            policy: libc::NF_ACCEPT as u32,
        }),
    };
    vec![
        base("localhost_guard", "filter", libc::NF_INET_PRE_ROUTING, -300),
        base("prerouting", "nat", libc::NF_INET_PRE_ROUTING, -100),
        base("output", "nat", libc::NF_INET_LOCAL_OUT, -100),
        ChainDef {
            name: "hostports".to_string(),
            base: None,
        },
        base("postrouting", "nat", libc::NF_INET_POST_ROUTING, 100),
        base("forward", "filter", libc::NF_INET_FORWARD, 0),
    ]
}

// Expression helpers, named after what nft prints.
fn meta(key: u32, dreg: u32) -> Expr {
    Expr::Meta { key, dreg }
}
fn nfproto_is(family: u32) -> [Expr; 2] {
    [
        meta(sys::META_NFPROTO, sys::REG_1),
        cmp(sys::CMP_EQ, &[family as u8]),
    ]
}
fn payload(base: u32, offset: u32, len: u32, dreg: u32) -> Expr {
    Expr::Payload {
        base,
        offset,
        len,
        dreg,
    }
}
fn net(offset: u32, len: u32) -> Expr {
    payload(sys::PAYLOAD_NETWORK, offset, len, sys::REG_1)
}
fn cmp(op: u32, data: &[u8]) -> Expr {
    Expr::Cmp {
        sreg: sys::REG_1,
        op,
        data: data.to_vec(),
    }
}
fn lookup(set: &str) -> Expr {
    Expr::Lookup {
        sreg: sys::REG_1,
        set: set.to_string(),
        set_id: set_id(set),
        dreg: None,
        invert: false,
    }
}
fn not_lookup(set: &str) -> Expr {
    Expr::Lookup {
        sreg: sys::REG_1,
        set: set.to_string(),
        set_id: set_id(set),
        dreg: None,
        invert: true,
    }
}
fn map_lookup(set: &str) -> Expr {
    Expr::Lookup {
        sreg: sys::REG_1,
        set: set.to_string(),
        set_id: set_id(set),
        dreg: Some(sys::REG_1),
        invert: false,
    }
}
/// `ct <key> <bits>`: (ct & bits) != 0
fn ct_has(key: u32, bits: u32) -> [Expr; 3] {
    [
        Expr::Ct {
            key,
            dreg: sys::REG_1,
        },
        Expr::Bitwise {
            sreg: sys::REG_1,
            dreg: sys::REG_1,
            mask: bits.to_ne_bytes().to_vec(),
            xor: vec![0; 4],
        },
        cmp(sys::CMP_NEQ, &[0; 4]),
    ]
}
fn dnat(family: u32, proto_reg: Option<u32>) -> Expr {
    Expr::Nat {
        nat_type: sys::NAT_DNAT,
        family,
        addr_reg: sys::REG_1,
        proto_reg,
    }
}

/// IPS_DST_NAT (`ct status dnat`), IP_CT_ESTABLISHED|RELATED bits (`ct state established,related`).
const CT_STATUS_DNAT: u32 = 1 << 5;
const CT_STATE_EST_REL: u32 = (1 << 1) | (1 << 2);

fn rules() -> Vec<(String, Vec<Expr>)> {
    let v4 = sys::NFPROTO_IPV4;
    let v6 = sys::NFPROTO_IPV6;
    let fib_local_jump = || {
        vec![
            Expr::Fib {
                flags: sys::FIB_F_DADDR,
                result: sys::FIB_RESULT_ADDRTYPE,
                dreg: sys::REG_1,
            },
            cmp(sys::CMP_EQ, &(libc::RTN_LOCAL as u32).to_ne_bytes()),
            Expr::Jump("hostports".to_string()),
        ]
    };
    let l4proto = |dreg| meta(sys::META_L4PROTO, dreg);
    // In a concatenated interval key nft turns host-order parts to network
    // order: `meta l4proto` (1 byte) gets a byteorder hton, size 2, len 1.
    let hton_l4proto = |reg| Expr::Byteorder {
        sreg: reg,
        dreg: reg,
        op: sys::BYTEORDER_HTON,
        len: 1,
        size: 2,
    };
    let dport = |dreg| payload(sys::PAYLOAD_TRANSPORT, 2, 2, dreg);
    let status_dnat = || ct_has(sys::CT_STATUS, CT_STATUS_DNAT);
    let oifname = || meta(sys::META_OIFNAME, sys::REG_1);
    let iifname = || meta(sys::META_IIFNAME, sys::REG_1);
    let r = |chain: &str, parts: Vec<Vec<Expr>>| (chain.to_string(), parts.concat());
    let not_lo = || {
        let mut lo = b"lo".to_vec();
        lo.resize(16, 0);
        vec![iifname(), cmp(sys::CMP_NEQ, &lo)]
    };
    let mut loopback6 = [0u8; 16];
    loopback6[15] = 1;
    vec![
        // iifname != "lo" ip daddr 127.0.0.0/8 drop
        r(
            "localhost_guard",
            vec![
                not_lo(),
                nfproto_is(v4).to_vec(),
                vec![net(16, 1), cmp(sys::CMP_EQ, &[127]), Expr::Drop],
            ],
        ),
        // iifname != "lo" ip6 daddr ::1 drop
        r(
            "localhost_guard",
            vec![
                not_lo(),
                nfproto_is(v6).to_vec(),
                vec![net(24, 16), cmp(sys::CMP_EQ, &loopback6), Expr::Drop],
            ],
        ),
        r("prerouting", vec![fib_local_jump()]),
        r("output", vec![fib_local_jump()]),
        // ip daddr . meta l4proto . th dport: 16-byte register 1, then the
        // 4-byte registers 9 and 10 (v4) / 16-byte register 2 and 4-byte 13 (v6).
        r(
            "hostports",
            vec![
                nfproto_is(v4).to_vec(),
                vec![net(16, 4), l4proto(sys::REG32_01), dport(sys::REG32_02)],
                vec![map_lookup(HOSTPORTS4), dnat(v4, Some(sys::REG32_01))],
            ],
        ),
        r(
            "hostports",
            vec![
                nfproto_is(v4).to_vec(),
                vec![l4proto(sys::REG_1), dport(sys::REG32_01)],
                vec![map_lookup(HOSTPORTS4_ANY), dnat(v4, Some(sys::REG32_01))],
            ],
        ),
        r(
            "hostports",
            vec![
                nfproto_is(v6).to_vec(),
                vec![net(24, 16), l4proto(sys::REG_2), dport(sys::REG32_05)],
                vec![map_lookup(HOSTPORTS6), dnat(v6, Some(sys::REG_2))],
            ],
        ),
        r(
            "hostports",
            vec![
                nfproto_is(v6).to_vec(),
                vec![l4proto(sys::REG_1), dport(sys::REG32_01)],
                vec![map_lookup(HOSTPORTS6_ANY), dnat(v6, Some(sys::REG_2))],
            ],
        ),
        // the same registers as hostports4/6, the port left as it is
        r(
            "hostports",
            vec![
                nfproto_is(v4).to_vec(),
                vec![
                    net(16, 4),
                    l4proto(sys::REG32_01),
                    hton_l4proto(sys::REG32_01),
                    dport(sys::REG32_02),
                ],
                vec![map_lookup(HOSTRANGES4), dnat(v4, None)],
            ],
        ),
        r(
            "hostports",
            vec![
                nfproto_is(v6).to_vec(),
                vec![
                    net(24, 16),
                    l4proto(sys::REG_2),
                    hton_l4proto(sys::REG_2),
                    dport(sys::REG32_05),
                ],
                vec![map_lookup(HOSTRANGES6), dnat(v6, None)],
            ],
        ),
        // ct status dnat ip saddr 127.0.0.0/8 masquerade
        r(
            "postrouting",
            vec![
                status_dnat().to_vec(),
                nfproto_is(v4).to_vec(),
                vec![net(12, 1), cmp(sys::CMP_EQ, &[127]), Expr::Masq],
            ],
        ),
        // ct status dnat ip saddr @subnets4 oifname @bridges masquerade
        r(
            "postrouting",
            vec![
                status_dnat().to_vec(),
                nfproto_is(v4).to_vec(),
                vec![
                    net(12, 4),
                    lookup(SUBNETS4),
                    oifname(),
                    lookup(BRIDGES),
                    Expr::Masq,
                ],
            ],
        ),
        r(
            "postrouting",
            vec![
                status_dnat().to_vec(),
                nfproto_is(v6).to_vec(),
                vec![
                    net(8, 16),
                    lookup(SUBNETS6),
                    oifname(),
                    lookup(BRIDGES),
                    Expr::Masq,
                ],
            ],
        ),
        // ip saddr @subnets4 ip daddr != @subnets4 ip daddr != 224.0.0.0/4 masquerade
        r(
            "postrouting",
            vec![
                nfproto_is(v4).to_vec(),
                vec![
                    net(12, 4),
                    lookup(SUBNETS4),
                    net(16, 4),
                    not_lookup(SUBNETS4),
                    net(16, 4),
                    Expr::Bitwise {
                        sreg: sys::REG_1,
                        dreg: sys::REG_1,
                        mask: vec![0xf0, 0, 0, 0],
                        xor: vec![0; 4],
                    },
                    cmp(sys::CMP_NEQ, &[0xe0, 0, 0, 0]),
                    Expr::Masq,
                ],
            ],
        ),
        // ip6 saddr @subnets6 ip6 daddr != @subnets6 ip6 daddr != ff00::/8 masquerade
        r(
            "postrouting",
            vec![
                nfproto_is(v6).to_vec(),
                vec![
                    net(8, 16),
                    lookup(SUBNETS6),
                    net(24, 16),
                    not_lookup(SUBNETS6),
                    net(24, 1),
                    cmp(sys::CMP_NEQ, &[0xff]),
                    Expr::Masq,
                ],
            ],
        ),
        r(
            "forward",
            vec![
                ct_has(sys::CT_STATE, CT_STATE_EST_REL).to_vec(),
                vec![Expr::Accept],
            ],
        ),
        r("forward", vec![status_dnat().to_vec(), vec![Expr::Accept]]),
        // iifname . oifname @bridge_self accept: the two 16-byte names in
        // registers 1 and 2, one lookup of the 32-byte key
        r(
            "forward",
            vec![vec![
                iifname(),
                meta(sys::META_OIFNAME, sys::REG_2),
                lookup(BRIDGE_SELF),
                Expr::Accept,
            ]],
        ),
        // ip saddr @internal4 drop: an internal network's traffic stays on its bridge
        r(
            "forward",
            vec![
                nfproto_is(v4).to_vec(),
                vec![net(12, 4), lookup(INTERNAL4), Expr::Drop],
            ],
        ),
        r(
            "forward",
            vec![
                nfproto_is(v6).to_vec(),
                vec![net(8, 16), lookup(INTERNAL6), Expr::Drop],
            ],
        ),
        r(
            "forward",
            vec![vec![
                iifname(),
                lookup(BRIDGES),
                oifname(),
                lookup(BRIDGES),
                Expr::Drop,
            ]],
        ),
        r(
            "forward",
            vec![vec![iifname(), lookup(BRIDGES), Expr::Accept]],
        ),
        // oifname @routed_bridges accept
        r(
            "forward",
            vec![vec![oifname(), lookup(ROUTED_BRIDGES), Expr::Accept]],
        ),
        // oifname @bridges drop: into a bridge from elsewhere, neither
        // published (DNAT'd) nor a reply
        r(
            "forward",
            vec![vec![oifname(), lookup(BRIDGES), Expr::Drop]],
        ),
    ]
}

// ------------------------------------------------------------ elements

/// An interface name as a 16-byte (IFNAMSIZ) key, NUL padded.
fn ifname_key(name: &str) -> Result<Vec<u8>> {
    if name.is_empty() || name.len() >= 16 || name.contains('\0') || name.contains('"') {
        return Err(Error::invalid(format!(
            "bridge name {name:?}: not a valid interface name"
        )));
    }
    let mut key = name.as_bytes().to_vec();
    key.resize(16, 0);
    Ok(key)
}

fn ifname_elem(name: &str) -> Result<Elem> {
    Ok(Elem {
        key: ifname_key(name)?,
        ..Elem::default()
    })
}

/// `"<br>" . "<br>"`: the two padded names back to back (32 bytes), no
/// flags, no userdata (what nft sends for that element).
fn bridge_self_elem(name: &str) -> Result<Elem> {
    let key = ifname_key(name)?;
    Ok(Elem {
        key: [key.as_slice(), key.as_slice()].concat(),
        ..Elem::default()
    })
}

/// The managed bridges, sorted and deduplicated.
fn bridge_names(spec: &TableSpec) -> Vec<String> {
    let mut bridges = spec.bridges.clone();
    bridges.sort();
    bridges.dedup();
    bridges
}

/// Disjoint, sorted [start, end) ranges of `bits`-bit addresses from
/// prefixes; `end` = None means up to and including the top address.
fn ranges(prefixes: &[(u128, u8)], bits: u32) -> Vec<(u128, Option<u128>)> {
    let mut r: Vec<(u128, Option<u128>)> = prefixes
        .iter()
        .map(|&(addr, len)| {
            let host_bits = bits - len as u32;
            let mask = if host_bits >= 128 {
                0
            } else {
                !((1u128 << host_bits) - 1)
            };
            let start = addr & mask;
            let size = if host_bits >= 128 {
                None
            } else {
                Some(1u128 << host_bits)
            };
            let top = if bits >= 128 {
                None
            } else {
                Some(1u128 << bits)
            };
            let end = match size {
                None => None,
                Some(s) => start.checked_add(s).filter(|e| Some(*e) != top),
            };
            (start, end)
        })
        .collect();
    // prefixes are either disjoint or nested: keep the outermost ones
    r.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| b.1.unwrap_or(u128::MAX).cmp(&a.1.unwrap_or(u128::MAX)))
    });
    let mut out: Vec<(u128, Option<u128>)> = Vec::new();
    for (s, e) in r {
        match out.last() {
            Some(&(_, None)) => {}
            Some(&(_, Some(le))) if s < le => {}
            _ => out.push((s, e)),
        }
    }
    out
}

/// nft's interval encoding: an interval-end element at 0 unless the first
/// interval starts there, then start and (unless open to the top) end of
/// each interval; the last one open to the top carries the
/// INTERVAL_OPEN userdata flag instead of an end element.
fn interval_elems(ranges: &[(u128, Option<u128>)], bytes: usize) -> Vec<Elem> {
    let enc = |v: u128| v.to_be_bytes()[16 - bytes..].to_vec();
    let mut out = Vec::new();
    if ranges.first().is_some_and(|r| r.0 != 0) {
        out.push(Elem {
            key: enc(0),
            flags: sys::ELEM_INTERVAL_END,
            ..Elem::default()
        });
    }
    for &(s, e) in ranges {
        match e {
            Some(e) => {
                out.push(Elem {
                    key: enc(s),
                    ..Elem::default()
                });
                out.push(Elem {
                    key: enc(e),
                    flags: sys::ELEM_INTERVAL_END,
                    ..Elem::default()
                });
            }
            None => out.push(Elem {
                key: enc(s),
                udata: Some(UDATA_INTERVAL_OPEN.to_vec()),
                ..Elem::default()
            }),
        }
    }
    out
}

fn v4_ranges(nets: &[Ipv4Network]) -> Vec<(u128, Option<u128>)> {
    let p: Vec<(u128, u8)> = nets
        .iter()
        .map(|n| (u32::from(n.ip()) as u128, n.prefix()))
        .collect();
    ranges(&p, 32)
}

fn v6_ranges(nets: &[Ipv6Network]) -> Vec<(u128, Option<u128>)> {
    let p: Vec<(u128, u8)> = nets
        .iter()
        .map(|n| (u128::from(n.ip()), n.prefix()))
        .collect();
    ranges(&p, 128)
}

/// The text of a [start, end) range: a prefix when it is one, else a-b.
pub(super) fn range_text(start: u128, end: Option<u128>, bits: u32) -> String {
    let show = |v: u128| -> String {
        if bits == 32 {
            Ipv4Addr::from(v as u32).to_string()
        } else {
            Ipv6Addr::from(v).to_string()
        }
    };
    let top: Option<u128> = if bits >= 128 {
        None
    } else {
        Some(1u128 << bits)
    };
    // size of the range, None = 2^128
    let size = match (end, top) {
        (Some(e), _) => Some(e.wrapping_sub(start)),
        (None, Some(t)) => Some(t - start),
        // 2^128 - start; None when that is 2^128 itself (start = 0)
        (None, None) => Some(0u128.wrapping_sub(start)).filter(|s| *s != 0),
    };
    let prefix = match size {
        None => Some(0u32),
        Some(s) if s.is_power_of_two() && start.is_multiple_of(s) => {
            Some(bits - s.trailing_zeros())
        }
        _ => None,
    };
    match prefix {
        Some(p) => format!("{}/{p}", show(start)),
        None => {
            let last = match end {
                Some(e) => e - 1,
                None => top.map_or(u128::MAX, |t| t - 1),
            };
            format!("{}-{}", show(start), show(last))
        }
    }
}

pub(super) fn objects(spec: &TableSpec) -> Result<Tables> {
    let defs = set_defs();
    let mut elems: Vec<Vec<Elem>> = vec![Vec::new(); defs.len()];
    let at = |name: &str| -> Result<usize> {
        defs.iter()
            .position(|d| d.name == name)
            .ok_or_else(|| Error::internal(format!("no set {name} in table inet {TABLE}")))
    };
    for b in &bridge_names(spec) {
        elems[at(BRIDGES)?].push(ifname_elem(b)?);
        elems[at(BRIDGE_SELF)?].push(bridge_self_elem(b)?);
    }
    let mut routed = spec.routed.clone();
    routed.sort();
    routed.dedup();
    for b in &routed {
        elems[at(ROUTED_BRIDGES)?].push(ifname_elem(b)?);
    }
    elems[at(SUBNETS4)?] = interval_elems(&v4_ranges(&spec.subnets4), 4);
    elems[at(SUBNETS6)?] = interval_elems(&v6_ranges(&spec.subnets6), 16);
    elems[at(INTERNAL4)?] = interval_elems(&v4_ranges(&spec.internal4), 4);
    elems[at(INTERNAL6)?] = interval_elems(&v6_ranges(&spec.internal6), 16);
    // In the order `text` writes them: a concatenated interval map (pipapo)
    // lists its elements in insertion order, so both must insert alike.
    let mut ports: Vec<&PortElement> = spec.ports.iter().collect();
    ports.sort();
    let mut seen = HashMap::new();
    let mut ranges: Vec<&PortElement> = Vec::new();
    for p in ports {
        elements::validate(p)?;
        let set = elements::map_name(p);
        if let Some(prev) = seen.insert((set, elements::key(p)), p) {
            if prev != p {
                return Err(Error::conflict(format!(
                    "{} is mapped twice ({} and {})",
                    elements::describe(p),
                    prev.owner,
                    p.owner
                )));
            }
            continue;
        }
        if elements::is_range(p) {
            ranges.push(p);
        }
        elems[at(set)?].push(elements::to_elem(p));
    }
    elements::check_overlaps(&ranges)?;
    let sets = defs.into_iter().zip(elems).collect();
    let bridge_sets = guard::set_defs()
        .into_iter()
        .zip(guard::all_elems(spec)?)
        .collect();
    Ok(Tables {
        inet: Objects {
            sets,
            chains: chain_defs(),
            rules: rules(),
        },
        bridge: Objects {
            sets: bridge_sets,
            chains: guard::chain_defs(),
            rules: guard::rules(),
        },
    })
}

pub(super) fn apply(spec: &TableSpec) -> Result<()> {
    let tables = objects(spec).ctx(format!("tables inet/bridge {TABLE}"))?;
    let mut b = Batch::new(sys::NFPROTO_INET, TABLE);
    // what each message is, to name the one the kernel refuses
    let mut what: Vec<(u32, String)> = Vec::new();
    for (family, fname, objs) in [
        (sys::NFPROTO_INET, "inet", &tables.inet),
        (sys::NFPROTO_BRIDGE, "bridge", &tables.bridge),
    ] {
        b.target(family, TABLE);
        // add + delete + add: works whether or not the table exists, and
        // the whole replacement (both tables) commits at once.
        what.push((b.add_table(), format!("table {fname} {TABLE}")));
        what.push((b.del_table(), format!("table {fname} {TABLE}")));
        what.push((b.add_table(), format!("table {fname} {TABLE}")));
        for (set, elems) in &objs.sets {
            what.push((b.add_set(set), format!("{fname} set {}", set.name)));
            for seq in b.elems(ElemOp::AddExcl, &set.name, set.id, elems) {
                what.push((seq, format!("elements of {fname} set {}", set.name)));
            }
        }
        for c in &objs.chains {
            what.push((b.add_chain(c), format!("{fname} chain {}", c.name)));
        }
        let mut nth: HashMap<&str, usize> = HashMap::new();
        for (chain, exprs) in &objs.rules {
            let n = nth.entry(chain).or_default();
            *n += 1;
            what.push((
                b.add_rule(chain, exprs),
                format!("rule {n} of {fname} chain {chain}"),
            ));
        }
    }
    let mut sock = Socket::session()?;
    let res = sock.run_batch(b.finish())?;
    match res.first_failure(&what, "the transaction") {
        None => Ok(()),
        Some((errno, object)) => Err(Error::kernel(
            errno,
            format!(
                "programming table inet {TABLE}: {object}: {}",
                sys::strerror(errno)
            ),
        )),
    }
}

pub(super) fn delete() -> Result<bool> {
    let existed = super::dump::inet_table_exists()?;
    // add (no-op when present) + delete for each: one transaction that
    // removes both tables whichever of them exists
    let mut b = Batch::new(sys::NFPROTO_INET, TABLE);
    for family in [sys::NFPROTO_INET, sys::NFPROTO_BRIDGE] {
        b.target(family, TABLE);
        b.add_table();
        b.del_table();
    }
    let mut sock = Socket::session()?;
    let res = sock.run_batch(b.finish())?;
    match res.errors.first() {
        None => Ok(existed),
        Some(&(_, errno)) => Err(Error::kernel(
            errno,
            format!(
                "deleting tables inet/bridge {TABLE}: {}",
                sys::strerror(errno)
            ),
        )),
    }
}

fn net_text(ranges: &[(u128, Option<u128>)], bits: u32) -> Vec<String> {
    ranges
        .iter()
        .map(|&(s, e)| range_text(s, e, bits))
        .collect()
}

pub(super) fn text(spec: &TableSpec) -> String {
    let mut out = RULESET.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    let mut add = |set: &str, items: Vec<String>| {
        if !items.is_empty() {
            out.push_str(&format!(
                "add element inet {TABLE} {set} {{ {} }}\n",
                items.join(", ")
            ));
        }
    };
    let bridges = bridge_names(spec);
    add(
        BRIDGES,
        bridges.iter().map(|b| format!("\"{b}\"")).collect(),
    );
    add(
        BRIDGE_SELF,
        bridges
            .iter()
            .map(|b| format!("\"{b}\" . \"{b}\""))
            .collect(),
    );
    let mut routed = spec.routed.clone();
    routed.sort();
    routed.dedup();
    add(
        ROUTED_BRIDGES,
        routed.iter().map(|b| format!("\"{b}\"")).collect(),
    );
    add(SUBNETS4, net_text(&v4_ranges(&spec.subnets4), 32));
    add(SUBNETS6, net_text(&v6_ranges(&spec.subnets6), 128));
    add(INTERNAL4, net_text(&v4_ranges(&spec.internal4), 32));
    add(INTERNAL6, net_text(&v6_ranges(&spec.internal6), 128));
    for map in PORT_MAPS {
        let mut ports: Vec<&PortElement> = spec
            .ports
            .iter()
            .filter(|p| elements::map_name(p) == map)
            .collect();
        ports.sort();
        ports.dedup_by(|a, b| elements::key(a) == elements::key(b));
        add(map, ports.iter().map(|p| elements::text(p, true)).collect());
    }
    out.push_str(&guard::text(spec));
    out
}
