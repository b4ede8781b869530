//! hostnet side by side with the reference CNI chain (bridge → portmap →
//! firewall → tuning, Debian containernetworking-plugins) and netavark, in
//! throwaway network namespaces. `make bench` runs it in full and writes the
//! table into BENCHMARKS.md; `make bench-quick` is a seconds-long smoke run.
//!
//!   cargo bench --bench peers -- [--quick] [--write BENCHMARKS.md] [--peers hostnet,reference,netavark]
//!                                [--only latency,packet,portmap,parallel,census]
//!
//! Rules it keeps: every plugin runs in a namespace this process created
//! (the spawning thread setns()'d into it; the timed path is fork+exec+wait of
//! the plugin only); the initial namespace is compared before and after and
//! the run fails if anything there changed; goals are reported as ratios,
//! never asserted.

mod ns;
mod packet;
mod peers;
mod report;
mod run;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use hostnet::kernel::{link::Netlink, netns, nft};

use ns::{NetNs, Pool, check_interrupted, sh};
use peers::{Container, Netavark, Op, PER_NET, Peer};
use report::{Floor, Lat, Packet, Parallel, PortmapRow, Report, Stats};
use run::Scratch;

pub type R<T> = Result<T, String>;

/// The hostnet binary cargo built for this bench; HOSTNET_BIN overrides it
/// (e.g. to measure another build).
fn hostnet_bin() -> String {
    std::env::var("HOSTNET_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_hostnet").to_string())
}
const NETAVARK: &str = "/usr/lib/podman/netavark";
const OUT_HOST: &str = "198.51.100.1";
const OUT_CLIENT: &str = "198.51.100.2";

#[derive(Clone, Debug)]
pub struct Cfg {
    pub quick: bool,
    pub levels: Vec<usize>,
    pub reps: usize,
    /// Populating one peer (all levels) may take this long; a level it cannot
    /// reach in time is reported as not reached.
    pub populate_budget: Duration,
    pub packet_levels: Vec<usize>,
    pub packet_secs: f64,
    pub packet_reps: usize,
    pub portmap_levels: Vec<usize>,
    pub parallel: usize,
    pub peers: Vec<String>,
    pub only: Vec<String>,
    pub write: Option<PathBuf>,
}

impl Cfg {
    fn parse() -> R<Cfg> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let quick = args.iter().any(|a| a == "--quick");
        let value = |flag: &str| -> Option<String> {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
                .cloned()
        };
        let list = |flag: &str, default: &str| -> Vec<String> {
            value(flag)
                .unwrap_or_else(|| default.to_string())
                .split(',')
                .map(str::to_string)
                .collect()
        };
        let mut c = if quick {
            Cfg {
                quick,
                levels: vec![1, 3],
                reps: 3,
                populate_budget: Duration::from_secs(20),
                packet_levels: vec![1, 10],
                packet_secs: 0.2,
                packet_reps: 2,
                portmap_levels: vec![10, 100],
                parallel: 8,
                peers: vec![],
                only: vec![],
                write: None,
            }
        } else {
            Cfg {
                quick,
                levels: vec![1, 100, 1000, 5000],
                reps: 11,
                populate_budget: Duration::from_secs(400),
                packet_levels: vec![1, 1000, 10000],
                packet_secs: 1.0,
                packet_reps: 5,
                portmap_levels: vec![10, 10000],
                parallel: 64,
                peers: vec![],
                only: vec![],
                write: None,
            }
        };
        c.peers = list("--peers", "hostnet,reference,netavark");
        c.only = list("--only", "latency,packet,portmap,parallel,census");
        c.write = value("--write").map(PathBuf::from);
        if let Some(l) = value("--levels") {
            c.levels = l
                .split(',')
                .map(|x| x.parse().map_err(|_| format!("--levels {l}")))
                .collect::<R<_>>()?;
        }
        if let Some(l) = value("--packet-levels") {
            c.packet_levels = l
                .split(',')
                .map(|x| x.parse().map_err(|_| format!("--packet-levels {l}")))
                .collect::<R<_>>()?;
        }
        if let Some(r) = value("--reps") {
            c.reps = r.parse().map_err(|_| format!("--reps {r}"))?;
        }
        if let Some(b) = value("--budget") {
            c.populate_budget =
                Duration::from_secs(b.parse().map_err(|_| format!("--budget {b}"))?);
        }
        Ok(c)
    }
    fn does(&self, section: &str) -> bool {
        self.only.iter().any(|s| s == section)
    }
    fn has_peer(&self, p: &str) -> bool {
        self.peers.iter().any(|s| s == p)
    }
}

/// Run `f` on a thread inside `ns` (hostnet's own helper: a scoped thread
/// that setns()'d; the caller's thread never changes namespace).
pub fn in_ns<T: Send>(ns: &NetNs, f: impl FnOnce() -> R<T> + Send) -> R<T> {
    netns::run_in(&ns.path, || Ok(f())).map_err(|e| e.to_string())?
}

/// A scratch directory on tmpfs, removed at the end.
struct Work {
    dir: PathBuf,
}
impl Work {
    fn new() -> R<Work> {
        let dir = PathBuf::from(format!("/dev/shm/hostnet-bench.{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Work { dir })
    }
    fn sub(&self, name: &str) -> PathBuf {
        let d = self.dir.join(name);
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch dir");
        d
    }
}
impl Drop for Work {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn make_peer(name: &str, work: &Work, tag: &str) -> Box<dyn Peer> {
    match name {
        "hostnet" => Box::new(peers::hostnet_chain(
            Path::new(&hostnet_bin()),
            work.sub(&format!("hostnet-{tag}")),
        )),
        "reference" => Box::new(peers::reference_chain(
            work.sub(&format!("reference-{tag}")),
        )),
        "netavark" => Box::new(Netavark {
            bin: NETAVARK.into(),
            config_dir: work.sub(&format!("netavark-{tag}")),
        }),
        other => panic!("unknown peer {other}"),
    }
}

fn pool_container(pool: &Pool, i: usize) -> Container {
    Container::new(
        format!("bench-c{i}"),
        pool.ns[i].path_str().to_string(),
        i / PER_NET,
        2 + i % PER_NET,
        10000 + i as u16,
    )
}

/// The container measured at level n: it joins the network of the last
/// container already attached (a bridge holds at most 1023 ports, so the
/// population fills networks of PER_NET containers each).
fn probe_container(probe: &NetNs, n: usize, rep: usize) -> Container {
    Container::new(
        format!("bench-p{n}r{rep}"),
        probe.path_str().to_string(),
        n.max(1).saturating_sub(1) / PER_NET,
        60000 + rep,
        30000 + rep as u16,
    )
}

/// Linear fit of ADD time against n over the measured levels; projected
/// seconds to populate from `from` to `to`.
fn project(points: &[(usize, f64)], from: usize, to: usize) -> f64 {
    let Some(&(n2, t2)) = points.last() else {
        return 0.0;
    };
    let slope = if points.len() >= 2 {
        let (n1, t1) = points[points.len() - 2];
        ((t2 - t1) / (n2 as f64 - n1 as f64)).max(0.0)
    } else {
        0.0
    };
    let t = |x: usize| t2 + slope * (x as f64 - n2 as f64);
    (to - from) as f64 * (t(from) + t(to)) / 2.0 / 1000.0
}

/// The kernel floors, in the hostnet host namespace at its current n, over
/// netlink from this process (each call opens and closes its own socket, as
/// a plugin process would):
/// - ADD: create a veth with its peer born in a container namespace, enslave
///   the host end to the bridge, hairpin on, up; inside the container: an
///   address, up, a route via the gateway; add one nft map element;
/// - DEL: delete that veth (its peer up with an address), then delete the
///   element.
fn kernel_floor(host: &NetNs, probe: &NetNs, net: usize, reps: usize) -> R<Floor> {
    let br = peers::bridge(net);
    let mut add = Vec::new();
    let mut veth = Vec::new();
    let mut elem = Vec::new();
    for rep in 0..reps {
        check_interrupted()?;
        let hname = format!("hnbfl{rep}");
        let cname = format!("fl{rep}");
        let ip = format!("10.{}.250.{}", 128 + net, 10 + rep);
        let probe_path = probe.path.clone();
        let e = peers::floor_element(65000 + rep as u16, ip.parse().unwrap());
        let gw: std::net::IpAddr = peers::gateway(net).parse().unwrap();
        let (idx, ta) = in_ns(host, || {
            let fd = netns::open(&probe_path).map_err(|e| e.to_string())?;
            use std::os::fd::AsFd;
            let t = Instant::now();
            let nl = Netlink::open().map_err(|e| e.to_string())?;
            let br = nl
                .link(&br)
                .map_err(|e| e.to_string())?
                .ok_or(format!("no bridge {br}"))?;
            let idx = nl
                .create_veth(&hname, &cname, fd.as_fd(), None, None, None)
                .map_err(|e| e.to_string())?;
            nl.set_master(idx, br.index).map_err(|e| e.to_string())?;
            nl.set_hairpin(idx, true).map_err(|e| e.to_string())?;
            nl.set_up(idx).map_err(|e| e.to_string())?;
            drop(nl);
            // the container side, from a thread inside the container namespace
            in_ns(probe, || {
                let nl = Netlink::open().map_err(|e| e.to_string())?;
                let link = nl
                    .link(&cname)
                    .map_err(|e| e.to_string())?
                    .ok_or(format!("no {cname}"))?;
                nl.add_address(link.index, format!("{ip}/16").parse().unwrap())
                    .map_err(|e| e.to_string())?;
                nl.set_up(link.index).map_err(|e| e.to_string())?;
                let dst = format!("203.0.113.{rep}/32").parse().unwrap();
                nl.add_route(dst, Some(gw), None)
                    .map_err(|e| e.to_string())?;
                Ok(())
            })?;
            nft::update_ports(std::slice::from_ref(&e), &[], false).map_err(|e| e.to_string())?;
            nft::close_session();
            Ok((idx, t.elapsed()))
        })?;
        add.push(ta);
        // let the address and element work settle before the deletes
        std::thread::sleep(Duration::from_millis(30));
        let (tv, te) = in_ns(host, || {
            let t = Instant::now();
            let nl = Netlink::open().map_err(|e| e.to_string())?;
            nl.delete_link(idx).map_err(|e| e.to_string())?;
            drop(nl);
            let tv = t.elapsed();
            let t = Instant::now();
            nft::update_ports(&[], std::slice::from_ref(&e), false).map_err(|e| e.to_string())?;
            // hostnet parks the socket of a delete (its close waits for an
            // RCU grace period) until the process exits: a process pays it,
            // so the floor does too; and no socket may keep the namespace alive
            nft::close_session();
            Ok((tv, t.elapsed()))
        })?;
        veth.push(tv);
        elem.push(te);
    }
    Ok(Floor {
        add: Stats::of(&add),
        veth: Stats::of(&veth),
        elem: Stats::of(&elem),
        exec: None,
    })
}

/// The process floor: `hostnet` with CNI_COMMAND=VERSION (exec, dynamic
/// loading, startup, exit), timed exactly like an ADD.
fn process_floor(host: &NetNs, sc: &Scratch, reps: usize) -> R<Stats> {
    in_ns(host, || {
        let mut v = Vec::new();
        for _ in 0..reps {
            let mut cmd = Command::new(hostnet_bin());
            cmd.env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .env("CNI_COMMAND", "VERSION");
            let run = run::timed(&mut cmd, br#"{"cniVersion":"1.0.0"}"#, sc)?;
            if !run.ok() {
                return Err(run.failure("hostnet VERSION"));
            }
            v.push(run.wall);
        }
        Ok(Stats::of(&v))
    })
}

/// Peak RSS of one ADD, whole process (for a chain: its largest plugin),
/// from an extra untimed ADD/DEL run under GNU time, which forks the plugin
/// itself and reports its wait4 ru_maxrss. (The timed runs' own rusage is not
/// used for this: they are spawned with vfork, and exec records the RSS of
/// the vforking benchmark process into the child's ru_maxrss.)
fn peak_rss(peer: &dyn Peer, host: &NetNs, c: &Container, sc: &Scratch, dir: &Path) -> R<u64> {
    let out = dir.join("rss.txt");
    let _ = std::fs::remove_file(&out);
    let wrap: Vec<String> = [
        "/usr/bin/time",
        "-a",
        "-o",
        out.to_str().unwrap(),
        "-f",
        "%M",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    in_ns(host, || {
        peer.add(c, sc, Some(&wrap))?;
        let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        peer.del(c, sc, None)?;
        text.lines()
            .filter_map(|l| l.trim().parse::<u64>().ok())
            .max()
            .ok_or_else(|| format!("no RSS in {text:?}"))
    })
}

/// Attach containers [from, to) sequentially; returns the per-ADD times.
fn populate(
    peer: &dyn Peer,
    host: &NetNs,
    pool: &Pool,
    from: usize,
    to: usize,
    sc: &Scratch,
    deadline: Instant,
) -> R<Vec<Duration>> {
    in_ns(host, || {
        let mut times = Vec::new();
        for i in from..to {
            check_interrupted()?;
            if Instant::now() > deadline {
                return Err(format!("populating stopped at n={i}: over budget"));
            }
            let op = peer.add(&pool_container(pool, i), sc, None)?;
            times.push(op.wall);
        }
        Ok(times)
    })
}

/// Section 1 (+5): ADD/DEL latency against n for one peer.
fn latency(
    cfg: &Cfg,
    name: &str,
    work: &Work,
    pool: &mut Pool,
    probe: &NetNs,
    rep: &mut Report,
) -> R<()> {
    let peer = make_peer(name, work, "lat");
    let host = NetNs::with_lo(&format!("{name}-lat"))?;
    let sc = Scratch::new(&work.dir, &format!("{name}-lat"));
    let started = Instant::now();
    let deadline = started + cfg.populate_budget.mul_f64(1.3);
    let mut points: Vec<(usize, f64)> = Vec::new();
    let mut count = 0usize;
    let mut stopped: Option<String> = None;
    for &n in &cfg.levels {
        if let Some(why) = &stopped {
            rep.lat.push(Lat::skipped(name, n, why));
            continue;
        }
        let projected = project(&points, count, n);
        let left = cfg.populate_budget.as_secs_f64() - started.elapsed().as_secs_f64();
        if projected > left {
            let why = format!(
                "not reached: populating {count}→{n} projected {projected:.0} s, {left:.0} s of the {} s budget left",
                cfg.populate_budget.as_secs()
            );
            eprintln!("  {name}: {why}");
            rep.lat.push(Lat::skipped(name, n, &why));
            stopped = Some(format!("not reached (stopped after n={count})"));
            continue;
        }
        pool.ensure(n)?;
        let t = Instant::now();
        let pop = match populate(peer.as_ref(), &host, pool, count, n, &sc, deadline) {
            Ok(p) => p,
            Err(e) if e.contains("over budget") => {
                eprintln!("  {name}: {e}");
                rep.lat.push(Lat::skipped(name, n, &e));
                stopped = Some(format!("not reached (stopped during {count}→{n})"));
                continue;
            }
            Err(e) => return Err(e),
        };
        let pop_mean = if pop.is_empty() {
            0.0
        } else {
            pop.iter().map(|d| d.as_secs_f64()).sum::<f64>() / pop.len() as f64 * 1000.0
        };
        eprintln!(
            "  {name}: populated {count}→{n} in {:.1} s (mean ADD {pop_mean:.1} ms)",
            t.elapsed().as_secs_f64()
        );
        // Freshly attached containers keep the kernel busy for a few seconds
        // (IPv6 DAD, router solicitations and MLD reports from every new
        // eth0, flooded by the bridge to all its ports): let that settle
        // before timing, the same for every peer. So do the namespaces the
        // section before this cell deleted (the census, the previous peer):
        // the kernel destroys them in the background, under the RTNL lock
        // every ADD needs, for seconds after.
        if count == 0 || n - count >= 100 {
            let settle = if cfg.quick { 1 } else { 12 };
            std::thread::sleep(Duration::from_secs(settle));
        }
        count = n;
        let (adds, dels) = in_ns(&host, || {
            let mut adds: Vec<Op> = Vec::new();
            let mut dels: Vec<Op> = Vec::new();
            // one untimed round first: page cache, dentries, lazily created state
            let warm = probe_container(probe, n, cfg.reps + 1);
            peer.add(&warm, &sc, None)?;
            peer.del(&warm, &sc, None)?;
            for r in 0..cfg.reps {
                check_interrupted()?;
                let c = probe_container(probe, n, r);
                adds.push(peer.add(&c, &sc, None)?);
                dels.push(peer.del(&c, &sc, None)?);
            }
            Ok((adds, dels))
        })?;
        let add = Stats::of(&adds.iter().map(|o| o.wall).collect::<Vec<_>>());
        let del = Stats::of(&dels.iter().map(|o| o.wall).collect::<Vec<_>>());
        points.push((n, add.median_ms()));
        let rss = peak_rss(
            peer.as_ref(),
            &host,
            &probe_container(probe, n, cfg.reps),
            &sc,
            &work.dir,
        )?;
        eprintln!("  {name} n={n}: ADD {add} DEL {del} peak RSS {rss} KiB");
        let floor = if name == "hostnet" {
            let f = kernel_floor(&host, probe, probe_container(probe, n, 0).net, cfg.reps)?;
            eprintln!(
                "  kernel floor n={n}: ADD {}; DEL: veth {} + element {}",
                f.add, f.veth, f.elem
            );
            let mut f = f;
            f.exec = Some(process_floor(&host, &sc, cfg.reps)?);
            Some(f)
        } else {
            None
        };
        rep.lat.push(Lat {
            peer: name.into(),
            n,
            add: Some(add),
            del: Some(del),
            rss_kib: rss,
            floor,
            note: String::new(),
        });
    }
    drop(host);
    Ok(())
}

/// The outside namespace's link into the host namespace: TEST-NET-2.
fn outside_link(host: &NetNs, out: &NetNs) -> R<()> {
    host.ip(&[
        "link", "add", "hnbout", "type", "veth", "peer", "name", "hnbcli", "netns", &out.name,
    ])?;
    host.ip(&["addr", "add", &format!("{OUT_HOST}/24"), "dev", "hnbout"])?;
    host.ip(&["link", "set", "hnbout", "up"])?;
    out.ip(&["addr", "add", &format!("{OUT_CLIENT}/24"), "dev", "hnbcli"])?;
    out.ip(&["link", "set", "hnbcli", "up"])?;
    Ok(())
}

fn hostnet_cli(host: &NetNs, dir: &Path, args: &[&str]) -> R<String> {
    let d = |s: &str| dir.join(s).to_str().unwrap().to_string();
    let mut argv: Vec<String> = vec![
        hostnet_bin(),
        "--state-dir".into(),
        d("state"),
        "--run-dir".into(),
        d("run"),
        "--cni-conf-dir".into(),
        d("net.d"),
    ];
    argv.extend(args.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    host.exec(&refs)
}

fn clone_ip(i: usize) -> String {
    format!("10.128.{}.{}", 100 + i / 250, 2 + i % 250)
}

/// The per-container iptables lines one real reference-chain ADD creates
/// (template container `tmpl`, address `ip`, host port `port`), replicated
/// for `count` more containers, as one iptables-restore --noflush input.
fn clone_rules(
    before: &str,
    after: &str,
    tmpl: &str,
    ip: &str,
    port: u16,
    count: usize,
) -> R<String> {
    let tables = |text: &str| -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for l in text.lines() {
            if let Some(t) = l.strip_prefix('*') {
                out.push((t.to_string(), Vec::new()));
            } else if l.starts_with('#') || l == "COMMIT" {
            } else if let Some(last) = out.last_mut() {
                // chain counters differ run to run
                let l = match l.find(" [") {
                    Some(i) if l.starts_with(':') => l[..i].to_string(),
                    _ => l.to_string(),
                };
                last.1.push(l);
            }
        }
        out
    };
    let before = tables(before);
    let mut text = String::new();
    let mut lines_per_clone = 0;
    for (table, lines) in tables(after) {
        let old: BTreeSet<&String> = before
            .iter()
            .filter(|(t, _)| *t == table)
            .flat_map(|(_, l)| l.iter())
            .collect();
        let new: Vec<&String> = lines.iter().filter(|l| !old.contains(l)).collect();
        if new.is_empty() {
            continue;
        }
        // the template's own chains: CNI-<hash> and CNI-DN-<hash>
        let chains: Vec<String> = new
            .iter()
            .filter_map(|l| l.strip_prefix(':'))
            .map(|l| l.split(' ').next().unwrap_or("").to_string())
            .collect();
        let subst = |l: &str, i: usize| -> String {
            let mut s = l.to_string();
            for c in &chains {
                let hex_at = if c.starts_with("CNI-DN-") { 7 } else { 4 };
                let w = c.len() - hex_at;
                s = s.replace(c.as_str(), &format!("{}{:0w$x}", &c[..hex_at], i + 1));
            }
            s.replace(&format!("\\\"{tmpl}\\\""), &format!("\\\"bench-bg{i}\\\""))
                .replace(&format!("{ip}/"), &format!("{}/", clone_ip(i)))
                .replace(&format!("{ip}:"), &format!("{}:", clone_ip(i)))
                .replace(&port.to_string(), &(20000 + i).to_string())
        };
        text.push_str(&format!("*{table}\n"));
        for i in 0..count {
            for l in new.iter().filter(|l| l.starts_with(':')) {
                text.push_str(&format!("{} - [0:0]\n", subst(l, i)));
            }
        }
        for i in 0..count {
            for l in new.iter().filter(|l| !l.starts_with(':')) {
                text.push_str(&subst(l, i));
                text.push('\n');
                lines_per_clone += 1;
            }
        }
        text.push_str("COMMIT\n");
    }
    if lines_per_clone == 0 && count > 0 {
        return Err("the template ADD added no iptables rules".into());
    }
    Ok(text)
}

/// Anti-spoofing elements of this many other attachments in the packet
/// cells with n > 1 (issue 8: 1,000 attachments next to 10,000 mappings).
const GUARDS: usize = 1000;

/// Section 2: conn/s through a mapped port with n mappings, the container
/// under test's mapping added last.
fn packet_one(cfg: &Cfg, name: &str, n: usize, work: &Work) -> R<(Vec<f64>, String)> {
    let host = NetNs::with_lo(&format!("{name}-pk"))?;
    let out = NetNs::with_lo(&format!("{name}-pko"))?;
    let cont = NetNs::with_lo(&format!("{name}-pkc"))?;
    outside_link(&host, &out)?;
    let sc = Scratch::new(&work.dir, &format!("{name}-pk"));
    let test = Container::new("bench-pk", cont.path_str(), 0, 2, 40000);
    let note;
    let peer: Box<dyn Peer>;
    if name == "hostnet" {
        let dir = work.sub("hostnet-pk");
        peer = Box::new(peers::hostnet_chain(Path::new(&hostnet_bin()), dir.clone()));
        // the CNI ADD below records the network; background mappings need it first
        let warm = NetNs::new("hostnet-pkw")?;
        let w = Container::new("bench-warm", warm.path_str(), 0, 3, 0);
        in_ns(&host, || {
            peer.add(&w, &sc, None)?;
            peer.del(&w, &sc, None)
        })?;
        let guards = if n > 1 { GUARDS.min(n) } else { 0 };
        if n > 1 {
            let hp = format!("20000-{}", 20000 + n - 2);
            let dest = format!("{}:20000-{}", clone_ip(0), 20000 + n - 2);
            hostnet_cli(&host, &dir, &["portmap", "add", &hp, &dest])?;
            // other attachments' anti-spoofing elements (a veth and its
            // address each) in table bridge hostnet, which the container's
            // replies pass
            let ports: Vec<String> = (0..guards).map(|i| format!("\"vb{i:08x}\"")).collect();
            let owned: Vec<String> = (0..guards)
                .map(|i| format!("\"vb{i:08x}\" . {}", clone_ip(i + 1)))
                .collect();
            let text = format!(
                "add element bridge hostnet ports {{ {} }}\nadd element bridge hostnet owned4 {{ {} }}\n",
                ports.join(", "),
                owned.join(", ")
            );
            host.exec_stdin(&["nft", "-f", "-"], &text)?;
        }
        note = format!(
            "{} map elements: `hostnet portmap add` of {} then the container's CNI ADD; {} other attachments' anti-spoofing elements",
            n,
            n - 1,
            guards
        );
    } else {
        peer = Box::new(peers::reference_chain(work.sub("reference-pk")));
        // two real ADDs; the second one's iptables lines are the template
        let t1 = NetNs::new("ref-pkt1")?;
        let t2 = NetNs::new("ref-pkt2")?;
        let c1 = Container::new("bench-tmpl1", t1.path_str(), 0, 3, 39998);
        let c2 = Container::new("bench-tmpl2", t2.path_str(), 0, 4, 39999);
        let ip2 = in_ns(&host, || peer.add(&c1, &sc, None)).and_then(|_| {
            let before = host.exec(&["iptables-save"])?;
            let op = in_ns(&host, || peer.add(&c2, &sc, None))?;
            let after = host.exec(&["iptables-save"])?;
            Ok((before, after, op.ip.ok_or("no ip")?))
        })?;
        let (before, after, ip) = ip2;
        in_ns(&host, || {
            peer.del(&c2, &sc, None)?;
            peer.del(&c1, &sc, None)
        })?;
        if n > 1 {
            let text = clone_rules(&before, &after, "bench-tmpl2", &ip, 39999, n - 1)?;
            host.exec_stdin(&["iptables-restore", "--noflush"], &text)?;
        }
        note = format!(
            "{} containers' rules: {} clones of one real chain ADD's iptables lines (iptables-restore) then the container's real chain ADD",
            n,
            n - 1
        );
    }
    let op = in_ns(&host, || peer.add(&test, &sc, None))?;
    let ip: Ipv4Addr = op
        .ip
        .ok_or("no container ip")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    let _ = ip;
    let server = packet::Server::start(cont.path.clone(), peers::CONTAINER_PORT, 1)?;
    let target = SocketAddr::V4(SocketAddrV4::new(OUT_HOST.parse().unwrap(), 40000));
    let warm = if cfg.quick { 20 } else { 500 };
    let rates = packet::conn_rate(
        out.path.clone(),
        target,
        0,
        warm,
        cfg.packet_secs,
        cfg.packet_reps,
    )?;
    drop(server);
    if name == "reference" {
        let rules = host
            .exec(&["iptables-save"])?
            .lines()
            .filter(|l| l.starts_with("-A"))
            .count();
        eprintln!("  reference n={n}: {rules} iptables rules in the host namespace");
    }
    Ok((rates, note))
}

fn packet(cfg: &Cfg, work: &Work, rep: &mut Report) -> R<()> {
    for name in ["hostnet", "reference"] {
        if !cfg.has_peer(name) {
            continue;
        }
        for &n in &cfg.packet_levels {
            check_interrupted()?;
            let t = Instant::now();
            let (rates, note) = packet_one(cfg, name, n, work)?;
            let s = Stats::of_f64(&rates);
            eprintln!(
                "  packet {name} n={n}: {s} conn/s ({:.0} s)",
                t.elapsed().as_secs_f64()
            );
            rep.packet.push(Packet {
                peer: name.into(),
                n,
                rate: s,
                note,
            });
        }
    }
    Ok(())
}

/// Section 3: `hostnet portmap add/del` of one more mapping at m existing.
fn portmap(cfg: &Cfg, work: &Work, rep: &mut Report) -> R<()> {
    let host = NetNs::with_lo("pm")?;
    let dir = work.sub("hostnet-pm");
    let peer = peers::hostnet_chain(Path::new(&hostnet_bin()), dir.clone());
    let sc = Scratch::new(&work.dir, "pm");
    let cont = NetNs::new("pmc")?;
    let c = Container::new("bench-pm", cont.path_str(), 0, 2, 0);
    in_ns(&host, || peer.add(&c, &sc, None))?;
    let mut have = 0usize;
    for &m in &cfg.portmap_levels {
        let (from, to) = (20000 + have, 20000 + m - 1);
        hostnet_cli(
            &host,
            &dir,
            &[
                "portmap",
                "add",
                &format!("{from}-{to}"),
                &format!("{}:{from}-{to}", clone_ip(0)),
            ],
        )?;
        have = m;
        let (adds, dels) = in_ns(&host, || {
            let (mut adds, mut dels) = (Vec::new(), Vec::new());
            let d = |s: &str| dir.join(s).to_str().unwrap().to_string();
            for r in 0..cfg.reps {
                check_interrupted()?;
                let port = (40000 + r).to_string();
                let dest = format!("{}:80", clone_ip(1));
                for (verb, out) in [("add", &mut adds), ("del", &mut dels)] {
                    let mut cmd = Command::new(hostnet_bin());
                    cmd.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
                    cmd.args([
                        "--state-dir",
                        &d("state"),
                        "--run-dir",
                        &d("run"),
                        "--cni-conf-dir",
                        &d("net.d"),
                        "portmap",
                        verb,
                        &port,
                    ]);
                    if verb == "add" {
                        cmd.arg(&dest);
                    }
                    let run = run::timed(&mut cmd, b"", &sc)?;
                    if !run.ok() {
                        return Err(run.failure(&format!("hostnet portmap {verb}")));
                    }
                    out.push(run.wall);
                }
            }
            Ok((adds, dels))
        })?;
        let row = PortmapRow {
            existing: m,
            add: Stats::of(&adds),
            del: Stats::of(&dels),
        };
        eprintln!("  portmap at {m}: add {} del {}", row.add, row.del);
        rep.portmap.push(row);
    }
    Ok(())
}

/// Section 4: k ADDs at once on a fresh host namespace, then k DELs at once.
fn parallel(cfg: &Cfg, name: &str, work: &Work, pool: &mut Pool, rep: &mut Report) -> R<()> {
    let k = cfg.parallel;
    pool.ensure(k)?;
    pool.wait_clean(k)?;
    let peer = make_peer(name, work, "par");
    let host = NetNs::with_lo(&format!("{name}-par"))?;
    let containers: Vec<Container> = (0..k).map(|i| pool_container(pool, i)).collect();
    let mut walls = Vec::new();
    let mut ips = Vec::new();
    let mut fails = Vec::new();
    for verb in ["ADD", "DEL"] {
        let barrier = Arc::new(Barrier::new(k + 1));
        let results: Mutex<Vec<R<(Instant, Op)>>> = Mutex::new(Vec::new());
        let start = std::thread::scope(|s| {
            for (i, c) in containers.iter().enumerate() {
                let (barrier, peer, host, results) = (barrier.clone(), &peer, &host, &results);
                let sc = Scratch::new(&work.dir, &format!("{name}-par{i}"));
                s.spawn(move || {
                    // enter first, then wait: the timed part is the plugin(s) only
                    let entered = netns::enter_process(&host.path).map_err(|e| e.to_string());
                    barrier.wait();
                    let r = entered.and_then(|_| {
                        let op = if verb == "ADD" {
                            peer.add(c, &sc, None)?
                        } else {
                            peer.del(c, &sc, None)?
                        };
                        Ok((Instant::now(), op))
                    });
                    results.lock().unwrap().push(r);
                });
            }
            barrier.wait();
            Instant::now()
        });
        let results = results.into_inner().unwrap();
        let end = results
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|(t, _)| *t))
            .max()
            .unwrap_or(start);
        walls.push(end.saturating_duration_since(start));
        let errs: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err().cloned())
            .collect();
        if verb == "ADD" {
            ips = results
                .iter()
                .filter_map(|r| r.as_ref().ok().and_then(|(_, o)| o.ip.clone()))
                .collect();
        }
        if let Some(e) = errs.first() {
            eprintln!(
                "  {name} parallel {verb}: {} failed, first: {e}",
                errs.len()
            );
        }
        fails.push(errs.len());
    }
    let distinct = ips.iter().collect::<BTreeSet<_>>().len();
    let row = Parallel {
        peer: name.into(),
        k,
        add_wall: walls[0],
        del_wall: walls[1],
        distinct_ips: distinct,
        add_failed: fails[0],
        del_failed: fails[1],
    };
    eprintln!(
        "  {name} parallel: {k} ADDs {:.1} ms, {distinct} distinct IPs, {} failed; {k} DELs {:.1} ms",
        row.add_wall.as_secs_f64() * 1e3,
        row.add_failed,
        row.del_wall.as_secs_f64() * 1e3
    );
    rep.parallel.push(row);
    drop(host);
    Ok(())
}

/// Processes per ADD and per DEL (plugins and everything they exec, e.g.
/// iptables), counted once under `strace -f -e trace=execve`, untimed.
fn census(name: &str, work: &Work, rep: &mut Report) -> R<()> {
    if sh(Command::new("strace").arg("-V")).is_err() {
        return Err("strace is not installed (scripts/install-bench-deps.sh)".into());
    }
    let peer = make_peer(name, work, "census");
    let host = NetNs::with_lo(&format!("{name}-cen"))?;
    let c1 = NetNs::new(&format!("{name}-cen1"))?;
    let c2 = NetNs::new(&format!("{name}-cen2"))?;
    let sc = Scratch::new(&work.dir, &format!("{name}-cen"));
    let trace = work.dir.join(format!("{name}.strace"));
    // -A appends, so the processes of a chain of plugins add up in one file
    let wrap: Vec<String> = [
        "strace",
        "-A",
        "-f",
        "-qq",
        "-e",
        "trace=execve",
        "-e",
        "signal=none",
        "-o",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([trace.to_str().unwrap().to_string()])
    .collect();
    let count = || -> usize {
        std::fs::read_to_string(&trace)
            .map(|t| {
                t.lines()
                    .filter(|l| l.contains("execve(") && l.contains(" = 0"))
                    .count()
            })
            .unwrap_or(0)
    };
    let a = Container::new("bench-cen1", c1.path_str(), 0, 2, 10001);
    let b = Container::new("bench-cen2", c2.path_str(), 0, 3, 10002);
    let (add, del, spawned) = in_ns(&host, || {
        // the first ADD creates the bridge and the base chains: count the second
        peer.add(&a, &sc, None)?;
        let _ = std::fs::remove_file(&trace);
        let op = peer.add(&b, &sc, Some(&wrap))?;
        let add = count();
        let _ = std::fs::remove_file(&trace);
        peer.del(&b, &sc, Some(&wrap))?;
        Ok((add, count(), op.spawned))
    })?;
    eprintln!(
        "  {name}: {spawned} plugin process(es) spawned per ADD; {add} execs per ADD, {del} per DEL"
    );
    rep.census.push((name.to_string(), spawned, add, del));
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|k| k / 1024 / 1024)
        .unwrap_or(0);
    format!("{cores} cores ({cpu}), {mem} GiB")
}

fn versions() -> Vec<(String, String)> {
    let q = |cmd: &[&str]| {
        sh(Command::new(cmd[0]).args(&cmd[1..]))
            .map(|s| s.lines().next().unwrap_or("").trim().to_string())
            .unwrap_or_else(|_| "?".into())
    };
    let deb = |p: &str| q(&["dpkg-query", "-W", "-f=${Version}", p]);
    vec![
        ("kernel".into(), q(&["uname", "-r"])),
        (
            "debian".into(),
            std::fs::read_to_string("/etc/debian_version")
                .unwrap_or_default()
                .trim()
                .to_string(),
        ),
        ("hostnet".into(), q(&[&hostnet_bin(), "--version"])),
        (
            "hostnet commit".into(),
            std::env::var("HOSTNET_COMMIT").unwrap_or_else(|_| {
                q(&[
                    "git",
                    "-C",
                    env!("CARGO_MANIFEST_DIR"),
                    "describe",
                    "--always",
                    "--dirty",
                ])
            }),
        ),
        (
            "containernetworking-plugins".into(),
            deb("containernetworking-plugins"),
        ),
        ("netavark".into(), deb("netavark")),
        ("iptables".into(), q(&["iptables", "--version"])),
        ("nftables".into(), q(&["nft", "--version"])),
    ]
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    let code = match real_main() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("bench: {e}");
            1
        }
    };
    std::process::exit(code);
}

fn real_main() -> R<()> {
    let cfg = Cfg::parse()?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("needs root (network namespaces, nftables)".into());
    }
    let bin = hostnet_bin();
    for (what, p) in [
        ("hostnet", bin.as_str()),
        ("the reference plugins", "/usr/lib/cni/bridge"),
        ("netavark", NETAVARK),
    ] {
        if !Path::new(p).exists() {
            return Err(format!(
                "{what} not found at {p}: run scripts/install-bench-deps.sh"
            ));
        }
    }
    ns::install_signal_handlers();
    let swept = ns::sweep_stale();
    if swept > 0 {
        eprintln!("bench: removed {swept} namespaces left by an earlier, dead run");
    }
    ns::prepare_run_dir()?;
    let guard = ns::Guard::take();
    let work = Work::new()?;
    let mut rep = Report::new(&cfg, machine(), versions());
    rep.load_before = loadavg();
    let t0 = Instant::now();
    let result = (|| -> R<()> {
        let mut pool = Pool::new();
        let probe = NetNs::new("probe")?;
        if cfg.does("census") {
            eprintln!("== processes per ADD/DEL (strace census)");
            for p in cfg.peers.clone() {
                census(&p, &work, &mut rep)?;
            }
        }
        if cfg.does("latency") {
            for p in cfg.peers.clone() {
                eprintln!("== ADD/DEL latency: {p}");
                pool.wait_clean(pool.ns.len())?;
                latency(&cfg, &p, &work, &mut pool, &probe, &mut rep)?;
            }
        }
        if cfg.does("parallel") {
            for p in ["hostnet", "reference"] {
                if cfg.has_peer(p) {
                    eprintln!("== {} parallel ADDs: {p}", cfg.parallel);
                    parallel(&cfg, p, &work, &mut pool, &mut rep)?;
                }
            }
        }
        if cfg.does("portmap") && cfg.has_peer("hostnet") {
            eprintln!("== hostnet portmap add/del");
            portmap(&cfg, &work, &mut rep)?;
        }
        if cfg.does("packet") {
            eprintln!("== packet path");
            packet(&cfg, &work, &mut rep)?;
        }
        eprintln!("== cleaning up {} container namespaces", pool.ns.len());
        drop(pool);
        Ok(())
    })();
    rep.elapsed = t0.elapsed();
    rep.load_after = loadavg();
    let changed = guard.diff();
    if !changed.is_empty() {
        for c in &changed {
            eprintln!("bench: THE INITIAL NETWORK NAMESPACE CHANGED: {c}");
        }
        return Err("the initial network namespace changed during the run".into());
    }
    rep.initial_ns_unchanged = true;
    result?;
    let text = rep.markdown();
    println!("{text}");
    if let Some(path) = &cfg.write {
        report::write_into(path, &text)?;
        eprintln!("bench: results written into {}", path.display());
    }
    Ok(())
}
