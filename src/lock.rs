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
    pub fn acquire(run_dir: &Path) -> Result<HostLock> {
        std::fs::create_dir_all(run_dir).ctx(format!("creating {}", run_dir.display()))?;
        let path = run_dir.join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ctx(format!("opening {}", path.display()))?;
        flock(&file, &path)?;
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
