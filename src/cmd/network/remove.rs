//! `hostnet network rm` and `prune`: `core::networks::{remove, prune}`
//! (each network in one go, rolled back as a whole when a step fails).

use crate::cli::{Global, NetworkRmArgs};
use crate::core::networks;
use crate::error::Result;

pub fn rm(g: &Global, a: &NetworkRmArgs) -> Result<()> {
    let store = super::super::store(g);
    let names = networks::remove(&store, &a.networks, |name| {
        if !g.json {
            println!("{name}");
        }
    })?;
    if g.json {
        println!("{}", serde_json::json!({ "removed": names }));
    }
    Ok(())
}

pub fn prune(g: &Global) -> Result<()> {
    let store = super::super::store(g);
    let removed = networks::prune(&store)?;
    if g.json {
        println!("{}", serde_json::json!({ "removed": removed }));
    } else if !removed.is_empty() {
        println!("Deleted Networks:");
        for n in &removed {
            println!("{n}");
        }
    }
    Ok(())
}
