//! One error type for the whole program: a kind (which decides the CLI exit
//! code and the CNI error code) and a message that carries its context.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The caller's input is wrong (CLI exit 2, CNI code 7).
    Invalid,
    /// The input names a field or value this program does not support (CNI code 2).
    Unsupported,
    /// The request clashes with something that exists (a port, an address, a link).
    Conflict,
    /// Something that should exist does not (CNI code 3 for containers).
    NotFound,
    /// The kernel refused a netlink request; holds the errno.
    Kernel(i32),
    /// A file or directory could not be read or written (CNI code 5).
    Io,
    /// A required environment variable is missing or wrong (CNI code 4).
    Env,
    /// Input could not be decoded (CNI code 6).
    Decode,
    /// The spec version is not supported (CNI code 1).
    Version,
    /// Transient: try again (CNI code 11).
    TryAgain,
    /// No addresses left in the range (CNI code 51 in STATUS).
    Exhausted,
}

#[derive(Debug, Clone)]
pub struct Error {
    pub kind: Kind,
    pub msg: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, msg: impl Into<String>) -> Self {
        Error {
            kind,
            msg: msg.into(),
        }
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, msg)
    }
    pub fn conflict(msg: impl Into<String>) -> Self {
        Self::new(Kind::Conflict, msg)
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, msg)
    }
    /// A kernel (netlink) error with its errno, e.g. from an nftables batch.
    pub fn kernel(errno: i32, msg: impl Into<String>) -> Self {
        Self::new(Kind::Kernel(errno), msg)
    }
    pub fn io(context: impl fmt::Display, e: std::io::Error) -> Self {
        Self::new(Kind::Io, format!("{context}: {e}"))
    }
    /// Prepend what we were doing: "creating bridge nerdctl0: File exists".
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.msg = format!("{what}: {}", self.msg);
        self
    }
    pub fn errno(&self) -> Option<i32> {
        match self.kind {
            Kind::Kernel(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

/// `result.ctx("doing X")?` adds context to any of our errors.
pub trait Context<T> {
    fn ctx(self, what: impl fmt::Display) -> Result<T>;
}

impl<T> Context<T> for Result<T> {
    fn ctx(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.context(what))
    }
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn ctx(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::io(what, e))
    }
}
