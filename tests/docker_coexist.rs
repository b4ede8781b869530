//! Next to Docker: Docker's firewall (iptables-nft, `ip filter FORWARD`
//! policy DROP, made here with `iptables-nft` itself) drops forwarded packets
//! whatever hostnet's table says. hostnet inserts, at init and at each CNI
//! ADD, one accept rule per direction per bridge at the top of that chain, in
//! the form iptables-nft writes (so `iptables-nft -S`/`-save`/`-C` work), and
//! teardown removes exactly them; `init --docker-forward off` turns it off.
//! Every command runs inside namespaces the test owns.

#[path = "common/cni.rs"]
mod cni;
mod common;

use cni::{Attachment, HOST_OUT, OUTSIDE, World, result_ip};
use common::{NetNs, ask, assert_same};
use hostnet::kernel::netns::run_in;
use hostnet::kernel::nft::foreign::{self, Family};
use serde_json::{Value, json};

const NET: &str = "hnd";
const BRIDGE: &str = "hndbr0";
const SUBNET: &str = "10.89.0.0/24";
const GW: &str = "10.89.0.1";

/// What Docker's daemon leaves in `ip filter` and `ip6 filter` (the parts
/// that matter: FORWARD policy DROP, its own chains and rules), made with
/// iptables-nft / ip6tables-nft.
fn docker_firewall(ns: &NetNs) {
    for cmd in ["iptables-nft", "ip6tables-nft"] {
        ns.sh(&format!(
            "{cmd} -N DOCKER-USER && {cmd} -A DOCKER-USER -j RETURN && \
             {cmd} -N DOCKER && \
             {cmd} -A FORWARD -j DOCKER-USER && \
             {cmd} -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT && \
             {cmd} -A FORWARD -o docker0 -j DOCKER && \
             {cmd} -A FORWARD -i docker0 ! -o docker0 -j ACCEPT && \
             {cmd} -P FORWARD DROP"
        ));
    }
}

/// `nft list table FAMILY filter` without counter values (traffic changes them).
fn filter_table(ns: &NetNs, family: &str) -> String {
    let text = ns.ok(&["nft", "list", "table", family, "filter"]);
    text.lines()
        .map(|l| {
            let mut words: Vec<&str> = Vec::new();
            let mut it = l.split_whitespace();
            while let Some(w) = it.next() {
                if w == "packets" || w == "bytes" {
                    it.next();
                    continue;
                }
                words.push(w);
            }
            words.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The listing minus hostnet's rules (the lines naming the bridge).
fn without_ours(listing: &str) -> String {
    listing
        .lines()
        .filter(|l| !l.contains(&format!("\"{BRIDGE}\"")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `iptables-nft-save` (or ip6tables-nft-save): must exit 0; without the
/// timestamp comments and counters.
fn save(ns: &NetNs, cmd: &str) -> String {
    let out = ns.run(&[cmd]);
    assert!(
        out.status.success(),
        "{cmd} exit {}: {}",
        out.status,
        common::stderr(&out)
    );
    common::stdout(&out)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match l.find(" [") {
            Some(i) if l.starts_with(':') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn our_lines(bridge: &str) -> [String; 2] {
    [
        format!("-A FORWARD -i {bridge} -m comment --comment hostnet -j ACCEPT"),
        format!("-A FORWARD -o {bridge} -m comment --comment hostnet -j ACCEPT"),
    ]
}

/// `iptables-nft -S FORWARD` (and ip6tables-nft) exit 0 and list exactly
/// `count` copies of each of our two rules, at the top of the chain.
fn assert_listed(ns: &NetNs, count: usize) {
    for cmd in ["iptables-nft", "ip6tables-nft"] {
        let out = ns.run(&[cmd, "-S", "FORWARD"]);
        assert!(out.status.success(), "{cmd} -S: {}", common::stderr(&out));
        let text = common::stdout(&out);
        for line in our_lines(BRIDGE) {
            assert_eq!(
                text.lines().filter(|l| *l == line).count(),
                count,
                "{cmd} -S FORWARD, {line}:\n{text}"
            );
        }
        if count > 0 {
            // ours come before every rule of Docker's
            let lines: Vec<&str> = text.lines().collect();
            let last_ours = lines.iter().rposition(|l| l.contains("--comment hostnet"));
            let first_docker = lines
                .iter()
                .position(|l| l.contains("docker0") || l.contains("DOCKER"));
            assert!(
                first_docker.is_none() || last_ours < first_docker,
                "ours are above Docker's rules:\n{text}"
            );
            for flag in ["-i", "-o"] {
                let check = ns.run(&[
                    cmd,
                    "-C",
                    "FORWARD",
                    flag,
                    BRIDGE,
                    "-m",
                    "comment",
                    "--comment",
                    "hostnet",
                    "-j",
                    "ACCEPT",
                ]);
                assert!(
                    check.status.success(),
                    "{cmd} -C finds our {flag} rule identical to its own: {}",
                    common::stderr(&check)
                );
            }
        }
    }
}

fn plugin(w: &World) -> Value {
    let mut p = w.plugin("hostnet", BRIDGE, &[SUBNET]);
    p["ipam"]["ranges"][0][0]["gateway"] = json!(GW);
    World::conflist(NET, "1.0.0", vec![p])
}

fn init(w: &World, extra: &[&str]) -> String {
    let mut args = vec![
        "init",
        "--name",
        NET,
        "--bridge",
        BRIDGE,
        "--subnet",
        SUBNET,
        "--gateway",
        GW,
    ];
    args.extend_from_slice(extra);
    w.host.hostnet_ok(&args)
}

/// The byte-level proof: hostnet's rules, as the kernel dumps them, are the
/// rules `iptables-nft -I FORWARD -i/-o BR -m comment --comment hostnet -j
/// ACCEPT` makes, expression for expression (counters still at 0).
fn assert_same_bytes_as_iptables(ours: &NetNs) {
    let reference = NetNs::new("ipt");
    for cmd in ["iptables-nft", "ip6tables-nft"] {
        for flag in ["-o", "-i"] {
            reference.sh(&format!(
                "{cmd} -I FORWARD {flag} {BRIDGE} -m comment --comment hostnet -j ACCEPT"
            ));
        }
    }
    for family in Family::ALL {
        let raw = |ns: &NetNs| {
            let mut rules: Vec<Vec<u8>> = run_in(&ns.path(), || foreign::raw_rules(family))
                .expect("dump filter FORWARD")
                .expect("filter FORWARD exists")
                .into_iter()
                .map(|(_, bytes)| bytes)
                .collect();
            rules.sort();
            rules
        };
        let (want, have) = (raw(&reference), raw(ours));
        assert_eq!(want.len(), 2, "{family:?}: iptables-nft made 2 rules");
        assert!(
            want.iter().all(|r| have.contains(r)),
            "{family:?}: hostnet's rules are byte for byte iptables-nft's"
        );
    }
}

#[test]
fn containers_work_next_to_dockers_forward_drop() {
    let w = World::new("dock");
    docker_firewall(&w.host.ns);
    let v4_before = filter_table(&w.host.ns, "ip");
    let v6_before = filter_table(&w.host.ns, "ip6");
    let save_before = save(&w.host.ns, "iptables-nft-save");
    let save6_before = save(&w.host.ns, "ip6tables-nft-save");

    init(&w, &[]);
    assert_listed(&w.host.ns, 1);
    assert_same_bytes_as_iptables(&w.host.ns);
    let saved = save(&w.host.ns, "iptables-nft-save");
    for line in our_lines(BRIDGE) {
        assert!(
            saved.contains(&line),
            "iptables-nft-save lists {line}:\n{saved}"
        );
    }
    // no other byte of Docker's tables changed
    assert_same(
        &v4_before,
        &without_ours(&filter_table(&w.host.ns, "ip")),
        "ip filter, apart from hostnet's rules",
    );
    assert_same(
        &v6_before,
        &without_ours(&filter_table(&w.host.ns, "ip6")),
        "ip6 filter, apart from hostnet's rules",
    );
    // idempotent: a second init changes nothing
    let again = init(&w, &[]);
    assert!(again.contains("nothing to do"), "{again}");
    assert_listed(&w.host.ns, 1);

    let list = plugin(&w);
    let c1 = NetNs::new("dc1");
    let c2 = NetNs::new("dc2");
    let a1 = Attachment::new("ctr-one", &c1)
        .port_mappings(json!([{"hostPort": 8080, "containerPort": 80}]));
    let a2 = Attachment::new("ctr-two", &c2);
    let r1 =
        w.rt.add(&list, &a1)
            .unwrap_or_else(|e| panic!("ADD c1: {}\n{}", e.stdout, e.stderr));
    let r2 =
        w.rt.add(&list, &a2)
            .unwrap_or_else(|e| panic!("ADD c2: {}\n{}", e.stdout, e.stderr));
    assert_listed(&w.host.ns, 1);
    let (ip1, ip2) = (result_ip(&r1, true), result_ip(&r2, true));
    // egress to a neighbour, outside -> published port, host 127.0.0.1 ->
    // published port, c2 -> gateway:8080 (hairpin)
    let (_srv, from_out) = cni::assert_attached_pair(&w, &c1, &c2, GW, &ip1, &ip2);
    assert!(from_out.starts_with(OUTSIDE), "{from_out}");
    // nothing warns: Docker's chain accepts our bridge
    let check = w.host.hostnet_ok(&["check"]);
    assert!(!check.contains("warning"), "{check}");

    assert_same(
        &v4_before,
        &without_ours(&filter_table(&w.host.ns, "ip")),
        "ip filter after traffic, apart from hostnet's rules",
    );
    w.rt.del(&list, &a1)
        .unwrap_or_else(|e| panic!("DEL c1: {}", e.stdout));
    w.rt.del(&list, &a2)
        .unwrap_or_else(|e| panic!("DEL c2: {}", e.stdout));
    assert_listed(&w.host.ns, 1);
    w.host.hostnet_ok(&["teardown"]);
    // teardown leaves Docker's tables exactly as they were
    assert_same(
        &v4_before,
        &filter_table(&w.host.ns, "ip"),
        "ip filter after teardown",
    );
    assert_same(
        &v6_before,
        &filter_table(&w.host.ns, "ip6"),
        "ip6 filter after teardown",
    );
    assert_same(
        &save_before,
        &save(&w.host.ns, "iptables-nft-save"),
        "iptables-nft-save after teardown",
    );
    assert_same(
        &save6_before,
        &save(&w.host.ns, "ip6tables-nft-save"),
        "ip6tables-nft-save after teardown",
    );
}

/// Docker starts after the boot unit: its chain appears after `init`, and
/// the next ADD puts the rules in. `init` repairs a duplicate and a rule of
/// a bridge no longer managed, and leaves a lookalike of someone else alone.
#[test]
fn docker_started_after_init_is_handled_by_the_next_add() {
    let w = World::new("dlat");
    init(&w, &[]);
    let list = plugin(&w);
    let c1 = NetNs::new("dl1");
    let a1 = Attachment::new("ctr-one", &c1);
    w.rt.add(&list, &a1)
        .unwrap_or_else(|e| panic!("ADD c1: {}\n{}", e.stdout, e.stderr));
    let _out_srv = common::echo_peer_server(&w.outside, "tcp", 7000);
    assert!(
        ask(&c1, "tcp", OUTSIDE, 7000).is_some(),
        "egress before Docker"
    );

    docker_firewall(&w.host.ns);
    assert_eq!(
        ask(&c1, "tcp", OUTSIDE, 7000),
        None,
        "Docker's FORWARD policy DROP drops container egress"
    );
    let c2 = NetNs::new("dl2");
    let a2 = Attachment::new("ctr-two", &c2);
    w.rt.add(&list, &a2)
        .unwrap_or_else(|e| panic!("ADD c2: {}\n{}", e.stdout, e.stderr));
    assert_listed(&w.host.ns, 1);
    assert!(
        ask(&c1, "tcp", OUTSIDE, 7000).is_some(),
        "egress again after the next ADD"
    );
    assert!(ask(&c2, "tcp", OUTSIDE, 7000).is_some());
    let seen = ask(&c2, "tcp", OUTSIDE, 7000).unwrap_or_default();
    assert!(seen.starts_with(HOST_OUT), "masqueraded: {seen}");

    // drift: a duplicate of ours, a stale rule of ours for a bridge hostnet
    // no longer manages, and someone else's rule with a different comment
    w.host.ns.sh(&format!(
        "iptables-nft -I FORWARD -i {BRIDGE} -m comment --comment hostnet -j ACCEPT && \
         iptables-nft -I FORWARD -o gone0 -m comment --comment hostnet -j ACCEPT && \
         iptables-nft -I FORWARD -i {BRIDGE} -m comment --comment mine -j ACCEPT"
    ));
    let out = init(&w, &[]);
    assert!(out.contains("Docker coexistence"), "{out}");
    assert_listed(&w.host.ns, 1);
    let rules = w.host.ns.ok(&["iptables-nft", "-S", "FORWARD"]);
    assert!(!rules.contains("gone0"), "stale rule removed:\n{rules}");
    assert!(
        rules.contains(&format!(
            "-A FORWARD -i {BRIDGE} -m comment --comment mine -j ACCEPT"
        )),
        "someone else's rule kept:\n{rules}"
    );
    let again = init(&w, &[]);
    assert!(again.contains("nothing to do"), "{again}");

    w.rt.del(&list, &a1)
        .unwrap_or_else(|e| panic!("{}", e.stdout));
    w.rt.del(&list, &a2)
        .unwrap_or_else(|e| panic!("{}", e.stdout));
    w.host.hostnet_ok(&["teardown"]);
    let rules = w.host.ns.ok(&["iptables-nft", "-S", "FORWARD"]);
    assert!(!rules.contains("comment hostnet"), "{rules}");
    assert!(rules.contains("--comment mine"), "{rules}");
}

/// `init --docker-forward off`: no rules, traffic dies in Docker's chain,
/// `check` warns; `on` again brings both back. The setting is kept: a later
/// ADD and a plain `init` respect it.
#[test]
fn docker_forward_off_leaves_dockers_chain_alone_and_check_warns() {
    let w = World::new("doff");
    docker_firewall(&w.host.ns);
    let before = filter_table(&w.host.ns, "ip");
    init(&w, &["--docker-forward", "off"]);
    let list = plugin(&w);
    let c1 = NetNs::new("do1");
    let a1 = Attachment::new("ctr-one", &c1);
    w.rt.add(&list, &a1)
        .unwrap_or_else(|e| panic!("ADD c1: {}\n{}", e.stdout, e.stderr));
    init(&w, &[]);
    assert_listed(&w.host.ns, 0);
    assert_same(
        &before,
        &filter_table(&w.host.ns, "ip"),
        "ip filter with the option off",
    );
    let _out_srv = common::echo_peer_server(&w.outside, "tcp", 7000);
    assert_eq!(
        ask(&c1, "tcp", OUTSIDE, 7000),
        None,
        "dropped by Docker's chain"
    );
    let check = w.host.hostnet_ok(&["check"]);
    assert!(
        check.contains("warning: table ip filter chain FORWARD drops forwarded packets"),
        "{check}"
    );

    let out = init(&w, &["--docker-forward", "on"]);
    assert!(out.contains("Docker coexistence"), "{out}");
    assert_listed(&w.host.ns, 1);
    assert!(
        ask(&c1, "tcp", OUTSIDE, 7000).is_some(),
        "egress with the option on"
    );
    let check = w.host.hostnet_ok(&["check"]);
    assert!(!check.contains("warning"), "{check}");
    w.rt.del(&list, &a1)
        .unwrap_or_else(|e| panic!("{}", e.stdout));
    w.host.hostnet_ok(&["teardown"]);
    assert_same(
        &before,
        &filter_table(&w.host.ns, "ip"),
        "ip filter after teardown",
    );
}
