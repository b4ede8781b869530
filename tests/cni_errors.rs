//! CNI plugin mode: a corpus of malformed configurations and environments.
//! Each gets the right error code in valid error JSON (the only thing on
//! stdout) and leaves the host exactly as it was: ruleset, links and
//! addresses, routes, sysctls, state, IPAM and lock directories. The cases
//! that fail late (after addresses, ports or the veth were taken) prove the
//! rollback.

#[path = "common/cni.rs"]
mod cni;
mod common;

use cni::{Attachment, PluginRun, World, result_ip, settle};
use common::{NetNs, assert_same};
use serde_json::{Value, json};

const NET: &str = "hne";

struct Case {
    name: &'static str,
    code: u64,
    command: &'static str,
    stdin: Vec<u8>,
    /// (key, Some(value)) sets, (key, None) removes an environment variable.
    env: Vec<(&'static str, Option<String>)>,
    /// Run against this netns instead of the default fresh one.
    netns: Option<String>,
}

fn case(name: &'static str, code: u64, stdin: Vec<u8>) -> Case {
    Case {
        name,
        code,
        command: "ADD",
        stdin,
        env: Vec::new(),
        netns: None,
    }
}

fn with_env(mut c: Case, key: &'static str, value: Option<&str>) -> Case {
    c.env.push((key, value.map(str::to_string)));
    c
}

/// The base plugin config with one edit.
fn edit(base: &Value, f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v = base.clone();
    f(&mut v);
    v.to_string().into_bytes()
}

fn remove(v: &mut Value, key: &str) {
    v.as_object_mut().expect("object").remove(key);
}

fn run_case(w: &World, c: &Case, default_netns: &str) -> PluginRun {
    let mut env: Vec<(&str, Option<String>)> = vec![
        ("CNI_COMMAND", Some(c.command.to_string())),
        ("CNI_CONTAINERID", Some("bad-ctr".into())),
        (
            "CNI_NETNS",
            Some(c.netns.clone().unwrap_or_else(|| default_netns.to_string())),
        ),
        ("CNI_IFNAME", Some("eth0".into())),
        ("CNI_PATH", Some(w.rt.cni_path.clone())),
    ];
    for (k, v) in &c.env {
        env.retain(|(name, _)| name != k);
        env.push((k, v.clone()));
    }
    let env: Vec<(&str, String)> = env
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    w.rt.exec_env(&w.rt.find("hostnet"), &env, &c.stdin)
}

#[test]
fn malformed_inputs_fail_cleanly_and_change_nothing() {
    let w = World::new("err");
    let mut plugin = w.plugin("hostnet", "hne0", &["10.87.0.0/24"]);
    plugin["sysctl"] = json!({});
    let list = World::conflist(NET, "1.0.0", vec![plugin]);
    // one container attached with host port 8080, so clashes can be tried
    let good_ns = NetNs::new("good");
    let good = Attachment::new("good-ctr", &good_ns)
        .port_mappings(json!([{"hostPort": 8080, "containerPort": 80}]));
    let r =
        w.rt.add(&list, &good)
            .unwrap_or_else(|e| panic!("good ADD: {}{}", e.stdout, e.stderr));
    let good_ip = result_ip(&r, true);

    let target = NetNs::new("tgt");
    // a container that already has an eth0
    let taken = NetNs::new("tkn");
    taken.ok(&[
        "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p",
    ]);

    // the plugins run in the host namespace: these name it
    let host_netns = w.host.ns.path().to_string_lossy().into_owned();
    let links = common::TempDir::new("nslink");
    std::os::unix::fs::symlink(&host_netns, links.join("host")).expect("symlink");
    let host_link = links.join("host").to_string_lossy().into_owned();
    std::os::unix::fs::symlink(links.join("loop"), links.join("loop")).expect("symlink");
    let loop_link = links.join("loop").to_string_lossy().into_owned();
    std::os::unix::fs::symlink(links.join("gone"), links.join("dangling")).expect("symlink");
    let dangling_link = links.join("dangling").to_string_lossy().into_owned();
    let mut sleeper = w.host.ns.command(&["sleep", "600"]).spawn().expect("sleep");

    let mut base = Runtime::single(&list);
    base["runtimeConfig"] = json!({"portMappings": [{"hostPort": 9090, "containerPort": 80}]});
    let b = &base;
    let mapping = |m: Value| edit(b, |v| v["runtimeConfig"]["portMappings"] = json!([m]));
    let range = |key: &'static str, val: &'static str| {
        edit(b, move |v| v["ipam"]["ranges"][0][0][key] = json!(val))
    };
    let ok_conf = edit(b, |_| {});
    let version = |ver: &'static str| edit(b, move |v| v["cniVersion"] = json!(ver));

    let cases = vec![
        case("bad JSON", 6, b"{\"cniVersion\":".to_vec()),
        case("empty stdin", 6, Vec::new()),
        case("not an object", 6, b"[1,2]".to_vec()),
        case("missing name", 7, edit(b, |v| remove(v, "name"))),
        case(
            "name with a slash",
            7,
            edit(b, |v| v["name"] = json!("../../etc")),
        ),
        case("unknown cniVersion 0.5.0", 1, version("0.5.0")),
        case("cniVersion 2.0.0", 1, version("2.0.0")),
        case(
            "cniVersion not a string",
            6,
            edit(b, |v| v["cniVersion"] = json!(1)),
        ),
        case("missing type", 7, edit(b, |v| remove(v, "type"))),
        case("subnet /33", 7, range("subnet", "10.87.0.0/33")),
        case("subnet with host bits", 7, range("subnet", "10.87.0.5/24")),
        case("subnet not a CIDR", 7, range("subnet", "banana")),
        case(
            "rangeStart outside the subnet",
            7,
            range("rangeStart", "10.1.1.1"),
        ),
        case(
            "rangeEnd before rangeStart",
            7,
            edit(b, |v| {
                v["ipam"]["ranges"][0][0]["rangeStart"] = json!("10.87.0.50");
                v["ipam"]["ranges"][0][0]["rangeEnd"] = json!("10.87.0.40");
            }),
        ),
        case(
            "gateway outside the subnet",
            7,
            range("gateway", "10.1.1.1"),
        ),
        case("no ipam", 7, edit(b, |v| remove(v, "ipam"))),
        case(
            "ipam without ranges",
            7,
            edit(b, |v| v["ipam"] = json!({"type": "host-local"})),
        ),
        case(
            "two IPv4 range sets",
            2,
            edit(b, |v| {
                v["ipam"]["ranges"] =
                    json!([[{"subnet": "10.87.0.0/24"}], [{"subnet": "10.86.0.0/24"}]]);
            }),
        ),
        case("vlan", 2, edit(b, |v| v["vlan"] = json!(100))),
        case("ipMasq false", 2, edit(b, |v| v["ipMasq"] = json!(false))),
        case(
            "isGateway false",
            2,
            edit(b, |v| v["isGateway"] = json!(false)),
        ),
        case("mtu as a string", 6, edit(b, |v| v["mtu"] = json!("1500"))),
        case("mtu too small", 7, edit(b, |v| v["mtu"] = json!(10))),
        case(
            "bridge name too long",
            7,
            edit(b, |v| v["bridge"] = json!("abcdefghijklmnopq")),
        ),
        case(
            "route dst not a CIDR",
            7,
            edit(b, |v| v["ipam"]["routes"] = json!([{"dst": "nowhere"}])),
        ),
        case(
            "hostPort 0",
            7,
            mapping(json!({"hostPort": 0, "containerPort": 80})),
        ),
        case(
            "hostPort 70000",
            7,
            mapping(json!({"hostPort": 70000, "containerPort": 80})),
        ),
        case("containerPort missing", 7, mapping(json!({"hostPort": 81}))),
        case(
            "protocol icmp",
            7,
            mapping(json!({"hostPort": 81, "containerPort": 80, "protocol": "icmp"})),
        ),
        case(
            "hostIP not an address",
            7,
            mapping(json!({"hostPort": 81, "containerPort": 80, "hostIP": "1.2.3"})),
        ),
        case(
            "hostPort as a string",
            6,
            mapping(json!({"hostPort": "81", "containerPort": 80})),
        ),
        case(
            "hostIP 127.0.0.2",
            7,
            mapping(json!({"hostPort": 81, "containerPort": 80, "hostIP": "127.0.0.2"})),
        ),
        case(
            "hostIP ::1",
            7,
            mapping(json!({"hostPort": 81, "containerPort": 80, "hostIP": "::1"})),
        ),
        case(
            "hostIP fe80::1",
            7,
            mapping(json!({"hostPort": 81, "containerPort": 80, "hostIP": "fe80::1"})),
        ),
        case("subnet in 127.0.0.0/8", 7, range("subnet", "127.0.0.0/24")),
        case(
            "subnet in 169.254.0.0/16",
            7,
            range("subnet", "169.254.0.0/24"),
        ),
        case("subnet in 224.0.0.0/4", 7, range("subnet", "224.0.0.0/24")),
        case("subnet in 0.0.0.0/8", 7, range("subnet", "0.0.0.0/24")),
        case("subnet in 240.0.0.0/4", 7, range("subnet", "240.0.0.0/24")),
        case(
            "subnet fe80::/64",
            7,
            edit(b, |v| {
                v["ipam"]["ranges"] =
                    json!([[{"subnet": "10.87.0.0/24"}], [{"subnet": "fe80::/64"}]]);
            }),
        ),
        case(
            "bridge name needing shell quotes",
            7,
            edit(b, |v| v["bridge"] = json!("a;b")),
        ),
        case("bridge name ..", 7, edit(b, |v| v["bridge"] = json!(".."))),
        case(
            "sysctl outside net.*",
            7,
            edit(b, |v| v["sysctl"] = json!({"kernel.panic": "1"})),
        ),
        case(
            "bad runtimeConfig.mac",
            7,
            edit(b, |v| v["runtimeConfig"]["mac"] = json!("zz:zz")),
        ),
        with_env(
            case("container id ../../x", 4, ok_conf.clone()),
            "CNI_CONTAINERID",
            Some("../../x"),
        ),
        with_env(
            case("ifname too long", 4, ok_conf.clone()),
            "CNI_IFNAME",
            Some("abcdefghijklmnopq"),
        ),
        with_env(
            case("ifname with a slash", 4, ok_conf.clone()),
            "CNI_IFNAME",
            Some("a/b"),
        ),
        with_env(
            case("missing CNI_NETNS", 4, ok_conf.clone()),
            "CNI_NETNS",
            None,
        ),
        with_env(
            case("nonexistent netns", 3, ok_conf.clone()),
            "CNI_NETNS",
            Some("/run/netns/hostnet-no-such-netns"),
        ),
        with_env(
            case("CNI_NETNS a dangling symlink", 3, ok_conf.clone()),
            "CNI_NETNS",
            Some(&dangling_link),
        ),
        // there, but it cannot be opened: an I/O failure, not "unknown container"
        with_env(
            case("CNI_NETNS a symlink loop", 5, ok_conf.clone()),
            "CNI_NETNS",
            Some(&loop_link),
        ),
        // CNI_NETNS naming the plugin's own namespace (the host's), however
        // spelled: refused before anything changes (issue 8 item 4)
        with_env(
            case("CNI_NETNS /proc/self/ns/net", 4, ok_conf.clone()),
            "CNI_NETNS",
            Some("/proc/self/ns/net"),
        ),
        with_env(
            case("CNI_NETNS /proc/thread-self/ns/net", 4, ok_conf.clone()),
            "CNI_NETNS",
            Some("/proc/thread-self/ns/net"),
        ),
        with_env(
            case("CNI_NETNS /run/netns/<the host>", 4, ok_conf.clone()),
            "CNI_NETNS",
            Some(&host_netns),
        ),
        with_env(
            case("CNI_NETNS symlink to the host", 4, ok_conf.clone()),
            "CNI_NETNS",
            Some(&host_link),
        ),
        with_env(
            case(
                "CNI_NETNS /proc/PID/ns/net of a host process",
                4,
                ok_conf.clone(),
            ),
            "CNI_NETNS",
            Some(&format!("/proc/{}/ns/net", sleeper.id())),
        ),
        Case {
            command: "CHECK",
            ..with_env(
                case("CHECK with CNI_NETNS the host", 4, ok_conf.clone()),
                "CNI_NETNS",
                Some("/proc/self/ns/net"),
            )
        },
        with_env(
            case("CNI_NETNS a regular file", 4, ok_conf.clone()),
            "CNI_NETNS",
            Some("/etc/hostname"),
        ),
        with_env(
            case("missing CNI_CONTAINERID", 4, ok_conf.clone()),
            "CNI_CONTAINERID",
            None,
        ),
        with_env(
            case("missing CNI_IFNAME", 4, ok_conf.clone()),
            "CNI_IFNAME",
            None,
        ),
        with_env(
            case("unknown CNI_COMMAND", 4, ok_conf.clone()),
            "CNI_COMMAND",
            Some("FROB"),
        ),
        with_env(
            case("CNI_ARGS pair without =", 4, ok_conf.clone()),
            "CNI_ARGS",
            Some("IgnoreUnknown=1;IP"),
        ),
        with_env(
            case("CNI_ARGS IP outside the range", 7, ok_conf.clone()),
            "CNI_ARGS",
            Some("IP=10.9.9.9"),
        ),
        Case {
            command: "CHECK",
            ..case("CHECK in 0.3.1", 1, version("0.3.1"))
        },
        Case {
            command: "GC",
            ..case("GC in 1.0.0", 1, ok_conf.clone())
        },
        Case {
            command: "STATUS",
            ..case("STATUS in 0.4.0", 1, version("0.4.0"))
        },
        // late failures: something was taken and must be given back
        with_env(
            case(
                "duplicate ADD of the same container and ifname",
                101,
                ok_conf.clone(),
            ),
            "CNI_CONTAINERID",
            Some("good-ctr"),
        ),
        case(
            "host port mapped by another container",
            101,
            mapping(json!({"hostPort": 8080, "containerPort": 80})),
        ),
        with_env(
            case("requested address in use", 101, ok_conf.clone()),
            "CNI_ARGS",
            Some(&format!("IP={good_ip}")),
        ),
        Case {
            netns: Some(taken.path().to_string_lossy().into_owned()),
            ..case("ifname taken in the container", 101, ok_conf.clone())
        },
        case(
            "sysctl that does not exist",
            5,
            edit(b, |v| v["sysctl"] = json!({"net.ipv4.no_such_key": "1"})),
        ),
        case(
            "no address left",
            102,
            edit(b, |v| {
                v["ipam"]["ranges"][0][0]["rangeStart"] = json!(good_ip.clone());
                v["ipam"]["ranges"][0][0]["rangeEnd"] = json!(good_ip.clone());
            }),
        ),
        case(
            "delegated IPAM not in CNI_PATH",
            104,
            edit(b, |v| v["ipam"] = json!({"type": "no-such-ipam"})),
        ),
    ];
    assert!(cases.len() >= 30, "{} cases", cases.len());

    settle(&w.host.ns);
    let host_before = w.host.snapshot();
    let target_before = target.ok(&["ip", "-d", "link"]);
    let taken_before = taken.ok(&["ip", "-d", "link"]);
    let default_netns = target.path().to_string_lossy().into_owned();
    for c in &cases {
        let out = run_case(&w, c, &default_netns);
        assert!(!out.success, "{}: succeeded: {}", c.name, out.stdout);
        assert_eq!(
            out.stdout.trim().lines().count(),
            1,
            "{}: one JSON line on stdout: {:?}",
            c.name,
            out.stdout
        );
        let v: Value = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("{}: stdout is not JSON ({e}): {:?}", c.name, out.stdout));
        for key in ["cniVersion", "code", "msg", "details"] {
            assert!(
                v.get(key).is_some(),
                "{}: error JSON lacks {key}: {v}",
                c.name
            );
        }
        assert!(
            v["cniVersion"].as_str().is_some_and(|s| !s.is_empty()),
            "{}: {v}",
            c.name
        );
        assert_eq!(
            v["code"].as_u64(),
            Some(c.code),
            "{}: {v}\nstderr: {}",
            c.name,
            out.stderr
        );
        assert_same(
            &host_before,
            &w.host.snapshot(),
            &format!("{}: the host changed", c.name),
        );
        assert_eq!(
            target.ok(&["ip", "-d", "link"]),
            target_before,
            "{}: the container changed",
            c.name
        );
        assert_eq!(
            taken.ok(&["ip", "-d", "link"]),
            taken_before,
            "{}: the container changed",
            c.name
        );
    }
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    eprintln!(
        "{} malformed cases, each rejected with its code and no change",
        cases.len()
    );
    // the good container is still fine
    w.rt.check(&list, &good)
        .unwrap_or_else(|e| panic!("CHECK good: {}", e.stdout));
    w.rt.del(&list, &good)
        .unwrap_or_else(|e| panic!("DEL good: {}", e.stdout));
    w.assert_nothing_attached(NET);
}

struct Runtime;

impl Runtime {
    /// The one plugin's config as a runtime sends it (name, cniVersion in).
    fn single(list: &Value) -> Value {
        World::single_conf(list, None)
    }
}

/// DEL with CNI_NETNS naming the host and CNI_IFNAME naming a host link:
/// DEL goes by the record (none here), never by CNI_IFNAME on the host, so
/// it succeeds and nothing changes (the host's up0 stays).
#[test]
fn del_with_the_hosts_netns_changes_nothing() {
    let w = World::new("delh");
    let list = World::conflist(
        NET,
        "1.0.0",
        vec![w.plugin("hostnet", "hne1", &["10.87.1.0/24"])],
    );
    let ns = NetNs::new("delc");
    let att = Attachment::new("ctr-a", &ns);
    w.rt.add(&list, &att)
        .unwrap_or_else(|e| panic!("ADD: {}{}", e.stdout, e.stderr));
    settle(&w.host.ns);
    let before = w.host.snapshot();
    let conf = Runtime::single(&list).to_string().into_bytes();
    for netns in ["/proc/self/ns/net", &w.host.ns.path().to_string_lossy()] {
        let env = vec![
            ("CNI_COMMAND", "DEL".to_string()),
            ("CNI_CONTAINERID", "not-attached".to_string()),
            ("CNI_NETNS", netns.to_string()),
            ("CNI_IFNAME", "up0".to_string()),
            ("CNI_PATH", w.rt.cni_path.clone()),
        ];
        let out = w.rt.exec_env(&w.rt.find("hostnet"), &env, &conf);
        assert!(out.success, "DEL {netns}: {}{}", out.stdout, out.stderr);
        assert_same(
            &before,
            &w.host.snapshot(),
            &format!("DEL with CNI_NETNS={netns}"),
        );
    }
    w.rt.del(&list, &att)
        .unwrap_or_else(|e| panic!("DEL: {}{}", e.stdout, e.stderr));
    w.assert_nothing_attached(NET);
}
