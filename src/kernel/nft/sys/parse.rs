//! Parsing the kernel's answers: splitting datagrams into messages and
//! reading NEWCHAIN / NEWRULE / NEWSET / NEWSETELEM with libnftnl.

use ::nftnl::nftnl_sys as sys;

use super::*;
use crate::error::{Error, Result};

/// A received netlink message: header fields and the whole message bytes.
#[derive(Clone, Copy)]
pub(in crate::kernel::nft) struct NlMsg<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    /// The whole message, header included (4-byte aligned).
    pub bytes: &'a [u8],
}

impl NlMsg<'_> {
    /// The errno of an NLMSG_ERROR (0 for an ACK).
    pub(super) fn errno(&self) -> Option<i32> {
        if self.kind != NLMSG_ERROR {
            return None;
        }
        let b = self.bytes.get(16..20)?;
        Some(-i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// nfgenmsg.res_id: the low 16 bits of the ruleset generation that
    /// produced this answer.
    pub(in crate::kernel::nft) fn genid(&self) -> Option<u16> {
        let b = self.bytes.get(18..20)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(super) fn is_type(&self, kind: libc::c_int) -> bool {
        self.kind == nft_msg(kind)
    }
}

pub(super) fn split_msgs(buf: &[u8]) -> Result<Vec<NlMsg<'_>>> {
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

pub(super) fn as_bytes(words: &[u32]) -> &[u8] {
    // SAFETY: u32 words are plain bytes; same allocation, same lifetime.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), words.len() * 4) }
}

pub(super) fn as_bytes_mut(words: &mut [u32]) -> &mut [u8] {
    // SAFETY: any byte pattern is a valid u32; same allocation, same lifetime.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), words.len() * 4) }
}

/// Run a libnftnl parser on a message, with the header 4-byte aligned.
pub(super) fn with_nlh<T>(msg: &NlMsg<'_>, f: impl FnOnce(*const libc::nlmsghdr) -> T) -> T {
    if (msg.bytes.as_ptr() as usize).is_multiple_of(4) {
        f(msg.bytes.as_ptr().cast::<libc::nlmsghdr>())
    } else {
        let mut words = vec![0u32; msg.bytes.len().div_ceil(4)];
        as_bytes_mut(&mut words)[..msg.bytes.len()].copy_from_slice(msg.bytes);
        f(words.as_ptr().cast::<libc::nlmsghdr>())
    }
}

pub(super) fn parse_err(what: &str) -> Error {
    Error::kernel(libc::EPROTO, format!("cannot parse {what} from nf_tables"))
}

pub(in crate::kernel::nft) fn parse_chain(msg: &NlMsg<'_>) -> Result<ChainInfo> {
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

/// A rule message parsed into a libnftnl rule object.
fn nl_rule(msg: &NlMsg<'_>) -> Result<NlRule> {
    let r = NlRule::new();
    // SAFETY: as in parse_chain.
    let rc = with_nlh(msg, |nlh| unsafe {
        sys::nftnl_rule_nlmsg_parse(nlh, r.ptr())
    });
    if rc < 0 {
        return Err(parse_err("rule"));
    }
    Ok(r)
}

/// Calls `each` with every expression of `r`, in order.
///
/// # Safety
/// `each` gets a pointer owned by `r`, valid only during that call: it must
/// copy out what it keeps.
unsafe fn each_expr(r: &NlRule, mut each: impl FnMut(*mut sys::nftnl_expr)) {
    // SAFETY: r is live for the whole walk; the iterator borrows it and is
    // destroyed before we return; each expression stays owned by the rule.
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
            each(e);
        }
        sys::nftnl_expr_iter_destroy(it);
    }
}

pub(in crate::kernel::nft) fn parse_rule(msg: &NlMsg<'_>) -> Result<RuleInfo> {
    let r = nl_rule(msg)?;
    let mut exprs = Vec::new();
    // SAFETY: render_expr copies everything it reads out of the expression;
    // the strings read from r are copied before r is dropped.
    unsafe {
        each_expr(&r, |e| exprs.push(render_expr(e)));
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
pub(super) const NFTA_RULE_EXPRESSIONS: u16 = 4;

/// The payload of one top-level attribute of an nf_tables message (after
/// the 16-byte nlmsghdr and the 4-byte nfgenmsg), parsed in safe code.
pub(super) fn top_attr(bytes: &[u8], kind: u16) -> Option<&[u8]> {
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

pub(in crate::kernel::nft) fn parse_foreign_rule(msg: &NlMsg<'_>) -> Result<ForeignRuleInfo> {
    let r = nl_rule(msg)?;
    let mut exprs = Vec::new();
    let mut data = Vec::new();
    // SAFETY: every byte and string is copied out of the expression inside
    // the callback; the handle is read while r is live.
    unsafe {
        each_expr(&r, |e| {
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
        });
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

pub(in crate::kernel::nft) fn parse_set(msg: &NlMsg<'_>) -> Result<SetInfo> {
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
pub(in crate::kernel::nft) fn parse_elems(msg: &NlMsg<'_>) -> Result<(String, Vec<Elem>)> {
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

pub(in crate::kernel::nft) fn is_chain(msg: &NlMsg<'_>) -> bool {
    msg.is_type(libc::NFT_MSG_NEWCHAIN)
}
pub(in crate::kernel::nft) fn is_rule(msg: &NlMsg<'_>) -> bool {
    msg.is_type(libc::NFT_MSG_NEWRULE)
}
pub(in crate::kernel::nft) fn is_set(msg: &NlMsg<'_>) -> bool {
    msg.is_type(libc::NFT_MSG_NEWSET)
}
pub(in crate::kernel::nft) fn is_elems(msg: &NlMsg<'_>) -> bool {
    msg.is_type(libc::NFT_MSG_NEWSETELEM)
}
