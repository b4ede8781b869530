//! The attachment record, `<run-dir>/attachments/<net>/<cid>-<ifname>.json`:
//! everything DEL, CHECK and GC need, so none of them needs the container's
//! netns (nerdctl sends DEL with CNI_NETNS=""). Under the run dir (tmpfs):
//! it describes kernel objects, so it dies with them at a reboot; written
//! without fsync. Read by `hostnet status`, `check` and `gc` too. A record
//! that does not parse is moved aside; DEL and ADD then find what it held
//! from the kernel and the address files (`Loaded::Corrupt`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::index;
use crate::core::ports::PortMapping;
use crate::core::state::{
    Durability, Loaded, Store, list_json, load, remove_file_if_exists, write_json,
};
use crate::error::{Error, Result};
use crate::kernel::nft::PortGuard;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedIp {
    pub address: IpNetwork,
    pub gateway: Option<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRecord {
    pub dst: IpNetwork,
    pub gw: Option<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamRecord {
    /// "host-local" (built in) or the delegated plugin's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// host-local's data directory (the network's files are below it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub network: String,
    pub container_id: String,
    pub ifname: String,
    /// CNI_NETNS at ADD time (for display and CHECK; DEL does not need it).
    pub netns: String,
    /// "hostnet" (integrated) or "bridge" (drop-in).
    pub mode: String,
    pub bridge: String,
    pub host_veth: String,
    pub ips: Vec<AttachedIp>,
    #[serde(default)]
    pub routes: Vec<RouteRecord>,
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
    pub ipam: IpamRecord,
    pub hairpin: bool,
    /// Namespace-wide sysctls set by tuning, with their previous values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctl_before: BTreeMap<String, String>,
    pub cni_version: String,
    /// false while the ADD is still under way (or crashed): DEL cleans up either way.
    pub complete: bool,
    /// The ADD process that wrote an unfinished record (alive: in progress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The result printed to the runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

impl Attachment {
    pub fn key(&self) -> String {
        format!("{}/{}-{}", self.network, self.container_id, self.ifname)
    }

    /// The anti-spoofing elements of its veth: the addresses assigned to it
    /// and to the same container's other attachments (`siblings`).
    pub fn guard(&self, siblings: &[Attachment]) -> PortGuard {
        let all: Vec<AttachedIp> = siblings
            .iter()
            .flat_map(|s| s.ips.iter().cloned())
            .chain(self.ips.iter().cloned())
            .collect();
        guard_of(&self.host_veth, &all)
    }

    /// The anti-spoofing elements that tie all of its veths together: its
    /// own veth's (`guard`) and its addresses on each sibling's veth.
    pub fn guards(&self, siblings: &[Attachment]) -> Vec<PortGuard> {
        let mut out = vec![self.guard(siblings)];
        for s in siblings {
            out.push(PortGuard {
                with_port: false,
                ..guard_of(&s.host_veth, &self.ips)
            });
        }
        out
    }
}

pub fn guard_of(host_veth: &str, ips: &[AttachedIp]) -> PortGuard {
    let mut addrs: Vec<IpAddr> = ips.iter().map(|i| i.address.ip()).collect();
    addrs.sort();
    addrs.dedup();
    PortGuard {
        port: host_veth.to_string(),
        addrs,
        with_port: true,
    }
}

/// The other attachments of container `cid` (other networks or interface
/// names): one listing of its directory in the index (`core::index`) and a
/// read of each record it names; without an index, a listing per network.
pub fn siblings(store: &Store, network: &str, cid: &str, ifname: &str) -> Result<Vec<Attachment>> {
    let mut out = match index::keys(store, cid)? {
        Some(keys) => siblings_by_index(store, keys, network, cid, ifname)?,
        None => siblings_by_listing(store, network, cid, ifname)?,
    };
    out.sort_by(|a, b| (&a.network, &a.ifname).cmp(&(&b.network, &b.ifname)));
    Ok(out)
}

fn siblings_by_index(
    store: &Store,
    keys: Vec<(String, String)>,
    network: &str,
    cid: &str,
    ifname: &str,
) -> Result<Vec<Attachment>> {
    let mut out = Vec::new();
    for (net, ifn) in keys {
        if net == network && ifn == ifname {
            continue;
        }
        // a dangling entry (no record) or a record of another pair is skipped
        if let Some(a) = load_record(&path(store, &net, cid, &ifn))?.value()
            && a.container_id == cid
            && a.network == net
            && a.ifname == ifn
        {
            out.push(a);
        }
    }
    Ok(out)
}

/// `siblings` in a run dir without an index: from the record file names,
/// one directory listing per network, and a read of the records that match.
fn siblings_by_listing(
    store: &Store,
    network: &str,
    cid: &str,
    ifname: &str,
) -> Result<Vec<Attachment>> {
    let dir = store.attachments_dir();
    let nets = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
    };
    let prefix = format!("{cid}-");
    let mut out = Vec::new();
    for net in nets {
        let net = net.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        if !net.path().is_dir() {
            continue;
        }
        let entries = std::fs::read_dir(net.path())
            .map_err(|e| Error::io(format!("listing {}", net.path().display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| Error::io(format!("listing {}", net.path().display()), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with(&prefix) || !name.ends_with(".json") {
                continue;
            }
            let Some(a) = load_record(&entry.path())?.value() else {
                continue;
            };
            if a.container_id == cid && !(a.network == network && a.ifname == ifname) {
                out.push(a);
            }
        }
    }
    Ok(out)
}

pub fn network_dir(store: &Store, network: &str) -> PathBuf {
    store.attachments_dir().join(network)
}

/// The record's path; callers validated all three parts (no '/', no "..").
pub fn path(store: &Store, network: &str, container_id: &str, ifname: &str) -> PathBuf {
    network_dir(store, network).join(format!("{container_id}-{ifname}.json"))
}

/// This attachment's record: absent, found, or unreadable (moved aside).
/// A file of that name for a different (container, ifname) pair (possible
/// when ids contain '-') is a clash.
pub fn read(
    store: &Store,
    network: &str,
    container_id: &str,
    ifname: &str,
) -> Result<Loaded<Attachment>> {
    let p = path(store, network, container_id, ifname);
    let a = match load_record(&p)? {
        Loaded::Value(a) => a,
        Loaded::Absent => {
            // set aside earlier by a listing (status, check, init, gc)?
            let marker = lost_marker(&p);
            if marker.exists() {
                return Ok(Loaded::Corrupt);
            }
            return Ok(Loaded::Absent);
        }
        Loaded::Corrupt => return Ok(Loaded::Corrupt),
    };
    if a.container_id != container_id || a.ifname != ifname {
        return Err(Error::conflict(format!(
            "{} belongs to container {} ifname {}",
            p.display(),
            a.container_id,
            a.ifname
        )));
    }
    Ok(Loaded::Value(a))
}

/// Write the record, its index entry first (`core::index`).
/// A write that fails where no record stood takes its new entry back.
pub fn write(store: &Store, a: &Attachment) -> Result<()> {
    write_first(store, a).map(drop)
}

/// `write`, telling whether the record is its container's only one: the
/// index had no entry of that container before (true only under the host
/// lock, which every record's creation and removal holds).
pub fn write_first(store: &Store, a: &Attachment) -> Result<bool> {
    let alone = index::add(store, &a.network, &a.container_id, &a.ifname)?;
    let record = path(store, &a.network, &a.container_id, &a.ifname);
    let written = write_json(&record, a, Durability::Volatile);
    if written.is_err() && std::fs::symlink_metadata(&record).is_err() {
        let _ = index::remove(store, &a.network, &a.container_id, &a.ifname);
    }
    written.map(|()| alone)
}

pub fn remove(store: &Store, a: &Attachment) -> Result<()> {
    remove_at(store, &a.network, &a.container_id, &a.ifname)
}

/// Remove the record of (network, cid, ifname) if any, then its index entry.
pub fn remove_at(store: &Store, network: &str, container_id: &str, ifname: &str) -> Result<()> {
    remove_file_if_exists(&path(store, network, container_id, ifname))?;
    index::remove(store, network, container_id, ifname)
}

/// `<dir>/.lost/<cid>-<ifname>.json`: left when a record was set aside, so
/// the DEL or ADD of that attachment (which read no listing) still knows to
/// search for what the record held.
fn lost_marker(record: &Path) -> PathBuf {
    let dir = record.parent().unwrap_or(Path::new("."));
    let name = record.file_name().unwrap_or_default();
    dir.join(".lost").join(name)
}

/// The record is dealt with (released by search): forget the marker.
pub fn forget_lost(store: &Store, network: &str, container_id: &str, ifname: &str) -> Result<()> {
    remove_file_if_exists(&lost_marker(&path(store, network, container_id, ifname)))
}

fn load_record(p: &Path) -> Result<Loaded<Attachment>> {
    let loaded = load::<Attachment>(p)?;
    if matches!(loaded, Loaded::Corrupt) {
        let marker = lost_marker(p);
        if let Some(dir) = marker.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        std::fs::write(&marker, b"")
            .map_err(|e| Error::io(format!("writing {}", marker.display()), e))?;
    }
    Ok(loaded)
}

/// The records of one network (a listing: GC and status only).
pub fn list_network(store: &Store, network: &str) -> Result<Vec<Attachment>> {
    list_dir(&network_dir(store, network))
}

fn list_dir(dir: &Path) -> Result<Vec<Attachment>> {
    let mut out = Vec::new();
    for p in list_json(dir)? {
        out.extend(load_record(&p)?.value());
    }
    Ok(out)
}

/// Every attachment record of every network, sorted by network, container, ifname.
pub fn attachments(store: &Store) -> Result<Vec<Attachment>> {
    let dir = store.attachments_dir();
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        if entry.path().is_dir() && !entry.file_name().to_string_lossy().starts_with('.') {
            out.extend(list_dir(&entry.path())?);
        }
    }
    out.sort_by(|a, b| {
        (&a.network, &a.container_id, &a.ifname).cmp(&(&b.network, &b.container_id, &b.ifname))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::TestDir;

    fn attachment(network: &str, cid: &str, ifname: &str, ip: &str) -> Attachment {
        Attachment {
            network: network.into(),
            container_id: cid.into(),
            ifname: ifname.into(),
            netns: "/run/netns/x".into(),
            mode: "hostnet".into(),
            bridge: "nerdctl0".into(),
            host_veth: format!("veth{cid}{ifname}"),
            ips: vec![AttachedIp {
                address: ip.parse().expect("address"),
                gateway: None,
            }],
            routes: Vec::new(),
            port_mappings: Vec::new(),
            ipam: IpamRecord {
                kind: "host-local".into(),
                data_dir: None,
            },
            hairpin: true,
            sysctl_before: BTreeMap::new(),
            cni_version: "1.0.0".into(),
            complete: true,
            pid: None,
            result: None,
        }
    }

    #[test]
    fn written_records_read_back_and_list_sorted() {
        let d = TestDir::new("rec-rw");
        let s = d.store();
        let b = attachment("n2", "c1", "eth0", "10.2.0.2/24");
        let a = attachment("n1", "c1", "eth0", "10.1.0.2/24");
        write(&s, &b).unwrap();
        write(&s, &a).unwrap();
        match read(&s, "n1", "c1", "eth0").unwrap() {
            Loaded::Value(got) => assert_eq!(got, a),
            _ => panic!("record n1/c1/eth0 not read back"),
        }
        assert!(matches!(
            read(&s, "n1", "c9", "eth0").unwrap(),
            Loaded::Absent
        ));
        assert_eq!(attachments(&s).unwrap(), vec![a.clone(), b.clone()]);
        assert_eq!(siblings(&s, "n1", "c1", "eth0").unwrap(), vec![b.clone()]);
        remove(&s, &a).unwrap();
        assert_eq!(attachments(&s).unwrap(), vec![b]);
    }

    #[test]
    fn siblings_come_from_the_index_and_skip_dangling_entries() {
        let d = TestDir::new("rec-sib");
        let s = d.store();
        let a = attachment("n1", "c1", "eth0", "10.1.0.2/24");
        let b = attachment("n2", "c1", "eth1", "10.2.0.2/24");
        let other = attachment("n1", "c2", "eth0", "10.1.0.3/24");
        for r in [&a, &b, &other] {
            write(&s, r).unwrap();
        }
        assert!(index::root(&s).join("c1").join("n2:eth1").exists());
        assert_eq!(siblings(&s, "n1", "c1", "eth0").unwrap(), vec![b.clone()]);
        assert_eq!(siblings(&s, "n1", "c2", "eth0").unwrap(), Vec::new());
        // a crash between the record's removal and its entry's: skipped
        remove_file_if_exists(&path(&s, "n2", "c1", "eth1")).unwrap();
        assert_eq!(siblings(&s, "n1", "c1", "eth0").unwrap(), Vec::new());
        assert_eq!(
            index::dangling(&s).unwrap(),
            vec![index::root(&s).join("c1").join("n2:eth1")]
        );
        assert_eq!(index::prune(&s).unwrap().len(), 1);
        assert!(index::dangling(&s).unwrap().is_empty());
        remove(&s, &a).unwrap();
        remove(&s, &other).unwrap();
        let left: Vec<_> = std::fs::read_dir(index::root(&s)).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn records_written_before_the_index_are_listed_then_indexed() {
        let d = TestDir::new("rec-old");
        let s = d.store();
        // a run dir of an earlier version: records, no index
        let a = attachment("n1", "c1", "eth0", "10.1.0.2/24");
        let b = attachment("n2", "c1", "eth1", "10.2.0.2/24");
        for r in [&a, &b] {
            write_json(
                &path(&s, &r.network, &r.container_id, &r.ifname),
                r,
                Durability::Volatile,
            )
            .unwrap();
        }
        assert!(!index::root(&s).exists());
        assert_eq!(
            siblings(&s, "n3", "c1", "eth2").unwrap(),
            vec![a.clone(), b.clone()]
        );
        // the first write builds the index from every record
        let c = attachment("n3", "c1", "eth2", "10.3.0.2/24");
        write(&s, &c).unwrap();
        assert!(index::root(&s).join("c1").join("n1:eth0").exists());
        assert_eq!(
            siblings(&s, "n3", "c1", "eth2").unwrap(),
            vec![a, b.clone()]
        );
        assert_eq!(siblings(&s, "n1", "c1", "eth0").unwrap(), vec![b, c]);
    }

    #[test]
    fn a_record_under_another_pairs_name_is_a_conflict() {
        let d = TestDir::new("rec-clash");
        let s = d.store();
        // "a-b" + "c" and "a" + "b-c" share the file name a-b-c.json
        write(&s, &attachment("n1", "a-b", "c", "10.1.0.2/24")).unwrap();
        let e = match read(&s, "n1", "a", "b-c") {
            Err(e) => e,
            Ok(_) => panic!("a-b-c.json read as a, b-c: expected a clash"),
        };
        assert_eq!(e.kind, crate::error::Kind::Conflict, "{e}");
    }

    #[test]
    fn an_unreadable_record_is_set_aside_and_remembered() {
        let d = TestDir::new("rec-corrupt");
        let s = d.store();
        let p = path(&s, "n1", "c1", "eth0");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"{ not json").unwrap();
        assert!(matches!(
            read(&s, "n1", "c1", "eth0").unwrap(),
            Loaded::Corrupt
        ));
        // moved aside: the next read still knows (the lost marker) until forgotten
        assert!(matches!(
            read(&s, "n1", "c1", "eth0").unwrap(),
            Loaded::Corrupt
        ));
        forget_lost(&s, "n1", "c1", "eth0").unwrap();
        assert!(matches!(
            read(&s, "n1", "c1", "eth0").unwrap(),
            Loaded::Absent
        ));
    }

    #[test]
    fn guards_tie_every_veth_of_a_container_to_all_its_addresses() {
        let a = attachment("n1", "c1", "eth0", "10.1.0.2/24");
        let b = attachment("n2", "c1", "eth1", "10.2.0.2/24");
        let g = a.guards(std::slice::from_ref(&b));
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].port, a.host_veth);
        assert!(g[0].with_port);
        assert_eq!(g[0].addrs.len(), 2, "own veth carries both addresses");
        assert_eq!(g[1].port, b.host_veth);
        assert!(!g[1].with_port);
        assert_eq!(g[1].addrs, vec!["10.1.0.2".parse::<IpAddr>().unwrap()]);
    }
}
