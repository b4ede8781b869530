//! STATUS (1.1): succeed when an ADD could succeed now. Code 50 when it
//! could not (the bridge name is taken by something else, no address left);
//! 51 when in addition the network's existing containers are affected (the
//! bridge or the nftables table is gone).

use super::config::{IpamKind, NetConf};
use super::env::Env;
use super::ipam::delegate;
use crate::core::ipam::hostlocal::HostLocal;
use crate::core::record;
use crate::core::state::Store;
use crate::error::{Error, Kind, Result};
use crate::kernel::link::Netlink;
use crate::kernel::nft;

pub fn status(env: &Env, conf: &NetConf) -> Result<()> {
    let store = Store::new(&conf.state_dir, &conf.run_dir);
    let nl = Netlink::open()?;
    let bridge = nl.link(&conf.bridge)?;
    if let Some(l) = &bridge
        && l.kind.as_deref() != Some("bridge")
    {
        return Err(Error::new(
            Kind::NotAvailable { limited: false },
            format!(
                "{} exists and is not a bridge (kind {}): no ADD can succeed",
                conf.bridge,
                l.kind.as_deref().unwrap_or("none")
            ),
        ));
    }
    let attached = record::list_network(&store, &conf.name)?.len();
    if attached > 0 {
        let problem = match &bridge {
            None => Some(format!("bridge {} is missing", conf.bridge)),
            Some(l) if !l.up => Some(format!("bridge {} is down", conf.bridge)),
            Some(_) if nft::read_table()?.is_none() => {
                Some(format!("the nftables table inet {} is missing", nft::TABLE))
            }
            Some(_) => None,
        };
        if let Some(p) = problem {
            return Err(Error::new(
                Kind::NotAvailable { limited: true },
                format!(
                    "{p}: {attached} attached container(s) have limited connectivity (an ADD or `hostnet init` repairs it)"
                ),
            ));
        }
    }
    match &conf.ipam.kind {
        IpamKind::HostLocal {
            range_sets,
            data_dir,
            ..
        } => {
            let used = HostLocal::new(data_dir, &conf.name).entries()?;
            for set in range_sets {
                let capacity: u128 = set.ranges.iter().map(|r| r.capacity()).sum();
                let taken = used
                    .iter()
                    .filter(|(ip, _, _)| set.range_for(*ip).is_some_and(|r| !r.reserved(*ip)))
                    .count() as u128;
                if taken >= capacity {
                    return Err(Error::new(
                        Kind::NotAvailable { limited: false },
                        format!(
                            "no free address left in {} ({taken} of {capacity} in use)",
                            set.describe()
                        ),
                    ));
                }
            }
        }
        IpamKind::Delegated(kind) => {
            delegate::exec(&env.path, kind, "STATUS", &conf.raw)?;
        }
    }
    Ok(())
}
