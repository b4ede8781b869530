//! CNI plugin mode: DEL without a netns, in parallel, GC, STATUS, VERSION,
//! CHECK failures, tuning, a delegated IPAM plugin, legacy results, timing.

#[path = "common/cni.rs"]
mod cni;
mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cni::{Attachment, PluginRun, World, ping, result_ip};
use common::{NetNs, hostnet_bin, run};
use serde_json::{Value, json};

const NET: &str = "hnl";

fn list(w: &World, version: &str, subnet: &str) -> Value {
    World::conflist(NET, version, vec![w.plugin("hostnet", "hnl0", &[subnet])])
}

fn ok<T>(r: Result<T, PluginRun>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what} ({}): {}\n{}", e.plugin, e.stdout, e.stderr))
}

#[test]
fn del_without_netns_and_after_the_netns_is_gone() {
    let w = World::new("del");
    let l = list(&w, "1.0.0", "10.90.0.0/24");
    let c1 = NetNs::new("x1");
    let c2 = NetNs::new("x2");
    let a1 = Attachment::new("del-one", &c1)
        .port_mappings(json!([{"hostPort": 8080, "containerPort": 80}]));
    let a2 = Attachment::new("del-two", &c2)
        .port_mappings(json!([{"hostPort": 8081, "containerPort": 80, "protocol": "udp"}]));
    ok(w.rt.add(&l, &a1), "ADD 1");
    ok(w.rt.add(&l, &a2), "ADD 2");
    assert_eq!(w.host_veths().len(), 2);
    assert_eq!(w.ip_files(NET).len(), 2);

    // nerdctl's DEL: CNI_NETNS empty, no prevResult
    let mut nerdctl = a1.clone();
    nerdctl.netns = String::new();
    let conf = World::single_conf(&l, Some(&nerdctl));
    let run1 = w.rt.exec(
        "hostnet",
        "DEL",
        Some(&nerdctl),
        conf.to_string().as_bytes(),
    );
    assert!(
        run1.success,
        "DEL with empty CNI_NETNS: {}{}",
        run1.stdout, run1.stderr
    );
    assert!(
        run1.stdout.trim().is_empty(),
        "DEL prints nothing on success: {:?}",
        run1.stdout
    );

    // the container's netns vanished before DEL (its veth went with it)
    let path2 = a2.netns.clone();
    drop(c2);
    assert!(!std::path::Path::new(&path2).exists());
    ok(w.rt.del(&l, &a2), "DEL after the netns is gone");

    w.assert_nothing_attached(NET);
    // idempotent, and DEL of something never added succeeds
    ok(w.rt.del(&l, &a1), "DEL again");
    let ghost = Attachment::new("never-added", &c1);
    ok(w.rt.del(&l, &ghost), "DEL of an unknown container");
    w.assert_nothing_attached(NET);
}

#[test]
fn sixty_four_in_parallel() {
    let w = World::new("par");
    let l = list(&w, "1.1.0", "10.91.0.0/24");
    let n = 64;
    let netns: Vec<NetNs> = (0..n).map(|i| NetNs::new(&format!("p{i}"))).collect();
    let atts: Vec<Attachment> = netns
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            Attachment::new(&format!("par-{i}"), ns)
                .port_mappings(json!([{"hostPort": 20000 + i, "containerPort": 80}]))
        })
        .collect();
    let results: Vec<Result<Value, PluginRun>> = std::thread::scope(|s| {
        let handles: Vec<_> = atts.iter().map(|a| s.spawn(|| w.rt.add(&l, a))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("ADD thread"))
            .collect()
    });
    let mut ips = BTreeSet::new();
    for r in &results {
        let r = r
            .as_ref()
            .unwrap_or_else(|e| panic!("parallel ADD: {}\n{}", e.stdout, e.stderr));
        ips.insert(result_ip(r, true));
    }
    assert_eq!(ips.len(), n, "64 distinct addresses");
    assert_eq!(w.ip_files(NET).len(), n);
    assert_eq!(w.records(NET).len(), n);
    assert_eq!(w.host_veths().len(), n);
    assert_eq!(w.port_elements().matches("comment \"par-").count(), n);
    assert!(
        ping(&netns[0], ips.iter().last().expect("an ip")),
        "first reaches last"
    );

    let dels: Vec<Result<(), PluginRun>> = std::thread::scope(|s| {
        let handles: Vec<_> = atts.iter().map(|a| s.spawn(|| w.rt.del(&l, a))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("DEL thread"))
            .collect()
    });
    for d in dels {
        ok(d, "parallel DEL");
    }
    w.assert_nothing_attached(NET);
}

#[test]
fn gc_releases_everything_not_valid() {
    let w = World::new("gc");
    let l = list(&w, "1.1.0", "10.92.0.0/24");
    let ns: Vec<NetNs> = (0..4).map(|i| NetNs::new(&format!("g{i}"))).collect();
    let atts: Vec<Attachment> = ns
        .iter()
        .enumerate()
        .map(|(i, n)| {
            Attachment::new(&format!("gc-{i}"), n)
                .port_mappings(json!([{"hostPort": 9000 + i, "containerPort": 80}]))
        })
        .collect();
    for a in &atts {
        ok(w.rt.add(&l, a), "ADD");
    }
    // gc-3 "crashed": its record is lost, its address file and element stay
    let rec = w
        .host
        .run_dir()
        .join("attachments")
        .join(NET)
        .join("gc-3-eth0.json");
    std::fs::remove_file(&rec).expect("remove a record");
    // and a leftover address file of a container nobody knows
    std::fs::write(w.ipam_dir().join(NET).join("10.92.0.200"), "ghost\r\neth0")
        .expect("write a leftover");
    let err =
        w.rt.gc(
            &World::conflist(NET, "1.0.0", vec![l["plugins"][0].clone()]),
            &[],
        )
        .expect_err("GC needs 1.1.0");
    assert_eq!(err[0].code(), 1);

    if let Err(errs) = w.rt.gc(&l, &[("gc-0", "eth0")]) {
        panic!(
            "GC: {}",
            errs.iter()
                .map(|e| e.stdout.clone())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert_eq!(w.records(NET), vec!["gc-0-eth0.json".to_string()]);
    // the per-container index: gc-3's entry (its record lost) pruned too
    let index = w.host.run_dir().join("containers");
    for gone in ["gc-1", "gc-2", "gc-3"] {
        assert!(!index.join(gone).exists(), "{gone}'s index entry is gone");
    }
    assert!(index.join("gc-0").join(format!("{NET}:eth0")).exists());
    let left = w.ip_files(NET);
    assert_eq!(left.len(), 1, "only gc-0's address is left: {left:?}");
    let elements = w.port_elements();
    assert!(elements.contains("comment \"gc-0\""), "{elements}");
    for gone in ["gc-1", "gc-2", "gc-3"] {
        assert!(
            !elements.contains(&format!("\"{gone}\"")),
            "{gone}'s element is gone:\n{elements}"
        );
    }
    assert_eq!(
        w.host_veths().len(),
        2,
        "gc-0's veth and gc-3's (its netns still lives; GC may assume it is gone)"
    );
    ok(w.rt.check(&l, &atts[0]), "gc-0 is intact");
    ok(w.rt.del(&l, &atts[0]), "DEL gc-0");
    drop(ns);
    // the kernel tears a deleted netns (and gc-3's veth with it) down asynchronously
    for _ in 0..100 {
        if w.host_veths().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    w.assert_nothing_attached(NET);
}

#[test]
fn status_says_when_add_cannot_work() {
    let w = World::new("st");
    let mut p = w.plugin("hostnet", "hns0", &["10.93.0.0/24"]);
    p["ipam"]["ranges"][0][0]["rangeStart"] = json!("10.93.0.10");
    p["ipam"]["ranges"][0][0]["rangeEnd"] = json!("10.93.0.10");
    let l = World::conflist(NET, "1.1.0", vec![p]);
    ok(w.rt.status(&l), "STATUS on a fresh host");
    let c = NetNs::new("s1");
    let a = Attachment::new("st-1", &c);
    ok(w.rt.add(&l, &a), "ADD");
    let full = w.rt.status(&l).expect_err("the one address is taken");
    assert_eq!(full.code(), 50, "{}", full.stdout);
    let c2 = NetNs::new("s2");
    let exhausted =
        w.rt.add(&l, &Attachment::new("st-2", &c2))
            .expect_err("no address left");
    assert_eq!(exhausted.code(), 102, "{}", exhausted.stdout);
    // the table is gone while a container is attached: 51
    w.host.ns.ok(&["nft", "delete", "table", "inet", "hostnet"]);
    let limited = w.rt.status(&l).expect_err("table missing");
    assert_eq!(limited.code(), 51, "{}", limited.stdout);
    ok(w.rt.del(&l, &a), "DEL");
    // a non-bridge link with the bridge's name: 50
    w.host.ns.ok(&["ip", "link", "del", "hns0"]);
    w.host.ns.ok(&[
        "ip", "link", "add", "hns0", "type", "veth", "peer", "name", "hns0p",
    ]);
    let taken = w.rt.status(&l).expect_err("bridge name taken");
    assert_eq!(taken.code(), 50, "{}", taken.stdout);
    assert!(taken.msg().contains("not a bridge"), "{}", taken.msg());
    let older =
        w.rt.status(&World::conflist(
            NET,
            "1.0.0",
            vec![l["plugins"][0].clone()],
        ))
        .expect_err("STATUS needs 1.1.0");
    assert_eq!(older.code(), 1);
}

#[test]
fn version_answers_and_banner() {
    let host = NetNs::new("ver");
    let rt = cni::Runtime::new(&host);
    for asked in ["0.4.0", "1.1.0"] {
        let out = rt.exec(
            "hostnet",
            "VERSION",
            None,
            json!({"cniVersion": asked}).to_string().as_bytes(),
        );
        assert!(out.success, "{}", out.stderr);
        let v = out.json();
        assert_eq!(v["cniVersion"], asked);
        assert_eq!(
            v["supportedVersions"],
            json!([
                "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"
            ])
        );
    }
    // installed as `bridge`, the same answer
    let out = rt.exec("bridge", "VERSION", None, b"{\"cniVersion\":\"1.0.0\"}");
    assert_eq!(out.json()["cniVersion"], "1.0.0");
    // no CNI_COMMAND, no arguments: the banner on stderr, exit 0, stdout empty
    let out = run(std::process::Command::new(hostnet_bin()).env_remove("CNI_COMMAND"));
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(out.stdout.is_empty(), "{:?}", common::stdout(&out));
    let err = common::stderr(&out);
    assert!(
        err.contains(&format!(
            "CNI hostnet plugin v{}",
            env!("CARGO_PKG_VERSION")
        )),
        "{err}"
    );
    assert!(
        err.contains(
            "CNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0"
        ),
        "{err}"
    );
    // an unknown command is an env error in valid JSON
    let out = rt.exec("hostnet", "FROB", None, b"{\"cniVersion\":\"1.0.0\"}");
    assert_eq!(out.code(), 4);
}

#[test]
fn legacy_results_for_0_1_0_and_0_2_0() {
    let w = World::new("leg");
    for (i, version) in ["0.1.0", "0.2.0"].iter().enumerate() {
        let l = list(&w, version, "10.94.0.0/24");
        let c = NetNs::new("lg");
        let a = Attachment::new(&format!("legacy-{i}"), &c);
        let r = ok(w.rt.add(&l, &a), "ADD");
        assert_eq!(r["cniVersion"], *version);
        assert!(
            r.get("ips").is_none() && r.get("interfaces").is_none(),
            "legacy shape: {r}"
        );
        assert!(
            r["ip4"]["ip"]
                .as_str()
                .is_some_and(|ip| ip.starts_with("10.94.0.") && ip.ends_with("/24")),
            "{r}"
        );
        assert_eq!(r["ip4"]["gateway"], "10.94.0.1");
        assert_eq!(r["ip4"]["routes"][0]["dst"], "0.0.0.0/0");
        assert!(ping(&c, "10.94.0.1"));
        ok(w.rt.del(&l, &a), "DEL");
    }
    w.assert_nothing_attached(NET);
}

#[test]
fn check_names_what_is_missing() {
    let w = World::new("chk");
    let l = list(&w, "1.0.0", "10.95.0.0/24");
    let c = NetNs::new("k1");
    let a = Attachment::new("chk-1", &c)
        .port_mappings(json!([{"hostPort": 8080, "containerPort": 80}]));
    let r = ok(w.rt.add(&l, &a), "ADD");
    ok(w.rt.check(&l, &a), "CHECK right after ADD");
    c.ok(&["ip", "route", "del", "default"]);
    let e = w.rt.check(&l, &a).expect_err("route gone");
    assert_eq!(e.code(), 103);
    assert!(
        e.msg()
            .contains("route 0.0.0.0/0 via 10.95.0.1 dev eth0 is missing"),
        "{}",
        e.msg()
    );
    w.host
        .ns
        .ok(&["nft", "flush", "map", "inet", "hostnet", "hostports4_any"]);
    let veth = r["interfaces"][1]["name"].as_str().unwrap().to_string();
    w.host.ns.ok(&["ip", "link", "set", &veth, "nomaster"]);
    let e = w.rt.check(&l, &a).expect_err("more gone");
    let msg = e.msg();
    assert!(
        msg.contains(&format!("host veth {veth} is not attached to bridge hnl0")),
        "{msg}"
    );
    assert!(
        msg.contains("port mapping tcp/8080") && msg.contains("missing from nftables"),
        "{msg}"
    );
    // CHECK of a container never added: code 3
    let other = NetNs::new("k2");
    let e =
        w.rt.check(&l, &Attachment::new("chk-unknown", &other))
            .expect_err("unknown");
    assert_eq!(e.code(), 3);
    // CHECK is not in 0.3.1
    let e =
        w.rt.check(&list(&w, "0.3.1", "10.95.0.0/24"), &a)
            .expect_err("0.3.1 has no CHECK");
    assert_eq!(e.code(), 1);
    ok(w.rt.del(&l, &a), "DEL a broken attachment");
    w.assert_nothing_attached(NET);
}

#[test]
fn tuning_keys_are_applied_and_restored() {
    let w = World::new("tun");
    let mut p = w.plugin("hostnet", "hnl0", &["10.96.0.0/24"]);
    p["sysctl"] =
        json!({"net.ipv4.conf.eth0.arp_notify": "1", "net.ipv4.ip_unprivileged_port_start": "80"});
    p["mac"] = json!("02:11:22:33:44:55");
    p["mtu"] = json!(1400);
    p["txQLen"] = json!(2000);
    p["promisc"] = json!(true);
    let l = World::conflist(NET, "1.0.0", vec![p]);
    let c = NetNs::new("t1");
    let before = c.sysctl("net.ipv4.ip_unprivileged_port_start");
    let a = Attachment::new("tun-1", &c);
    let r = ok(w.rt.add(&l, &a), "ADD");
    assert_eq!(r["interfaces"][2]["mac"], "02:11:22:33:44:55", "{r}");
    let link = c.ok(&["ip", "-d", "link", "show", "eth0"]);
    for want in ["02:11:22:33:44:55", "mtu 1400", "qlen 2000", "PROMISC"] {
        assert!(link.contains(want), "{want}: {link}");
    }
    assert_eq!(c.sysctl("net.ipv4.conf.eth0.arp_notify"), "1");
    assert_eq!(c.sysctl("net.ipv4.ip_unprivileged_port_start"), "80");
    ok(w.rt.del(&l, &a), "DEL");
    assert_eq!(
        c.sysctl("net.ipv4.ip_unprivileged_port_start"),
        before,
        "restored by DEL"
    );
    // CNI_ARGS MAC wins over the config's mac
    let mut a2 = Attachment::new("tun-2", &c);
    a2.args = "IgnoreUnknown=1;MAC=02:aa:bb:cc:dd:ee;K8S_POD_NAME=x".into();
    let r = ok(w.rt.add(&l, &a2), "ADD with CNI_ARGS MAC");
    assert_eq!(
        r["interfaces"][2]["mac"], "02:aa:bb:cc:dd:ee",
        "CNI_ARGS MAC wins over the config's mac: {r}"
    );
    ok(w.rt.del(&l, &a2), "DEL");
}

#[test]
fn requested_ip_and_delegated_ipam() {
    let w = World::new("ipm");
    let l = list(&w, "1.0.0", "10.97.0.0/24");
    let c = NetNs::new("i1");
    let mut a = Attachment::new("ipm-1", &c);
    a.args = "IgnoreUnknown=1;IP=10.97.0.77".into();
    let r = ok(w.rt.add(&l, &a), "ADD with IP=");
    assert_eq!(result_ip(&r, true), "10.97.0.77");
    assert_eq!(
        std::fs::read_to_string(w.ipam_dir().join(NET).join("10.97.0.77")).expect("reservation"),
        "ipm-1\r\neth0"
    );
    ok(w.rt.del(&l, &a), "DEL");
    // the reference `static` IPAM plugin, exec'd from CNI_PATH
    let mut p = w.plugin("hostnet", "hnl0", &["10.97.0.0/24"]);
    p["ipam"] = json!({"type": "static", "addresses": [{"address": "10.97.0.50/24", "gateway": "10.97.0.1"}], "routes": [{"dst": "0.0.0.0/0"}]});
    let sl = World::conflist(NET, "1.0.0", vec![p]);
    let c2 = NetNs::new("i2");
    let a2 = Attachment::new("ipm-2", &c2);
    let r = ok(w.rt.add(&sl, &a2), "ADD with static IPAM");
    assert_eq!(result_ip(&r, true), "10.97.0.50");
    assert!(c2.ok(&["ip", "route"]).contains("default via 10.97.0.1"));
    assert!(ping(&c2, "10.97.0.1"));
    ok(w.rt.check(&sl, &a2), "CHECK with static IPAM");
    ok(w.rt.del(&sl, &a2), "DEL with static IPAM");
    w.assert_nothing_attached(NET);
}

#[test]
fn dual_stack_with_ipv6_mapping() {
    let w = World::new("v6");
    w.host.ns.ok(&[
        "ip",
        "addr",
        "add",
        "2001:db8:1::1/64",
        "dev",
        "up0",
        "nodad",
    ]);
    w.outside.ok(&[
        "ip",
        "addr",
        "add",
        "2001:db8:1::2/64",
        "dev",
        "down0",
        "nodad",
    ]);
    let l = World::conflist(
        NET,
        "1.1.0",
        vec![w.plugin("hostnet", "hnl6", &["10.98.0.0/24", "fd00:98::/64"])],
    );
    let c1 = NetNs::new("v1");
    let c2 = NetNs::new("v2");
    let a1 = Attachment::new("v6-1", &c1)
        .port_mappings(json!([{"hostPort": 8080, "containerPort": 80}]));
    let r1 = ok(w.rt.add(&l, &a1), "ADD 1");
    let r2 = ok(w.rt.add(&l, &Attachment::new("v6-2", &c2)), "ADD 2");
    let ip6_1 = result_ip(&r1, false);
    let ip6_2 = result_ip(&r2, false);
    assert!(ip6_1.starts_with("fd00:98::"), "{r1}");
    assert!(ping(&c1, "fd00:98::1"), "v6 gateway");
    assert!(ping(&c1, &ip6_2), "v6 c1 -> c2");
    // TCP6-LISTEN: dual-stack (TCP-LISTEN binds IPv4 only)
    let mut srv = c1
        .command(&[
            "socat",
            "TCP6-LISTEN:80,reuseaddr,fork",
            "SYSTEM:echo $SOCAT_PEERADDR",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn socat");
    common::wait_listening(&c1, "tcp", 80);
    let seen = common::ask(&w.outside, "tcp", "[2001:db8:1::1]", 8080);
    let _ = srv.kill();
    let _ = srv.wait();
    assert!(
        seen.is_some_and(|s| s.contains("2001:0db8:0001:0000:0000:0000:0000:0002")),
        "outside -> [host]:8080 over IPv6"
    );
    let table = w
        .host
        .ns
        .ok(&["nft", "list", "map", "inet", "hostnet", "hostports6_any"]);
    assert!(
        table.contains(&format!("tcp . 8080 comment \"v6-1\" : {ip6_1} . 80")),
        "{table}"
    );
    ok(w.rt.del(&l, &a1), "DEL 1");
    ok(w.rt.del(&l, &Attachment::new("v6-2", &c2)), "DEL 2");
    w.assert_nothing_attached(NET);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// 100 sequential ADDs then 100 DELs, each with a port mapping, all clean;
/// prints the medians for information (speed is the benchmarks' business:
/// `make bench` compares it with the peers).
#[test]
fn hundred_sequential_adds_and_dels() {
    let w = World::new("time");
    let l = list(&w, "1.0.0", "10.99.0.0/24");
    let n = 100;
    let netns: Vec<NetNs> = (0..n).map(|i| NetNs::new(&format!("t{i}"))).collect();
    let atts: Vec<Attachment> = netns
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            Attachment::new(&format!("time-{i}"), ns)
                .port_mappings(json!([{"hostPort": 30000 + i, "containerPort": 80}]))
        })
        .collect();
    let confs: Vec<Vec<u8>> = atts
        .iter()
        .map(|a| World::single_conf(&l, Some(a)).to_string().into_bytes())
        .collect();
    // `ip netns exec` costs more than the plugin: time the plugin itself via nsenter-free exec
    let bin = hostnet_bin();
    let mut adds = Vec::new();
    for (a, conf) in atts.iter().zip(&confs) {
        let env = env_of("ADD", a, &w.rt.cni_path);
        let t = Instant::now();
        let out = exec_in(&w.host.ns, &bin, &env, conf);
        adds.push(t.elapsed());
        assert!(
            out.success,
            "ADD {}: {}{}",
            a.container_id, out.stdout, out.stderr
        );
    }
    let mut dels = Vec::new();
    for (a, conf) in atts.iter().zip(&confs) {
        let mut a = a.clone();
        a.netns = String::new();
        let env = env_of("DEL", &a, &w.rt.cni_path);
        let t = Instant::now();
        let out = exec_in(&w.host.ns, &bin, &env, conf);
        dels.push(t.elapsed());
        assert!(
            out.success,
            "DEL {}: {}{}",
            a.container_id, out.stdout, out.stderr
        );
    }
    let (ma, md) = (median(adds), median(dels));
    eprintln!(
        "hostnet CNI: median ADD {:.2} ms, median DEL {:.2} ms over {n} sequential calls (incl. process start)",
        ma.as_secs_f64() * 1e3,
        md.as_secs_f64() * 1e3
    );
    w.assert_nothing_attached(NET);
}

fn env_of(command: &str, a: &Attachment, cni_path: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CNI_COMMAND", command.to_string()),
        ("CNI_CONTAINERID", a.container_id.clone()),
        ("CNI_NETNS", a.netns.clone()),
        ("CNI_IFNAME", a.ifname.clone()),
        ("CNI_PATH", cni_path.to_string()),
    ]
}

/// Run the plugin in `ns` through a pre-opened netns fd (no `ip netns exec`
/// remounting /sys), so the time is the plugin's own.
fn exec_in(ns: &NetNs, bin: &std::path::Path, env: &[(&str, String)], stdin: &[u8]) -> PluginRun {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let f = std::fs::File::open(ns.path()).expect("open netns");
    let fd = f.as_raw_fd();
    let mut cmd = Command::new(bin);
    cmd.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    for (k, v) in env {
        cmd.env(k, v);
    }
    // SAFETY: setns is async-signal-safe; it runs in the child between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn plugin");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin);
    }
    let out = child.wait_with_output().expect("wait plugin");
    drop(f);
    PluginRun {
        plugin: "hostnet".into(),
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `hostnet teardown` with containers still attached: their host veths (and
/// so the container ends), address files, records, port claims and elements
/// all go; nothing of another owner is touched.
#[test]
fn teardown_releases_attachments() {
    let w = World::new("tdn");
    let l = list(&w, "1.0.0", "10.91.0.0/24");
    let c1 = NetNs::new("y1");
    let c2 = NetNs::new("y2");
    let a1 = Attachment::new("tear-one", &c1)
        .port_mappings(json!([{"HostPort": 8080, "ContainerPort": 80, "Protocol": "tcp"}]));
    let a2 = Attachment::new("tear-two", &c2);
    ok(w.rt.add(&l, &a1), "ADD 1");
    ok(w.rt.add(&l, &a2), "ADD 2");
    let other = w.ipam_dir().join("other-net");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("10.92.0.2"), "someone\r\neth0").unwrap();
    let status = w.host.hostnet_ok(&["status"]);
    assert!(
        status.contains("attachments: 2") && status.contains("tear-one"),
        "{status}"
    );
    assert!(status.contains("8080->80/tcp"), "{status}");
    assert!(w.host.hostnet(&["check"]).status.success());

    w.host.hostnet_ok(&["teardown"]);
    assert!(w.host_veths().is_empty(), "host veths gone");
    assert!(
        !c1.ok(&["ip", "-o", "link"]).contains("eth0"),
        "the container end went with it"
    );
    assert!(w.ip_files(NET).is_empty(), "address files released");
    assert!(w.records(NET).is_empty(), "records removed");
    assert!(
        !w.host.run_dir().join("ports/tcp-8080.json").exists(),
        "port claims removed"
    );
    assert_eq!(
        w.host.ns.ok(&["nft", "list", "tables"]).trim(),
        "",
        "table removed"
    );
    assert!(
        other.join("10.92.0.2").exists(),
        "another network's reservation is left alone"
    );
    let status = w.host.hostnet_ok(&["status"]);
    assert!(status.contains("no networks"), "{status}");
}

/// `nft flush ruleset` (an nftables.service restart, firewalld) between two
/// ADDs: the next ADD, even one without port mappings, restores the table
/// with every persisted element, so masquerade and mappings come back.
#[test]
fn add_repairs_a_flushed_ruleset() {
    let w = World::new("flush");
    let l = list(&w, "1.0.0", "10.93.0.0/24");
    let c1 = NetNs::new("z1");
    let c2 = NetNs::new("z2");
    let a1 = Attachment::new("flush-one", &c1)
        .port_mappings(json!([{"HostPort": 8080, "ContainerPort": 80, "Protocol": "tcp"}]));
    ok(w.rt.add(&l, &a1), "ADD 1");
    let good = w.host.ns.ok(&["nft", "list", "table", "inet", "hostnet"]);
    w.host.ns.ok(&["nft", "flush", "ruleset"]);
    assert!(
        !w.host.hostnet(&["check"]).status.success(),
        "check sees the flush"
    );

    ok(
        w.rt.add(&l, &Attachment::new("flush-two", &c2)),
        "ADD 2, no ports",
    );
    let table = w.host.ns.ok(&["nft", "list", "table", "inet", "hostnet"]);
    assert_eq!(
        table, good,
        "the table is back, container 1's mapping included"
    );
    let check = w.host.hostnet(&["check"]);
    assert!(check.status.success(), "{}", common::stdout(&check));
}
