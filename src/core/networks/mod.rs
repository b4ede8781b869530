//! Networks as nerdctl has them: found by name or ID prefix, who is
//! attached, created through init's planner (one path for every network),
//! and removed when nothing is attached, each change one plan with undo.

mod create;
mod remove;

pub use create::{NewNetwork, create};
pub use remove::{bridge_actions, prune, remove};

use crate::core::record::Attachment;
use crate::core::state::{NetworkRecord, Store};
use crate::error::{Error, Result};

/// The records named by `key`: a network name, or a unique prefix of an ID.
pub fn find(store: &Store, key: &str) -> Result<NetworkRecord> {
    let all = store.networks()?;
    if let Some(r) = all.iter().find(|r| r.network.name == key) {
        return Ok(r.clone());
    }
    let by_id: Vec<&NetworkRecord> = if key.is_empty() {
        Vec::new()
    } else {
        all.iter()
            .filter(|r| !r.network.id.is_empty() && r.network.id.starts_with(key))
            .collect()
    };
    match by_id.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::not_found(format!("no such network: {key}"))),
        many => Err(Error::invalid(format!(
            "{key} matches {} networks ({}); give more of the ID",
            many.len(),
            many.iter()
                .map(|r| r.network.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The attachments of one network.
pub fn attached(store: &Store, network: &str) -> Result<Vec<Attachment>> {
    Ok(crate::core::attachments::attachments(store)?
        .into_iter()
        .filter(|a| a.network == network)
        .collect())
}

/// "container c1 (eth0), container c2 (eth1)" for messages.
pub fn describe_attached(list: &[Attachment]) -> String {
    list.iter()
        .map(|a| format!("container {} ({})", a.container_id, a.ifname))
        .collect::<Vec<_>>()
        .join(", ")
}
