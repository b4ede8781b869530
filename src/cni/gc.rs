//! GC (1.1), the CNI face: `cni.dev/valid-attachments` is required (an empty
//! list releases everything); `core::collect` releases the rest of this
//! network; a delegated IPAM plugin gets GC too. Errors are gathered, not
//! stopped at.

use std::collections::BTreeSet;

use ipnetwork::IpNetwork;

use super::config::{IpamKind, NetConf};
use super::env::Env;
use super::ipam::delegate;
use crate::core::collect::{self, Keep};
use crate::core::state::Store;
use crate::error::{Error, Result};

pub fn gc(env: &Env, conf: &NetConf) -> Result<()> {
    let Some(valid) = &conf.valid_attachments else {
        return Err(Error::invalid(
            "GC needs cni.dev/valid-attachments (an empty list releases everything)",
        ));
    };
    let valid: BTreeSet<(String, String)> = valid.iter().cloned().collect();
    let (subnets, data_dir): (Vec<IpNetwork>, _) = match &conf.ipam.kind {
        IpamKind::HostLocal {
            range_sets,
            data_dir,
            ..
        } => (
            range_sets.iter().map(|s| s.subnet()).collect(),
            Some(data_dir.as_path()),
        ),
        IpamKind::Delegated(_) => (Vec::new(), None),
    };
    let store = Store::new(&conf.state_dir, &conf.run_dir);
    let ours = collect::collect(
        &store,
        &Keep {
            network: &conf.name,
            valid: &valid,
            subnets: &subnets,
            data_dir,
        },
    );
    let delegated = match &conf.ipam.kind {
        IpamKind::Delegated(kind) => delegate::exec(&env.path, kind, "GC", &conf.raw).map(|_| ()),
        IpamKind::HostLocal { .. } => Ok(()),
    };
    match (ours, delegated) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(e), Ok(())) => Err(e),
        (Ok(()), Err(d)) => Err(Error::internal(format!("GC: {}", d.msg))),
        (Err(e), Err(d)) => Err(Error {
            msg: format!("{}; {}", e.msg, d.msg),
            ..e
        }),
    }
}
