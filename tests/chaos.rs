//! Chaos: N cycles of ADD / DEL / `portmap add` / `portmap del` / `init`,
//! each killed with SIGKILL, either at a syscall boundary (strace injects
//! SIGKILL at the K-th rename, renameat2 (a volatile file replaced by
//! exchange), sendmsg, sendto or write, K = 1..KMAX in turn)
//! or at a random moment; then what the runtime or the user does next (DEL
//! after a failed ADD, the retry of a DEL, `portmap add`/`del`, `init`),
//! which must succeed, and a fresh ADD, which must succeed too. At the end
//! every container is DELeted and every static mapping removed: before `gc`
//! nothing may be left (veths, address files, records, claims, port
//! elements, anti-spoofing elements) but temp files of killed writers; after
//! `gc` nothing at all, and `check` is clean.
//!
//! HOSTNET_CHAOS_CYCLES sets N (`make chaos`: 500); the default is small so
//! that `make test` stays quick. The figures are printed at the end.

#[path = "common/cni.rs"]
mod cni;
mod common;

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use cni::{Attachment, World};
use common::{NetNs, hostnet_bin, stdout};
use serde_json::{Value, json};

const NET: &str = "hnx";
const BRIDGE: &str = "hnx0";
const SUBNET: &str = "10.100.0.0/22";
const KMAX: u32 = 24;
const SYSCALLS: &str = "rename,renameat2,sendmsg,sendto,write";

/// How a command is killed.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// SIGKILL at the K-th call of one of SYSCALLS (strace -f).
    At(u32),
    /// SIGKILL after this many microseconds.
    After(u64),
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[derive(Default)]
struct Figures {
    cycles: u32,
    strace_points: u32,
    random_points: u32,
    died_by_kill: u32,
    ran_to_the_end: u32,
    recoveries: u32,
    fresh_adds: u32,
}

/// Run `argv` (a program and its arguments) with `env` and `stdin` inside
/// the host namespace, killed as `kill` says. Returns true if it was killed.
fn run_killed(
    host: &NetNs,
    argv: &[String],
    env: &[(&str, String)],
    stdin: &[u8],
    kill: Kill,
) -> bool {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &host.name]);
    if let Kill::At(k) = kill {
        cmd.args([
            "strace",
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            &format!("inject={SYSCALLS}:signal=KILL:when={k}"),
        ]);
    }
    cmd.args(argv);
    common::plugin_env(&mut cmd, env);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    if let Some(mut input) = child.stdin.take() {
        use std::io::Write;
        let _ = input.write_all(stdin);
    }
    if let Kill::After(us) = kill {
        std::thread::sleep(std::time::Duration::from_micros(us));
        // SAFETY: kill(2) on the pid of our own child (ip netns exec execs
        // the command in place, so this is hostnet itself).
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
    }
    let status = child.wait().expect("wait");
    // strace exits with 128 + signal of its tracee
    status.signal() == Some(libc::SIGKILL) || status.code() == Some(128 + libc::SIGKILL)
}

fn cni_env(w: &World, command: &str, a: &Attachment) -> Vec<(&'static str, String)> {
    vec![
        ("CNI_COMMAND", command.to_string()),
        ("CNI_PATH", w.rt.cni_path.clone()),
        ("CNI_CONTAINERID", a.container_id.clone()),
        ("CNI_NETNS", a.netns.clone()),
        ("CNI_IFNAME", a.ifname.clone()),
    ]
}

fn hostnet_argv(w: &World, args: &[&str]) -> Vec<String> {
    let mut v = vec![
        hostnet_bin().to_string_lossy().into_owned(),
        "--state-dir".into(),
        w.host.state_dir().to_string_lossy().into_owned(),
        "--run-dir".into(),
        w.host.run_dir().to_string_lossy().into_owned(),
        "--cni-conf-dir".into(),
        w.host.conf_dir().to_string_lossy().into_owned(),
    ];
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

fn must<T>(r: Result<T, cni::PluginRun>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what} ({}): {}\n{}", e.plugin, e.stdout, e.stderr))
}

/// Files under `dir` (recursively) whose names satisfy `f`.
fn files(dir: &std::path::Path, f: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p, f));
        } else if e.file_name().to_str().is_some_and(f) {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn killed_anywhere_nothing_leaks() {
    let cycles: u32 = std::env::var("HOSTNET_CHAOS_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let w = World::new("ch");
    w.host.hostnet_ok(&[
        "init", "--name", NET, "--bridge", BRIDGE, "--subnet", SUBNET,
    ]);
    let plugin = w.plugin("hostnet", BRIDGE, &[SUBNET]);
    let l = World::conflist(NET, "1.0.0", vec![plugin]);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut fig = Figures::default();
    // live containers: (attachment, its netns)
    let mut live: VecDeque<(Attachment, NetNs)> = VecDeque::new();
    let mut statics: VecDeque<u16> = VecDeque::new();
    let mut serial = 0u32;
    let new_container = |serial: &mut u32| {
        *serial += 1;
        let ns = NetNs::new("chc");
        let port = 20000 + (*serial % 20000) as u16;
        let a = Attachment::new(&format!("chaos-{serial}"), &ns)
            .port_mappings(json!([{"hostPort": port, "containerPort": 80}]));
        (a, ns)
    };

    for cycle in 0..cycles {
        fig.cycles += 1;
        let kill = if cycle % 4 == 3 {
            fig.random_points += 1;
            Kill::After(rng.next() % 40_000)
        } else {
            fig.strace_points += 1;
            Kill::At((cycle / 5) % KMAX + 1)
        };
        let killed = match cycle % 5 {
            // ADD, killed; the runtime DELs (no netns, no prevResult)
            0 => {
                let (a, ns) = new_container(&mut serial);
                let conf = World::single_conf(&l, Some(&a));
                let bin = vec![w.rt.find("hostnet").to_string_lossy().into_owned()];
                let killed = run_killed(
                    &w.host.ns,
                    &bin,
                    &cni_env(&w, "ADD", &a),
                    conf.to_string().as_bytes(),
                    kill,
                );
                let mut nerdctl = a.clone();
                nerdctl.netns = String::new();
                let del = w.rt.exec(
                    "hostnet",
                    "DEL",
                    Some(&nerdctl),
                    World::single_conf(&l, Some(&nerdctl))
                        .to_string()
                        .as_bytes(),
                );
                assert!(
                    del.success,
                    "cycle {cycle}: DEL after a killed ADD: {}{}",
                    del.stdout, del.stderr
                );
                must(
                    w.rt.add(&l, &a),
                    &format!("cycle {cycle}: ADD again after the DEL"),
                );
                live.push_back((a, ns));
                killed
            }
            // DEL, killed; the runtime retries it; then the container comes back
            1 => {
                let Some((a, ns)) = live.pop_front() else {
                    continue;
                };
                let conf = World::single_conf(&l, Some(&a));
                let bin = vec![w.rt.find("hostnet").to_string_lossy().into_owned()];
                let killed = run_killed(
                    &w.host.ns,
                    &bin,
                    &cni_env(&w, "DEL", &a),
                    conf.to_string().as_bytes(),
                    kill,
                );
                must(w.rt.del(&l, &a), &format!("cycle {cycle}: DEL retried"));
                must(
                    w.rt.add(&l, &a),
                    &format!("cycle {cycle}: ADD of the same container"),
                );
                live.push_back((a, ns));
                killed
            }
            // portmap add, killed; the user runs it again
            2 => {
                let port = 50000 + cycle as u16;
                let ip = format!("10.100.3.{}:80", 1 + cycle % 250);
                let args = hostnet_argv(&w, &["portmap", "add", &port.to_string(), &ip]);
                let killed = run_killed(&w.host.ns, &args, &[], b"", kill);
                let out = w.host.hostnet(&["portmap", "add", &port.to_string(), &ip]);
                assert!(
                    out.status.success(),
                    "cycle {cycle}: portmap add again: {}{}",
                    stdout(&out),
                    common::stderr(&out)
                );
                statics.push_back(port);
                killed
            }
            // portmap del, killed; the user runs it again
            3 => {
                let Some(port) = statics.pop_front() else {
                    continue;
                };
                let args = hostnet_argv(&w, &["portmap", "del", &port.to_string()]);
                let killed = run_killed(&w.host.ns, &args, &[], b"", kill);
                let out = w.host.hostnet(&["portmap", "del", &port.to_string()]);
                let err = common::stderr(&out);
                assert!(
                    out.status.success() || err.contains("no static mapping"),
                    "cycle {cycle}: portmap del again: {}{err}",
                    stdout(&out)
                );
                let ls = w.host.hostnet_ok(&["portmap", "ls"]);
                assert!(
                    !ls.contains(&format!(" {port} ")),
                    "cycle {cycle}: {port} still listed:\n{ls}"
                );
                killed
            }
            // init, killed; run again
            _ => {
                let args = hostnet_argv(&w, &["init"]);
                let killed = run_killed(&w.host.ns, &args, &[], b"", kill);
                w.host.hostnet_ok(&["init"]);
                killed
            }
        };
        fig.recoveries += 1;
        if killed {
            fig.died_by_kill += 1;
        } else {
            fig.ran_to_the_end += 1;
        }
        // a fresh container must always start
        let (a, ns) = new_container(&mut serial);
        must(w.rt.add(&l, &a), &format!("cycle {cycle}: fresh ADD"));
        fig.fresh_adds += 1;
        live.push_back((a, ns));
        while live.len() > 3 {
            let (a, _ns) = live.pop_front().expect("live");
            must(w.rt.del(&l, &a), &format!("cycle {cycle}: DEL"));
        }
    }

    // the end: everything DELeted, every static mapping removed
    for (a, _ns) in live.drain(..) {
        must(w.rt.del(&l, &a), "final DEL");
    }
    for port in statics.drain(..) {
        w.host.hostnet_ok(&["portmap", "del", &port.to_string()]);
    }
    let leaks = |when: &str| -> Vec<String> {
        let mut l = Vec::new();
        l.extend(w.host_veths().into_iter().map(|v| format!("veth {v}")));
        l.extend(
            w.ip_files(NET)
                .into_iter()
                .map(|f| format!("address file {f}")),
        );
        l.extend(w.records(NET).into_iter().map(|f| format!("record {f}")));
        for dir in [
            w.host.run_dir().join("ports"),
            w.host.state_dir().join("ports"),
        ] {
            l.extend(
                files(&dir, &|n| n.ends_with(".json"))
                    .into_iter()
                    .map(|f| format!("claim {f}")),
            );
        }
        let elements = w.port_elements();
        l.extend(
            elements
                .lines()
                .filter(|x| x.contains("comment"))
                .map(|x| format!("element {}", x.trim())),
        );
        // anti-spoofing elements (table bridge hostnet): no veth may be named
        for set in ["ports", "owned4", "owned6"] {
            let out = w
                .host
                .ns
                .run(&["nft", "list", "set", "bridge", "hostnet", set]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if text.contains("\"veth") {
                l.push(format!("anti-spoofing elements in {set}: {}", text.trim()));
            }
        }
        let _ = when;
        l
    };
    let before_gc = leaks("before gc");
    assert!(before_gc.is_empty(), "leaked before gc: {before_gc:#?}");
    let temps_before_gc = [w.host.state_dir(), w.host.run_dir(), w.ipam_dir()]
        .iter()
        .flat_map(|d| {
            files(d, &|n| {
                n.contains('.')
                    && n.len() > 20
                    && n.rsplit('.').next().is_some_and(|r| r.len() == 16)
            })
        })
        .count();
    let gc = w.host.hostnet_ok(&["--json", "gc"]);
    let gc: Value = serde_json::from_str(gc.trim()).expect("gc json");
    let released = gc["released"].as_array().cloned().unwrap_or_default();
    for r in &released {
        let r = r.as_str().unwrap_or_default();
        assert!(
            r.starts_with("file "),
            "gc had to release more than temp files: {r}"
        );
    }
    let after = leaks("after gc");
    assert!(after.is_empty(), "leaked after gc: {after:#?}");
    let temps: Vec<String> = [w.host.state_dir(), w.host.run_dir(), w.ipam_dir()]
        .iter()
        .flat_map(|d| files(d, &|_| true))
        .filter(|f| f.contains("/.tmp/") || f.contains("/.lost/") || f.contains(".corrupt-"))
        .collect();
    assert!(temps.is_empty(), "temp files left: {temps:#?}");
    let check = w.host.hostnet(&["check"]);
    assert!(check.status.success(), "check: {}", stdout(&check));
    eprintln!(
        "chaos: {} cycles; kill points: {} at syscall boundaries (K=1..{KMAX} over {SYSCALLS}), {} random; \
         {} died by SIGKILL, {} finished first; {} recoveries and {} fresh ADDs succeeded; \
         before gc: 0 leaked veths/address files/records/claims/port and anti-spoofing elements, {} temp files of killed writers; \
         gc released {} item(s) (temp files only); after gc: 0 leaks, check clean",
        fig.cycles,
        fig.strace_points,
        fig.random_points,
        fig.died_by_kill,
        fig.ran_to_the_end,
        fig.recoveries,
        fig.fresh_adds,
        temps_before_gc,
        released.len()
    );
}
