//! A small libcni for tests: runs the plugins of a conflist in order with
//! `prevResult` threaded and `capabilities` turned into `runtimeConfig`, DEL
//! in reverse with the cached ADD result, CHECK with it, GC with
//! `cni.dev/valid-attachments`. Every plugin process runs inside the test's
//! "host" namespace (`ip netns exec`), found through a CNI_PATH of a temp dir
//! holding the hostnet binary (also as `bridge`) and /usr/lib/cni.
//!
//! Use from a test crate: `mod common;` then `#[path = "common/cni.rs"] mod cni;`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use crate::common::{NetNs, TempDir, hostnet_bin};

pub const REFERENCE_PLUGINS: &str = "/usr/lib/cni";

/// One attachment's parameters (what libcni calls RuntimeConf).
#[derive(Debug, Clone)]
pub struct Attachment {
    pub container_id: String,
    /// CNI_NETNS; "" to send it empty (nerdctl's DEL).
    pub netns: String,
    pub ifname: String,
    /// CNI_ARGS
    pub args: String,
    /// Capability arguments: {"portMappings": [...], "mac": "..."}.
    pub capability_args: Value,
}

impl Attachment {
    pub fn new(container_id: &str, netns: &NetNs) -> Attachment {
        Attachment {
            container_id: container_id.to_string(),
            netns: netns.path().to_string_lossy().into_owned(),
            ifname: "eth0".into(),
            args: String::new(),
            capability_args: json!({}),
        }
    }
    pub fn port_mappings(mut self, maps: Value) -> Attachment {
        self.capability_args["portMappings"] = maps;
        self
    }
}

/// What one plugin process did.
#[derive(Debug, Clone)]
pub struct PluginRun {
    pub plugin: String,
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl PluginRun {
    /// stdout as JSON (a result or an error structure).
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "{} printed non-JSON on stdout ({e}): {:?}\nstderr: {}",
                self.plugin, self.stdout, self.stderr
            )
        })
    }
    /// The error code of a failed run (asserting the error structure is valid).
    pub fn code(&self) -> u64 {
        assert!(!self.success, "{} succeeded: {}", self.plugin, self.stdout);
        let v = self.json();
        for key in ["cniVersion", "code", "msg"] {
            assert!(v.get(key).is_some(), "error JSON lacks {key}: {v}");
        }
        assert!(
            v["msg"].as_str().is_some_and(|m| !m.is_empty()),
            "empty msg: {v}"
        );
        v["code"]
            .as_u64()
            .unwrap_or_else(|| panic!("code is not a number: {v}"))
    }
    pub fn msg(&self) -> String {
        self.json()["msg"].as_str().unwrap_or_default().to_string()
    }
}

pub struct Runtime {
    pub host: String,
    pub bin_dir: TempDir,
    pub cni_path: String,
    /// Final ADD results by (network, container id, ifname), like libcni's cache.
    cache: Mutex<HashMap<(String, String, String), Value>>,
}

impl Runtime {
    /// A runtime whose plugins run in `host`.
    pub fn new(host: &NetNs) -> Runtime {
        let bin_dir = TempDir::new("cnibin");
        for name in ["hostnet", "bridge"] {
            std::os::unix::fs::symlink(hostnet_bin(), bin_dir.join(name))
                .expect("symlink the plugin");
        }
        let cni_path = format!("{}:{REFERENCE_PLUGINS}", bin_dir.str());
        Runtime {
            host: host.name.clone(),
            bin_dir,
            cni_path,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn find(&self, plugin_type: &str) -> PathBuf {
        for dir in self.cni_path.split(':') {
            let p = Path::new(dir).join(plugin_type);
            if p.exists() {
                return p;
            }
        }
        panic!("plugin {plugin_type} not in {}", self.cni_path);
    }

    /// Run one plugin binary with the given command, env and stdin.
    pub fn exec(
        &self,
        plugin_type: &str,
        command: &str,
        att: Option<&Attachment>,
        stdin: &[u8],
    ) -> PluginRun {
        let bin = self.find(plugin_type);
        let mut env: Vec<(&str, String)> = vec![
            ("CNI_COMMAND", command.to_string()),
            ("CNI_PATH", self.cni_path.clone()),
        ];
        if let Some(a) = att {
            env.push(("CNI_CONTAINERID", a.container_id.clone()));
            env.push(("CNI_NETNS", a.netns.clone()));
            env.push(("CNI_IFNAME", a.ifname.clone()));
            env.push(("CNI_ARGS", a.args.clone()));
        }
        self.exec_env(&bin, &env, stdin)
    }

    /// Run a plugin binary with exactly `env` (plus PATH) in the host netns.
    pub fn exec_env(&self, bin: &Path, env: &[(&str, String)], stdin: &[u8]) -> PluginRun {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.host]).arg(bin);
        crate::common::plugin_env(&mut cmd, env);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
        if let Some(mut input) = child.stdin.take() {
            let _ = input.write_all(stdin);
        }
        let out = child.wait_with_output().expect("wait for the plugin");
        PluginRun {
            plugin: bin
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// libcni's transformation of one plugin config for a request.
    pub fn plugin_conf(
        list: &Value,
        plugin: &Value,
        att: Option<&Attachment>,
        prev: Option<&Value>,
    ) -> Value {
        let mut p: Map<String, Value> = plugin.as_object().cloned().expect("plugin config object");
        p.insert("name".into(), list["name"].clone());
        p.insert("cniVersion".into(), list["cniVersion"].clone());
        if let Some(Value::Object(caps)) = p.remove("capabilities") {
            let mut rc = Map::new();
            if let Some(a) = att {
                for (cap, on) in caps {
                    if on == Value::Bool(true)
                        && let Some(v) = a.capability_args.get(&cap)
                    {
                        rc.insert(cap, v.clone());
                    }
                }
            }
            if !rc.is_empty() {
                p.insert("runtimeConfig".into(), Value::Object(rc));
            }
        }
        if let Some(prev) = prev {
            p.insert("prevResult".into(), prev.clone());
        }
        Value::Object(p)
    }

    fn plugins(list: &Value) -> Vec<Value> {
        list["plugins"]
            .as_array()
            .cloned()
            .expect("conflist has plugins")
    }

    fn key(list: &Value, att: &Attachment) -> (String, String, String) {
        (
            list["name"].as_str().unwrap_or_default().to_string(),
            att.container_id.clone(),
            att.ifname.clone(),
        )
    }

    /// ADD through the chain; the final result is cached and returned.
    pub fn add(&self, list: &Value, att: &Attachment) -> Result<Value, PluginRun> {
        let mut prev: Option<Value> = None;
        for plugin in Self::plugins(list) {
            let conf = Self::plugin_conf(list, &plugin, Some(att), prev.as_ref());
            let run = self.exec(
                plugin["type"].as_str().expect("type"),
                "ADD",
                Some(att),
                conf.to_string().as_bytes(),
            );
            if !run.success {
                return Err(run);
            }
            prev = Some(run.json());
        }
        let result = prev.expect("a conflist with plugins");
        self.cache
            .lock()
            .expect("cache")
            .insert(Self::key(list, att), result.clone());
        Ok(result)
    }

    pub fn cached(&self, list: &Value, att: &Attachment) -> Option<Value> {
        self.cache
            .lock()
            .expect("cache")
            .get(&Self::key(list, att))
            .cloned()
    }

    /// DEL in reverse order with the cached ADD result as prevResult.
    pub fn del(&self, list: &Value, att: &Attachment) -> Result<(), PluginRun> {
        let prev = self.cached(list, att);
        for plugin in Self::plugins(list).iter().rev() {
            let conf = Self::plugin_conf(list, plugin, Some(att), prev.as_ref());
            let run = self.exec(
                plugin["type"].as_str().expect("type"),
                "DEL",
                Some(att),
                conf.to_string().as_bytes(),
            );
            if !run.success {
                return Err(run);
            }
        }
        self.cache
            .lock()
            .expect("cache")
            .remove(&Self::key(list, att));
        Ok(())
    }

    pub fn check(&self, list: &Value, att: &Attachment) -> Result<(), PluginRun> {
        let prev = self.cached(list, att);
        for plugin in Self::plugins(list) {
            let conf = Self::plugin_conf(list, &plugin, Some(att), prev.as_ref());
            let run = self.exec(
                plugin["type"].as_str().expect("type"),
                "CHECK",
                Some(att),
                conf.to_string().as_bytes(),
            );
            if !run.success {
                return Err(run);
            }
        }
        Ok(())
    }

    /// GC every plugin (errors do not stop the others).
    pub fn gc(&self, list: &Value, valid: &[(&str, &str)]) -> Result<(), Vec<PluginRun>> {
        let valid: Vec<Value> = valid
            .iter()
            .map(|(id, ifname)| json!({"containerID": id, "ifname": ifname}))
            .collect();
        let mut errors = Vec::new();
        for plugin in Self::plugins(list) {
            let mut conf = Self::plugin_conf(list, &plugin, None, None);
            conf["cni.dev/valid-attachments"] = Value::Array(valid.clone());
            let run = self.exec(
                plugin["type"].as_str().expect("type"),
                "GC",
                None,
                conf.to_string().as_bytes(),
            );
            if !run.success {
                errors.push(run);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    pub fn status(&self, list: &Value) -> Result<(), PluginRun> {
        for plugin in Self::plugins(list) {
            let conf = Self::plugin_conf(list, &plugin, None, None);
            let run = self.exec(
                plugin["type"].as_str().expect("type"),
                "STATUS",
                None,
                conf.to_string().as_bytes(),
            );
            if !run.success {
                return Err(run);
            }
        }
        Ok(())
    }
}

/// A test world: a "host" namespace where the plugins run (with its own
/// state/run/IPAM dirs), an "outside" namespace wired to it on TEST-NET-2
/// (host 198.51.100.1, outside 198.51.100.2), and a runtime.
pub struct World {
    pub host: crate::common::Host,
    pub outside: NetNs,
    pub rt: Runtime,
}

pub const HOST_OUT: &str = "198.51.100.1";
pub const OUTSIDE: &str = "198.51.100.2";

impl World {
    pub fn new(tag: &str) -> World {
        let host = crate::common::Host::new(tag);
        let outside = NetNs::new(&format!("{tag}o"));
        crate::common::wire(
            &host.ns,
            "up0",
            &format!("{HOST_OUT}/24"),
            &outside,
            "down0",
            &format!("{OUTSIDE}/24"),
        );
        let rt = Runtime::new(&host.ns);
        World { host, outside, rt }
    }

    pub fn ipam_dir(&self) -> PathBuf {
        self.host.dirs.join("ipam")
    }

    /// hostnet's own keys: where it keeps state, lock and addresses.
    pub fn dirs_keys(&self, plugin: &mut Value) {
        plugin["stateDir"] = json!(self.host.state_dir());
        plugin["runDir"] = json!(self.host.run_dir());
        plugin["ipam"]["dataDir"] = json!(self.ipam_dir());
    }

    /// A plugin config of `type` ("hostnet" or "bridge") on `bridge` with one
    /// host-local range per subnet, default routes, and this world's dirs.
    pub fn plugin(&self, plugin_type: &str, bridge: &str, subnets: &[&str]) -> Value {
        let ranges: Vec<Value> = subnets.iter().map(|s| json!([{ "subnet": s }])).collect();
        let mut routes = Vec::new();
        if subnets.iter().any(|s| !s.contains(':')) {
            routes.push(json!({"dst": "0.0.0.0/0"}));
        }
        if subnets.iter().any(|s| s.contains(':')) {
            routes.push(json!({"dst": "::/0"}));
        }
        let mut p = json!({
            "type": plugin_type,
            "bridge": bridge,
            "isGateway": true,
            "ipMasq": true,
            "hairpinMode": true,
            "ipam": {"type": "host-local", "ranges": ranges, "routes": routes},
        });
        if plugin_type == "hostnet" {
            p["capabilities"] = json!({"portMappings": true});
        }
        self.dirs_keys(&mut p);
        p
    }

    pub fn conflist(name: &str, version: &str, plugins: Vec<Value>) -> Value {
        json!({"cniVersion": version, "name": name, "plugins": plugins})
    }

    /// The single plugin config of a one-plugin conflist, as a runtime sends it.
    pub fn single_conf(list: &Value, att: Option<&Attachment>) -> Value {
        Runtime::plugin_conf(list, &list["plugins"][0], att, None)
    }

    /// Host veths (name starts with "veth") in the host namespace.
    pub fn host_veths(&self) -> Vec<String> {
        self.host
            .ns
            .ok(&["ip", "-o", "link", "show", "type", "veth"])
            .lines()
            .filter_map(|l| {
                l.split(": ")
                    .nth(1)
                    .map(|n| n.split('@').next().unwrap_or(n).to_string())
            })
            .filter(|n| n.starts_with("veth"))
            .collect()
    }

    /// Files in the network's IPAM dir that are address reservations.
    pub fn ip_files(&self, network: &str) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.ipam_dir().join(network)) else {
            return Vec::new();
        };
        let mut out: Vec<String> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
            .collect();
        out.sort();
        out
    }

    pub fn records(&self, network: &str) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.host.run_dir().join("attachments").join(network))
        else {
            return Vec::new();
        };
        rd.flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| n.ends_with(".json"))
            .collect()
    }

    /// Elements of the four hostports maps, as `nft` lists them.
    pub fn port_elements(&self) -> String {
        let mut s = String::new();
        for map in [
            "hostports4",
            "hostports4_any",
            "hostports6",
            "hostports6_any",
        ] {
            let out = self
                .host
                .ns
                .run(&["nft", "list", "map", "inet", "hostnet", map]);
            s += &String::from_utf8_lossy(&out.stdout);
        }
        s
    }

    /// Nothing of any attachment is left: no veth, no address file, no
    /// element with a container owner, no record, and `hostnet check` is clean.
    pub fn assert_nothing_attached(&self, network: &str) {
        assert_eq!(self.host_veths(), Vec::<String>::new(), "host veths left");
        assert_eq!(
            self.ip_files(network),
            Vec::<String>::new(),
            "address files left"
        );
        assert_eq!(
            self.records(network),
            Vec::<String>::new(),
            "attachment records left"
        );
        let elements = self.port_elements();
        assert!(
            !elements.contains("comment"),
            "port elements left:\n{elements}"
        );
        let check = self.host.hostnet(&["check"]);
        assert!(
            check.status.success(),
            "hostnet check after DEL: {}{}",
            crate::common::stdout(&check),
            crate::common::stderr(&check)
        );
    }
}

pub fn ping(from: &NetNs, addr: &str) -> bool {
    from.run(&["ping", "-c1", "-W2", addr]).status.success()
}

/// The container's address of one family from an ADD result (any version).
pub fn result_ip(result: &Value, v4: bool) -> String {
    let pick = |cidr: &str| cidr.split('/').next().unwrap_or_default().to_string();
    if let Some(ips) = result["ips"].as_array() {
        for ip in ips {
            let a = ip["address"].as_str().unwrap_or_default();
            if a.contains(':') != v4 {
                return pick(a);
            }
        }
    }
    let key = if v4 { "ip4" } else { "ip6" };
    result[key]["ip"]
        .as_str()
        .map(pick)
        .unwrap_or_else(|| panic!("no {key} address in {result}"))
}

/// Wait until no IPv6 address of `ns` is tentative (DAD), so snapshots are stable.
pub fn settle(ns: &NetNs) {
    for _ in 0..100 {
        if !ns.ok(&["ip", "addr"]).contains("tentative") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

impl Runtime {
    /// CHECK one plugin of the chain (by index) with the cached ADD result.
    pub fn check_one(&self, list: &Value, index: usize, att: &Attachment) -> Result<(), PluginRun> {
        let plugin = &list["plugins"][index];
        let conf = Self::plugin_conf(list, plugin, Some(att), self.cached(list, att).as_ref());
        let run = self.exec(
            plugin["type"].as_str().expect("type"),
            "CHECK",
            Some(att),
            conf.to_string().as_bytes(),
        );
        if run.success { Ok(()) } else { Err(run) }
    }
}

pub use crate::common::Server;

/// What every attached pair (c1 with host port 8080 mapped to its port 80,
/// c2 beside it) must have, in either mode: both reach the gateway and each
/// other, egress is masqueraded (the outside sees the host), and the mapped
/// port answers from outside, from the host via 127.0.0.1 and via the bridge
/// address, and from c2 via the gateway (hairpin). Starts c1's server on
/// tcp/80 (returned: it runs until dropped) and returns what c1's server saw
/// of the outside client.
pub fn assert_attached_pair(
    w: &World,
    c1: &NetNs,
    c2: &NetNs,
    gw: &str,
    ip1: &str,
    ip2: &str,
) -> (Server, String) {
    assert!(ping(c1, gw), "c1 -> gateway");
    assert!(ping(c1, ip2), "c1 -> c2");
    assert!(ping(c2, ip1), "c2 -> c1");
    let _out_srv = crate::common::echo_peer_server(&w.outside, "tcp", 7000);
    let seen = crate::common::ask(c1, "tcp", OUTSIDE, 7000).expect("c1 reaches the outside");
    assert!(
        seen.starts_with(HOST_OUT),
        "outside saw {seen}, want the masqueraded {HOST_OUT}"
    );

    let srv = crate::common::echo_peer_server(c1, "tcp", 80);
    let from_out =
        crate::common::ask(&w.outside, "tcp", HOST_OUT, 8080).expect("outside -> host:8080");
    for (from, addr, what) in [
        (&w.host.ns, "127.0.0.1", "host 127.0.0.1:8080"),
        (&w.host.ns, gw, "host bridge IP:8080"),
        (c2, gw, "c2 -> gateway:8080 (hairpin)"),
    ] {
        assert!(
            crate::common::ask(from, "tcp", addr, 8080).is_some(),
            "{what}"
        );
    }
    (srv, from_out)
}
