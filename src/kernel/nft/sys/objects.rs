//! libnftnl objects (owned, freed on drop), the aligned message buffer
//! they are written into, and libnftnl's text of an expression. No raw
//! pointer leaves the `sys` module.

use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr::NonNull;

use ::nftnl::nftnl_sys as sys;

use super::*;

/// Netlink messages back to back in 4-byte aligned memory.
pub(super) struct MsgBuf {
    pub(super) words: Vec<u32>,
}

impl MsgBuf {
    pub(super) fn new() -> MsgBuf {
        MsgBuf { words: Vec::new() }
    }

    pub(super) fn byte_len(&self) -> usize {
        self.words.len() * 4
    }

    pub(super) fn bytes(&self) -> &[u8] {
        as_bytes(&self.words)
    }

    /// Append one message written by `write` (which gets MSG_MAX bytes of
    /// aligned space and returns the header it built there). The message is
    /// built in a per-thread scratch buffer and copied, so the buffer grows
    /// by what messages take, not by MSG_MAX per message (reserving MSG_MAX
    /// each time made every batch realloc, and copy, untouched pages).
    ///
    /// # Safety
    /// `write` must write one complete netlink message of at most MSG_MAX
    /// bytes starting at the pointer it is given and return its header.
    pub(super) unsafe fn push(&mut self, write: impl FnOnce(*mut c_char) -> *mut libc::nlmsghdr) {
        SCRATCH.with_borrow_mut(|scratch| {
            scratch.clear();
            scratch.reserve_exact(MSG_MAX / 4);
            // SAFETY: the scratch's capacity is at least MSG_MAX bytes;
            // `write` initialises nlmsg_len bytes (always a multiple of 4:
            // mnl aligns every attribute) from its start, and only those
            // words are made part of its length and copied.
            unsafe {
                let nlh = write(scratch.as_mut_ptr().cast::<c_char>());
                let len = (*nlh).nlmsg_len as usize;
                assert!(
                    len <= MSG_MAX && len.is_multiple_of(4),
                    "netlink message of {len} bytes"
                );
                scratch.set_len(len / 4);
            }
            self.words.extend_from_slice(scratch);
        });
    }
}

thread_local! {
    /// Where `MsgBuf::push` has libnftnl write one message (MSG_MAX bytes,
    /// allocated once per thread, never zeroed).
    static SCRATCH: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Owned libnftnl objects, freed on drop. Only used inside this file.
macro_rules! owned {
    ($name:ident, $ty:ty, $alloc:expr, $free:expr) => {
        pub(super) struct $name(NonNull<$ty>);
        impl $name {
            pub(super) fn new() -> $name {
                // SAFETY: the allocator has no preconditions; null means OOM.
                let p = unsafe { $alloc };
                match NonNull::new(p) {
                    Some(p) => $name(p),
                    None => std::process::abort(),
                }
            }
            pub(super) fn ptr(&self) -> *mut $ty {
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
pub(super) struct NlExpr(pub(super) NonNull<sys::nftnl_expr>);

impl NlExpr {
    pub(super) fn build(e: &Expr) -> NlExpr {
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
    pub(super) fn into_rule(self, rule: &NlRule) {
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
pub(super) unsafe fn render_expr(e: *const sys::nftnl_expr) -> String {
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
pub(in crate::kernel::nft) fn render_exprs(exprs: &[Expr]) -> Vec<String> {
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
pub(super) unsafe fn cstr_lossy(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: per the contract.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Names here are ours or the kernel's; neither contains NUL. Strip any anyway.
pub(super) fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

pub(super) fn new_table(family: u16, name: &str) -> NlTable {
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

pub(super) fn new_set(family: u16, table: &str, name: &str) -> NlSet {
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

pub(super) fn add_elem(set: &NlSet, e: &Elem) {
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
pub(super) fn elem_cost(e: &Elem) -> usize {
    let pad = |n: usize| (n + 3) & !3;
    48 + pad(e.key.len())
        + e.key_end.as_ref().map_or(0, |k| 8 + pad(k.len()))
        + e.data.as_ref().map_or(0, |d| pad(d.len()))
        + e.udata.as_ref().map_or(0, |u| pad(u.len()))
}
