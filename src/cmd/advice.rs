//! How `hostnet check` explains a difference: what it breaks and its fix.
//! (The warnings themselves are `core::advice`'s.)

/// The fix for a difference line of `check` (all are repaired by init; the
/// sysctls can also be set by hand).
pub fn fix_for(diff: &str) -> String {
    if diff.starts_with("sysctl net.ipv4.ip_forward ") {
        format!(
            "{diff}: the host forwards nothing, containers reach nothing outside their bridge \
             (fix: hostnet init, or sysctl -w net.ipv4.ip_forward=1)"
        )
    } else if diff.starts_with("sysctl net.ipv6.conf.all.forwarding ") {
        format!(
            "{diff}: IPv6 from containers is not forwarded \
             (fix: hostnet init, or sysctl -w net.ipv6.conf.all.forwarding=1)"
        )
    } else if diff.contains(".route_localnet ") {
        let key = diff
            .strip_prefix("sysctl ")
            .and_then(|r| r.split(' ').next())
            .unwrap_or("net.ipv4.conf.BRIDGE.route_localnet");
        format!(
            "{diff}: 127.0.0.1:PORT on the host does not reach mapped ports \
             (fix: hostnet init, or sysctl -w {key}=1)"
        )
    } else {
        diff.to_string()
    }
}
