//! What `teardown` removes after its plan ran: the bookkeeping around the
//! state it removed. host-local's `last_reserved_ip.N` and `lock` in a
//! network's address directory once no reservation is left there (and the
//! data directory when it is then empty), the host
//! lock, and every directory under the state and run directories (and those
//! directories) that is now empty. A directory with anything else in it stays.

use std::path::{Path, PathBuf};

use crate::error::{Context, Result};

/// host-local bookkeeping files: nothing that reserves an address.
fn is_bookkeeping(name: &str) -> bool {
    name == "lock" || name.starts_with("last_reserved_ip.")
}

/// `<dataDir>/<network>` of each attachment that used host-local.
pub fn ipam_dirs(attachments: &[crate::core::record::Attachment]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = attachments
        .iter()
        .filter_map(|a| a.ipam.data_dir.as_ref().map(|d| d.join(&a.network)))
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// `<dataDir>/<network>` named by the conflists hostnet wrote (read before
/// teardown removes them): a container DEL leaves `last_reserved_ip.N` and
/// the lock there. Without a dataDir in the conflist, host-local's default
/// directory, but only for a teardown of the default state directory (a
/// teardown of a test's or a second instance's state never touches it).
pub fn conflist_ipam_dirs(
    networks: &[crate::core::state::NetworkRecord],
    default_state: bool,
) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for rec in networks {
        let Some(path) = &rec.conflist else { continue };
        let Ok(Some(list)) = crate::core::state::read_json_opt::<serde_json::Value>(path) else {
            continue;
        };
        let plugins = list["plugins"].as_array().cloned().unwrap_or_default();
        for p in plugins.iter().filter(|p| p.get("ipam").is_some()) {
            match p["ipam"]["dataDir"].as_str() {
                Some(d) => dirs.push(Path::new(d).join(&rec.network.name)),
                None if default_state => dirs
                    .push(Path::new(crate::core::ipam::DEFAULT_DATA_DIR).join(&rec.network.name)),
                None => {}
            }
        }
    }
    dirs
}

/// Remove the leftovers; returns one line per removed path.
pub fn sweep(state_dir: &Path, run_dir: &Path, ipam_dirs: &[PathBuf]) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for dir in ipam_dirs {
        // temp files of dead writers first (`.tmp/`, empty afterwards)
        crate::core::state::remove_dead_temps(dir)?;
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut files = Vec::new();
        let mut only_bookkeeping = true;
        for entry in rd {
            let entry = entry.ctx(format!("listing {}", dir.display()))?;
            match entry.file_name().to_str() {
                // removed below with the other empty directories
                Some(crate::core::state::TMP_DIR) => {}
                Some(n) if is_bookkeeping(n) => files.push(entry.path()),
                _ => only_bookkeeping = false,
            }
        }
        if !only_bookkeeping {
            continue;
        }
        for f in files {
            remove_file(&f, &mut done)?;
        }
        // and the data directory itself once no network is left in it
        // (host-local creates it again when needed)
        if remove_empty_dirs(dir, &mut done)?
            && let Some(data_dir) = dir.parent()
            && std::fs::remove_dir(data_dir).is_ok()
        {
            done.push(format!("remove directory {}", data_dir.display()));
        }
    }
    // the host lock: teardown holds it while this runs; nothing is left to guard
    remove_file(&run_dir.join("lock"), &mut done)?;
    remove_empty_dirs(run_dir, &mut done)?;
    remove_empty_dirs(state_dir, &mut done)?;
    Ok(done)
}

fn remove_file(path: &Path, done: &mut Vec<String>) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            done.push(format!("remove {}", path.display()));
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(crate::error::Error::io(
            format!("removing {}", path.display()),
            e,
        )),
    }
}

/// Depth first: remove `dir` and the directories below it that are (then)
/// empty. Returns whether `dir` is gone.
fn remove_empty_dirs(dir: &Path, done: &mut Vec<String>) -> Result<bool> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => {
            return Err(crate::error::Error::io(
                format!("listing {}", dir.display()),
                e,
            ));
        }
    };
    let mut empty = true;
    for entry in rd {
        let entry = entry.ctx(format!("listing {}", dir.display()))?;
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if !is_dir || !remove_empty_dirs(&entry.path(), done)? {
            empty = false;
        }
    }
    if empty {
        match std::fs::remove_dir(dir) {
            Ok(()) => done.push(format!("remove directory {}", dir.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // not empty after all (someone wrote meanwhile), or not ours to remove
            Err(_) => return Ok(false),
        }
    }
    Ok(empty)
}
