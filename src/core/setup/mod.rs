//! `hostnet init`: make the host side of networks true, idempotently.
//!
//! 1. the networks asked for, validated (`request`; no kernel access);
//! 2. attachments whose containers are gone released, then per network
//!    only the actions needed (`core::host::plan`, from one read of the
//!    kernel, refusing conflicts before any change), executed with rollback;
//! 3. host-wide: the Docker coexistence rules and the setting behind them.

mod request;

use std::path::Path;

use crate::core::desired;
use crate::core::host::{json_bytes, plan};
use crate::core::lock::HostLock;
use crate::core::network::Network;
use crate::core::plan::{self, Action};
use crate::core::state::{NetworkRecord, Store};
use crate::core::{orphans, recover};
use crate::error::Result;
use crate::kernel::link::Netlink;
use crate::kernel::nft;

/// What `init` asks for; with none of the network options, every recorded network.
pub struct Request<'a> {
    pub name: Option<&'a str>,
    pub bridge: Option<&'a str>,
    pub subnet: &'a [String],
    pub gateway: &'a [String],
    pub mtu: Option<u32>,
    pub gateway_mode: Option<&'a str>,
    /// Take over an address another interface of the host holds.
    pub force_address: bool,
    /// "on" or "off": hostnet's accept rules in Docker's filter FORWARD chains.
    pub docker_forward: Option<&'a str>,
}

pub struct Outcome {
    pub networks: Vec<Network>,
    /// What was done, or (a dry run) what would be, one line each.
    pub actions: Vec<String>,
    /// A dry run's nftables ruleset (nft -f syntax); None when it ran.
    pub ruleset: Option<String>,
}

/// Make `req` true (under the host lock), or with `dry_run` only say how.
pub fn setup(store: &Store, conf_dir: &Path, req: &Request, dry_run: bool) -> Result<Outcome> {
    let networks = request::requested_networks(store, conf_dir, req)?;
    let _lock = if dry_run {
        None
    } else {
        Some(HostLock::acquire(&store.run)?)
    };
    let nl = Netlink::open()?;
    let mut done = Vec::new();
    if !dry_run {
        // attachments whose containers are gone (a reboot, a crash) first,
        // so the table is planned without their elements
        done.extend(recover::release_dead(store, &nl)?);
        done.extend(orphans::sweep_dead_temps(store)?);
    }
    let mut planned = Vec::new();
    for net in &networks {
        let actions = plan(Some(conf_dir), store, &nl, net, req.force_address)?;
        if dry_run {
            planned.push(actions);
            continue;
        }
        plan::execute(&nl, &actions, |a| done.push(a.to_string()))?;
    }
    // host-wide, after every network: the Docker coexistence rules for all
    // managed bridges, and the setting that turns them on or off
    let host_actions = host_wide_plan(store, &networks, req)?;
    if dry_run {
        if let Some(last) = planned.last_mut() {
            last.extend(host_actions);
        }
        let actions = planned.iter().flatten().map(|a| a.to_string()).collect();
        let ruleset = Some(ruleset(store, &networks)?);
        return Ok(Outcome {
            networks,
            actions,
            ruleset,
        });
    }
    plan::execute(&nl, &host_actions, |a| done.push(a.to_string()))?;
    recover::record_boot(store)?;
    Ok(Outcome {
        networks,
        actions: done,
        ruleset: None,
    })
}

/// The settings file, if `--docker-forward` changes it, then the rules in
/// foreign `filter FORWARD` chains that make them hold exactly the accepts
/// for every managed bridge (none when the setting is off).
fn host_wide_plan(store: &Store, networks: &[Network], req: &Request) -> Result<Vec<Action>> {
    let mut actions = Vec::new();
    let before = store.settings()?;
    let mut settings = before.clone();
    if let Some(v) = req.docker_forward {
        settings.docker_forward = v == "on";
    }
    if settings != before || (req.docker_forward.is_some() && !store.settings_path().exists()) {
        actions.push(Action::WriteFile {
            path: store.settings_path(),
            contents: json_bytes(&settings)?,
            mode: 0o644,
        });
    }
    let mut bridges: Vec<String> = store
        .networks()?
        .into_iter()
        .map(|r| r.network.bridge)
        .chain(networks.iter().map(|n| n.bridge.clone()))
        .collect();
    bridges.sort();
    bridges.dedup();
    if !settings.docker_forward {
        bridges.clear();
    }
    if let Some(action) = Action::forward_accepts(bridges)? {
        actions.push(action);
    }
    Ok(actions)
}

/// The table a dry run would load: the recorded networks with `planned`
/// in place of their records.
fn ruleset(store: &Store, planned: &[Network]) -> Result<String> {
    let mut records = store.networks()?;
    for net in planned {
        records.retain(|r| r.network.name != net.name);
        records.push(NetworkRecord {
            network: net.clone(),
            owns_bridge: false,
            added_addresses: vec![],
            conflist: None,
        });
    }
    let spec = desired::table_spec(store, &records)?;
    Ok(nft::ruleset_text(&spec))
}
