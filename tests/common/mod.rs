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
    assert_eq!(euid, 0, "these tests need root to create network namespaces");
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
        if let Ok(out) = Command::new("ip").args(["netns", "pids", &self.name]).output() {
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
