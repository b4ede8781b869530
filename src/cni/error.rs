//! The CNI face of `crate::error::Error`: its kind mapped, once, to a CNI
//! error code, and the error result printed as JSON on stdout (the only thing
//! on stdout when a command fails).
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

/// The CNI code of an error kind: the one mapping.
pub fn code(kind: Kind) -> u32 {
    match kind {
        Kind::Invalid => INVALID_CONFIG,
        Kind::InvalidEnv => INVALID_ENV,
        Kind::Unsupported => UNSUPPORTED_FIELD,
        Kind::IncompatibleVersion => INCOMPATIBLE_VERSION,
        Kind::Decode => DECODE,
        Kind::Conflict => CONFLICT,
        Kind::NotFound => UNKNOWN_CONTAINER,
        Kind::Exhausted => EXHAUSTED,
        Kind::Kernel(_) => KERNEL,
        Kind::Io => IO_FAILURE,
        Kind::TryAgain => TRY_AGAIN,
        Kind::Differences => CHECK_FAILED,
        Kind::Delegate => DELEGATE,
        Kind::PluginError(code) => code,
        Kind::NotAvailable { limited: false } => NOT_AVAILABLE,
        Kind::NotAvailable { limited: true } => NOT_AVAILABLE_LIMITED,
        Kind::Internal => INTERNAL,
    }
}

/// `error.cni_code()`: the code an error is reported with.
pub trait CniCode {
    fn cni_code(&self) -> u32;
}

impl CniCode for Error {
    fn cni_code(&self) -> u32 {
        code(self.kind)
    }
}

/// The details field: the error's own, after the errno of a kernel error.
fn details(e: &Error) -> String {
    match (e.errno(), e.details.is_empty()) {
        (Some(errno), true) => format!("errno {errno}"),
        (Some(errno), false) => format!("errno {errno}; {}", e.details),
        (None, _) => e.details.clone(),
    }
}

/// The error result structure, in the given protocol version.
pub fn to_json(e: &Error, cni_version: &str) -> Value {
    json!({
        "cniVersion": cni_version,
        "code": code(e.kind),
        "msg": e.msg,
        "details": details(e),
    })
}

/// The error as logged on stderr: message, code, details.
pub fn to_log(e: &Error) -> String {
    let d = details(e);
    if d.is_empty() {
        format!("{} (CNI code {})", e.msg, code(e.kind))
    } else {
        format!("{} (CNI code {}); {d}", e.msg, code(e.kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_code_and_kernel_errors_carry_the_errno() {
        let kinds = [
            Kind::Invalid,
            Kind::InvalidEnv,
            Kind::Unsupported,
            Kind::IncompatibleVersion,
            Kind::Decode,
            Kind::Conflict,
            Kind::NotFound,
            Kind::Exhausted,
            Kind::Kernel(libc::EPERM),
            Kind::Io,
            Kind::TryAgain,
            Kind::Differences,
            Kind::Delegate,
            Kind::NotAvailable { limited: false },
            Kind::NotAvailable { limited: true },
            Kind::Internal,
        ];
        let mut codes: Vec<u32> = kinds.iter().map(|k| code(*k)).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), kinds.len(), "two kinds share a code");
        assert_eq!(
            code(Kind::PluginError(999)),
            999,
            "a plugin's own code passes"
        );
        let j = to_json(
            &Error::kernel(libc::EEXIST, "adding x").with_details("rollback incomplete: y"),
            "1.0.0",
        );
        assert_eq!(j["code"], KERNEL);
        assert_eq!(j["details"], "errno 17; rollback incomplete: y");
    }

    #[test]
    fn a_kernel_or_file_failure_is_not_invalid_input() {
        for k in [
            Kind::Kernel(libc::EIO),
            Kind::Io,
            Kind::Delegate,
            Kind::Internal,
        ] {
            assert_ne!(code(k), INVALID_CONFIG);
            assert_eq!(k.exit_code(), crate::error::EXIT_FAILED);
        }
    }
}
