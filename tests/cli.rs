//! The command line as an admin and a script meet it: the exit-code table
//! (one case per code per command, each also with `--json`), JSON documents
//! for errors, closed pipes, completions, version, and golden outputs of
//! `status` and `portmap ls`.

#[path = "common/cni.rs"]
mod cni;
mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};

use cni::{Attachment, World};
use common::*;
use serde_json::{Value, json};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// hostnet with the host's dirs but `--netns` as given (no second --netns).
fn with_netns(h: &Host, netns: &str, args: &[&str]) -> Command {
    let mut c = Command::new(hostnet_bin());
    c.arg("--netns")
        .arg(netns)
        .arg("--state-dir")
        .arg(h.state_dir())
        .arg("--run-dir")
        .arg(h.run_dir())
        .arg("--cni-conf-dir")
        .arg(h.conf_dir())
        .args(args);
    c
}

/// hostnet with the host's netns and one of the directories replaced.
fn with_dirs(h: &Host, state: &str, run: &str, conf: &str, args: &[&str]) -> Command {
    let mut c = Command::new(hostnet_bin());
    c.arg("--netns")
        .arg(h.ns.path())
        .arg("--state-dir")
        .arg(state)
        .arg("--run-dir")
        .arg(run)
        .arg("--cni-conf-dir")
        .arg(conf)
        .args(args);
    c
}

/// Run `cmd` plain and with `--json`: both exit `code`; plain prints one line
/// on stderr; `--json` prints one JSON document on stdout that names the
/// error's kind and the same exit code.
fn expect_code(what: &str, mut make: impl FnMut(bool) -> Command, code: i32, kind: Option<&str>) {
    let out = run(&mut make(false));
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: exit {code}\nstdout: {}\nstderr: {}",
        stdout(&out),
        stderr(&out)
    );
    // (clap's usage errors come with a usage hint; ours are one line)
    if code != 0 && !stderr(&out).starts_with("error:") {
        assert_eq!(
            stderr(&out).trim_end().lines().count(),
            1,
            "{what}: one line on stderr: {}",
            stderr(&out)
        );
    }
    let out = run(&mut make(true));
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what} --json: {}",
        stderr(&out)
    );
    let text = stdout(&out);
    let doc: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{what} --json: one JSON document on stdout ({e}): {text:?}"));
    if let Some(kind) = kind {
        assert_eq!(doc["error"]["kind"], kind, "{what} --json: {doc}");
        assert_eq!(doc["exit_code"], code, "{what} --json: {doc}");
        assert!(
            doc["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {doc}"
        );
    } else {
        assert!(doc.get("error").is_none(), "{what} --json: {doc}");
    }
}

/// `h.command(args)` with `--json` appended when asked.
fn cmd<'a>(h: &'a Host, args: &'a [&'a str]) -> impl FnMut(bool) -> Command + 'a {
    move |json| {
        let mut c = h.command(args);
        if json {
            c.arg("--json");
        }
        c
    }
}

#[test]
fn exit_code_table() {
    let h = Host::new("exit");
    let blocker = TempDir::new("exitf");
    // a regular file where a directory is expected: every write under it fails
    std::fs::write(blocker.join("file"), b"").unwrap();
    let file_dir = blocker.join("file").join("sub");
    let file_dir = file_dir.to_str().unwrap();
    let (state, run_, conf) = (
        h.state_dir().to_str().unwrap().to_string(),
        h.run_dir().to_str().unwrap().to_string(),
        h.conf_dir().to_str().unwrap().to_string(),
    );
    let dirs = |s: &str, r: &str, c: &str, args: &[&str], json: bool| {
        let mut c = with_dirs(&h, s, r, c, args);
        if json {
            c.arg("--json");
        }
        c
    };
    let bad_ns = |args: &[&str], json: bool| {
        let mut c = with_netns(&h, "", args);
        if json {
            c.arg("--json");
        }
        c
    };

    // init: 1 (a file failure, rolled back), 0, 0 again (nothing to do), 2, 3
    expect_code(
        "init with an unwritable conf dir",
        |j| dirs(&state, &run_, file_dir, &["init"], j),
        1,
        Some("io"),
    );
    assert!(!h.ns.ok(&["ip", "-o", "link"]).contains("nerdctl0"));
    let out = h.hostnet(&["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    expect_code("init again", cmd(&h, &["init"]), 0, None);
    expect_code(
        "init bad subnet",
        cmd(&h, &["init", "--subnet", "10.4.0.0/33"]),
        2,
        Some("invalid"),
    );
    expect_code(
        "init on a bridge of another network",
        cmd(&h, &["init", "--name", "other", "--subnet", "10.9.0.0/24"]),
        3,
        Some("conflict"),
    );

    // portmap add: 0, 2, 3 (a taken port), 1 (the table is gone)
    // (the second run, with --json, is the same request: nothing to do)
    expect_code(
        "portmap add",
        cmd(&h, &["portmap", "add", "8080", "10.4.0.2:80"]),
        0,
        None,
    );
    assert!(
        h.ns.ruleset().contains("10.4.0.2"),
        "the mapping is in place"
    );
    expect_code(
        "portmap add bad port",
        cmd(&h, &["portmap", "add", "70000", "10.4.0.2:80"]),
        2,
        Some("invalid"),
    );
    expect_code(
        "portmap add taken port",
        cmd(&h, &["portmap", "add", "8080", "10.4.0.3:80"]),
        3,
        Some("conflict"),
    );
    // portmap del: 3 (unknown mapping), 2, 1 (the lock cannot be taken), 0
    expect_code(
        "portmap del unknown",
        cmd(&h, &["portmap", "del", "9999"]),
        3,
        Some("not_found"),
    );
    expect_code(
        "portmap del bad proto",
        cmd(&h, &["portmap", "del", "--proto", "icmp", "8080"]),
        2,
        Some("invalid"),
    );
    expect_code(
        "portmap del with an unusable run dir",
        |j| dirs(&state, file_dir, &conf, &["portmap", "del", "8080"], j),
        1,
        Some("io"),
    );
    // (del succeeds once; the --json run then finds nothing: run it by hand)
    let out = h.hostnet(&["portmap", "del", "--json", "8080"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(doc["removed"], 1, "{doc}");
    assert_eq!(doc["mappings"][0]["host_port"], 8080, "{doc}");

    // portmap ls: 0, 1 (state unreadable), 2 (usage)
    expect_code("portmap ls", cmd(&h, &["portmap", "ls"]), 0, None);
    expect_code(
        "portmap ls unreadable state",
        |j| dirs(file_dir, &run_, &conf, &["portmap", "ls"], j),
        1,
        Some("io"),
    );
    expect_code(
        "portmap ls bad option",
        cmd(&h, &["portmap", "ls", "--bogus"]),
        2,
        Some("invalid"),
    );

    // status: 0, 1, 2
    expect_code("status", cmd(&h, &["status"]), 0, None);
    expect_code(
        "status unreadable state",
        |j| dirs(file_dir, &run_, &conf, &["status"], j),
        1,
        Some("io"),
    );
    expect_code(
        "status empty netns",
        |j| bad_ns(&["status"], j),
        2,
        Some("invalid"),
    );

    // check: 0, 2, 1 (differences; its document is the report, not an error)
    expect_code("check", cmd(&h, &["check"]), 0, None);
    expect_code(
        "check empty netns",
        |j| bad_ns(&["check"], j),
        2,
        Some("invalid"),
    );
    h.ns.ok(&["nft", "delete", "table", "inet", "hostnet"]);
    let out = h.hostnet(&["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = h.hostnet(&["check", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_str(stdout(&out).trim()).expect("one document");
    assert_eq!(doc["ok"], false, "{doc}");
    assert!(
        doc["differences"][0].as_str().unwrap().contains("missing"),
        "{doc}"
    );

    // portmap add with the table gone: a kernel failure, 1, nothing recorded
    expect_code(
        "portmap add without a table",
        cmd(&h, &["portmap", "add", "8081", "10.4.0.2:80"]),
        1,
        Some("kernel"),
    );
    assert!(!h.state_dir().join("ports/tcp-8081.json").exists());

    // network create|ls|inspect|rm: 0, 2, 3 (exists, unknown), 1 (state unwritable)
    h.hostnet_ok(&["init"]);
    let out = h.hostnet(&["network", "create", "cx", "--subnet", "10.33.0.0/24"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    expect_code(
        "network create bad name",
        cmd(&h, &["network", "create", "-bad"]),
        2,
        Some("invalid"),
    );
    expect_code(
        "network create existing",
        cmd(&h, &["network", "create", "cx", "--subnet", "10.34.0.0/24"]),
        3,
        Some("conflict"),
    );
    expect_code(
        "network create with an unusable run dir",
        |j| dirs(&state, file_dir, &conf, &["network", "create", "cy"], j),
        1,
        Some("io"),
    );
    expect_code("network ls", cmd(&h, &["network", "ls"]), 0, None);
    expect_code(
        "network inspect unknown",
        cmd(&h, &["network", "inspect", "nosuch"]),
        3,
        Some("not_found"),
    );
    expect_code(
        "network rm unknown",
        cmd(&h, &["network", "rm", "nosuch"]),
        3,
        Some("not_found"),
    );
    expect_code(
        "network rm the default",
        cmd(&h, &["network", "rm", "bridge"]),
        2,
        Some("invalid"),
    );

    // teardown: 1 (the lock cannot be taken), 2, 0, 0 (nothing to do)
    expect_code(
        "teardown with an unusable run dir",
        |j| dirs(&state, file_dir, &conf, &["teardown"], j),
        1,
        Some("io"),
    );
    expect_code(
        "teardown empty netns",
        |j| bad_ns(&["teardown"], j),
        2,
        Some("invalid"),
    );
    expect_code("teardown", cmd(&h, &["teardown"]), 0, None);

    // version and completions: 0, 2
    expect_code("version", cmd(&h, &["version"]), 0, None);
    expect_code(
        "completions tcsh",
        cmd(&h, &["completions", "tcsh"]),
        2,
        Some("invalid"),
    );
}

/// Every command whose stdout goes to a pipe nobody reads (`| head -1` after
/// head exited) ends quietly by SIGPIPE: no panic, nothing on stderr.
#[test]
fn closed_stdout_ends_quietly() {
    let h = Host::new("pipe");
    h.hostnet_ok(&["init", "--subnet", "10.4.0.0/24", "--subnet", "fd00:4::/64"]);
    for i in 0..40 {
        h.hostnet_ok(&[
            "portmap",
            "add",
            &format!("{}", 9000 + 2 * i),
            &format!("10.4.0.{}:80", 2 + i),
        ]);
    }
    let listings: &[&[&str]] = &[
        &["status"],
        &["portmap", "ls"],
        &["check"],
        &["teardown", "--dry-run"],
        &["init", "--dry-run"],
        &["version"],
        &["completions", "bash"],
        &["--help"],
    ];
    for args in listings {
        for json in [false, true] {
            let mut args = args.to_vec();
            if json {
                args.push("--json");
            }
            // a pipe whose reading end is closed before hostnet starts
            let (reader, writer) = std::io::pipe().expect("pipe");
            drop(reader);
            let out = h
                .command(&args)
                .stdin(Stdio::null())
                .stdout(writer)
                .stderr(Stdio::piped())
                .output()
                .expect("run hostnet");
            assert_eq!(
                out.status.signal(),
                Some(libc::SIGPIPE),
                "{args:?}: ended by SIGPIPE ({}): {}",
                out.status,
                stderr(&out)
            );
            assert_eq!(stderr(&out), "", "{args:?}: quiet");

            // and as a user types it, under pipefail
            let line = h
                .command(&args)
                .get_args()
                .map(|a| format!("'{}'", a.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(" ");
            let script = format!(
                "set -o pipefail; '{}' {line} | head -1 >/dev/null",
                hostnet_bin().display()
            );
            let out = run(Command::new("bash").args(["-c", &script]));
            assert!(
                matches!(out.status.code(), Some(0) | Some(141)),
                "{args:?} | head -1: {} {}",
                out.status,
                stderr(&out)
            );
            assert!(
                !stderr(&out).contains("panic") && !stderr(&out).contains("Broken pipe"),
                "{args:?} | head -1: {}",
                stderr(&out)
            );
        }
    }
    h.hostnet_ok(&["teardown"]);
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef hostnet"),
        ("fish", "complete -c hostnet"),
    ] {
        let out = run(Command::new(hostnet_bin()).args(["completions", shell]));
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains(marker), "{shell}: {marker:?} in\n{text}");
        for word in ["portmap", "teardown", "json", "host-ip"] {
            assert!(text.contains(word), "{shell} completes {word}");
        }
    }
}

#[test]
fn version_names_cni_versions_and_kernel_features() {
    let ns = NetNs::new("ver");
    for args in [&["--version"][..], &["version"][..]] {
        let out = run(ns.command(&[hostnet_bin().to_str().unwrap()]).args(args));
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.starts_with(&format!("hostnet {}\n", env!("CARGO_PKG_VERSION"))),
            "{text}"
        );
        assert!(text.contains("CNI versions: 0.1.0, "), "{text}");
        assert!(text.contains("1.1.0"), "{text}");
        assert!(text.contains("nf_tables: yes"), "{text}");
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert!(
            text.contains(&format!("kernel: {}", release.trim())),
            "{text}"
        );
    }
    let out = run(ns
        .command(&[hostnet_bin().to_str().unwrap()])
        .args(["version", "--json"]));
    let doc: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(doc["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["nf_tables"], true);
    assert!(doc["cni_versions"].as_array().unwrap().len() >= 7);
}

/// Replace what differs run to run (veth names, MACs, temp paths) so the
/// output can be compared whole.
fn normalize(text: &str, w: &World) -> String {
    let mut t = text.to_string();
    for (i, veth) in w.host_veths().iter().enumerate() {
        t = t.replace(veth, &format!("{:X<12}", format!("VETH{i}")));
    }
    t = t.replace(w.host.dirs.str(), "DIR");
    // bridge ids: 8000.<mac>
    let re_id = |s: &str| -> String {
        s.split('\n')
            .map(|l| match l.find("8000.") {
                Some(i) if l.len() >= i + 17 => {
                    format!("{}8000.MACMACMACMAC{}", &l[..i], &l[i + 17..])
                }
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    re_id(&t)
}

#[test]
fn golden_status_and_portmap_ls() {
    let w = World::new("gold");
    let list = World::conflist(
        "gold",
        "1.0.0",
        vec![w.plugin("hostnet", "hng0", &["10.97.0.0/24", "fd00:97::/64"])],
    );
    let ctr = NetNs::new("goldc");
    let att = Attachment::new("0123456789abcdef0123", &ctr)
        .port_mappings(json!([{"hostPort": 8090, "containerPort": 80}]));
    w.rt.add(&list, &att)
        .unwrap_or_else(|e| panic!("ADD: {}{}", e.stdout, e.stderr));
    w.host.hostnet_ok(&[
        "portmap",
        "add",
        "--host-ip",
        "198.51.100.1",
        "--proto",
        "udp",
        "6000-6001",
        "10.97.0.50:60-61",
    ]);

    let status = normalize(&w.host.hostnet_ok(&["status"]), &w);
    let want = "\
bridge name     bridge id               STP enabled     interfaces
hng0            8000.MACMACMACMAC       no              VETH0XXXXXXX

Kernel IP routing table (managed subnets)
Destination                             Gateway         Genmask         Flags Iface
10.97.0.0                               0.0.0.0         255.255.255.0   U     hng0
fd00:97::                               ::              /64             U     hng0

net.ipv4.ip_forward = 1
net.ipv6.conf.all.forwarding = 1
nftables table inet hostnet: present
gateway mode of network gold (hng0): nat (the LAN reaches published ports only)
port mappings: 4

attachments: 1
container     network  ifname  address                     host veth     ports
0123456789ab  gold     eth0    10.97.0.2/24,fd00:97::2/64  VETH0XXXXXXX  8090->80/tcp (v4+v6)
";
    assert_eq!(status, want, "status:\n{status}");

    let ls = normalize(&w.host.hostnet_ok(&["portmap", "ls"]), &w);
    let want = "\
host ip           proto  host port     destination                   owner
0.0.0.0           tcp    8090          10.97.0.2:80                  0123456789abcdef0123
::                tcp    8090          [fd00:97::2]:80               0123456789abcdef0123
198.51.100.1      udp    6000-6001     10.97.0.50:60-61              static
";
    assert_eq!(ls, want, "portmap ls:\n{ls}");

    // JSON shapes: numbers as numbers, mappings and attachments in full
    let doc: Value = serde_json::from_str(&w.host.hostnet_ok(&["status", "--json"])).unwrap();
    assert_eq!(doc["ip_forward"], 1, "{doc}");
    assert_eq!(doc["ipv6_forwarding"], 1, "{doc}");
    assert_eq!(doc["table"], true);
    let maps = doc["port_mappings"].as_array().expect("mappings listed");
    assert_eq!(maps.len(), 4, "{doc}");
    assert!(maps.iter().any(|m| m["host_port"] == 8090
        && m["dest_ip"] == "fd00:97::2"
        && m["dest_port"] == 80
        && m["proto"] == "tcp"
        && m["owner"] == "0123456789abcdef0123"));
    let a = &doc["attachments"][0];
    assert_eq!(a["container_id"], "0123456789abcdef0123");
    assert_eq!(a["addresses"], json!(["10.97.0.2/24", "fd00:97::2/64"]));
    assert_eq!(a["ports"].as_array().unwrap().len(), 2, "{a}");
    assert_eq!(a["bridge"], "hng0", "{a}");
    assert_eq!(a["complete"], true, "{a}");

    let doc: Value =
        serde_json::from_str(&w.host.hostnet_ok(&["portmap", "ls", "--json"])).unwrap();
    assert_eq!(
        doc[2],
        json!({"host_ip": "198.51.100.1", "proto": "udp", "host_port": 6000,
               "host_port_end": 6001, "dest_ip": "10.97.0.50", "dest_port": 60,
               "dest_port_end": 61, "owner": "static"})
    );

    // confirmations name the host address
    let out = w.host.hostnet_ok(&[
        "portmap",
        "add",
        "--host-ip",
        "198.51.100.1",
        "--proto",
        "udp",
        "7000",
        "10.97.0.9:70",
    ]);
    assert_eq!(out, "mapped udp 198.51.100.1:7000 -> 10.97.0.9:70\n");
    let out = w
        .host
        .hostnet_ok(&["portmap", "add", "7001", "[fd00:97::9]:70"]);
    assert_eq!(out, "mapped tcp [::]:7001 -> [fd00:97::9]:70\n");
    let out = w.host.hostnet_ok(&[
        "portmap",
        "del",
        "--host-ip",
        "198.51.100.1",
        "--proto",
        "udp",
        "7000",
    ]);
    assert_eq!(out, "removed udp 198.51.100.1:7000\n");

    // the publish form nerdctl/Docker users type, next to the form above
    let out = w.host.hostnet_ok(&[
        "portmap",
        "add",
        "127.0.0.1:7100-7101:70-71/udp",
        "10.97.0.9",
    ]);
    assert_eq!(out, "mapped udp 127.0.0.1:7100-7101 -> 10.97.0.9:70-71\n");
    let out = w
        .host
        .hostnet_ok(&["portmap", "add", "[fd00:97::1]:7102:72", "fd00:97::9"]);
    assert_eq!(out, "mapped tcp [fd00:97::1]:7102 -> [fd00:97::9]:72\n");
    let ls = w.host.hostnet_ok(&["portmap", "ls"]);
    assert!(
        ls.contains("127.0.0.1         udp    7100-7101     10.97.0.9:70-71"),
        "{ls}"
    );
    assert!(
        ls.contains("fd00:97::1        tcp    7102          [fd00:97::9]:72"),
        "{ls}"
    );
    for bad in [
        &["portmap", "add", "7103:73", "10.97.0.9:73"][..],
        &["portmap", "add", "::1:7103:73", "fd00:97::9"][..],
        &[
            "portmap",
            "add",
            "--proto",
            "udp",
            "7103:73/tcp",
            "10.97.0.9",
        ][..],
    ] {
        let out = w.host.hostnet(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }

    // teardown --dry-run --json: one document; teardown leaves no file it made
    let doc: Value =
        serde_json::from_str(&w.host.hostnet_ok(&["teardown", "--dry-run", "--json"])).unwrap();
    assert_eq!(doc["dry_run"], true);
    assert!(!doc["actions"].as_array().unwrap().is_empty());
    w.host.hostnet_ok(&["teardown"]);
    let mut left: Vec<String> = Vec::new();
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                out.push(e.path().display().to_string());
                walk(&e.path(), out);
            }
        }
    }
    walk(&w.host.dirs.path, &mut left);
    left.sort();
    let left: Vec<String> = left
        .into_iter()
        .map(|p| p.replace(w.host.dirs.str(), "DIR"))
        .collect();
    // what stays: the record of the forwarding sysctls before hostnet (kept
    // while forwarding stays on) and the (empty) CNI conf dir the test made
    assert_eq!(
        left,
        ["DIR/state", "DIR/state/sysctl-before.json"],
        "teardown left files behind"
    );
}

/// A link that is not a bridge holding the bridge's name: the CLI's init
/// exits 3 (a clash with the host's state), a CNI ADD answers 101 (hostnet's
/// conflict code; the config is valid, so not 7) and STATUS 50 (the spec's
/// "cannot service ADD"), from the same check; nothing is left behind.
#[test]
fn a_non_bridge_with_the_bridge_name_is_a_conflict_everywhere() {
    let w = World::new("nonbr");
    w.host.ns.ok(&[
        "ip", "link", "add", "hnb0", "type", "veth", "peer", "name", "hnb0p",
    ]);
    let out = w.host.hostnet(&["init", "--bridge", "hnb0"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("hnb0 exists and is not a bridge"),
        "{}",
        stderr(&out)
    );

    let list = World::conflist(
        "nonbr",
        "1.1.0",
        vec![w.plugin("hostnet", "hnb0", &["10.98.0.0/24"])],
    );
    let ctr = NetNs::new("nonbrc");
    let att = Attachment::new("nonbr-1", &ctr);
    let add = w.rt.add(&list, &att).expect_err("ADD fails");
    assert_eq!(add.code(), 101, "{}", add.stdout);
    assert!(add.msg().contains("not a bridge"), "{}", add.msg());
    let status = w.rt.status(&list).expect_err("STATUS fails");
    assert_eq!(status.code(), 50, "{}", status.stdout);
    assert!(w.ip_files("nonbr").is_empty(), "no address left reserved");
    assert!(w.records("nonbr").is_empty(), "no record left");
}

/// The flow of the issue: init writes the conflist (here with an ipam
/// dataDir), a container comes and goes through CNI, then teardown: no
/// `last_reserved_ip.0`, lock or empty directory of hostnet's stays.
#[test]
fn teardown_after_containers_came_and_went_leaves_nothing() {
    let w = World::new("tdl");
    w.host.hostnet_ok(&[
        "init",
        "--name",
        "tdl",
        "--bridge",
        "hnt0",
        "--subnet",
        "10.99.0.0/24",
    ]);
    let path = w.host.conf_dir().join("nerdctl-tdl.conflist");
    let mut list: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    w.dirs_keys(&mut list["plugins"][0]);
    std::fs::write(&path, list.to_string()).unwrap();
    let ctr = NetNs::new("tdlc");
    let att = Attachment::new("tdl-1", &ctr);
    w.rt.add(&list, &att)
        .unwrap_or_else(|e| panic!("ADD: {}{}", e.stdout, e.stderr));
    w.rt.del(&list, &att)
        .unwrap_or_else(|e| panic!("DEL: {}{}", e.stdout, e.stderr));
    assert!(w.ipam_dir().join("tdl/last_reserved_ip.0").exists());
    let out = w.host.hostnet_ok(&["teardown"]);
    assert!(out.contains("last_reserved_ip.0"), "{out}");
    assert!(!w.ipam_dir().exists(), "the address directory went: {out}");
    assert!(
        !w.host.run_dir().exists(),
        "the lock and run dir went: {out}"
    );
    let mut left: Vec<String> = std::fs::read_dir(w.host.state_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["sysctl-before.json"], "{out}");
}
