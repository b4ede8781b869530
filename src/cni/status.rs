//! STATUS (1.1), the CNI face: `core::readiness` (code 50 when no ADD could
//! succeed now, 51 when in addition existing containers are affected); a
//! delegated IPAM plugin is asked too.

use super::config::{IpamKind, NetConf};
use super::env::Env;
use super::ipam::delegate;
use crate::core::readiness;
use crate::core::state::Store;
use crate::error::Result;

pub fn status(env: &Env, conf: &NetConf) -> Result<()> {
    let store = Store::new(&conf.state_dir, &conf.run_dir);
    let pool = match &conf.ipam.kind {
        IpamKind::HostLocal {
            range_sets,
            data_dir,
            ..
        } => Some((data_dir.as_path(), range_sets.as_slice())),
        IpamKind::Delegated(_) => None,
    };
    readiness::readiness(&store, &conf.name, &conf.bridge, pool)?;
    if let IpamKind::Delegated(kind) = &conf.ipam.kind {
        delegate::exec(&env.path, kind, "STATUS", &conf.raw)?;
    }
    Ok(())
}
