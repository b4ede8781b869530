//! The man page sections clap has no place for: EXAMPLES, EXIT STATUS, FILES
//! and SEE ALSO per command. tests/man_pages.rs renders them after clap's
//! NAME, SYNOPSIS, DESCRIPTION (the commands' long help) and OPTIONS into
//! man/*.8 (`make man`; the test fails when a page is stale).

/// One extra section: a title and paragraphs. A paragraph starting with
/// "$ " is an example command line, shown literally.
pub struct Section {
    pub title: &'static str,
    pub paragraphs: Vec<String>,
}

const STATE: &str = "/var/lib/hostnet/networks/NAME.json: a managed network (bridge, subnets, \
what hostnet created or added); /var/lib/hostnet/ports/PROTO-PORT.json: the claims on a host \
port (static mappings and containers'); /var/lib/hostnet/attachments/NET/ID-IFNAME.json: a \
container attachment; /var/lib/hostnet/sysctl-before.json: the forwarding sysctls before the \
first init (for teardown --restore-sysctl). --state-dir moves them.";
const RUN: &str = "/run/hostnet/lock: the host lock every change is made under (--run-dir).";
const CONFLIST: &str = "/etc/cni/net.d/nerdctl-NAME.conflist: the network's CNI configuration \
list, as nerdctl names it (--cni-conf-dir).";
const IPAM: &str = "/var/lib/cni/networks/NET/: host-local compatible address reservations of \
containers (the conflist's ipam dataDir).";
const UNITS: &str = "hostnet.service (runs hostnet init at boot, before the container engines) \
and hostnet-nftables.service (runs it again when nftables.service restarts or reloads), in the \
systemd unit directory.";

fn exit_status(extra: &str) -> Section {
    let mut p: Vec<String> = vec![
        "0: done, or nothing to do.".into(),
        "1: a kernel or file operation failed; what was done is rolled back.".into(),
        "2: invalid input: a bad option, address, port or name; nothing was changed.".into(),
        "3: a conflict with existing state: a taken port, a bridge or subnet of another \
network, an address already on the bridge, an unknown mapping; nothing was changed."
            .into(),
    ];
    if !extra.is_empty() {
        p.push(extra.into());
    }
    p.push(
        "With --json the error is also one JSON document on stdout: \
{\"error\": {\"kind\": KIND, \"message\": TEXT}, \"exit_code\": N}."
            .into(),
    );
    Section {
        title: "EXIT STATUS",
        paragraphs: p,
    }
}

fn section(title: &'static str, paragraphs: &[&str]) -> Section {
    Section {
        title,
        paragraphs: paragraphs.iter().map(|s| s.to_string()).collect(),
    }
}

fn see_also(extra: &[&str]) -> Section {
    let mut refs: Vec<&str> = extra.to_vec();
    refs.extend([
        "hostnet(8)",
        "hostnet-cni(8)",
        "nft(8)",
        "ip(8)",
        "systemd.service(5)",
    ]);
    Section {
        title: "SEE ALSO",
        paragraphs: vec![refs.join(", ")],
    }
}

/// The extra sections of the page of `name` ("hostnet", "hostnet-init",
/// "hostnet-portmap-add", ...).
pub fn sections(name: &str) -> Vec<Section> {
    match name {
        "hostnet" => vec![
            section(
                "EXAMPLES",
                &[
                    "Set up the default network (bridge nerdctl0, 10.4.0.0/24) and look at it:",
                    "$ hostnet init",
                    "$ hostnet status",
                    "A container started by nerdctl gets its address and port from the plugin:",
                    "$ nerdctl run -d -p 8080:80 nginx",
                    "A static mapping on one host address, a UDP range, port for port; the same in the publish syntax:",
                    "$ hostnet portmap add --host-ip 192.0.2.1 --proto udp 6000-6001 10.4.0.2:60-61",
                    "$ hostnet portmap add 192.0.2.1:6000-6001:60-61/udp 10.4.0.2",
                    "After an nftables restart flushed the ruleset (the units repair it by themselves):",
                    "$ hostnet check",
                    "$ hostnet init",
                    "Remove it all again:",
                    "$ hostnet teardown",
                ],
            ),
            exit_status("For check: 1 when the kernel differs from hostnet's state."),
            section("FILES", &[STATE, RUN, CONFLIST, IPAM, UNITS]),
            see_also(&[
                "hostnet-init(8)",
                "hostnet-status(8)",
                "hostnet-check(8)",
                "hostnet-portmap(8)",
                "hostnet-teardown(8)",
            ]),
        ],
        "hostnet-init" => vec![
            section(
                "EXAMPLES",
                &[
                    "The default network, then a second, dual-stack one:",
                    "$ hostnet init",
                    "$ hostnet init --name web --bridge br-web --subnet 10.5.0.0/24 --subnet fd00:5::/64",
                    "What it would do, without doing it:",
                    "$ hostnet init --dry-run",
                    "Re-apply every recorded network, mapping and attachment (what the boot unit runs):",
                    "$ hostnet init",
                ],
            ),
            exit_status(
                "3 also when the bridge name is taken by a link that is not a bridge, or the \
bridge has other addresses (see --force-address).",
            ),
            section("FILES", &[STATE, RUN, CONFLIST, UNITS]),
            see_also(&["hostnet-check(8)", "hostnet-teardown(8)"]),
        ],
        "hostnet-status" => vec![
            section(
                "EXAMPLES",
                &[
                    "$ hostnet status",
                    "Every port mapping and attachment, for scripts:",
                    "$ hostnet status --json",
                ],
            ),
            exit_status(""),
            section("FILES", &[STATE]),
            see_also(&["hostnet-check(8)", "hostnet-portmap-ls(8)"]),
        ],
        "hostnet-check" => vec![
            section(
                "EXAMPLES",
                &[
                    "After systemctl restart nftables (the ruleset is flushed):",
                    "$ hostnet check",
                    "nftables table inet hostnet is missing",
                    "$ hostnet init",
                ],
            ),
            exit_status("1 also when differences are found; each is one line on stdout."),
            section("FILES", &[STATE]),
            see_also(&["hostnet-init(8)", "hostnet-status(8)"]),
        ],
        "hostnet-teardown" => vec![
            section(
                "EXAMPLES",
                &[
                    "$ hostnet teardown --dry-run",
                    "$ hostnet teardown --restore-sysctl",
                ],
            ),
            exit_status(""),
            section("FILES", &[STATE, RUN, CONFLIST, IPAM]),
            see_also(&["hostnet-init(8)"]),
        ],
        "hostnet-portmap"
        | "hostnet-portmap-add"
        | "hostnet-portmap-del"
        | "hostnet-portmap-ls" => {
            vec![
                section(
                    "EXAMPLES",
                    &[
                        "$ hostnet portmap add 8080 10.4.0.2:80",
                        "$ hostnet portmap add --host-ip 192.0.2.1 --proto udp 6000-6001 10.4.0.2:60-61",
                        "$ hostnet portmap add 127.0.0.1:8081:80/tcp 10.4.0.2",
                        "$ hostnet portmap add [::1]:8082:80 fd00:4::2",
                        "$ hostnet portmap ls",
                        "$ hostnet portmap del --host-ip 192.0.2.1 --proto udp 6000-6001",
                    ],
                ),
                exit_status(
                    "3 when a host port is taken by another mapping or container (add), or no \
static mapping is on the port (del).",
                ),
                section("FILES", &[STATE, RUN]),
                see_also(&[
                    "hostnet-portmap-add(8)",
                    "hostnet-portmap-del(8)",
                    "hostnet-portmap-ls(8)",
                    "hostnet-status(8)",
                ]),
            ]
        }
        "hostnet-network"
        | "hostnet-network-create"
        | "hostnet-network-ls"
        | "hostnet-network-inspect"
        | "hostnet-network-rm"
        | "hostnet-network-prune" => vec![
            section(
                "EXAMPLES",
                &[
                    "$ hostnet network create web --subnet 10.5.0.0/24",
                    "$ hostnet network ls",
                    "$ hostnet network inspect web",
                    "$ nerdctl run -d --net web nginx",
                    "$ hostnet network rm web",
                    "$ hostnet network prune",
                ],
            ),
            exit_status(
                "3 also when the network exists already (create), is in use by containers \
(rm, named), or is not there (inspect, rm).",
            ),
            section("FILES", &[STATE, RUN, CONFLIST]),
            see_also(&[
                "hostnet-init(8)",
                "hostnet-teardown(8)",
                "nerdctl-network(1)",
            ]),
        ],
        "hostnet-version" => vec![
            section("EXAMPLES", &["$ hostnet version", "$ hostnet --version"]),
            exit_status(""),
            see_also(&[]),
        ],
        "hostnet-completions" => vec![
            section(
                "EXAMPLES",
                &[
                    "$ hostnet completions bash > /etc/bash_completion.d/hostnet",
                    "$ hostnet completions fish > ~/.config/fish/completions/hostnet.fish",
                ],
            ),
            exit_status(""),
            see_also(&[]),
        ],
        _ => vec![exit_status(""), see_also(&[])],
    }
}
