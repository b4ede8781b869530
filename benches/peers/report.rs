//! Statistics and the markdown report (printed, and written into
//! BENCHMARKS.md between the results markers).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::{Cfg, R};

pub const BEGIN: &str = "<!-- results:begin (written by `make bench`) -->";
pub const END: &str = "<!-- results:end -->";

/// min / median / max of a sample (durations in ms, or plain numbers).
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub min: f64,
    pub median: f64,
    pub max: f64,
    ms: bool,
}

impl Stats {
    pub fn of(d: &[Duration]) -> Stats {
        let v: Vec<f64> = d.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        Stats {
            ms: true,
            ..Stats::of_f64(&v)
        }
    }
    pub fn of_f64(v: &[f64]) -> Stats {
        let mut v = v.to_vec();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let n = v.len();
        if n == 0 {
            return Stats {
                min: f64::NAN,
                median: f64::NAN,
                max: f64::NAN,
                ms: false,
            };
        }
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Stats {
            min: v[0],
            median,
            max: v[n - 1],
            ms: false,
        }
    }
    pub fn median_ms(&self) -> f64 {
        self.median
    }
    fn cell(&self) -> String {
        if self.ms {
            format!(
                "{} / **{}** / {}",
                ms(self.min),
                ms(self.median),
                ms(self.max)
            )
        } else {
            format!("{:.0} / **{:.0}** / {:.0}", self.min, self.median, self.max)
        }
    }
}

fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = if self.ms { " ms" } else { "" };
        write!(
            f,
            "{}/{}/{}{u}",
            ms(self.min),
            ms(self.median),
            ms(self.max)
        )
    }
}

pub struct Floor {
    /// veth create (peer born in the container netns) + enslave + hairpin +
    /// up; container side address + up + route; then one element add.
    pub add: Stats,
    pub veth: Stats,
    pub elem: Stats,
    /// `hostnet` CNI VERSION: what a process costs before it does anything.
    pub exec: Option<Stats>,
}

pub struct Lat {
    pub peer: String,
    pub n: usize,
    pub add: Option<Stats>,
    pub del: Option<Stats>,
    pub rss_kib: u64,
    pub floor: Option<Floor>,
    pub note: String,
}

impl Lat {
    pub fn skipped(peer: &str, n: usize, why: &str) -> Lat {
        Lat {
            peer: peer.into(),
            n,
            add: None,
            del: None,
            rss_kib: 0,
            floor: None,
            note: why.into(),
        }
    }
}

pub struct Packet {
    pub peer: String,
    pub n: usize,
    pub rate: Stats,
    pub note: String,
}

pub struct PortmapRow {
    pub existing: usize,
    pub add: Stats,
    pub del: Stats,
}

pub struct Parallel {
    pub peer: String,
    pub k: usize,
    pub add_wall: Duration,
    pub del_wall: Duration,
    pub distinct_ips: usize,
    pub add_failed: usize,
    pub del_failed: usize,
}

pub struct Report {
    pub cfg: Cfg,
    pub machine: String,
    pub versions: Vec<(String, String)>,
    pub lat: Vec<Lat>,
    pub packet: Vec<Packet>,
    pub portmap: Vec<PortmapRow>,
    pub parallel: Vec<Parallel>,
    /// (peer, plugin processes spawned per ADD, execs per ADD, execs per DEL)
    pub census: Vec<(String, usize, usize, usize)>,
    pub elapsed: Duration,
    pub load_before: String,
    pub load_after: String,
    pub initial_ns_unchanged: bool,
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}×", a / b)
    } else {
        "—".into()
    }
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

impl Report {
    pub fn new(cfg: &Cfg, machine: String, versions: Vec<(String, String)>) -> Report {
        Report {
            cfg: cfg.clone(),
            machine,
            versions,
            lat: vec![],
            packet: vec![],
            portmap: vec![],
            parallel: vec![],
            census: vec![],
            elapsed: Duration::ZERO,
            load_before: String::new(),
            load_after: String::new(),
            initial_ns_unchanged: false,
        }
    }

    fn lat(&self, peer: &str, n: usize) -> Option<&Lat> {
        self.lat.iter().find(|l| l.peer == peer && l.n == n)
    }

    fn lat_cell(&self, peer: &str, n: usize, del: bool) -> String {
        match self.lat(peer, n) {
            None => "—".into(),
            Some(l) => match if del { l.del } else { l.add } {
                Some(s) => s.cell(),
                None => format!("*{}*", l.note),
            },
        }
    }

    fn median(&self, peer: &str, n: usize, del: bool) -> f64 {
        self.lat(peer, n)
            .and_then(|l| if del { l.del } else { l.add })
            .map(|s| s.median)
            .unwrap_or(f64::NAN)
    }

    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let date =
            crate::ns::sh(std::process::Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
                .unwrap_or_default();
        o += &format!(
            "Run of {}: `{}`, {:.1} min, {} repetitions per cell. Load average (1/5/15 min) before: {}, after: {}. \
             The initial network namespace was compared before and after (nftables, iptables, links, addresses, forwarding): {}.\n\n",
            date.trim(),
            if self.cfg.quick {
                "make bench-quick"
            } else {
                "make bench"
            },
            self.elapsed.as_secs_f64() / 60.0,
            self.cfg.reps,
            self.load_before,
            self.load_after,
            if self.initial_ns_unchanged {
                "unchanged"
            } else {
                "CHANGED"
            }
        );
        o += &format!(
            "Machine: {}.\n\n| component | version |\n|---|---|\n",
            self.machine
        );
        for (k, v) in &self.versions {
            o += &format!("| {k} | {v} |\n");
        }
        let peers: Vec<&str> = ["hostnet", "reference", "netavark"]
            .into_iter()
            .filter(|p| self.cfg.has_peer(p))
            .collect();
        let levels = &self.cfg.levels;

        // goals first
        o += "\n### Goals\n\n| # | goal | measured | verdict |\n|---|---|---|---|\n";
        let first = levels.first().copied().unwrap_or(1);
        let last = levels.last().copied().unwrap_or(1);
        let h1 = self.median("hostnet", first, false);
        let hl = self.median("hostnet", last, false);
        let worst_add = levels
            .iter()
            .map(|&n| self.median("hostnet", n, false))
            .fold(f64::NAN, f64::max);
        o += &format!(
            "| 1 | hostnet ADD ≤ 5 ms median at every n | worst median {} ms | {} |\n",
            ms(worst_add),
            verdict(worst_add.is_finite().then_some(worst_add <= 5.0))
        );
        o += &format!(
            "| 1 | hostnet ADD at n={last} ≤ 1.2× its n={first} | {} ms / {} ms = {} | {} |\n",
            ms(hl),
            ms(h1),
            ratio(hl, h1),
            verdict((hl.is_finite() && h1.is_finite()).then_some(hl <= 1.2 * h1))
        );
        // ADD against what no plugin process can avoid: the process floor
        // (exec to exit of `hostnet` VERSION) plus the kernel floor
        let mut worst_floor = f64::NAN;
        for &n in levels {
            if let Some(Lat {
                add: Some(a),
                floor: Some(f),
                ..
            }) = self.lat("hostnet", n)
                && let Some(e) = f.exec
            {
                let r = a.median / (f.add.median + e.median);
                worst_floor = if worst_floor.is_nan() {
                    r
                } else {
                    worst_floor.max(r)
                };
            }
        }
        o += &format!(
            "| 1 | hostnet ADD ≤ 1.3× (process floor + kernel floor) at every n | worst {} | {} |\n",
            if worst_floor.is_finite() {
                format!("{worst_floor:.2}×")
            } else {
                "—".into()
            },
            verdict(worst_floor.is_finite().then_some(worst_floor <= 1.3))
        );
        // DEL / floor at every n, the floor being the two bare deletes; and
        // against the veth delete alone (what is left if the element delete's
        // RCU wait is overlapped with it)
        let mut worst = (f64::NAN, f64::NAN);
        for &n in levels {
            if let Some(Lat {
                del: Some(d),
                floor: Some(f),
                ..
            }) = self.lat("hostnet", n)
            {
                let (a, b) = (
                    d.median / (f.veth.median + f.elem.median),
                    d.median / f.veth.median,
                );
                worst.0 = if worst.0.is_nan() { a } else { worst.0.max(a) };
                worst.1 = if worst.1.is_nan() { b } else { worst.1.max(b) };
            }
        }
        let x = |v: f64| {
            if v.is_finite() {
                format!("{v:.2}×")
            } else {
                "—".into()
            }
        };
        o += &format!(
            "| 1 | hostnet DEL ≤ 1.2× the kernel floor (bare veth delete + bare element delete) | worst DEL/floor {} (against the veth delete alone: {}) | {} |\n",
            x(worst.0),
            x(worst.1),
            verdict(worst.0.is_finite().then_some(worst.0 <= 1.2))
        );
        let pk = |peer: &str, n: usize| {
            self.packet
                .iter()
                .find(|p| p.peer == peer && p.n == n)
                .map(|p| p.rate.median)
                .unwrap_or(f64::NAN)
        };
        let (p1, pn) = (
            self.cfg.packet_levels.first().copied().unwrap_or(1),
            self.cfg.packet_levels.last().copied().unwrap_or(1),
        );
        let (hp1, hpn, rp1, rpn) = (
            pk("hostnet", p1),
            pk("hostnet", pn),
            pk("reference", p1),
            pk("reference", pn),
        );
        o += &format!(
            "| 2 | hostnet conn/s at n={pn} ≥ 0.9× at n={p1}, while the peer degrades | hostnet {} (reference {}) | {} |\n",
            ratio(hpn, hp1),
            ratio(rpn, rp1),
            verdict((hpn.is_finite() && hp1.is_finite()).then_some(hpn >= 0.9 * hp1))
        );
        if let (Some(a), Some(b)) = (self.portmap.first(), self.portmap.last()) {
            let worst = a
                .add
                .median
                .max(a.del.median)
                .max(b.add.median)
                .max(b.del.median);
            let (ra, rd) = (b.add.median / a.add.median, b.del.median / a.del.median);
            o += &format!(
                "| 3 | `hostnet portmap add/del` ≤ 2 ms, at {} ≤ 1.2× at {} | worst median {} ms; add {:.2}×, del {:.2}× | {} |\n",
                b.existing,
                a.existing,
                ms(worst),
                ra,
                rd,
                verdict(Some(worst <= 2.0 && ra <= 1.2 && rd <= 1.2))
            );
        } else {
            o += "| 3 | `hostnet portmap add/del` ≤ 2 ms and ≤ 1.2× | — | not measured |\n";
        }
        let par = |p: &str| self.parallel.iter().find(|r| r.peer == p);
        if let (Some(h), Some(r)) = (par("hostnet"), par("reference")) {
            o += &format!(
                "| 4 | {} parallel ADDs: wall time, distinct IPs | hostnet {:.0} ms / {} IPs, reference {:.0} ms / {} IPs: {} | {} |\n",
                h.k,
                h.add_wall.as_secs_f64() * 1e3,
                h.distinct_ips,
                r.add_wall.as_secs_f64() * 1e3,
                r.distinct_ips,
                ratio(h.add_wall.as_secs_f64(), r.add_wall.as_secs_f64()),
                verdict(Some(h.distinct_ips == h.k && h.add_failed == 0))
            );
        }
        let rss: Vec<u64> = self
            .lat
            .iter()
            .filter(|l| l.peer == "hostnet" && l.add.is_some())
            .map(|l| l.rss_kib)
            .collect();
        if let (Some(mn), Some(mx)) = (rss.iter().min(), rss.iter().max()) {
            o += &format!(
                "| 5 | hostnet ADD peak RSS ≤ 8 MB, flat in n | {:.1}–{:.1} MiB, max/min {:.2}× | {} |\n",
                *mn as f64 / 1024.0,
                *mx as f64 / 1024.0,
                *mx as f64 / *mn as f64,
                verdict(Some(
                    *mx as f64 <= 8.0 * 1024.0 && (*mx as f64) <= 1.2 * *mn as f64
                ))
            );
        }

        // 1. latency
        o += "\n### 1. ADD and DEL of one more container with n attached (ms: min / **median** / max)\n\n";
        o += "Each cell: the plugin process(es) timed from outside, fork+exec to reap, from a thread already in the host namespace; \
              for the reference chain the sum of its four plugin processes. Each container has one TCP port mapping.\n\n";
        o += "| n | ";
        for p in &peers {
            o += &format!("{p} ADD | ");
        }
        let ratios: Vec<&str> = peers.iter().copied().filter(|p| *p != "hostnet").collect();
        for p in &ratios {
            o += &format!("hostnet/{p} | ");
        }
        o += "kernel floor: veth create+attach+up, container addr+up+route, element add | hostnet ADD / floor | process floor: hostnet VERSION | hostnet ADD / (process + kernel floor) |\n|---|";
        for _ in 0..peers.len() + ratios.len() + 4 {
            o += "---|";
        }
        o += "\n";
        for &n in levels {
            o += &format!("| {n} | ");
            for p in &peers {
                o += &format!("{} | ", self.lat_cell(p, n, false));
            }
            for p in &ratios {
                o += &format!(
                    "{} | ",
                    ratio(self.median("hostnet", n, false), self.median(p, n, false))
                );
            }
            match self.lat("hostnet", n).and_then(|l| l.floor.as_ref()) {
                Some(f) => {
                    o += &format!(
                        "{} | {} | {} | {} |\n",
                        f.add.cell(),
                        ratio(self.median("hostnet", n, false), f.add.median),
                        f.exec.map(|e| e.cell()).unwrap_or("—".into()),
                        f.exec
                            .map(|e| ratio(
                                self.median("hostnet", n, false),
                                f.add.median + e.median
                            ))
                            .unwrap_or("—".into())
                    )
                }
                None => o += "— | — | — | — |\n",
            }
        }
        o += "\n| n | ";
        for p in &peers {
            o += &format!("{p} DEL | ");
        }
        for p in &ratios {
            o += &format!("hostnet/{p} | ");
        }
        o += "kernel floor: veth del + element del | hostnet DEL / floor |\n|---|";
        for _ in 0..peers.len() + ratios.len() + 2 {
            o += "---|";
        }
        o += "\n";
        for &n in levels {
            o += &format!("| {n} | ");
            for p in &peers {
                o += &format!("{} | ", self.lat_cell(p, n, true));
            }
            for p in &ratios {
                o += &format!(
                    "{} | ",
                    ratio(self.median("hostnet", n, true), self.median(p, n, true))
                );
            }
            match self.lat("hostnet", n).and_then(|l| l.floor.as_ref()) {
                Some(f) => {
                    let sum = f.veth.median + f.elem.median;
                    o += &format!(
                        "{} + {} = **{}** | {} |\n",
                        ms(f.veth.median),
                        ms(f.elem.median),
                        ms(sum),
                        ratio(self.median("hostnet", n, true), sum)
                    )
                }
                None => o += "— | — |\n",
            }
        }
        if !self.census.is_empty() || self.lat.iter().any(|l| l.add.is_some()) {
            o += "\n| peer | plugin processes spawned per ADD | all execs per ADD (strace -f) | all execs per DEL | peak RSS of one ADD (KiB), by n |\n|---|---|---|---|---|\n";
            for p in &peers {
                let c = self.census.iter().find(|c| c.0 == *p);
                let rss: Vec<String> = self
                    .lat
                    .iter()
                    .filter(|l| l.peer == *p && l.add.is_some())
                    .map(|l| format!("{}: {}", l.n, l.rss_kib))
                    .collect();
                o += &format!(
                    "| {p} | {} | {} | {} | {} |\n",
                    c.map(|c| c.1.to_string()).unwrap_or("—".into()),
                    c.map(|c| c.2.to_string()).unwrap_or("—".into()),
                    c.map(|c| c.3.to_string()).unwrap_or("—".into()),
                    if rss.is_empty() {
                        "—".into()
                    } else {
                        rss.join(", ")
                    }
                );
            }
        }

        // 2. packet path
        if !self.packet.is_empty() {
            o += "\n### 2. New TCP connections per second through a mapped host port (min / **median** / max)\n\n";
            o += &format!(
                "Client in an outside namespace (198.51.100.2, CPU 0) → host port 198.51.100.1:40000 → DNAT → server in the container \
                 (CPU 1); each connection: connect, read 1 byte, close with RST. {} rounds of {} s.\n\n",
                self.cfg.packet_reps, self.cfg.packet_secs
            );
            o += "| n mappings | hostnet conn/s | reference conn/s | hostnet/reference | hostnet vs its n=1 | reference vs its n=1 |\n|---|---|---|---|---|---|\n";
            for &n in &self.cfg.packet_levels {
                let cell = |p: &str| {
                    self.packet
                        .iter()
                        .find(|x| x.peer == p && x.n == n)
                        .map(|x| x.rate.cell())
                        .unwrap_or("—".into())
                };
                o += &format!(
                    "| {n} | {} | {} | {} | {} | {} |\n",
                    cell("hostnet"),
                    cell("reference"),
                    ratio(pk("hostnet", n), pk("reference", n)),
                    ratio(pk("hostnet", n), hp1),
                    ratio(pk("reference", n), rp1)
                );
            }
            o += "\nHow the n mappings were made:\n";
            for p in &self.packet {
                if p.n == pn {
                    o += &format!("- {}: {}\n", p.peer, p.note);
                }
            }
        }

        // 3. portmap
        if !self.portmap.is_empty() {
            o += "\n### 3. `hostnet portmap add` / `del` of one more mapping (ms: min / **median** / max)\n\n";
            o += "| existing mappings | add | del |\n|---|---|---|\n";
            for r in &self.portmap {
                o += &format!("| {} | {} | {} |\n", r.existing, r.add.cell(), r.del.cell());
            }
        }

        // 4. parallel
        if !self.parallel.is_empty() {
            o += "\n### 4. Parallel ADDs on a fresh host (one thread per container, all released at once)\n\n";
            o += "| peer | ADDs | wall time of all ADDs | distinct IPs | failed | wall time of all DELs | failed |\n|---|---|---|---|---|---|---|\n";
            for r in &self.parallel {
                o += &format!(
                    "| {} | {} | {:.0} ms | {} | {} | {:.0} ms | {} |\n",
                    r.peer,
                    r.k,
                    r.add_wall.as_secs_f64() * 1e3,
                    r.distinct_ips,
                    r.add_failed,
                    r.del_wall.as_secs_f64() * 1e3,
                    r.del_failed
                );
            }
        }
        o
    }
}

/// Replace what lies between the markers in `path` (or append them).
pub fn write_into(path: &Path, text: &str) -> R<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let block = format!("{BEGIN}\n{text}\n{END}");
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(a), Some(b)) if b > a => format!("{}{block}{}", &old[..a], &old[b + END.len()..]),
        _ => format!("{old}\n{block}\n"),
    };
    std::fs::write(path, new).map_err(|e| format!("{}: {e}", path.display()))
}
