//! A link message (RTM_NEWLINK: a GETLINK's answer, a link dump) read from
//! its bytes straight into `LinkInfo`. Only the attributes hostnet uses are
//! looked at; decoding the whole message (netlink-packet-route builds every
//! attribute: statistics, per-family settings, each bridge option) took
//! longer than the kernel took to fill it (a bridge: 37 against 32 us).

use super::{Fail, LinkInfo};

/// RTM_NEWLINK (linux/rtnetlink.h).
pub(super) const RTM_NEWLINK: u16 = 16;

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
/// An attribute's type without NLA_F_NESTED and NLA_F_NET_BYTEORDER.
const NLA_TYPE_MASK: u16 = 0x3fff;

const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const IFF_UP: u32 = libc::IFF_UP as u32;

/// The fixed header of one netlink message.
pub(super) struct Header {
    /// The message's length in bytes (header included), checked to fit.
    pub len: usize,
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn bad(what: &str) -> Fail {
    Fail::Answer(format!("undecodable answer: {what}"))
}

/// The header of the message at the start of `b`.
pub(super) fn header(b: &[u8]) -> Result<Header, Fail> {
    let len = u32_at(b, 0).ok_or_else(|| bad("a truncated message header"))? as usize;
    if len < NLMSG_HDRLEN || len > b.len() {
        return Err(bad(&format!(
            "a message of {len} bytes in {} bytes",
            b.len()
        )));
    }
    Ok(Header {
        len,
        kind: u16_at(b, 4).unwrap_or_default(),
        flags: u16_at(b, 6).unwrap_or_default(),
        seq: u32_at(b, 8).unwrap_or_default(),
    })
}

/// Each attribute of `b` as (type, payload); an attribute that does not
/// fit is an error.
fn each_attribute<'a>(mut b: &'a [u8], mut f: impl FnMut(u16, &'a [u8])) -> Result<(), Fail> {
    while b.len() >= 4 {
        let len = u16_at(b, 0).unwrap_or_default() as usize;
        let kind = u16_at(b, 2).unwrap_or_default() & NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            return Err(bad("an attribute that does not fit its message"));
        }
        f(kind, &b[4..len]);
        b = &b[len.next_multiple_of(4).min(b.len())..];
    }
    Ok(())
}

/// A NUL-terminated string attribute.
fn string(v: &[u8]) -> String {
    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// The link a RTM_NEWLINK message (`msg`: header included) describes.
pub(super) fn link(msg: &[u8]) -> Result<LinkInfo, Fail> {
    let body = msg
        .get(NLMSG_HDRLEN..)
        .filter(|b| b.len() >= IFINFOMSG_LEN)
        .ok_or_else(|| bad("a link message without its ifinfomsg"))?;
    // struct ifinfomsg: family u8, pad u8, type u16, index i32, flags u32, change u32
    let mut info = LinkInfo {
        index: u32_at(body, 4).unwrap_or_default(),
        name: String::new(),
        kind: None,
        mac: None,
        mtu: 0,
        up: u32_at(body, 8).unwrap_or_default() & IFF_UP != 0,
        master: None,
        stp: None,
        hairpin: None,
    };
    let mut linkinfo: &[u8] = &[];
    each_attribute(&body[IFINFOMSG_LEN..], |kind, v| match kind {
        IFLA_IFNAME => info.name = string(v),
        IFLA_ADDRESS => info.mac = <[u8; 6]>::try_from(v).ok(),
        IFLA_MTU => info.mtu = u32_at(v, 0).unwrap_or_default(),
        IFLA_MASTER => info.master = u32_at(v, 0).filter(|&m| m != 0),
        IFLA_LINKINFO => linkinfo = v,
        _ => {}
    })?;
    let (mut data, mut port_data): (&[u8], &[u8]) = (&[], &[]);
    let mut port_kind = String::new();
    each_attribute(linkinfo, |kind, v| match kind {
        IFLA_INFO_KIND => info.kind = Some(string(v)),
        IFLA_INFO_DATA => data = v,
        IFLA_INFO_SLAVE_KIND => port_kind = string(v),
        IFLA_INFO_SLAVE_DATA => port_data = v,
        _ => {}
    })?;
    if info.kind.as_deref() == Some("bridge") {
        each_attribute(data, |kind, v| {
            if kind == IFLA_BR_STP_STATE {
                info.stp = u32_at(v, 0).map(|s| s != 0);
            }
        })?;
    }
    // what `ip -d link` prints as bridge_slave
    if port_kind == "bridge" {
        each_attribute(port_data, |kind, v| {
            if kind == IFLA_BRPORT_MODE {
                info.hairpin = v.first().map(|&m| m != 0);
            }
        })?;
    }
    Ok(info)
}
