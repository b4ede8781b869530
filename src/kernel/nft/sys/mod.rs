//! Every `unsafe` of the nftables module, as small safe wrappers around
//! libnftnl (`nftnl::nftnl_sys`) and one netfilter netlink socket (`mnl`),
//! split by concern:
//! - `types`: plain data, what we program ([`ChainDef`], [`SetDef`],
//!   [`Elem`], [`Expr`]) and what we read back ([`ChainInfo`], [`RuleInfo`],
//!   [`SetInfo`]); no `unsafe`;
//! - `objects`: owned libnftnl objects, the aligned message buffer, and
//!   [`render_exprs`], libnftnl's text of each expression, used for the
//!   desired rules and the kernel's rules alike so both compare exactly;
//! - `build`: message building, [`Batch`] (one transaction, batch begin ..
//!   batch end, in one contiguous 4-byte aligned buffer) and [`Requests`]
//!   (GETs and dumps), both on one writer: a message is one libnftnl object
//!   and its payload builder;
//! - `socket`: the transport, [`Socket`] (the thread's session socket):
//!   sends a batch and collects the per-message errors, runs a dump, or a
//!   few GETs, checking sequence numbers;
//! - `parse`: the kernel's answers (NEWCHAIN/NEWRULE/NEWSET/NEWSETELEM).
//!
//! Every libnftnl object is allocated and freed inside one function of this
//! module; no raw pointer leaves it. The constants below are shared by the
//! rule and element code of the parent module.

use std::ffi::c_void;

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

mod build;
mod objects;
mod parse;
mod socket;
mod types;

pub(super) use build::{Batch, ElemOp, Requests};
pub(super) use objects::render_exprs;
pub(super) use parse::{
    NlMsg, is_chain, is_elems, is_rule, is_set, parse_chain, parse_elems, parse_foreign_rule,
    parse_rule, parse_set,
};
pub(super) use socket::{Reply, Socket, close_session, strerror};
pub(super) use types::*;

// for the submodules (`use super::*`)
use build::*;
use objects::*;
use parse::*;
