//! Plain data: what hostnet programs (chains, sets, elements, rule
//! expressions) and what it reads back, in the terms libnftnl and the kernel
//! use. No `unsafe` here.

/// A rule expression, in the terms libnftnl and the kernel use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::kernel::nft) enum Expr {
    Meta {
        key: u32,
        dreg: u32,
    },
    Payload {
        base: u32,
        offset: u32,
        len: u32,
        dreg: u32,
    },
    Cmp {
        sreg: u32,
        op: u32,
        data: Vec<u8>,
    },
    /// `dreg = (sreg & mask) ^ xor`, len = mask.len().
    Bitwise {
        sreg: u32,
        dreg: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    Ct {
        key: u32,
        dreg: u32,
    },
    Fib {
        flags: u32,
        result: u32,
        dreg: u32,
    },
    /// `dreg = op(sreg)` over `len` bytes in units of `size` bytes.
    Byteorder {
        sreg: u32,
        dreg: u32,
        op: u32,
        len: u32,
        size: u32,
    },
    /// `set_id` names a set created in the same batch (0: none).
    Lookup {
        sreg: u32,
        set: String,
        set_id: u32,
        dreg: Option<u32>,
        invert: bool,
    },
    /// Address (and port) from registers (a map's data).
    Nat {
        nat_type: u32,
        family: u32,
        addr_reg: u32,
        /// None: the port is left as it is.
        proto_reg: Option<u32>,
    },
    Masq,
    /// A counter starting at 0 packets, 0 bytes (both attributes sent, as
    /// iptables-nft does).
    Counter,
    /// An xtables match through nft_compat (iptables-nft's `-m NAME`):
    /// `info` is the match's own struct, e.g. xt_comment_info.
    Match {
        name: String,
        rev: u32,
        info: Vec<u8>,
    },
    Accept,
    Drop,
    Jump(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::kernel::nft) struct BaseChain {
    /// "nat", "filter", "route"
    pub kind: String,
    pub hook: u32,
    pub prio: i32,
    /// NF_ACCEPT (1) or NF_DROP (0)
    pub policy: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::kernel::nft) struct ChainDef {
    pub name: String,
    pub base: Option<BaseChain>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::kernel::nft) struct SetDef {
    pub name: String,
    /// Unique within one batch; referenced by lookups and elements of the batch.
    pub id: u32,
    pub flags: u32,
    pub key_type: u32,
    pub key_len: u32,
    /// (data type, data len) for maps.
    pub data: Option<(u32, u32)>,
    /// NFTA_SET_DESC_CONCAT: the length in bytes of each field of a
    /// concatenated interval set (empty: none).
    pub concat: Vec<u8>,
    /// NFTA_SET_USERDATA: nft's byteorder/typeof TLVs, so `nft list` renders it.
    pub udata: Vec<u8>,
}

/// One set element, as sent and as read back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(in crate::kernel::nft) struct Elem {
    pub key: Vec<u8>,
    /// NFTA_SET_ELEM_KEY_END: the last key of a concatenated interval,
    /// which is one element (key .. key_end, both included).
    pub key_end: Option<Vec<u8>>,
    pub data: Option<Vec<u8>>,
    /// NFT_SET_ELEM_INTERVAL_END, ...; 0 = attribute absent.
    pub flags: u32,
    /// NFTA_SET_ELEM_USERDATA (nft's comment and flags TLVs).
    pub udata: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::kernel::nft) struct ChainInfo {
    /// NFPROTO_* of the chain's table (1 inet, 2 ip, 7 bridge, 10 ip6, ...).
    pub family: u32,
    pub table: String,
    pub name: String,
    pub base: Option<BaseChain>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::kernel::nft) struct RuleInfo {
    pub table: String,
    pub chain: String,
    /// One "[ name ... ]" string per expression.
    pub exprs: Vec<String>,
}

/// A rule of another table, with what it takes to recognise and delete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::kernel::nft) struct ForeignRuleInfo {
    pub handle: u64,
    /// One "[ name ... ]" string per expression, as in RuleInfo.
    pub exprs: Vec<String>,
    /// Per expression: the compared bytes of a cmp, the info of a match
    /// (whose rendering shows only its name), else empty.
    pub data: Vec<Vec<u8>>,
    /// NFTA_RULE_EXPRESSIONS exactly as the kernel dumped it.
    pub raw_exprs: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::kernel::nft) struct SetInfo {
    pub table: String,
    pub name: String,
}
