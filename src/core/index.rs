//! The per-container index of attachment records,
//! `<run-dir>/containers/<container id>/<network>:<ifname>` (empty files):
//! a container's other attachments (`record::siblings`) are one listing of
//! a tiny directory instead of a listing of every network's records.
//!
//! An entry is created before its record is written and removed after its
//! record is removed, so every record has one; a crash in between leaves an
//! entry without a record (dangling), which readers skip and `gc`, `init`
//! and CNI GC remove (`dangling`, `prune`). The directory `containers`
//! exists only once it indexes every record: it is built from a listing of
//! the records (run dirs written before the index existed) and renamed into
//! place; until then readers fall back to the listing (`keys` → None).

use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::core::record;
use crate::core::state::{Store, random_hex, remove_file_if_exists, tmp_owner_dead};
use crate::error::{Error, Result};

/// `<run-dir>/containers`.
pub fn root(store: &Store) -> PathBuf {
    store.run.join("containers")
}

fn entry_name(network: &str, ifname: &str) -> String {
    format!("{network}:{ifname}")
}

/// (network, ifname) of an entry name; interface names hold no ':'.
fn parse_entry(name: &str) -> Option<(String, String)> {
    let (network, ifname) = name.rsplit_once(':')?;
    (!network.is_empty() && !ifname.is_empty()).then(|| (network.to_string(), ifname.to_string()))
}

/// The entry of (network, cid, ifname).
pub fn entry_path(store: &Store, network: &str, cid: &str, ifname: &str) -> PathBuf {
    root(store).join(cid).join(entry_name(network, ifname))
}

fn create_empty(p: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .mode(0o600)
        .open(p)
        .map(drop)
}

fn create_dir_quietly(p: &Path) -> std::io::Result<()> {
    match std::fs::create_dir(p) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        r => r,
    }
}

/// The entry of (network, cid, ifname), created if missing (one open when
/// it exists); the index is built first if this run dir has none yet.
/// True when this made the container's directory: the container had no
/// other entry (which, under the host lock, means no other record).
pub fn add(store: &Store, network: &str, cid: &str, ifname: &str) -> Result<bool> {
    let entry = entry_path(store, network, cid, ifname);
    let io = |e| Error::io(format!("creating {}", entry.display()), e);
    let mut made_dir = false;
    // the container's directory may be removed between the two steps by the
    // removal of its last other entry: try again
    for _ in 0..4 {
        match create_empty(&entry) {
            Ok(()) => return Ok(made_dir),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        if std::fs::symlink_metadata(root(store)).is_err() {
            build(store)?;
        }
        made_dir = match std::fs::create_dir(root(store).join(cid)) {
            Ok(()) => true,
            Err(e) if matches!(e.kind(), ErrorKind::AlreadyExists | ErrorKind::NotFound) => false,
            Err(e) => return Err(io(e)),
        };
    }
    Err(Error::internal(format!(
        "creating {}: its directory keeps disappearing",
        entry.display()
    )))
}

/// Remove the entry of (network, cid, ifname) and the container's directory
/// once empty.
pub fn remove(store: &Store, network: &str, cid: &str, ifname: &str) -> Result<()> {
    remove_path(&entry_path(store, network, cid, ifname))
}

/// Remove an entry by its path (or whatever else stands there: a directory
/// is removed with its content), and its container's directory once empty.
pub fn remove_path(entry: &Path) -> Result<()> {
    match std::fs::symlink_metadata(entry) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(entry)
            .map_err(|e| Error::io(format!("removing {}", entry.display()), e))?,
        _ => remove_file_if_exists(entry)?,
    }
    if let Some(dir) = entry.parent()
        && let Err(e) = std::fs::remove_dir(dir)
        && !matches!(
            e.raw_os_error(),
            Some(libc::ENOTEMPTY | libc::EEXIST | libc::ENOENT)
        )
    {
        return Err(Error::io(format!("removing {}", dir.display()), e));
    }
    Ok(())
}

/// (network, ifname) of the entries of container `cid`; None when this run
/// dir has no index yet (the caller lists the records instead).
pub fn keys(store: &Store, cid: &str) -> Result<Option<Vec<(String, String)>>> {
    let dir = root(store).join(cid);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Ok(std::fs::symlink_metadata(root(store))
                .is_ok()
                .then(Vec::new));
        }
        Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        if let Some(k) = entry.file_name().to_str().and_then(parse_entry) {
            out.push(k);
        }
    }
    Ok(Some(out))
}

/// Build the index from the records in a temporary directory and rename it
/// into place; when another process got there first, keep theirs (it also
/// indexes every record: new records get their entry in the final one).
fn build(store: &Store) -> Result<()> {
    remove_dead_builds(store)?;
    let tmp = store.run.join(format!(
        ".containers.{}.{}",
        std::process::id(),
        random_hex()?
    ));
    std::fs::create_dir_all(&store.run)
        .map_err(|e| Error::io(format!("creating {}", store.run.display()), e))?;
    let io = |what: &Path, e| Error::io(format!("creating {}", what.display()), e);
    std::fs::create_dir(&tmp).map_err(|e| io(&tmp, e))?;
    let filled = (|| {
        for a in record::attachments(store)? {
            let dir = tmp.join(&a.container_id);
            create_dir_quietly(&dir).map_err(|e| io(&dir, e))?;
            let entry = dir.join(entry_name(&a.network, &a.ifname));
            create_empty(&entry).map_err(|e| io(&entry, e))?;
        }
        Ok(())
    })();
    let placed = filled.and_then(|()| match std::fs::rename(&tmp, root(store)) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => Ok(()),
        Err(e) => Err(Error::io(format!("renaming {}", tmp.display()), e)),
    });
    let _ = std::fs::remove_dir_all(&tmp);
    placed
}

/// Temporary index directories of builds whose process died.
fn remove_dead_builds(store: &Store) -> Result<()> {
    let rd = match std::fs::read_dir(&store.run) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("listing {}", store.run.display()), e)),
    };
    for entry in rd.flatten() {
        let name = entry.file_name();
        if let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(".containers."))
            && tmp_owner_dead(&format!("containers.{rest}"))
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// Entries whose record is gone (a crash between the two removals), and
/// anything else in a container's directory that is not an entry (a name
/// that does not parse, a directory): nothing but entries belongs there.
pub fn dangling(store: &Store) -> Result<Vec<PathBuf>> {
    let root = root(store);
    let rd = match std::fs::read_dir(&root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("listing {}", root.display()), e)),
    };
    let mut out = Vec::new();
    for dir in rd.flatten() {
        let cid = dir.file_name().to_string_lossy().into_owned();
        let Ok(entries) = std::fs::read_dir(dir.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            let gone = match parse_entry(&name) {
                Some((net, ifname)) if is_file => {
                    std::fs::symlink_metadata(record::path(store, &net, &cid, &ifname)).is_err()
                }
                _ => true,
            };
            if gone {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Remove the whole index (teardown, once every record is gone; the index
/// is derived from the records, so it is not part of teardown's undo).
pub fn remove_all(store: &Store) -> Result<()> {
    remove_dead_builds(store)?;
    let root = root(store);
    match std::fs::remove_dir_all(&root) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(Error::io(format!("removing {}", root.display()), e))
        }
        _ => Ok(()),
    }
}

/// Remove the dangling entries (and builds of dead processes); returns the
/// entries. The caller holds the host lock (records are created and removed
/// under it).
pub fn prune(store: &Store) -> Result<Vec<PathBuf>> {
    remove_dead_builds(store)?;
    let found = dangling(store)?;
    for p in &found {
        remove_path(p)?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::TestDir;

    #[test]
    fn entries_name_network_and_ifname() {
        assert_eq!(
            parse_entry("net.a-1:eth0"),
            Some(("net.a-1".into(), "eth0".into()))
        );
        assert_eq!(parse_entry("eth0"), None);
        assert_eq!(parse_entry(":eth0"), None);
        assert_eq!(parse_entry("n:"), None);
    }

    #[test]
    fn no_index_until_one_is_built_then_added_and_removed() {
        let d = TestDir::new("idx-add");
        let s = d.store();
        assert_eq!(keys(&s, "c1").unwrap(), None, "no index: callers list");
        assert!(
            add(&s, "n1", "c1", "eth0").unwrap(),
            "the container's first entry"
        );
        assert!(!add(&s, "n2", "c1", "eth1").unwrap(), "c1 has another");
        assert!(
            !add(&s, "n2", "c1", "eth1").unwrap(),
            "again: c1 has others"
        );
        let mut k = keys(&s, "c1").unwrap().unwrap();
        k.sort();
        assert_eq!(
            k,
            vec![("n1".into(), "eth0".into()), ("n2".into(), "eth1".into())]
        );
        assert_eq!(keys(&s, "c2").unwrap(), Some(Vec::new()));
        remove(&s, "n1", "c1", "eth0").unwrap();
        remove(&s, "n2", "c1", "eth1").unwrap();
        remove(&s, "n2", "c1", "eth1").unwrap();
        assert!(!root(&s).join("c1").exists(), "empty container dir removed");
        assert_eq!(keys(&s, "c1").unwrap(), Some(Vec::new()));
        assert!(add(&s, "n1", "c1", "eth0").unwrap(), "alone again");
    }

    #[test]
    fn a_dead_build_is_cleaned_by_the_next() {
        let d = TestDir::new("idx-dead");
        let s = d.store();
        let dead = s.run.join(".containers.4194304.0011223344556677");
        std::fs::create_dir_all(dead.join("c1")).unwrap();
        add(&s, "n1", "c1", "eth0").unwrap();
        assert!(!dead.exists());
        let leftovers: Vec<_> = std::fs::read_dir(&s.run)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".containers"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    /// What is not an entry (a directory such as a writer's `.tmp`, a name
    /// that does not parse) is dangling too, and prune removes it with the
    /// builds of dead processes, so the container's directory can go.
    #[test]
    fn prune_removes_whatever_is_not_an_entry() {
        let d = TestDir::new("idx-prune");
        let s = d.store();
        add(&s, "n1", "c1", "eth0").unwrap();
        let stray = root(&s).join("c1").join(".tmp");
        std::fs::create_dir_all(stray.join("x")).unwrap();
        std::fs::write(root(&s).join("c1").join("junk"), b"").unwrap();
        let dead = s.run.join(".containers.4194304.0011223344556677");
        std::fs::create_dir_all(&dead).unwrap();
        let found = prune(&s).unwrap();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(!root(&s).join("c1").exists(), "container dir removed");
        assert!(!dead.exists(), "dead build removed");
        assert!(prune(&s).unwrap().is_empty());
    }
}
