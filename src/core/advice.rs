//! What `hostnet check` warns about besides differences: conditions that are
//! not hostnet's state but stop container traffic, each with what to do.
//! Warnings do not change check's exit status.

use crate::core::host::foreign_routes;
use crate::core::state::{NetworkRecord, Store};
use crate::error::Result;
use crate::kernel::link::Netlink;
use crate::kernel::nft;
use crate::kernel::sysctl::{self, Key};

/// Every warning, in the order `check` prints them (none without networks:
/// each is about what stops their traffic).
pub fn warnings(store: &Store, nl: &Netlink) -> Result<Vec<String>> {
    let networks = store.networks()?;
    if networks.is_empty() {
        return Ok(Vec::new());
    }
    let bridges: Vec<String> = networks.iter().map(|r| r.network.bridge.clone()).collect();
    // one read of the other tables' forward chains serves two warnings
    let uncovered = uncovered_drops(store, &bridges)?;
    let mut warns = forward_drops(&uncovered, &bridges);
    warns.extend(br_netfilter(&uncovered, &networks));
    warns.extend(prerouting_postrouting_drops(&networks)?);
    warns.extend(rp_filter(&networks));
    warns.extend(overlapping_routes(nl, &networks)?);
    Ok(warns)
}

/// What is not hostnet's but breaks what hostnet sets up: a base chain of
/// another table on the forward hook whose policy is drop (Docker's
/// `ip filter FORWARD`, firewalld), not accepting our `bridges` (`uncovered`).
/// Its verdict comes on top of ours, so a packet hostnet accepts is still
/// dropped there. Not a difference (the exit status is unchanged): the user
/// may have accepted our bridges in that chain.
fn forward_drops(uncovered: &[String], bridges: &[String]) -> Vec<String> {
    let Some(example) = bridges.first() else {
        return Vec::new();
    };
    uncovered
        .iter()
        .map(|chain| {
            format!(
                "{chain} drops forwarded packets by default (policy drop); an accept in \
                 hostnet's table does not override it, so container traffic through {} is \
                 dropped there unless that chain accepts it (e.g. rules accepting iifname \
                 \"{example}\" and oifname \"{example}\")",
                bridges.join(", ")
            )
        })
        .collect()
}

/// Forward chains of other tables with policy drop that do not hold
/// hostnet's accepts for every bridge.
fn uncovered_drops(store: &Store, bridges: &[String]) -> Result<Vec<String>> {
    // a Docker filter FORWARD chain holding hostnet's accepts for every
    // bridge (init --docker-forward on, the default) does not drop ours
    let covered: Vec<String> = if store.settings()?.docker_forward {
        let present = nft::foreign::present()?;
        let (missing, _) = nft::foreign::diff(&present, bridges, false);
        present
            .chains
            .iter()
            .filter(|f| !missing.iter().any(|r| r.family == **f))
            .map(|f| format!("table {} filter chain FORWARD", f.name()))
            .collect()
    } else {
        Vec::new()
    };
    Ok(nft::foreign_forward_drops()?
        .into_iter()
        .filter(|chain| !covered.contains(chain))
        .collect())
}

fn read_num(key: &Key) -> Option<i64> {
    sysctl::read(key).ok().and_then(|v| v.trim().parse().ok())
}

/// Strict reverse-path filtering on a managed bridge: the kernel uses the
/// larger of `all` and the bridge's value; 1 (strict) drops packets whose
/// source the host would not route back out of the bridge.
fn rp_filter(networks: &[NetworkRecord]) -> Vec<String> {
    let all = read_num(&Key::new(&["net", "ipv4", "conf", "all", "rp_filter"])).unwrap_or(0);
    let mut out = Vec::new();
    for rec in networks {
        let br = &rec.network.bridge;
        let own = read_num(&sysctl::iface_key("ipv4", br, "rp_filter")).unwrap_or(0);
        if all.max(own) == 1 {
            out.push(format!(
                "strict reverse-path filtering on {br} (rp_filter: all={all}, {br}={own}; \
                 the larger counts): packets from containers whose source the host routes \
                 elsewhere (addresses outside {}, asymmetric routes) are dropped \
                 (fix: sysctl -w net.ipv4.conf.{br}.rp_filter=2{})",
                subnets(rec),
                if all == 1 {
                    " and net.ipv4.conf.all.rp_filter=2"
                } else {
                    ""
                }
            ));
        }
    }
    out
}

fn subnets(rec: &NetworkRecord) -> String {
    rec.network
        .subnets
        .iter()
        .map(|s| s.subnet.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A route on another interface overlapping a managed subnet (added after
/// init, which refuses such subnets): traffic to containers may leave there.
fn overlapping_routes(nl: &Netlink, networks: &[NetworkRecord]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let routes = nl.routes()?;
    for rec in networks {
        let bridge_index = nl.link(&rec.network.bridge)?.map(|l| l.index);
        for (route, subnet, dev) in foreign_routes(nl, &routes, &rec.network, bridge_index)? {
            let wins = if route.prefix() >= subnet.prefix() {
                "it is as or more specific, so traffic to (some) containers leaves there"
            } else {
                "the bridge's route is more specific, but the overlap breaks whatever \
                 that route serves inside the subnet"
            };
            out.push(format!(
                "route {route} on {dev} overlaps subnet {subnet} of network {} on {}: {wins} \
                 (fix: remove that route, or move the network: hostnet teardown, then \
                 hostnet init --subnet OTHER)",
                rec.network.name, rec.network.bridge
            ));
        }
    }
    Ok(out)
}

/// br_netfilter with bridge-nf-call-iptables on passes bridged packets
/// (container to container on one bridge) through the ip forward hook too:
/// a dropping forward chain of another table then also cuts containers off
/// from each other.
fn br_netfilter(dropping_chains: &[String], networks: &[NetworkRecord]) -> Vec<String> {
    let on = |leaf: &str| read_num(&Key::new(&["net", "bridge", leaf])) == Some(1);
    let v4 = on("bridge-nf-call-iptables");
    let v6 = on("bridge-nf-call-ip6tables");
    if dropping_chains.is_empty() || !(v4 || v6) {
        return Vec::new();
    }
    let bridges: Vec<&str> = networks.iter().map(|r| r.network.bridge.as_str()).collect();
    vec![format!(
        "br_netfilter is loaded with {} on: packets between containers on the same bridge ({}) \
         also pass the forward hook, where {} drops them (fix: sysctl -w \
         net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 unless \
         something needs it, or accept the bridges in that chain)",
        match (v4, v6) {
            (true, true) => "bridge-nf-call-iptables and bridge-nf-call-ip6tables",
            (true, false) => "bridge-nf-call-iptables",
            _ => "bridge-nf-call-ip6tables",
        },
        bridges.join(", "),
        dropping_chains.join(", ")
    )]
}

/// Base chains of other tables on prerouting or postrouting with policy
/// drop: container traffic and port mappings pass there before (after)
/// hostnet's chains, and an accept in hostnet's table does not override it.
fn prerouting_postrouting_drops(networks: &[NetworkRecord]) -> Result<Vec<String>> {
    let Some(example) = networks.first().map(|r| &r.network.bridge) else {
        return Ok(Vec::new());
    };
    Ok(nft::foreign_prerouting_postrouting_drops()?
        .into_iter()
        .map(|(hook, chain)| {
            let hook = if hook == 0 {
                "prerouting"
            } else {
                "postrouting"
            };
            format!(
                "{chain} drops every packet at the {hook} hook by default (policy drop): \
                 container traffic and port mappings die there unless that chain accepts \
                 them (fix: accept the bridges there, e.g. iifname \"{example}\" accept and \
                 oifname \"{example}\" accept, or make its policy accept)"
            )
        })
        .collect())
}
