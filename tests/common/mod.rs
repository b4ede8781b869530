//! Test harness: namespaces owned by the test that made them, the real binary,
//! and small helpers to read the kernel back. Nothing here touches the initial
//! network namespace: every command runs inside a namespace a test created.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Tests need root (namespaces, nftables). Without it they fail, never skip.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        // one line, then FAIL (never skip): a root test that cannot run is a failure
        eprintln!("this test needs root (it creates network namespaces): run `make test` as root");
        panic!("not root (euid {euid}): this integration test needs root");
    }
}

fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    // netns names are files under /run/netns; keep them short and unique per process
    format!("hnt-{}-{}-{}", tag, std::process::id(), n)
}

/// A network namespace named uniquely, deleted (with every process in it) on drop,
/// also when the test panics.
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    pub fn new(tag: &str) -> NetNs {
        require_root();
        let name = unique(tag);
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let ns = NetNs { name };
        ns.ok(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// A command prefixed with `ip netns exec NAME`.
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(argv);
        c
    }

    pub fn run(&self, argv: &[&str]) -> Output {
        run(&mut self.command(argv))
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, argv: &[&str]) -> String {
        run_ok(&mut self.command(argv))
    }

    /// `nft add|delete element inet hostnet SET ELEMENT` inside the
    /// namespace, required to succeed (drift made by hand).
    pub fn nft_element(&self, verb: &str, set: &str, element: &str) -> String {
        self.ok(&["nft", verb, "element", "inet", "hostnet", set, element])
    }

    /// `sh -c` inside the namespace, required to succeed.
    pub fn sh(&self, script: &str) -> String {
        self.ok(&["sh", "-c", script])
    }

    /// `nft list ruleset` of this namespace.
    pub fn ruleset(&self) -> String {
        self.ok(&["nft", "list", "ruleset"])
    }

    pub fn sysctl(&self, key: &str) -> String {
        self.ok(&["sysctl", "-n", key]).trim().to_string()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // kill whatever still runs in it (listeners), then delete it
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// A temporary directory removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(tag));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
    pub fn str(&self) -> &str {
        self.path.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The hostnet binary built by cargo for this test run.
pub fn hostnet_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hostnet"))
}

/// A "host": a namespace where hostnet runs, with its own state, run and CNI
/// conf directories, so tests never share anything.
pub struct Host {
    pub ns: NetNs,
    pub dirs: TempDir,
}

impl Host {
    pub fn new(tag: &str) -> Host {
        Host {
            ns: NetNs::new(tag),
            dirs: TempDir::new(tag),
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dirs.join("state")
    }
    pub fn run_dir(&self) -> PathBuf {
        self.dirs.join("run")
    }
    pub fn conf_dir(&self) -> PathBuf {
        self.dirs.join("net.d")
    }

    /// `hostnet --netns NS --state-dir .. --run-dir .. --cni-conf-dir .. ARGS`
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(hostnet_bin());
        c.arg("--netns")
            .arg(self.ns.path())
            .arg("--state-dir")
            .arg(self.state_dir())
            .arg("--run-dir")
            .arg(self.run_dir())
            .arg("--cni-conf-dir")
            .arg(self.conf_dir())
            .args(args);
        c
    }

    pub fn hostnet(&self, args: &[&str]) -> Output {
        run(&mut self.command(args))
    }

    pub fn hostnet_ok(&self, args: &[&str]) -> String {
        run_ok(&mut self.command(args))
    }

    /// `hostnet check` must pass; its output is the failure message.
    pub fn assert_check_clean(&self, context: &str) {
        let check = self.hostnet(&["check"]);
        assert!(
            check.status.success(),
            "{context}: hostnet check failed: {}{}",
            stdout(&check),
            stderr(&check)
        );
    }

    /// Everything a hostnet command could change, as text: the ruleset, links
    /// with addresses, routes, forwarding sysctls, and the files it keeps.
    pub fn snapshot(&self) -> String {
        let mut s = String::new();
        s += &self.ns.ruleset();
        s += &without_timers(&self.ns.ok(&["ip", "-d", "addr"]));
        s += &self.ns.ok(&["ip", "route"]);
        s += &self.ns.ok(&["ip", "-6", "route"]);
        s += &self.ns.sysctl("net.ipv4.ip_forward");
        s += &self.ns.sysctl("net.ipv6.conf.all.forwarding");
        s += &tree(&self.dirs.path);
        s
    }
}

/// `ip -d` output without the bridge timers, which tick on their own.
fn without_timers(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = Vec::new();
        let mut it = line.split_whitespace();
        while let Some(w) = it.next() {
            if w.ends_with("_timer") {
                it.next();
                continue;
            }
            // IPv6 duplicate address detection finishes on its own time
            if w == "tentative" {
                continue;
            }
            words.push(w);
        }
        out.push(words.join(" "));
    }
    out.join("\n") + "\n"
}

/// Assert two snapshots are equal, printing only the lines that differ.
#[track_caller]
pub fn assert_same(before: &str, after: &str, what: &str) {
    if before == after {
        return;
    }
    let b: Vec<&str> = before.lines().collect();
    let a: Vec<&str> = after.lines().collect();
    let gone: Vec<&&str> = b.iter().filter(|l| !a.contains(l)).collect();
    let new: Vec<&&str> = a.iter().filter(|l| !b.contains(l)).collect();
    panic!("{what}\n--- only before:\n{gone:#?}\n+++ only after:\n{new:#?}");
}

/// Every file below `dir` with its contents, sorted (empty directories and
/// the lock file do not count: they carry no state).
pub fn tree(dir: &Path) -> String {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.file_name().is_some_and(|n| n != "lock") {
                let body = std::fs::read_to_string(&p).unwrap_or_default();
                out.push(format!("{}:\n{body}", p.display()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out.join("\n")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Connect namespace `a` to `b` with a veth pair (names `a_if` in a, `b_if` in b),
/// addresses given in CIDR form, both ends up.
pub fn wire(a: &NetNs, a_if: &str, a_addr: &str, b: &NetNs, b_if: &str, b_addr: &str) {
    a.ok(&[
        "ip", "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", &b.name,
    ]);
    a.ok(&["ip", "addr", "add", a_addr, "dev", a_if]);
    a.ok(&["ip", "link", "set", a_if, "up"]);
    b.ok(&["ip", "addr", "add", b_addr, "dev", b_if]);
    b.ok(&["ip", "link", "set", b_if, "up"]);
}

/// An "outside" namespace wired to `host` on TEST-NET-2: the host side is
/// `up0` 198.51.100.1/24, the outside end `eth0` 198.51.100.2/24.
pub fn outside_of(host: &NetNs) -> NetNs {
    let outside = NetNs::new("out");
    wire(
        host,
        "up0",
        "198.51.100.1/24",
        &outside,
        "eth0",
        "198.51.100.2/24",
    );
    outside
}

/// Start `socat` in `ns` listening on tcp PORT and answering each connection
/// with the peer address it saw. Returns once the listener is up.
/// A listener process, killed and reaped when dropped.
pub struct Server(pub std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn echo_peer_server(ns: &NetNs, proto: &str, port: u16) -> Server {
    let listen = match proto {
        "udp" => format!("UDP-RECVFROM:{port},reuseaddr,fork"),
        _ => format!("TCP-LISTEN:{port},reuseaddr,fork"),
    };
    let child = ns
        .command(&["socat", &listen, "SYSTEM:echo $SOCAT_PEERADDR"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn socat");
    wait_listening(ns, proto, port);
    Server(child)
}

pub fn wait_listening(ns: &NetNs, proto: &str, port: u16) {
    let flag = if proto == "udp" { "-uln" } else { "-tln" };
    for _ in 0..200 {
        let out = ns.ok(&["ss", flag]);
        if out.contains(&format!(":{port} ")) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("nothing listens on {proto}/{port} in {}", ns.name);
}

/// Connect from `ns` to addr:port and return what the server said (the peer
/// address it saw), or None when the connection failed.
pub fn ask(ns: &NetNs, proto: &str, addr: &str, port: u16) -> Option<String> {
    // TCP: only read (-u), so the server's close never meets unread data and
    // turns into a reset that loses the answer. UDP: one datagram triggers it.
    let script = match proto {
        "udp" => format!("echo hi | socat -t2 -T2 - UDP:{addr}:{port}"),
        _ => format!("socat -T3 -u TCP:{addr}:{port},connect-timeout=3 -"),
    };
    let out = ns.run(&["timeout", "6", "sh", "-c", &script]);
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // a UDP client cannot know the answer was the last one: it idles out, so
    // an answer on stdout is the proof, not the exit status
    let ok = out.status.success() || proto == "udp";
    (ok && !text.is_empty()).then_some(text)
}

/// A "container" namespace wired to `host`'s bridge by hand: veth `host_if` on the
/// bridge, `eth0` inside with `addr` (CIDR), default route via `gw`.
pub fn manual_container(host: &NetNs, bridge: &str, host_if: &str, addr: &str, gw: &str) -> NetNs {
    let c = NetNs::new("ctr");
    host.ok(&[
        "ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", &c.name,
    ]);
    host.ok(&["ip", "link", "set", host_if, "master", bridge]);
    host.ok(&["ip", "link", "set", host_if, "up"]);
    c.ok(&["ip", "addr", "add", addr, "dev", "eth0"]);
    c.ok(&["ip", "link", "set", "eth0", "up"]);
    c.ok(&["ip", "route", "add", "default", "via", gw]);
    c
}

/// A UDP server in `ns` answering every datagram with the peer address it
/// saw, from one socket bound to `port` (a thread of this test process that
/// entered the namespace). Deterministic where socat's forking UDP server
/// sometimes loses the first datagram. Runs until the test process ends.
pub fn udp_echo_peer_server(ns: &NetNs, port: u16) {
    let path = ns.path();
    let (ready, up) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let served: hostnet::error::Result<()> = hostnet::kernel::netns::run_in(&path, || {
            let io = |e: std::io::Error| hostnet::error::Error::io("udp echo server", e);
            let sock = std::net::UdpSocket::bind(("0.0.0.0", port)).map_err(io)?;
            let _ = ready.send(());
            let mut buf = [0u8; 1500];
            loop {
                let (_, peer) = sock.recv_from(&mut buf).map_err(io)?;
                sock.send_to(format!("{}\n", peer.ip()).as_bytes(), peer)
                    .map_err(io)?;
            }
        });
        if let Err(e) = served {
            eprintln!("udp echo server on {port}: {e}");
        }
    });
    up.recv_timeout(std::time::Duration::from_secs(5))
        .expect("udp echo server is up");
}

/// A plugin's environment: exactly `env`, plus the caller's PATH (or a
/// default one), as a runtime runs a CNI plugin.
pub fn plugin_env(cmd: &mut Command, env: &[(&str, String)]) {
    cmd.env_clear().env(
        "PATH",
        std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
    );
    for (k, v) in env {
        cmd.env(k, v);
    }
}
