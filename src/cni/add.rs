//! ADD, the CNI face: open and check CNI_NETNS, run a delegated IPAM plugin
//! if the config names one (its DEL is the undo), build the core's request
//! (`netspec::request`), attach (`core::attach`), render the result in the
//! config's spec version. The whole attach and its rollback live in the core.

use serde_json::Value;

use super::config::{IpamKind, NetConf, RouteSpec};
use super::env::Env;
use super::ipam::delegate;
use super::netspec::{self, Delegated};
use super::result::AddResult;
use crate::core::attach;
use crate::core::netns_guard;
use crate::core::txn::Transaction;
use crate::error::{Context, Error, Kind, Result};

pub fn add(env: &Env, conf: &NetConf) -> Result<Value> {
    let netns_path = env.netns()?;
    let netns_file = netns_guard::open(netns_path)?;
    netns_guard::refuse_own(netns_path, &netns_file)?;
    let mut tx = Transaction::new();
    let outcome = (|| {
        let delegated = match &conf.ipam.kind {
            IpamKind::Delegated(kind) => Some(delegated(env, conf, kind, &mut tx)?),
            IpamKind::HostLocal { .. } => None,
        };
        let req = netspec::request(env, conf, netns_path, netns_file, delegated)?;
        attach::attach(&req, &|r: &AddResult| r.to_json(conf.version))
    })();
    match outcome {
        Ok(v) => {
            tx.commit();
            Ok(v)
        }
        Err(e) => Err(tx.fail(e)),
    }
}

/// The delegated IPAM plugin's ADD, its DEL registered as the undo.
fn delegated<'a>(
    env: &'a Env,
    conf: &'a NetConf,
    kind: &'a str,
    tx: &mut Transaction<'a>,
) -> Result<Delegated> {
    let answer = delegate::exec(&env.path, kind, "ADD", &conf.raw)?;
    tx.done(format!("releasing the address through {kind}"), move || {
        delegate::exec(&env.path, kind, "DEL", &conf.raw).map(|_| ())
    });
    let Some(answer) = answer else {
        return Err(Error::new(
            Kind::Delegate,
            format!("IPAM plugin {kind} returned nothing"),
        ));
    };
    let r = AddResult::from_json(&answer).ctx(format!("IPAM plugin {kind}'s result"))?;
    Ok(Delegated {
        kind: kind.to_string(),
        ips: r.ips.iter().map(|i| (i.address, i.gateway)).collect(),
        routes: r
            .routes
            .iter()
            .map(|r| RouteSpec {
                dst: r.dst,
                gw: r.gw,
            })
            .collect(),
        dns: r.dns,
    })
}
