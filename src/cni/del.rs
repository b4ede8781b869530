//! DEL, the CNI face: the delegated IPAM plugin's DEL (if the config names
//! one), then `core::detach` for the attachment CNI_CONTAINERID/CNI_IFNAME
//! names, with prevResult for an attachment hostnet has no record of.

use std::path::Path;

use super::config::{IpamKind, NetConf};
use super::env::Env;
use super::ipam::delegate;
use super::result::AddResult;
use crate::core::detach::{self, Target};
use crate::core::state::Store;
use crate::error::Result;

pub fn del(env: &Env, conf: &NetConf) -> Result<()> {
    let (cid, ifname) = (env.container_id()?, env.ifname()?);
    let data_dir = match &conf.ipam.kind {
        IpamKind::HostLocal { data_dir, .. } => Some(data_dir.as_path()),
        IpamKind::Delegated(kind) => {
            delegate::exec(&env.path, kind, "DEL", &conf.raw)?;
            None
        }
    };
    // a prevResult that does not parse names nothing
    let prev = conf
        .prev_result
        .as_ref()
        .and_then(|v| AddResult::from_json(v).ok());
    // never into the plugin's own namespace: a CNI_NETNS naming the host
    // would have the container's old sysctl values written there
    let netns = env
        .netns
        .as_deref()
        .filter(|ns| Path::new(ns).exists() && !crate::core::netns_guard::is_own(ns));
    let store = Store::new(&conf.state_dir, &conf.run_dir);
    detach::detach(
        &store,
        &Target {
            network: &conf.name,
            container_id: cid,
            ifname,
            netns,
            data_dir,
            prev: prev.as_ref(),
        },
    )
}
