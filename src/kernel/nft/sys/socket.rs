//! The transport: one NETLINK_NETFILTER socket per thread (the session),
//! sending batches, GETs and dumps and collecting their answers.

use std::ffi::c_void;

use super::*;
use crate::error::{Error, Result};

/// A NETLINK_NETFILTER socket in the calling thread's network namespace.
pub(in crate::kernel::nft) struct Socket {
    nl: mnl::Socket,
    buf: Vec<u32>,
    rcvbuf_raised: bool,
    /// A request was sent whose answer has not been read to the end: the
    /// socket must not be reused (see `Session`).
    pending: bool,
}

/// How a batch ended: the errors of the messages that failed, by seq.
pub(in crate::kernel::nft) struct BatchResult {
    pub errors: Vec<(u32, i32)>,
}

impl BatchResult {
    /// The first failed message: its errno and what `what` (sequence number,
    /// description of the object, as the batch was built) says it was;
    /// `fallback` for a sequence number not in `what`.
    pub fn first_failure<'a>(
        &self,
        what: &'a [(u32, String)],
        fallback: &'a str,
    ) -> Option<(i32, &'a str)> {
        self.errors.first().map(|&(seq, errno)| {
            let object = what
                .iter()
                .find(|(s, _)| *s == seq)
                .map_or(fallback, |(_, w)| w.as_str());
            (errno, object)
        })
    }
}

/// The answer to one GET: a message, or an errno.
pub(in crate::kernel::nft) enum Reply {
    /// The message, 4-byte aligned, and its length in bytes.
    Msg(Vec<u32>, usize),
    Err(i32),
}

impl Reply {
    /// Run `f` on the message (None for an error).
    pub(in crate::kernel::nft) fn with_msg<T>(
        &self,
        f: impl FnOnce(&NlMsg<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        match self {
            Reply::Err(_) => Ok(None),
            Reply::Msg(words, len) => {
                let msgs = split_msgs(&as_bytes(words)[..*len])?;
                match msgs.first() {
                    Some(m) => f(m).map(Some),
                    None => Ok(None),
                }
            }
        }
    }
}

pub(super) fn io_err(what: &str, e: std::io::Error) -> Error {
    Error::kernel(
        e.raw_os_error().unwrap_or(libc::EIO),
        format!("{what}: {e}"),
    )
}

// One socket per thread that talks to nf_tables, which in hostnet is the
// main thread only (netns::run_in's threads do links, never nftables): one
// socket per process. It is an owned value in a thread-local slot, not a
// global, so it never crosses threads (an mnl socket is not Send) and always
// belongs to the namespace of the thread that opened it.
thread_local! {
    static SESSION: std::cell::RefCell<Option<Socket>> = const { std::cell::RefCell::new(None) };
}

/// The calling thread's nf_tables socket, lent out for one operation
/// (`Socket::session`). Dropping it hands the socket back for the next
/// operation when its last exchange was read to the end; a socket that may
/// still hold unread answers is closed instead, never reused.
pub(in crate::kernel::nft) struct Session {
    sock: Option<Socket>,
}

impl std::ops::Deref for Session {
    type Target = Socket;
    fn deref(&self) -> &Socket {
        self.sock
            .as_ref()
            .expect("a session holds its socket until dropped")
    }
}

impl std::ops::DerefMut for Session {
    fn deref_mut(&mut self) -> &mut Socket {
        self.sock
            .as_mut()
            .expect("a session holds its socket until dropped")
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let Some(sock) = self.sock.take() else { return };
        if sock.pending {
            return; // closed here
        }
        // During thread teardown the slot may be gone: then the socket
        // simply closes.
        let _ = SESSION.try_with(|slot| {
            if let Ok(mut slot) = slot.try_borrow_mut()
                && slot.is_none()
            {
                *slot = Some(sock);
            }
        });
    }
}

/// Close the calling thread's nf_tables socket now, if it has one. Closing
/// a socket whose batch deleted elements waits one RCU grace period (7-20 ms
/// here) while nf_tables flushes its destroy work: the session keeps the
/// socket open after such a batch, so that wait falls where the caller puts
/// this call (after releasing the host lock, or overlapping a veth delete),
/// or at process exit, when the thread's slot is dropped.
pub(in crate::kernel::nft) fn close_session() {
    let sock = SESSION.try_with(|slot| slot.try_borrow_mut().ok().and_then(|mut s| s.take()));
    drop(sock);
}

impl Socket {
    /// The calling thread's socket (opened on first use), for one operation.
    pub(in crate::kernel::nft) fn session() -> Result<Session> {
        let kept = SESSION
            .try_with(|slot| slot.try_borrow_mut().ok().and_then(|mut s| s.take()))
            .ok()
            .flatten();
        let sock = match kept {
            Some(sock) => sock,
            None => Socket::open()?,
        };
        Ok(Session { sock: Some(sock) })
    }

    pub(super) fn open() -> Result<Socket> {
        let nl = mnl::Socket::new(mnl::Bus::Netfilter)
            .map_err(|e| io_err("opening nf_tables netlink socket", e))?;
        let s = Socket {
            nl,
            buf: Vec::new(),
            rcvbuf_raised: false,
            pending: false,
        };
        // Errors carry only the failing header, not our whole message back.
        s.setsockopt(libc::SOL_NETLINK, NETLINK_CAP_ACK, &1 as &libc::c_int);
        // Never hang on a kernel that does not answer.
        let timeout = libc::timeval {
            tv_sec: RECV_TIMEOUT_SECS,
            tv_usec: 0,
        };
        s.setsockopt(libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout);
        Ok(s)
    }

    pub(super) fn fd(&self) -> libc::c_int {
        // SAFETY: the mnl socket is live for self's lifetime.
        unsafe { mnl::mnl_sys::mnl_socket_get_fd(self.nl.as_raw_socket()) }
    }

    /// Best effort: a failure only means smaller buffers or no timeout.
    pub(super) fn setsockopt<T>(&self, level: libc::c_int, name: libc::c_int, value: &T) {
        // SAFETY: fd is ours; value points to a live T of the given size.
        unsafe {
            libc::setsockopt(
                self.fd(),
                level,
                name,
                (value as *const T).cast::<c_void>(),
                std::mem::size_of::<T>() as libc::socklen_t,
            );
        }
    }

    pub(super) fn raise_buffers(&mut self, bytes: usize) {
        // A batch is one datagram: the send buffer must hold it whole.
        if bytes > 128 * 1024 {
            let n = i32::try_from(bytes + 64 * 1024).unwrap_or(i32::MAX);
            self.setsockopt(libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &n);
        }
        if !self.rcvbuf_raised && bytes > 64 * 1024 {
            self.setsockopt(
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &(4 * 1024 * 1024 as libc::c_int),
            );
            self.rcvbuf_raised = true;
        }
    }

    pub(super) fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.pending = true;
        self.raise_buffers(bytes.len());
        let n = self
            .nl
            .send(bytes)
            .map_err(|e| io_err("sending to nf_tables", e))?;
        if n != bytes.len() {
            return Err(Error::kernel(
                libc::EMSGSIZE,
                "sending to nf_tables: short write",
            ));
        }
        Ok(())
    }

    /// One datagram; returns its byte length (messages in the first n
    /// bytes of self.buf).
    /// The buffer is allocated once and never zeroed: only the pages the
    /// kernel writes are touched (a zeroed 128 KiB buffer was 32 page faults
    /// per process).
    pub(super) fn recv(&mut self) -> Result<usize> {
        self.buf.clear();
        self.buf.reserve_exact(RECV_BUF / 4);
        let room = self.buf.capacity() * 4;
        let n = loop {
            // SAFETY: the fd is ours; the kernel writes at most `room` bytes
            // into the buffer's spare capacity, which is `room` bytes long.
            // MSG_TRUNC: the datagram's real length even when it is longer.
            let n = unsafe {
                libc::recv(
                    self.fd(),
                    self.buf.as_mut_ptr().cast::<c_void>(),
                    room,
                    libc::MSG_TRUNC,
                )
            };
            if n >= 0 {
                break n as usize;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(io_err("receiving from nf_tables", e));
            }
        };
        if n > room {
            return Err(Error::kernel(
                libc::ENOSPC,
                format!("receiving from nf_tables: a datagram of {n} bytes does not fit {room}"),
            ));
        }
        let words = n.div_ceil(4);
        // SAFETY: the first n bytes were written by the kernel; the bytes up
        // to the next word boundary are zeroed here, so `words` words are
        // initialised and within capacity (n <= room).
        unsafe {
            let bytes = self.buf.as_mut_ptr().cast::<u8>();
            bytes.add(n).write_bytes(0, words * 4 - n);
            self.buf.set_len(words);
        }
        Ok(n)
    }

    /// Send a batch; wait for the answer to its last message. Errors of
    /// failed messages (and a failed commit, reported on the batch-begin seq)
    /// come back in `errors`; an empty list means the transaction committed.
    pub(in crate::kernel::nft) fn run_batch(
        &mut self,
        batch: FinishedBatch,
    ) -> Result<BatchResult> {
        self.send(batch.buf.bytes())?;
        let mut errors = Vec::new();
        let Some(last) = batch.last_seq else {
            self.pending = false;
            return Ok(BatchResult { errors });
        };
        loop {
            let n = match self.recv() {
                Ok(n) => n,
                // Too many errors to queue: the batch failed.
                Err(e) if e.errno() == Some(libc::ENOBUFS) => {
                    errors.push((batch.begin_seq, libc::ENOBUFS));
                    return Ok(BatchResult { errors });
                }
                Err(e) => return Err(e),
            };
            for m in split_msgs(&as_bytes(&self.buf)[..n])? {
                let Some(errno) = m.errno() else { continue };
                if !batch.seqs.contains(&m.seq) && m.seq != batch.begin_seq {
                    continue;
                }
                if errno != 0 {
                    errors.push((m.seq, errno));
                }
                if m.seq == last || (m.seq == batch.begin_seq && errno != 0) {
                    errors.sort_unstable();
                    // a failed batch may leave answers behind: not reused
                    self.pending = !errors.is_empty();
                    return Ok(BatchResult { errors });
                }
            }
        }
    }

    /// Send GET requests (not dumps); one reply each, in order.
    pub(in crate::kernel::nft) fn run_gets(&mut self, reqs: Requests) -> Result<Vec<Reply>> {
        let count = reqs.len();
        self.send(reqs.bytes())?;
        let mut replies: Vec<Option<Reply>> = (0..count).map(|_| None).collect();
        let mut got = 0;
        while got < count {
            let n = self.recv()?;
            for m in split_msgs(&as_bytes(&self.buf)[..n])? {
                let i = m.seq as usize;
                if i == 0 || i > count || m.kind == NLMSG_NOOP || m.kind == NLMSG_DONE {
                    continue;
                }
                let r = match m.errno() {
                    Some(0) => continue,
                    Some(e) => Reply::Err(e),
                    None => {
                        let mut words = vec![0u32; m.bytes.len().div_ceil(4)];
                        as_bytes_mut(&mut words)[..m.bytes.len()].copy_from_slice(m.bytes);
                        Reply::Msg(words, m.bytes.len())
                    }
                };
                if replies[i - 1].is_none() {
                    got += 1;
                }
                replies[i - 1] = Some(r);
            }
        }
        self.pending = false;
        Ok(replies
            .into_iter()
            .map(|r| r.unwrap_or(Reply::Err(libc::EPROTO)))
            .collect())
    }

    /// Run one dump request; `f` sees every data message. Returns Err(errno)
    /// of a failed dump as Ok(Err(..)) so callers can treat ENOENT; a dump
    /// interrupted by a concurrent change returns Ok(Err(EINTR)).
    pub(in crate::kernel::nft) fn run_dump(
        &mut self,
        reqs: Requests,
        mut f: impl FnMut(&NlMsg<'_>) -> Result<()>,
    ) -> Result<std::result::Result<(), i32>> {
        self.send(reqs.bytes())?;
        let mut interrupted = false;
        loop {
            let n = self.recv()?;
            let mut done = None;
            for m in split_msgs(&as_bytes(&self.buf)[..n])? {
                if m.seq != 1 {
                    continue;
                }
                if m.flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match m.kind {
                    NLMSG_DONE => done = Some(Ok(())),
                    NLMSG_NOOP => {}
                    NLMSG_ERROR => match m.errno() {
                        Some(0) | None => {}
                        Some(e) => done = Some(Err(e)),
                    },
                    _ => f(&m)?,
                }
                if done.is_some() {
                    break;
                }
            }
            if let Some(d) = done {
                self.pending = false;
                if interrupted && d.is_ok() {
                    return Ok(Err(libc::EINTR));
                }
                return Ok(d);
            }
        }
    }
}

/// strerror text for an errno.
pub(in crate::kernel::nft) fn strerror(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno).to_string()
}
