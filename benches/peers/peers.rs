//! The three contenders behind one interface: attach (ADD) and detach (DEL)
//! one container, each call timed from outside around the plugin process(es).
//!
//! - `CniChain`: a conflist driven the way libcni drives it: each plugin in
//!   order with CNI_COMMAND/CNI_CONTAINERID/CNI_NETNS/CNI_IFNAME/CNI_PATH, stdin
//!   = the plugin's conf with `name` and `cniVersion` injected, `prevResult`
//!   threaded from one plugin to the next, `runtimeConfig.portMappings` for
//!   plugins whose `capabilities` ask for it; DEL in reverse order with the
//!   cached ADD result as `prevResult`. Used for the reference chain
//!   (bridge → portmap → firewall → tuning) and for hostnet (one plugin).
//! - `Netavark`: `netavark --config DIR setup|teardown NETNS`, options on stdin.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use crate::R;
use crate::run::{Run, Scratch, timed};

pub const PER_NET: usize = 1000;
pub const IFNAME: &str = "eth0";
pub const CONTAINER_PORT: u16 = 80;
const SYS_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// Network k: bridge hnb<k>, subnet 10.(128+k).0.0/16.
pub fn bridge(k: usize) -> String {
    format!("hnb{k}")
}
pub fn net_name(k: usize) -> String {
    format!("bench{k}")
}
pub fn subnet(k: usize) -> String {
    format!("10.{}.0.0/16", 128 + k)
}
pub fn gateway(k: usize) -> String {
    format!("10.{}.0.1", 128 + k)
}
/// A static address in network k (netavark needs the caller to allocate).
pub fn static_ip(k: usize, host: usize) -> String {
    format!("10.{}.{}.{}", 128 + k, host >> 8, host & 255)
}

/// One container to attach.
#[derive(Clone)]
pub struct Container {
    pub cid: String,
    pub netns: String,
    pub net: usize,
    /// Host index inside the network's /16 (used for static IPs).
    pub host: usize,
    /// One TCP mapping host_port -> CONTAINER_PORT (none when 0).
    pub host_port: u16,
}

impl Container {
    pub fn new(
        cid: impl Into<String>,
        netns: impl Into<String>,
        net: usize,
        host: usize,
        host_port: u16,
    ) -> Container {
        Container {
            cid: cid.into(),
            netns: netns.into(),
            net,
            host,
            host_port,
        }
    }
}

/// One timed ADD or DEL.
#[derive(Clone, Debug, Default)]
pub struct Op {
    pub wall: Duration,
    /// Plugin processes the benchmark spawned (not counting their children).
    pub spawned: usize,
    pub maxrss_kib: u64,
    /// The container's IPv4 address, from the result (ADD only).
    pub ip: Option<String>,
}

pub trait Peer: Sync {
    fn add(&self, c: &Container, sc: &Scratch, wrap: Option<&[String]>) -> R<Op>;
    fn del(&self, c: &Container, sc: &Scratch, wrap: Option<&[String]>) -> R<Op>;
}

fn command(bin: &Path, wrap: Option<&[String]>) -> Command {
    let mut c = match wrap {
        Some(w) => {
            let mut c = Command::new(&w[0]);
            c.args(&w[1..]).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    c.env_clear().env("PATH", SYS_PATH);
    c
}

pub struct CniChain {
    pub label: &'static str,
    pub cni_version: String,
    /// Plugin confs per network (index = network k).
    pub plugins: Box<dyn Fn(usize) -> Vec<Value> + Sync>,
    pub cni_path: Vec<PathBuf>,
    cache: Mutex<HashMap<String, Value>>,
}

impl CniChain {
    pub fn new(
        label: &'static str,
        cni_version: &str,
        cni_path: Vec<PathBuf>,
        plugins: Box<dyn Fn(usize) -> Vec<Value> + Sync>,
    ) -> Self {
        CniChain {
            label,
            cni_version: cni_version.into(),
            plugins,
            cni_path,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn find(&self, ty: &str) -> R<PathBuf> {
        self.cni_path
            .iter()
            .map(|d| d.join(ty))
            .find(|p| p.is_file())
            .ok_or_else(|| format!("plugin {ty} not found in {:?}", self.cni_path))
    }

    fn conf(&self, plugin: &Value, net: usize, c: &Container, prev: Option<&Value>) -> Value {
        let mut conf = plugin.clone();
        conf["name"] = json!(net_name(net));
        conf["cniVersion"] = json!(self.cni_version);
        if let Some(p) = prev {
            conf["prevResult"] = p.clone();
        }
        let wants_ports = plugin
            .pointer("/capabilities/portMappings")
            .and_then(Value::as_bool)
            == Some(true);
        if wants_ports && c.host_port != 0 {
            conf["runtimeConfig"] = json!({"portMappings": [
                {"hostPort": c.host_port, "containerPort": CONTAINER_PORT, "protocol": "tcp"}
            ]});
        }
        conf
    }

    fn exec(
        &self,
        cmd: &str,
        plugin: &Value,
        conf: &Value,
        c: &Container,
        sc: &Scratch,
        wrap: Option<&[String]>,
    ) -> R<Run> {
        let ty = plugin["type"].as_str().ok_or("plugin without type")?;
        let bin = self.find(ty)?;
        let mut command = command(&bin, wrap);
        let path = std::env::join_paths(&self.cni_path).map_err(|e| e.to_string())?;
        command
            .env("CNI_COMMAND", cmd)
            .env("CNI_CONTAINERID", &c.cid)
            .env("CNI_NETNS", &c.netns)
            .env("CNI_IFNAME", IFNAME)
            .env("CNI_PATH", path);
        let input = serde_json::to_vec(conf).map_err(|e| e.to_string())?;
        let run = timed(&mut command, &input, sc)?;
        if !run.ok() {
            return Err(run.failure(&format!("{} {cmd} {ty} ({})", self.label, c.cid)));
        }
        Ok(run)
    }
}

fn first_ipv4(result: &Value) -> Option<String> {
    result["ips"].as_array()?.iter().find_map(|ip| {
        let a = ip["address"].as_str()?;
        let a = a.split('/').next()?;
        a.contains('.').then(|| a.to_string())
    })
}

impl Peer for CniChain {
    fn add(&self, c: &Container, sc: &Scratch, wrap: Option<&[String]>) -> R<Op> {
        let mut op = Op::default();
        let mut prev: Option<Value> = None;
        for plugin in (self.plugins)(c.net) {
            let conf = self.conf(&plugin, c.net, c, prev.as_ref());
            let run = self.exec("ADD", &plugin, &conf, c, sc, wrap)?;
            op.wall += run.wall;
            op.spawned += 1;
            op.maxrss_kib = op.maxrss_kib.max(run.maxrss_kib);
            let result: Value = serde_json::from_str(&run.stdout).map_err(|e| {
                format!(
                    "{} ADD {}: result {e}: {:?}",
                    self.label, plugin["type"], run.stdout
                )
            })?;
            prev = Some(result);
        }
        let result = prev.unwrap_or(Value::Null);
        op.ip = first_ipv4(&result);
        self.cache.lock().unwrap().insert(c.cid.clone(), result);
        Ok(op)
    }

    fn del(&self, c: &Container, sc: &Scratch, wrap: Option<&[String]>) -> R<Op> {
        let mut op = Op::default();
        let cached = self.cache.lock().unwrap().remove(&c.cid);
        for plugin in (self.plugins)(c.net).iter().rev() {
            let conf = self.conf(plugin, c.net, c, cached.as_ref());
            let run = self.exec("DEL", plugin, &conf, c, sc, wrap)?;
            op.wall += run.wall;
            op.spawned += 1;
            op.maxrss_kib = op.maxrss_kib.max(run.maxrss_kib);
        }
        Ok(op)
    }
}

/// The reference chain nerdctl runs, on network k.
pub fn reference_chain(ipam_dir: PathBuf) -> CniChain {
    CniChain::new(
        "reference",
        "1.0.0",
        vec![PathBuf::from("/usr/lib/cni")],
        Box::new(move |k| {
            vec![
                json!({"type": "bridge", "bridge": bridge(k), "isGateway": true, "ipMasq": true, "hairpinMode": true,
                       "ipam": {"type": "host-local",
                                "ranges": [[{"subnet": subnet(k), "gateway": gateway(k)}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                                "dataDir": ipam_dir.to_str().unwrap()}}),
                json!({"type": "portmap", "capabilities": {"portMappings": true}}),
                json!({"type": "firewall"}),
                json!({"type": "tuning"}),
            ]
        }),
    )
}

/// hostnet in integrated mode: one plugin replaces the whole chain.
pub fn hostnet_chain(bin: &Path, dir: PathBuf) -> CniChain {
    let bin_dir = bin.parent().expect("binary in a directory").to_path_buf();
    CniChain::new(
        "hostnet",
        "1.0.0",
        vec![bin_dir, PathBuf::from("/usr/lib/cni")],
        Box::new(move |k| {
            let d = |sub: &str| dir.join(sub).to_str().unwrap().to_string();
            vec![
                json!({"type": "hostnet", "bridge": bridge(k), "isGateway": true, "ipMasq": true, "hairpinMode": true,
                        "ipam": {"type": "host-local",
                                 "ranges": [[{"subnet": subnet(k), "gateway": gateway(k)}]],
                                 "routes": [{"dst": "0.0.0.0/0"}],
                                 "dataDir": d("ipam")},
                        "stateDir": d("state"), "runDir": d("run"),
                        "capabilities": {"portMappings": true}}),
            ]
        }),
    )
}

pub struct Netavark {
    pub bin: PathBuf,
    pub config_dir: PathBuf,
}

impl Netavark {
    fn options(&self, c: &Container) -> Value {
        let k = c.net;
        let net = net_name(k);
        let ports = if c.host_port != 0 {
            json!([{"host_ip": "", "container_port": CONTAINER_PORT, "host_port": c.host_port, "range": 1, "protocol": "tcp"}])
        } else {
            json!([])
        };
        json!({
            "container_id": c.cid,
            "container_name": c.cid,
            "port_mappings": ports,
            "networks": {net.clone(): {"static_ips": [static_ip(k, c.host)], "interface_name": IFNAME}},
            "network_info": {net.clone(): {
                "name": net, "id": format!("{:064x}", 0xbe9c_0000u64 + k as u64), "driver": "bridge",
                "network_interface": bridge(k),
                "subnets": [{"subnet": subnet(k), "gateway": gateway(k)}],
                "ipv6_enabled": false, "internal": false, "dns_enabled": false,
                "ipam_options": {"driver": "host-local"}}}
        })
    }

    fn exec(&self, verb: &str, c: &Container, sc: &Scratch, wrap: Option<&[String]>) -> R<Run> {
        let mut command = command(&self.bin, wrap);
        // iptables in the namespace the process runs in; never firewalld
        command
            .env("NETAVARK_FW", "iptables")
            .arg("--config")
            .arg(&self.config_dir)
            .arg(verb)
            .arg(&c.netns);
        let input = serde_json::to_vec(&self.options(c)).map_err(|e| e.to_string())?;
        let run = timed(&mut command, &input, sc)?;
        if !run.ok() {
            return Err(run.failure(&format!("netavark {verb} ({})", c.cid)));
        }
        Ok(run)
    }
}

impl Peer for Netavark {
    fn add(&self, c: &Container, sc: &Scratch, wrap: Option<&[String]>) -> R<Op> {
        let run = self.exec("setup", c, sc, wrap)?;
        let v: Value =
            serde_json::from_str(&run.stdout).map_err(|e| format!("netavark result: {e}"))?;
        let ip = v
            .pointer(&format!(
                "/{}/interfaces/{IFNAME}/subnets/0/ipnet",
                net_name(c.net)
            ))
            .and_then(Value::as_str)
            .map(|s| s.split('/').next().unwrap_or("").to_string());
        Ok(Op {
            wall: run.wall,
            spawned: 1,
            maxrss_kib: run.maxrss_kib,
            ip,
        })
    }
    fn del(&self, c: &Container, sc: &Scratch, wrap: Option<&[String]>) -> R<Op> {
        let run = self.exec("teardown", c, sc, wrap)?;
        Ok(Op {
            wall: run.wall,
            spawned: 1,
            maxrss_kib: run.maxrss_kib,
            ip: None,
        })
    }
}

/// One single-port map element for the kernel floor measurement, built
/// through hostnet's own model (so it has exactly the shape hostnet uses).
pub fn floor_element(
    host_port: u16,
    dest_ip: std::net::IpAddr,
) -> hostnet::kernel::nft::PortElement {
    hostnet::core::ports::PortMapping {
        host_ip: None,
        proto: hostnet::kernel::nft::L4Proto::Tcp,
        host_port,
        dest_ip,
        dest_port: CONTAINER_PORT,
    }
    .element("bench-floor")
}
