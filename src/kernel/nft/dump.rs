//! Reading the table back (GETTABLE, then GETCHAIN/GETRULE/GETSET/GETSETELEM
//! dumps) and rendering it, or what `apply` would program, as a
//! [`TableSnapshot`] that compares exactly:
//! - chain hook: "type nat hook prerouting prio -100 policy accept" ("" for a
//!   regular chain);
//! - a rule: libnftnl's text of each expression, "[ ... ]" lines joined by
//!   '\n' (no handles, no counters);
//! - set elements: nft-like text, sorted ("nerdctl0", "nerdctl0 . nerdctl0",
//!   "10.4.0.0/24",
//!   "tcp . 8080 : 10.4.0.2 . 80 comment static",
//!   "0.0.0.0/0 . tcp . 8000-8099 : 10.4.0.2 comment static").
//!
//! The dumps are not one atomic read; every answer carries the ruleset
//! generation (nfgenmsg.res_id), and a read that saw two generations, or an
//! interrupted dump, is retried.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use super::elements::{self, PORT_MAPS};
use super::guard::{self, GUARD_SETS};
use super::sys::{self, BaseChain, Elem, NlMsg, Reply, Requests, Socket};
use super::table::{self, BRIDGE_SELF, BRIDGES, ROUTED_BRIDGES, SUBNETS4, SUBNETS6};
use super::{ChainSnapshot, PortElement, PortGuard, SetSnapshot, TABLE, TableSnapshot, TableSpec};
use crate::error::{Context, Error, Result};

const ATTEMPTS: usize = 5;

fn hook_name(hook: u32) -> String {
    match hook as i32 {
        libc::NF_INET_PRE_ROUTING => "prerouting".to_string(),
        libc::NF_INET_LOCAL_IN => "input".to_string(),
        libc::NF_INET_FORWARD => "forward".to_string(),
        libc::NF_INET_LOCAL_OUT => "output".to_string(),
        libc::NF_INET_POST_ROUTING => "postrouting".to_string(),
        libc::NF_INET_INGRESS => "ingress".to_string(),
        n => format!("{n}"),
    }
}

fn hook_text(base: &Option<BaseChain>) -> String {
    match base {
        None => String::new(),
        Some(b) => {
            let policy = match b.policy as i32 {
                libc::NF_ACCEPT => "accept".to_string(),
                libc::NF_DROP => "drop".to_string(),
                n => format!("{n}"),
            };
            format!(
                "type {} hook {} prio {} policy {policy}",
                b.kind,
                hook_name(b.hook),
                b.prio
            )
        }
    }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::from("0x");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

fn be_u128(b: &[u8]) -> u128 {
    b.iter().fold(0u128, |acc, x| (acc << 8) | *x as u128)
}

/// Interval sets: starts paired with the next interval-end element above them.
fn render_intervals(elems: &[Elem], bytes: usize) -> Vec<String> {
    let bits = (bytes * 8) as u32;
    let is_end = |e: &Elem| e.flags & sys::ELEM_INTERVAL_END != 0;
    let ends: BTreeSet<u128> = elems
        .iter()
        .filter(|e| is_end(e))
        .map(|e| be_u128(&e.key))
        .collect();
    let mut out = Vec::new();
    for e in elems.iter().filter(|e| !is_end(e)) {
        if e.key.len() != bytes {
            out.push(format!("key {}", hex(&e.key)));
            continue;
        }
        let s = be_u128(&e.key);
        let end = ends
            .range((Bound::Excluded(s), Bound::Unbounded))
            .next()
            .copied();
        out.push(table::range_text(s, end, bits));
    }
    out
}

fn render_generic(e: &Elem) -> String {
    let mut s = format!("key {}", hex(&e.key));
    if let Some(k) = &e.key_end {
        s.push_str(&format!("-{}", hex(k)));
    }
    if let Some(d) = &e.data {
        s.push_str(&format!(" : {}", hex(d)));
    }
    if e.flags != 0 {
        s.push_str(&format!(" flags {:#x}", e.flags));
    }
    if let Some(u) = &e.udata {
        s.push_str(&format!(" udata {}", hex(u)));
    }
    s
}

/// The name in a 16-byte (IFNAMSIZ) ifname key: up to the first NUL.
fn ifname_text(key: &[u8]) -> String {
    let name = key.split(|b| *b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(name).into_owned()
}

/// A plain element (key only) whose key is `names` ifnames back to back:
/// the names joined by " . "; anything else rendered generically.
fn render_ifnames(e: &Elem, names: usize) -> String {
    let plain = e.data.is_none() && e.key_end.is_none() && e.flags == 0 && e.udata.is_none();
    if !plain || e.key.len() != 16 * names {
        return render_generic(e);
    }
    e.key
        .chunks(16)
        .map(ifname_text)
        .collect::<Vec<_>>()
        .join(" . ")
}

fn render_elems(set: &str, elems: &[Elem]) -> Vec<String> {
    let mut out: Vec<String> = match set {
        BRIDGES | ROUTED_BRIDGES => elems.iter().map(|e| render_ifnames(e, 1)).collect(),
        s if GUARD_SETS.contains(&s) => elems
            .iter()
            .map(|e| guard::render(s, e).unwrap_or_else(|| render_generic(e)))
            .collect(),
        BRIDGE_SELF => elems.iter().map(|e| render_ifnames(e, 2)).collect(),
        SUBNETS4 => render_intervals(elems, 4),
        SUBNETS6 => render_intervals(elems, 16),
        s if PORT_MAPS.contains(&s) => elems
            .iter()
            .map(|e| match elements::from_elem(s, e) {
                Some(p) => elements::text(&p, false),
                None => render_generic(e),
            })
            .collect(),
        _ => elems.iter().map(render_generic).collect(),
    };
    out.sort();
    out
}

fn kernel_err(what: &str, errno: i32) -> Error {
    Error::kernel(errno, format!("{what}: {}", sys::strerror(errno)))
}

enum Read {
    Absent,
    Snapshot(TableSnapshot),
    Retry,
}

/// Base chains of OTHER tables on the forward hook whose policy is drop
/// (Docker's `ip filter FORWARD`, firewalld, a hand-written ruleset): a
/// packet hostnet accepts is still dropped there. Rendered as
/// "table ip filter chain FORWARD".
pub(super) fn foreign_forward_drops() -> Result<Vec<String>> {
    const FORWARD: u32 = 2; // NF_INET_FORWARD == NF_BR_FORWARD
    Ok(foreign_policy_drops(&[FORWARD])?
        .into_iter()
        .map(|(_, chain)| chain)
        .collect())
}

/// Base chains of OTHER tables on one of `hooks` whose policy is drop, with
/// their hook number. For hooks other than forward, only the ip, ip6, inet
/// and bridge families (whose hook numbers mean prerouting 0, forward 2,
/// postrouting 4).
pub(super) fn foreign_policy_drops(hooks: &[u32]) -> Result<Vec<(u32, String)>> {
    const FORWARD: u32 = 2;
    // a dump interrupted by a concurrent ruleset change (EINTR) is retried
    for _ in 0..3 {
        let mut sock = Socket::session()?;
        let mut reqs = Requests::new(0, TABLE); // NFPROTO_UNSPEC: every family
        reqs.dump_all_chains();
        let mut out = Vec::new();
        let r = sock
            .run_dump(reqs, |m| {
                if sys::is_chain(m) {
                    let c = sys::parse_chain(m)?;
                    let ours = c.family == u32::from(sys::NFPROTO_INET) && c.table == TABLE;
                    let hook_ok = |h: u32| {
                        hooks.contains(&h) && (h == FORWARD || matches!(c.family, 1 | 2 | 7 | 10))
                    };
                    let drops = c
                        .base
                        .as_ref()
                        .filter(|b| hook_ok(b.hook) && b.policy == libc::NF_DROP as u32);
                    if let Some(b) = drops
                        && !ours
                    {
                        out.push((
                            b.hook,
                            format!(
                                "table {} {} chain {}",
                                family_name(c.family),
                                c.table,
                                c.name
                            ),
                        ));
                    }
                }
                Ok(())
            })
            .ctx("listing the chains of other tables")?;
        match r {
            Ok(()) => {
                out.sort();
                return Ok(out);
            }
            Err(libc::EINTR) => continue,
            Err(e) => return Err(kernel_err("listing the chains of other tables", e)),
        }
    }
    Err(kernel_err(
        "listing the chains of other tables",
        libc::EINTR,
    ))
}

fn family_name(f: u32) -> String {
    match f {
        1 => "inet".into(),
        2 => "ip".into(),
        3 => "arp".into(),
        5 => "netdev".into(),
        7 => "bridge".into(),
        10 => "ip6".into(),
        n => format!("family-{n}"),
    }
}

/// Are the tables of all `families` there? One GETTABLE each, all in one
/// round trip, no dump.
fn exist(families: &[u16]) -> Result<bool> {
    let Some(&first) = families.first() else {
        return Ok(true);
    };
    let mut sock = Socket::session()?;
    let mut reqs = Requests::new(first, TABLE);
    for &family in families {
        reqs.target(family, TABLE);
        reqs.get_table();
    }
    let replies = sock.run_gets(reqs)?;
    if replies.len() != families.len() {
        return Err(kernel_err("looking up the tables", libc::EIO));
    }
    let mut all = true;
    for r in &replies {
        match r {
            Reply::Err(libc::ENOENT) => all = false,
            Reply::Err(e) => return Err(kernel_err("looking up the table", *e)),
            Reply::Msg(..) => {}
        }
    }
    Ok(all)
}

/// Are both tables there? (the CNI ADD fast path)
pub(super) fn table_exists() -> Result<bool> {
    exist(&[sys::NFPROTO_INET, sys::NFPROTO_BRIDGE])
}

/// Is the inet table there?
pub(super) fn inet_table_exists() -> Result<bool> {
    exist(&[sys::NFPROTO_INET])
}

/// One table of `family`: chains (names prefixed with `prefix`), rules, sets
/// and elements.
fn read_once(family: u16, prefix: &str) -> Result<Read> {
    let mut sock = Socket::session()?;
    let mut gens = BTreeSet::new();
    let note = |m: &NlMsg<'_>, gens: &mut BTreeSet<u16>| {
        if let Some(g) = m.genid() {
            gens.insert(g);
        }
    };

    let mut reqs = Requests::new(family, TABLE);
    reqs.get_table();
    let replies = sock.run_gets(reqs)?;
    match replies.first() {
        Some(Reply::Err(libc::ENOENT)) => return Ok(Read::Absent),
        Some(Reply::Err(e)) => return Err(kernel_err("reading table", *e)),
        Some(r) => {
            r.with_msg(|m| {
                note(m, &mut gens);
                Ok(())
            })?;
        }
        None => return Ok(Read::Retry),
    }

    // chains
    let mut chains: Vec<ChainSnapshot> = Vec::new();
    let mut reqs = Requests::new(family, TABLE);
    reqs.dump_chains();
    let r = sock.run_dump(reqs, |m| {
        if sys::is_chain(m) {
            note(m, &mut gens);
            let c = sys::parse_chain(m)?;
            if c.table == TABLE {
                chains.push(ChainSnapshot {
                    name: format!("{prefix}{}", c.name),
                    hook: hook_text(&c.base),
                    rules: Vec::new(),
                });
            }
        }
        Ok(())
    })?;
    match r {
        Ok(()) => {}
        Err(libc::EINTR) | Err(libc::ENOENT) => return Ok(Read::Retry),
        Err(e) => return Err(kernel_err("listing chains", e)),
    }

    // rules, in chain order
    let mut rules: Vec<(String, String)> = Vec::new();
    let mut reqs = Requests::new(family, TABLE);
    reqs.dump_rules();
    let r = sock.run_dump(reqs, |m| {
        if sys::is_rule(m) {
            note(m, &mut gens);
            let r = sys::parse_rule(m)?;
            if r.table == TABLE {
                rules.push((format!("{prefix}{}", r.chain), r.exprs.join("\n")));
            }
        }
        Ok(())
    })?;
    match r {
        Ok(()) => {}
        Err(libc::EINTR) | Err(libc::ENOENT) => return Ok(Read::Retry),
        Err(e) => return Err(kernel_err("listing rules", e)),
    }
    let index: HashMap<String, usize> = chains
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.clone(), i))
        .collect();
    for (chain, rule) in rules {
        match index.get(&chain) {
            Some(&i) => chains[i].rules.push(rule),
            None => return Ok(Read::Retry),
        }
    }

    // sets, then the elements of each
    let mut names: Vec<String> = Vec::new();
    let mut reqs = Requests::new(family, TABLE);
    reqs.dump_sets();
    let r = sock.run_dump(reqs, |m| {
        if sys::is_set(m) {
            note(m, &mut gens);
            let s = sys::parse_set(m)?;
            if s.table == TABLE {
                names.push(s.name);
            }
        }
        Ok(())
    })?;
    match r {
        Ok(()) => {}
        Err(libc::EINTR) | Err(libc::ENOENT) => return Ok(Read::Retry),
        Err(e) => return Err(kernel_err("listing sets", e)),
    }
    let mut sets = Vec::new();
    for name in names {
        let mut elems = Vec::new();
        let mut reqs = Requests::new(family, TABLE);
        reqs.dump_elems(&name);
        let r = sock.run_dump(reqs, |m| {
            if sys::is_elems(m) {
                note(m, &mut gens);
                elems.extend(sys::parse_elems(m)?.1);
            }
            Ok(())
        })?;
        match r {
            Ok(()) => {}
            Err(libc::EINTR) | Err(libc::ENOENT) => return Ok(Read::Retry),
            Err(e) => return Err(kernel_err(&format!("listing set {name}"), e)),
        }
        sets.push(SetSnapshot {
            elements: render_elems(&name, &elems),
            name: format!("{prefix}{name}"),
        });
    }
    if gens.len() > 1 {
        return Ok(Read::Retry);
    }
    Ok(Read::Snapshot(TableSnapshot { chains, sets }))
}

/// Chain and set names of the bridge table carry this prefix in a snapshot.
const BRIDGE_PREFIX: &str = "bridge ";

fn read_one(family: u16, prefix: &str, fname: &str) -> Result<Option<TableSnapshot>> {
    for _ in 0..ATTEMPTS {
        match read_once(family, prefix).ctx(format!("reading table {fname} {TABLE}"))? {
            Read::Absent => return Ok(None),
            Read::Snapshot(s) => return Ok(Some(s)),
            Read::Retry => continue,
        }
    }
    Err(Error::new(
        crate::error::Kind::TryAgain,
        format!("reading table {fname} {TABLE}: the ruleset kept changing"),
    ))
}

/// The inet table (None when absent) with the bridge table's chains and
/// sets appended (prefixed "bridge "; missing when that table is absent,
/// so the snapshot differs from the desired one).
pub(super) fn read_table() -> Result<Option<TableSnapshot>> {
    let Some(mut snap) = read_one(sys::NFPROTO_INET, "", "inet")? else {
        return Ok(None);
    };
    if let Some(b) = read_one(sys::NFPROTO_BRIDGE, BRIDGE_PREFIX, "bridge")? {
        snap.chains.extend(b.chains);
        snap.sets.extend(b.sets);
    }
    Ok(Some(snap))
}

/// The anti-spoofing elements of the bridge table, grouped by port.
pub(super) fn read_guards() -> Result<Vec<PortGuard>> {
    let Some(snap) = read_one(sys::NFPROTO_BRIDGE, "", "bridge")? else {
        return Ok(Vec::new());
    };
    let mut out: Vec<PortGuard> = Vec::new();
    fn entry(out: &mut Vec<PortGuard>, port: &str) -> usize {
        match out.iter().position(|g| g.port == port) {
            Some(i) => i,
            None => {
                out.push(PortGuard {
                    port: port.to_string(),
                    addrs: Vec::new(),
                    with_port: false,
                });
                out.len() - 1
            }
        }
    }
    for set in &snap.sets {
        for e in &set.elements {
            match set.name.as_str() {
                guard::PORTS => {
                    let i = entry(&mut out, e);
                    out[i].with_port = true;
                }
                guard::OWNED4 | guard::OWNED6 => {
                    if let Some((port, addr)) = e.split_once(" . ")
                        && let Ok(a) = addr.parse()
                    {
                        let i = entry(&mut out, port);
                        out[i].addrs.push(a);
                    }
                }
                _ => {}
            }
        }
    }
    for g in &mut out {
        g.addrs.sort();
    }
    out.sort();
    Ok(out)
}

fn render_objects(objs: &table::Objects, prefix: &str) -> TableSnapshot {
    let mut chains: Vec<ChainSnapshot> = objs
        .chains
        .iter()
        .map(|c| ChainSnapshot {
            name: format!("{prefix}{}", c.name),
            hook: hook_text(&c.base),
            rules: Vec::new(),
        })
        .collect();
    for (chain, exprs) in &objs.rules {
        let name = format!("{prefix}{chain}");
        if let Some(c) = chains.iter_mut().find(|c| c.name == name) {
            c.rules.push(sys::render_exprs(exprs).join("\n"));
        }
    }
    let sets = objs
        .sets
        .iter()
        .map(|(def, elems)| SetSnapshot {
            name: format!("{prefix}{}", def.name),
            elements: render_elems(&def.name, elems),
        })
        .collect();
    TableSnapshot { chains, sets }
}

pub(super) fn desired_table(spec: &TableSpec) -> Result<TableSnapshot> {
    let tables = table::objects(spec).ctx(format!("tables inet/bridge {TABLE}"))?;
    let mut snap = render_objects(&tables.inet, "");
    let b = render_objects(&tables.bridge, BRIDGE_PREFIX);
    snap.chains.extend(b.chains);
    snap.sets.extend(b.sets);
    Ok(snap)
}

/// The elements of one map (empty when the table or map does not exist).
pub(super) fn map_elems(sock: &mut Socket, map: &str) -> Result<Vec<Elem>> {
    for _ in 0..ATTEMPTS {
        let mut reqs = Requests::new(sys::NFPROTO_INET, TABLE);
        reqs.dump_elems(map);
        let mut elems = Vec::new();
        let r = sock.run_dump(reqs, |m| {
            if sys::is_elems(m) {
                elems.extend(sys::parse_elems(m)?.1);
            }
            Ok(())
        })?;
        match r {
            Ok(()) => return Ok(elems),
            Err(libc::ENOENT) => return Ok(Vec::new()),
            Err(libc::EINTR) => continue,
            Err(e) => return Err(kernel_err(&format!("listing map {map}"), e)),
        }
    }
    Err(Error::new(
        crate::error::Kind::TryAgain,
        format!("listing map {map}: it kept changing"),
    ))
}

pub(super) fn read_ports() -> Result<Vec<PortElement>> {
    let mut sock = Socket::session()?;
    let mut out = Vec::new();
    for map in PORT_MAPS {
        let elems = map_elems(&mut sock, map)?;
        out.extend(elems.iter().filter_map(|e| elements::from_elem(map, e)));
    }
    out.sort();
    Ok(out)
}
