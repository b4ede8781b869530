//! `hostnet version` (and `--version`): the version, the CNI spec versions
//! the plugin speaks, and what the running kernel offers.

use serde_json::json;

use crate::cli::Global;
use crate::core::CNI_VERSIONS as SUPPORTED;
use crate::core::features;
use crate::error::Result;

/// The text after "hostnet " in `hostnet --version` and `hostnet version`.
pub fn text() -> String {
    let f = features::probe();
    let nft = match &f.nf_tables {
        Ok(()) => "yes".to_string(),
        Err(e) => format!("no ({e})"),
    };
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    format!(
        "{}\nCNI versions: {}\nkernel: {}\nnf_tables: {nft}\nipv6: {}\nbr_netfilter: {}",
        env!("CARGO_PKG_VERSION"),
        SUPPORTED.join(", "),
        f.kernel.unwrap_or_else(|| "unknown".into()),
        yes_no(f.ipv6),
        yes_no(f.br_netfilter),
    )
}

pub fn run(g: &Global) -> Result<()> {
    if g.json {
        let f = features::probe();
        println!(
            "{}",
            json!({
                "version": env!("CARGO_PKG_VERSION"),
                "cni_versions": SUPPORTED,
                "kernel": f.kernel,
                "nf_tables": f.nf_tables.is_ok(),
                "nf_tables_error": f.nf_tables.err(),
                "ipv6": f.ipv6,
                "br_netfilter": f.br_netfilter,
            })
        );
    } else {
        println!("hostnet {}", text());
    }
    Ok(())
}
