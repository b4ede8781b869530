//! Network namespaces: the one place that calls setns(2).
//!
//! - `enter_process(path)`: move the whole (still single-threaded) process into
//!   a namespace at startup; this is how `--netns` works. Every socket opened and
//!   every /proc/sys/net file read afterwards belongs to that namespace.
//! - `run_in(path, f)`: run `f` on a scoped thread that entered `path`; the
//!   caller's thread never changes namespace, so nothing needs restoring, even
//!   when `f` fails or panics.
//! - `make_in(file, path, make)`: the calling thread steps into the
//!   namespace of an open file for `make` alone (which makes a socket: a
//!   socket keeps the namespace it was made in) and back, a guard bringing
//!   it back on every way out; for work that needs only sockets there,
//!   without a thread.
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

/// A network namespace by identity: (device, inode) of its nsfs file.
pub type NetnsId = (u64, u64);

/// The calling thread's own namespace: its file (to come back to) and its
/// identity.
#[derive(Clone)]
struct Own {
    file: std::rc::Rc<File>,
    id: NetnsId,
}

thread_local! {
    /// The calling thread's namespace as last opened; `setns` empties it.
    static THREAD_NETNS: std::cell::RefCell<Option<Own>> = const { std::cell::RefCell::new(None) };
}

/// The calling thread's network namespace, opened once per thread and
/// namespace (/proc/thread-self/ns/net is a path walk through procfs): its
/// identity for `identify`, its file for `make_in`'s way back.
fn own() -> Result<Own> {
    use std::os::unix::fs::MetadataExt;
    if let Some(own) = THREAD_NETNS.with_borrow(Clone::clone) {
        return Ok(own);
    }
    let path = Path::new("/proc/thread-self/ns/net");
    let file = open(path)?;
    let m = file.metadata().ctx("reading /proc/thread-self/ns/net")?;
    let own = Own {
        file: std::rc::Rc::new(file),
        id: (m.dev(), m.ino()),
    };
    THREAD_NETNS.set(Some(own.clone()));
    Ok(own)
}

/// The calling thread's network namespace, by identity.
pub fn current() -> Result<NetnsId> {
    Ok(own()?.id)
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
    let have = (have.dev(), have.ino());
    let thread = current()?;
    if have == thread {
        return Ok(Identity::Own);
    }
    // another thread's namespace may differ from the process's (the main
    // thread's, which /proc/self names); on the main thread it is the same
    // SAFETY: gettid and getpid have no preconditions.
    if unsafe { libc::gettid() != libc::getpid() } {
        let process = std::fs::metadata("/proc/self/ns/net").ctx("reading /proc/self/ns/net")?;
        if have == (process.dev(), process.ino()) {
            return Ok(Identity::Own);
        }
    }
    if have.0 == thread.0 {
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

/// Open a namespace file; None when nothing is at `path` (ENOENT, a
/// dangling symlink included), an error for any other failure.
pub fn open_if_present(path: &Path) -> Result<Option<File>> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(
            format!("network namespace {}", path.display()),
            e,
        )),
    }
}

fn setns(file: &File, path: &Path) -> Result<()> {
    // SAFETY: setns on a valid, open fd; CLONE_NEWNET makes the kernel check
    // that the fd really is a network namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    // whether it moved or not, what the thread remembered may be stale
    THREAD_NETNS.set(None);
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

/// Brings the calling thread back to the namespace it came from.
struct Back {
    own: Own,
}

impl Drop for Back {
    fn drop(&mut self) {
        if setns(&self.own.file, Path::new("/proc/thread-self/ns/net")).is_ok() {
            // back where it was: what it knew of its namespace holds again
            THREAD_NETNS.set(Some(self.own.clone()));
        } else {
            // Nothing this thread does from here could be trusted to reach
            // the right namespace: end as a kill -9 would (an ADD records
            // what it takes before taking it: DEL or gc releases it).
            eprintln!("hostnet: cannot return to its own network namespace; aborting");
            std::process::abort();
        }
    }
}

/// Run `make` with the calling thread inside the network namespace of the
/// open file `target` (named `path` in errors), then bring the thread back
/// (also when `make` fails or panics). For making sockets there: each keeps
/// that namespace for its life. Two setns calls instead of a thread's
/// start, hand-over and join, which on a virtual machine with idle CPUs
/// cost more than the work.
pub fn make_in<T>(target: &File, path: &Path, make: impl FnOnce() -> Result<T>) -> Result<T> {
    let own = own()?;
    setns(target, path)?;
    let _back = Back { own };
    make()
}

/// Run `f` inside the network namespace at `path`, on a scoped thread.
pub fn run_in<T: Send>(path: &Path, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    run_in_file(&open(path)?, path, f)
}

/// `run_in` for a namespace file already open (and checked by the caller):
/// the thread enters that very namespace, whatever `path` names by now.
pub fn run_in_file<T: Send>(
    file: &File,
    path: &Path,
    f: impl FnOnce() -> Result<T> + Send,
) -> Result<T> {
    std::thread::scope(|s| {
        let handle = s.spawn(move || {
            setns(file, path)?;
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
