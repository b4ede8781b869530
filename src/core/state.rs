//! What hostnet keeps on disk under its state directory, as JSON:
//!
//! ```text
//! <state-dir>/networks/<name>.json     one managed network and what hostnet owns of it
//! <state-dir>/sysctl-before.json       forwarding sysctls as first found (for --restore-sysctl)
//! <state-dir>/settings.json            host-wide settings (init --docker-forward)
//! <state-dir>/ports/<proto>-<port>.json   static port claims
//! <state-dir>/leases/<net>/<container>-<ifname>.json   last addresses (same IP back)
//! <state-dir>/ipam/<net>.json            the address directories ADD used (noted)
//! <run-dir>/attachments/<net>/<container>-<ifname>.json   CNI attachments
//! <run-dir>/containers/<container>/<net>:<ifname>   their index by container (empty files)
//! <run-dir>/ports/<proto>-<port>.json     containers' port claims
//! <state-dir>/boot_id                    the kernel boot of the last init (a reboot is recognised)
//! ```
//! Every write goes to a temporary file (unpredictable name, O_EXCL|O_NOFOLLOW)
//! and is put into place in one step (renamed, or exchanged with the file it
//! replaces), so a reader never sees half a file; what must survive a power
//! cut is fsync'ed too (`Durability`). A file that does not
//! parse is moved aside and reported, never fatal (`load`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::core::network::Network;
use crate::error::{Context, Error, Result};

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

/// Where state lives: `dir` (the state dir, survives reboots) and `run` (the
/// run dir, tmpfs by default: what dies with the kernel).
#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
    pub run: PathBuf,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>, run: impl Into<PathBuf>) -> Store {
        Store {
            dir: dir.into(),
            run: run.into(),
        }
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

    /// Attachment records: under the run dir (they die with the kernel).
    pub fn attachments_dir(&self) -> PathBuf {
        self.run.join("attachments")
    }

    /// All managed networks, sorted by name.
    pub fn networks(&self) -> Result<Vec<NetworkRecord>> {
        let mut out = Vec::new();
        for path in list_json(&self.networks_dir())? {
            out.extend(read_json_opt::<NetworkRecord>(&path)?);
        }
        out.sort_by(|a, b| a.network.name.cmp(&b.network.name));
        Ok(out)
    }

    pub fn network(&self, name: &str) -> Result<Option<NetworkRecord>> {
        read_json_opt(&self.network_path(name))
    }

    pub fn sysctl_before(&self) -> Result<BTreeMap<String, String>> {
        Ok(read_json_opt(&self.sysctl_before_path())?.unwrap_or_default())
    }
}

/// What a state file held: nothing, a value, or bytes that do not parse
/// (the file has been moved aside as `<file>.corrupt-<time>` and reported).
#[derive(Debug)]
pub enum Loaded<T> {
    Absent,
    Value(T),
    Corrupt,
}

impl<T> Loaded<T> {
    pub fn value(self) -> Option<T> {
        match self {
            Loaded::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// Read and parse a state file. One that does not parse (empty, truncated by
/// a power cut, garbage) never stops the caller: it is moved aside, reported
/// in one line on stderr, and treated as absent (`Loaded::Corrupt`), so the
/// caller can rebuild what it described.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<Loaded<T>> {
    let Some(bytes) = read_bytes_opt(path)? else {
        return Ok(Loaded::Absent);
    };
    match serde_json::from_slice(&bytes) {
        Ok(v) => Ok(Loaded::Value(v)),
        Err(e) => {
            quarantine(path, &e.to_string())?;
            Ok(Loaded::Corrupt)
        }
    }
}

/// Move an unreadable file aside as `<file>.corrupt-<unix time>` and say so.
pub fn quarantine(path: &Path, why: &str) -> Result<PathBuf> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut aside = PathBuf::from(format!("{}.corrupt-{secs}", path.display()));
    if aside.exists() {
        aside = PathBuf::from(format!(
            "{}.corrupt-{secs}-{}",
            path.display(),
            random_hex()?
        ));
    }
    match std::fs::rename(path, &aside) {
        Ok(()) => {}
        // someone else moved it aside first
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(aside),
        Err(e) => {
            return Err(Error::io(
                format!("moving unreadable {} aside", path.display()),
                e,
            ));
        }
    }
    eprintln!(
        "hostnet: {} does not parse ({why}); moved aside to {}, rebuilding what it described",
        path.display(),
        aside.display()
    );
    Ok(aside)
}

/// A file's bytes, or None when it does not exist (one open, no stat race).
pub fn read_bytes_opt(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// The parsed file, or None when absent or unreadable (see `load`).
pub fn read_json_opt<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    Ok(load(path)?.value())
}

/// How much a write must survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Dies with the kernel anyway (the run dir: attachment records,
    /// container claims): no fsync, and an existing file is replaced by
    /// exchange (`exchange`).
    Volatile,
    /// Survives a reboot as the old or the new content, not fsynced (hints:
    /// leases, host-local's last reserved address, the boot id): renamed
    /// over the old file, which ext4 guards against a power cut before
    /// writeback (`auto_da_alloc`).
    Hint,
    /// Must survive a power cut (networks, static mappings, the sysctl
    /// record, conflists): fsync the file before and the directory after the rename.
    Durable,
}

/// Write JSON atomically, mode 0600 (state).
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T, d: Durability) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|e| {
        Error::new(
            crate::error::Kind::Io,
            format!("encoding {}: {e}", path.display()),
        )
    })?;
    text.push(b'\n');
    write_atomic(path, &text, 0o600, d)
}

/// 16 unpredictable hex digits (getrandom).
pub fn random_hex() -> Result<String> {
    let mut buf = [0u8; 8];
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: writes at most the remaining length into buf.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::io("getrandom", e));
        }
        filled += n as usize;
    }
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Temp files live in `<dir>/.tmp/` as `<name>.<pid>.<random>`: a crash can
/// leave one there, never next to the real files, where no reader looks;
/// `gc` and `init` remove those of dead processes (a write does not look:
/// that listing was five system calls on every write).
pub const TMP_DIR: &str = ".tmp";

/// A new temp file for `name` in `dir/.tmp/` (made only when missing):
/// `<name>.<pid>.<16 hex>`, created with O_EXCL|O_NOFOLLOW and `mode`.
/// Returns its path and the file, open for writing.
pub fn create_temp(dir: &Path, name: &str, mode: u32) -> Result<(PathBuf, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp_dir = dir.join(TMP_DIR);
    let tmp = tmp_dir.join(format!("{name}.{}.{}", std::process::id(), random_hex()?));
    let open = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .mode(mode)
            .open(&tmp)
    };
    let file = match open() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&tmp_dir).ctx(format!("creating {}", tmp_dir.display()))?;
            open()
        }
        r => r,
    }
    .ctx(format!("creating {}", tmp.display()))?;
    Ok((tmp, file))
}

/// Is the process that wrote this temp file gone? (`<name>.<pid>.<rand>`)
pub(crate) fn tmp_owner_dead(file_name: &str) -> bool {
    let mut parts = file_name.rsplitn(3, '.');
    let _rand = parts.next();
    let Some(pid) = parts.next().and_then(|p| p.parse::<u32>().ok()) else {
        return true;
    };
    pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
}

/// The temp files of dead processes in `dir/.tmp` (for `gc`).
pub fn dead_temps(dir: &Path) -> Result<Vec<PathBuf>> {
    let tmp = dir.join(TMP_DIR);
    let rd = match std::fs::read_dir(&tmp) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("listing {}", tmp.display()), e)),
    };
    let mut out: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(tmp_owner_dead))
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}

/// Remove the temp files of dead processes in `dir/.tmp`. Returns what
/// was removed.
pub fn remove_dead_temps(dir: &Path) -> Result<Vec<PathBuf>> {
    let dead = dead_temps(dir)?;
    for p in &dead {
        remove_file_if_exists(p)?;
    }
    Ok(dead)
}

fn fsync_dir(dir: &Path) -> Result<()> {
    let f = std::fs::File::open(dir).ctx(format!("opening {}", dir.display()))?;
    f.sync_all().ctx(format!("fsync {}", dir.display()))
}

/// Swap `tmp` and an existing `path` in one step (renameat2 with
/// RENAME_EXCHANGE): Ok(false) when `path` does not exist yet or the file
/// system cannot exchange, so that a plain rename does it.
///
/// Why not always rename: on ext4, a rename over an existing file makes the
/// kernel allocate and start writing the new file's blocks first (its
/// `auto_da_alloc` guard for programs that replace files without fsync),
/// which made each such write 2-8x slower (here: 108 against 13 us). A
/// `Volatile` file dies with the kernel, so that guard buys nothing and it
/// is swapped; a `Hint` keeps the guard (renamed); a `Durable` one is
/// fsynced and renamed.
fn exchange(tmp: &Path, path: &Path) -> Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).ok();
    // a NUL byte in a path: the rename reports it
    let (Some(from), Some(to)) = (c(tmp), c(path)) else {
        return Ok(false);
    };
    // SAFETY: two NUL-terminated paths that live across the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => Ok(false),
        _ => Err(Error::io(
            format!("exchanging {} and {}", tmp.display(), path.display()),
            e,
        )),
    }
}

/// Write a file atomically: a temp file with an unpredictable name created
/// with O_EXCL|O_NOFOLLOW (`mode`), put into place in one step (`Volatile`:
/// exchanged with the file it replaces, see `exchange`; `Hint`: renamed;
/// `Durable`: fsynced, renamed, and the directory fsynced).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32, d: Durability) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().ok_or_else(|| {
        Error::new(
            crate::error::Kind::Io,
            format!("{}: no parent directory", path.display()),
        )
    })?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::invalid(format!("{}: no file name", path.display())))?;
    let (tmp, mut f) = create_temp(dir, name, mode)?;
    let result = (|| {
        f.write_all(bytes)
            .ctx(format!("writing {}", tmp.display()))?;
        if d == Durability::Durable {
            f.sync_all().ctx(format!("fsync {}", tmp.display()))?;
        }
        drop(f);
        let exchanged = d == Durability::Volatile && exchange(&tmp, path)?;
        if exchanged {
            // the temp name now holds the old content: not ours to keep
            let _ = std::fs::remove_file(&tmp);
        } else {
            std::fs::rename(&tmp, path).ctx(format!(
                "renaming {} to {}",
                tmp.display(),
                path.display()
            ))?;
        }
        if d == Durability::Durable {
            fsync_dir(dir)?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::TestDir;

    #[test]
    fn a_write_makes_its_temp_dir_and_leaves_dead_temps_to_the_sweep() {
        let d = TestDir::new("state-write");
        // neither the file's directory nor its temp dir exists yet
        let p = d.0.join("sub").join("f.json");
        write_atomic(&p, b"1", 0o600, Durability::Volatile).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"1");
        let tmp = d.0.join("sub").join(TMP_DIR);
        // 4194304 is above the kernel's largest pid: a dead writer
        let dead = tmp.join("f.json.4194304.0011223344556677");
        let other = tmp.join("g.json.4194304.0011223344556677");
        std::fs::write(&dead, b"").unwrap();
        std::fs::write(&other, b"").unwrap();
        write_atomic(&p, b"2", 0o600, Durability::Durable).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"2");
        // a volatile write exchanges the files: the old content is not left
        // behind under the temp name, and a reader holding the old file
        // still reads it whole
        let held = std::fs::File::open(&p).unwrap();
        write_atomic(&p, b"3", 0o600, Durability::Volatile).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"3");
        assert_eq!(std::io::read_to_string(held).unwrap(), "2");
        let mut left: Vec<PathBuf> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec![dead.clone(), other.clone()],
            "only the dead writers' temps"
        );
        // a hint is renamed over the old file: the same view
        write_atomic(&p, b"4", 0o600, Durability::Hint).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"4");
        assert_eq!(
            std::fs::read_dir(&tmp).unwrap().count(),
            2,
            "no temp of ours left"
        );
        let mine = tmp.join(format!("f.json.{}.0011223344556677", std::process::id()));
        std::fs::write(&mine, b"").unwrap();
        let both = vec![dead.clone(), other.clone()];
        assert_eq!(dead_temps(&d.0.join("sub")).unwrap(), both);
        assert_eq!(remove_dead_temps(&d.0.join("sub")).unwrap(), both);
        assert!(
            !dead.exists() && !other.exists(),
            "dead writers' temps are removed"
        );
        assert!(mine.exists(), "a live writer's temp stays");
    }
}
