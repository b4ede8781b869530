//! CHECK, the CNI face: CNI_NETNS must exist and not be the plugin's own;
//! `core::verify` compares the attachment with the kernel (and prevResult's
//! addresses with hostnet's); a delegated IPAM plugin is asked too.

use std::path::Path;

use super::config::{IpamKind, NetConf};
use super::env::Env;
use super::ipam::delegate;
use super::result::AddResult;
use crate::core::netns_guard;
use crate::core::state::Store;
use crate::core::verify;
use crate::error::{Error, Result};

pub fn check(env: &Env, conf: &NetConf) -> Result<()> {
    let cid = env.container_id()?;
    let ifname = env.ifname()?;
    let netns_path = env.netns()?;
    if !Path::new(netns_path).exists() {
        return Err(Error::not_found(format!(
            "CNI_NETNS {netns_path} does not exist"
        )));
    }
    let netns_file = netns_guard::open(netns_path)?;
    netns_guard::refuse_own(netns_path, &netns_file)?;
    let prev = conf
        .prev_result
        .as_ref()
        .map(AddResult::from_json)
        .transpose()?;
    let store = Store::new(&conf.state_dir, &conf.run_dir);
    verify::verify(&store, &conf.name, cid, ifname, netns_path, prev.as_ref())?;
    if let IpamKind::Delegated(kind) = &conf.ipam.kind {
        delegate::exec(&env.path, kind, "CHECK", &conf.raw)?;
    }
    Ok(())
}
