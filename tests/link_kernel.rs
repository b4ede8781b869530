//! kernel::link against the real kernel, every step inside namespaces the
//! test creates (never the initial one): bridge, addresses, routes, a veth
//! whose peer is born in a second namespace, bridge port settings, errors.

mod common;

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsFd;

use common::NetNs;
use hostnet::kernel::link::Netlink;
use hostnet::kernel::netns::run_in;
use ipnetwork::IpNetwork;

const BR_MAC: [u8; 6] = [0x02, 0x42, 0x0a, 0x04, 0x00, 0x01];
const PEER_MAC: [u8; 6] = [0x02, 0x42, 0x0a, 0x04, 0x00, 0x02];

fn net(s: &str) -> IpNetwork {
    s.parse().expect("test network literal")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address literal")
}

/// A bridge `br-t` 10.4.0.1/24 + fd00:4::1/64, MAC pinned, MTU 1400, up.
/// Returns its index.
fn setup_bridge(nl: &Netlink) -> u32 {
    let br = nl.create_bridge("br-t", None).expect("create bridge");
    nl.set_mac(br, BR_MAC).expect("set mac");
    nl.set_mtu(br, 1400).expect("set mtu");
    nl.add_address(br, net("10.4.0.1/24")).expect("add v4");
    nl.add_address(br, net("fd00:4::1/64")).expect("add v6");
    nl.set_up(br).expect("set up");
    br
}

#[test]
fn bridge_is_created_down_then_configured() {
    let ns = NetNs::new("lkbr");
    let (br, before, after) = run_in(&ns.path(), || {
        let nl = Netlink::open()?;
        let br = nl.create_bridge("br-t", Some(1450))?;
        let before = nl.link("br-t")?;
        nl.set_mac(br, BR_MAC)?;
        nl.set_mtu(br, 1400)?;
        nl.set_up(br)?;
        let after = nl.link_by_index(br)?;
        Ok((br, before, after))
    })
    .expect("bridge in namespace");

    let before = before.expect("bridge exists after create");
    assert_eq!(before.index, br);
    assert_eq!(before.name, "br-t");
    assert_eq!(before.kind.as_deref(), Some("bridge"));
    assert_eq!(before.mtu, 1450);
    assert!(!before.up, "created down: {before:?}");
    assert_eq!(before.stp, Some(false));
    assert_eq!(before.master, None);

    let after = after.expect("bridge by index");
    assert_eq!(after.mac, Some(BR_MAC));
    assert_eq!(after.mtu, 1400);
    assert!(after.up);

    let shown = ns.ok(&["ip", "-d", "link", "show", "br-t"]);
    assert!(shown.contains("bridge forward_delay"), "{shown}");
    assert!(shown.contains("02:42:0a:04:00:01"), "{shown}");
    assert!(shown.contains("mtu 1400"), "{shown}");
    assert!(shown.contains(",UP") || shown.contains("<UP"), "{shown}");
}

#[test]
fn addresses_and_connected_routes() {
    let ns = NetNs::new("lkad");
    let (br, addrs, (v4, v6), routes, after_del) = run_in(&ns.path(), || {
        let nl = Netlink::open()?;
        let br = setup_bridge(&nl);
        let addrs = nl.addresses(br)?;
        let by_family = (
            nl.all_addresses_of(ip("192.0.2.1"))?,
            nl.all_addresses_of(ip("2001:db8::1"))?,
        );
        let routes = nl.routes()?;
        nl.del_address(br, net("10.4.0.1/24"))?;
        let after_del = nl.addresses(br)?;
        Ok((br, addrs, by_family, routes, after_del))
    })
    .expect("addresses in namespace");

    // a family's dump holds that family only, of every link
    assert!(v4.contains(&net("10.4.0.1/24")), "{v4:?}");
    assert!(v4.iter().all(|a| a.is_ipv4()), "{v4:?}");
    assert!(v6.contains(&net("fd00:4::1/64")), "{v6:?}");
    assert!(v6.iter().all(|a| a.is_ipv6()), "{v6:?}");

    assert!(addrs.contains(&net("10.4.0.1/24")), "{addrs:?}");
    assert!(addrs.contains(&net("fd00:4::1/64")), "{addrs:?}");
    // only this link's addresses (lo's 127.0.0.1 is not there)
    assert!(!addrs.iter().any(|a| a.ip().is_loopback()), "{addrs:?}");

    let connected = routes
        .iter()
        .find(|r| r.destination == net("10.4.0.0/24"))
        .unwrap_or_else(|| panic!("no connected route in {routes:?}"));
    assert_eq!(connected.oif, Some(br));
    assert_eq!(connected.gateway, None);
    assert_eq!(connected.prefsrc, Some(ip("10.4.0.1")));
    assert_eq!(connected.protocol, 2, "proto kernel");
    let connected6 = routes
        .iter()
        .find(|r| r.destination == net("fd00:4::/64"))
        .unwrap_or_else(|| panic!("no connected v6 route in {routes:?}"));
    assert_eq!(connected6.oif, Some(br));
    // local table routes (10.4.0.1/32 local) are not in the main table
    assert!(
        !routes.iter().any(|r| r.destination == net("10.4.0.1/32")),
        "{routes:?}"
    );

    assert!(!after_del.contains(&net("10.4.0.1/24")), "{after_del:?}");
    assert!(after_del.contains(&net("fd00:4::1/64")), "{after_del:?}");

    // IFA_F_NODAD: usable at once, never tentative
    let shown = ns.ok(&["ip", "-6", "addr", "show", "dev", "br-t"]);
    assert!(shown.contains("fd00:4::1/64"), "{shown}");
    assert!(shown.contains("nodad"), "{shown}");
    assert!(!shown.contains("tentative"), "{shown}");
}

#[test]
fn veth_peer_born_in_container_namespace() {
    let host = NetNs::new("lkvh");
    let ctr = NetNs::new("lkvc");
    let ctr_fd = File::open(ctr.path()).expect("open container netns");

    // as ADD makes it: born a port of the bridge, down, then hairpin and up
    let (br, veth, born, info) = run_in(&host.path(), || {
        let nl = Netlink::open()?;
        let br = setup_bridge(&nl);
        let veth = nl.create_veth(
            "veth0a1b2c3d",
            "eth0",
            ctr_fd.as_fd(),
            Some(1400),
            Some(PEER_MAC),
            Some(br),
        )?;
        let born = nl.link_by_index(veth)?;
        nl.set_hairpin(veth, true)?;
        nl.set_up(veth)?;
        let info = nl.link("veth0a1b2c3d")?;
        Ok((br, veth, born, info))
    })
    .expect("veth on the host side");

    let born = born.expect("host end exists when created");
    assert_eq!(
        (born.master, born.up, born.hairpin),
        (Some(br), false, Some(false)),
        "born on the bridge, down: {born:?}"
    );
    let info = info.expect("host end exists");
    assert_eq!(info.index, veth);
    assert_eq!(info.kind.as_deref(), Some("veth"));
    assert_eq!(info.master, Some(br));
    assert_eq!(info.mtu, 1400);
    assert!(info.up);
    assert_eq!(info.hairpin, Some(true), "{info:?}");

    // the peer is in the container namespace only, with its MAC and MTU
    let peer = host.ok(&["ip", "-n", &ctr.name, "link", "show", "eth0"]);
    assert!(peer.contains("02:42:0a:04:00:02"), "{peer}");
    assert!(peer.contains("mtu 1400"), "{peer}");
    // one queue per end, set at creation (no shrink, no RCU wait)
    for (ns, dev) in [(&host.name, "veth0a1b2c3d"), (&ctr.name, "eth0")] {
        let d = host.ok(&["ip", "-n", ns, "-d", "link", "show", dev]);
        assert!(d.contains("numtxqueues 1 numrxqueues 1"), "{dev}: {d}");
    }
    let host_links = host.ok(&["ip", "link"]);
    assert!(host_links.contains("veth0a1b2c3d@"), "{host_links}");
    assert!(!host_links.contains(" eth0@"), "{host_links}");

    let ports = host.ok(&["bridge", "-d", "link", "show", "dev", "veth0a1b2c3d"]);
    assert!(ports.contains("master br-t"), "{ports}");
    assert!(ports.contains("hairpin on"), "{ports}");

    // container side: address, up, default route via the gateway
    let ctr_routes = run_in(&ctr.path(), || {
        let nl = Netlink::open()?;
        let eth0 = nl.link("eth0")?.expect("eth0 in the container");
        assert_eq!(eth0.mac, Some(PEER_MAC));
        nl.add_address(eth0.index, net("10.4.0.2/24"))?;
        nl.set_up(eth0.index)?;
        nl.add_route(net("0.0.0.0/0"), Some(ip("10.4.0.1")), None)?;
        nl.add_address(eth0.index, net("fd00:4::2/64"))?;
        nl.add_route(net("::/0"), Some(ip("fd00:4::1")), Some(eth0.index))?;
        nl.routes()
    })
    .expect("container side");
    assert!(
        ctr_routes
            .iter()
            .any(|r| r.destination == net("0.0.0.0/0") && r.gateway == Some(ip("10.4.0.1"))),
        "{ctr_routes:?}"
    );
    assert!(
        ctr_routes
            .iter()
            .any(|r| r.destination == net("::/0") && r.gateway == Some(ip("fd00:4::1"))),
        "{ctr_routes:?}"
    );
    let shown = host.ok(&["ip", "-n", &ctr.name, "route"]);
    assert!(shown.contains("default via 10.4.0.1 dev eth0"), "{shown}");
    let shown6 = host.ok(&["ip", "-n", &ctr.name, "-6", "route"]);
    assert!(
        shown6.contains("default via fd00:4::1 dev eth0"),
        "{shown6}"
    );

    // the wire works: the container pings its gateway through the veth
    ctr.ok(&["ping", "-c", "1", "-W", "2", "10.4.0.1"]);

    // deleting the host end removes both ends
    run_in(&host.path(), || Netlink::open()?.delete_link(veth)).expect("delete veth");
    let host_links = host.ok(&["ip", "link"]);
    assert!(!host_links.contains("veth0a1b2c3d"), "{host_links}");
    let ctr_links = ctr.ok(&["ip", "link"]);
    assert!(!ctr_links.contains("eth0"), "{ctr_links}");
}

#[test]
fn missing_links_and_kernel_errors() {
    let host = NetNs::new("lker");
    let ctr = NetNs::new("lkec");
    let ctr_fd = File::open(ctr.path()).expect("open container netns");

    run_in(&host.path(), || {
        let nl = Netlink::open()?;
        assert_eq!(nl.link("nope")?, None);
        assert_eq!(nl.link("much-too-long-for-a-name")?, None);
        assert_eq!(nl.link_by_index(99999)?, None);

        let lo = nl.link("lo")?.expect("lo exists");
        assert_eq!(lo.kind, None);

        let br = nl.create_bridge("br-e", None)?;
        let again = nl.create_bridge("br-e", None).expect_err("bridge exists");
        assert_eq!(again.errno(), Some(libc::EEXIST), "{again}");
        assert!(again.msg.contains("creating bridge br-e"), "{again}");
        assert!(again.msg.contains("File exists"), "{again}");

        nl.create_veth("vethdup", "eth0", ctr_fd.as_fd(), None, None, None)?;
        // same host name
        let dup = nl
            .create_veth("vethdup", "eth1", ctr_fd.as_fd(), None, None, None)
            .expect_err("host end exists");
        assert_eq!(dup.errno(), Some(libc::EEXIST), "{dup}");
        assert!(dup.msg.contains("vethdup"), "{dup}");
        // same peer name in the container namespace
        let dup = nl
            .create_veth("vethother", "eth0", ctr_fd.as_fd(), None, None, None)
            .expect_err("peer exists");
        assert_eq!(dup.errno(), Some(libc::EEXIST), "{dup}");
        assert_eq!(nl.link("vethother")?, None, "nothing left half-made");

        let bad = nl
            .create_bridge("bad/name", None)
            .expect_err("invalid name");
        assert_eq!(bad.errno(), None);

        let gone = nl.delete_link(99999).expect_err("no such link");
        assert_eq!(gone.errno(), Some(libc::ENODEV), "{gone}");

        nl.add_address(br, net("10.9.0.1/24"))?;
        let dup = nl
            .add_address(br, net("10.9.0.1/24"))
            .expect_err("address exists");
        assert_eq!(dup.errno(), Some(libc::EEXIST), "{dup}");
        let missing = nl
            .del_address(br, net("10.9.9.9/24"))
            .expect_err("no such address");
        assert_eq!(missing.errno(), Some(libc::EADDRNOTAVAIL), "{missing}");

        // a gateway nobody can reach
        let unreachable = nl
            .add_route(net("0.0.0.0/0"), Some(ip("192.0.2.1")), None)
            .expect_err("gateway unreachable");
        assert_eq!(
            unreachable.errno(),
            Some(libc::ENETUNREACH),
            "{unreachable}"
        );
        let mixed = nl
            .add_route(net("0.0.0.0/0"), Some(ip("fd00::1")), None)
            .expect_err("mixed families");
        assert_eq!(mixed.errno(), None);
        Ok(())
    })
    .expect("error cases");
}

#[test]
fn links_lists_the_namespace() {
    let ns = NetNs::new("lkls");
    let links = run_in(&ns.path(), || {
        let nl = Netlink::open()?;
        nl.create_bridge("br-l", None)?;
        nl.links()
    })
    .expect("links");
    let names: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
    assert!(names.contains(&"lo"), "{names:?}");
    assert!(names.contains(&"br-l"), "{names:?}");
}

/// The host side of five CNI ADDs, each with a fresh connection: open +
/// create_veth + set_master + set_hairpin + set_up. Every port lands on the
/// bridge, up, hairpin on. (Their speed is measured by the benchmarks.)
#[test]
fn repeated_attaches_each_land_on_the_bridge() {
    let host = NetNs::new("lkth");
    let ctr = NetNs::new("lktc");
    let ctr_fd = File::open(ctr.path()).expect("open container netns");
    run_in(&host.path(), || {
        let setup = Netlink::open()?;
        let br = setup_bridge(&setup);
        drop(setup);
        for i in 0..5 {
            let peer = format!("eth{i}");
            let nl = Netlink::open()?;
            let veth = nl.create_veth(
                &format!("vetht{i:07}"),
                &peer,
                ctr_fd.as_fd(),
                None,
                None,
                None,
            )?;
            nl.set_master(veth, br)?;
            nl.set_hairpin(veth, true)?;
            nl.set_up(veth)?;
            let info = nl.link_by_index(veth)?.expect("the new port");
            assert_eq!(info.master, Some(br));
            assert!(info.up);
            assert_eq!(info.hairpin, Some(true));
        }
        Ok(())
    })
    .expect("attach");
    let ports = host.ok(&["bridge", "link", "show"]);
    assert_eq!(
        ports.lines().filter(|l| l.contains("vetht")).count(),
        5,
        "{ports}"
    );
    for i in 0..5 {
        ctr.ok(&["ip", "link", "show", &format!("eth{i}")]);
    }
}

/// This process's NETLINK_ROUTE sockets in the calling thread's namespace:
/// our socket fds (/proc/self/fd) listed in /proc/thread-self/net/netlink
/// with protocol 0 (the table lists a socket once it is bound, i.e. after
/// its first request).
fn route_sockets() -> usize {
    let mut ours = std::collections::HashSet::new();
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd") {
        let Ok(entry) = entry else { continue };
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy().into_owned();
        if let Some(inode) = target
            .strip_prefix("socket:[")
            .and_then(|s| s.strip_suffix(']'))
        {
            ours.insert(inode.to_string());
        }
    }
    let table = std::fs::read_to_string("/proc/thread-self/net/netlink").expect("netlink table");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            cols.len() >= 10 && cols[1] == "0" && ours.contains(cols[9])
        })
        .count()
}

#[test]
fn one_route_session_per_namespace_shared_by_threads_and_ended_with_run_in() {
    let a = NetNs::new("lksa");
    let b = NetNs::new("lksb");
    let (opened, shared, other, up, seen_from_b) = run_in(&a.path(), || {
        let before = route_sockets();
        let nl = Netlink::open()?;
        let again = Netlink::open()?;
        nl.links()?;
        again.links()?;
        let opened = route_sockets() - before;
        // another thread of the same namespace (as DEL's veth delete) uses
        // the same session
        let shared = std::thread::scope(|s| {
            s.spawn(|| {
                Netlink::open()?.links()?;
                Ok::<_, hostnet::error::Error>(route_sockets() - before)
            })
            .join()
            .expect("thread")
        })?;
        let br = nl.create_bridge("br-s", None)?;
        // a change through one handle is seen through the other (one cache)
        again.set_up(br)?;
        let up = nl.link("br-s")?.map(|l| l.up);
        // a second namespace: its own session on run_in's thread
        let (other, seen_from_b) = run_in(&b.path(), || {
            let nlb = Netlink::open()?;
            let seen = nlb.link("br-s")?.is_some();
            Ok((route_sockets(), seen))
        })?;
        Ok((opened, shared, other, up, seen_from_b))
    })
    .expect("sessions in namespaces");
    assert_eq!(opened, 1, "two opens in one namespace: one socket");
    assert_eq!(shared, 1, "a second thread in the namespace shares it");
    assert_eq!(other, 1, "the other namespace has its own socket");
    assert_eq!(up, Some(true), "the cached bridge follows set_up");
    assert!(
        !seen_from_b,
        "the other namespace's session sees its own links"
    );
    // run_in ended the sessions with their threads: nothing left open in b
    let left = run_in(&b.path(), || Ok(route_sockets())).expect("count in b");
    assert_eq!(
        left, 0,
        "run_in closes the namespace's session with its thread"
    );
}

/// The calling thread's network namespace, by (device, inode).
fn own_netns() -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata("/proc/thread-self/ns/net").expect("own netns");
    (m.dev(), m.ino())
}

#[test]
fn a_session_made_in_another_namespace_without_a_thread() {
    // what ADD's container side uses: the thread steps into the container
    // netns for the socket alone and comes back; the socket stays there
    let host = NetNs::new("lkoh");
    let ctr = NetNs::new("lkoc");
    ctr.ok(&["ip", "link", "add", "only-in-c", "type", "bridge"]);
    let (inside, here, back, refused, still) = run_in(&host.path(), || {
        let before = own_netns();
        let file = File::open(ctr.path()).expect("container netns file");
        let nl = Netlink::open_in(&file, &ctr.path())?;
        let inside = nl.link("only-in-c")?.is_some();
        let here = Netlink::open()?.link("only-in-c")?.is_some();
        let back = own_netns() == before;
        // a file that is no namespace: refused, and the thread never moved
        let not_ns = File::open("/proc/self/status").expect("a regular file");
        let refused = Netlink::open_in(&not_ns, std::path::Path::new("/proc/self/status")).is_err();
        let still = own_netns() == before;
        Ok((inside, here, back, refused, still))
    })
    .expect("sessions");
    assert!(
        inside,
        "the session made in the container netns sees its links"
    );
    assert!(!here, "the thread's own session does not");
    assert!(back, "the thread is back in its own namespace");
    assert!(refused, "setns into a regular file fails");
    assert!(still, "a failed step leaves the thread where it was");
}
