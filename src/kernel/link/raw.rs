//! A link message (RTM_NEWLINK: a GETLINK's answer, a link dump) read from
//! its bytes straight into `LinkInfo`, with netlink-packet-core's buffers
//! (`NetlinkBuffer`, `NlasIterator`) and parsers. Only the attributes
//! hostnet uses are looked at; decoding the whole message into
//! netlink-packet-route's types (every attribute: statistics, per-family
//! settings, each bridge option) took longer than the kernel took to fill
//! it (a bridge: 37 against 32 us).

use netlink_packet_core::{
    NLA_HEADER_SIZE, NetlinkBuffer, NlasIterator, parse_string, parse_u8, parse_u32,
};

use super::{Fail, LinkInfo};

pub(super) const RTM_NEWLINK: u16 = libc::RTM_NEWLINK;

// linux/if_link.h
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_INFO_SLAVE_KIND: u16 = 4;
const IFLA_INFO_SLAVE_DATA: u16 = 5;
const IFLA_BR_STP_STATE: u16 = 5;
const IFLA_BRPORT_MODE: u16 = 4;

/// sizeof(struct ifinfomsg): family u8, pad u8, type u16, index i32,
/// flags u32, change u32.
const IFINFOMSG_LEN: usize = 16;
const IFF_UP: u32 = libc::IFF_UP as u32;

fn bad(what: impl std::fmt::Display) -> Fail {
    Fail::Answer(format!("undecodable answer: {what}"))
}

/// The fixed header of one netlink message.
pub(super) struct Header {
    /// The message's length in bytes (header included), checked to fit.
    pub len: usize,
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
}

/// The header of the message at the start of `b`.
pub(super) fn header(b: &[u8]) -> Result<Header, Fail> {
    let m = NetlinkBuffer::new_checked(b).map_err(bad)?;
    Ok(Header {
        len: m.length() as usize,
        kind: m.message_type(),
        flags: m.flags(),
        seq: m.sequence_number(),
    })
}

/// Each attribute of `b` as (type, payload); one that does not fit is an
/// error.
fn each_attribute<'a>(b: &'a [u8], mut f: impl FnMut(u16, &'a [u8])) -> Result<(), Fail> {
    for nla in NlasIterator::new(b) {
        let nla = nla.map_err(bad)?;
        let (kind, len) = (nla.kind(), nla.length() as usize);
        // checked by the iterator: NLA_HEADER_SIZE <= len <= what is left
        f(kind, &nla.into_inner()[NLA_HEADER_SIZE..len]);
    }
    Ok(())
}

/// The link a RTM_NEWLINK message (`msg`: header included) describes.
pub(super) fn link(msg: &[u8]) -> Result<LinkInfo, Fail> {
    let m = NetlinkBuffer::new_checked(msg).map_err(bad)?;
    let body = m.payload();
    if body.len() < IFINFOMSG_LEN {
        return Err(bad("a link message without its ifinfomsg"));
    }
    let word = |at: usize| parse_u32(&body[at..at + 4]).unwrap_or_default();
    let mut info = LinkInfo {
        index: word(4),
        name: String::new(),
        kind: None,
        mac: None,
        mtu: 0,
        up: word(8) & IFF_UP != 0,
        master: None,
        stp: None,
        hairpin: None,
    };
    let mut linkinfo: &[u8] = &[];
    let mut failed = None;
    let mut note = |r: Result<(), netlink_packet_core::DecodeError>| {
        if let Err(e) = r {
            failed.get_or_insert(e);
        }
    };
    each_attribute(&body[IFINFOMSG_LEN..], |kind, v| match kind {
        IFLA_IFNAME => note(parse_string(v).map(|s| info.name = s)),
        IFLA_ADDRESS => info.mac = <[u8; 6]>::try_from(v).ok(),
        IFLA_MTU => note(parse_u32(v).map(|n| info.mtu = n)),
        IFLA_MASTER => note(parse_u32(v).map(|n| info.master = Some(n).filter(|&m| m != 0))),
        IFLA_LINKINFO => linkinfo = v,
        _ => {}
    })?;
    let (mut data, mut port_data): (&[u8], &[u8]) = (&[], &[]);
    let mut port_kind = String::new();
    each_attribute(linkinfo, |kind, v| match kind {
        IFLA_INFO_KIND => note(parse_string(v).map(|s| info.kind = Some(s))),
        IFLA_INFO_DATA => data = v,
        IFLA_INFO_SLAVE_KIND => note(parse_string(v).map(|s| port_kind = s)),
        IFLA_INFO_SLAVE_DATA => port_data = v,
        _ => {}
    })?;
    if info.kind.as_deref() == Some("bridge") {
        each_attribute(data, |kind, v| {
            if kind == IFLA_BR_STP_STATE {
                note(parse_u32(v).map(|s| info.stp = Some(s != 0)));
            }
        })?;
    }
    // what `ip -d link` prints as bridge_slave
    if port_kind == "bridge" {
        each_attribute(port_data, |kind, v| {
            if kind == IFLA_BRPORT_MODE {
                note(parse_u8(v).map(|m| info.hairpin = Some(m != 0)));
            }
        })?;
    }
    match failed {
        Some(e) => Err(bad(e)),
        None => Ok(info),
    }
}
