//! The command line, as clap definitions. The man pages in man/ are generated
//! from these (`make man`), and a test fails when they are stale.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// --state-dir's default.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/hostnet";

#[derive(Debug, Parser)]
#[command(
    name = "hostnet",
    version,
    about = "The host side of a container bridge network, nftables-native",
    long_about = "hostnet configures the host side of a container bridge network the way \
nerdctl's default network needs it: forwarding sysctls, a bridge with the gateway address, \
and two nftables tables: inet hostnet (masquerade, port-mapping DNAT, forward rules that let \
into a bridge only published ports and replies, and no packet to 127.0.0.0/8 from outside) \
and bridge hostnet (a container speaks only with its own addresses). Chains are static; \
containers and port mappings are set/map elements, so each change is one element in one \
transaction.\n\nWith CNI_COMMAND set in the environment the same binary is a \
CNI plugin (see hostnet-cni(8)).",
    after_long_help = crate::exit_status_text!()
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Act inside this network namespace: a name under /run/netns, or a path
    #[arg(long, global = true, value_name = "NAME|PATH")]
    pub netns: Option<String>,
    /// Where hostnet keeps its state
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = DEFAULT_STATE_DIR
    )]
    pub state_dir: PathBuf,
    /// Where hostnet keeps what dies with the kernel: its lock, attachment records, containers' port claims and their index
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/run/hostnet"
    )]
    pub run_dir: PathBuf,
    /// Where the CNI network configuration lists go
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/etc/cni/net.d"
    )]
    pub cni_conf_dir: PathBuf,
    /// Print data as JSON
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up (or repair) the host side of a network; idempotent.
    ///
    /// With no network options and networks already recorded, re-applies every
    /// recorded network, static port mapping and attachment as it was (what the
    /// boot unit runs). Otherwise sets up the one network described by the options
    /// (defaults: bridge nerdctl0, 10.4.0.0/24, gateway 10.4.0.1). First it
    /// releases attachments whose container is gone (after a reboot or a
    /// crash), removes temp files that dead processes left in its state, and
    /// drops per-container index entries whose record is gone.
    #[command(after_long_help = concat!(
        "BOOT AND NFTABLES RELOADS:\n  \
systemd/hostnet.service (Type=oneshot, RemainAfterExit=yes) runs `hostnet init` after \
network.target and before containerd, podman, docker and crio, restoring every recorded \
network, static port mapping and attachment element. systemd/hostnet-nftables.service is \
PartOf= and ReloadPropagatedFrom=nftables.service: a restart or reload of nftables, which \
flushes the whole ruleset, runs `hostnet init` again at once.\n\n",
        crate::exit_status_text!()
    ))]
    Init(InitArgs),
    /// Show bridges, attached interfaces, routes, forwarding, the nftables table, gateway modes and CNI attachments
    ///
    /// One view of what `brctl show`, `route -n` and the forwarding sysctls
    /// would say about the managed networks, then whether the nftables table
    /// is there, how many port mappings it holds, and one line per container
    /// attachment (container, network, interface, addresses, host veth,
    /// ports; a mapping on both address families is shown once with
    /// "(v4+v6)"). With --json: every bridge, route, port mapping (with its
    /// owner) and attachment record in full, sysctls as numbers.
    Status,
    /// Compare the desired state with the kernel; exit 1 and list each difference.
    ///
    /// Each recorded network's conflist is compared too: a missing, unreadable
    /// or altered one is a difference (`hostnet init` rewrites it).
    ///
    /// Also warns (without failing) about base chains of other tables on the
    /// forward hook with policy drop, such as Docker's `ip filter FORWARD`: an
    /// accept in hostnet's table does not override them, so container traffic
    /// is dropped there unless that chain accepts it. An `ip`/`ip6` `filter`
    /// FORWARD chain holding hostnet's accept rules for every bridge (see
    /// `init --docker-forward`) is not warned about. Also warns about base
    /// chains of other tables on the prerouting or postrouting hook with
    /// policy drop; about br_netfilter with bridge-nf-call-iptables on next to such a chain (then
    /// containers on one bridge are cut off from each other too); about strict
    /// rp_filter on a managed bridge; and about routes on other interfaces
    /// overlapping a managed subnet (added after init). Each difference and
    /// warning names its fix (forwarding or route_localnet off: `hostnet init`
    /// or the sysctl).
    Check,
    /// Remove exactly what hostnet created: its tables, bridges, conflists, state, and its accept rules in Docker's filter FORWARD
    ///
    /// Containers first (their host veths, address reservations and records),
    /// then every claimed host port, the tables inet and bridge hostnet, the bridges
    /// hostnet created (from bridges it adopted only the addresses it added),
    /// the conflists it wrote, its accept rules in Docker's filter FORWARD
    /// chains and the network records; then the bookkeeping left around them:
    /// host-local's last_reserved_ip.N and lock when no reservation is left,
    /// the host lock and empty directories. Forwarding sysctls stay as they
    /// are unless --restore-sysctl (until then sysctl-before.json stays too).
    /// Links and files of others are never touched.
    Teardown(TeardownArgs),
    /// Release what no live container accounts for; print each release.
    ///
    /// Found from the state and the kernel alone: attachments whose host veth
    /// or network namespace is gone (their addresses, port claims, elements and
    /// record), address files and port claims without a live attachment,
    /// nftables elements whose owner has no record, host veths hostnet made on
    /// managed bridges that no record owns (veths attached by hand are left
    /// alone), temp files of dead processes, and entries of the per-container
    /// index whose record is gone. `hostnet check` reports each of these as a
    /// difference.
    Gc(GcArgs),
    /// Static port mappings: host port -> container ip:port, as nftables map elements
    ///
    /// A static mapping takes the same path as a container's: a claim on the
    /// host port (a port has one owner per host address and protocol) and one
    /// element in one nftables transaction; no rule is added, however many
    /// mappings there are. Mappings are recorded, so `hostnet init` (and the
    /// boot unit) restore them.
    #[command(subcommand)]
    Portmap(PortmapCommand),
    /// Print the version, the CNI spec versions spoken and the kernel features found
    ///
    /// The kernel part is read, never changed: the release (uname), whether
    /// nf_tables answers a request, whether IPv6 and br_netfilter are there.
    /// `hostnet --version` prints the same.
    Version,
    /// Print a shell completion script for bash, zsh or fish
    ///
    /// Generated from the same definitions as --help; `make install` puts
    /// them where bash-completion, zsh and fish look.
    Completions(CompletionsArgs),
    /// Networks as nerdctl has them: create, list, inspect, remove
    #[command(subcommand)]
    Network(NetworkCommand),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network: a bridge br-<12 hex of its ID>, its subnet, its conflist.
    ///
    /// Without --subnet the network gets the first free /24 from 10.4.1.0
    /// upward that overlaps no other network, route or address of the host.
    /// Prints the new network's ID.
    #[command(after_long_help = crate::exit_status_text!())]
    Create(NetworkCreateArgs),
    /// List networks: NETWORK ID, NAME, FILE, plus the host and none pseudo-networks
    #[command(alias = "list")]
    Ls(NetworkLsArgs),
    /// Show networks by name or ID (prefix) as JSON
    Inspect(NetworkInspectArgs),
    /// Remove networks: bridge, nftables elements, conflist and state in one go.
    ///
    /// A network with attached containers is refused, naming them; the default
    /// network cannot be removed (teardown removes everything).
    #[command(alias = "remove")]
    Rm(NetworkRmArgs),
    /// Remove every network except the default one that has no containers attached
    Prune,
}

#[derive(Debug, Args)]
pub struct NetworkCreateArgs {
    /// Network name: ^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$, not host, none or bridge
    pub name: String,
    /// Subnet in CIDR form; one IPv4 and optionally one IPv6 (at most /120) [default: the next free /24 from 10.4.1.0]
    #[arg(long, value_name = "CIDR")]
    pub subnet: Vec<String>,
    /// Gateway address, per subnet [default: the subnet's first host]
    #[arg(long, value_name = "IP")]
    pub gateway: Vec<String>,
    /// Give containers addresses only from this part of the subnet
    #[arg(long, value_name = "CIDR")]
    pub ip_range: Option<String>,
    /// No masquerade, no default route for containers, no port mappings
    #[arg(long)]
    pub internal: bool,
    /// MTU of the bridge and of the containers' interfaces
    #[arg(long)]
    pub mtu: Option<u32>,
    /// A label KEY=VALUE (nerdctlLabels); repeatable
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// nat: the LAN reaches containers only through published ports; routed:
    /// also directly (egress is masqueraded either way)
    #[arg(long, value_name = "nat|routed", default_value = "nat")]
    pub gateway_mode: String,
    /// same-bridge: containers of this network reach each other; isolated: they
    /// reach only the gateway and the outside (bridge port isolation)
    #[arg(
        long,
        value_name = "same-bridge|isolated",
        default_value = "same-bridge"
    )]
    pub isolation: String,
}

#[derive(Debug, Args)]
pub struct NetworkLsArgs {
    /// Only the IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format: table or json (one object per line)
    #[arg(long, default_value = "table")]
    pub format: String,
}

#[derive(Debug, Args)]
pub struct NetworkInspectArgs {
    /// Network names or IDs (a unique ID prefix is enough)
    #[arg(required = true, value_name = "NAME|ID")]
    pub networks: Vec<String>,
    /// dockercompat: Docker's shape; native: the conflist with nerdctl's ID and labels
    #[arg(
        long,
        default_value = "dockercompat",
        value_name = "dockercompat|native"
    )]
    pub mode: String,
}

#[derive(Debug, Args)]
pub struct NetworkRmArgs {
    /// Network names or IDs
    #[arg(required = true, value_name = "NAME|ID")]
    pub networks: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum PortmapCommand {
    /// Map a host port (or range) to a destination ip:port (or range of equal length)
    ///
    /// Two forms: `portmap add HOSTPORT[-END] IP:PORT[-END]`, or the publish
    /// syntax of nerdctl and Docker followed by the container's address:
    /// `portmap add [HOSTIP:]HOSTPORT[-END]:CONTAINERPORT[-END][/PROTO] IP`
    /// (IPv6 host addresses in brackets: `[::1]:8080:80`).
    Add(PortmapAddArgs),
    /// Remove a static mapping
    ///
    /// Give the host port (or the whole range) as it was added, with the same
    /// --host-ip and --proto. No static mapping there: exit 3.
    Del(PortmapDelArgs),
    /// List every mapping (static and containers') with its owner
    ///
    /// One line per mapping, consecutive ports of one owner as one range:
    /// host address (0.0.0.0 or :: for every address), protocol, host port,
    /// destination and owner ("static" or the container id).
    Ls,
}

#[derive(Debug, Args)]
pub struct PortmapAddArgs {
    /// Host address the mapping answers on [default: every address]
    #[arg(long, value_name = "IP")]
    pub host_ip: Option<String>,
    /// Protocol: tcp, udp or sctp
    #[arg(long, default_value = "tcp")]
    pub proto: String,
    /// Allow a destination outside every managed subnet
    #[arg(long)]
    pub allow_any_dest: bool,
    /// Host port or range (8080, 8000-8099), or a publish spec
    /// ([HOSTIP:]HOSTPORT[-END]:CONTAINERPORT[-END][/PROTO], e.g.
    /// 127.0.0.1:8080:80/tcp or [::1]:8080:80)
    #[arg(value_name = "HOSTPORT[-END]|PUBLISH")]
    pub host_ports: String,
    /// Destination: 10.4.0.2:80, 10.4.0.2:80-179 or [fd00::2]:80; after a
    /// publish spec the container's address alone (10.4.0.2, fd00::2)
    #[arg(value_name = "DEST_IP:PORT[-END]|IP")]
    pub dest: String,
}

#[derive(Debug, Args)]
pub struct PortmapDelArgs {
    /// Host address of the mapping [default: every address]
    #[arg(long, value_name = "IP")]
    pub host_ip: Option<String>,
    /// Protocol: tcp, udp or sctp
    #[arg(long, default_value = "tcp")]
    pub proto: String,
    /// Host port or range, as given to add
    #[arg(value_name = "HOSTPORT[-END]")]
    pub host_ports: String,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Network name (the CNI network name) [default: bridge]
    #[arg(long)]
    pub name: Option<String>,
    /// Bridge interface name [default: nerdctl0]
    #[arg(long)]
    pub bridge: Option<String>,
    /// Subnet in CIDR form; give one IPv4 and optionally one IPv6 subnet [default: 10.4.0.0/24]
    #[arg(long, value_name = "CIDR")]
    pub subnet: Vec<String>,
    /// Gateway address on the bridge, per subnet [default: the subnet's first host]
    #[arg(long, value_name = "IP")]
    pub gateway: Vec<String>,
    /// MTU of the bridge
    #[arg(long)]
    pub mtu: Option<u32>,
    /// How the LAN reaches the containers: nat (only published ports and
    /// replies) or routed (also direct access to container addresses) [default: nat]
    #[arg(long, value_name = "nat|routed")]
    pub gateway_mode: Option<String>,
    /// Replace other addresses already on an existing bridge instead of failing
    #[arg(long)]
    pub force_address: bool,
    /// Docker coexistence: when an `ip`/`ip6` `filter` table with a FORWARD chain exists
    /// (Docker's, made with iptables-nft, policy drop), insert at its top one accept rule
    /// per direction for each managed bridge, commented "hostnet" (also at each CNI ADD);
    /// `off` removes them. Kept in the state [default: on, or as last set]
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"])]
    pub docker_forward: Option<String>,
    /// Print every action and the nftables ruleset; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// List what would be released; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct TeardownArgs {
    /// Leave forwarding sysctls as they are (the default)
    #[arg(long, overrides_with = "restore_sysctl")]
    pub keep_sysctl: bool,
    /// Put forwarding sysctls back to the values found by the first init
    #[arg(long)]
    pub restore_sysctl: bool,
    /// Print what would be removed; change nothing
    #[arg(long)]
    pub dry_run: bool,
}
