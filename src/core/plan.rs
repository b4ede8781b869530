//! A change to the host as a list of actions: printed as-is by `--dry-run`,
//! executed in order, and undone in reverse order when a later action fails,
//! so a failure half way leaves the host as it was.

use std::fmt;
use std::path::PathBuf;

use ipnetwork::IpNetwork;

use crate::core::network::format_mac;
use crate::core::state::{Durability, read_bytes_opt, write_atomic};
use crate::core::txn::Transaction;
use crate::error::{Context, Error, Result};
use crate::kernel::link::{LinkInfo, Netlink};
use crate::kernel::nft::{self, TableSpec};
use crate::kernel::sysctl::{self, Key};

#[derive(Debug, Clone)]
pub enum Action {
    Sysctl {
        key: Key,
        value: String,
    },
    CreateBridge {
        name: String,
        mtu: Option<u32>,
    },
    SetMac {
        link: String,
        mac: [u8; 6],
    },
    SetMtu {
        link: String,
        mtu: u32,
    },
    DelAddress {
        link: String,
        addr: IpNetwork,
    },
    AddAddress {
        link: String,
        addr: IpNetwork,
    },
    SetUp {
        link: String,
    },
    DeleteLink {
        name: String,
    },
    /// Replace the table; `previous` is what to restore on undo (None: delete it).
    ApplyTable {
        spec: TableSpec,
        previous: Option<TableSpec>,
    },
    DeleteTable {
        previous: Option<TableSpec>,
    },
    /// Docker coexistence: make the foreign `filter FORWARD` chains (ip,
    /// ip6) hold hostnet's accept rules for exactly `bridges` (none: remove
    /// them all). `changes` says what that does (for printing); `previous`
    /// are the bridges that had rules before (restored on undo).
    ForwardAccepts {
        bridges: Vec<String>,
        changes: Vec<String>,
        previous: Vec<String>,
    },
    WriteFile {
        path: PathBuf,
        contents: Vec<u8>,
        mode: u32,
    },
    RemoveFile {
        path: PathBuf,
    },
}

impl Action {
    /// The action that makes hostnet's accept rules in foreign `filter FORWARD`
    /// chains exactly those for `bridges` (none: remove them all), or `None`
    /// when they already are.
    pub fn forward_accepts(bridges: Vec<String>) -> Result<Option<Action>> {
        let changes = nft::foreign::pending(&bridges, true)?;
        if changes.is_empty() {
            return Ok(None);
        }
        let mut previous: Vec<String> = nft::foreign::present()?
            .rules
            .into_iter()
            .map(|(r, _)| r.bridge)
            .collect();
        previous.sort();
        previous.dedup();
        Ok(Some(Action::ForwardAccepts {
            bridges,
            changes,
            previous,
        }))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Sysctl { key, value } => write!(f, "sysctl {key}={value}"),
            Action::CreateBridge { name, mtu: Some(m) } => {
                write!(f, "create bridge {name} mtu {m}")
            }
            Action::CreateBridge { name, mtu: None } => write!(f, "create bridge {name}"),
            Action::SetMac { link, mac } => write!(f, "set {link} address {}", format_mac(mac)),
            Action::SetMtu { link, mtu } => write!(f, "set {link} mtu {mtu}"),
            Action::DelAddress { link, addr } => write!(f, "remove address {addr} from {link}"),
            Action::AddAddress { link, addr } => write!(f, "add address {addr} to {link}"),
            Action::SetUp { link } => write!(f, "set {link} up"),
            Action::DeleteLink { name } => write!(f, "delete link {name}"),
            Action::ApplyTable { spec, .. } => write!(
                f,
                "load nftables table inet {} and table bridge {} ({} bridges, {} subnets, {} port mappings, {} guarded veths) in one transaction",
                nft::TABLE,
                nft::TABLE,
                spec.bridges.len(),
                spec.subnets4.len() + spec.subnets6.len(),
                spec.ports.len(),
                spec.guards.len()
            ),
            Action::DeleteTable { .. } => write!(
                f,
                "delete nftables table inet {} and table bridge {}",
                nft::TABLE,
                nft::TABLE
            ),
            Action::ForwardAccepts { changes, .. } => {
                write!(f, "Docker coexistence: {}", changes.join("; "))
            }
            Action::WriteFile { path, .. } => write!(f, "write {}", path.display()),
            Action::RemoveFile { path } => write!(f, "remove {}", path.display()),
        }
    }
}

/// What it takes to put one executed action back.
enum Undo {
    Sysctl {
        key: Key,
        old: String,
    },
    DeleteLink {
        name: String,
    },
    AddAddress {
        link: String,
        addr: IpNetwork,
    },
    DelAddress {
        link: String,
        addr: IpNetwork,
    },
    SetMac {
        link: String,
        mac: [u8; 6],
    },
    SetMtu {
        link: String,
        mtu: u32,
    },
    SetDown {
        link: String,
    },
    RestoreTable {
        previous: Option<TableSpec>,
    },
    ForwardAccepts {
        bridges: Vec<String>,
    },
    RestoreFile {
        path: PathBuf,
        old: Option<Vec<u8>>,
        mode: u32,
    },
    Nothing,
}

fn existing(nl: &Netlink, name: &str) -> Result<LinkInfo> {
    nl.link(name)?
        .ok_or_else(|| Error::not_found(format!("link {name} does not exist")))
}

fn index_of(nl: &Netlink, name: &str) -> Result<u32> {
    existing(nl, name).map(|l| l.index)
}

fn restore_table(previous: &Option<TableSpec>) -> Result<()> {
    match previous {
        Some(spec) => nft::apply_table(spec),
        None => nft::delete_table().map(|_| ()),
    }
}

fn execute_one(nl: &Netlink, action: &Action) -> Result<Undo> {
    Ok(match action {
        Action::Sysctl { key, value } => {
            let old = sysctl::write(key, value)?;
            Undo::Sysctl {
                key: key.clone(),
                old,
            }
        }
        Action::CreateBridge { name, mtu } => {
            nl.create_bridge(name, *mtu)?;
            Undo::DeleteLink { name: name.clone() }
        }
        Action::SetMac { link, mac } => {
            let before = existing(nl, link)?;
            nl.set_mac(before.index, *mac)?;
            match before.mac {
                Some(old) => Undo::SetMac {
                    link: link.clone(),
                    mac: old,
                },
                None => Undo::Nothing,
            }
        }
        Action::SetMtu { link, mtu } => {
            let before = existing(nl, link)?;
            nl.set_mtu(before.index, *mtu)?;
            Undo::SetMtu {
                link: link.clone(),
                mtu: before.mtu,
            }
        }
        Action::DelAddress { link, addr } => {
            nl.del_address(index_of(nl, link)?, *addr)?;
            Undo::AddAddress {
                link: link.clone(),
                addr: *addr,
            }
        }
        Action::AddAddress { link, addr } => {
            nl.add_address(index_of(nl, link)?, *addr)?;
            Undo::DelAddress {
                link: link.clone(),
                addr: *addr,
            }
        }
        Action::SetUp { link } => {
            let before = existing(nl, link)?;
            nl.set_up(before.index)?;
            if before.up {
                Undo::Nothing
            } else {
                Undo::SetDown { link: link.clone() }
            }
        }
        Action::DeleteLink { name } => {
            if let Some(l) = nl.link(name)? {
                nl.delete_link(l.index)?;
            }
            Undo::Nothing
        }
        Action::ApplyTable { spec, previous } => {
            nft::apply_table(spec)?;
            Undo::RestoreTable {
                previous: previous.clone(),
            }
        }
        Action::DeleteTable { previous } => {
            nft::delete_table()?;
            Undo::RestoreTable {
                previous: previous.clone(),
            }
        }
        Action::ForwardAccepts {
            bridges, previous, ..
        } => {
            nft::foreign::sync(bridges, true)?;
            Undo::ForwardAccepts {
                bridges: previous.clone(),
            }
        }
        Action::WriteFile {
            path,
            contents,
            mode,
        } => {
            let old = read_bytes_opt(path)?;
            write_atomic(path, contents, *mode, Durability::Durable)?;
            Undo::RestoreFile {
                path: path.clone(),
                old,
                mode: *mode,
            }
        }
        Action::RemoveFile { path } => {
            let old = read_bytes_opt(path)?;
            crate::core::state::remove_file_if_exists(path)?;
            Undo::RestoreFile {
                path: path.clone(),
                old,
                mode: 0o600,
            }
        }
    })
}

fn undo_one(nl: &Netlink, undo: Undo) -> Result<()> {
    match undo {
        Undo::Sysctl { key, old } => sysctl::write(&key, &old).map(|_| ()),
        Undo::DeleteLink { name } => match nl.link(&name)? {
            Some(l) => nl.delete_link(l.index),
            None => Ok(()),
        },
        Undo::AddAddress { link, addr } => nl.add_address(index_of(nl, &link)?, addr),
        Undo::DelAddress { link, addr } => match nl.link(&link)? {
            Some(l) => nl.del_address(l.index, addr),
            None => Ok(()),
        },
        Undo::SetMac { link, mac } => nl.set_mac(index_of(nl, &link)?, mac),
        Undo::SetMtu { link, mtu } => nl.set_mtu(index_of(nl, &link)?, mtu),
        Undo::SetDown { link } => nl.set_down(index_of(nl, &link)?),
        Undo::RestoreTable { previous } => restore_table(&previous),
        Undo::ForwardAccepts { bridges } => nft::foreign::sync(&bridges, true).map(|_| ()),
        Undo::RestoreFile {
            path,
            old: Some(bytes),
            mode,
        } => write_atomic(&path, &bytes, mode, Durability::Durable),
        Undo::RestoreFile {
            path, old: None, ..
        } => crate::core::state::remove_file_if_exists(&path),
        Undo::Nothing => Ok(()),
    }
}

/// Run the actions in order, in one `Transaction`: on the first failure (or
/// a panic) undo what was done, in reverse, and return the failure (with any
/// undo failures appended). `report` is called after each action that
/// succeeded.
pub fn execute(nl: &Netlink, actions: &[Action], mut report: impl FnMut(&Action)) -> Result<()> {
    let mut tx = Transaction::new();
    for action in actions {
        match execute_one(nl, action).ctx(action) {
            Ok(undo) => {
                tx.done(action.to_string(), move || undo_one(nl, undo));
                report(action);
            }
            Err(err) => return Err(tx.fail(err)),
        }
    }
    tx.commit();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::TestDir;

    fn write(path: &std::path::Path, text: &str) -> Action {
        Action::WriteFile {
            path: path.to_path_buf(),
            contents: text.as_bytes().to_vec(),
            mode: 0o600,
        }
    }

    #[test]
    fn a_failure_undoes_what_was_done_in_reverse() {
        let d = TestDir::new("plan-fail");
        let nl = Netlink::open().expect("a route netlink socket needs no root");
        let kept = d.0.join("kept");
        std::fs::write(&kept, "before").unwrap();
        let new = d.0.join("new");
        // a file below a regular file cannot be written: the third action fails
        let bad = kept.join("below");
        let actions = [write(&kept, "after"), write(&new, "x"), write(&bad, "y")];
        let mut reported = Vec::new();
        let e = execute(&nl, &actions, |a| reported.push(a.to_string())).unwrap_err();
        assert!(e.msg.contains("below"), "{e}");
        assert_eq!(reported.len(), 2);
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "before");
        assert!(!new.exists(), "the file it created is gone");
    }

    #[test]
    fn a_panic_between_actions_undoes_too() {
        let d = TestDir::new("plan-panic");
        let nl = Netlink::open().expect("a route netlink socket needs no root");
        let a = d.0.join("a");
        let b = d.0.join("b");
        let actions = [write(&a, "1"), write(&b, "2")];
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            execute(&nl, &actions, |act| {
                if act.to_string().ends_with("/b") {
                    panic!("injected");
                }
            })
        }));
        assert!(r.is_err(), "the panic came through");
        assert!(!a.exists() && !b.exists(), "both writes undone");
    }

    #[test]
    fn success_keeps_everything() {
        let d = TestDir::new("plan-ok");
        let nl = Netlink::open().expect("a route netlink socket needs no root");
        let a = d.0.join("a");
        execute(&nl, &[write(&a, "1")], |_| {}).unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "1");
    }
}
