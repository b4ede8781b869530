//! Port-mapping elements: their byte encoding in the hostports and
//! hostranges maps, their owner comment, and `update_ports` (one transaction
//! of element inserts and deletes, O(1) per single-port element: no dump on
//! that path).
//!
//! Encoding (nft pads every component of a concatenation to 4 bytes):
//! - hostports4 key: ipv4 (4) . l4proto (1 + 3 pad) . port (2, big endian, + 2 pad) = 12
//! - hostports6 key: ipv6 (16) . l4proto (4) . port (4) = 24
//! - `_any` keys: l4proto (4) . port (4) = 8
//! - data: ip (4 | 16) . port (4) = 8 | 20
//! - hostranges4/6 (concatenated interval maps, the kernel's pipapo set):
//!   one element per range, NFTA_SET_ELEM_KEY = first ip . proto . first
//!   port and NFTA_SET_ELEM_KEY_END = last ip . proto . last port (both
//!   included; 0.0.0.0 .. 255.255.255.255 for "any"), no element flags;
//!   data: ip (4 | 16).
//! - comment: element userdata TLV type 0 (NFTNL_UDATA_SET_ELEM_COMMENT),
//!   length including the NUL, the string, NUL.
//!
//! The kernel's pipapo set answers a GET of a key with the range holding it
//! and *deletes* the range holding the start key of a DELSETELEM (6.18: the
//! end key is not compared). So a range delete is always checked first by
//! one GET, and only exactly that range is deleted. An add is refused
//! (EEXIST, ENOTEMPTY) only when its first or last key falls inside an
//! existing range; a new range strictly containing an old one is accepted,
//! so adds of ranges are checked against the hostranges map of their family
//! first (one dump of that map: it holds ranges only).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::guard;
use super::sys::{self, Batch, Elem, ElemOp, Reply, Requests, Socket};
use super::{L4Proto, PortElement, PortGuard, TABLE};
use crate::error::{Context, Error, Result};

pub(super) const HOSTPORTS4: &str = "hostports4";
pub(super) const HOSTPORTS6: &str = "hostports6";
pub(super) const HOSTPORTS4_ANY: &str = "hostports4_any";
pub(super) const HOSTPORTS6_ANY: &str = "hostports6_any";
pub(super) const HOSTRANGES4: &str = "hostranges4";
pub(super) const HOSTRANGES6: &str = "hostranges6";
pub(super) const PORT_MAPS: [&str; 6] = [
    HOSTPORTS4,
    HOSTPORTS6,
    HOSTPORTS4_ANY,
    HOSTPORTS6_ANY,
    HOSTRANGES4,
    HOSTRANGES6,
];

/// NFTNL_UDATA_SET_ELEM_COMMENT and NFTNL_UDATA_SET_ELEM_FLAGS.
const UDATA_ELEM_COMMENT: u8 = 0;
pub(super) const UDATA_ELEM_FLAGS: u8 = 1;
/// NFTNL_UDATA_COMMENT_MAXLEN, NUL included.
const COMMENT_MAX: usize = 128;

/// A same-port range (one element of a hostranges map).
pub(super) fn is_range(e: &PortElement) -> bool {
    e.host_port_end > e.host_port
}

/// The map an element belongs to.
pub(super) fn map_name(e: &PortElement) -> &'static str {
    if is_range(e) {
        return if e.dest_ip.is_ipv4() {
            HOSTRANGES4
        } else {
            HOSTRANGES6
        };
    }
    match (e.host_ip.is_some(), e.dest_ip.is_ipv4()) {
        (true, true) => HOSTPORTS4,
        (true, false) => HOSTPORTS6,
        (false, true) => HOSTPORTS4_ANY,
        (false, false) => HOSTPORTS6_ANY,
    }
}

/// "8080" or "8000-8099".
fn ports_text(e: &PortElement) -> String {
    if is_range(e) {
        format!("{}-{}", e.host_port, e.host_port_end)
    } else {
        e.host_port.to_string()
    }
}

/// "host port tcp/8080", "host port tcp/10.0.0.1:8080" or
/// "host ports tcp/[fd00::1]:8000-8099".
pub(super) fn describe(e: &PortElement) -> String {
    let what = if is_range(e) {
        "host ports"
    } else {
        "host port"
    };
    let (proto, ports) = (e.proto.name(), ports_text(e));
    match e.host_ip {
        None => format!("{what} {proto}/{ports}"),
        Some(IpAddr::V6(ip)) => format!("{what} {proto}/[{ip}]:{ports}"),
        Some(ip) => format!("{what} {proto}/{ip}:{ports}"),
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

/// The host address part of a range key: the address, or all zeros (first)
/// / all ones (last) of the destination's family for "any".
fn range_host(e: &PortElement, last: bool) -> Vec<u8> {
    match e.host_ip {
        Some(ip) => ip_bytes(ip),
        None => {
            let len = if e.dest_ip.is_ipv4() { 4 } else { 16 };
            vec![if last { 0xff } else { 0 }; len]
        }
    }
}

/// The element's key (for a range: its first key).
pub(super) fn key(e: &PortElement) -> Vec<u8> {
    let mut k = Vec::with_capacity(24);
    if is_range(e) {
        k.extend(range_host(e, false));
    } else if let Some(ip) = e.host_ip {
        k.extend(ip_bytes(ip));
    }
    k.extend([e.proto.number(), 0, 0, 0]);
    k.extend(port_bytes(e.host_port));
    k
}

/// The last key of a range (None for a single port).
fn key_end(e: &PortElement) -> Option<Vec<u8>> {
    if !is_range(e) {
        return None;
    }
    let mut k = range_host(e, true);
    k.extend([e.proto.number(), 0, 0, 0]);
    k.extend(port_bytes(e.host_port_end));
    Some(k)
}

fn data(e: &PortElement) -> Vec<u8> {
    let mut d = ip_bytes(e.dest_ip);
    if !is_range(e) {
        d.extend(port_bytes(e.dest_port));
    }
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
    if e.host_port_end < e.host_port {
        return Err(Error::invalid(format!(
            "{}: last host port {} is below the first",
            describe(e),
            e.host_port_end
        )));
    }
    if is_range(e) && e.dest_port != e.host_port {
        return Err(Error::invalid(format!(
            "{}: a port range keeps its ports, so the destination port must be {}, not {}",
            describe(e),
            e.host_port,
            e.dest_port
        )));
    }
    Ok(())
}

pub(super) fn to_elem(e: &PortElement) -> Elem {
    Elem {
        key: key(e),
        key_end: key_end(e),
        data: Some(data(e)),
        flags: 0,
        udata: Some(comment_udata(&e.owner)),
    }
}

/// Same map and same key (for ranges: the same whole range).
pub(super) fn same_key(a: &PortElement, b: &PortElement) -> bool {
    map_name(a) == map_name(b)
        && a.host_ip == b.host_ip
        && a.proto == b.proto
        && a.host_port == b.host_port
        && a.host_port_end == b.host_port_end
}

/// Do two ranges of one hostranges map share a packet? Same protocol,
/// intersecting ports, and the same host address or either on any.
pub(super) fn ranges_overlap(a: &PortElement, b: &PortElement) -> bool {
    map_name(a) == map_name(b)
        && a.proto == b.proto
        && a.host_port <= b.host_port_end
        && b.host_port <= a.host_port_end
        && (a.host_ip.is_none() || b.host_ip.is_none() || a.host_ip == b.host_ip)
}

fn owned_by(e: &PortElement) -> String {
    if e.owner.is_empty() {
        String::new()
    } else {
        format!(" (owner {})", e.owner)
    }
}

/// "host ports tcp/8000-8099 overlap host ports tcp/8050-8150 (owner c1)".
pub(super) fn overlap_error(new: &PortElement, old: &PortElement) -> Error {
    Error::conflict(format!(
        "{} overlap {}{}",
        describe(new),
        describe(old),
        owned_by(old)
    ))
}

/// The first pair of overlapping ranges among `ranges` (all of one call).
pub(super) fn check_overlaps(ranges: &[&PortElement]) -> Result<()> {
    let mut sorted: Vec<&PortElement> = ranges.to_vec();
    sorted.sort_by_key(|e| (map_name(e), e.proto, e.host_port));
    for (i, a) in sorted.iter().enumerate() {
        for b in &sorted[i + 1..] {
            if map_name(a) != map_name(b) || a.proto != b.proto || b.host_port > a.host_port_end {
                break;
            }
            if ranges_overlap(a, b) {
                return Err(overlap_error(b, a));
            }
        }
    }
    Ok(())
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

/// An element of one of the six maps back as a PortElement (None when it
/// does not have the shape hostnet writes).
pub(super) fn from_elem(set: &str, el: &Elem) -> Option<PortElement> {
    if set == HOSTRANGES4 || set == HOSTRANGES6 {
        return range_from_elem(set, el);
    }
    if el.key_end.is_some() {
        return None;
    }
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
    let host_port = u16::from_be_bytes([k[ip_len + 4], k[ip_len + 5]]);
    Some(PortElement {
        host_ip,
        proto: proto_from(k[ip_len])?,
        host_port,
        host_port_end: host_port,
        dest_ip: ip_from(&d[..dest_len])?,
        dest_port: u16::from_be_bytes([d[dest_len], d[dest_len + 1]]),
        owner: el
            .udata
            .as_deref()
            .and_then(udata_comment)
            .unwrap_or_default(),
    })
}

/// A hostranges element: key .. key_end over one host address (or all of
/// them), one protocol and a port range of at least two ports.
fn range_from_elem(set: &str, el: &Elem) -> Option<PortElement> {
    let ip_len = if set == HOSTRANGES4 { 4 } else { 16 };
    let (k, ke, d) = (&el.key, el.key_end.as_deref()?, el.data.as_deref()?);
    if k.len() != ip_len + 8 || ke.len() != ip_len + 8 || d.len() != ip_len {
        return None;
    }
    let (first, last) = (&k[..ip_len], &ke[..ip_len]);
    let host_ip = if first.iter().all(|b| *b == 0) && last.iter().all(|b| *b == 0xff) {
        None
    } else if first == last {
        Some(ip_from(first)?)
    } else {
        return None;
    };
    if k[ip_len] != ke[ip_len] {
        return None;
    }
    let host_port = u16::from_be_bytes([k[ip_len + 4], k[ip_len + 5]]);
    let host_port_end = u16::from_be_bytes([ke[ip_len + 4], ke[ip_len + 5]]);
    if host_port_end <= host_port {
        return None;
    }
    Some(PortElement {
        host_ip,
        proto: proto_from(k[ip_len])?,
        host_port,
        host_port_end,
        dest_ip: ip_from(d)?,
        dest_port: host_port,
        owner: el
            .udata
            .as_deref()
            .and_then(udata_comment)
            .unwrap_or_default(),
    })
}

/// The nft text of an element: `10.0.0.1 . tcp . 8080 comment "c" : 10.4.0.2 . 80`
/// (quoted = true, as `nft -f` reads it) or `... : 10.4.0.2 . 80 comment c`
/// (quoted = false, the snapshot form); a range:
/// `0.0.0.0/0 . tcp . 8000-8099 comment "c" : 10.4.0.2`.
pub(super) fn text(e: &PortElement, quoted: bool) -> String {
    let mut s = String::new();
    match e.host_ip {
        Some(ip) => s.push_str(&format!("{ip} . ")),
        None if is_range(e) && e.dest_ip.is_ipv4() => s.push_str("0.0.0.0/0 . "),
        None if is_range(e) => s.push_str("::/0 . "),
        None => {}
    }
    s.push_str(&format!("{} . {}", e.proto.name(), ports_text(e)));
    let dest = if is_range(e) {
        e.dest_ip.to_string()
    } else {
        format!("{} . {}", e.dest_ip, e.dest_port)
    };
    if quoted {
        format!("{s} comment \"{}\" : {dest}", e.owner)
    } else {
        format!("{s} : {dest} comment {}", e.owner)
    }
}

/// What the kernel holds at the key of each of `elems`: one GET per element
/// (by key, O(1); for a range, its first key, which the kernel answers with
/// the range holding it), pipelined in chunks on one socket.
fn lookup(sock: &mut Socket, elems: &[&PortElement]) -> Result<Vec<Option<PortElement>>> {
    let mut out = Vec::with_capacity(elems.len());
    for chunk in elems.chunks(64) {
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
            out.push(
                found.and_then(|(set, elems)| elems.first().and_then(|el| from_elem(&set, el))),
            );
        }
    }
    Ok(out)
}

/// The element holding `e`'s key (for a range: its first, else its last
/// key), if the kernel has one. Best effort, for error messages.
fn holder_of(e: &PortElement) -> Option<PortElement> {
    let mut sock = Socket::session().ok()?;
    let mut keys = vec![key(e)];
    keys.extend(key_end(e));
    for k in keys {
        let mut reqs = Requests::new(sys::NFPROTO_INET, TABLE);
        reqs.get_elem(map_name(e), &k);
        let replies = sock.run_gets(reqs).ok()?;
        if let Some(Some((set, elems))) = replies
            .first()
            .and_then(|r| r.with_msg(sys::parse_elems).ok())
            && let Some(found) = elems.first().and_then(|el| from_elem(&set, el))
        {
            return Some(found);
        }
    }
    None
}

/// Ranges to add must not overlap each other, nor a range the kernel keeps
/// (one dump of the hostranges map of each family concerned; `deleted` are
/// gone by then).
fn check_range_adds(
    sock: &mut Socket,
    add: &[PortElement],
    deleted: &[&PortElement],
) -> Result<()> {
    let ranges: Vec<&PortElement> = add.iter().filter(|e| is_range(e)).collect();
    if ranges.is_empty() {
        return Ok(());
    }
    check_overlaps(&ranges)?;
    for map in [HOSTRANGES4, HOSTRANGES6] {
        if !ranges.iter().any(|e| map_name(e) == map) {
            continue;
        }
        let existing: Vec<PortElement> = super::dump::map_elems(sock, map)?
            .iter()
            .filter_map(|el| from_elem(map, el))
            .filter(|old| !deleted.iter().any(|d| same_key(d, old)))
            .collect();
        for new in ranges.iter().filter(|e| map_name(e) == map) {
            if let Some(old) = existing.iter().find(|old| ranges_overlap(new, old)) {
                return Err(if same_key(new, old) {
                    Error::conflict(format!(
                        "{} is already mapped{}",
                        describe(new),
                        owned_by(old)
                    ))
                } else {
                    overlap_error(new, old)
                });
            }
        }
    }
    Ok(())
}

pub(super) fn update_ports(
    add: &[PortElement],
    del: &[PortElement],
    ignore_missing: bool,
) -> Result<()> {
    update(add, del, &[], &[], ignore_missing)
}

/// The guard elements of `guards`, as (set, element, port); with `check`,
/// only those the kernel holds (one GET each, pipelined).
fn guard_ops(
    sock: &mut Socket,
    guards: &[PortGuard],
    check: bool,
) -> Result<Vec<(&'static str, Elem, String)>> {
    let mut all = Vec::new();
    for g in guards {
        for (set, e) in guard::elems_of(g)? {
            all.push((set, e, g.port.clone()));
        }
    }
    if !check || all.is_empty() {
        return Ok(all);
    }
    let mut keep = Vec::with_capacity(all.len());
    for chunk in all.chunks(64) {
        let mut reqs = Requests::new(sys::NFPROTO_BRIDGE, TABLE);
        for (set, e, _) in chunk {
            reqs.get_elem(set, &e.key);
        }
        let replies = sock.run_gets(reqs)?;
        for (item, r) in chunk.iter().zip(replies) {
            match r {
                Reply::Err(errno) if errno == libc::ENOENT => {}
                Reply::Err(errno) => {
                    return Err(Error::kernel(
                        errno,
                        format!(
                            "looking up the anti-spoofing elements of {}: {}",
                            item.2,
                            sys::strerror(errno)
                        ),
                    ));
                }
                Reply::Msg(..) => keep.push(item.clone()),
            }
        }
    }
    Ok(keep)
}

/// `update_ports` plus the anti-spoofing elements of attachments
/// (`table bridge hostnet`), all in ONE transaction. With `ignore_missing`,
/// guard elements the kernel does not hold are skipped (one GET each).
pub fn update(
    add: &[PortElement],
    del: &[PortElement],
    guard_add: &[PortGuard],
    guard_del: &[PortGuard],
    ignore_missing: bool,
) -> Result<()> {
    if add.is_empty() && del.is_empty() && guard_add.is_empty() && guard_del.is_empty() {
        return Ok(());
    }
    for e in add.iter().chain(del) {
        validate(e)?;
    }
    let mut sock = Socket::session()?;
    // Which deletes to send. With ignore_missing every delete is looked up
    // (and kept only when the kernel holds it, with the same owner); without,
    // only ranges are (the kernel would delete whatever range holds the
    // first key): a range that is not exactly there is NotFound.
    let checked: Vec<&PortElement> = del
        .iter()
        .filter(|e| ignore_missing || is_range(e))
        .collect();
    let found = lookup(&mut sock, &checked).ctx("checking port mappings to delete")?;
    let mut keep: Vec<&PortElement> = Vec::with_capacity(del.len());
    let mut found_at = checked.iter().zip(&found);
    for e in del {
        if !(ignore_missing || is_range(e)) {
            keep.push(e);
            continue;
        }
        let there = found_at.next().and_then(|(_, f)| f.as_ref());
        let exact = there.filter(|k| same_key(k, e));
        if ignore_missing {
            if exact.is_some_and(|k| k.owner == e.owner) {
                keep.push(e);
            }
        } else if exact.is_some() {
            keep.push(e);
        } else {
            let held = match there {
                Some(k) if k.owner.is_empty() => format!(" (it is inside {})", describe(k)),
                Some(k) => format!(" (it is inside {}, owner {})", describe(k), k.owner),
                None => String::new(),
            };
            return Err(Error::not_found(format!(
                "{} is not mapped{held}",
                describe(e)
            )))
            .ctx("updating port mappings");
        }
    }
    check_range_adds(&mut sock, add, &keep).ctx("updating port mappings")?;

    // One message per element, deletes first (so a delete and an add of the
    // same key in one call replace it): a failing message names its element.
    let guard_dels = guard_ops(&mut sock, guard_del, ignore_missing)
        .ctx("checking anti-spoofing elements to delete")?;
    let guard_adds = guard_ops(&mut sock, guard_add, false)?;
    enum Op<'a> {
        Del(&'a PortElement),
        Add(&'a PortElement),
        GuardDel(&'a str),
        GuardAdd(&'a str),
    }
    let mut batch = Batch::new(sys::NFPROTO_INET, TABLE);
    let mut ops = Vec::with_capacity(add.len() + keep.len());
    for e in keep {
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
    batch.target(sys::NFPROTO_BRIDGE, TABLE);
    for (set, e, port) in &guard_dels {
        ops.push((batch.elem_each(ElemOp::Del, set, e), Op::GuardDel(port)));
    }
    for (set, e, port) in &guard_adds {
        ops.push((batch.elem_each(ElemOp::AddExcl, set, e), Op::GuardAdd(port)));
    }
    if batch.is_empty() {
        return Ok(());
    }
    // After deletes, closing the socket would wait out an RCU grace period
    // (nf_tables flushes its pending destroy work on release), typically
    // while the caller still holds the host lock: the session keeps it open
    // until `close_session` or process exit.
    let res = sock.run_batch(batch.finish())?;
    drop(sock);
    let Some(&(seq, errno)) = res.errors.first() else {
        return Ok(());
    };
    let op = ops.iter().find(|(s, _)| *s == seq).map(|(_, op)| op);
    Err(match (op, errno) {
        // pipapo reports an overlapping range as ENOTEMPTY (turned into
        // EEXIST by nf_tables today).
        (Some(Op::Add(e)), libc::EEXIST | libc::ENOTEMPTY) => match holder_of(e) {
            Some(old) if !same_key(e, &old) => overlap_error(e, &old),
            old => Error::conflict(format!(
                "{} is already mapped{}",
                describe(e),
                old.map(|o| owned_by(&o)).unwrap_or_default()
            )),
        },
        (Some(Op::Del(e)), libc::ENOENT) => {
            Error::not_found(format!("{} is not mapped", describe(e)))
        }
        // the host is not set up (or its table was flushed): a kernel failure
        (Some(Op::Add(e)), libc::ENOENT) => Error::kernel(
            libc::ENOENT,
            format!(
                "adding {}: table inet {TABLE} or map {} does not exist (run hostnet init)",
                describe(e),
                map_name(e)
            ),
        ),
        (Some(Op::GuardAdd(p)), libc::ENOENT) => Error::kernel(
            libc::ENOENT,
            format!(
                "adding the anti-spoofing elements of {p}: table bridge {TABLE} does not exist (run hostnet init)"
            ),
        ),
        (Some(Op::GuardAdd(p)), libc::EEXIST) => Error::conflict(format!(
            "the anti-spoofing elements of {p} exist already"
        )),
        (Some(Op::GuardAdd(p)) | Some(Op::GuardDel(p)), _) => Error::kernel(
            errno,
            format!(
                "anti-spoofing elements of {p}: {}",
                sys::strerror(errno)
            ),
        ),
        (Some(Op::Add(e)) | Some(Op::Del(e)), _) => {
            Error::kernel(errno, format!("{}: {}", describe(e), sys::strerror(errno)))
        }
        (None, _) => Error::kernel(errno, sys::strerror(errno)),
    })
    .ctx("updating port mappings and anti-spoofing elements")
}
