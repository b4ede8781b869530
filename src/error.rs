//! One error type for the whole program: a kind, a message that carries its
//! context, and optional details. Each front end maps the kind once: the CLI
//! to its exit code (`Kind::exit_code`), the CNI plugin to its error code
//! (`cni::error`). A kernel or file failure is never "invalid input".

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The caller's input (options, network configuration) is wrong.
    Invalid,
    /// The environment the caller set is wrong (a CNI_* variable).
    InvalidEnv,
    /// A configuration key or value this program does not support.
    Unsupported,
    /// The caller speaks a protocol version this program does not.
    IncompatibleVersion,
    /// Input could not be decoded (not JSON, wrong types).
    Decode,
    /// The request clashes with something that exists (a port, an address, a link).
    Conflict,
    /// Something that should exist does not (a container, a network, a mapping).
    NotFound,
    /// No free address left in a range.
    Exhausted,
    /// The kernel refused a netlink request; holds the errno.
    Kernel(i32),
    /// A file or directory could not be read or written.
    Io,
    /// Transient: try again.
    TryAgain,
    /// `check` found the kernel differing from hostnet's state.
    Differences,
    /// A delegated plugin (a CNI IPAM plugin) could not be run, failed or
    /// answered garbage.
    Delegate,
    /// A delegated plugin's own error, passed on with the code it gave.
    PluginError(u32),
    /// The network cannot serve containers now (CNI STATUS); `limited`:
    /// only because its address pool is full.
    NotAvailable { limited: bool },
    /// A bug: something hostnet itself got wrong (a panic, a broken invariant).
    Internal,
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
            Kind::Invalid
            | Kind::InvalidEnv
            | Kind::Unsupported
            | Kind::IncompatibleVersion
            | Kind::Decode => EXIT_INVALID,
            Kind::Conflict | Kind::NotFound | Kind::Exhausted => EXIT_CONFLICT,
            Kind::Kernel(_)
            | Kind::Io
            | Kind::TryAgain
            | Kind::Differences
            | Kind::Delegate
            | Kind::PluginError(_)
            | Kind::NotAvailable { .. }
            | Kind::Internal => EXIT_FAILED,
        }
    }

    /// The kind's name in `--json` error documents.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Invalid => "invalid",
            Kind::InvalidEnv => "invalid_env",
            Kind::Unsupported => "unsupported",
            Kind::IncompatibleVersion => "incompatible_version",
            Kind::Decode => "decode",
            Kind::Conflict => "conflict",
            Kind::NotFound => "not_found",
            Kind::Exhausted => "exhausted",
            Kind::Kernel(_) => "kernel",
            Kind::Io => "io",
            Kind::TryAgain => "try_again",
            Kind::Differences => "differences",
            Kind::Delegate => "delegate",
            Kind::PluginError(_) => "plugin_error",
            Kind::NotAvailable { .. } => "not_available",
            Kind::Internal => "internal",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Error {
    pub kind: Kind,
    pub msg: String,
    /// More about it, for a reader who wants it (CNI's `details`); may be empty.
    pub details: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, msg: impl Into<String>) -> Self {
        Error {
            kind,
            msg: msg.into(),
            details: String::new(),
        }
    }
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = details.into();
        self
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, msg)
    }
    /// A bad CNI_* environment variable.
    pub fn env(msg: impl Into<String>) -> Self {
        Self::new(Kind::InvalidEnv, msg)
    }
    pub fn unsupported(msg: impl Into<String>) -> Self {
        Self::new(Kind::Unsupported, msg)
    }
    pub fn decode(msg: impl Into<String>) -> Self {
        Self::new(Kind::Decode, msg)
    }
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::new(Kind::Internal, msg)
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
        if !self.details.is_empty() {
            e["details"] = self.details.clone().into();
        }
        serde_json::json!({ "error": e, "exit_code": self.exit_code() })
    }
    pub fn errno(&self) -> Option<i32> {
        match self.kind {
            Kind::Kernel(e) => Some(e),
            _ => None,
        }
    }

    /// Not there: a missing object (ENOENT from the kernel, or found
    /// missing): e.g. the nftables table after a flushed ruleset.
    pub fn is_not_found(&self) -> bool {
        self.kind == Kind::NotFound || self.errno() == Some(libc::ENOENT)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)?;
        if !self.details.is_empty() {
            write!(f, " ({})", self.details)?;
        }
        Ok(())
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
