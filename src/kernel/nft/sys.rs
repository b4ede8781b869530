//! Every `unsafe` of the nftables module, as small safe wrappers around
//! libnftnl (`nftnl::nftnl_sys`) and one netfilter netlink socket (`mnl`).
//!
//! What lives here:
//! - plain-data descriptions of what we program ([`ChainDef`], [`SetDef`],
//!   [`Elem`], [`Expr`]) and of what we read back ([`ChainInfo`], [`RuleInfo`],
//!   [`SetInfo`]);
//! - [`Batch`]: one nftables transaction (batch begin .. batch end) built with
//!   libnftnl into one contiguous, 4-byte aligned buffer;
//! - [`Requests`]: GET/dump requests;
//! - [`Socket`]: sends a batch and collects the per-message errors, runs a
//!   dump, or a few GETs, checking sequence numbers;
//! - parsers for the kernel's answers (NEWCHAIN/NEWRULE/NEWSET/NEWSETELEM)
//!   and [`render_exprs`], libnftnl's text of each expression, used for the
//!   desired rules and the kernel's rules alike so both compare exactly.
//!
//! Every libnftnl object is allocated and freed inside one function here; no
//! raw pointer leaves this file.

use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr::NonNull;

use nftnl::nftnl_sys as sys;

use crate::error::{Error, Result};

// ---------------------------------------------------------------- constants

pub(super) const NFPROTO_INET: u16 = libc::NFPROTO_INET as u16;
pub(super) const NFPROTO_BRIDGE: u16 = libc::NFPROTO_BRIDGE as u16;
pub(super) const NFPROTO_IPV4: u32 = libc::NFPROTO_IPV4 as u32;
pub(super) const NFPROTO_IPV6: u32 = libc::NFPROTO_IPV6 as u32;

/// Registers as libnftnl/nft number them: 0 verdict, 1..4 the 16-byte
/// registers, 8..23 the 4-byte ones (8 = the first word of register 1).
pub(super) const REG_VERDICT: u32 = 0;
pub(super) const REG_1: u32 = 1;
pub(super) const REG_2: u32 = 2;
pub(super) const REG32_01: u32 = 9;
pub(super) const REG32_02: u32 = 10;
pub(super) const REG32_05: u32 = 13;

pub(super) const META_IIFNAME: u32 = libc::NFT_META_IIFNAME as u32;
pub(super) const META_OIFNAME: u32 = libc::NFT_META_OIFNAME as u32;
pub(super) const META_NFPROTO: u32 = libc::NFT_META_NFPROTO as u32;
pub(super) const META_L4PROTO: u32 = libc::NFT_META_L4PROTO as u32;

pub(super) const PAYLOAD_LINK: u32 = libc::NFT_PAYLOAD_LL_HEADER as u32;
pub(super) const PAYLOAD_NETWORK: u32 = libc::NFT_PAYLOAD_NETWORK_HEADER as u32;
pub(super) const PAYLOAD_TRANSPORT: u32 = libc::NFT_PAYLOAD_TRANSPORT_HEADER as u32;

pub(super) const CMP_EQ: u32 = libc::NFT_CMP_EQ as u32;
pub(super) const CMP_NEQ: u32 = libc::NFT_CMP_NEQ as u32;

pub(super) const CT_STATE: u32 = libc::NFT_CT_STATE as u32;
pub(super) const CT_STATUS: u32 = libc::NFT_CT_STATUS as u32;

/// NFTA_FIB_F_DADDR and NFT_FIB_RESULT_ADDRTYPE (linux/netfilter/nf_tables.h).
pub(super) const FIB_F_DADDR: u32 = 1 << 1;
pub(super) const FIB_RESULT_ADDRTYPE: u32 = 3;

pub(super) const NAT_DNAT: u32 = libc::NFT_NAT_DNAT as u32;
/// NF_NAT_RANGE_MAP_IPS and NF_NAT_RANGE_PROTO_SPECIFIED: what the kernel adds
/// to (and dumps for) a nat expression with an address (and port) register.
const NAT_FLAG_MAP_IPS: u32 = 0x1;
const NAT_FLAG_PROTO_SPECIFIED: u32 = 0x2;

pub(super) const BYTEORDER_HTON: u32 = libc::NFT_BYTEORDER_HTON as u32;

pub(super) const SET_INTERVAL: u32 = libc::NFT_SET_INTERVAL as u32;
pub(super) const SET_MAP: u32 = libc::NFT_SET_MAP as u32;
/// NFT_SET_CONCAT (linux/netfilter/nf_tables.h; not in libc): a concatenated
/// interval set, the kernel's pipapo backend.
pub(super) const SET_CONCAT: u32 = 0x80;
pub(super) const ELEM_INTERVAL_END: u32 = libc::NFT_SET_ELEM_INTERVAL_END as u32;

const NLMSG_NOOP: u16 = libc::NLMSG_NOOP as u16;
const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
const NLMSG_DONE: u16 = libc::NLMSG_DONE as u16;
const NLM_F_DUMP_INTR: u16 = libc::NLM_F_DUMP_INTR as u16;
const NETLINK_CAP_ACK: libc::c_int = 10;

/// Largest message libnftnl may write (a full NFTA_SET_ELEM_LIST_ELEMENTS
/// nest is just under 64 KiB), plus slack.
const MSG_MAX: usize = 65536 + 4096;
/// Element messages are split well below the 64 KiB attribute limit.
const ELEM_MSG_BUDGET: usize = 60_000;
/// A kernel that does not answer within this time is an error, not a hang.
const RECV_TIMEOUT_SECS: libc::time_t = 60;
/// Receive buffer: larger than any datagram a dump or an ack can be.
const RECV_BUF: usize = 128 * 1024;

fn nft_msg(kind: libc::c_int) -> u16 {
    ((libc::NFNL_SUBSYS_NFTABLES << 8) | kind) as u16
}

// ---------------------------------------------------------------- plain data

/// A rule expression, in the terms libnftnl and the kernel use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Expr {
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
pub(super) struct BaseChain {
    /// "nat", "filter", "route"
    pub kind: String,
    pub hook: u32,
    pub prio: i32,
    /// NF_ACCEPT (1) or NF_DROP (0)
    pub policy: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ChainDef {
    pub name: String,
    pub base: Option<BaseChain>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SetDef {
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
pub(super) struct Elem {
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
pub(super) struct ChainInfo {
    /// NFPROTO_* of the chain's table (1 inet, 2 ip, 7 bridge, 10 ip6, ...).
    pub family: u32,
    pub table: String,
    pub name: String,
    pub base: Option<BaseChain>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RuleInfo {
    pub table: String,
    pub chain: String,
    /// One "[ name ... ]" string per expression.
    pub exprs: Vec<String>,
}

/// A rule of another table, with what it takes to recognise and delete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ForeignRuleInfo {
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
pub(super) struct SetInfo {
    pub table: String,
    pub name: String,
}

// ---------------------------------------------------------------- message buffers

/// Netlink messages back to back in 4-byte aligned memory.
struct MsgBuf {
    words: Vec<u32>,
}

impl MsgBuf {
    fn new() -> MsgBuf {
        MsgBuf { words: Vec::new() }
    }

    fn byte_len(&self) -> usize {
        self.words.len() * 4
    }

    fn bytes(&self) -> &[u8] {
        as_bytes(&self.words)
    }

    /// Append one message written by `write` (which gets MSG_MAX bytes of
    /// aligned space and returns the header it built there).
    ///
    /// # Safety
    /// `write` must write one complete netlink message of at most MSG_MAX
    /// bytes starting at the pointer it is given and return its header.
    unsafe fn push(&mut self, write: impl FnOnce(*mut c_char) -> *mut libc::nlmsghdr) {
        let start = self.words.len();
        self.words.reserve(MSG_MAX / 4);
        // SAFETY: capacity covers start + MSG_MAX/4 words; `write` initialises
        // nlmsg_len bytes (always a multiple of 4: mnl aligns every attribute)
        // from the start of the spare capacity, and we only extend the length
        // over those bytes.
        unsafe {
            let at = self.words.as_mut_ptr().add(start).cast::<c_char>();
            let nlh = write(at);
            let len = (*nlh).nlmsg_len as usize;
            assert!(
                len <= MSG_MAX && len.is_multiple_of(4),
                "netlink message of {len} bytes"
            );
            self.words.set_len(start + len / 4);
        }
    }
}

/// Owned libnftnl objects, freed on drop. Only used inside this file.
macro_rules! owned {
    ($name:ident, $ty:ty, $alloc:expr, $free:expr) => {
        struct $name(NonNull<$ty>);
        impl $name {
            fn new() -> $name {
                // SAFETY: the allocator has no preconditions; null means OOM.
                let p = unsafe { $alloc };
                match NonNull::new(p) {
                    Some(p) => $name(p),
                    None => std::process::abort(),
                }
            }
            fn ptr(&self) -> *mut $ty {
                self.0.as_ptr()
            }
        }
        impl Drop for $name {
            fn drop(&mut self) {
                // SAFETY: allocated by the matching alloc, freed once.
                unsafe { $free(self.0.as_ptr()) }
            }
        }
    };
}

owned!(
    NlTable,
    sys::nftnl_table,
    sys::nftnl_table_alloc(),
    sys::nftnl_table_free
);
owned!(
    NlChain,
    sys::nftnl_chain,
    sys::nftnl_chain_alloc(),
    sys::nftnl_chain_free
);
owned!(
    NlRule,
    sys::nftnl_rule,
    sys::nftnl_rule_alloc(),
    sys::nftnl_rule_free
);
owned!(
    NlSet,
    sys::nftnl_set,
    sys::nftnl_set_alloc(),
    sys::nftnl_set_free
);

/// One libnftnl expression not (yet) owned by a rule.
struct NlExpr(NonNull<sys::nftnl_expr>);

impl NlExpr {
    fn build(e: &Expr) -> NlExpr {
        let name: &CStr = match e {
            Expr::Meta { .. } => c"meta",
            Expr::Payload { .. } => c"payload",
            Expr::Cmp { .. } => c"cmp",
            Expr::Bitwise { .. } => c"bitwise",
            Expr::Ct { .. } => c"ct",
            Expr::Fib { .. } => c"fib",
            Expr::Byteorder { .. } => c"byteorder",
            Expr::Lookup { .. } => c"lookup",
            Expr::Nat { .. } => c"nat",
            Expr::Masq => c"masq",
            Expr::Counter => c"counter",
            Expr::Match { .. } => c"match",
            Expr::Accept | Expr::Drop | Expr::Jump(_) => c"immediate",
        };
        // SAFETY: valid NUL-terminated name; null means OOM (or an unknown name,
        // which these constants are not).
        let p = match NonNull::new(unsafe { sys::nftnl_expr_alloc(name.as_ptr()) }) {
            Some(p) => p,
            None => std::process::abort(),
        };
        let x = NlExpr(p);
        let ptr = x.0.as_ptr();
        let u32_ = |attr: u32, v: u32| {
            // SAFETY: ptr is a live expression of the matching type; attr is one
            // of its u32 attributes.
            unsafe { sys::nftnl_expr_set_u32(ptr, attr as u16, v) }
        };
        let data = |attr: u32, v: &[u8]| {
            // SAFETY: libnftnl copies `v.len()` bytes from v.
            unsafe {
                sys::nftnl_expr_set(
                    ptr,
                    attr as u16,
                    v.as_ptr().cast::<c_void>(),
                    v.len() as u32,
                )
            };
        };
        let str_ = |attr: u32, v: &str| {
            let c = cstring(v);
            // SAFETY: libnftnl copies the NUL-terminated string.
            unsafe { sys::nftnl_expr_set_str(ptr, attr as u16, c.as_ptr()) };
        };
        match e {
            Expr::Meta { key, dreg } => {
                u32_(sys::NFTNL_EXPR_META_KEY, *key);
                u32_(sys::NFTNL_EXPR_META_DREG, *dreg);
            }
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => {
                u32_(sys::NFTNL_EXPR_PAYLOAD_DREG, *dreg);
                u32_(sys::NFTNL_EXPR_PAYLOAD_BASE, *base);
                u32_(sys::NFTNL_EXPR_PAYLOAD_OFFSET, *offset);
                u32_(sys::NFTNL_EXPR_PAYLOAD_LEN, *len);
            }
            Expr::Cmp { sreg, op, data: d } => {
                u32_(sys::NFTNL_EXPR_CMP_SREG, *sreg);
                u32_(sys::NFTNL_EXPR_CMP_OP, *op);
                data(sys::NFTNL_EXPR_CMP_DATA, d);
            }
            Expr::Bitwise {
                sreg,
                dreg,
                mask,
                xor,
            } => {
                u32_(sys::NFTNL_EXPR_BITWISE_SREG, *sreg);
                u32_(sys::NFTNL_EXPR_BITWISE_DREG, *dreg);
                u32_(sys::NFTNL_EXPR_BITWISE_LEN, mask.len() as u32);
                data(sys::NFTNL_EXPR_BITWISE_MASK, mask);
                data(sys::NFTNL_EXPR_BITWISE_XOR, xor);
            }
            Expr::Ct { key, dreg } => {
                u32_(sys::NFTNL_EXPR_CT_KEY, *key);
                u32_(sys::NFTNL_EXPR_CT_DREG, *dreg);
            }
            Expr::Fib {
                flags,
                result,
                dreg,
            } => {
                u32_(sys::NFTNL_EXPR_FIB_FLAGS, *flags);
                u32_(sys::NFTNL_EXPR_FIB_RESULT, *result);
                u32_(sys::NFTNL_EXPR_FIB_DREG, *dreg);
            }
            Expr::Byteorder {
                sreg,
                dreg,
                op,
                len,
                size,
            } => {
                u32_(sys::NFTNL_EXPR_BYTEORDER_SREG, *sreg);
                u32_(sys::NFTNL_EXPR_BYTEORDER_DREG, *dreg);
                u32_(sys::NFTNL_EXPR_BYTEORDER_OP, *op);
                u32_(sys::NFTNL_EXPR_BYTEORDER_LEN, *len);
                u32_(sys::NFTNL_EXPR_BYTEORDER_SIZE, *size);
            }
            Expr::Lookup {
                sreg,
                set,
                set_id,
                dreg,
                invert,
            } => {
                u32_(sys::NFTNL_EXPR_LOOKUP_SREG, *sreg);
                str_(sys::NFTNL_EXPR_LOOKUP_SET, set);
                if *set_id != 0 {
                    u32_(sys::NFTNL_EXPR_LOOKUP_SET_ID, *set_id);
                }
                if let Some(d) = dreg {
                    u32_(sys::NFTNL_EXPR_LOOKUP_DREG, *d);
                }
                // The kernel always dumps the flags; set them so the desired
                // rule renders like the kernel's.
                let flags = if *invert {
                    libc::NFT_LOOKUP_F_INV as u32
                } else {
                    0
                };
                u32_(sys::NFTNL_EXPR_LOOKUP_FLAGS, flags);
            }
            Expr::Nat {
                nat_type,
                family,
                addr_reg,
                proto_reg,
            } => {
                // What the kernel dumps for `dnat to <map>`: max = min, and
                // the range flags it derives itself.
                u32_(sys::NFTNL_EXPR_NAT_TYPE, *nat_type);
                u32_(sys::NFTNL_EXPR_NAT_FAMILY, *family);
                u32_(sys::NFTNL_EXPR_NAT_REG_ADDR_MIN, *addr_reg);
                u32_(sys::NFTNL_EXPR_NAT_REG_ADDR_MAX, *addr_reg);
                let mut flags = NAT_FLAG_MAP_IPS;
                if let Some(proto_reg) = proto_reg {
                    u32_(sys::NFTNL_EXPR_NAT_REG_PROTO_MIN, *proto_reg);
                    u32_(sys::NFTNL_EXPR_NAT_REG_PROTO_MAX, *proto_reg);
                    flags |= NAT_FLAG_PROTO_SPECIFIED;
                }
                u32_(sys::NFTNL_EXPR_NAT_FLAGS, flags);
            }
            Expr::Masq => {}
            Expr::Counter => {
                // SAFETY: ptr is a live counter expression; both are u64 attributes.
                unsafe {
                    sys::nftnl_expr_set_u64(ptr, sys::NFTNL_EXPR_CTR_PACKETS as u16, 0);
                    sys::nftnl_expr_set_u64(ptr, sys::NFTNL_EXPR_CTR_BYTES as u16, 0);
                }
            }
            Expr::Match { name, rev, info } => {
                str_(sys::NFTNL_EXPR_MT_NAME, name);
                u32_(sys::NFTNL_EXPR_MT_REV, *rev);
                // libnftnl keeps (does not copy) a match's info and frees it
                // with the expression: hand it memory from malloc.
                // SAFETY: malloc of info.len() (>= 1) bytes, null checked,
                // filled completely before libnftnl owns it.
                unsafe {
                    let len = info.len().max(1);
                    let p = libc::malloc(len).cast::<u8>();
                    if p.is_null() {
                        std::process::abort();
                    }
                    std::ptr::write_bytes(p, 0, len);
                    std::ptr::copy_nonoverlapping(info.as_ptr(), p, info.len());
                    sys::nftnl_expr_set(
                        ptr,
                        sys::NFTNL_EXPR_MT_INFO as u16,
                        p.cast::<c_void>(),
                        info.len() as u32,
                    );
                }
            }
            Expr::Accept | Expr::Drop | Expr::Jump(_) => {
                u32_(sys::NFTNL_EXPR_IMM_DREG, REG_VERDICT);
                let code = match e {
                    Expr::Accept => libc::NF_ACCEPT,
                    Expr::Drop => libc::NF_DROP,
                    _ => libc::NFT_JUMP,
                };
                u32_(sys::NFTNL_EXPR_IMM_VERDICT, code as u32);
                if let Expr::Jump(chain) = e {
                    str_(sys::NFTNL_EXPR_IMM_CHAIN, chain);
                }
            }
        }
        x
    }

    /// Hand the expression to a rule, which frees it.
    fn into_rule(self, rule: &NlRule) {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        // SAFETY: the rule takes ownership of the expression.
        unsafe { sys::nftnl_rule_add_expr(rule.ptr(), p) };
    }
}

impl Drop for NlExpr {
    fn drop(&mut self) {
        // SAFETY: an expression not owned by a rule is ours to free.
        unsafe { sys::nftnl_expr_free(self.0.as_ptr()) }
    }
}

/// "[ name text ]" as `nft --debug=netlink` prints an expression.
///
/// # Safety
/// `e` must point to a live expression.
unsafe fn render_expr(e: *const sys::nftnl_expr) -> String {
    // SAFETY: e is live; NFTNL_EXPR_NAME is always set.
    let name = unsafe { cstr_lossy(sys::nftnl_expr_get_str(e, sys::NFTNL_EXPR_NAME as u16)) };
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: buf has buf.len() writable bytes; snprintf NUL-terminates.
        let n = unsafe {
            sys::nftnl_expr_snprintf(
                buf.as_mut_ptr().cast::<c_char>(),
                buf.len(),
                e,
                sys::NFTNL_OUTPUT_DEFAULT,
                0,
            )
        };
        if n < 0 {
            return format!("[ {name} ? ]");
        }
        if (n as usize) < buf.len() {
            let text = String::from_utf8_lossy(&buf[..n as usize]).into_owned();
            return format!("[ {name} {text}]");
        }
        buf.resize(n as usize + 1, 0);
    }
}

/// libnftnl's text of each expression, for rules we are about to program.
pub(super) fn render_exprs(exprs: &[Expr]) -> Vec<String> {
    exprs
        .iter()
        .map(|e| {
            let x = NlExpr::build(e);
            // SAFETY: x is live for the call.
            unsafe { render_expr(x.0.as_ptr()) }
        })
        .collect()
}

/// # Safety
/// `p` is null or a NUL-terminated string.
unsafe fn cstr_lossy(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: per the contract.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Names here are ours or the kernel's; neither contains NUL. Strip any anyway.
fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

fn new_table(family: u16, name: &str) -> NlTable {
    let t = NlTable::new();
    let n = cstring(name);
    // SAFETY: t is live; libnftnl copies the string.
    unsafe {
        sys::nftnl_table_set_u32(t.ptr(), sys::NFTNL_TABLE_FAMILY as u16, family as u32);
        sys::nftnl_table_set_str(t.ptr(), sys::NFTNL_TABLE_NAME as u16, n.as_ptr());
        sys::nftnl_table_set_u32(t.ptr(), sys::NFTNL_TABLE_FLAGS as u16, 0);
    }
    t
}

fn new_set(family: u16, table: &str, name: &str) -> NlSet {
    let s = NlSet::new();
    let (t, n) = (cstring(table), cstring(name));
    // SAFETY: s is live; libnftnl copies the strings.
    unsafe {
        sys::nftnl_set_set_u32(s.ptr(), sys::NFTNL_SET_FAMILY as u16, family as u32);
        sys::nftnl_set_set_str(s.ptr(), sys::NFTNL_SET_TABLE as u16, t.as_ptr());
        sys::nftnl_set_set_str(s.ptr(), sys::NFTNL_SET_NAME as u16, n.as_ptr());
    }
    s
}

fn add_elem(set: &NlSet, e: &Elem) {
    // SAFETY: null means OOM.
    let el = match NonNull::new(unsafe { sys::nftnl_set_elem_alloc() }) {
        Some(p) => p.as_ptr(),
        None => std::process::abort(),
    };
    // SAFETY: el is live; libnftnl copies each buffer; the set takes ownership.
    unsafe {
        let put = |attr: u32, v: &[u8]| {
            sys::nftnl_set_elem_set(el, attr as u16, v.as_ptr().cast::<c_void>(), v.len() as u32);
        };
        if e.flags != 0 {
            sys::nftnl_set_elem_set_u32(el, sys::NFTNL_SET_ELEM_FLAGS as u16, e.flags);
        }
        put(sys::NFTNL_SET_ELEM_KEY, &e.key);
        if let Some(k) = &e.key_end {
            put(sys::NFTNL_SET_ELEM_KEY_END, k);
        }
        if let Some(d) = &e.data {
            put(sys::NFTNL_SET_ELEM_DATA, d);
        }
        if let Some(u) = &e.udata {
            put(sys::NFTNL_SET_ELEM_USERDATA, u);
        }
        sys::nftnl_set_elem_add(set.ptr(), el);
    }
}

/// Bytes one element takes in an element-list message (upper bound).
fn elem_cost(e: &Elem) -> usize {
    let pad = |n: usize| (n + 3) & !3;
    48 + pad(e.key.len())
        + e.key_end.as_ref().map_or(0, |k| 8 + pad(k.len()))
        + e.data.as_ref().map_or(0, |d| pad(d.len()))
        + e.udata.as_ref().map_or(0, |u| pad(u.len()))
}

// ---------------------------------------------------------------- batches

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ElemOp {
    /// NEWSETELEM with NLM_F_EXCL: an existing key fails the batch (EEXIST).
    AddExcl,
    /// DELSETELEM: a missing key fails the batch (ENOENT).
    Del,
}

/// One nftables transaction. Every message gets its own sequence number;
/// only the last one asks for an ACK (errors are always reported), so a batch
/// of thousands of messages costs one ACK, not thousands.
pub(super) struct Batch {
    buf: MsgBuf,
    family: u16,
    table: String,
    begin_seq: u32,
    next_seq: u32,
    /// byte offset of the last content message (to set NLM_F_ACK on it)
    last_msg: Option<usize>,
}

pub(super) struct FinishedBatch {
    buf: MsgBuf,
    begin_seq: u32,
    /// seq of the first and last content messages
    seqs: std::ops::Range<u32>,
    last_seq: Option<u32>,
}

impl Batch {
    pub(super) fn new(family: u16, table: &str) -> Batch {
        let mut b = Batch {
            buf: MsgBuf::new(),
            family,
            table: table.to_string(),
            begin_seq: 1,
            next_seq: 2,
            last_msg: None,
        };
        // SAFETY: nftnl_batch_begin writes a 20-byte message.
        unsafe { b.buf.push(|p| sys::nftnl_batch_begin(p, 1)) };
        b
    }

    fn hdr(
        &mut self,
        kind: libc::c_int,
        flags: libc::c_int,
        payload: impl FnOnce(*mut libc::nlmsghdr),
    ) -> u32 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.last_msg = Some(self.buf.byte_len());
        let family = self.family;
        // SAFETY: build_hdr writes a header at p; `payload` appends attributes
        // of one libnftnl object (all bounded well below MSG_MAX).
        unsafe {
            self.buf.push(|p| {
                let nlh = sys::nftnl_nlmsg_build_hdr(p, kind as u16, family, flags as u16, seq);
                payload(nlh);
                nlh
            })
        };
        seq
    }

    /// Address the following messages to another family and table (one
    /// transaction may touch several tables, e.g. ip and ip6 `filter`).
    pub(super) fn target(&mut self, family: u16, table: &str) {
        self.family = family;
        self.table = table.to_string();
    }

    /// NEWRULE without NLM_F_APPEND and without a position: the rule goes to
    /// the top of the chain (nft's `insert`, iptables' `-I`).
    pub(super) fn insert_rule(&mut self, chain: &str, exprs: &[Expr]) -> u32 {
        let r = NlRule::new();
        let (t, c) = (cstring(&self.table), cstring(chain));
        // SAFETY: r is live; libnftnl copies the strings.
        unsafe {
            sys::nftnl_rule_set_u32(r.ptr(), sys::NFTNL_RULE_FAMILY as u16, self.family as u32);
            sys::nftnl_rule_set_str(r.ptr(), sys::NFTNL_RULE_TABLE as u16, t.as_ptr());
            sys::nftnl_rule_set_str(r.ptr(), sys::NFTNL_RULE_CHAIN as u16, c.as_ptr());
        }
        for e in exprs {
            NlExpr::build(e).into_rule(&r);
        }
        // SAFETY: r is live for the call.
        self.hdr(libc::NFT_MSG_NEWRULE, libc::NLM_F_CREATE, |nlh| unsafe {
            sys::nftnl_rule_nlmsg_build_payload(nlh, r.ptr())
        })
    }

    /// DELRULE by handle.
    pub(super) fn del_rule(&mut self, chain: &str, handle: u64) -> u32 {
        let r = NlRule::new();
        let (t, c) = (cstring(&self.table), cstring(chain));
        // SAFETY: r is live; libnftnl copies the strings.
        unsafe {
            sys::nftnl_rule_set_u32(r.ptr(), sys::NFTNL_RULE_FAMILY as u16, self.family as u32);
            sys::nftnl_rule_set_str(r.ptr(), sys::NFTNL_RULE_TABLE as u16, t.as_ptr());
            sys::nftnl_rule_set_str(r.ptr(), sys::NFTNL_RULE_CHAIN as u16, c.as_ptr());
            sys::nftnl_rule_set_u64(r.ptr(), sys::NFTNL_RULE_HANDLE as u16, handle);
        }
        // SAFETY: r is live for the call.
        self.hdr(libc::NFT_MSG_DELRULE, 0, |nlh| unsafe {
            sys::nftnl_rule_nlmsg_build_payload(nlh, r.ptr())
        })
    }

    /// NEWTABLE (without NLM_F_EXCL: no error when it exists).
    pub(super) fn add_table(&mut self) -> u32 {
        let t = new_table(self.family, &self.table);
        // SAFETY: t is live for the call.
        self.hdr(libc::NFT_MSG_NEWTABLE, libc::NLM_F_CREATE, |nlh| unsafe {
            sys::nftnl_table_nlmsg_build_payload(nlh, t.ptr())
        })
    }

    pub(super) fn del_table(&mut self) -> u32 {
        let t = new_table(self.family, &self.table);
        // SAFETY: t is live for the call.
        self.hdr(libc::NFT_MSG_DELTABLE, 0, |nlh| unsafe {
            sys::nftnl_table_nlmsg_build_payload(nlh, t.ptr())
        })
    }

    pub(super) fn add_chain(&mut self, c: &ChainDef) -> u32 {
        let ch = NlChain::new();
        let (t, n) = (cstring(&self.table), cstring(&c.name));
        let kind = c.base.as_ref().map(|b| cstring(&b.kind));
        // SAFETY: ch is live; libnftnl copies the strings.
        unsafe {
            let p = ch.ptr();
            sys::nftnl_chain_set_u32(p, sys::NFTNL_CHAIN_FAMILY as u16, self.family as u32);
            sys::nftnl_chain_set_str(p, sys::NFTNL_CHAIN_TABLE as u16, t.as_ptr());
            sys::nftnl_chain_set_str(p, sys::NFTNL_CHAIN_NAME as u16, n.as_ptr());
            if let (Some(b), Some(kind)) = (&c.base, &kind) {
                sys::nftnl_chain_set_u32(p, sys::NFTNL_CHAIN_HOOKNUM as u16, b.hook);
                sys::nftnl_chain_set_s32(p, sys::NFTNL_CHAIN_PRIO as u16, b.prio);
                sys::nftnl_chain_set_str(p, sys::NFTNL_CHAIN_TYPE as u16, kind.as_ptr());
                sys::nftnl_chain_set_u32(p, sys::NFTNL_CHAIN_POLICY as u16, b.policy);
            }
        }
        // SAFETY: ch is live for the call.
        self.hdr(libc::NFT_MSG_NEWCHAIN, libc::NLM_F_CREATE, |nlh| unsafe {
            sys::nftnl_chain_nlmsg_build_payload(nlh, ch.ptr())
        })
    }

    pub(super) fn add_rule(&mut self, chain: &str, exprs: &[Expr]) -> u32 {
        let r = NlRule::new();
        let (t, c) = (cstring(&self.table), cstring(chain));
        // SAFETY: r is live; libnftnl copies the strings.
        unsafe {
            sys::nftnl_rule_set_u32(r.ptr(), sys::NFTNL_RULE_FAMILY as u16, self.family as u32);
            sys::nftnl_rule_set_str(r.ptr(), sys::NFTNL_RULE_TABLE as u16, t.as_ptr());
            sys::nftnl_rule_set_str(r.ptr(), sys::NFTNL_RULE_CHAIN as u16, c.as_ptr());
        }
        for e in exprs {
            NlExpr::build(e).into_rule(&r);
        }
        // SAFETY: r is live for the call.
        self.hdr(
            libc::NFT_MSG_NEWRULE,
            libc::NLM_F_CREATE | libc::NLM_F_APPEND,
            |nlh| unsafe { sys::nftnl_rule_nlmsg_build_payload(nlh, r.ptr()) },
        )
    }

    pub(super) fn add_set(&mut self, s: &SetDef) -> u32 {
        let set = new_set(self.family, &self.table, &s.name);
        // SAFETY: set is live; libnftnl copies the userdata.
        unsafe {
            let p = set.ptr();
            sys::nftnl_set_set_u32(p, sys::NFTNL_SET_FLAGS as u16, s.flags);
            sys::nftnl_set_set_u32(p, sys::NFTNL_SET_KEY_TYPE as u16, s.key_type);
            sys::nftnl_set_set_u32(p, sys::NFTNL_SET_KEY_LEN as u16, s.key_len);
            if let Some((dt, dl)) = s.data {
                sys::nftnl_set_set_u32(p, sys::NFTNL_SET_DATA_TYPE as u16, dt);
                sys::nftnl_set_set_u32(p, sys::NFTNL_SET_DATA_LEN as u16, dl);
            }
            sys::nftnl_set_set_u32(p, sys::NFTNL_SET_ID as u16, s.id);
            if !s.concat.is_empty() {
                // libnftnl copies the u8 lengths into a zeroed 16-byte array
                // and counts them up to the first 0: at most 15 (ours are 3).
                let fields = &s.concat[..s.concat.len().min(15)];
                sys::nftnl_set_set_data(
                    p,
                    sys::NFTNL_SET_DESC_CONCAT as u16,
                    fields.as_ptr().cast::<c_void>(),
                    fields.len() as u32,
                );
            }
            if !s.udata.is_empty() {
                sys::nftnl_set_set_data(
                    p,
                    sys::NFTNL_SET_USERDATA as u16,
                    s.udata.as_ptr().cast::<c_void>(),
                    s.udata.len() as u32,
                );
            }
        }
        // SAFETY: set is live for the call.
        self.hdr(libc::NFT_MSG_NEWSET, libc::NLM_F_CREATE, |nlh| unsafe {
            sys::nftnl_set_nlmsg_build_payload(nlh, set.ptr())
        })
    }

    /// Elements of one set, in as few messages as fit; returns their seqs.
    pub(super) fn elems(&mut self, op: ElemOp, set: &str, set_id: u32, elems: &[Elem]) -> Vec<u32> {
        let mut seqs = Vec::new();
        let mut i = 0;
        while i < elems.len() {
            let mut j = i;
            let mut size = 64 + set.len() + self.table.len();
            while j < elems.len() && (j == i || size + elem_cost(&elems[j]) <= ELEM_MSG_BUDGET) {
                size += elem_cost(&elems[j]);
                j += 1;
            }
            seqs.push(self.elem_msg(op, set, set_id, &elems[i..j]));
            i = j;
        }
        seqs
    }

    /// One message per element: a failing message names its element.
    pub(super) fn elem_each(&mut self, op: ElemOp, set: &str, e: &Elem) -> u32 {
        self.elem_msg(op, set, 0, std::slice::from_ref(e))
    }

    fn elem_msg(&mut self, op: ElemOp, set: &str, set_id: u32, elems: &[Elem]) -> u32 {
        let s = new_set(self.family, &self.table, set);
        if set_id != 0 {
            // SAFETY: s is live.
            unsafe { sys::nftnl_set_set_u32(s.ptr(), sys::NFTNL_SET_ID as u16, set_id) };
        }
        for e in elems {
            add_elem(&s, e);
        }
        let (kind, flags) = match op {
            ElemOp::AddExcl => (
                libc::NFT_MSG_NEWSETELEM,
                libc::NLM_F_CREATE | libc::NLM_F_EXCL,
            ),
            ElemOp::Del => (libc::NFT_MSG_DELSETELEM, 0),
        };
        // SAFETY: s is live; its elements fit in ELEM_MSG_BUDGET (< MSG_MAX),
        // or it is a single element, which always fits.
        self.hdr(kind, flags, |nlh| unsafe {
            sys::nftnl_set_elems_nlmsg_build_payload(nlh, s.ptr())
        })
    }

    pub(super) fn is_empty(&self) -> bool {
        self.last_msg.is_none()
    }

    pub(super) fn finish(mut self) -> FinishedBatch {
        let last_seq = self.last_msg.map(|off| {
            // nlmsg_flags: the native-endian u16 at byte 6 of the header
            let bytes = as_bytes_mut(&mut self.buf.words);
            let flags =
                u16::from_ne_bytes([bytes[off + 6], bytes[off + 7]]) | libc::NLM_F_ACK as u16;
            bytes[off + 6..off + 8].copy_from_slice(&flags.to_ne_bytes());
            self.next_seq - 1
        });
        let end_seq = self.next_seq;
        // SAFETY: nftnl_batch_end writes a 20-byte message.
        unsafe { self.buf.push(|p| sys::nftnl_batch_end(p, end_seq)) };
        FinishedBatch {
            buf: self.buf,
            begin_seq: self.begin_seq,
            seqs: 2..end_seq,
            last_seq,
        }
    }
}

// ---------------------------------------------------------------- requests

/// Non-batch requests (GETs and dumps), one or more back to back.
pub(super) struct Requests {
    buf: MsgBuf,
    family: u16,
    table: String,
    next_seq: u32,
}

impl Requests {
    pub(super) fn new(family: u16, table: &str) -> Requests {
        Requests {
            buf: MsgBuf::new(),
            family,
            table: table.to_string(),
            next_seq: 1,
        }
    }

    fn hdr(
        &mut self,
        kind: libc::c_int,
        dump: bool,
        payload: impl FnOnce(*mut libc::nlmsghdr),
    ) -> u32 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let family = self.family;
        let flags = if dump { libc::NLM_F_DUMP } else { 0 };
        // SAFETY: as in Batch::hdr.
        unsafe {
            self.buf.push(|p| {
                let nlh = sys::nftnl_nlmsg_build_hdr(p, kind as u16, family, flags as u16, seq);
                payload(nlh);
                nlh
            })
        };
        seq
    }

    /// GETTABLE for our table: a NEWTABLE answer, or ENOENT.
    pub(super) fn get_table(&mut self) -> u32 {
        let t = new_table(self.family, &self.table);
        // SAFETY: t is live for the call.
        self.hdr(libc::NFT_MSG_GETTABLE, false, |nlh| unsafe {
            sys::nftnl_table_nlmsg_build_payload(nlh, t.ptr())
        })
    }

    /// Address the following requests to another family and table.
    pub(super) fn target(&mut self, family: u16, table: &str) {
        self.family = family;
        self.table = table.to_string();
    }

    /// GETCHAIN for one chain of the request's table: a NEWCHAIN answer, or
    /// ENOENT when the table or the chain does not exist. (A GETRULE dump
    /// of a missing chain is just empty.)
    pub(super) fn get_chain(&mut self, chain: &str) -> u32 {
        let ch = NlChain::new();
        let (t, n) = (cstring(&self.table), cstring(chain));
        // SAFETY: ch is live; libnftnl copies the strings.
        unsafe {
            sys::nftnl_chain_set_str(ch.ptr(), sys::NFTNL_CHAIN_TABLE as u16, t.as_ptr());
            sys::nftnl_chain_set_str(ch.ptr(), sys::NFTNL_CHAIN_NAME as u16, n.as_ptr());
        }
        // SAFETY: ch is live for the call.
        self.hdr(libc::NFT_MSG_GETCHAIN, false, |nlh| unsafe {
            sys::nftnl_chain_nlmsg_build_payload(nlh, ch.ptr())
        })
    }

    /// Dump the chains of our table.
    pub(super) fn dump_chains(&mut self) -> u32 {
        let ch = NlChain::new();
        let t = cstring(&self.table);
        // SAFETY: ch is live; libnftnl copies the string.
        unsafe { sys::nftnl_chain_set_str(ch.ptr(), sys::NFTNL_CHAIN_TABLE as u16, t.as_ptr()) };
        // SAFETY: ch is live for the call.
        self.hdr(libc::NFT_MSG_GETCHAIN, true, |nlh| unsafe {
            sys::nftnl_chain_nlmsg_build_payload(nlh, ch.ptr())
        })
    }

    /// Dump the chains of every table of the request's family (NFPROTO_UNSPEC:
    /// all families), hostnet's and everyone else's (for `check`'s warnings).
    pub(super) fn dump_all_chains(&mut self) -> u32 {
        let ch = NlChain::new();
        // SAFETY: ch is live for the call.
        self.hdr(libc::NFT_MSG_GETCHAIN, true, |nlh| unsafe {
            sys::nftnl_chain_nlmsg_build_payload(nlh, ch.ptr())
        })
    }

    /// Dump the rules of our table (all chains).
    pub(super) fn dump_rules(&mut self) -> u32 {
        let r = NlRule::new();
        let t = cstring(&self.table);
        // SAFETY: r is live; libnftnl copies the string.
        unsafe { sys::nftnl_rule_set_str(r.ptr(), sys::NFTNL_RULE_TABLE as u16, t.as_ptr()) };
        // SAFETY: r is live for the call.
        self.hdr(libc::NFT_MSG_GETRULE, true, |nlh| unsafe {
            sys::nftnl_rule_nlmsg_build_payload(nlh, r.ptr())
        })
    }

    /// Dump the rules of one chain of the request's table (ENOENT when the
    /// table or the chain does not exist).
    pub(super) fn dump_chain_rules(&mut self, chain: &str) -> u32 {
        let r = NlRule::new();
        let (t, c) = (cstring(&self.table), cstring(chain));
        // SAFETY: r is live; libnftnl copies the strings.
        unsafe {
            sys::nftnl_rule_set_str(r.ptr(), sys::NFTNL_RULE_TABLE as u16, t.as_ptr());
            sys::nftnl_rule_set_str(r.ptr(), sys::NFTNL_RULE_CHAIN as u16, c.as_ptr());
        }
        // SAFETY: r is live for the call.
        self.hdr(libc::NFT_MSG_GETRULE, true, |nlh| unsafe {
            sys::nftnl_rule_nlmsg_build_payload(nlh, r.ptr())
        })
    }

    /// Dump the sets of our table.
    pub(super) fn dump_sets(&mut self) -> u32 {
        let s = NlSet::new();
        let t = cstring(&self.table);
        // SAFETY: s is live; libnftnl copies the string.
        unsafe { sys::nftnl_set_set_str(s.ptr(), sys::NFTNL_SET_TABLE as u16, t.as_ptr()) };
        // SAFETY: s is live for the call.
        self.hdr(libc::NFT_MSG_GETSET, true, |nlh| unsafe {
            sys::nftnl_set_nlmsg_build_payload(nlh, s.ptr())
        })
    }

    /// Dump the elements of one set.
    pub(super) fn dump_elems(&mut self, set: &str) -> u32 {
        let s = new_set(self.family, &self.table, set);
        // SAFETY: s is live for the call.
        self.hdr(libc::NFT_MSG_GETSETELEM, true, |nlh| unsafe {
            sys::nftnl_set_elems_nlmsg_build_payload(nlh, s.ptr())
        })
    }

    /// GET one element by key: a NEWSETELEM answer, or ENOENT. O(1) in the
    /// size of the set (a hash lookup in the kernel).
    pub(super) fn get_elem(&mut self, set: &str, key: &[u8]) -> u32 {
        let s = new_set(self.family, &self.table, set);
        add_elem(
            &s,
            &Elem {
                key: key.to_vec(),
                ..Elem::default()
            },
        );
        // SAFETY: s is live for the call.
        self.hdr(libc::NFT_MSG_GETSETELEM, false, |nlh| unsafe {
            sys::nftnl_set_elems_nlmsg_build_payload(nlh, s.ptr())
        })
    }

    pub(super) fn len(&self) -> usize {
        (self.next_seq - 1) as usize
    }
}

// ---------------------------------------------------------------- parsing answers

/// A received netlink message: header fields and the whole message bytes.
#[derive(Clone, Copy)]
pub(super) struct NlMsg<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    /// The whole message, header included (4-byte aligned).
    pub bytes: &'a [u8],
}

impl NlMsg<'_> {
    /// The errno of an NLMSG_ERROR (0 for an ACK).
    fn errno(&self) -> Option<i32> {
        if self.kind != NLMSG_ERROR {
            return None;
        }
        let b = self.bytes.get(16..20)?;
        Some(-i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// nfgenmsg.res_id: the low 16 bits of the ruleset generation that
    /// produced this answer.
    pub(super) fn genid(&self) -> Option<u16> {
        let b = self.bytes.get(18..20)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }

    fn is_type(&self, kind: libc::c_int) -> bool {
        self.kind == nft_msg(kind)
    }
}

fn split_msgs(buf: &[u8]) -> Result<Vec<NlMsg<'_>>> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 16 <= buf.len() {
        let h = &buf[off..off + 16];
        let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if len < 16 || off + len > buf.len() {
            return Err(Error::kernel(
                libc::EPROTO,
                "malformed netlink message from nf_tables",
            ));
        }
        out.push(NlMsg {
            kind: u16::from_ne_bytes([h[4], h[5]]),
            flags: u16::from_ne_bytes([h[6], h[7]]),
            seq: u32::from_ne_bytes([h[8], h[9], h[10], h[11]]),
            bytes: &buf[off..off + len],
        });
        off += (len + 3) & !3;
    }
    Ok(out)
}

fn as_bytes(words: &[u32]) -> &[u8] {
    // SAFETY: u32 words are plain bytes; same allocation, same lifetime.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), words.len() * 4) }
}

fn as_bytes_mut(words: &mut [u32]) -> &mut [u8] {
    // SAFETY: any byte pattern is a valid u32; same allocation, same lifetime.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), words.len() * 4) }
}

/// Run a libnftnl parser on a message, with the header 4-byte aligned.
fn with_nlh<T>(msg: &NlMsg<'_>, f: impl FnOnce(*const libc::nlmsghdr) -> T) -> T {
    if (msg.bytes.as_ptr() as usize).is_multiple_of(4) {
        f(msg.bytes.as_ptr().cast::<libc::nlmsghdr>())
    } else {
        let mut words = vec![0u32; msg.bytes.len().div_ceil(4)];
        as_bytes_mut(&mut words)[..msg.bytes.len()].copy_from_slice(msg.bytes);
        f(words.as_ptr().cast::<libc::nlmsghdr>())
    }
}

fn parse_err(what: &str) -> Error {
    Error::kernel(libc::EPROTO, format!("cannot parse {what} from nf_tables"))
}

pub(super) fn parse_chain(msg: &NlMsg<'_>) -> Result<ChainInfo> {
    let c = NlChain::new();
    // SAFETY: the header is aligned and msg.bytes holds the whole message
    // (nlmsg_len checked by split_msgs).
    let rc = with_nlh(msg, |nlh| unsafe {
        sys::nftnl_chain_nlmsg_parse(nlh, c.ptr())
    });
    if rc < 0 {
        return Err(parse_err("chain"));
    }
    // SAFETY: c is live; getters return null/0 for unset attributes.
    unsafe {
        let p = c.ptr();
        let is = |a: u32| sys::nftnl_chain_is_set(p, a as u16);
        let base = if is(sys::NFTNL_CHAIN_HOOKNUM) {
            Some(BaseChain {
                kind: cstr_lossy(sys::nftnl_chain_get_str(p, sys::NFTNL_CHAIN_TYPE as u16)),
                hook: sys::nftnl_chain_get_u32(p, sys::NFTNL_CHAIN_HOOKNUM as u16),
                prio: sys::nftnl_chain_get_s32(p, sys::NFTNL_CHAIN_PRIO as u16),
                policy: if is(sys::NFTNL_CHAIN_POLICY) {
                    sys::nftnl_chain_get_u32(p, sys::NFTNL_CHAIN_POLICY as u16)
                } else {
                    libc::NF_ACCEPT as u32
                },
            })
        } else {
            None
        };
        Ok(ChainInfo {
            family: sys::nftnl_chain_get_u32(p, sys::NFTNL_CHAIN_FAMILY as u16),
            table: cstr_lossy(sys::nftnl_chain_get_str(p, sys::NFTNL_CHAIN_TABLE as u16)),
            name: cstr_lossy(sys::nftnl_chain_get_str(p, sys::NFTNL_CHAIN_NAME as u16)),
            base,
        })
    }
}

pub(super) fn parse_rule(msg: &NlMsg<'_>) -> Result<RuleInfo> {
    let r = NlRule::new();
    // SAFETY: as in parse_chain.
    let rc = with_nlh(msg, |nlh| unsafe {
        sys::nftnl_rule_nlmsg_parse(nlh, r.ptr())
    });
    if rc < 0 {
        return Err(parse_err("rule"));
    }
    let mut exprs = Vec::new();
    // SAFETY: r is live; the iterator borrows it and is destroyed before r;
    // each expression stays owned by the rule.
    unsafe {
        let it = sys::nftnl_expr_iter_create(r.ptr());
        if it.is_null() {
            std::process::abort();
        }
        loop {
            let e = sys::nftnl_expr_iter_next(it);
            if e.is_null() {
                break;
            }
            exprs.push(render_expr(e));
        }
        sys::nftnl_expr_iter_destroy(it);
        Ok(RuleInfo {
            table: cstr_lossy(sys::nftnl_rule_get_str(
                r.ptr(),
                sys::NFTNL_RULE_TABLE as u16,
            )),
            chain: cstr_lossy(sys::nftnl_rule_get_str(
                r.ptr(),
                sys::NFTNL_RULE_CHAIN as u16,
            )),
            exprs,
        })
    }
}

/// NFTA_RULE_EXPRESSIONS (linux/netfilter/nf_tables.h).
const NFTA_RULE_EXPRESSIONS: u16 = 4;

/// The payload of one top-level attribute of an nf_tables message (after
/// the 16-byte nlmsghdr and the 4-byte nfgenmsg), parsed in safe code.
fn top_attr(bytes: &[u8], kind: u16) -> Option<&[u8]> {
    let mut off = 20;
    while off + 4 <= bytes.len() {
        let len = u16::from_ne_bytes([bytes[off], bytes[off + 1]]) as usize;
        let ty = u16::from_ne_bytes([bytes[off + 2], bytes[off + 3]]) & 0x3fff;
        if len < 4 || off + len > bytes.len() {
            return None;
        }
        if ty == kind {
            return Some(&bytes[off + 4..off + len]);
        }
        off += (len + 3) & !3;
    }
    None
}

pub(super) fn parse_foreign_rule(msg: &NlMsg<'_>) -> Result<ForeignRuleInfo> {
    let r = NlRule::new();
    // SAFETY: as in parse_chain.
    let rc = with_nlh(msg, |nlh| unsafe {
        sys::nftnl_rule_nlmsg_parse(nlh, r.ptr())
    });
    if rc < 0 {
        return Err(parse_err("rule"));
    }
    let mut exprs = Vec::new();
    let mut data = Vec::new();
    // SAFETY: as in parse_rule; data is copied out before the next call.
    unsafe {
        let it = sys::nftnl_expr_iter_create(r.ptr());
        if it.is_null() {
            std::process::abort();
        }
        loop {
            let e = sys::nftnl_expr_iter_next(it);
            if e.is_null() {
                break;
            }
            let name = cstr_lossy(sys::nftnl_expr_get_str(e, sys::NFTNL_EXPR_NAME as u16));
            let attr = match name.as_str() {
                "cmp" => Some(sys::NFTNL_EXPR_CMP_DATA),
                "match" => Some(sys::NFTNL_EXPR_MT_INFO),
                _ => None,
            };
            let mut bytes = Vec::new();
            if let Some(attr) = attr
                && sys::nftnl_expr_is_set(e, attr as u16)
            {
                let mut len = 0u32;
                let p = sys::nftnl_expr_get(e, attr as u16, &mut len);
                if !p.is_null() {
                    bytes = std::slice::from_raw_parts(p.cast::<u8>(), len as usize).to_vec();
                }
            }
            exprs.push(render_expr(e));
            data.push(bytes);
        }
        sys::nftnl_expr_iter_destroy(it);
        Ok(ForeignRuleInfo {
            handle: sys::nftnl_rule_get_u64(r.ptr(), sys::NFTNL_RULE_HANDLE as u16),
            exprs,
            data,
            raw_exprs: top_attr(msg.bytes, NFTA_RULE_EXPRESSIONS)
                .unwrap_or_default()
                .to_vec(),
        })
    }
}

pub(super) fn parse_set(msg: &NlMsg<'_>) -> Result<SetInfo> {
    let s = NlSet::new();
    // SAFETY: as in parse_chain.
    let rc = with_nlh(msg, |nlh| unsafe {
        sys::nftnl_set_nlmsg_parse(nlh, s.ptr())
    });
    if rc < 0 {
        return Err(parse_err("set"));
    }
    // SAFETY: s is live.
    unsafe {
        Ok(SetInfo {
            table: cstr_lossy(sys::nftnl_set_get_str(s.ptr(), sys::NFTNL_SET_TABLE as u16)),
            name: cstr_lossy(sys::nftnl_set_get_str(s.ptr(), sys::NFTNL_SET_NAME as u16)),
        })
    }
}

/// The set name and the elements of one NEWSETELEM message.
pub(super) fn parse_elems(msg: &NlMsg<'_>) -> Result<(String, Vec<Elem>)> {
    let s = NlSet::new();
    // SAFETY: as in parse_chain.
    let rc = with_nlh(msg, |nlh| unsafe {
        sys::nftnl_set_elems_nlmsg_parse(nlh, s.ptr())
    });
    if rc < 0 {
        return Err(parse_err("set elements"));
    }
    let mut out = Vec::new();
    // SAFETY: s is live; the iterator is destroyed before s; element data is
    // copied out before the next call.
    unsafe {
        let name = cstr_lossy(sys::nftnl_set_get_str(s.ptr(), sys::NFTNL_SET_NAME as u16));
        let it = sys::nftnl_set_elems_iter_create(s.ptr());
        if it.is_null() {
            std::process::abort();
        }
        loop {
            let e = sys::nftnl_set_elems_iter_next(it);
            if e.is_null() {
                break;
            }
            let get = |attr: u32| -> Option<Vec<u8>> {
                if !sys::nftnl_set_elem_is_set(e, attr as u16) {
                    return None;
                }
                let mut len = 0u32;
                let p = sys::nftnl_set_elem_get(e, attr as u16, &mut len);
                if p.is_null() {
                    return None;
                }
                Some(std::slice::from_raw_parts(p.cast::<u8>(), len as usize).to_vec())
            };
            let flags = if sys::nftnl_set_elem_is_set(e, sys::NFTNL_SET_ELEM_FLAGS as u16) {
                sys::nftnl_set_elem_get_u32(e, sys::NFTNL_SET_ELEM_FLAGS as u16)
            } else {
                0
            };
            out.push(Elem {
                key: get(sys::NFTNL_SET_ELEM_KEY).unwrap_or_default(),
                key_end: get(sys::NFTNL_SET_ELEM_KEY_END),
                data: get(sys::NFTNL_SET_ELEM_DATA),
                flags,
                udata: get(sys::NFTNL_SET_ELEM_USERDATA),
            });
        }
        sys::nftnl_set_elems_iter_destroy(it);
        Ok((name, out))
    }
}

pub(super) fn is_chain(msg: &NlMsg<'_>) -> bool {
    msg.is_type(libc::NFT_MSG_NEWCHAIN)
}
pub(super) fn is_rule(msg: &NlMsg<'_>) -> bool {
    msg.is_type(libc::NFT_MSG_NEWRULE)
}
pub(super) fn is_set(msg: &NlMsg<'_>) -> bool {
    msg.is_type(libc::NFT_MSG_NEWSET)
}
pub(super) fn is_elems(msg: &NlMsg<'_>) -> bool {
    msg.is_type(libc::NFT_MSG_NEWSETELEM)
}

// ---------------------------------------------------------------- the socket

/// A NETLINK_NETFILTER socket in the calling thread's network namespace.
pub(super) struct Socket {
    nl: mnl::Socket,
    buf: Vec<u32>,
    rcvbuf_raised: bool,
    /// A request was sent whose answer has not been read to the end: the
    /// socket must not be reused (see `Session`).
    pending: bool,
}

/// How a batch ended: the errors of the messages that failed, by seq.
pub(super) struct BatchResult {
    pub errors: Vec<(u32, i32)>,
}

/// The answer to one GET: a message, or an errno.
pub(super) enum Reply {
    /// The message, 4-byte aligned, and its length in bytes.
    Msg(Vec<u32>, usize),
    Err(i32),
}

impl Reply {
    /// Run `f` on the message (None for an error).
    pub(super) fn with_msg<T>(&self, f: impl FnOnce(&NlMsg<'_>) -> Result<T>) -> Result<Option<T>> {
        match self {
            Reply::Err(_) => Ok(None),
            Reply::Msg(words, len) => {
                let msgs = split_msgs(&as_bytes(words)[..*len])?;
                match msgs.first() {
                    Some(m) => f(m).map(Some),
                    None => Ok(None),
                }
            }
        }
    }
}

fn io_err(what: &str, e: std::io::Error) -> Error {
    Error::kernel(
        e.raw_os_error().unwrap_or(libc::EIO),
        format!("{what}: {e}"),
    )
}

// One socket per thread that talks to nf_tables, which in hostnet is the
// main thread only (netns::run_in's threads do links, never nftables): one
// socket per process. It is an owned value in a thread-local slot, not a
// global, so it never crosses threads (an mnl socket is not Send) and always
// belongs to the namespace of the thread that opened it.
thread_local! {
    static SESSION: std::cell::RefCell<Option<Socket>> = const { std::cell::RefCell::new(None) };
}

/// The calling thread's nf_tables socket, lent out for one operation
/// (`Socket::session`). Dropping it hands the socket back for the next
/// operation when its last exchange was read to the end; a socket that may
/// still hold unread answers is closed instead, never reused.
pub(super) struct Session {
    sock: Option<Socket>,
}

impl std::ops::Deref for Session {
    type Target = Socket;
    fn deref(&self) -> &Socket {
        self.sock
            .as_ref()
            .expect("a session holds its socket until dropped")
    }
}

impl std::ops::DerefMut for Session {
    fn deref_mut(&mut self) -> &mut Socket {
        self.sock
            .as_mut()
            .expect("a session holds its socket until dropped")
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let Some(sock) = self.sock.take() else { return };
        if sock.pending {
            return; // closed here
        }
        // During thread teardown the slot may be gone: then the socket
        // simply closes.
        let _ = SESSION.try_with(|slot| {
            if let Ok(mut slot) = slot.try_borrow_mut()
                && slot.is_none()
            {
                *slot = Some(sock);
            }
        });
    }
}

/// Close the calling thread's nf_tables socket now, if it has one. Closing
/// a socket whose batch deleted elements waits one RCU grace period (7-20 ms
/// here) while nf_tables flushes its destroy work: the session keeps the
/// socket open after such a batch, so that wait falls where the caller puts
/// this call (after releasing the host lock, or overlapping a veth delete),
/// or at process exit, when the thread's slot is dropped.
pub(super) fn close_session() {
    let sock = SESSION.try_with(|slot| slot.try_borrow_mut().ok().and_then(|mut s| s.take()));
    drop(sock);
}

impl Socket {
    /// The calling thread's socket (opened on first use), for one operation.
    pub(super) fn session() -> Result<Session> {
        let kept = SESSION
            .try_with(|slot| slot.try_borrow_mut().ok().and_then(|mut s| s.take()))
            .ok()
            .flatten();
        let sock = match kept {
            Some(sock) => sock,
            None => Socket::open()?,
        };
        Ok(Session { sock: Some(sock) })
    }

    fn open() -> Result<Socket> {
        let nl = mnl::Socket::new(mnl::Bus::Netfilter)
            .map_err(|e| io_err("opening nf_tables netlink socket", e))?;
        let s = Socket {
            nl,
            buf: Vec::new(),
            rcvbuf_raised: false,
            pending: false,
        };
        // Errors carry only the failing header, not our whole message back.
        s.setsockopt(libc::SOL_NETLINK, NETLINK_CAP_ACK, &1 as &libc::c_int);
        // Never hang on a kernel that does not answer.
        let timeout = libc::timeval {
            tv_sec: RECV_TIMEOUT_SECS,
            tv_usec: 0,
        };
        s.setsockopt(libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout);
        Ok(s)
    }

    fn fd(&self) -> libc::c_int {
        // SAFETY: the mnl socket is live for self's lifetime.
        unsafe { mnl::mnl_sys::mnl_socket_get_fd(self.nl.as_raw_socket()) }
    }

    /// Best effort: a failure only means smaller buffers or no timeout.
    fn setsockopt<T>(&self, level: libc::c_int, name: libc::c_int, value: &T) {
        // SAFETY: fd is ours; value points to a live T of the given size.
        unsafe {
            libc::setsockopt(
                self.fd(),
                level,
                name,
                (value as *const T).cast::<c_void>(),
                std::mem::size_of::<T>() as libc::socklen_t,
            );
        }
    }

    fn raise_buffers(&mut self, bytes: usize) {
        // A batch is one datagram: the send buffer must hold it whole.
        if bytes > 128 * 1024 {
            let n = i32::try_from(bytes + 64 * 1024).unwrap_or(i32::MAX);
            self.setsockopt(libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &n);
        }
        if !self.rcvbuf_raised && bytes > 64 * 1024 {
            self.setsockopt(
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &(4 * 1024 * 1024 as libc::c_int),
            );
            self.rcvbuf_raised = true;
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.pending = true;
        self.raise_buffers(bytes.len());
        let n = self
            .nl
            .send(bytes)
            .map_err(|e| io_err("sending to nf_tables", e))?;
        if n != bytes.len() {
            return Err(Error::kernel(
                libc::EMSGSIZE,
                "sending to nf_tables: short write",
            ));
        }
        Ok(())
    }

    /// One datagram; returns its byte length (messages in the first n
    /// bytes of self.buf).
    fn recv(&mut self) -> Result<usize> {
        if self.buf.is_empty() {
            self.buf = vec![0u32; RECV_BUF / 4];
        }
        self.nl
            .recv_raw(as_bytes_mut(&mut self.buf))
            .map_err(|e| io_err("receiving from nf_tables", e))
    }

    /// Send a batch; wait for the answer to its last message. Errors of
    /// failed messages (and a failed commit, reported on the batch-begin seq)
    /// come back in `errors`; an empty list means the transaction committed.
    pub(super) fn run_batch(&mut self, batch: FinishedBatch) -> Result<BatchResult> {
        self.send(batch.buf.bytes())?;
        let mut errors = Vec::new();
        let Some(last) = batch.last_seq else {
            self.pending = false;
            return Ok(BatchResult { errors });
        };
        loop {
            let n = match self.recv() {
                Ok(n) => n,
                // Too many errors to queue: the batch failed.
                Err(e) if e.errno() == Some(libc::ENOBUFS) => {
                    errors.push((batch.begin_seq, libc::ENOBUFS));
                    return Ok(BatchResult { errors });
                }
                Err(e) => return Err(e),
            };
            for m in split_msgs(&as_bytes(&self.buf)[..n])? {
                let Some(errno) = m.errno() else { continue };
                if !batch.seqs.contains(&m.seq) && m.seq != batch.begin_seq {
                    continue;
                }
                if errno != 0 {
                    errors.push((m.seq, errno));
                }
                if m.seq == last || (m.seq == batch.begin_seq && errno != 0) {
                    errors.sort_unstable();
                    // a failed batch may leave answers behind: not reused
                    self.pending = !errors.is_empty();
                    return Ok(BatchResult { errors });
                }
            }
        }
    }

    /// Send GET requests (not dumps); one reply each, in order.
    pub(super) fn run_gets(&mut self, reqs: Requests) -> Result<Vec<Reply>> {
        let count = reqs.len();
        self.send(reqs.buf.bytes())?;
        let mut replies: Vec<Option<Reply>> = (0..count).map(|_| None).collect();
        let mut got = 0;
        while got < count {
            let n = self.recv()?;
            for m in split_msgs(&as_bytes(&self.buf)[..n])? {
                let i = m.seq as usize;
                if i == 0 || i > count || m.kind == NLMSG_NOOP || m.kind == NLMSG_DONE {
                    continue;
                }
                let r = match m.errno() {
                    Some(0) => continue,
                    Some(e) => Reply::Err(e),
                    None => {
                        let mut words = vec![0u32; m.bytes.len().div_ceil(4)];
                        as_bytes_mut(&mut words)[..m.bytes.len()].copy_from_slice(m.bytes);
                        Reply::Msg(words, m.bytes.len())
                    }
                };
                if replies[i - 1].is_none() {
                    got += 1;
                }
                replies[i - 1] = Some(r);
            }
        }
        self.pending = false;
        Ok(replies
            .into_iter()
            .map(|r| r.unwrap_or(Reply::Err(libc::EPROTO)))
            .collect())
    }

    /// Run one dump request; `f` sees every data message. Returns Err(errno)
    /// of a failed dump as Ok(Err(..)) so callers can treat ENOENT; a dump
    /// interrupted by a concurrent change returns Ok(Err(EINTR)).
    pub(super) fn run_dump(
        &mut self,
        reqs: Requests,
        mut f: impl FnMut(&NlMsg<'_>) -> Result<()>,
    ) -> Result<std::result::Result<(), i32>> {
        self.send(reqs.buf.bytes())?;
        let mut interrupted = false;
        loop {
            let n = self.recv()?;
            let mut done = None;
            for m in split_msgs(&as_bytes(&self.buf)[..n])? {
                if m.seq != 1 {
                    continue;
                }
                if m.flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match m.kind {
                    NLMSG_DONE => done = Some(Ok(())),
                    NLMSG_NOOP => {}
                    NLMSG_ERROR => match m.errno() {
                        Some(0) | None => {}
                        Some(e) => done = Some(Err(e)),
                    },
                    _ => f(&m)?,
                }
                if done.is_some() {
                    break;
                }
            }
            if let Some(d) = done {
                self.pending = false;
                if interrupted && d.is_ok() {
                    return Ok(Err(libc::EINTR));
                }
                return Ok(d);
            }
        }
    }
}

/// strerror text for an errno.
pub(super) fn strerror(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno).to_string()
}
