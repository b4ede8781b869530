//! Namespaces the benchmark creates and owns: every one is named
//! `hnb-<pid>-<tag>` under /run/netns and deleted when its owner is dropped
//! (also on panic; Ctrl-C sets a flag the loops check, so they unwind).
//! Nothing here changes the initial network namespace; `Guard` proves it by
//! comparing its nftables, iptables, links, addresses and forwarding sysctls
//! before and after the run.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::R;

pub const RUN_NETNS: &str = "/run/netns";
const PREFIX: &str = "hnb-";

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// SIGINT/SIGTERM set a flag instead of killing the process, so the owners'
/// Drop impls run when the loops notice it and return an error.
pub fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

pub fn check_interrupted() -> R<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).expect("no NUL in a path")
}

/// Make sure /run/netns exists the way `ip netns add` sets it up (a shared
/// mount), by letting `ip` create and delete one namespace of ours.
pub fn prepare_run_dir() -> R<()> {
    let name = format!("{PREFIX}{}-prep", std::process::id());
    sh(Command::new("ip").args(["netns", "add", &name]))?;
    sh(Command::new("ip").args(["netns", "del", &name]))?;
    Ok(())
}

/// Delete namespaces left behind by a benchmark process that no longer runs
/// (`hnb-<pid>-...` whose pid is gone).
pub fn sweep_stale() -> usize {
    let mut n = 0;
    let Ok(dir) = std::fs::read_dir(RUN_NETNS) else {
        return 0;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some((pid, _)) = rest.split_once('-') else {
            continue;
        };
        let Ok(pid) = pid.parse::<i32>() else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks existence.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        if !alive && pid != std::process::id() as i32 {
            delete_path(&e.path());
            n += 1;
        }
    }
    n
}

fn delete_path(path: &Path) {
    let c = cstr(path);
    // SAFETY: plain syscalls on a path we own.
    unsafe {
        libc::umount2(c.as_ptr(), libc::MNT_DETACH);
        libc::unlink(c.as_ptr());
    }
}

/// A network namespace owned by the benchmark, deleted on drop.
pub struct NetNs {
    pub name: String,
    pub path: PathBuf,
}

impl NetNs {
    /// Create `hnb-<pid>-<tag>` in-process: a thread unshares a new network
    /// namespace and bind-mounts it on /run/netns/NAME (what `ip netns add`
    /// does, without a process per namespace). Loopback is left down unless
    /// `lo_up`.
    pub fn new(tag: &str) -> R<NetNs> {
        let name = format!("{PREFIX}{}-{tag}", std::process::id());
        let path = Path::new(RUN_NETNS).join(&name);
        std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| format!("creating {}: {e}", path.display()))?;
        let target = cstr(&path);
        let r = std::thread::spawn(move || -> R<()> {
            // SAFETY: unshare on this short-lived thread only; mount a path we created.
            unsafe {
                if libc::unshare(libc::CLONE_NEWNET) != 0 {
                    return Err(format!("unshare: {}", std::io::Error::last_os_error()));
                }
                let src = CString::new("/proc/thread-self/ns/net").unwrap();
                if libc::mount(
                    src.as_ptr(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(format!("bind mount: {}", std::io::Error::last_os_error()));
                }
            }
            Ok(())
        })
        .join()
        .map_err(|_| "netns thread panicked".to_string())?;
        let ns = NetNs { name, path };
        r?;
        Ok(ns)
    }

    pub fn with_lo(tag: &str) -> R<NetNs> {
        let ns = NetNs::new(tag)?;
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("utf-8 netns path")
    }

    /// `ip -n NAME ARGS...` (setup only, never timed).
    pub fn ip(&self, args: &[&str]) -> R<String> {
        sh(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// A command run inside this namespace through `ip netns exec` (setup and
    /// inspection only, never timed).
    pub fn exec(&self, argv: &[&str]) -> R<String> {
        sh(Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(argv))
    }

    /// `exec` with stdin.
    pub fn exec_stdin(&self, argv: &[&str], stdin: &str) -> R<String> {
        use std::io::Write;
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(argv);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().map_err(|e| format!("{argv:?}: {e}"))?;
        let mut input = child.stdin.take().unwrap();
        let data = stdin.as_bytes().to_vec();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        let out = child
            .wait_with_output()
            .map_err(|e| format!("{argv:?}: {e}"))?;
        let _ = writer.join();
        if !out.status.success() {
            return Err(format!(
                "{argv:?} in {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    }

    /// Number of links other than lo.
    pub fn link_count(&self) -> usize {
        self.ip(&["-o", "link", "show"])
            .map(|s| s.lines().filter(|l| !l.contains(": lo:")).count())
            .unwrap_or(0)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // kill anything still running inside (none is expected), then delete it
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .stderr(Stdio::null())
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: signalling a process that lives in our namespace.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        delete_path(&self.path);
    }
}

/// Many container namespaces, created once and shared by every peer in turn.
pub struct Pool {
    pub ns: Vec<NetNs>,
}

impl Pool {
    pub fn new() -> Pool {
        Pool { ns: Vec::new() }
    }
    pub fn ensure(&mut self, n: usize) -> R<()> {
        while self.ns.len() < n {
            check_interrupted()?;
            let i = self.ns.len();
            self.ns.push(NetNs::new(&format!("c{i}"))?);
        }
        Ok(())
    }
    /// Wait (bounded) until none of the first `n` containers still has an
    /// interface from a previous peer (their veths go when that peer's host
    /// namespace is deleted; the kernel does it asynchronously).
    pub fn wait_clean(&self, n: usize) -> R<()> {
        let n = n.min(self.ns.len());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        for ns in self.ns[..n].iter().rev() {
            while ns.link_count() > 0 {
                check_interrupted()?;
                if std::time::Instant::now() > deadline {
                    return Err(format!("{} still has interfaces after 120 s", ns.name));
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        Ok(())
    }
}

/// Run a command and return its stdout, or an error with its stderr.
pub fn sh(c: &mut Command) -> R<String> {
    let out = c.output().map_err(|e| format!("{c:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{c:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// What the initial network namespace looks like; compared before and after.
pub struct Guard {
    snapshot: Vec<(String, String)>,
}

fn initial_state() -> Vec<(String, String)> {
    let probes: [(&str, &[&str]); 6] = [
        ("nft list ruleset", &["nft", "list", "ruleset"]),
        ("iptables-save", &["iptables-save"]),
        ("ip6tables-save", &["ip6tables-save"]),
        ("ip -o link", &["ip", "-o", "link", "show"]),
        ("ip -o addr", &["ip", "-o", "addr", "show"]),
        (
            "forwarding",
            &[
                "sysctl",
                "net.ipv4.ip_forward",
                "net.ipv6.conf.all.forwarding",
            ],
        ),
    ];
    probes
        .iter()
        .map(|(what, argv)| {
            let text =
                sh(Command::new(argv[0]).args(&argv[1..])).unwrap_or_else(|e| format!("ERROR {e}"));
            // iptables-save stamps the time in comments; link lines carry counters-free state only
            let text: String = text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| format!("{l}\n"))
                .collect();
            (what.to_string(), text)
        })
        .collect()
}

impl Guard {
    pub fn take() -> Guard {
        Guard {
            snapshot: initial_state(),
        }
    }
    /// Differences in the initial namespace since `take`, one line each.
    pub fn diff(&self) -> Vec<String> {
        let now = initial_state();
        self.snapshot
            .iter()
            .zip(now.iter())
            .filter(|(a, b)| a.1 != b.1)
            .map(|(a, b)| format!("{} changed:\n--- before\n{}--- after\n{}", a.0, a.1, b.1))
            .collect()
    }
}
