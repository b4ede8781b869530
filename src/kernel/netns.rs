//! Network namespaces: the one place that calls setns(2).
//!
//! - `enter_process(path)`: move the whole (still single-threaded) process into
//!   a namespace at startup; this is how `--netns` works. Every socket opened and
//!   every /proc/sys/net file read afterwards belongs to that namespace.
//! - `run_in(path, f)`: run `f` on a scoped thread that entered `path`; the
//!   caller's thread never changes namespace, so nothing needs restoring, even
//!   when `f` fails or panics.
//! - `enter_ahead(scope, path)`: the same thread started before its work is
//!   known (it enters `path` and opens its rtnetlink session while the caller
//!   goes on), handed the work later (`Ahead::run`).
//! - `resolve(name_or_path)`: "NAME" -> /run/netns/NAME; anything with a '/'
//!   is a path.
//! - `identify(file)`: is an opened namespace file the caller's own network
//!   namespace (however it was named: /proc/self/ns/net, /proc/PID/ns/net,
//!   a bind mount under /run/netns, a symlink to any of them)?

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};

pub const NETNS_RUN_DIR: &str = "/run/netns";

pub fn resolve(name_or_path: &str) -> Result<PathBuf> {
    if name_or_path.is_empty() {
        return Err(Error::invalid("network namespace: empty name"));
    }
    if name_or_path.contains('/') {
        return Ok(PathBuf::from(name_or_path));
    }
    if name_or_path == "." || name_or_path == ".." {
        return Err(Error::invalid(format!(
            "network namespace {name_or_path:?}: not a name"
        )));
    }
    Ok(Path::new(NETNS_RUN_DIR).join(name_or_path))
}

/// What an opened namespace file is, compared with the caller's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// The network namespace this process (or this thread) lives in.
    Own,
    /// Another namespace (a file of the namespace filesystem).
    Other,
    /// Not a namespace file at all (a regular file, a directory).
    NotANamespace,
}

/// Compare `file` with the caller's own network namespace by identity: the
/// namespace filesystem's device and the namespace's inode, as fstat(2) of
/// the opened file gives them (open(2) resolved every symlink and the
/// /proc/PID/ns magic links already, and a bind mount keeps both numbers).
pub fn identify(file: &File) -> Result<Identity> {
    use std::os::unix::fs::MetadataExt;
    let have = file.metadata().ctx("reading the network namespace file")?;
    let mut nsfs_dev = None;
    for own in ["/proc/thread-self/ns/net", "/proc/self/ns/net"] {
        let m = std::fs::metadata(own).ctx(format!("reading {own}"))?;
        if (m.dev(), m.ino()) == (have.dev(), have.ino()) {
            return Ok(Identity::Own);
        }
        nsfs_dev = Some(m.dev());
    }
    if nsfs_dev == Some(have.dev()) {
        Ok(Identity::Other)
    } else {
        Ok(Identity::NotANamespace)
    }
}

/// Open a namespace file.
pub fn open(path: &Path) -> Result<File> {
    let file = File::open(path).ctx(format!("network namespace {}", path.display()))?;
    Ok(file)
}

fn setns(file: &File, path: &Path) -> Result<()> {
    // SAFETY: setns on a valid, open fd; CLONE_NEWNET makes the kernel check
    // that the fd really is a network namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    // whether it moved or not, what the thread remembered may be stale
    super::link::forget_netns();
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(Error::io(
            format!("entering network namespace {}", path.display()),
            e,
        ));
    }
    Ok(())
}

/// Move the calling thread into `path`. Call it before any other thread or
/// socket exists (at startup) so the whole process lives in that namespace.
pub fn enter_process(path: &Path) -> Result<()> {
    let file = open(path)?;
    setns(&file, path)
}

/// The work an `Ahead` thread is handed.
type Job<'scope, T> = Box<dyn FnOnce() -> Result<T> + Send + 'scope>;

/// A scoped thread that entered a network namespace ahead of its work, with
/// its rtnetlink session open (`enter_ahead`). `run` hands it the work and
/// waits for the result; dropped without work, the thread just ends.
pub struct Ahead<'scope, T> {
    // declared first, dropped first: a thread still waiting wakes and ends
    job: Option<std::sync::mpsc::SyncSender<Job<'scope, T>>>,
    thread: Option<std::thread::ScopedJoinHandle<'scope, Result<T>>>,
}

/// Start a thread in `scope` that enters the namespace at `path` and opens
/// its rtnetlink session now, so that neither the thread's start nor the
/// socket is on the caller's path when the work comes (on a second CPU they
/// overlap whatever the caller does meanwhile).
pub fn enter_ahead<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    path: &'scope Path,
) -> Result<Ahead<'scope, T>> {
    let file = open(path)?;
    let (job, work) = std::sync::mpsc::sync_channel::<Job<'scope, T>>(1);
    let thread = scope.spawn(move || {
        let entered = setns(&file, path);
        if entered.is_ok() {
            // errors show again when the work opens it
            let _ = super::link::Netlink::open();
        }
        let r = match work.recv() {
            Ok(f) => entered.and_then(|()| f()),
            Err(_) => Err(Error::internal("a namespace thread was given no work")),
        };
        super::link::end_session();
        r
    });
    Ok(Ahead {
        job: Some(job),
        thread: Some(thread),
    })
}

impl<'scope, T> Ahead<'scope, T> {
    /// Run `f` on the thread (inside its namespace) and wait for it.
    pub fn run(mut self, f: impl FnOnce() -> Result<T> + Send + 'scope) -> Result<T> {
        if let Some(job) = self.job.take() {
            // a thread that is gone (it panicked) is reported by the join
            let _ = job.send(Box::new(f));
        }
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Err(Error::internal("a namespace thread ran twice")),
        }
    }
}

/// Run `f` inside the network namespace at `path`, on a scoped thread.
pub fn run_in<T: Send>(path: &Path, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let file = open(path)?;
    std::thread::scope(|s| {
        let handle = s.spawn(move || {
            setns(&file, path)?;
            let r = f();
            // this thread's rtnetlink session belongs to `path`: close it
            // with the thread (the namespace may go away after us)
            super::link::end_session();
            r
        });
        match handle.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}
