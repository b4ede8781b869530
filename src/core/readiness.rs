//! Whether an ADD could succeed on a network now (CNI 1.1 STATUS): not
//! available when the bridge name is taken by something else or no address
//! is left; limited when, in addition, the network's existing containers are
//! affected (the bridge or the nftables table is gone).

use std::path::Path;

use crate::core::ipam::hostlocal::HostLocal;
use crate::core::ipam::range::RangeSet;
use crate::core::record;
use crate::core::state::Store;
use crate::error::{Error, Kind, Result};
use crate::kernel::link::Netlink;
use crate::kernel::nft;

/// The network `network` on `bridge`; `pool`: its host-local data dir and
/// range sets, when its addresses come from there.
pub fn readiness(
    store: &Store,
    network: &str,
    bridge: &str,
    pool: Option<(&Path, &[RangeSet])>,
) -> Result<()> {
    let nl = Netlink::open()?;
    let link = nl.link(bridge)?;
    if let Some(l) = &link
        && l.kind.as_deref() != Some("bridge")
    {
        return Err(Error::new(
            Kind::NotAvailable { limited: false },
            format!(
                "{bridge} exists and is not a bridge (kind {}): no ADD can succeed",
                l.kind.as_deref().unwrap_or("none")
            ),
        ));
    }
    let attached = record::list_network(store, network)?.len();
    if attached > 0 {
        let problem = match &link {
            None => Some(format!("bridge {bridge} is missing")),
            Some(l) if !l.up => Some(format!("bridge {bridge} is down")),
            Some(_) if !nft::inet_table_exists()? => {
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
    if let Some((data_dir, range_sets)) = pool {
        let used = HostLocal::new(data_dir, network).entries()?;
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
    Ok(())
}
