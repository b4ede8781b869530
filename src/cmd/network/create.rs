//! `hostnet network create`: validate, then `core::networks::create` (a free
//! subnet when none is given; init's planner with rollback).

use crate::cli::{Global, NetworkCreateArgs};
use crate::core::network::{self, GatewayMode, Isolation};
use crate::core::networks::{self, NewNetwork};
use crate::error::{Error, Result};

pub fn create(g: &Global, a: &NetworkCreateArgs) -> Result<()> {
    network::validate_nerdctl_name(&a.name)?;
    if super::RESERVED.contains(&a.name.as_str()) {
        return Err(Error::invalid(format!(
            "network name {} is reserved (host, none and bridge are nerdctl's)",
            a.name
        )));
    }
    let labels = network::parse_labels(&a.label)?;
    let gateway_mode = GatewayMode::parse(&a.gateway_mode)?;
    let isolation = Isolation::parse(&a.isolation)?;
    if a.subnet.is_empty() && !a.gateway.is_empty() {
        return Err(Error::invalid("--gateway needs --subnet"));
    }
    let store = super::super::store(g);
    let net = networks::create(
        &store,
        &g.cni_conf_dir,
        NewNetwork {
            name: &a.name,
            subnets: &a.subnet,
            gateways: &a.gateway,
            mtu: a.mtu,
            ip_range: a.ip_range.as_deref(),
            labels,
            internal: a.internal,
            gateway_mode,
            isolation,
        },
    )?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({ "id": net.id, "name": net.name, "bridge": net.bridge })
        );
    } else {
        println!("{}", net.id);
    }
    Ok(())
}
