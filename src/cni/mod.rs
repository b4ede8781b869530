//! CNI plugin mode: with `CNI_COMMAND` in the environment, `hostnet` is a CNI
//! plugin (spec 0.1.0-1.1.0). As `type: hostnet` it gives a container what
//! the bridge + host-local + portmap + firewall + tuning chain gives it, in
//! one process; as `type: bridge` it is a drop-in for the reference bridge
//! ahead of portmap/firewall/tuning. See hostnet-cni(8).
//!
//! Only the result (or the error JSON) goes to stdout; logs go to stderr.
//!
//! - `env`, `config`, `portspec`, `json`, `version`: input, validated whole;
//! - `add`, `del`, `check`, `gc`, `status`: one module per command;
//! - `ipam/`: host-local compatible store and delegated plugins;
//! - `container`: the container side, run inside its netns;
//! - `netns_guard`: CNI_NETNS must not be the plugin's own namespace;
//! - `record`: the attachment record; `result`, `failure`: the output.

pub mod add;
pub mod check;
pub mod config;
pub mod container;
pub mod del;
pub mod env;
pub mod failure;
pub mod gc;
pub mod ipam;
pub mod json;
pub mod netns_guard;
pub mod netspec;
pub mod orphans;
pub mod portspec;
pub mod record;
pub mod recover;
pub mod result;
pub mod status;
pub mod version;
pub mod vethname;

use std::io::{Read, Write};
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::kernel::link::Netlink;
use crate::state::Store;
use env::{Command, Env};
use failure::{CniResult, Failure, INCOMPATIBLE_VERSION};
pub use record::Attachment;

/// The banner printed (to stderr) when the binary runs without CNI_COMMAND
/// and without arguments.
pub fn version_banner() {
    eprintln!(
        "CNI hostnet plugin v{}\nCNI protocol versions supported: {}",
        env!("CARGO_PKG_VERSION"),
        version::SUPPORTED.join(", ")
    );
}

/// The plugin's entry point: read env and stdin, run the command, print the
/// result or the error JSON on stdout. Exit 0 on success, 1 on error.
pub fn run() -> ExitCode {
    let mut stdin = Vec::new();
    let read = std::io::stdin().read_to_end(&mut stdin);
    let out_version = config::peek_version(&stdin)
        .filter(|v| version::SUPPORTED.contains(&v.as_str()))
        .unwrap_or_else(|| version::LATEST.to_string());
    let outcome = match read {
        Ok(_) => {
            // a panic (a bug) still ends in error JSON; ADD's guard has
            // rolled back by the time it is caught here
            match std::panic::catch_unwind(|| {
                Env::read(|k| std::env::var(k).ok()).and_then(|env| dispatch(&env, &stdin))
            }) {
                Ok(r) => r,
                Err(p) => {
                    let what = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown".into());
                    Err(Failure::new(
                        failure::INTERNAL,
                        format!("hostnet panicked: {what} (what it did was rolled back)"),
                    ))
                }
            }
        }
        Err(e) => Err(Failure::new(
            failure::IO_FAILURE,
            format!("reading the network configuration from stdin: {e}"),
        )),
    };
    let mut stdout = std::io::stdout().lock();
    match outcome {
        Ok(answer) => {
            if let Some(v) = answer {
                let _ = writeln!(stdout, "{v}");
            }
            let _ = stdout.flush();
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("hostnet: {f}");
            let _ = writeln!(stdout, "{}", f.to_json(&out_version));
            let _ = stdout.flush();
            ExitCode::from(1)
        }
    }
}

fn dispatch(env: &Env, stdin: &[u8]) -> CniResult<Option<Value>> {
    if env.command == Command::Version {
        // VERSION answers whatever else the input holds
        let asked = config::peek_version(stdin).unwrap_or_else(|| version::LATEST.to_string());
        return Ok(Some(
            json!({ "cniVersion": asked, "supportedVersions": version::SUPPORTED }),
        ));
    }
    if env.command == Command::Del
        && let Some(why) = &env.bad_name
    {
        // nothing can have been attached under such a name
        eprintln!("hostnet: DEL: nothing to do ({why})");
        return Ok(None);
    }
    if let Some(why) = &env.bad_name
        && matches!(env.command, Command::Add | Command::Check)
    {
        return Err(Failure::env(why.clone()));
    }
    let conf = config::parse(stdin, env.args.mac.as_deref())?;
    let needs = |ok: bool, since: &str| -> CniResult<()> {
        if ok {
            Ok(())
        } else {
            Err(Failure::new(
                INCOMPATIBLE_VERSION,
                format!(
                    "{} needs cniVersion {since} or later (the config says {})",
                    env.command.name(),
                    conf.version
                ),
            ))
        }
    };
    match env.command {
        Command::Add => add::add(env, &conf).map(Some),
        Command::Del => del::del(env, &conf).map(|_| None),
        Command::Check => {
            needs(conf.version.has_check(), "0.4.0")?;
            check::check(env, &conf).map(|_| None)
        }
        Command::Gc => {
            needs(conf.version.has_gc_status(), "1.1.0")?;
            gc::gc(env, &conf).map(|_| None)
        }
        Command::Status => {
            needs(conf.version.has_gc_status(), "1.1.0")?;
            status::status(env, &conf).map(|_| None)
        }
        Command::Version => Ok(None),
    }
}

fn to_error(f: Failure) -> Error {
    Error::new(crate::error::Kind::Io, f.msg)
}

/// The files that hold one attachment on disk: its host-local address
/// reservations (those still naming it) and its record. `hostnet teardown`
/// removes them after deleting the host veth. A delegated IPAM plugin's
/// reservations are that plugin's (teardown cannot call it: no CNI_PATH).
pub fn attachment_files(store: &Store, a: &Attachment) -> Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    if let Some(dir) = &a.ipam.data_dir {
        let hl = ipam::hostlocal::HostLocal::new(dir, &a.network);
        for ip in &a.ips {
            if hl
                .holds(ip.address.ip(), &a.container_id, &a.ifname)
                .map_err(to_error)?
            {
                files.push(hl.ip_path(ip.address.ip()));
            }
        }
    }
    files.push(record::path(store, &a.network, &a.container_id, &a.ifname));
    let lease = recover::lease_path(store, &a.network, &a.container_id, &a.ifname);
    if lease.exists() {
        files.push(lease);
    }
    Ok(files)
}

/// Every attachment record (all networks), for `hostnet status`.
pub fn attachments(store: &Store) -> Result<Vec<Attachment>> {
    record::attachments(store)
}

/// Every difference between the attachment records and the kernel, one line
/// each, for `hostnet check`: host veth missing, off its bridge or down,
/// hairpin off, address not reserved, port elements missing, ADD unfinished,
/// container netns gone (a stale attachment: DEL or GC it). No netns entered.
pub fn attachment_differences(store: &Store, nl: &Netlink) -> Result<Vec<String>> {
    let all = attachments(store)?;
    let elements = if all.iter().any(|a| !a.port_mappings.is_empty()) {
        Some(check::kernel_elements().map_err(to_error)?)
    } else {
        None
    };
    let mut out = Vec::new();
    for a in all.iter().filter(|a| !recover::in_progress(a)) {
        for d in check::host_differences(nl, a, elements.as_ref()).map_err(to_error)? {
            out.push(format!("attachment {}: {d}", a.key()));
        }
        if !a.netns.is_empty()
            && a.netns.starts_with('/')
            && !std::path::Path::new(&a.netns).exists()
        {
            out.push(format!(
                "attachment {}: container netns {} is gone (stale: DEL or GC it)",
                a.key(),
                a.netns
            ));
        }
    }
    Ok(out)
}
