//! Lifecycle: reboots, crashes and power cuts never stop a container from
//! starting. The reboot story end to end (a new host namespace, the state dir
//! kept), a container whose netns died without DEL, unreadable state files of
//! every kind met by every command, a panic half way through ADD, and names
//! that cannot become file names.

#[path = "common/cni.rs"]
mod cni;
mod common;

use std::path::{Path, PathBuf};

use cni::{Attachment, HOST_OUT, OUTSIDE, PluginRun, World, result_ip};
use common::{NetNs, ask, stderr, stdout, udp_echo_peer_server, wire};
use serde_json::{Value, json};

fn ok<T>(r: Result<T, PluginRun>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what} ({}): {}\n{}", e.plugin, e.stdout, e.stderr))
}

/// `hostnet init` for the network the CNI config describes, so the state,
/// the conflist and the CNI config agree.
fn init_network(w: &World, name: &str, bridge: &str, subnet: &str) {
    w.host.hostnet_ok(&[
        "init", "--name", name, "--bridge", bridge, "--subnet", subnet,
    ]);
}

fn list(w: &World, name: &str, bridge: &str, subnet: &str) -> Value {
    World::conflist(name, "1.0.0", vec![w.plugin("hostnet", bridge, &[subnet])])
}

fn port(p: u16) -> Value {
    json!([{"hostPort": p, "containerPort": 80, "protocol": "udp"}])
}

fn check_clean(w: &World, what: &str) {
    let out = w.host.hostnet(&["check"]);
    assert!(
        out.status.success(),
        "{what}: hostnet check: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// The reboot of the issue: two containers with host ports, a static
/// mapping; the namespaces go (kernel state gone), the state dir stays, the
/// run dir stays too but belongs to the previous boot; `hostnet init` in a
/// fresh namespace. Then the same container comes back with its address, and
/// a new container takes the dead one's port and is reachable through it.
#[test]
fn reboot_with_the_run_dir_kept() {
    reboot_story(false);
}

/// The same with the run dir wiped, as tmpfs is at a reboot: the records
/// are gone, the leases name the address files to release.
#[test]
fn reboot_with_the_run_dir_wiped() {
    reboot_story(true);
}

fn reboot_story(wipe_run_dir: bool) {
    let mut w = World::new("rb");
    let (net, br, subnet) = ("hnr", "hnr0", "10.93.0.0/24");
    init_network(&w, net, br, subnet);
    let l = list(&w, net, br, subnet);
    let n1 = NetNs::new("rb1");
    let n2 = NetNs::new("rb2");
    let a1 = Attachment::new("rb-c1", &n1).port_mappings(port(8080));
    let a2 = Attachment::new("rb-c2", &n2).port_mappings(port(8081));
    let ip1 = result_ip(&ok(w.rt.add(&l, &a1), "ADD c1"), true);
    ok(w.rt.add(&l, &a2), "ADD c2");
    w.host
        .hostnet_ok(&["portmap", "add", "--proto", "udp", "9090", "10.93.0.250:80"]);

    // the reboot: every namespace gone, files kept; the run dir is from an
    // earlier boot (a run dir on disk, or tmpfs wiped: both must work)
    drop(n1);
    drop(n2);
    w.host.ns = NetNs::new("rbh");
    w.rt.host = w.host.ns.name.clone();
    // (the old pair's end in `outside` goes away asynchronously: a new name;
    // its address is flushed if it is still there, and gone with it if not)
    let _ = w.outside.run(&["ip", "addr", "flush", "dev", "down0"]);
    wire(
        &w.host.ns,
        "up0",
        &format!("{HOST_OUT}/24"),
        &w.outside,
        "down1",
        &format!("{OUTSIDE}/24"),
    );
    std::fs::write(w.host.state_dir().join("boot_id"), "an-earlier-boot\n").expect("boot id");
    if wipe_run_dir {
        std::fs::remove_dir_all(w.host.run_dir()).expect("wipe the run dir");
    }
    let out = w.host.hostnet_ok(&["init"]);
    for key in ["rb-c1", "rb-c2"] {
        assert!(
            out.lines()
                .any(|l| l.contains("released") && l.contains(key)),
            "init says it released {key}:\n{out}"
        );
    }
    let elements = w.port_elements();
    assert!(
        elements.contains("9090"),
        "static mapping restored:\n{elements}"
    );
    assert!(
        !elements.contains("8080") && !elements.contains("8081"),
        "dead containers' mappings not restored:\n{elements}"
    );
    assert!(w.records(net).is_empty(), "no record of the previous boot");
    let index = w.host.run_dir().join("containers");
    assert!(
        !index.join("rb-c1").exists() && !index.join("rb-c2").exists(),
        "nor an index entry"
    );
    assert!(
        w.ip_files(net).is_empty(),
        "dead containers' addresses released"
    );
    check_clean(&w, "after the boot");
    let ls = w.host.hostnet_ok(&["portmap", "ls"]);
    assert!(
        ls.contains("9090") && !ls.contains("8081"),
        "portmap ls:\n{ls}"
    );

    // a new container asks for the dead c2's port, and is reachable there
    let n3 = NetNs::new("rb3");
    let a3 = Attachment::new("rb-c3", &n3).port_mappings(port(8081));
    ok(
        w.rt.add(&l, &a3),
        "ADD of a new container on a dead one's port",
    );
    udp_echo_peer_server(&n3, 80);
    assert!(
        ask(&w.outside, "udp", HOST_OUT, 8081).is_some(),
        "outside -> host:8081 reaches the new container"
    );
    // c1 comes back (same id, a new netns): same address, its port again
    let n1b = NetNs::new("rb1b");
    let a1b = Attachment::new("rb-c1", &n1b).port_mappings(port(8080));
    let ip1b = result_ip(&ok(w.rt.add(&l, &a1b), "ADD c1 again"), true);
    assert_eq!(ip1b, ip1, "the same address back");
    check_clean(&w, "after the containers came back");
    ok(w.rt.del(&l, &a1b), "DEL c1");
    ok(w.rt.del(&l, &a3), "DEL c3");
    w.host
        .hostnet_ok(&["portmap", "del", "--proto", "udp", "9090"]);
    w.assert_nothing_attached(net);
}

/// A container's netns died without DEL (containerd killed, a crash): the
/// next ADD of the same id + ifname releases the stale record and attaches
/// afresh with the same address; a live record still refuses.
#[test]
fn stale_record_is_replaced_with_the_same_ip() {
    let w = World::new("st");
    let (net, br, subnet) = ("hns", "hns0", "10.94.0.0/24");
    let l = list(&w, net, br, subnet);
    let n1 = NetNs::new("st1");
    let a1 = Attachment::new("st-c1", &n1).port_mappings(port(8080));
    let ip1 = result_ip(&ok(w.rt.add(&l, &a1), "ADD"), true);
    let again = w.rt.add(&l, &a1).expect_err("a live record refuses");
    assert_eq!(again.code(), 101, "{}", again.msg());
    // another container came and went meanwhile: round robin moves on
    let nx = NetNs::new("stx");
    let ax = Attachment::new("st-x", &nx);
    ok(w.rt.add(&l, &ax), "ADD x");
    ok(w.rt.del(&l, &ax), "DEL x");
    drop(n1);
    let n1b = NetNs::new("st1b");
    let a1b = Attachment::new("st-c1", &n1b).port_mappings(port(8080));
    let ip1b = result_ip(&ok(w.rt.add(&l, &a1b), "ADD over a stale record"), true);
    assert_eq!(ip1b, ip1, "the same address back");
    assert_eq!(w.host_veths().len(), 1, "the stale veth is gone");
    assert_eq!(w.ip_files(net).len(), 1, "one address file");
    check_clean(&w, "after the re-ADD");
    ok(w.rt.del(&l, &a1b), "DEL");
    w.assert_nothing_attached(net);
}

/// The pool is full, but some addresses belong to containers that died
/// without DEL (no live attachment): a new container gets one of them.
#[test]
fn full_pool_reclaims_addresses_of_dead_containers() {
    let w = World::new("fp");
    let (net, br, subnet) = ("hnf", "hnf0", "10.95.0.0/29"); // .2-.6 usable
    let l = list(&w, net, br, subnet);
    let mut keep = Vec::new();
    for i in 0..5 {
        let n = NetNs::new(&format!("fp{i}"));
        ok(
            w.rt.add(&l, &Attachment::new(&format!("fp-{i}"), &n)),
            "ADD",
        );
        keep.push(n);
    }
    let nz = NetNs::new("fpz");
    let full =
        w.rt.add(&l, &Attachment::new("fp-z", &nz))
            .expect_err("full");
    assert_eq!(full.code(), 102, "{}", full.msg());
    // fp-3 dies without DEL
    keep.remove(3);
    let r = ok(
        w.rt.add(&l, &Attachment::new("fp-z", &nz)),
        "ADD when a dead one's address is reclaimable",
    );
    assert_eq!(result_ip(&r, true), "10.95.0.5");
}

struct Kind {
    name: &'static str,
    path: fn(&World) -> PathBuf,
}

const NET: &str = "hnc";

fn kinds() -> Vec<Kind> {
    vec![
        Kind {
            name: "network record",
            path: |w| {
                w.host
                    .state_dir()
                    .join("networks")
                    .join(format!("{NET}.json"))
            },
        },
        Kind {
            name: "sysctl record",
            path: |w| w.host.state_dir().join("sysctl-before.json"),
        },
        Kind {
            name: "static port claim",
            path: |w| w.host.state_dir().join("ports/udp-9090.json"),
        },
        Kind {
            name: "container port claim",
            path: |w| w.host.run_dir().join("ports/udp-8080.json"),
        },
        Kind {
            name: "attachment record",
            path: |w| {
                w.host
                    .run_dir()
                    .join("attachments")
                    .join(NET)
                    .join("cc-1-eth0.json")
            },
        },
        Kind {
            name: "address lease",
            path: |w| {
                w.host
                    .state_dir()
                    .join("leases")
                    .join(NET)
                    .join("cc-1-eth0.json")
            },
        },
    ]
}

fn corrupt(path: &Path, variant: usize) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let bad: Vec<u8> = match variant {
        0 => Vec::new(),
        1 => bytes[..bytes.len() / 2].to_vec(),
        _ => b"\x00\xffnot json at all".to_vec(),
    };
    std::fs::write(path, bad).expect("corrupt");
}

fn set_aside(path: &Path) -> bool {
    let dir = path.parent().expect("parent");
    let name = path.file_name().and_then(|n| n.to_str()).expect("name");
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten().any(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&format!("{name}.corrupt-")))
            })
        })
        .unwrap_or(false)
}

const COMMANDS: [&str; 5] = ["init", "ADD", "DEL", "check", "portmap ls"];

/// One world: init, a container with a port, a static mapping; the file of
/// `kind` made unreadable (`variant`); then `first` meets it, and every
/// other command after it. Each must succeed, the file be set aside, and
/// in the end nothing leaks.
fn scenario(kind: &Kind, variant: usize, first: &str) {
    let w = World::new("cs");
    let (br, subnet) = ("hnc0", "10.96.0.0/24");
    w.host
        .hostnet_ok(&["init", "--name", NET, "--bridge", br, "--subnet", subnet]);
    let l = list(&w, NET, br, subnet);
    let n1 = NetNs::new("cs1");
    let n2 = NetNs::new("cs2");
    let a1 = Attachment::new("cc-1", &n1).port_mappings(port(8080));
    let a2 = Attachment::new("cc-2", &n2).port_mappings(port(8081));
    ok(w.rt.add(&l, &a1), "ADD 1");
    w.host
        .hostnet_ok(&["portmap", "add", "--proto", "udp", "9090", "10.96.0.250:80"]);
    let path = (kind.path)(&w);
    corrupt(&path, variant);
    let what = |cmd: &str| format!("{} ({variant}) met first by {first}: {cmd}", kind.name);
    let mut order = vec![first];
    order.extend(COMMANDS.iter().filter(|c| **c != first));
    let mut c1_gone = false;
    for cmd in order {
        match cmd {
            "init" => {
                w.host.hostnet_ok(&["init"]);
            }
            "ADD" => {
                ok(w.rt.add(&l, &a2), &what("ADD"));
            }
            "DEL" => {
                ok(w.rt.del(&l, &a1), &what("DEL"));
                c1_gone = true;
                assert_eq!(
                    w.host_veths().len(),
                    usize::from(w.rt.cached(&l, &a2).is_some()),
                    "{}: c1's veth gone",
                    what("DEL")
                );
            }
            "check" => {
                // the first command may only set the file aside; init repairs
                if cmd == first {
                    let _ = w.host.hostnet(&["check"]);
                    w.host.hostnet_ok(&["init"]);
                }
                if kind.name == "attachment record" && !c1_gone {
                    // c1's record is lost: what it held is a leftover for
                    // gc until its DEL finds it
                    let out = w.host.hostnet(&["check"]);
                    assert!(
                        stdout(&out).contains("claimed by container cc-1"),
                        "{}: {}",
                        what("check"),
                        stdout(&out)
                    );
                } else {
                    check_clean(&w, &what("check"));
                }
            }
            _ => {
                let ls = w.host.hostnet_ok(&["portmap", "ls"]);
                assert!(
                    ls.contains("9090"),
                    "{}: static mapping listed:\n{ls}",
                    what("ls")
                );
            }
        }
    }
    // a lease is read only by an ADD or DEL without a live record: DEL with
    // the record there removes it unread
    assert!(
        set_aside(&path) || !path.exists() || kind.name == "address lease",
        "{}: the file is set aside",
        kind.name
    );
    let ls = w.host.hostnet_ok(&["portmap", "ls"]);
    assert!(
        ls.contains("8081"),
        "{}: c2's mapping listed:\n{ls}",
        kind.name
    );
    ok(w.rt.del(&l, &a2), "DEL 2");
    w.host
        .hostnet_ok(&["portmap", "del", "--proto", "udp", "9090"]);
    w.host.hostnet_ok(&["init"]);
    w.assert_nothing_attached(NET);
}

fn every_command_survives(kind_index: usize) {
    let kind = &kinds()[kind_index];
    for (i, first) in COMMANDS.iter().enumerate() {
        scenario(kind, i % 3, first);
    }
}

#[test]
fn unreadable_network_record() {
    every_command_survives(0);
}

#[test]
fn unreadable_sysctl_record() {
    every_command_survives(1);
}

#[test]
fn unreadable_static_port_claim() {
    every_command_survives(2);
}

#[test]
fn unreadable_container_port_claim() {
    every_command_survives(3);
}

#[test]
fn unreadable_attachment_record() {
    every_command_survives(4);
}

#[test]
fn unreadable_address_lease() {
    every_command_survives(5);
}

/// A panic half way through ADD (after the veth exists) rolls everything
/// back and still prints CNI error JSON.
#[test]
fn panic_in_add_rolls_back_and_prints_error_json() {
    let w = World::new("pn");
    let (net, br, subnet) = ("hnp", "hnp0", "10.97.0.0/24");
    let l = list(&w, net, br, subnet);
    let n1 = NetNs::new("pn1");
    let a1 = Attachment::new("pn-1", &n1).port_mappings(port(8080));
    let conf = World::single_conf(&l, Some(&a1));
    let bin = w.rt.find("hostnet");
    let env = vec![
        ("CNI_COMMAND", "ADD".to_string()),
        ("CNI_PATH", w.rt.cni_path.clone()),
        ("CNI_CONTAINERID", a1.container_id.clone()),
        ("CNI_NETNS", a1.netns.clone()),
        ("CNI_IFNAME", a1.ifname.clone()),
        ("HOSTNET_FAULT", "after-veth".to_string()),
    ];
    let run = w.rt.exec_env(&bin, &env, conf.to_string().as_bytes());
    assert_eq!(run.code(), 105, "{}", run.stderr);
    assert!(run.msg().contains("panicked"), "{}", run.msg());
    w.assert_nothing_attached(net);
    ok(w.rt.add(&l, &a1), "ADD after the panic");
    ok(w.rt.del(&l, &a1), "DEL");
    w.assert_nothing_attached(net);
}

/// A container id that cannot become a file name is refused up front (code
/// 4) by ADD, and DEL of it succeeds: nothing was ever attached under it.
#[test]
fn unusable_names_are_refused_and_del_is_a_no_op() {
    let w = World::new("nm");
    let (net, br, subnet) = ("hnn", "hnn0", "10.98.0.0/24");
    let l = list(&w, net, br, subnet);
    let n1 = NetNs::new("nm1");
    for id in ["a".repeat(250), "x".repeat(225), "bad/id".to_string()] {
        let a = Attachment::new(&id, &n1);
        let e = w.rt.add(&l, &a).expect_err("ADD refuses");
        assert_eq!(e.code(), 4, "{}", e.msg());
        ok(w.rt.del(&l, &a), "DEL of it is nothing to do");
    }
    // the longest id that fits works end to end
    let fits = "f".repeat(255 - 25 - 1 - 4 - 5);
    let a = Attachment::new(&fits, &n1);
    ok(w.rt.add(&l, &a), "ADD of the longest id");
    ok(w.rt.del(&l, &a), "DEL of the longest id");
    w.assert_nothing_attached(net);
}

/// `hostnet gc` releases every kind of leftover, found from the state and
/// the kernel alone; `check` reports each one first; `--dry-run` changes
/// nothing; `init` repairs a live attachment's drift (hairpin off, element
/// missing).
#[test]
fn gc_releases_leftovers_that_check_reports() {
    let w = World::new("gc");
    let (net, br, subnet) = ("hng", "hng0", "10.99.0.0/24");
    init_network(&w, net, br, subnet);
    let l = list(&w, net, br, subnet);
    let n1 = NetNs::new("gc1");
    let n2 = NetNs::new("gc2");
    let n3 = NetNs::new("gc3");
    let a1 = Attachment::new("gc-1", &n1).port_mappings(port(8080));
    let a2 = Attachment::new("gc-2", &n2).port_mappings(port(8081));
    let a3 = Attachment::new("gc-3", &n3).port_mappings(port(8082));
    ok(w.rt.add(&l, &a1), "ADD 1");
    ok(w.rt.add(&l, &a2), "ADD 2");
    ok(w.rt.add(&l, &a3), "ADD 3");
    check_clean(&w, "before");

    // drift of a live attachment: hairpin off, its element gone
    let veth3 = w.host_veths().into_iter().collect::<Vec<_>>();
    for v in &veth3 {
        w.host.ns.ok(&[
            "ip",
            "link",
            "set",
            v,
            "type",
            "bridge_slave",
            "hairpin",
            "off",
        ]);
    }
    w.host
        .ns
        .nft_element("delete", "hostports4_any", "{ udp . 8082 }");
    assert!(
        !w.host.hostnet(&["check"]).status.success(),
        "check sees drift"
    );
    let out = w.host.hostnet_ok(&["init"]);
    assert!(out.contains("set hairpin on"), "{out}");
    check_clean(&w, "init repaired the drift");

    // leftovers: c1's netns died without DEL (the kernel removes its veth
    // asynchronously: wait for that before comparing snapshots); c2's record was lost; a veth
    // on the bridge nobody owns; an address file of nobody; a dead writer's
    // temp file
    drop(n1);
    let mut tries = 0;
    while w.host_veths().len() != 2 {
        tries += 1;
        assert!(tries < 1000, "c1's veth never went away");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::fs::remove_file(
        w.host
            .run_dir()
            .join("attachments")
            .join(net)
            .join("gc-2-eth0.json"),
    )
    .expect("lose a record");
    // a veth attached by hand stays: it is not hostnet's to delete
    w.host.ns.ok(&[
        "ip", "link", "add", "manual0", "type", "veth", "peer", "name", "manual1",
    ]);
    w.host
        .ns
        .ok(&["ip", "link", "set", "manual0", "master", br]);
    std::fs::write(w.ipam_dir().join(net).join("10.99.0.200"), "ghost\r\neth0").expect("ghost");
    let tmp = w
        .host
        .state_dir()
        .join("networks/.tmp/hng.json.4194303.0123456789abcdef");
    std::fs::write(&tmp, "half").expect("temp");

    let check = w.host.hostnet(&["check"]);
    let text = stdout(&check);
    assert!(!check.status.success());
    for want in [
        "attachment hng/gc-1-eth0",
        "address 10.99.0.200",
        "claimed by container gc-2",
        "(gc-2)",
        "(container gc-2 eth0: no live attachment)",
        "4194303",
        // the lost record's entry in the per-container index
        "index entry",
    ] {
        assert!(text.contains(want), "check reports {want}:\n{text}");
    }
    let before = w.host.snapshot();
    let dry = w.host.hostnet_ok(&["gc", "--dry-run"]);
    assert!(
        dry.contains("would release attachment hng/gc-1-eth0"),
        "{dry}"
    );
    common::assert_same(&before, &w.host.snapshot(), "gc --dry-run changes nothing");
    let out = w.host.hostnet_ok(&["--json", "gc"]);
    let v: Value = serde_json::from_str(out.trim()).expect("gc --json");
    assert!(
        v["released"].as_array().is_some_and(|r| r.len() >= 7),
        "{v}"
    );
    assert!(!tmp.exists(), "temp file removed");
    let index = w.host.run_dir().join("containers");
    assert!(
        !index.join("gc-2").exists() && !index.join("gc-1").exists(),
        "the index entries of gc-1 (released) and gc-2 (record lost) went"
    );
    assert!(index.join("gc-3").join("hng:eth0").exists(), "gc-3's stays");
    check_clean(&w, "after gc");
    assert_eq!(w.host_veths().len(), 1, "only c3's veth is left");
    w.host.ns.ok(&["ip", "link", "show", "manual0"]);
    assert_eq!(w.ip_files(net).len(), 1, "only c3's address is left");
    assert_eq!(w.host.hostnet_ok(&["gc"]).trim(), "nothing to release");
    ok(w.rt.del(&l, &a3), "DEL 3");
    ok(w.rt.del(&l, &a2), "DEL 2 after gc");
    w.assert_nothing_attached(net);
}
