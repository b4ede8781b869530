//! Links, addresses and routes over rtnetlink, as a small blocking API.
//! A `Netlink` talks to the network namespace of the thread that opened it.
//!
//! One session per network namespace and process: one rtnetlink socket on
//! one current-thread tokio runtime that also drives the connection task,
//! opened by the first `Netlink::open` in that namespace and shared by every
//! later one (a `Netlink` is a cheap handle on it). Each method is one
//! `block_on`, so callers read like plain system calls: `create_veth`,
//! `set_master`, `set_up`, `add_address`. A process-wide lazily-opened
//! session rather than a value passed down: callers keep their signatures,
//! and a socket is bound to the namespace it was opened in, so the session
//! is keyed by the caller's namespace (`netns::run_in` ends the container's
//! session when its thread ends).
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
//! every setter is exactly one request. Only `links()`, `addresses()` and
//! `routes()` dump, and only what their names say.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::{Arc, Mutex};

use futures::stream::{Stream, StreamExt, TryStreamExt};
use ipnetwork::IpNetwork;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use rtnetlink::packet_route::link::{
    InfoBridge, InfoBridgePort, InfoData, InfoPortData, InfoVeth, LinkAttribute, LinkFlags,
    LinkInfo as NlLinkInfo, LinkMessage,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::{
    AddressMessageBuilder, Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec,
    LinkVeth, RouteMessageBuilder,
};

use crate::error::{Error, Result};

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

/// A handle on the rtnetlink session of one network namespace: cheap to
/// open (a clone of the namespace's session), `Send` and `Sync`.
#[derive(Clone)]
pub struct Netlink {
    conn: Arc<Conn>,
}

/// One rtnetlink connection on one current-thread runtime, bound to the
/// network namespace it was opened in, plus the links looked up through it.
struct Conn {
    // Field order matters on drop: the handle goes first, then the runtime,
    // which cancels the connection task and closes the socket.
    handle: Handle,
    rt: tokio::runtime::Runtime,
    /// Links by name as the last GETLINK answered, until the next change
    /// of any link through this session (see `forget_links`).
    links: Mutex<HashMap<String, LinkInfo>>,
}

/// The sessions of this process, one per network namespace (keyed by the
/// namespace's device and inode), opened on first use. A process works in
/// one or two namespaces (the host's; a container's on `netns::run_in`'s
/// thread, which ends its session with `end_session` before it exits), so
/// this holds one entry nearly always and two at most for long. Never
/// dropped as a whole: the sockets close at process exit.
static SESSIONS: Mutex<Vec<(NetnsId, Arc<Conn>)>> = Mutex::new(Vec::new());

/// A network namespace by identity: (device, inode) of its nsfs file.
type NetnsId = (u64, u64);

/// The calling thread's network namespace, by identity.
fn current_netns() -> Result<NetnsId> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata("/proc/thread-self/ns/net")
        .map_err(|e| Error::io("reading /proc/thread-self/ns/net", e))?;
    Ok((m.dev(), m.ino()))
}

fn sessions() -> std::sync::MutexGuard<'static, Vec<(NetnsId, Arc<Conn>)>> {
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
    // dropped outside the lock: a runtime's drop joins nothing here, but
    // keep the critical section to the Vec.
    drop(ended);
}

/// Turn an rtnetlink error into ours: the positive errno and
/// "<what>: <strerror>", e.g. "creating bridge nerdctl0: File exists".
fn kernel_error(e: rtnetlink::Error, what: impl fmt::Display) -> Error {
    match e {
        rtnetlink::Error::NetlinkError(msg) => {
            let errno = msg.raw_code().abs();
            Error::kernel(errno, format!("{what}: {}", strerror(errno)))
        }
        other => Error::kernel(libc::EIO, format!("{what}: {other}")),
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

fn address_message(index: u32, addr: IpNetwork) -> AddressMessage {
    match addr.ip() {
        IpAddr::V4(ip) => AddressMessageBuilder::<Ipv4Addr>::new()
            .index(index)
            .address(ip, addr.prefix())
            .build(),
        IpAddr::V6(ip) => AddressMessageBuilder::<Ipv6Addr>::new()
            .index(index)
            .address(ip, addr.prefix())
            .build(),
    }
}

impl Conn {
    /// Open a netlink connection in the calling thread's network namespace.
    fn open() -> Result<Conn> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| Error::io("starting the netlink runtime", e))?;
        // The socket is created (and bound to this thread's netns) right here;
        // registering it with the reactor needs the runtime's context.
        let (connection, handle, _) = {
            let _enter = rt.enter();
            rtnetlink::new_connection_with_strict_check()
                .map_err(|e| Error::io("opening a netlink socket", e))?
        };
        rt.spawn(connection);
        Ok(Conn {
            handle,
            rt,
            links: Mutex::new(HashMap::new()),
        })
    }
}

impl Netlink {
    /// The rtnetlink session of the calling thread's network namespace,
    /// opened on first use: every `open` in one namespace shares one socket
    /// and one current-thread runtime for the life of the process.
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

    fn rt(&self) -> &tokio::runtime::Runtime {
        &self.conn.rt
    }

    fn handle(&self) -> &Handle {
        &self.conn.handle
    }

    fn cached_links(&self) -> std::sync::MutexGuard<'_, HashMap<String, LinkInfo>> {
        self.conn
            .links
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Drop every cached link: called before any change to a link (create,
    /// delete, flags, master, port options), so a lookup after a change
    /// always asks the kernel.
    fn forget_links(&self) {
        self.cached_links().clear();
    }

    /// Drain a request's answer stream into a Vec.
    fn collect<T>(
        &self,
        stream: impl Stream<Item = std::result::Result<T, rtnetlink::Error>>,
        what: impl fmt::Display,
    ) -> Result<Vec<T>> {
        self.rt()
            .block_on(stream.try_collect::<Vec<T>>())
            .map_err(|e| kernel_error(e, what))
    }

    /// One GETLINK; ENODEV (and ENOENT) mean "no such link".
    fn get_link(&self, req: rtnetlink::LinkGetRequest, what: &str) -> Result<Option<LinkInfo>> {
        let answer = self.rt().block_on(async {
            let mut stream = std::pin::pin!(req.execute());
            stream.next().await.transpose()
        });
        match answer {
            Ok(msg) => Ok(msg.as_ref().map(parse_link)),
            Err(rtnetlink::Error::NetlinkError(e))
                if matches!(e.raw_code().abs(), libc::ENODEV | libc::ENOENT) =>
            {
                Ok(None)
            }
            Err(e) => Err(kernel_error(e, format!("reading link {what}"))),
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
        let found = self.get_link(self.handle().link().get().match_name(name), name)?;
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
        let found = self.get_link(
            self.handle().link().get().match_index(index),
            &format!("#{index}"),
        )?;
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
        let msgs = self.collect(self.handle().link().get().execute(), "listing links")?;
        Ok(msgs.iter().map(parse_link).collect())
    }

    /// NEWLINK, then the new link by name (one GETLINK, cached: the link is
    /// not read again unless a change the cache cannot follow comes first).
    /// NLM_F_ECHO would save that GETLINK, but measured slower at n=1000:
    /// the kernel then builds the notification of both veth ends for us,
    /// each with a peernet2id scan over every namespace id.
    fn create(&self, msg: LinkMessage, name: &str, what: &str) -> Result<u32> {
        self.forget_links();
        self.rt()
            .block_on(self.handle().link().add(msg).execute())
            .map_err(|e| kernel_error(e, what))?;
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
        self.rt()
            .block_on(self.handle().link().change(msg).execute())
            .map_err(|e| kernel_error(e, what))
    }

    /// Create a bridge (down). Returns its index.
    pub fn create_bridge(&self, name: &str, mtu: Option<u32>) -> Result<u32> {
        check_ifname(name)?;
        let what = format!("creating bridge {name}");
        // LinkBridge::new() would set it up: use the builder directly.
        let mut b = LinkMessageBuilder::<LinkBridge>::new(name);
        if let Some(mtu) = mtu {
            b = b.mtu(mtu);
        }
        self.create(b.build(), name, &what)
    }

    pub fn set_up(&self, index: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).up().build();
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
        let msg = LinkUnspec::new_with_index(index).down().build();
        self.send_change(msg, format!("setting link #{index} down"))?;
        self.update_cached(index, |l| l.up = false);
        Ok(())
    }

    pub fn set_mac(&self, index: u32, mac: [u8; 6]) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index)
            .address(mac.to_vec())
            .build();
        self.send_change(
            msg,
            format!("setting MAC {} on link #{index}", fmt_mac(&mac)),
        )?;
        self.update_cached(index, |l| l.mac = Some(mac));
        Ok(())
    }

    pub fn set_mtu(&self, index: u32, mtu: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).mtu(mtu).build();
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
        let mut b = LinkUnspec::new_with_index(index);
        if let Some(on) = promisc {
            b = b.promiscuous(on);
        }
        if let Some(on) = allmulti {
            b = b.allmulticast(on);
        }
        if let Some(q) = txqlen {
            b = b.txqueuelen(q);
        }
        // promisc, allmulti and txqlen are not part of LinkInfo: the cache stays
        self.send_change(b.build(), format!("setting link flags on link #{index}"))
    }

    /// Delete a link; for a veth this removes both ends.
    pub fn delete_link(&self, index: u32) -> Result<()> {
        self.forget_links();
        self.rt()
            .block_on(self.handle().link().del(index).execute())
            .map_err(|e| kernel_error(e, format!("deleting link #{index}")))
    }

    /// Addresses on one link (with prefix length), IPv4 then IPv6.
    pub fn addresses(&self, index: u32) -> Result<Vec<IpNetwork>> {
        // With strict checking the kernel filters the dump by ifa_index;
        // the userspace filter is a second guard.
        let mut req = self.handle().address().get().set_link_index_filter(index);
        req.message_mut().header.index = index;
        let msgs = self.collect(req.execute(), format!("listing addresses of link #{index}"))?;
        Ok(msgs
            .iter()
            .filter(|m| m.header.index == index)
            .filter_map(parse_address)
            .collect())
    }

    /// Add an address. IPv6 addresses are added with IFA_F_NODAD: the
    /// addresses we assign are unique by construction (IPAM), and skipping
    /// duplicate address detection makes them usable at once instead of
    /// "tentative" for about a second.
    pub fn add_address(&self, index: u32, addr: IpNetwork) -> Result<()> {
        let mut req = self.handle().address().add(index, addr.ip(), addr.prefix());
        if addr.is_ipv6() {
            let msg = req.message_mut();
            msg.header.flags |= AddressHeaderFlags::Nodad;
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        self.rt()
            .block_on(req.execute())
            .map_err(|e| kernel_error(e, format!("adding address {addr} to link #{index}")))
    }

    pub fn del_address(&self, index: u32, addr: IpNetwork) -> Result<()> {
        let msg = address_message(index, addr);
        self.rt()
            .block_on(self.handle().address().del(msg).execute())
            .map_err(|e| kernel_error(e, format!("deleting address {addr} from link #{index}")))
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
        let msgs = self.collect(self.handle().route().get(msg).execute(), "listing routes")?;
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
        self.new_route(dest, gateway, oif, false)
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
        self.new_route(dest, gateway, oif, true)
    }

    fn new_route(
        &self,
        dest: IpNetwork,
        gateway: Option<IpAddr>,
        oif: Option<u32>,
        append: bool,
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
        let invalid = |e: &dyn fmt::Display| Error::invalid(format!("{what}: {e}"));
        let mut b = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(dest.network(), dest.prefix())
            .map_err(|e| invalid(&e))?;
        match gateway {
            Some(gw) => b = b.gateway(gw).map_err(|e| invalid(&e))?,
            None => b = b.scope(RouteScope::Link),
        }
        if let Some(oif) = oif {
            b = b.output_interface(oif);
        }
        if !append {
            return self
                .rt()
                .block_on(self.handle().route().add(b.build()).execute())
                .map_err(|e| kernel_error(e, &what));
        }
        use rtnetlink::packet_core::{
            NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
        };
        use rtnetlink::packet_route::RouteNetlinkMessage;
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewRoute(b.build()));
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND;
        let mut handle = self.handle().clone();
        self.rt().block_on(async move {
            let mut answers = handle.request(req).map_err(|e| kernel_error(e, &what))?;
            while let Some(msg) = answers.next().await {
                if let NetlinkPayload::Error(err) = msg.payload
                    && err.code.is_some()
                {
                    return Err(kernel_error(rtnetlink::Error::NetlinkError(err), &what));
                }
            }
            Ok(())
        })
    }

    /// Create a veth pair: `host_name` here, its peer `peer_name` born directly in
    /// the namespace `peer_netns` (an open /run/netns/... or /proc/PID/ns/net fd).
    /// Optional MTU for both ends and MAC for the peer. Returns the host end's index.
    pub fn create_veth(
        &self,
        host_name: &str,
        peer_name: &str,
        peer_netns: BorrowedFd<'_>,
        mtu: Option<u32>,
        peer_mac: Option<[u8; 6]>,
    ) -> Result<u32> {
        check_ifname(host_name)?;
        check_ifname(peer_name)?;
        let what = format!("creating veth {host_name} (peer {peer_name})");
        // LinkVeth's own peer() only names the peer: build the peer message
        // ourselves so it carries IFLA_NET_NS_FD, MTU and MAC.
        // One TX and one RX queue on both ends, said at creation: otherwise the
        // kernel creates one queue per CPU and then shrinks the registered
        // device to one (veth_init_queues -> netif_set_real_num_tx_queues),
        // which waits out an expedited RCU grace period per end, a wait that
        // grows with the size of the system (8 ms with 1500 veths here).
        let mut peer = LinkUnspec::new_with_name(peer_name)
            .setns_by_fd(peer_netns.as_raw_fd())
            .append_extra_attribute(LinkAttribute::NumTxQueues(1))
            .append_extra_attribute(LinkAttribute::NumRxQueues(1));
        let mut host = LinkVeth::new(host_name, peer_name)
            .append_extra_attribute(LinkAttribute::NumTxQueues(1))
            .append_extra_attribute(LinkAttribute::NumRxQueues(1));
        if let Some(mtu) = mtu {
            peer = peer.mtu(mtu);
            host = host.mtu(mtu);
        }
        if let Some(mac) = peer_mac {
            peer = peer.address(mac.to_vec());
        }
        let msg = host
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
            .build();
        self.create(msg, host_name, &what)
    }

    /// Enslave `index` to bridge `master`.
    pub fn set_master(&self, index: u32, master: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).controller(master).build();
        self.send_change(msg, format!("attaching link #{index} to bridge #{master}"))?;
        // the port: enslaved, hairpin off (a new bridge port's default); the
        // bridge may change (its MTU follows its ports): read it again
        self.cached_links().retain(|_, l| l.index != master);
        self.update_cached(index, |l| {
            l.master = Some(master);
            l.hairpin = Some(false);
        });
        Ok(())
    }

    /// Bridge-port hairpin mode on a port already enslaved.
    pub fn set_hairpin(&self, index: u32, on: bool) -> Result<()> {
        let msg = LinkBridgePort::new(index).hairpin(on).build();
        let state = if on { "on" } else { "off" };
        self.rt()
            .block_on(self.handle().link().set_port(msg).execute())
            .map_err(|e| {
                kernel_error(
                    e,
                    format!("setting hairpin {state} on bridge port #{index}"),
                )
            })?;
        self.update_cached(index, |l| l.hairpin = Some(on));
        Ok(())
    }

    /// Bridge-port isolation (`ip link set X type bridge_slave isolated on`):
    /// an isolated port talks to non-isolated ports (the bridge itself, the
    /// gateway) but not to other isolated ports.
    pub fn set_isolated(&self, index: u32, on: bool) -> Result<()> {
        let msg = LinkBridgePort::new(index).isolated(on).build();
        let state = if on { "on" } else { "off" };
        // isolation is not part of LinkInfo: the cache stays
        self.rt()
            .block_on(self.handle().link().set_port(msg).execute())
            .map_err(|e| {
                kernel_error(
                    e,
                    format!("setting isolated {state} on bridge port #{index}"),
                )
            })
    }
}
