//! `hostnet version` (and `--version`): the version, the CNI spec versions
//! the plugin speaks, and what the running kernel offers.

use serde_json::json;

use crate::cli::Global;
use crate::core::CNI_VERSIONS as SUPPORTED;
use crate::error::Result;
use crate::kernel::probe;

/// The text after "hostnet " in `hostnet --version` and `hostnet version`.
pub fn text() -> String {
    let nft = match probe::nf_tables() {
        Ok(()) => "yes".to_string(),
        Err(e) => format!("no ({e})"),
    };
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    format!(
        "{}\nCNI versions: {}\nkernel: {}\nnf_tables: {nft}\nipv6: {}\nbr_netfilter: {}",
        env!("CARGO_PKG_VERSION"),
        SUPPORTED.join(", "),
        probe::kernel_release().unwrap_or_else(|| "unknown".into()),
        yes_no(probe::ipv6()),
        yes_no(probe::br_netfilter()),
    )
}

pub fn run(g: &Global) -> Result<()> {
    if g.json {
        let nft = probe::nf_tables();
        println!(
            "{}",
            json!({
                "version": env!("CARGO_PKG_VERSION"),
                "cni_versions": SUPPORTED,
                "kernel": probe::kernel_release(),
                "nf_tables": nft.is_ok(),
                "nf_tables_error": nft.err(),
                "ipv6": probe::ipv6(),
                "br_netfilter": probe::br_netfilter(),
            })
        );
    } else {
        println!("hostnet {}", text());
    }
    Ok(())
}
