//! `hostnet check` explains what stops container traffic, with the fix: each
//! condition created in a namespace, the message asserted.

mod common;

use common::*;

fn check(h: &Host) -> (Option<i32>, String) {
    let out = h.hostnet(&["check"]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn host(tag: &str) -> Host {
    let h = Host::new(tag);
    h.hostnet_ok(&["init"]);
    let (code, text) = check(&h);
    assert_eq!(code, Some(0), "clean after init: {text}");
    assert!(!text.contains("warning"), "no warning after init: {text}");
    h
}

#[test]
fn forwarding_off_names_the_fix() {
    let h = host("adv-fwd");
    h.ns.ok(&["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
    let (code, text) = check(&h);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("sysctl net.ipv4.ip_forward is 0, want 1: the host forwards nothing")
            && text.contains("(fix: hostnet init, or sysctl -w net.ipv4.ip_forward=1)"),
        "{text}"
    );
    assert!(
        text.contains("hostnet init repairs every difference above"),
        "{text}"
    );
    h.hostnet_ok(&["init"]);
    assert_eq!(check(&h).0, Some(0));
}

#[test]
fn route_localnet_off_names_the_fix() {
    let h = host("adv-rln");
    h.ns.ok(&["sysctl", "-qw", "net.ipv4.conf.nerdctl0.route_localnet=0"]);
    let (code, text) = check(&h);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("127.0.0.1:PORT on the host does not reach mapped ports")
            && text.contains("sysctl -w net.ipv4.conf.nerdctl0.route_localnet=1"),
        "{text}"
    );
}

#[test]
fn strict_rp_filter_on_a_bridge_is_a_warning_with_the_fix() {
    let h = host("adv-rpf");
    h.ns.ok(&["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"]);
    h.ns.ok(&["sysctl", "-qw", "net.ipv4.conf.nerdctl0.rp_filter=1"]);
    let (code, text) = check(&h);
    assert_eq!(code, Some(0), "a warning, not a difference: {text}");
    assert!(
        text.contains(
            "warning: strict reverse-path filtering on nerdctl0 (rp_filter: all=0, nerdctl0=1"
        ) && text.contains("(fix: sysctl -w net.ipv4.conf.nerdctl0.rp_filter=2)"),
        "{text}"
    );
    h.ns.ok(&["sysctl", "-qw", "net.ipv4.conf.nerdctl0.rp_filter=2"]);
    assert!(!check(&h).1.contains("reverse-path"));
}

#[test]
fn a_route_added_later_over_a_managed_subnet_is_named() {
    let h = host("adv-rt");
    h.ns.ok(&[
        "ip", "link", "add", "lan0", "type", "veth", "peer", "name", "lan1",
    ]);
    h.ns.ok(&["ip", "link", "set", "lan0", "up"]);
    h.ns.ok(&["ip", "link", "set", "lan1", "up"]);
    h.ns.ok(&["ip", "route", "add", "10.4.0.0/25", "dev", "lan0"]);
    let (code, text) = check(&h);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(
            "warning: route 10.4.0.0/25 on lan0 overlaps subnet 10.4.0.0/24 of network bridge \
             on nerdctl0: it is as or more specific"
        ) && text.contains("fix: remove that route"),
        "{text}"
    );
}

#[test]
fn br_netfilter_with_a_dropping_forward_chain_is_named() {
    let h = host("adv-brnf");
    h.ns.ok(&["nft", "add", "table", "ip", "filter"]);
    h.ns.ok(&[
        "nft",
        "add chain ip filter FORWARD { type filter hook forward priority 0; policy drop; }",
    ]);
    h.ns.ok(&["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"]);
    h.ns.ok(&["sysctl", "-qw", "net.bridge.bridge-nf-call-ip6tables=0"]);
    let (code, text) = check(&h);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("table ip filter chain FORWARD drops forwarded packets by default"),
        "{text}"
    );
    assert!(
        text.contains(
            "warning: br_netfilter is loaded with bridge-nf-call-iptables on: packets between \
             containers on the same bridge (nerdctl0) also pass the forward hook, where table ip \
             filter chain FORWARD drops them"
        ) && text.contains("sysctl -w net.bridge.bridge-nf-call-iptables=0"),
        "{text}"
    );
    h.ns.ok(&["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0"]);
    assert!(!check(&h).1.contains("br_netfilter"));
}

#[test]
fn a_dropping_prerouting_or_postrouting_chain_is_named() {
    let h = host("adv-hook");
    h.ns.sh(
        "printf 'table ip raw {\\n chain PREROUTING { type filter hook prerouting priority -300; policy drop; }\\n}\\ntable inet other {\\n chain post { type filter hook postrouting priority 0; policy drop; }\\n}\\n' | nft -f -",
    );
    let (code, text) = check(&h);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(
            "warning: table ip raw chain PREROUTING drops every packet at the prerouting hook by \
             default (policy drop)"
        ) && text.contains("iifname \"nerdctl0\" accept"),
        "{text}"
    );
    assert!(
        text.contains(
            "warning: table inet other chain post drops every packet at the postrouting hook"
        ),
        "{text}"
    );
    // gone again: no warning
    h.ns.ok(&["nft", "delete", "table", "ip", "raw"]);
    h.ns.ok(&["nft", "delete", "table", "inet", "other"]);
    assert!(!check(&h).1.contains("warning"), "{}", check(&h).1);
}
