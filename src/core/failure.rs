//! A CNI error: a numeric code, a message and details, printed as JSON on
//! stdout (the only thing on stdout when a command fails).
//!
//! Codes 1-11 and 50/51 are the spec's; 100 and up are hostnet's own and are
//! listed in hostnet-cni(8).

use serde_json::{Value, json};

use crate::error::{Error, Kind};

pub const INCOMPATIBLE_VERSION: u32 = 1;
pub const UNSUPPORTED_FIELD: u32 = 2;
pub const UNKNOWN_CONTAINER: u32 = 3;
pub const INVALID_ENV: u32 = 4;
pub const IO_FAILURE: u32 = 5;
pub const DECODE: u32 = 6;
pub const INVALID_CONFIG: u32 = 7;
pub const TRY_AGAIN: u32 = 11;
pub const NOT_AVAILABLE: u32 = 50;
pub const NOT_AVAILABLE_LIMITED: u32 = 51;
/// The kernel refused a netlink or nftables request.
pub const KERNEL: u32 = 100;
/// A clash: host port mapped by another owner, attachment already present,
/// interface name taken in the container, requested address taken.
pub const CONFLICT: u32 = 101;
/// No free address left in a range.
pub const EXHAUSTED: u32 = 102;
/// CHECK found the attachment differing from the kernel.
pub const CHECK_FAILED: u32 = 103;
/// A delegated (IPAM) plugin could not be found or run, or answered garbage.
pub const DELEGATE: u32 = 104;
/// Anything else that went wrong inside hostnet.
pub const INTERNAL: u32 = 105;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: u32,
    pub msg: String,
    pub details: String,
}

pub type CniResult<T> = std::result::Result<T, Failure>;

impl Failure {
    pub fn new(code: u32, msg: impl Into<String>) -> Failure {
        Failure {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }
    pub fn with_details(mut self, details: impl Into<String>) -> Failure {
        self.details = details.into();
        self
    }
    pub fn env(msg: impl Into<String>) -> Failure {
        Failure::new(INVALID_ENV, msg)
    }
    pub fn config(msg: impl Into<String>) -> Failure {
        Failure::new(INVALID_CONFIG, msg)
    }
    pub fn decode(msg: impl Into<String>) -> Failure {
        Failure::new(DECODE, msg)
    }
    pub fn unsupported(msg: impl Into<String>) -> Failure {
        Failure::new(UNSUPPORTED_FIELD, msg)
    }
    /// Prepend what we were doing.
    pub fn context(mut self, what: impl std::fmt::Display) -> Failure {
        self.msg = format!("{what}: {}", self.msg);
        self
    }

    /// The error result structure, in the given protocol version.
    pub fn to_json(&self, cni_version: &str) -> Value {
        json!({
            "cniVersion": cni_version,
            "code": self.code,
            "msg": self.msg,
            "details": self.details,
        })
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (CNI code {})", self.msg, self.code)?;
        if !self.details.is_empty() {
            write!(f, "; {}", self.details)?;
        }
        Ok(())
    }
}

/// Which CNI code one of our error kinds maps to.
pub fn code_of(kind: Kind) -> u32 {
    match kind {
        Kind::Invalid => INVALID_CONFIG,
        Kind::Conflict => CONFLICT,
        Kind::NotFound => UNKNOWN_CONTAINER,
        Kind::Kernel(_) => KERNEL,
        Kind::Io => IO_FAILURE,
        Kind::Decode => DECODE,
        Kind::TryAgain => TRY_AGAIN,
        Kind::Differences => CHECK_FAILED,
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let details = match e.kind {
            Kind::Kernel(errno) => format!("errno {errno}"),
            _ => String::new(),
        };
        Failure {
            code: code_of(e.kind),
            msg: e.msg,
            details,
        }
    }
}

/// The way back, where CLI code calls what speaks CNI codes (host-local
/// files, the host-side check): the kind the code stands for; what has no
/// kind of its own (a file, a delegated plugin, anything internal) is Io.
impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        let kind = match f.code {
            INVALID_CONFIG | UNSUPPORTED_FIELD | INVALID_ENV | INCOMPATIBLE_VERSION => {
                Kind::Invalid
            }
            DECODE => Kind::Decode,
            CONFLICT => Kind::Conflict,
            UNKNOWN_CONTAINER => Kind::NotFound,
            TRY_AGAIN => Kind::TryAgain,
            CHECK_FAILED => Kind::Differences,
            KERNEL => match f.details.strip_prefix("errno ").map(str::parse::<i32>) {
                Some(Ok(errno)) => Kind::Kernel(errno),
                _ => Kind::Io,
            },
            _ => Kind::Io,
        };
        Error::new(kind, f.msg)
    }
}

/// `result.cctx("doing X")?` for either error type.
pub trait CniContext<T> {
    fn cctx(self, what: impl std::fmt::Display) -> CniResult<T>;
}

impl<T> CniContext<T> for std::result::Result<T, Error> {
    fn cctx(self, what: impl std::fmt::Display) -> CniResult<T> {
        self.map_err(|e| Failure::from(e).context(what))
    }
}

impl<T> CniContext<T> for CniResult<T> {
    fn cctx(self, what: impl std::fmt::Display) -> CniResult<T> {
        self.map_err(|e| e.context(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_survive_the_round_trip_through_cni_codes() {
        for e in [
            Error::invalid("x"),
            Error::conflict("x"),
            Error::not_found("x"),
            Error::kernel(libc::EPERM, "x"),
            Error::new(Kind::Io, "x"),
            Error::new(Kind::Decode, "x"),
            Error::new(Kind::TryAgain, "x"),
            Error::new(Kind::Differences, "x"),
        ] {
            let back = Error::from(Failure::from(e.clone()));
            assert_eq!(back.kind, e.kind, "{e}");
            assert_eq!(back.msg, e.msg);
        }
    }

    #[test]
    fn a_delegate_or_internal_failure_is_not_invalid_input() {
        for code in [DELEGATE, INTERNAL, IO_FAILURE, EXHAUSTED] {
            assert_eq!(Error::from(Failure::new(code, "x")).kind, Kind::Io);
        }
    }
}
