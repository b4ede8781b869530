//! The host lock: every mutation of hostnet's state and nftables elements runs
//! under an exclusive flock on `<run-dir>/lock`, released when dropped (and by
//! the kernel if the process dies).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{Context, Error, Result};

pub struct HostLock {
    _file: File,
}

impl HostLock {
    /// The host lock: `<run_dir>/lock`.
    pub fn acquire(run_dir: &Path) -> Result<HostLock> {
        HostLock::at(&run_dir.join("lock"), 0o644)
    }

    /// An exclusive lock on the file `path` (created with `mode`, its
    /// directory too, only when missing), e.g. host-local's
    /// `<dataDir>/<net>/lock`.
    pub fn at(path: &Path, mode: u32) -> Result<HostLock> {
        // a lock file removed while we waited on it (teardown removes the
        // host lock while holding it) locks nothing any more: the next
        // process opens a new one; lock the file that is there now
        loop {
            let (file, locked) = HostLock::open_and_lock(path, mode)?;
            if locked {
                return Ok(HostLock { _file: file });
            }
        }
    }

    /// Open (creating) and flock `path`; whether the locked file is still
    /// the one at `path`.
    fn open_and_lock(path: &Path, mode: u32) -> Result<(File, bool)> {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(mode)
                .open(path)
        };
        let file = match open() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).ctx(format!("creating {}", dir.display()))?;
                }
                open()
            }
            r => r,
        }
        .ctx(format!("opening {}", path.display()))?;
        flock(&file, path)?;
        let held = file.metadata().ctx(format!("reading {}", path.display()))?;
        let still = std::fs::metadata(path)
            .is_ok_and(|now| now.ino() == held.ino() && now.dev() == held.dev());
        Ok((file, still))
    }
}

/// Block until an exclusive flock is held on `file`.
pub fn flock(file: &File, path: &Path) -> Result<()> {
    loop {
        // SAFETY: flock on a valid open fd.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(Error::io(format!("locking {}", path.display()), e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::TestDir;

    /// Is `path` locked by someone else? (a non-blocking try)
    fn taken(path: &Path) -> bool {
        let f = File::open(path).expect("open the lock file");
        // SAFETY: flock on a valid open fd.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        rc != 0
    }

    #[test]
    fn a_lock_file_removed_while_waited_on_is_not_what_the_waiter_holds() {
        let d = TestDir::new("lock-removed");
        let path = d.0.join("lock");
        let first = HostLock::at(&path, 0o644).expect("first");
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || HostLock::at(&path, 0o644).expect("second"))
        };
        // let the waiter block on the file, then remove it (as teardown
        // does) and let go
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::fs::remove_file(&path).expect("remove the lock file");
        drop(first);
        let second = waiter.join().expect("waiter");
        // the waiter holds the file that is there now, so a newcomer waits
        assert!(path.exists(), "the waiter made the lock file again");
        assert!(taken(&path), "the file at the path is locked");
        drop(second);
        assert!(!taken(&path));
    }
}
