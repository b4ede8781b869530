//! A bridge network as hostnet manages it, and the validation of every field a
//! user can give. Nothing here touches the kernel.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const DEFAULT_NETWORK: &str = "bridge";
pub const DEFAULT_BRIDGE: &str = "nerdctl0";
pub const DEFAULT_SUBNET: &str = "10.4.0.0/24";

/// One subnet of a network with its gateway (the bridge's address in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub subnet: IpNetwork,
    pub gateway: IpAddr,
    /// Containers get addresses only from this part of the subnet (--ip-range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<IpNetwork>,
}

impl Subnet {
    /// The gateway with the subnet's prefix: what goes on the bridge.
    pub fn gateway_cidr(&self) -> IpNetwork {
        // prefix checked at construction, so this cannot fail
        IpNetwork::new(self.gateway, self.subnet.prefix()).unwrap_or(self.subnet)
    }
    pub fn is_v6(&self) -> bool {
        self.subnet.is_ipv6()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub bridge: String,
    pub subnets: Vec<Subnet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// nerdctl's `nerdctlID`: 64 hex characters, fixed at creation.
    pub id: String,
    /// nerdctl's `nerdctlLabels`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// No masquerade, no default route for containers, no port mappings.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    #[serde(default)]
    pub gateway_mode: GatewayMode,
    /// Who may reach whom on this network's bridge.
    #[serde(default)]
    pub isolation: Isolation,
}

/// How traffic leaves a network: masqueraded (nat) or routed as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayMode {
    #[default]
    Nat,
    Routed,
}

/// Containers on one bridge reach each other (`same-bridge`, the default,
/// and the reference firewall plugin's `ingressPolicy: same-bridge`) or not
/// (`isolated`: bridge port isolation; the gateway stays reachable).
/// Containers on different networks never reach each other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    #[default]
    SameBridge,
    Isolated,
}

impl Isolation {
    pub fn parse(text: &str) -> Result<Isolation> {
        match text {
            "same-bridge" => Ok(Isolation::SameBridge),
            "isolated" => Ok(Isolation::Isolated),
            _ => Err(Error::invalid(format!(
                "isolation {text:?}: use same-bridge or isolated"
            ))),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::SameBridge => "same-bridge",
            Isolation::Isolated => "isolated",
        }
    }
}

impl GatewayMode {
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayMode::Nat => "nat",
            GatewayMode::Routed => "routed",
        }
    }
    pub fn parse(text: &str) -> Result<GatewayMode> {
        match text {
            "nat" => Ok(GatewayMode::Nat),
            "routed" => Ok(GatewayMode::Routed),
            _ => Err(Error::invalid(format!(
                "gateway mode {text:?}: use nat or routed"
            ))),
        }
    }
}

/// The label nerdctl puts on its default network.
pub const DEFAULT_NETWORK_LABEL: &str = "nerdctl/default-network";

/// nerdctl's ID of a network: the default network's is the hex sha256 of its
/// name (fixed, the same on every host); any other gets 64 random hex digits.
pub fn id_for(name: &str) -> Result<String> {
    if name == DEFAULT_NETWORK {
        use sha2::{Digest, Sha256};
        let d = Sha256::digest(name.as_bytes());
        return Ok(d.iter().map(|b| format!("{b:02x}")).collect());
    }
    crate::core::conflist::new_id().map_err(|e| Error::io("reading /dev/urandom", e))
}

/// Labels a network gets when hostnet creates it without any given.
pub fn default_labels(name: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if name == DEFAULT_NETWORK {
        m.insert(DEFAULT_NETWORK_LABEL.to_string(), "true".to_string());
    }
    m
}

/// Network names as nerdctl accepts them: `^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`.
pub fn validate_nerdctl_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "network name {name:?}: must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]{{0,63}}$"
        )))
    }
}

/// `K=V` labels; a key is non-empty and has no '=' or whitespace.
pub fn parse_labels(texts: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for t in texts {
        let Some((k, v)) = t.split_once('=') else {
            return Err(Error::invalid(format!("label {t:?}: use KEY=VALUE")));
        };
        if k.is_empty() || k.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid(format!(
                "label {t:?}: the key must be non-empty, without whitespace"
            )));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// `--ip-range`: a CIDR inside the subnet of its family.
pub fn set_ip_range(subnets: &mut [Subnet], text: &str) -> Result<()> {
    let range: IpNetwork = text
        .parse()
        .map_err(|e| Error::invalid(format!("ip range {text:?} is not a valid CIDR: {e}")))?;
    let Some(s) = subnets
        .iter_mut()
        .find(|s| s.subnet.is_ipv4() == range.is_ipv4())
    else {
        return Err(Error::invalid(format!(
            "ip range {range} has no subnet of its family"
        )));
    };
    if range.ip() != range.network() {
        return Err(Error::invalid(format!(
            "ip range {text} has host bits set; did you mean {}/{}?",
            range.network(),
            range.prefix()
        )));
    }
    if range.prefix() < s.subnet.prefix() || !s.subnet.contains(range.network()) {
        return Err(Error::invalid(format!(
            "ip range {range} is outside the subnet {}",
            s.subnet
        )));
    }
    // room for one container: the range's size less the gateway and the
    // subnet's network/broadcast addresses it holds
    let bits = if range.is_ipv4() { 32 } else { 128 } - range.prefix() as u32;
    let size = if bits >= 127 {
        u128::MAX
    } else {
        1u128 << bits
    };
    let mut taken = vec![s.gateway, s.subnet.network()];
    if let IpNetwork::V4(v4) = s.subnet {
        taken.push(IpAddr::V4(v4.broadcast()));
    }
    let reserved = taken.iter().filter(|ip| range.contains(**ip)).count() as u128;
    if size <= reserved {
        return Err(Error::invalid(format!(
            "ip range {range} leaves no address for a container"
        )));
    }
    s.ip_range = Some(range);
    Ok(())
}

/// The last address of a network (the broadcast address for IPv4).
pub fn last_addr(net: IpNetwork) -> IpAddr {
    match net {
        IpNetwork::V4(v4) => IpAddr::V4(v4.broadcast()),
        IpNetwork::V6(v6) => {
            let bits = 128 - v6.prefix() as u32;
            let mask = if bits >= 128 {
                u128::MAX
            } else {
                (1u128 << bits) - 1
            };
            IpAddr::V6((u128::from(v6.network()) | mask).into())
        }
    }
}

impl Network {
    pub fn has_v6(&self) -> bool {
        self.subnets.iter().any(Subnet::is_v6)
    }
    pub fn v4(&self) -> impl Iterator<Item = &Subnet> {
        self.subnets.iter().filter(|s| !s.is_v6())
    }
}

/// Interface names: 1..=15 bytes, no '/', no whitespace, not "." or "..".
pub fn validate_ifname(what: &str, name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(format!("{what} {name:?}: {why}")));
    if name.is_empty() {
        return bad("empty interface name");
    }
    if name.len() > 15 {
        return bad("interface names are at most 15 bytes");
    }
    if name == "." || name == ".." {
        return bad("not a valid interface name");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return bad("interface names cannot contain '/', ':' or whitespace");
    }
    Ok(())
}

/// Bridge names: what `ip link` accepts and nothing a shell would need
/// quoted: 1..=15 bytes of `[A-Za-z0-9_.-]`, not "." or "..". (Container
/// interface names, CNI_IFNAME, keep the kernel's wider rule.)
pub fn validate_bridge_name(what: &str, name: &str) -> Result<()> {
    validate_ifname(what, name)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(Error::invalid(format!(
            "{what} {name:?}: use only letters, digits, '_', '.' and '-'"
        )));
    }
    Ok(())
}

/// Address ranges a container subnet must not touch: (range, why).
const RESERVED: &[(&str, &str)] = &[
    ("0.0.0.0/8", "\"this network\" (0.0.0.0/8) is not routable"),
    ("127.0.0.0/8", "127.0.0.0/8 is loopback"),
    ("169.254.0.0/16", "169.254.0.0/16 is link-local"),
    ("224.0.0.0/4", "224.0.0.0/4 is multicast"),
    (
        "240.0.0.0/4",
        "240.0.0.0/4 is reserved (and holds the broadcast address 255.255.255.255); many hosts and routers drop it",
    ),
    ("::/128", "::/128 is the unspecified address"),
    ("::1/128", "::1/128 is loopback"),
    (
        "::ffff:0:0/96",
        "::ffff:0:0/96 is IPv4-mapped (IPv4 traffic in IPv6 sockets)",
    ),
    ("fe80::/10", "fe80::/10 is link-local"),
    ("ff00::/8", "ff00::/8 is multicast"),
];

/// Refuse a subnet that overlaps a reserved range (inside it, or containing it).
pub fn reject_reserved(net: IpNetwork) -> Result<()> {
    for (range, why) in RESERVED {
        let Ok(r) = range.parse::<IpNetwork>() else {
            continue;
        };
        if r.is_ipv4() == net.is_ipv4() && overlaps(r, net) {
            return Err(Error::invalid(format!(
                "subnet {net} cannot be used for containers: {why}"
            )));
        }
    }
    Ok(())
}

/// Network names become file names: letters, digits, '.', '_', '-'; 1..=64; not starting with '.' or '-'.
pub fn validate_network_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "network name {name:?}: use 1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-'"
        )))
    }
}

/// Parse a subnet in CIDR form; host bits must be zero; it must leave room
/// for a gateway and at least one container (no /31, /32, /127, /128).
pub fn parse_subnet(text: &str) -> Result<IpNetwork> {
    let net: IpNetwork = text
        .parse()
        .map_err(|e| Error::invalid(format!("subnet {text:?} is not a valid CIDR: {e}")))?;
    if !text.contains('/') {
        return Err(Error::invalid(format!(
            "subnet {text:?} needs a prefix length, e.g. 10.4.0.0/24"
        )));
    }
    if net.ip() != net.network() {
        return Err(Error::invalid(format!(
            "subnet {text} has host bits set; did you mean {}/{}?",
            net.network(),
            net.prefix()
        )));
    }
    reject_reserved(net)?;
    let max = if net.is_ipv4() { 30 } else { 120 };
    if net.prefix() > max {
        return Err(Error::invalid(format!(
            "subnet {text} is too small: it needs room for a gateway and containers (at most /{max})"
        )));
    }
    Ok(net)
}

/// The gateway: given, or the first host of the subnet. It must be a usable
/// host address inside the subnet (not the network or broadcast address).
pub fn gateway_for(subnet: IpNetwork, given: Option<&str>) -> Result<IpAddr> {
    let gw = match given {
        Some(text) => text
            .parse::<IpAddr>()
            .map_err(|_| Error::invalid(format!("gateway {text:?} is not an IP address")))?,
        None => nth_host(subnet, 1)
            .ok_or_else(|| Error::invalid(format!("subnet {subnet} has no host addresses")))?,
    };
    if gw.is_ipv4() != subnet.is_ipv4() || !subnet.contains(gw) {
        return Err(Error::invalid(format!(
            "gateway {gw} is outside the subnet {subnet}"
        )));
    }
    if gw == subnet.network() {
        return Err(Error::invalid(format!(
            "gateway {gw} is the network address of {subnet}"
        )));
    }
    if let IpNetwork::V4(v4) = subnet
        && IpAddr::V4(v4.broadcast()) == gw
    {
        return Err(Error::invalid(format!(
            "gateway {gw} is the broadcast address of {subnet}"
        )));
    }
    Ok(gw)
}

/// The n-th address of a subnet (0 = the network address), if inside it.
pub fn nth_host(subnet: IpNetwork, n: u128) -> Option<IpAddr> {
    match subnet {
        IpNetwork::V4(v4) => {
            let base = u32::from(v4.network()) as u128;
            let size = 1u128 << (32 - v4.prefix());
            (n < size).then(|| IpAddr::V4(((base + n) as u32).into()))
        }
        IpNetwork::V6(v6) => {
            let base = u128::from(v6.network());
            let bits = 128 - v6.prefix() as u32;
            let fits = bits >= 128 || n < (1u128 << bits);
            fits.then(|| IpAddr::V6((base + n).into()))
        }
    }
}

/// Build a validated network from user input. `subnets`/`gateways` are given
/// at most once per family; gateways are matched to subnets by family.
pub fn build(
    name: &str,
    bridge: &str,
    subnets: &[String],
    gateways: &[String],
    mtu: Option<u32>,
    id: String,
) -> Result<Network> {
    validate_network_name(name)?;
    validate_bridge_name("bridge", bridge)?;
    if let Some(m) = mtu
        && !(68..=65535).contains(&m)
    {
        return Err(Error::invalid(format!(
            "mtu {m}: must be between 68 and 65535"
        )));
    }
    let default = [DEFAULT_SUBNET.to_string()];
    let texts = if subnets.is_empty() {
        &default[..]
    } else {
        subnets
    };
    let mut out: Vec<Subnet> = Vec::new();
    for text in texts {
        let subnet = parse_subnet(text)?;
        if out.iter().any(|s| s.subnet.is_ipv4() == subnet.is_ipv4()) {
            return Err(Error::invalid("give at most one IPv4 and one IPv6 subnet"));
        }
        out.push(Subnet {
            subnet,
            gateway: subnet.ip(),
            ip_range: None,
        });
    }
    for text in gateways {
        let gw: IpAddr = text
            .parse()
            .map_err(|_| Error::invalid(format!("gateway {text:?} is not an IP address")))?;
        let Some(s) = out.iter_mut().find(|s| s.subnet.is_ipv4() == gw.is_ipv4()) else {
            return Err(Error::invalid(format!(
                "gateway {gw} is outside every subnet given"
            )));
        };
        if s.gateway != s.subnet.ip() {
            return Err(Error::invalid("give at most one gateway per subnet"));
        }
        s.gateway = gateway_for(s.subnet, Some(text))?;
    }
    for s in &mut out {
        if s.gateway == s.subnet.ip() {
            s.gateway = gateway_for(s.subnet, None)?;
        }
    }
    Ok(Network {
        name: name.to_string(),
        bridge: bridge.to_string(),
        subnets: out,
        mtu,
        id,
        labels: BTreeMap::new(),
        internal: false,
        gateway_mode: GatewayMode::default(),
        isolation: Isolation::default(),
    })
}

/// Do two networks overlap?
pub fn overlaps(a: IpNetwork, b: IpNetwork) -> bool {
    a.is_ipv4() == b.is_ipv4() && (a.contains(b.network()) || b.contains(a.network()))
}

/// A stable, locally administered MAC for a bridge, derived from its name, so
/// the bridge's MAC does not change as ports come and go.
pub fn bridge_mac(bridge: &str) -> [u8; 6] {
    // FNV-1a over the name; 0x02 marks a locally administered unicast address.
    let mut h: u32 = 0x811c9dc5;
    for b in bridge.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x01000193);
    }
    let x = h.to_be_bytes();
    [0x02, 0x68, x[0], x[1], x[2], x[3]]
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_validation() {
        assert!(parse_subnet("10.4.0.0/24").is_ok());
        assert!(parse_subnet("10.4.0.0/31").is_err());
        assert!(parse_subnet("10.4.0.0/32").is_err());
        assert!(
            parse_subnet("10.4.0.1/24")
                .unwrap_err()
                .msg
                .contains("10.4.0.0/24")
        );
        assert!(parse_subnet("10.4.0.0").is_err());
        assert!(parse_subnet("10.400.0.0/24").is_err());
        assert!(parse_subnet("fd00::/64").is_ok());
        for bad in [
            "127.0.0.0/24",
            "127.0.0.0/8",
            "224.0.0.0/24",
            "0.0.0.0/24",
            "169.254.0.0/24",
            "240.0.0.0/24",
            "96.0.0.0/3",
            "ff00::/64",
            "fe80::/64",
            "::/64",
            "::ffff:0:0/120",
        ] {
            assert!(parse_subnet(bad).is_err(), "{bad}");
        }
        assert!(parse_subnet("100.64.0.0/24").is_ok());
        assert!(validate_bridge_name("bridge", "br-0123456789ab").is_ok());
        assert!(validate_bridge_name("bridge", "a;b").is_err());
        assert!(validate_bridge_name("bridge", "a$b").is_err());
        assert!(validate_bridge_name("bridge", "ab@c").is_err());
        assert!(validate_bridge_name("bridge", "..").is_err());
        assert!(parse_subnet("fd00::/127").is_err());
        assert!(parse_subnet("fd00::/121").is_err());
        assert!(parse_subnet("fd00::/120").is_ok());
    }

    #[test]
    fn gateways() {
        let s = parse_subnet("10.4.0.0/24").unwrap();
        assert_eq!(gateway_for(s, None).unwrap().to_string(), "10.4.0.1");
        assert!(gateway_for(s, Some("10.5.0.1")).is_err());
        assert!(gateway_for(s, Some("10.4.0.0")).is_err());
        assert!(gateway_for(s, Some("10.4.0.255")).is_err());
        assert!(gateway_for(s, Some("fd00::1")).is_err());
        assert!(gateway_for(s, Some("10.4.0.254")).is_ok());
    }

    #[test]
    fn ifnames() {
        assert!(validate_ifname("bridge", "nerdctl0").is_ok());
        assert!(validate_ifname("bridge", "eth0.100").is_ok());
        assert!(validate_ifname("bridge", "abcdefghijklmnop").is_err());
        assert!(validate_ifname("bridge", "a/b").is_err());
        assert!(validate_ifname("bridge", "").is_err());
        assert!(validate_ifname("bridge", "..").is_err());
    }

    #[test]
    fn dual_stack_build() {
        let n = build(
            "bridge",
            "nerdctl0",
            &["10.4.0.0/24".into(), "fd00:4::/64".into()],
            &["fd00:4::fe".into()],
            None,
            "x".into(),
        )
        .unwrap();
        assert_eq!(n.subnets[0].gateway.to_string(), "10.4.0.1");
        assert_eq!(n.subnets[1].gateway.to_string(), "fd00:4::fe");
        assert!(
            build(
                "bridge",
                "nerdctl0",
                &["10.4.0.0/24".into(), "10.5.0.0/24".into()],
                &[],
                None,
                "x".into()
            )
            .is_err()
        );
    }

    #[test]
    fn ids_names_labels() {
        assert_eq!(
            id_for("bridge").unwrap(),
            "17f29b073143d8cd97b5bbe492bdeffec1c5fee55cc1fe2112c8b9335f8b6121"
        );
        let a = id_for("x").unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, id_for("x").unwrap());
        assert!(validate_nerdctl_name("a").is_ok());
        assert!(validate_nerdctl_name("a_b.c-d").is_ok());
        assert!(validate_nerdctl_name("-a").is_err());
        assert!(validate_nerdctl_name("_a").is_err());
        assert!(validate_nerdctl_name(&"a".repeat(65)).is_err());
        assert!(validate_nerdctl_name("a/b").is_err());
        assert!(parse_labels(&["a=b".into(), "c=".into()]).is_ok());
        assert!(parse_labels(&["ab".into()]).is_err());
        assert!(parse_labels(&["=b".into()]).is_err());
    }

    #[test]
    fn ip_ranges() {
        let mut n = build("n", "b", &["10.4.1.0/24".into()], &[], None, "x".into()).unwrap();
        assert!(set_ip_range(&mut n.subnets, "10.4.1.128/25").is_ok());
        assert!(set_ip_range(&mut n.subnets, "10.4.2.0/25").is_err());
        assert!(set_ip_range(&mut n.subnets, "10.4.0.0/16").is_err());
        assert!(set_ip_range(&mut n.subnets, "fd00::/64").is_err());
    }

    #[test]
    fn mac_is_stable_and_local() {
        let a = bridge_mac("nerdctl0");
        assert_eq!(a, bridge_mac("nerdctl0"));
        assert_ne!(a, bridge_mac("nerdctl1"));
        assert_eq!(a[0] & 0x03, 0x02);
    }
}
