//! `hostnet init`: make the host side of networks true, idempotently
//! (`core::setup`); `--dry-run` prints the actions and the ruleset.

use serde_json::json;

use crate::cli::{Global, InitArgs};
use crate::core::network::Network;
use crate::core::setup::{self, Request};
use crate::error::Result;

pub fn run(g: &Global, args: &InitArgs) -> Result<()> {
    let store = super::store(g);
    let req = Request {
        name: args.name.as_deref(),
        bridge: args.bridge.as_deref(),
        subnet: &args.subnet,
        gateway: &args.gateway,
        mtu: args.mtu,
        gateway_mode: args.gateway_mode.as_deref(),
        force_address: args.force_address,
        docker_forward: args.docker_forward.as_deref(),
    };
    let out = setup::setup(&store, &g.cni_conf_dir, &req, args.dry_run)?;
    if let Some(ruleset) = &out.ruleset {
        return print_dry_run(g, &out.networks, &out.actions, ruleset);
    }
    let names: Vec<&str> = out.networks.iter().map(|n| n.name.as_str()).collect();
    if g.json {
        println!("{}", json!({ "networks": names, "actions": out.actions }));
    } else if out.actions.is_empty() {
        println!("{} in place; nothing to do", describe(&out.networks));
    } else {
        for line in &out.actions {
            println!("{line}");
        }
    }
    Ok(())
}

fn describe(networks: &[Network]) -> String {
    let parts: Vec<String> = networks
        .iter()
        .map(|n| format!("network {} on {}", n.name, n.bridge))
        .collect();
    parts.join(", ")
}

fn print_dry_run(g: &Global, networks: &[Network], lines: &[String], ruleset: &str) -> Result<()> {
    if g.json {
        println!(
            "{}",
            json!({ "dry_run": true, "actions": lines, "ruleset": ruleset })
        );
        return Ok(());
    }
    if lines.is_empty() {
        println!("# nothing to do: {} in place", describe(networks));
    }
    for line in lines {
        println!("would {line}");
    }
    println!("\n# nftables ruleset (nft -f syntax):\n{ruleset}");
    Ok(())
}
