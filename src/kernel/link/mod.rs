//! Links, addresses and routes over rtnetlink, as a small blocking API.
//! A `Netlink` talks to the network namespace of the thread that opened it.
//!
//! One session per network namespace and process: one blocking
//! NETLINK_ROUTE socket, opened by the first `Netlink::open` in that
//! namespace and shared by every later one (a `Netlink` is a cheap handle on
//! it). Each method sends its request and reads the answer on the calling
//! thread (sendto, then recvfrom until the answer's last message), so
//! callers read like plain system calls: `create_veth`, `set_master`,
//! `set_up`, `add_address`. A process-wide lazily-opened session rather than
//! a value passed down: callers keep their signatures, and a socket is bound
//! to the namespace it was opened in, so the session is keyed by the
//! caller's namespace (`netns::run_in` ends the container's session when its
//! thread ends). `Netlink::open_in` is the one exception: a private session
//! in another namespace, made from the calling thread (ADD's container
//! side), closed with its last handle.
//! Kernel refusals come back as `Error::kernel(errno, "<action> <object>: <strerror>")`
//! with the positive errno (EEXIST, ENODEV, ...) so callers can match on it.
//!
//! The socket has `NETLINK_GET_STRICT_CHK` on, which makes the kernel filter
//! dumps by the request header: `addresses(index)` only receives that link's
//! addresses and `routes()` only the main table.
//!
//! Links looked up are cached in the session: a link is read from the
//! kernel once, then served from the cache, which follows the changes made
//! through it (up/down, MAC, master, hairpin) and is emptied by any change
//! it cannot follow (create, delete, MTU). So within one operation each link
//! is looked up at most once: a link this process creates is read right
//! after its NEWLINK (for its index) and then served from the cache.
//!
//! Cost per call: a `link`/`link_by_index` is at most one GETLINK (no dump);
//! every setter is one request (`set_up` of a bridge, or of a link not in
//! the cache, reads it back: two). Only `links()`, `addresses()` and
//! `routes()` dump, and only what their names say.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::{Arc, Mutex, MutexGuard};

use ipnetwork::IpNetwork;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_EXCL,
    NLM_F_MULTIPART, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoBridgePort, InfoData, InfoKind, InfoPortData,
    InfoPortKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::error::{Error, Result};

mod raw;

/// Header flags of the requests, as rtnetlink's request builders set them.
/// A new link, address or route: fails with EEXIST when it exists.
const CREATE: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
/// A change to (or removal of) an existing object (`ip link set`, `del`).
const CHANGE: u16 = NLM_F_REQUEST | NLM_F_ACK;
/// A route next to the existing ones to the same destination.
const APPEND: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND;
/// One object, answered without an ACK.
const GET: u16 = NLM_F_REQUEST;
/// Every object matching the request header.
const DUMP: u16 = NLM_F_REQUEST | NLM_F_DUMP;

/// Receive buffer: the kernel fills dump datagrams up to 32 KiB at most
/// (netlink_recvmsg caps max_recvmsg_len there); twice that leaves room for
/// a single large answer. A longer datagram is an error, never cut short.
const RECV_BUFFER: usize = 64 * 1024;

/// A dump the kernel marks inconsistent (NLM_F_DUMP_INTR: the objects
/// changed while it was being sent) is asked again, this many times at most.
const DUMP_TRIES: usize = 3;
/// How long a request waits for the kernel's answer before it fails.
const RECV_TIMEOUT_SECS: libc::time_t = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    /// "bridge", "veth", ... ; None for links without IFLA_INFO_KIND (lo, physical).
    pub kind: Option<String>,
    pub mac: Option<[u8; 6]>,
    pub mtu: u32,
    /// IFF_UP is set.
    pub up: bool,
    /// Index of the master (bridge) when enslaved.
    pub master: Option<u32>,
    /// For bridges: STP enabled (IFLA_BR_STP_STATE != 0).
    pub stp: Option<bool>,
    /// For bridge ports: hairpin mode (IFLA_BRPORT_MODE), when reported.
    pub hairpin: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub destination: IpNetwork,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    /// Preferred source (RTA_PREFSRC), if any.
    pub prefsrc: Option<IpAddr>,
    /// "kernel", "boot", "static", ... (rtm_protocol), for display.
    pub protocol: u8,
}

/// A handle on an rtnetlink session of one network namespace: `open` is
/// cheap (a clone of the namespace's shared session), `open_in` makes a
/// private one; `Send` and `Sync`.
#[derive(Clone)]
pub struct Netlink {
    conn: Arc<Conn>,
}

/// One NETLINK_ROUTE socket bound to the network namespace it was opened
/// in, plus the links looked up through it.
struct Conn {
    /// The socket and its request state: one request at a time, from its
    /// sendto to the last message of its answer.
    io: Mutex<Io>,
    /// Links by name as the last GETLINK answered, updated by the changes
    /// made through this session that it can follow and emptied by those
    /// it cannot (see the module doc).
    links: Mutex<HashMap<String, LinkInfo>>,
}

struct Io {
    socket: Socket,
    /// Sequence number of the last request sent.
    seq: u32,
    /// Receive buffer, kept between requests.
    buf: Vec<u8>,
}

/// Why a request failed, before it is told what the request was.
enum Fail {
    /// The kernel's (or the socket's) positive errno.
    Errno(i32),
    /// An answer this module cannot read, or did not expect.
    Answer(String),
    /// A datagram longer than the receive buffer (its length): ENOSPC, as
    /// the nftables socket reports it.
    Oversized(usize),
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Fail {
        match e.raw_os_error() {
            Some(errno) => Fail::Errno(errno),
            None => Fail::Answer(e.to_string()),
        }
    }
}

/// One message of an answer: a link, read from its bytes (`raw`), or any
/// other message as netlink-packet-route decodes it.
enum Msg {
    Link(LinkInfo),
    Other(RouteNetlinkMessage),
}

impl Msg {
    fn message_type(&self) -> u16 {
        match self {
            Msg::Link(_) => raw::RTM_NEWLINK,
            Msg::Other(m) => m.message_type(),
        }
    }
}

/// The messages of one answer, and whether the kernel marked it inconsistent.
#[derive(Default)]
struct Answer {
    msgs: Vec<Msg>,
    interrupted: bool,
}

/// The sessions of this process, one per network namespace (keyed by the
/// namespace's device and inode), opened on first use. A process works in
/// one or two namespaces (the host's; a container's on `netns::run_in`'s
/// thread, which ends its session with `end_session` before it exits), so
/// this holds one entry nearly always and two at most for long. Never
/// dropped as a whole: the sockets close at process exit.
static SESSIONS: Mutex<Vec<(NetnsId, Arc<Conn>)>> = Mutex::new(Vec::new());

use super::netns::{NetnsId, current as current_netns};

fn sessions() -> MutexGuard<'static, Vec<(NetnsId, Arc<Conn>)>> {
    SESSIONS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Close the session of the calling thread's namespace, if any (the next
/// `Netlink::open` there opens a new one). `netns::run_in` calls it before
/// its thread ends, so a container's socket does not outlive the work in it.
pub fn end_session() {
    let Ok(ns) = current_netns() else { return };
    let ended = {
        let mut all = sessions();
        all.iter()
            .position(|(k, _)| *k == ns)
            .map(|i| all.swap_remove(i))
    };
    // the socket closes outside the lock (when no handle holds it any more)
    drop(ended);
}

/// Turn a failed request into our error: the positive errno and
/// "<what>: <strerror>", e.g. "creating bridge nerdctl0: File exists".
fn kernel_error(fail: Fail, what: impl fmt::Display) -> Error {
    match fail {
        Fail::Errno(errno) => Error::kernel(errno, format!("{what}: {}", strerror(errno))),
        Fail::Answer(text) => Error::kernel(libc::EIO, format!("{what}: {text}")),
        Fail::Oversized(len) => Error::kernel(
            libc::ENOSPC,
            format!("{what}: an answer of {len} bytes does not fit the {RECV_BUFFER}-byte buffer"),
        ),
    }
}

/// "File exists" for EEXIST: io::Error's text without " (os error 17)".
fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The kernel's dev_valid_name(): 1..=15 bytes, not "." or "..", no '/', ':'
/// or whitespace. Checked before creating so the error names the problem.
fn check_ifname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0);
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "interface name {name:?}: must be 1 to 15 bytes without '/', ':' or spaces"
        )))
    }
}

fn fmt_mac(mac: &[u8; 6]) -> String {
    let parts: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}

fn route_ip(addr: &RouteAddress) -> Option<IpAddr> {
    match addr {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

/// A main-table unicast route of family inet/inet6, or None for anything else.
fn parse_route(msg: &RouteMessage) -> Option<RouteInfo> {
    let h = &msg.header;
    let unspecified = match h.address_family {
        AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    if h.kind != RouteType::Unicast {
        return None;
    }
    let mut table = u32::from(h.table);
    let mut dest = None;
    let mut gateway = None;
    let mut oif = None;
    let mut prefsrc = None;
    let mut multipath = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(a) => dest = route_ip(a),
            RouteAttribute::Gateway(a) => gateway = route_ip(a),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::PrefSource(a) => prefsrc = route_ip(a),
            RouteAttribute::MultiPath(hops) => multipath = hops.first(),
            _ => {}
        }
    }
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) {
        return None;
    }
    // ECMP routes: report the first next hop.
    if let Some(hop) = multipath {
        if oif.is_none() && hop.interface_index != 0 {
            oif = Some(hop.interface_index);
        }
        if gateway.is_none() {
            gateway = hop.attributes.iter().find_map(|a| match a {
                RouteAttribute::Gateway(g) => route_ip(g),
                _ => None,
            });
        }
    }
    let destination =
        IpNetwork::new(dest.unwrap_or(unspecified), h.destination_prefix_length).ok()?;
    Some(RouteInfo {
        destination,
        gateway,
        oif,
        prefsrc,
        protocol: u8::from(h.protocol),
    })
}

fn parse_address(msg: &AddressMessage) -> Option<IpNetwork> {
    // IFA_LOCAL is the interface's own address (IPv4, and IPv6 with a peer);
    // IFA_ADDRESS is the peer for point-to-point links, else the same.
    let mut local = None;
    let mut address = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            _ => {}
        }
    }
    IpNetwork::new(local.or(address)?, msg.header.prefix_len).ok()
}

/// An address message for `addr` on link `index`, as `ip addr` sends it:
/// IFA_ADDRESS and IFA_LOCAL, and for IPv4 below /31 the broadcast address.
fn address_message(index: u32, addr: IpNetwork) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.index = index;
    msg.header.prefix_len = addr.prefix();
    let attrs = &mut msg.attributes;
    match addr.ip() {
        IpAddr::V4(ip) => {
            msg.header.family = AddressFamily::Inet;
            if !ip.is_multicast() {
                attrs.push(AddressAttribute::Address(ip.into()));
                attrs.push(AddressAttribute::Local(ip.into()));
                if addr.prefix() < 31 {
                    let brd = u32::MAX >> u32::from(addr.prefix()) | u32::from(ip);
                    attrs.push(AddressAttribute::Broadcast(Ipv4Addr::from(brd)));
                }
            }
        }
        IpAddr::V6(ip) => {
            msg.header.family = AddressFamily::Inet6;
            if ip.is_multicast() {
                attrs.push(AddressAttribute::Multicast(ip));
            } else {
                attrs.push(AddressAttribute::Address(ip.into()));
                attrs.push(AddressAttribute::Local(ip.into()));
            }
        }
    }
    msg
}

/// A link message about link `index` carrying `attributes`.
fn link_message(index: u32, attributes: Vec<LinkAttribute>) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes = attributes;
    msg
}

/// Set (or clear) `flag` in a link message's header, and say it changes.
fn link_flag(msg: &mut LinkMessage, flag: LinkFlags, on: bool) {
    msg.header.flags.set(flag, on);
    msg.header.change_mask |= flag;
}

/// A bridge-port option of link `index` (IFLA_INFO_SLAVE_DATA).
fn port_message(index: u32, option: InfoBridgePort) -> LinkMessage {
    link_message(
        index,
        vec![LinkAttribute::LinkInfo(vec![
            NlLinkInfo::PortKind(InfoPortKind::Bridge),
            NlLinkInfo::PortData(InfoPortData::BridgePort(vec![option])),
        ])],
    )
}

/// The RTM_NEWLINK that creates a veth pair: the host end here, its peer
/// born in `peer_netns` (IFLA_NET_NS_FD, MTU and MAC in the peer message).
fn veth_message(
    host_name: &str,
    peer_name: &str,
    peer_netns: BorrowedFd<'_>,
    mtu: Option<u32>,
    peer_mac: Option<[u8; 6]>,
) -> Result<LinkMessage> {
    check_ifname(host_name)?;
    check_ifname(peer_name)?;
    // One TX and one RX queue on both ends, said at creation: otherwise the
    // kernel creates one queue per CPU and then shrinks the registered
    // device to one (veth_init_queues -> netif_set_real_num_tx_queues),
    // which waits out an expedited RCU grace period per end, a wait that
    // grows with the size of the system (8 ms with 1500 veths here).
    let queues = [LinkAttribute::NumTxQueues(1), LinkAttribute::NumRxQueues(1)];
    let netns = LinkAttribute::NetNsFd(peer_netns.as_raw_fd());
    let peer_extra = [netns, queues[0].clone(), queues[1].clone()];
    let mut peer = new_link_attributes(peer_name, &peer_extra, mtu);
    peer.extend(peer_mac.map(|mac| LinkAttribute::Address(mac.to_vec())));
    let mut host = new_link_attributes(host_name, &queues, mtu);
    host.push(LinkAttribute::LinkInfo(vec![
        NlLinkInfo::Kind(InfoKind::Veth),
        NlLinkInfo::Data(InfoData::Veth(InfoVeth::Peer(link_message(0, peer)))),
    ]));
    Ok(link_message(0, host))
}

/// A new link's attributes: its name, then `extra`, then the MTU if any.
fn new_link_attributes(
    name: &str,
    extra: &[LinkAttribute],
    mtu: Option<u32>,
) -> Vec<LinkAttribute> {
    let mut attrs = vec![LinkAttribute::IfName(name.to_string())];
    attrs.extend_from_slice(extra);
    attrs.extend(mtu.map(LinkAttribute::Mtu));
    attrs
}

/// A main-table unicast route (protocol static) to `dest`, via `gateway`
/// or, without one, of scope link; out `oif` when given.
fn route_message(dest: IpNetwork, gateway: Option<IpAddr>, oif: Option<u32>) -> RouteMessage {
    let mut msg = RouteMessage::default();
    let h = &mut msg.header;
    h.address_family = match dest {
        IpNetwork::V4(_) => AddressFamily::Inet,
        IpNetwork::V6(_) => AddressFamily::Inet6,
    };
    h.destination_prefix_length = dest.prefix();
    h.table = RouteHeader::RT_TABLE_MAIN;
    h.protocol = RouteProtocol::Static;
    h.kind = RouteType::Unicast;
    h.scope = match gateway {
        Some(_) => RouteScope::Universe,
        None => RouteScope::Link,
    };
    let attrs = &mut msg.attributes;
    attrs.push(RouteAttribute::Destination(RouteAddress::from(
        dest.network(),
    )));
    attrs.extend(gateway.map(|gw| RouteAttribute::Gateway(RouteAddress::from(gw))));
    attrs.extend(oif.map(RouteAttribute::Oif));
    msg
}

impl Io {
    /// Open a socket in the calling thread's network namespace. It is bound
    /// (to a port the kernel picks) by its first sendto.
    fn open() -> std::io::Result<Io> {
        let socket = Socket::new(NETLINK_ROUTE)?;
        socket.set_netlink_get_strict_chk(true)?;
        // a kernel that does not answer is an error, not a hang (as the
        // nftables socket)
        let timeout = libc::timeval {
            tv_sec: RECV_TIMEOUT_SECS,
            tv_usec: 0,
        };
        // SAFETY: the fd is the socket's own; `timeout` is a live timeval
        // of the size given.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Io {
            socket,
            seq: 0,
            buf: Vec::with_capacity(RECV_BUFFER),
        })
    }

    /// One request and its whole answer; a dump the kernel marks
    /// interrupted is asked again (EINTR once `DUMP_TRIES` all were).
    fn request(
        &mut self,
        body: RouteNetlinkMessage,
        flags: u16,
    ) -> std::result::Result<Vec<Msg>, Fail> {
        let mut msg = NetlinkMessage::from(body);
        msg.header.flags = flags;
        for _ in 0..DUMP_TRIES {
            let seq = self.send(&mut msg)?;
            let answer = self.answer(seq, flags & NLM_F_ACK != 0)?;
            if !answer.interrupted {
                return Ok(answer.msgs);
            }
        }
        Err(Fail::Errno(libc::EINTR))
    }

    /// Send `msg` with the next sequence number, which it returns.
    fn send(
        &mut self,
        msg: &mut NetlinkMessage<RouteNetlinkMessage>,
    ) -> std::result::Result<u32, Fail> {
        self.seq = self.seq.wrapping_add(1);
        msg.header.sequence_number = self.seq;
        msg.finalize();
        let mut bytes = vec![0; msg.buffer_len()];
        msg.serialize(&mut bytes);
        let kernel = SocketAddr::new(0, 0);
        retry_eintr(|| self.socket.send_to(&bytes, &kernel, 0))?;
        Ok(self.seq)
    }

    /// Read the answer to request `seq`: its messages up to the ACK (or the
    /// error) when it asked for one, the DONE of a dump, or else its single
    /// message. Messages of another sequence number are what remains of an
    /// earlier request whose answer failed to decode: skipped.
    fn answer(&mut self, seq: u32, acked: bool) -> std::result::Result<Answer, Fail> {
        let mut answer = Answer::default();
        loop {
            let len = self.receive()?;
            let mut at = 0;
            while at < len {
                let bytes = &self.buf[at..len];
                let h = raw::header(bytes)?;
                let msg = &bytes[..h.len];
                at += h.len.next_multiple_of(4).min(bytes.len());
                // what is left of an earlier answer (one that failed part
                // way) is skipped by its header, never decoded
                if h.seq != seq {
                    continue;
                }
                answer.interrupted |= h.flags & NLM_F_DUMP_INTR != 0;
                let last = !acked && h.flags & NLM_F_MULTIPART == 0;
                let ends = if h.kind == raw::RTM_NEWLINK {
                    answer.msgs.push(Msg::Link(raw::link(msg)?));
                    false
                } else {
                    take(decode(msg)?.payload, &mut answer)?
                };
                if ends || last {
                    return Ok(answer);
                }
            }
        }
    }

    /// One datagram into the buffer; its length.
    fn receive(&mut self) -> std::result::Result<usize, Fail> {
        self.buf.clear();
        let (socket, buf) = (&self.socket, &mut self.buf);
        // MSG_TRUNC: the datagram's real length, even when longer than the buffer
        let len = retry_eintr(|| socket.recv(buf, libc::MSG_TRUNC))?;
        if len > self.buf.len() {
            return Err(Fail::Oversized(len));
        }
        Ok(len)
    }
}

/// A system call again while a signal interrupts it.
fn retry_eintr<T>(mut call: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// The first message of `bytes`, and the bytes it takes (aligned to 4).
fn decode(bytes: &[u8]) -> std::result::Result<NetlinkMessage<RouteNetlinkMessage>, Fail> {
    NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes)
        .map_err(|e| Fail::Answer(format!("undecodable answer: {e}")))
}

/// Add one message of an answer to `answer`: true when it ends the answer
/// (an ACK, a dump's DONE), an error for a refusal.
fn take(
    payload: NetlinkPayload<RouteNetlinkMessage>,
    answer: &mut Answer,
) -> std::result::Result<bool, Fail> {
    match payload {
        NetlinkPayload::InnerMessage(m) => {
            answer.msgs.push(Msg::Other(m));
            Ok(false)
        }
        NetlinkPayload::Error(e) => match e.code {
            None => Ok(true),
            Some(code) => Err(Fail::Errno(code.get().saturating_abs())),
        },
        NetlinkPayload::Done(d) if d.code < 0 => Err(Fail::Errno(d.code.saturating_abs())),
        NetlinkPayload::Done(_) => Ok(true),
        NetlinkPayload::Noop => Ok(false),
        NetlinkPayload::Overrun(_) => Err(Fail::Errno(libc::ENOBUFS)),
        other => Err(Fail::Answer(format!(
            "unexpected netlink message type {}",
            other.message_type()
        ))),
    }
}

impl Conn {
    /// Open a netlink socket in the calling thread's network namespace.
    fn open() -> Result<Conn> {
        let io = Io::open().map_err(|e| Error::io("opening a netlink socket", e))?;
        Ok(Conn {
            io: Mutex::new(io),
            links: Mutex::new(HashMap::new()),
        })
    }
}

impl Netlink {
    /// A session of its own in the network namespace of the open file
    /// `netns` (`path` names it in errors), made from the calling thread
    /// (which steps there for the socket alone, `netns::make_in`), not
    /// shared and closed when the last handle drops.
    pub fn open_in(netns: &std::fs::File, path: &std::path::Path) -> Result<Self> {
        let conn = super::netns::make_in(netns, path, Conn::open)?;
        Ok(Netlink {
            conn: Arc::new(conn),
        })
    }

    /// The rtnetlink session of the calling thread's network namespace,
    /// opened on first use: every `open` in one namespace shares one socket
    /// for the life of the process.
    pub fn open() -> Result<Self> {
        let ns = current_netns()?;
        if let Some((_, conn)) = sessions().iter().find(|(k, _)| *k == ns) {
            return Ok(Netlink { conn: conn.clone() });
        }
        let conn = Arc::new(Conn::open()?);
        let mut all = sessions();
        // another thread of the same namespace may have been quicker
        if let Some((_, c)) = all.iter().find(|(k, _)| *k == ns) {
            return Ok(Netlink { conn: c.clone() });
        }
        all.push((ns, conn.clone()));
        Ok(Netlink { conn })
    }

    /// One request and the messages of its answer, errors not yet told
    /// what the request was.
    fn exchange(
        &self,
        body: RouteNetlinkMessage,
        flags: u16,
    ) -> std::result::Result<Vec<Msg>, Fail> {
        self.conn
            .io
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .request(body, flags)
    }

    /// A request answered by an ACK alone (a change, a creation, a removal).
    fn acked(&self, body: RouteNetlinkMessage, flags: u16, what: impl fmt::Display) -> Result<()> {
        let msgs = self
            .exchange(body, flags)
            .map_err(|f| kernel_error(f, &what))?;
        match msgs.first() {
            None => Ok(()),
            Some(m) => Err(unexpected(m, &what)),
        }
    }

    /// A dump of the objects `pick` accepts (any other answer is an error).
    fn dump<T>(
        &self,
        body: RouteNetlinkMessage,
        pick: fn(Msg) -> std::result::Result<T, Msg>,
        what: impl fmt::Display,
    ) -> Result<Vec<T>> {
        let msgs = self
            .exchange(body, DUMP)
            .map_err(|f| kernel_error(f, &what))?;
        msgs.into_iter()
            .map(|m| pick(m).map_err(|m| unexpected(&m, &what)))
            .collect()
    }

    fn cached_links(&self) -> MutexGuard<'_, HashMap<String, LinkInfo>> {
        self.conn
            .links
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Drop every cached link: called before a change the cache cannot
    /// follow (create, delete, MTU), so a lookup after it asks the kernel.
    fn forget_links(&self) {
        self.cached_links().clear();
    }

    /// One GETLINK; ENODEV (and ENOENT) mean "no such link".
    fn get_link(&self, req: LinkMessage, what: &str) -> Result<Option<LinkInfo>> {
        let what = format!("reading link {what}");
        match self.exchange(RouteNetlinkMessage::GetLink(req), GET) {
            Ok(msgs) => match msgs.into_iter().next() {
                None => Ok(None),
                Some(Msg::Link(l)) => Ok(Some(l)),
                Some(other) => Err(unexpected(&other, &what)),
            },
            Err(Fail::Errno(libc::ENODEV | libc::ENOENT)) => Ok(None),
            Err(f) => Err(kernel_error(f, what)),
        }
    }

    /// A link by name: from the session's cache when this process has
    /// looked it up (or created it) and changed no link in a way the cache
    /// cannot follow since; otherwise one GETLINK.
    pub fn link(&self, name: &str) -> Result<Option<LinkInfo>> {
        if check_ifname(name).is_err() {
            return Ok(None); // no link can have that name
        }
        if let Some(l) = self.cached_links().get(name) {
            return Ok(Some(l.clone()));
        }
        let req = link_message(0, vec![LinkAttribute::IfName(name.to_string())]);
        let found = self.get_link(req, name)?;
        self.remember(found.as_ref());
        Ok(found)
    }

    /// A link by index, from the cache like `link`.
    pub fn link_by_index(&self, index: u32) -> Result<Option<LinkInfo>> {
        if index == 0 {
            return Ok(None);
        }
        if let Some(l) = self.cached_links().values().find(|l| l.index == index) {
            return Ok(Some(l.clone()));
        }
        let found = self.get_link(link_message(index, Vec::new()), &format!("#{index}"))?;
        self.remember(found.as_ref());
        Ok(found)
    }

    fn remember(&self, link: Option<&LinkInfo>) {
        if let Some(l) = link {
            let mut cache = self.cached_links();
            cache.retain(|_, c| c.index != l.index);
            cache.insert(l.name.clone(), l.clone());
        }
    }

    /// Apply a change the kernel accepted to the cached copy of link `index`.
    fn update_cached(&self, index: u32, f: impl FnOnce(&mut LinkInfo)) {
        if let Some(l) = self.cached_links().values_mut().find(|l| l.index == index) {
            f(l);
        }
    }

    /// Every link of the namespace (a dump): for status displays only.
    pub fn links(&self) -> Result<Vec<LinkInfo>> {
        let req = RouteNetlinkMessage::GetLink(LinkMessage::default());
        self.dump(req, pick_link, "listing links")
    }

    /// NEWLINK, then the new link by name (one GETLINK, cached: the link is
    /// not read again unless a change the cache cannot follow comes first).
    /// NLM_F_ECHO would save that GETLINK, but measured slower at n=1000:
    /// the kernel then builds the notification of both veth ends for us,
    /// each with a peernet2id scan over every namespace id.
    fn create(&self, msg: LinkMessage, name: &str, what: &str) -> Result<u32> {
        self.forget_links();
        self.acked(RouteNetlinkMessage::NewLink(msg), CREATE, what)?;
        match self.link(name)? {
            Some(l) => Ok(l.index),
            None => Err(Error::kernel(
                libc::ENODEV,
                format!("{what}: created but gone right after"),
            )),
        }
    }

    /// One RTM_NEWLINK on an existing link (`ip link set`) whose effect the
    /// cache cannot follow exactly: every cached link is forgotten first.
    fn change(&self, msg: LinkMessage, what: impl fmt::Display) -> Result<()> {
        self.forget_links();
        self.send_change(msg, what)
    }

    fn send_change(&self, msg: LinkMessage, what: impl fmt::Display) -> Result<()> {
        self.acked(RouteNetlinkMessage::NewLink(msg), CHANGE, what)
    }

    /// Create a bridge (down). Returns its index.
    pub fn create_bridge(&self, name: &str, mtu: Option<u32>) -> Result<u32> {
        check_ifname(name)?;
        let what = format!("creating bridge {name}");
        let mut attrs = new_link_attributes(name, &[], mtu);
        attrs.push(LinkAttribute::LinkInfo(vec![NlLinkInfo::Kind(
            InfoKind::Bridge,
        )]));
        self.create(link_message(0, attrs), name, &what)
    }

    pub fn set_up(&self, index: u32) -> Result<()> {
        let mut msg = link_message(index, Vec::new());
        link_flag(&mut msg, LinkFlags::Up, true);
        self.send_change(msg, format!("setting link #{index} up"))?;
        // A bridge's carrier and operstate settle after it comes up (link
        // watch), and a GETLINK of the device runs that pending event: read a
        // bridge (or a link the cache does not know) back at once, as the
        // code before the cache did, so `init` leaves a settled bridge
        // behind. A known veth (ADD's two ends) is just marked up.
        let cached_non_bridge = {
            let mut cache = self.cached_links();
            match cache.values_mut().find(|l| l.index == index) {
                Some(l) if l.kind.as_deref() != Some("bridge") => {
                    l.up = true;
                    true
                }
                _ => false,
            }
        };
        if !cached_non_bridge {
            self.cached_links().retain(|_, l| l.index != index);
            self.link_by_index(index)?;
        }
        Ok(())
    }

    pub fn set_down(&self, index: u32) -> Result<()> {
        let mut msg = link_message(index, Vec::new());
        link_flag(&mut msg, LinkFlags::Up, false);
        self.send_change(msg, format!("setting link #{index} down"))?;
        self.update_cached(index, |l| l.up = false);
        Ok(())
    }

    pub fn set_mac(&self, index: u32, mac: [u8; 6]) -> Result<()> {
        let msg = link_message(index, vec![LinkAttribute::Address(mac.to_vec())]);
        self.send_change(
            msg,
            format!("setting MAC {} on link #{index}", fmt_mac(&mac)),
        )?;
        self.update_cached(index, |l| l.mac = Some(mac));
        Ok(())
    }

    pub fn set_mtu(&self, index: u32, mtu: u32) -> Result<()> {
        let msg = link_message(index, vec![LinkAttribute::Mtu(mtu)]);
        // a bridge's MTU follows its ports: forget them all
        self.change(msg, format!("setting MTU {mtu} on link #{index}"))
    }

    /// Promiscuous mode, all-multicast and TX queue length (CNI tuning's
    /// `promisc`, `allmulti`, `txQLen`; the bridge's `promiscMode`), in one
    /// request; `None` leaves a setting as it is.
    pub fn set_link_flags(
        &self,
        index: u32,
        promisc: Option<bool>,
        allmulti: Option<bool>,
        txqlen: Option<u32>,
    ) -> Result<()> {
        if promisc.is_none() && allmulti.is_none() && txqlen.is_none() {
            return Ok(());
        }
        let mut msg = link_message(
            index,
            txqlen.map(LinkAttribute::TxQueueLen).into_iter().collect(),
        );
        if let Some(on) = promisc {
            link_flag(&mut msg, LinkFlags::Promisc, on);
        }
        if let Some(on) = allmulti {
            link_flag(&mut msg, LinkFlags::Allmulti, on);
        }
        // promisc, allmulti and txqlen are not part of LinkInfo: the cache stays
        self.send_change(msg, format!("setting link flags on link #{index}"))
    }

    /// Delete a link; for a veth this removes both ends.
    pub fn delete_link(&self, index: u32) -> Result<()> {
        self.forget_links();
        let msg = RouteNetlinkMessage::DelLink(link_message(index, Vec::new()));
        self.acked(msg, CHANGE, format!("deleting link #{index}"))
    }

    /// Addresses on one link (with prefix length), IPv4 then IPv6.
    pub fn addresses(&self, index: u32) -> Result<Vec<IpNetwork>> {
        self.address_dump(
            index,
            AddressFamily::Unspec,
            format!("listing addresses of link #{index}"),
        )
    }

    /// The addresses of every link of the namespace, in one dump (not one
    /// per link).
    pub fn all_addresses(&self) -> Result<Vec<IpNetwork>> {
        self.address_dump(0, AddressFamily::Unspec, "listing addresses")
    }

    /// The IPv4 (or IPv6) addresses of every link, in one dump of that
    /// family only: an IPv4 lookup does not read the IPv6 link-local address
    /// every veth has (one per container).
    pub fn all_addresses_of(&self, ip: IpAddr) -> Result<Vec<IpNetwork>> {
        let family = match ip {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        self.address_dump(0, family, "listing addresses")
    }

    /// One address dump: of link `index`, or of every link for 0; of one
    /// family, or all for Unspec.
    fn address_dump(
        &self,
        index: u32,
        family: AddressFamily,
        what: impl fmt::Display,
    ) -> Result<Vec<IpNetwork>> {
        // With strict checking the kernel filters the dump by ifa_index;
        // the userspace filter is a second guard.
        let mut req = AddressMessage::default();
        req.header.index = index;
        req.header.family = family;
        let msgs = self.dump(RouteNetlinkMessage::GetAddress(req), pick_address, what)?;
        Ok(msgs
            .iter()
            .filter(|m| index == 0 || m.header.index == index)
            .filter_map(parse_address)
            .collect())
    }

    /// Add an address. IPv6 addresses are added with IFA_F_NODAD: the
    /// addresses we assign are unique by construction (IPAM), and skipping
    /// duplicate address detection makes them usable at once instead of
    /// "tentative" for about a second.
    pub fn add_address(&self, index: u32, addr: IpNetwork) -> Result<()> {
        let mut msg = address_message(index, addr);
        if addr.is_ipv6() {
            msg.header.flags |= AddressHeaderFlags::Nodad;
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        let what = format!("adding address {addr} to link #{index}");
        self.acked(RouteNetlinkMessage::NewAddress(msg), CREATE, what)
    }

    pub fn del_address(&self, index: u32, addr: IpNetwork) -> Result<()> {
        let msg = RouteNetlinkMessage::DelAddress(address_message(index, addr));
        let what = format!("deleting address {addr} from link #{index}");
        self.acked(msg, CHANGE, what)
    }

    /// All unicast routes of the main table, both families (one dump).
    pub fn routes(&self) -> Result<Vec<RouteInfo>> {
        // Strict checking: a non-zero rtm_table filters the dump in the
        // kernel; protocol/type/scope left at 0 mean "any".
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Unspec;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Unspec;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unspec;
        let req = RouteNetlinkMessage::GetRoute(msg);
        let msgs = self.dump(req, pick_route, "listing routes")?;
        Ok(msgs.iter().filter_map(parse_route).collect())
    }

    /// Add a route in the main table: `dest` via `gateway` and/or out `oif`.
    /// A /0 destination is the default route. Without a gateway the route
    /// has scope link (like `ip route add DEST dev X`).
    pub fn add_route(
        &self,
        dest: IpNetwork,
        gateway: Option<IpAddr>,
        oif: Option<u32>,
    ) -> Result<()> {
        self.new_route(dest, gateway, oif, CREATE)
    }

    /// Like `add_route`, but a route to the same destination (a default route
    /// through another interface) does not make it fail: the request carries
    /// NLM_F_CREATE|NLM_F_APPEND instead of NLM_F_EXCL, as the reference CNI
    /// plugins add container routes, so a container on several networks gets
    /// one default route per network (IPv6 merges same-metric ones into a
    /// multipath route). Still EEXIST for the very same route.
    pub fn append_route(
        &self,
        dest: IpNetwork,
        gateway: Option<IpAddr>,
        oif: Option<u32>,
    ) -> Result<()> {
        self.new_route(dest, gateway, oif, APPEND)
    }

    fn new_route(
        &self,
        dest: IpNetwork,
        gateway: Option<IpAddr>,
        oif: Option<u32>,
        flags: u16,
    ) -> Result<()> {
        let what = match gateway {
            Some(gw) => format!("adding route {dest} via {gw}"),
            None => format!("adding route {dest}"),
        };
        if gateway.is_none() && oif.is_none() {
            return Err(Error::invalid(format!(
                "{what}: needs a gateway or an interface"
            )));
        }
        if let Some(gw) = gateway
            && gw.is_ipv4() != dest.is_ipv4()
        {
            return Err(Error::invalid(format!(
                "{what}: gateway and destination differ in family"
            )));
        }
        let msg = route_message(dest, gateway, oif);
        self.acked(RouteNetlinkMessage::NewRoute(msg), flags, what)
    }

    /// Create a veth pair: `host_name` here, its peer `peer_name` born directly in
    /// the namespace `peer_netns` (an open /run/netns/... or /proc/PID/ns/net fd).
    /// Optional MTU for both ends and MAC for the peer; with `master`, the
    /// host end is born a port of that bridge (IFLA_MASTER in the creating
    /// RTM_NEWLINK, as `ip link add ... master BR` does; the kernel
    /// unregisters the pair if enslaving fails): one round trip fewer than
    /// create then `set_master`. Returns the host end's index.
    ///
    /// Never born up (IFF_UP would save one more round trip): the GETLINK
    /// that follows the creation makes the kernel run a running port's
    /// pending carrier event then and there (linkwatch_sync_dev -> bridge
    /// port state selection over every port), O(ports) inside the ADD: 7.1
    /// against 4.7 ms CPU with 1000 ports. Down, the event costs nothing.
    pub fn create_veth(
        &self,
        host_name: &str,
        peer_name: &str,
        peer_netns: BorrowedFd<'_>,
        mtu: Option<u32>,
        peer_mac: Option<[u8; 6]>,
        master: Option<u32>,
    ) -> Result<u32> {
        let what = match master {
            Some(m) => format!("creating veth {host_name} (peer {peer_name}) on bridge #{m}"),
            None => format!("creating veth {host_name} (peer {peer_name})"),
        };
        let mut msg = veth_message(host_name, peer_name, peer_netns, mtu, peer_mac)?;
        msg.attributes.extend(master.map(LinkAttribute::Controller));
        self.create(msg, host_name, &what)
    }

    /// Enslave `index` to bridge `master`.
    pub fn set_master(&self, index: u32, master: u32) -> Result<()> {
        let msg = link_message(index, vec![LinkAttribute::Controller(master)]);
        self.send_change(msg, format!("attaching link #{index} to bridge #{master}"))?;
        // both are read again: the bridge may change (its MTU follows its
        // ports), and the port's options are what they were only if it was
        // on this bridge already
        self.cached_links()
            .retain(|_, l| l.index != master && l.index != index);
        Ok(())
    }

    /// Bridge-port hairpin mode on a port already enslaved.
    pub fn set_hairpin(&self, index: u32, on: bool) -> Result<()> {
        self.set_port_option(index, InfoBridgePort::HairpinMode(on), "hairpin", on)?;
        self.update_cached(index, |l| l.hairpin = Some(on));
        Ok(())
    }

    /// Bridge-port isolation (`ip link set X type bridge_slave isolated on`):
    /// an isolated port talks to non-isolated ports (the bridge itself, the
    /// gateway) but not to other isolated ports. Not part of LinkInfo: the
    /// cache stays.
    pub fn set_isolated(&self, index: u32, on: bool) -> Result<()> {
        self.set_port_option(index, InfoBridgePort::Isolated(on), "isolated", on)
    }

    /// A container's host end, still down, made ready in one RTM_NEWLINK:
    /// its bridge-port options (hairpin, isolated; only those asked for)
    /// and no IPv6 link-local address. A bridge port is a layer-2 port:
    /// an address of its own is never used, and without one, coming up
    /// costs no address and route, no duplicate-address probe and no
    /// multicast report flooded to every other port (the kernel processes
    /// IFLA_AF_SPEC after the port options and refuses it at creation,
    /// so it rides here, before the port comes up). On a host without
    /// IPv6 the kernel refuses the IPv6 part (EAFNOSUPPORT): sent again
    /// without it.
    pub fn prepare_port(&self, index: u32, hairpin: bool, isolated: bool) -> Result<()> {
        let what = format!(
            "preparing bridge port #{index} (hairpin {hairpin}, isolated {isolated}, no IPv6 link-local address)"
        );
        let mut options = Vec::new();
        if hairpin {
            options.push(InfoBridgePort::HairpinMode(true));
        }
        if isolated {
            options.push(InfoBridgePort::Isolated(true));
        }
        let mut attrs = Vec::new();
        if !options.is_empty() {
            attrs.push(LinkAttribute::LinkInfo(vec![
                NlLinkInfo::PortKind(InfoPortKind::Bridge),
                NlLinkInfo::PortData(InfoPortData::BridgePort(options)),
            ]));
        }
        let no_link_local =
            LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![AfSpecInet6::AddrGenMode(
                In6AddrGenMode::None,
            )])]);
        let mut with_ipv6 = attrs.clone();
        with_ipv6.push(no_link_local);
        match self.send_change(link_message(index, with_ipv6), &what) {
            Err(e) if e.errno() == Some(libc::EAFNOSUPPORT) => {
                if !attrs.is_empty() {
                    self.send_change(link_message(index, attrs), &what)?;
                }
            }
            r => r?,
        }
        if hairpin {
            self.update_cached(index, |l| l.hairpin = Some(true));
        }
        Ok(())
    }

    /// One bridge-port option (IFLA_INFO_SLAVE_DATA) of port `index`.
    fn set_port_option(
        &self,
        index: u32,
        option: InfoBridgePort,
        name: &str,
        on: bool,
    ) -> Result<()> {
        let state = if on { "on" } else { "off" };
        self.send_change(
            port_message(index, option),
            format!("setting {name} {state} on bridge port #{index}"),
        )
    }
}

/// An answer message where another was expected: EIO, naming its type.
fn unexpected(msg: &Msg, what: impl fmt::Display) -> Error {
    kernel_error(
        Fail::Answer(format!(
            "unexpected answer (message type {})",
            msg.message_type()
        )),
        what,
    )
}

fn pick_link(m: Msg) -> std::result::Result<LinkInfo, Msg> {
    match m {
        Msg::Link(l) => Ok(l),
        other => Err(other),
    }
}

fn pick_address(m: Msg) -> std::result::Result<AddressMessage, Msg> {
    match m {
        Msg::Other(RouteNetlinkMessage::NewAddress(a)) => Ok(a),
        other => Err(other),
    }
}

fn pick_route(m: Msg) -> std::result::Result<RouteMessage, Msg> {
    match m {
        Msg::Other(RouteNetlinkMessage::NewRoute(r)) => Ok(r),
        other => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{DoneMessage, ErrorMessage};
    use netlink_packet_route::link::{BridgeStpState, InfoBridge};

    /// A link as netlink-packet-route's full decoder sees it: what
    /// `raw::link` must agree with.
    fn parse_link(msg: &LinkMessage) -> LinkInfo {
        let mut info = LinkInfo {
            index: msg.header.index,
            name: String::new(),
            kind: None,
            mac: None,
            mtu: 0,
            up: msg.header.flags.contains(LinkFlags::Up),
            master: None,
            stp: None,
            hairpin: None,
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => info.name = name.clone(),
                LinkAttribute::Address(addr) => {
                    if let Ok(mac) = <[u8; 6]>::try_from(addr.as_slice()) {
                        info.mac = Some(mac);
                    }
                }
                LinkAttribute::Mtu(mtu) => info.mtu = *mtu,
                LinkAttribute::Controller(master) if *master != 0 => info.master = Some(*master),
                LinkAttribute::LinkInfo(infos) => {
                    for li in infos {
                        match li {
                            NlLinkInfo::Kind(kind) => info.kind = Some(kind.to_string()),
                            NlLinkInfo::Data(InfoData::Bridge(opts)) => {
                                for opt in opts {
                                    if let InfoBridge::StpState(state) = opt {
                                        info.stp = Some(u32::from(*state) != 0);
                                    }
                                }
                            }
                            // A plain GETLINK carries IFLA_INFO_SLAVE_DATA for
                            // bridge ports (what `ip -d link` prints as bridge_slave).
                            NlLinkInfo::PortData(InfoPortData::BridgePort(opts)) => {
                                for opt in opts {
                                    if let InfoBridgePort::HairpinMode(on) = opt {
                                        info.hairpin = Some(*on);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        info
    }

    /// A link message as the kernel would send it (encoded by
    /// netlink-packet-route), read by `raw::link` and by the full decoder.
    fn both_views(msg: LinkMessage) -> (LinkInfo, LinkInfo) {
        let mut nl = NetlinkMessage::from(RouteNetlinkMessage::NewLink(msg));
        nl.header.sequence_number = 9;
        nl.finalize();
        let mut bytes = vec![0; nl.buffer_len()];
        nl.serialize(&mut bytes);
        let h = raw::header(&bytes).map_err(|_| "header").expect("a header");
        assert_eq!((h.kind, h.seq, h.len), (raw::RTM_NEWLINK, 9, bytes.len()));
        let lean = raw::link(&bytes).map_err(|_| "link").expect("a link");
        let full = decode(&bytes).map_err(|_| "decode").expect("decodes");
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)) = full.payload else {
            panic!("not a link message");
        };
        (lean, parse_link(&m))
    }

    #[test]
    fn a_link_read_from_its_bytes_is_what_the_full_decoder_reads() {
        // a bridge: up, STP on, a MAC, an MTU, statistics it ignores
        let mut bridge = link_message(
            7,
            vec![
                LinkAttribute::IfName("br-test".into()),
                LinkAttribute::Mtu(1400),
                LinkAttribute::Address(vec![2, 0, 0, 0, 0, 9]),
                LinkAttribute::TxQueueLen(1000),
                LinkAttribute::LinkInfo(vec![
                    NlLinkInfo::Kind(InfoKind::Bridge),
                    NlLinkInfo::Data(InfoData::Bridge(vec![
                        InfoBridge::HelloTime(200),
                        InfoBridge::StpState(BridgeStpState::KernelStp),
                    ])),
                ]),
            ],
        );
        link_flag(&mut bridge, LinkFlags::Up, true);
        let (lean, full) = both_views(bridge);
        assert_eq!(lean, full);
        assert_eq!(
            (lean.index, lean.name.as_str(), lean.mtu, lean.up, lean.stp),
            (7, "br-test", 1400, true, Some(true))
        );
        assert_eq!(lean.kind.as_deref(), Some("bridge"));
        // a veth on bridge #7 with hairpin on, down
        let port = link_message(
            12,
            vec![
                LinkAttribute::IfName("veth0123abcd".into()),
                LinkAttribute::Controller(7),
                LinkAttribute::LinkInfo(vec![
                    NlLinkInfo::Kind(InfoKind::Veth),
                    NlLinkInfo::PortKind(InfoPortKind::Bridge),
                    NlLinkInfo::PortData(InfoPortData::BridgePort(vec![
                        InfoBridgePort::HairpinMode(true),
                    ])),
                ]),
            ],
        );
        let (lean, full) = both_views(port);
        assert_eq!(lean, full);
        assert_eq!(
            (lean.master, lean.hairpin, lean.up, lean.mac),
            (Some(7), Some(true), false, None)
        );
        // a link without IFLA_LINKINFO (lo) and a truncated message
        let (lean, full) = both_views(link_message(1, vec![LinkAttribute::IfName("lo".into())]));
        assert_eq!(lean, full);
        assert_eq!(lean.kind, None);
        assert!(raw::link(&[0; 20]).is_err());
        // an IFLA_MTU of two bytes: refused, not read as 0
        let mut short = vec![0u8; 40];
        short[..4].copy_from_slice(&40u32.to_ne_bytes());
        short[4..6].copy_from_slice(&raw::RTM_NEWLINK.to_ne_bytes());
        short[32..34].copy_from_slice(&6u16.to_ne_bytes());
        short[34..36].copy_from_slice(&4u16.to_ne_bytes());
        assert!(raw::link(&short).is_err());
        assert!(raw::header(&[0; 8]).is_err());
    }

    fn error(code: i32) -> NetlinkPayload<RouteNetlinkMessage> {
        let mut e = ErrorMessage::default();
        e.code = std::num::NonZeroI32::new(code);
        NetlinkPayload::Error(e)
    }

    fn done(code: i32) -> NetlinkPayload<RouteNetlinkMessage> {
        let mut d = DoneMessage::default();
        d.code = code;
        NetlinkPayload::Done(d)
    }

    fn ends(payload: NetlinkPayload<RouteNetlinkMessage>) -> std::result::Result<bool, i32> {
        take(payload, &mut Answer::default()).map_err(|f| match f {
            Fail::Errno(errno) => errno,
            Fail::Answer(_) | Fail::Oversized(_) => -1,
        })
    }

    #[test]
    fn an_answer_ends_on_ack_or_done_and_fails_on_a_negative_code() {
        assert_eq!(ends(error(0)), Ok(true));
        assert_eq!(ends(error(-libc::EEXIST)), Err(libc::EEXIST));
        assert_eq!(ends(done(0)), Ok(true));
        assert_eq!(ends(done(-libc::EINVAL)), Err(libc::EINVAL));
        assert_eq!(
            ends(NetlinkPayload::Overrun(Vec::new())),
            Err(libc::ENOBUFS)
        );
        let mut answer = Answer::default();
        let link = RouteNetlinkMessage::NewLink(LinkMessage::default());
        assert!(matches!(
            take(NetlinkPayload::InnerMessage(link), &mut answer),
            Ok(false)
        ));
        assert_eq!(answer.msgs.len(), 1);
    }

    #[test]
    fn a_message_sent_decodes_to_itself_with_its_length() {
        let mut msg = NetlinkMessage::from(RouteNetlinkMessage::NewRoute(route_message(
            "10.0.0.0/8".parse().expect("network"),
            None,
            Some(3),
        )));
        msg.header.sequence_number = 7;
        msg.finalize();
        let mut bytes = vec![0; msg.buffer_len() + 16];
        msg.serialize(&mut bytes);
        let h = raw::header(&bytes).map_err(|_| "header").expect("a header");
        assert_eq!(h.len, msg.buffer_len());
        let back = decode(&bytes[..h.len])
            .map_err(|_| "decode")
            .expect("decodes");
        assert_eq!(back, msg);
        assert!(decode(&bytes[..8]).is_err());
        assert!(raw::header(&bytes[..8]).is_err());
    }

    #[test]
    fn an_ipv4_address_below_31_bits_carries_its_broadcast() {
        let msg = address_message(2, "10.1.2.3/24".parse().expect("network"));
        assert_eq!(msg.header.family, AddressFamily::Inet);
        assert_eq!(msg.header.prefix_len, 24);
        let brd = AddressAttribute::Broadcast(Ipv4Addr::new(10, 1, 2, 255));
        assert!(msg.attributes.contains(&brd));
        let p2p = address_message(2, "10.1.2.3/31".parse().expect("network"));
        assert!(
            !p2p.attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::Broadcast(_)))
        );
    }

    #[test]
    fn a_route_without_gateway_has_scope_link() {
        let msg = route_message("fd00::/64".parse().expect("network"), None, Some(4));
        assert_eq!(msg.header.scope, RouteScope::Link);
        assert_eq!(msg.header.address_family, AddressFamily::Inet6);
        let via = route_message(
            "0.0.0.0/0".parse().expect("network"),
            Some("10.0.0.1".parse().expect("address")),
            None,
        );
        assert_eq!(via.header.scope, RouteScope::Universe);
        assert_eq!(via.header.protocol, RouteProtocol::Static);
    }
}
