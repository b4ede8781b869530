//! host-local-compatible address store, byte for byte:
//! `<dataDir>/<network>/<ip>` (mode 0600, `<container id>\r\n<ifname>`),
//! `last_reserved_ip.<range set index>`, and an flock on `<dir>/lock` so the
//! reference host-local can share the directory.
//!
//! Allocation walks round-robin from the address after the last reserved one
//! and stops at the first file it can create (O_EXCL): no directory listing.
//! Release removes one file after checking it names this attachment.

use crate::core::lock::HostLock;
use crate::core::state::read_bytes_opt;
use std::io::{ErrorKind, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnetwork::IpNetwork;

use super::range::{RangeSet, from_u128, to_u128};
use crate::error::{Context, Error, Kind, Result};

const LAST_RESERVED: &str = "last_reserved_ip.";

pub struct HostLocal {
    pub dir: PathBuf,
}

/// One reserved address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub address: IpNetwork,
    pub gateway: IpAddr,
    pub file: PathBuf,
}

/// What to put back if the ADD fails: the previous `last_reserved_ip.N`.
#[derive(Debug, Clone)]
pub struct LastReserved {
    pub path: PathBuf,
    pub before: Option<Vec<u8>>,
}

pub fn content(container_id: &str, ifname: &str) -> String {
    format!("{}\r\n{ifname}", container_id.trim())
}

impl HostLocal {
    pub fn new(data_dir: &Path, network: &str) -> HostLocal {
        HostLocal {
            dir: data_dir.join(network),
        }
    }

    pub fn ip_path(&self, ip: IpAddr) -> PathBuf {
        self.dir.join(ip.to_string())
    }

    /// host-local's lock: an exclusive flock on `<dir>/lock` (0600).
    pub fn lock(&self) -> Result<HostLock> {
        HostLock::at(&self.dir.join("lock"), 0o600)
    }

    /// Create the file for `ip` if nobody has it. Ok(false): taken. The
    /// content is written to a temp file first and linked into place (link
    /// fails if the name exists, like O_EXCL), so a crash never leaves an
    /// empty reservation that names nobody.
    fn try_reserve(&self, ip: IpAddr, container_id: &str, ifname: &str) -> Result<bool> {
        let path = self.ip_path(ip);
        let (tmp, mut f) = crate::core::state::create_temp(&self.dir, &ip.to_string(), 0o600)?;
        let written = f.write_all(content(container_id, ifname).as_bytes());
        drop(f);
        let linked = written.and_then(|()| std::fs::hard_link(&tmp, &path));
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(Error::io(format!("reserving {}", path.display()), e)),
        }
    }

    fn last_path(&self, set_index: usize) -> PathBuf {
        self.dir.join(format!("{LAST_RESERVED}{set_index}"))
    }

    /// Reserve one address of `set` (index `set_index` in the config) for
    /// the attachment: `requested` if given, else the first of `preferred`
    /// (the attachment's last addresses) that is still free or still its
    /// own, else the next free one after the last reserved. When none is
    /// free, an address whose owner has no live attachment (`reclaimable`)
    /// is taken over. The caller holds the directory lock.
    #[allow(clippy::too_many_arguments)]
    pub fn allocate(
        &self,
        set: &RangeSet,
        set_index: usize,
        container_id: &str,
        ifname: &str,
        requested: Option<IpAddr>,
        preferred: &[IpAddr],
        reclaimable: &dyn Fn(&str, &str) -> bool,
    ) -> Result<(Reservation, LastReserved)> {
        let last_path = self.last_path(set_index);
        let before = read_bytes_opt(&last_path)?;
        let reserve = |ip: IpAddr| -> Result<Option<Reservation>> {
            if !self.try_reserve(ip, container_id, ifname)? {
                return Ok(None);
            }
            let address = IpNetwork::new(ip, set.subnet().prefix())
                .map_err(|e| Error::new(Kind::Invalid, format!("address {ip}: {e}")))?;
            Ok(Some(Reservation {
                address,
                gateway: set.gateway(),
                file: self.ip_path(ip),
            }))
        };
        let chosen = match requested {
            Some(ip) => {
                let Some(range) = set.range_for(ip) else {
                    return Err(Error::invalid(format!(
                        "requested address {ip} is outside the range set {}",
                        set.describe()
                    )));
                };
                if range.reserved(ip) {
                    return Err(Error::invalid(format!(
                        "requested address {ip} is the gateway, network or broadcast address of {}",
                        range.subnet
                    )));
                }
                match reserve(ip)? {
                    Some(r) => r,
                    None => {
                        return Err(Error::new(
                            Kind::Conflict,
                            format!("requested address {ip} is already in use"),
                        ));
                    }
                }
            }
            None => {
                let mut again = None;
                for ip in preferred {
                    let Some(range) = set.range_for(*ip) else {
                        continue;
                    };
                    if range.reserved(*ip) {
                        continue;
                    }
                    if self.holds(*ip, container_id, ifname)? {
                        again = Some(Reservation {
                            address: IpNetwork::new(*ip, set.subnet().prefix()).map_err(|e| {
                                Error::new(Kind::Invalid, format!("address {ip}: {e}"))
                            })?,
                            gateway: set.gateway(),
                            file: self.ip_path(*ip),
                        });
                        break;
                    }
                    if let Some(r) = reserve(*ip)? {
                        again = Some(r);
                        break;
                    }
                }
                match again {
                    Some(r) => r,
                    None => match self.next_free(set, &before, &reserve) {
                        Err(f) if f.kind == Kind::Exhausted => self
                            .reclaim(set, container_id, reclaimable, &reserve)?
                            .ok_or(f)?,
                        r => r?,
                    },
                }
            }
        };
        let ip = chosen.address.ip();
        if let Err(e) = crate::core::state::write_atomic(
            &last_path,
            ip.to_string().as_bytes(),
            0o600,
            crate::core::state::Durability::Hint,
        ) {
            let _ = std::fs::remove_file(&chosen.file);
            return Err(e);
        }
        Ok((
            chosen,
            LastReserved {
                path: last_path,
                before,
            },
        ))
    }

    fn next_free(
        &self,
        set: &RangeSet,
        last: &Option<Vec<u8>>,
        reserve: &dyn Fn(IpAddr) -> Result<Option<Reservation>>,
    ) -> Result<Reservation> {
        let v4 = set.is_v4();
        let n = set.ranges.len();
        let bounds: Vec<(u128, u128)> = set
            .ranges
            .iter()
            .map(|r| (to_u128(r.start), to_u128(r.end)))
            .collect();
        let total: u128 = bounds.iter().map(|(s, e)| e - s + 1).sum();
        let step = |(ri, cur): (usize, u128)| -> (usize, u128) {
            if cur >= bounds[ri].1 {
                let next = (ri + 1) % n;
                (next, bounds[next].0)
            } else {
                (ri, cur + 1)
            }
        };
        let last_ip = last
            .as_ref()
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| s.trim().parse::<IpAddr>().ok())
            .filter(|ip| set.range_for(*ip).is_some());
        let mut pos = match last_ip {
            Some(ip) => {
                let ri = set.ranges.iter().position(|r| r.contains(ip)).unwrap_or(0);
                step((ri, to_u128(ip)))
            }
            None => (0, bounds[0].0),
        };
        let mut tried: u128 = 0;
        while tried < total {
            let ip = from_u128(pos.1, v4);
            if !set.ranges[pos.0].reserved(ip)
                && let Some(r) = reserve(ip)?
            {
                return Ok(r);
            }
            pos = step(pos);
            tried += 1;
        }
        Err(Error::new(
            Kind::Exhausted,
            format!("no free address left in range set {}", set.describe()),
        ))
    }

    /// The pool is full: take over the first address of `set` whose owner
    /// has no live attachment (a container that died without DEL).
    fn reclaim(
        &self,
        set: &RangeSet,
        container_id: &str,
        reclaimable: &dyn Fn(&str, &str) -> bool,
        reserve: &dyn Fn(IpAddr) -> Result<Option<Reservation>>,
    ) -> Result<Option<Reservation>> {
        for (ip, id, ifname) in self.entries()? {
            let Some(range) = set.range_for(ip) else {
                continue;
            };
            if range.reserved(ip) || id == container_id.trim() || !reclaimable(&id, &ifname) {
                continue;
            }
            if self.release(ip, &id, &ifname)? {
                eprintln!(
                    "hostnet: reclaiming {ip} from container {id} ({ifname}): no live attachment and no free address left"
                );
                if let Some(r) = reserve(ip)? {
                    return Ok(Some(r));
                }
            }
        }
        Ok(None)
    }

    /// Remove `ip`'s file if it names this attachment (or only this container,
    /// as old host-local wrote). Ok(false) when it is absent or someone else's.
    pub fn release(&self, ip: IpAddr, container_id: &str, ifname: &str) -> Result<bool> {
        let path = self.ip_path(ip);
        let Some(bytes) = read_bytes_opt(&path)? else {
            return Ok(false);
        };
        let text = String::from_utf8_lossy(&bytes);
        if text != content(container_id, ifname) && text.trim() != container_id.trim() {
            return Ok(false);
        }
        crate::core::state::remove_file_if_exists(&path)?;
        Ok(true)
    }

    /// Does `ip`'s file name this attachment?
    pub fn holds(&self, ip: IpAddr, container_id: &str, ifname: &str) -> Result<bool> {
        let Some(bytes) = read_bytes_opt(&self.ip_path(ip))? else {
            return Ok(false);
        };
        let text = String::from_utf8_lossy(&bytes);
        Ok(text == content(container_id, ifname) || text.trim() == container_id.trim())
    }

    /// Every reservation in the directory: (ip, container id, ifname). A
    /// listing: for GC and STATUS only, never on ADD or DEL.
    pub fn entries(&self) -> Result<Vec<(IpAddr, String, String)>> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("listing {}", self.dir.display()), e)),
        };
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.ctx(format!("listing {}", self.dir.display()))?;
            let name = entry.file_name();
            let Some(ip) = name.to_str().and_then(|n| n.parse::<IpAddr>().ok()) else {
                continue;
            };
            let Some(bytes) = read_bytes_opt(&entry.path())? else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            let (id, ifname) = match text.split_once("\r\n") {
                Some((id, ifname)) => (id.trim().to_string(), ifname.trim().to_string()),
                None => (text.trim().to_string(), String::new()),
            };
            out.push((ip, id, ifname));
        }
        out.sort();
        Ok(out)
    }

    /// Put `last_reserved_ip.N` back as it was (rollback of a failed ADD).
    pub fn restore_last(last: &LastReserved) -> Result<()> {
        match &last.before {
            Some(b) => crate::core::state::write_atomic(
                &last.path,
                b,
                0o600,
                crate::core::state::Durability::Hint,
            )?,
            None => crate::core::state::remove_file_if_exists(&last.path)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ipam::range::Range;
    use crate::core::json::Obj;
    use serde_json::json;

    fn set(v: serde_json::Value) -> RangeSet {
        RangeSet {
            ranges: vec![Range::parse(Obj::new("r", &v).unwrap()).unwrap()],
        }
    }

    fn tmp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("hostnet-ipam-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn round_robin_and_release() {
        let dir = tmp("rr");
        let hl = HostLocal::new(&dir, "net");
        let s = set(json!({"subnet": "10.9.0.0/29"})); // .1 gw, .2-.6 usable
        let _l = hl.lock().unwrap();
        let (a, _) = hl
            .allocate(&s, 0, "c1", "eth0", None, &[], &|_, _| false)
            .unwrap();
        assert_eq!(a.address.to_string(), "10.9.0.2/29");
        assert_eq!(std::fs::read_to_string(&a.file).unwrap(), "c1\r\neth0");
        let (b, _) = hl
            .allocate(&s, 0, "c2", "eth0", None, &[], &|_, _| false)
            .unwrap();
        assert_eq!(b.address.ip().to_string(), "10.9.0.3");
        assert_eq!(
            std::fs::read_to_string(dir.join("net/last_reserved_ip.0")).unwrap(),
            "10.9.0.3"
        );
        assert!(
            !hl.release(a.address.ip(), "c2", "eth0").unwrap(),
            "not c2's"
        );
        assert!(hl.release(a.address.ip(), "c1", "eth0").unwrap());
        // round robin: .4 next, not the freed .2
        let (c, _) = hl
            .allocate(&s, 0, "c3", "eth0", None, &[], &|_, _| false)
            .unwrap();
        assert_eq!(c.address.ip().to_string(), "10.9.0.4");
        for i in 4..7 {
            hl.allocate(&s, 0, &format!("c{i}"), "eth0", None, &[], &|_, _| false)
                .unwrap();
        }
        // .5 .6 then wraps to .2; now full
        let e = hl
            .allocate(&s, 0, "c9", "eth0", None, &[], &|_, _| false)
            .unwrap_err();
        assert_eq!(e.kind, Kind::Exhausted);
        let e = hl
            .allocate(
                &s,
                0,
                "c9",
                "eth0",
                Some("10.9.0.1".parse().unwrap()),
                &[],
                &|_, _| false,
            )
            .unwrap_err();
        assert_eq!(e.kind, Kind::Invalid);
        let e = hl
            .allocate(
                &s,
                0,
                "c9",
                "eth0",
                Some("10.9.0.3".parse().unwrap()),
                &[],
                &|_, _| false,
            )
            .unwrap_err();
        assert_eq!(e.kind, Kind::Conflict);
        assert_eq!(hl.entries().unwrap().len(), 5);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
