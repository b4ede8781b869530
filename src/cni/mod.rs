//! CNI plugin mode: with `CNI_COMMAND` in the environment, `hostnet` is a CNI
//! plugin (spec 0.1.0-1.1.0). As `type: hostnet` it gives a container what
//! the bridge + host-local + portmap + firewall + tuning chain gives it, in
//! one process; as `type: bridge` it is a drop-in for the reference bridge
//! ahead of portmap/firewall/tuning. See hostnet-cni(8).
//!
//! Only the result (or the error JSON) goes to stdout; logs go to stderr.
//!
//! A front end over `core` (it never imports the CLI, `cmd`): it parses the
//! request, calls the core, and shapes the answer.
//! - `env`, `config`, `portspec`, `netspec`, `version`: input, validated
//!   whole; `netspec` builds the core's ADD request;
//! - `add`, `del`, `check`, `gc`, `status`: one module per command, each a
//!   call into `core::{attach, detach, verify, collect, readiness}`
//!   (CNI_NETNS opened and the plugin's own refused by `core::netns_guard`);
//! - `ipam/`: delegated IPAM plugins (the host-local store is `core::ipam`);
//! - `result`: the ADD result per spec version; `error`: an error's CNI code
//!   and error JSON.

pub mod add;
pub mod check;
pub mod config;
pub mod del;
pub mod env;
pub mod error;
pub mod gc;
pub mod ipam;
pub mod netspec;
pub mod portspec;
pub mod result;
pub mod status;
pub mod version;

use std::io::{Read, Write};
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::error::{Error, Kind, Result};
use env::{Command, Env};

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
                    Err(Error::new(
                        Kind::Internal,
                        format!("hostnet panicked: {what} (what it did was rolled back)"),
                    ))
                }
            }
        }
        Err(e) => Err(Error::new(
            Kind::Io,
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
            eprintln!("hostnet: {}", error::to_log(&f));
            let _ = writeln!(stdout, "{}", error::to_json(&f, &out_version));
            let _ = stdout.flush();
            ExitCode::from(1)
        }
    }
}

fn dispatch(env: &Env, stdin: &[u8]) -> Result<Option<Value>> {
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
        return Err(Error::env(why.clone()));
    }
    let conf = config::parse(stdin, env.args.mac.as_deref())?;
    let needs = |ok: bool, since: &str| -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(Error::new(
                Kind::IncompatibleVersion,
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
