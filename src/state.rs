//! What hostnet keeps on disk under its state directory, as JSON:
//!
//! ```text
//! <state-dir>/networks/<name>.json     one managed network and what hostnet owns of it
//! <state-dir>/sysctl-before.json       forwarding sysctls as first found (for --restore-sysctl)
//! <state-dir>/portmaps.json            static port mappings (hostnet portmap)
//! <state-dir>/settings.json            host-wide settings (init --docker-forward)
//! <state-dir>/attachments/<net>/<container>-<ifname>.json   CNI attachments
//! ```
//! Every write goes to a temporary file and is renamed into place, so a
//! reader never sees half a file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::error::{Context, Error, Result};
use crate::network::Network;

/// A managed network and what of it hostnet created (and so may remove).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    #[serde(flatten)]
    pub network: Network,
    /// hostnet created the bridge (teardown deletes it); false: adopted.
    pub owns_bridge: bool,
    /// Addresses hostnet added to an adopted bridge (teardown removes them).
    #[serde(default)]
    pub added_addresses: Vec<IpNetwork>,
    /// The conflist hostnet wrote for this network, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflist: Option<PathBuf>,
}

/// Host-wide settings, changed by `init` options and kept across runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Insert accept rules for hostnet's bridges into another program's
    /// `filter FORWARD` chain (Docker's, via iptables-nft) when it exists.
    #[serde(default = "yes")]
    pub docker_forward: bool,
}

fn yes() -> bool {
    true
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            docker_forward: true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    fn networks_dir(&self) -> PathBuf {
        self.dir.join("networks")
    }

    pub fn network_path(&self, name: &str) -> PathBuf {
        self.networks_dir().join(format!("{name}.json"))
    }

    pub fn sysctl_before_path(&self) -> PathBuf {
        self.dir.join("sysctl-before.json")
    }

    pub fn portmaps_path(&self) -> PathBuf {
        self.dir.join("portmaps.json")
    }

    pub fn settings_path(&self) -> PathBuf {
        self.dir.join("settings.json")
    }

    /// The settings; defaults when the file does not exist (one open). A
    /// file that does not parse is reported on stderr and read as defaults,
    /// never fatal (the next `init --docker-forward` rewrites it).
    pub fn settings(&self) -> Result<Settings> {
        match read_json_opt(&self.settings_path()) {
            Ok(s) => Ok(s.unwrap_or_default()),
            Err(e) if e.kind == crate::error::Kind::Decode => {
                eprintln!("hostnet: {} (using the defaults)", e.msg);
                Ok(Settings::default())
            }
            Err(e) => Err(e),
        }
    }

    pub fn attachments_dir(&self) -> PathBuf {
        self.dir.join("attachments")
    }

    /// All managed networks, sorted by name.
    pub fn networks(&self) -> Result<Vec<NetworkRecord>> {
        let mut out = Vec::new();
        for path in list_json(&self.networks_dir())? {
            out.push(read_json::<NetworkRecord>(&path)?);
        }
        out.sort_by(|a, b| a.network.name.cmp(&b.network.name));
        Ok(out)
    }

    pub fn network(&self, name: &str) -> Result<Option<NetworkRecord>> {
        read_json_opt(&self.network_path(name))
    }

    pub fn save_network(&self, rec: &NetworkRecord) -> Result<()> {
        write_json(&self.network_path(&rec.network.name), rec)
    }

    pub fn remove_network(&self, name: &str) -> Result<()> {
        remove_file_if_exists(&self.network_path(name))
    }

    pub fn sysctl_before(&self) -> Result<BTreeMap<String, String>> {
        Ok(read_json_opt(&self.sysctl_before_path())?.unwrap_or_default())
    }

    pub fn save_sysctl_before(&self, m: &BTreeMap<String, String>) -> Result<()> {
        write_json(&self.sysctl_before_path(), m)
    }
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).ctx(format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::new(
            crate::error::Kind::Io,
            format!("{}: corrupt file: {e}", path.display()),
        )
    })
}

/// A file's bytes, or None when it does not exist (one open, no stat race).
pub fn read_bytes_opt(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

pub fn read_json_opt<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let Some(bytes) = read_bytes_opt(path)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Error::new(
            crate::error::Kind::Io,
            format!("{}: corrupt file: {e}", path.display()),
        )
    })
}

/// Write JSON atomically: temp file in the same directory, then rename.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|e| {
        Error::new(
            crate::error::Kind::Io,
            format!("encoding {}: {e}", path.display()),
        )
    })?;
    text.push(b'\n');
    write_atomic(path, &text, 0o644)
}

pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().ok_or_else(|| {
        Error::new(
            crate::error::Kind::Io,
            format!("{}: no parent directory", path.display()),
        )
    })?;
    std::fs::create_dir_all(dir).ctx(format!("creating {}", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .ctx(format!("writing {}", tmp.display()))?;
        f.write_all(bytes)
            .ctx(format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).ctx(format!("renaming {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

pub fn remove_file_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing {}", path.display()), e)),
    }
}

/// The *.json files of a directory (none if it does not exist).
pub fn list_json(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.ctx(format!("listing {}", dir.display()))?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}
