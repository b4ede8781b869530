//! Port-mapping elements: their byte encoding in the hostports maps, their
//! owner comment, and `update_ports` (one transaction of element inserts and
//! deletes, O(1) per element: no dump on this path).
//!
//! Encoding (nft pads every component of a concatenation to 4 bytes):
//! - hostports4 key: ipv4 (4) . l4proto (1 + 3 pad) . port (2, big endian, + 2 pad) = 12
//! - hostports6 key: ipv6 (16) . l4proto (4) . port (4) = 24
//! - `_any` keys: l4proto (4) . port (4) = 8
//! - data: ip (4 | 16) . port (4) = 8 | 20
//! - comment: element userdata TLV type 0 (NFTNL_UDATA_SET_ELEM_COMMENT),
//!   length including the NUL, the string, NUL.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::sys::{self, Batch, Elem, ElemOp, Reply, Requests, Socket};
use super::{L4Proto, PortElement, TABLE};
use crate::error::{Context, Error, Result};

pub(super) const HOSTPORTS4: &str = "hostports4";
pub(super) const HOSTPORTS6: &str = "hostports6";
pub(super) const HOSTPORTS4_ANY: &str = "hostports4_any";
pub(super) const HOSTPORTS6_ANY: &str = "hostports6_any";
pub(super) const PORT_MAPS: [&str; 4] = [HOSTPORTS4, HOSTPORTS6, HOSTPORTS4_ANY, HOSTPORTS6_ANY];

/// NFTNL_UDATA_SET_ELEM_COMMENT and NFTNL_UDATA_SET_ELEM_FLAGS.
const UDATA_ELEM_COMMENT: u8 = 0;
pub(super) const UDATA_ELEM_FLAGS: u8 = 1;
/// NFTNL_UDATA_COMMENT_MAXLEN, NUL included.
const COMMENT_MAX: usize = 128;

/// The map an element belongs to.
pub(super) fn map_name(e: &PortElement) -> &'static str {
    match (e.host_ip.is_some(), e.dest_ip.is_ipv4()) {
        (true, true) => HOSTPORTS4,
        (true, false) => HOSTPORTS6,
        (false, true) => HOSTPORTS4_ANY,
        (false, false) => HOSTPORTS6_ANY,
    }
}

/// "host port tcp/8080" or "host port tcp/10.0.0.1:8080".
pub(super) fn describe(e: &PortElement) -> String {
    match e.host_ip {
        None => format!("host port {}/{}", e.proto.name(), e.host_port),
        Some(IpAddr::V6(ip)) => format!("host port {}/[{ip}]:{}", e.proto.name(), e.host_port),
        Some(ip) => format!("host port {}/{ip}:{}", e.proto.name(), e.host_port),
    }
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn port_bytes(port: u16) -> [u8; 4] {
    let p = port.to_be_bytes();
    [p[0], p[1], 0, 0]
}

pub(super) fn key(e: &PortElement) -> Vec<u8> {
    let mut k = Vec::with_capacity(24);
    if let Some(ip) = e.host_ip {
        k.extend(ip_bytes(ip));
    }
    k.extend([e.proto.number(), 0, 0, 0]);
    k.extend(port_bytes(e.host_port));
    k
}

fn data(e: &PortElement) -> Vec<u8> {
    let mut d = ip_bytes(e.dest_ip);
    d.extend(port_bytes(e.dest_port));
    d
}

pub(super) fn comment_udata(owner: &str) -> Vec<u8> {
    let mut u = Vec::with_capacity(owner.len() + 3);
    u.push(UDATA_ELEM_COMMENT);
    u.push((owner.len() + 1) as u8);
    u.extend(owner.as_bytes());
    u.push(0);
    u
}

/// The comment TLV of an element's userdata, if any.
pub(super) fn udata_comment(udata: &[u8]) -> Option<String> {
    let mut rest = udata;
    while rest.len() >= 2 {
        let (t, len) = (rest[0], rest[1] as usize);
        let value = rest.get(2..2 + len)?;
        if t == UDATA_ELEM_COMMENT {
            let s = value.split(|b| *b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(s).into_owned());
        }
        rest = &rest[2 + len..];
    }
    None
}

/// Checks an element before it goes anywhere near the kernel.
pub(super) fn validate(e: &PortElement) -> Result<()> {
    if let Some(h) = e.host_ip
        && h.is_ipv4() != e.dest_ip.is_ipv4()
    {
        return Err(Error::invalid(format!(
            "{}: host address {h} and destination {} are of different families",
            describe(e),
            e.dest_ip
        )));
    }
    if e.owner.len() >= COMMENT_MAX || e.owner.bytes().any(|b| b == 0 || b == b'"' || b == b'\n') {
        return Err(Error::invalid(format!(
            "{}: owner {:?} must be shorter than {COMMENT_MAX} bytes, without quotes or newlines",
            describe(e),
            e.owner
        )));
    }
    Ok(())
}

pub(super) fn to_elem(e: &PortElement) -> Elem {
    Elem {
        key: key(e),
        data: Some(data(e)),
        flags: 0,
        udata: Some(comment_udata(&e.owner)),
    }
}

fn proto_from(n: u8) -> Option<L4Proto> {
    [L4Proto::Tcp, L4Proto::Udp, L4Proto::Sctp]
        .into_iter()
        .find(|p| p.number() == n)
}

fn ip_from(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        16 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(b);
            Some(IpAddr::V6(Ipv6Addr::from(o)))
        }
        _ => None,
    }
}

/// An element of one of the four maps back as a PortElement (None when it
/// does not have the shape hostnet writes).
pub(super) fn from_elem(set: &str, el: &Elem) -> Option<PortElement> {
    let ip_len = match set {
        HOSTPORTS4 => 4,
        HOSTPORTS6 => 16,
        HOSTPORTS4_ANY | HOSTPORTS6_ANY => 0,
        _ => return None,
    };
    let dest_len = if set == HOSTPORTS4 || set == HOSTPORTS4_ANY {
        4
    } else {
        16
    };
    let k = &el.key;
    let d = el.data.as_deref()?;
    if k.len() != ip_len + 8 || d.len() != dest_len + 4 {
        return None;
    }
    let host_ip = if ip_len > 0 {
        Some(ip_from(&k[..ip_len])?)
    } else {
        None
    };
    Some(PortElement {
        host_ip,
        proto: proto_from(k[ip_len])?,
        host_port: u16::from_be_bytes([k[ip_len + 4], k[ip_len + 5]]),
        dest_ip: ip_from(&d[..dest_len])?,
        dest_port: u16::from_be_bytes([d[dest_len], d[dest_len + 1]]),
        owner: el
            .udata
            .as_deref()
            .and_then(udata_comment)
            .unwrap_or_default(),
    })
}

/// The nft text of an element: `10.0.0.1 . tcp . 8080 comment "c" : 10.4.0.2 . 80`
/// (quoted = true, as `nft -f` reads it) or `... : 10.4.0.2 . 80 comment c`
/// (quoted = false, the snapshot form).
pub(super) fn text(e: &PortElement, quoted: bool) -> String {
    let mut s = String::new();
    if let Some(ip) = e.host_ip {
        s.push_str(&format!("{ip} . "));
    }
    s.push_str(&format!("{} . {}", e.proto.name(), e.host_port));
    if quoted {
        format!(
            "{s} comment \"{}\" : {} . {}",
            e.owner, e.dest_ip, e.dest_port
        )
    } else {
        format!("{s} : {} . {} comment {}", e.dest_ip, e.dest_port, e.owner)
    }
}

/// Which of `del` exist in the kernel with the same owner: one GET per
/// element (by key, O(1)), pipelined in chunks on one socket.
fn present(sock: &mut Socket, del: &[PortElement]) -> Result<Vec<bool>> {
    let mut out = Vec::with_capacity(del.len());
    for chunk in del.chunks(64) {
        let mut reqs = Requests::new(sys::NFPROTO_INET, TABLE);
        for e in chunk {
            reqs.get_elem(map_name(e), &key(e));
        }
        let replies = sock.run_gets(reqs)?;
        for (e, r) in chunk.iter().zip(replies) {
            let found = match &r {
                Reply::Err(errno) if *errno == libc::ENOENT => None,
                Reply::Err(errno) => {
                    return Err(Error::kernel(
                        *errno,
                        format!("looking up {}: {}", describe(e), sys::strerror(*errno)),
                    ));
                }
                Reply::Msg(..) => r.with_msg(sys::parse_elems)?,
            };
            let ours = found
                .and_then(|(set, elems)| elems.first().and_then(|el| from_elem(&set, el)))
                .is_some_and(|k| k.owner == e.owner);
            out.push(ours);
        }
    }
    Ok(out)
}

/// The owner of the element holding `e`'s key, if the kernel has one.
fn owner_of(e: &PortElement) -> Option<String> {
    let mut sock = Socket::open().ok()?;
    let mut reqs = Requests::new(sys::NFPROTO_INET, TABLE);
    reqs.get_elem(map_name(e), &key(e));
    let replies = sock.run_gets(reqs).ok()?;
    let (set, elems) = replies.first()?.with_msg(sys::parse_elems).ok()??;
    from_elem(&set, elems.first()?).map(|k| k.owner)
}

pub(super) fn update_ports(
    add: &[PortElement],
    del: &[PortElement],
    ignore_missing: bool,
) -> Result<()> {
    if add.is_empty() && del.is_empty() {
        return Ok(());
    }
    for e in add.iter().chain(del) {
        validate(e)?;
    }
    let mut sock = Socket::open()?;
    let keep: Vec<bool> = if ignore_missing && !del.is_empty() {
        present(&mut sock, del).ctx("checking port mappings to delete")?
    } else {
        vec![true; del.len()]
    };

    // One message per element, deletes first (so a delete and an add of the
    // same key in one call replace it): a failing message names its element.
    enum Op<'a> {
        Del(&'a PortElement),
        Add(&'a PortElement),
    }
    let mut batch = Batch::new(sys::NFPROTO_INET, TABLE);
    let mut ops = Vec::with_capacity(add.len() + del.len());
    for (e, _) in del.iter().zip(&keep).filter(|(_, k)| **k) {
        ops.push((
            batch.elem_each(ElemOp::Del, map_name(e), &to_elem(e)),
            Op::Del(e),
        ));
    }
    for e in add {
        ops.push((
            batch.elem_each(ElemOp::AddExcl, map_name(e), &to_elem(e)),
            Op::Add(e),
        ));
    }
    if batch.is_empty() {
        return Ok(());
    }
    let res = sock.run_batch(batch.finish())?;
    let Some(&(seq, errno)) = res.errors.first() else {
        return Ok(());
    };
    let op = ops.iter().find(|(s, _)| *s == seq).map(|(_, op)| op);
    Err(match (op, errno) {
        (Some(Op::Add(e)), libc::EEXIST) => {
            let who = match owner_of(e) {
                Some(o) if !o.is_empty() => format!(" (owner {o})"),
                _ => String::new(),
            };
            Error::conflict(format!("{} is already mapped{who}", describe(e)))
        }
        (Some(Op::Del(e)), libc::ENOENT) => {
            Error::not_found(format!("{} is not mapped", describe(e)))
        }
        (Some(Op::Add(e)), libc::ENOENT) => Error::not_found(format!(
            "adding {}: table inet {TABLE} or map {} does not exist (run hostnet init)",
            describe(e),
            map_name(e)
        )),
        (Some(Op::Add(e)) | Some(Op::Del(e)), _) => {
            Error::kernel(errno, format!("{}: {}", describe(e), sys::strerror(errno)))
        }
        (None, _) => Error::kernel(errno, sys::strerror(errno)),
    })
    .ctx("updating port mappings")
}
