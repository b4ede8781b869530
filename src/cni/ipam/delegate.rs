//! Delegated plugins (any `ipam.type` but host-local): found in CNI_PATH and
//! run with the same environment and the same stdin bytes; their stderr is
//! ours, their error result is passed on with its own code.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::error::{Error, Kind, Result};

pub fn find(cni_path: &[PathBuf], kind: &str) -> Result<PathBuf> {
    for dir in cni_path {
        let p = dir.join(kind);
        if is_executable(&p) {
            return Ok(p);
        }
    }
    let dirs: Vec<String> = cni_path.iter().map(|d| d.display().to_string()).collect();
    Err(Error::new(
        Kind::Delegate,
        format!(
            "plugin {kind:?} not found in CNI_PATH ({})",
            if dirs.is_empty() {
                "empty".into()
            } else {
                dirs.join(":")
            }
        ),
    ))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Run `kind` with CNI_COMMAND=`command`; Ok(None) when it printed nothing.
pub fn exec(
    cni_path: &[PathBuf],
    kind: &str,
    command: &str,
    stdin: &[u8],
) -> Result<Option<Value>> {
    let bin = find(cni_path, kind)?;
    let mut child = Command::new(&bin)
        .env("CNI_COMMAND", command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::new(Kind::Delegate, format!("running {}: {e}", bin.display())))?;
    if let Some(mut input) = child.stdin.take() {
        // a plugin that exits without reading gives EPIPE: its answer decides
        let _ = input.write_all(stdin);
    }
    let out = child.wait_with_output().map_err(|e| {
        Error::new(
            Kind::Delegate,
            format!("waiting for {}: {e}", bin.display()),
        )
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed: Option<Value> = serde_json::from_str(text.trim()).ok();
    if !out.status.success() {
        if let Some(v) = &parsed
            && let Some(code) = v.get("code").and_then(Value::as_u64)
        {
            let msg = v.get("msg").and_then(Value::as_str).unwrap_or("");
            let details = v.get("details").and_then(Value::as_str).unwrap_or("");
            return Err(Error::new(
                Kind::PluginError(u32::try_from(code).unwrap_or(u32::MAX)),
                format!("{kind} {command}: {msg}"),
            )
            .with_details(details));
        }
        return Err(Error::new(
            Kind::Delegate,
            format!("{kind} {command} failed ({}): {}", out.status, text.trim()),
        ));
    }
    if text.trim().is_empty() {
        return Ok(None);
    }
    match parsed {
        Some(v) => Ok(Some(v)),
        None => Err(Error::new(
            Kind::Delegate,
            format!("{kind} {command}: answer is not JSON: {}", text.trim()),
        )),
    }
}
