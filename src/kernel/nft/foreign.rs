//! Docker coexistence: accept rules for hostnet's bridges at the top of
//! another program's `filter FORWARD` chain (ip and ip6 families), the chain
//! Docker creates through iptables-nft with policy drop.
//!
//! A drop in any table's forward hook drops the packet, whatever hostnet's
//! own table says; an accept here only ends *this* chain's evaluation (so
//! Docker's policy does not apply), and `inet hostnet`'s forward chain still
//! decides what passes.
//!
//! The rules are written exactly as iptables-nft 1.8.9 writes
//! `-I FORWARD -i BR -m comment --comment hostnet -j ACCEPT` (verified with
//! `nft --debug=netlink` and by `iptables-nft -C`/`-D` finding them):
//!
//! ```text
//! [ meta load iifname => reg 1 ]               (oifname for -o)
//! [ cmp eq reg 1 <name bytes + NUL> ]          (strlen + 1 bytes, not 16)
//! [ match name comment rev 0 ]                 (xt_comment_info: 256 bytes)
//! [ counter pkts 0 bytes 0 ]
//! [ immediate reg 0 accept ]
//! ```
//! so `iptables-nft -S`/`iptables-nft-save` list them and exit 0. A rule is
//! hostnet's when it has exactly this shape with the comment `hostnet`;
//! nothing else of the foreign table is ever touched. The table and the chain
//! are never created: no chain, nothing to do.

use super::sys::{self, Batch, Expr, ForeignRuleInfo, Reply, Requests, Socket};
use crate::error::{Context, Error, Result};

/// The comment naming hostnet's rules.
pub const COMMENT: &str = "hostnet";
const TABLE: &str = "filter";
const CHAIN: &str = "FORWARD";
/// sizeof(struct xt_comment_info): char comment[XT_MAX_COMMENT_LEN = 256].
const XT_COMMENT_INFO_LEN: usize = 256;
const ATTEMPTS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dir {
    /// `-i BR`: forwarded out of a bridge (container egress, replies).
    In,
    /// `-o BR`: forwarded into a bridge (published ports, replies).
    Out,
}

impl Dir {
    fn flag(self) -> &'static str {
        match self {
            Dir::In => "-i",
            Dir::Out => "-o",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    Ip,
    Ip6,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::Ip, Family::Ip6];
    fn nfproto(self) -> u16 {
        match self {
            Family::Ip => sys::NFPROTO_IPV4 as u16,
            Family::Ip6 => sys::NFPROTO_IPV6 as u16,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
        }
    }
}

/// One accept rule of hostnet in a foreign chain.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AcceptRule {
    pub family: Family,
    pub dir: Dir,
    pub bridge: String,
}

impl std::fmt::Display for AcceptRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {TABLE} {CHAIN}: {} {} -m comment --comment {COMMENT} -j ACCEPT",
            self.family.name(),
            self.dir.flag(),
            self.bridge
        )
    }
}

fn comment_info() -> Vec<u8> {
    let mut info = vec![0u8; XT_COMMENT_INFO_LEN];
    info[..COMMENT.len()].copy_from_slice(COMMENT.as_bytes());
    info
}

fn exprs(dir: Dir, bridge: &str) -> Vec<Expr> {
    let key = match dir {
        Dir::In => sys::META_IIFNAME,
        Dir::Out => sys::META_OIFNAME,
    };
    let mut name = bridge.as_bytes().to_vec();
    name.push(0);
    vec![
        Expr::Meta {
            key,
            dreg: sys::REG_1,
        },
        Expr::Cmp {
            sreg: sys::REG_1,
            op: sys::CMP_EQ,
            data: name,
        },
        Expr::Match {
            name: "comment".into(),
            rev: 0,
            info: comment_info(),
        },
        Expr::Counter,
        Expr::Accept,
    ]
}

/// Is this rule one of hostnet's? Then its direction and bridge.
fn classify(rule: &ForeignRuleInfo) -> Option<(Dir, String)> {
    if rule.exprs.len() != 5 || rule.data.len() != 5 || rule.data[2] != comment_info() {
        return None;
    }
    let name = rule.data[1].strip_suffix(&[0])?;
    let bridge = std::str::from_utf8(name).ok()?;
    if bridge.is_empty() || bridge.len() > 15 || bridge.contains('\0') {
        return None;
    }
    for dir in [Dir::In, Dir::Out] {
        let want = sys::render_exprs(&exprs(dir, bridge));
        // the counter's numbers change with traffic: compare all but it
        let same = want
            .iter()
            .zip(&rule.exprs)
            .enumerate()
            .all(|(i, (w, h))| i == 3 || w == h);
        if same && rule.exprs[3].starts_with("[ counter ") {
            return Some((dir, bridge.to_string()));
        }
    }
    None
}

/// The families whose `filter FORWARD` exists: one GETCHAIN each, both in
/// one round trip (all the CNI ADD pays when Docker is not there).
fn chains() -> Result<Vec<Family>> {
    let mut sock = Socket::session()?;
    let mut reqs = Requests::new(Family::Ip.nfproto(), TABLE);
    for family in Family::ALL {
        reqs.target(family.nfproto(), TABLE);
        reqs.get_chain(CHAIN);
    }
    let replies = sock
        .run_gets(reqs)
        .ctx(format!("looking for {TABLE} {CHAIN} chains"))?;
    let mut out = Vec::new();
    for (family, reply) in Family::ALL.into_iter().zip(replies) {
        match reply {
            Reply::Msg(..) => out.push(family),
            Reply::Err(libc::ENOENT) => {}
            Reply::Err(e) => {
                return Err(Error::kernel(
                    e,
                    format!(
                        "looking for {} {TABLE} {CHAIN}: {}",
                        family.name(),
                        sys::strerror(e)
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// The rules of `family filter FORWARD`; None when that chain does not exist.
fn read(family: Family) -> Result<Option<Vec<ForeignRuleInfo>>> {
    if !chains()?.contains(&family) {
        return Ok(None);
    }
    dump(family).map(Some)
}

fn dump(family: Family) -> Result<Vec<ForeignRuleInfo>> {
    let what = format!("listing {} {TABLE} {CHAIN}", family.name());
    for _ in 0..ATTEMPTS {
        let mut sock = Socket::session()?;
        let mut reqs = Requests::new(family.nfproto(), TABLE);
        reqs.dump_chain_rules(CHAIN);
        let mut rules = Vec::new();
        let r = sock
            .run_dump(reqs, |m| {
                if sys::is_rule(m) {
                    rules.push(sys::parse_foreign_rule(m)?);
                }
                Ok(())
            })
            .ctx(&what)?;
        match r {
            Ok(()) => return Ok(rules),
            Err(libc::EINTR) => continue,
            Err(e) => {
                return Err(Error::kernel(e, format!("{what}: {}", sys::strerror(e))));
            }
        }
    }
    Err(Error::kernel(
        libc::EINTR,
        format!("{what}: interrupted {ATTEMPTS} times"),
    ))
}

/// What hostnet has in the foreign chains now, and the chains that exist.
#[derive(Debug, Clone, Default)]
pub struct Present {
    /// Families whose `filter FORWARD` exists.
    pub chains: Vec<Family>,
    /// hostnet's rules found there, with their handles.
    pub rules: Vec<(AcceptRule, u64)>,
}

pub fn present() -> Result<Present> {
    let mut out = Present::default();
    for family in chains()? {
        let rules = dump(family)?;
        out.chains.push(family);
        for r in &rules {
            if let Some((dir, bridge)) = classify(r) {
                out.rules.push((
                    AcceptRule {
                        family,
                        dir,
                        bridge,
                    },
                    r.handle,
                ));
            }
        }
    }
    Ok(out)
}

/// The changes that make the foreign chains hold exactly one accept rule per
/// direction for each of `bridges` (and, with `remove_others`, none for any
/// other bridge): (rules to insert, rules to delete with their handles).
pub fn diff(
    have: &Present,
    bridges: &[String],
    remove_others: bool,
) -> (Vec<AcceptRule>, Vec<(AcceptRule, u64)>) {
    let mut add = Vec::new();
    let mut del = Vec::new();
    for &family in &have.chains {
        for bridge in bridges {
            for dir in [Dir::In, Dir::Out] {
                let want = AcceptRule {
                    family,
                    dir,
                    bridge: bridge.clone(),
                };
                if !have.rules.iter().any(|(r, _)| *r == want) {
                    add.push(want);
                }
            }
        }
    }
    let mut seen = Vec::new();
    for (rule, handle) in &have.rules {
        let wanted = bridges.contains(&rule.bridge);
        if (!wanted && remove_others) || (wanted && seen.contains(rule)) {
            del.push((rule.clone(), *handle));
        }
        seen.push(rule.clone());
    }
    (add, del)
}

fn apply(add: &[AcceptRule], del: &[(AcceptRule, u64)]) -> Result<()> {
    let mut b = Batch::new(Family::Ip.nfproto(), TABLE);
    let mut what: Vec<(u32, String)> = Vec::new();
    for (rule, handle) in del {
        b.target(rule.family.nfproto(), TABLE);
        what.push((b.del_rule(CHAIN, *handle), format!("deleting {rule}")));
    }
    // inserted at the top one after the other: the last goes first
    for rule in add.iter().rev() {
        b.target(rule.family.nfproto(), TABLE);
        what.push((
            b.insert_rule(CHAIN, &exprs(rule.dir, &rule.bridge)),
            format!("inserting {rule}"),
        ));
    }
    if b.is_empty() {
        return Ok(());
    }
    let mut sock = Socket::session()?;
    let res = sock.run_batch(b.finish())?;
    match res.first_failure(&what, "the transaction") {
        None => Ok(()),
        Some((errno, object)) => Err(Error::kernel(
            errno,
            format!("{object}: {}", sys::strerror(errno)),
        )),
    }
}

/// Make the foreign chains that exist hold hostnet's accept rules for
/// `bridges` (one transaction for both families); with `remove_others`,
/// remove hostnet's rules for any other bridge (`bridges` empty: remove all
/// of them, as teardown does). Returns the rules inserted and deleted. A
/// chain changed by its owner meanwhile (a rule gone) is read again.
pub fn sync(bridges: &[String], remove_others: bool) -> Result<Vec<String>> {
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let have = present()?;
        let (add, del) = diff(&have, bridges, remove_others);
        match apply(&add, &del) {
            Ok(()) => {
                let mut out: Vec<String> = del.iter().map(|(r, _)| format!("delete {r}")).collect();
                out.extend(add.iter().map(|r| format!("insert {r}")));
                return Ok(out);
            }
            Err(e) if matches!(e.errno(), Some(libc::ENOENT) | Some(libc::EBUSY)) => last = Some(e),
            Err(e) => return Err(e.context("Docker coexistence rules")),
        }
    }
    Err(last
        .unwrap_or_else(|| Error::kernel(libc::EINTR, "interrupted"))
        .context("Docker coexistence rules"))
}

/// What `sync` would change, without changing it (for plans and dry runs).
pub fn pending(bridges: &[String], remove_others: bool) -> Result<Vec<String>> {
    let have = present()?;
    let (add, del) = diff(&have, bridges, remove_others);
    let mut out: Vec<String> = del.iter().map(|(r, _)| format!("delete {r}")).collect();
    out.extend(add.iter().map(|r| format!("insert {r}")));
    Ok(out)
}

/// A rule's handle and its NFTA_RULE_EXPRESSIONS bytes.
pub type RawRule = (u64, Vec<u8>);

/// Each rule of `family filter FORWARD` as (handle, NFTA_RULE_EXPRESSIONS
/// bytes as dumped); None when the chain does not exist. For tests that
/// compare hostnet's rules with iptables-nft's byte for byte.
pub fn raw_rules(family: Family) -> Result<Option<Vec<RawRule>>> {
    Ok(read(family)?.map(|rules| rules.into_iter().map(|r| (r.handle, r.raw_exprs)).collect()))
}
