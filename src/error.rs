//! One error type for the whole program: a kind (which decides the CLI exit
//! code and the CNI error code) and a message that carries its context.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The caller's input is wrong (CLI exit 2, CNI code 7).
    Invalid,
    /// The request clashes with something that exists (a port, an address, a link).
    Conflict,
    /// Something that should exist does not (CNI code 3 for containers).
    NotFound,
    /// The kernel refused a netlink request; holds the errno.
    Kernel(i32),
    /// A file or directory could not be read or written (CNI code 5).
    Io,
    /// Input could not be decoded (CNI code 6).
    Decode,
    /// Transient: try again (CNI code 11).
    TryAgain,
    /// `check` found the kernel differing from hostnet's state (CLI exit 1,
    /// CNI code 103).
    Differences,
}

/// The CLI's exit codes, one table for every command (hostnet(8), README).
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_INVALID: u8 = 2;
pub const EXIT_CONFLICT: u8 = 3;

/// The exit-code table as text (a macro so clap's help texts can `concat!` it).
#[macro_export]
macro_rules! exit_status_text {
    () => {
        "EXIT STATUS:\n  \
0  done, or nothing to do\n  \
1  a kernel or file operation failed (what was done is rolled back); for `check`: \
differences found\n  \
2  invalid input: a bad option, address, port or name (nothing was changed)\n  \
3  conflict with existing state: a taken port, a network in use, an unknown mapping \
(nothing was changed)\n\n\
With --json every command prints one JSON document on stdout, errors included: \
{\"error\": {\"kind\": ..., \"message\": ...}, \"exit_code\": N}. \
A closed stdout (hostnet portmap ls | head -1) ends hostnet by SIGPIPE, quietly."
    };
}

/// The table as printed in hostnet(8)'s EXIT STATUS and the README.
pub const EXIT_STATUS_TABLE: &str = exit_status_text!();

impl Kind {
    /// The CLI exit code for an error of this kind (the table above).
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Invalid | Kind::Decode => EXIT_INVALID,
            Kind::Conflict | Kind::NotFound => EXIT_CONFLICT,
            Kind::Kernel(_) | Kind::Io | Kind::TryAgain | Kind::Differences => EXIT_FAILED,
        }
    }

    /// The kind's name in `--json` error documents.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Invalid => "invalid",
            Kind::Conflict => "conflict",
            Kind::NotFound => "not_found",
            Kind::Kernel(_) => "kernel",
            Kind::Io => "io",
            Kind::Decode => "decode",
            Kind::TryAgain => "try_again",
            Kind::Differences => "differences",
        }
    }
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
    /// The CLI exit code (see `EXIT_STATUS_TABLE`).
    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }
    /// `{"error": {"kind": …, "message": …}}` (plus "errno" for kernel errors).
    pub fn to_json(&self) -> serde_json::Value {
        let mut e = serde_json::json!({ "kind": self.kind.name(), "message": self.msg });
        if let Some(errno) = self.errno() {
            e["errno"] = errno.into();
        }
        serde_json::json!({ "error": e, "exit_code": self.exit_code() })
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
