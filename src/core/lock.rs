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
        use std::os::unix::fs::OpenOptionsExt;
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
        Ok(HostLock { _file: file })
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
