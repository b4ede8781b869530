//! How the command line ends: SIGPIPE handling, the parse of the arguments
//! (clap errors as JSON under `--json`), and an error as one line on stderr
//! plus, under `--json`, one JSON document on stdout. The exit code comes
//! from the error's kind (`Kind::exit_code`, the table in hostnet(8)).

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::Cli;
use crate::error::{EXIT_INVALID, Error, Kind};

/// A closed stdout (`hostnet portmap ls | head -1`) ends the process quietly,
/// killed by SIGPIPE as other tools are, instead of a panic on EPIPE. Only
/// for the command line: in CNI mode SIGPIPE stays ignored and the plugin
/// ignores write errors, so its exit status still tells the runtime the truth.
pub fn default_sigpipe() {
    // SAFETY: setting a signal's disposition to the default has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Whether `--json` is among the raw arguments (for errors before parsing).
fn json_requested() -> bool {
    std::env::args_os().skip(1).any(|a| a == "--json")
}

/// The parsed command line, or the exit after help, version or a usage error
/// (exit 2; under `--json` the error as a JSON document).
pub fn parse() -> Result<Cli, ExitCode> {
    let mut cmd = Cli::command();
    if std::env::args_os()
        .skip(1)
        .any(|a| a == "--version" || a == "-V")
    {
        // only then probe the kernel: `--version` prints what `hostnet version` does
        let text: &'static str = Box::leak(crate::cmd::version::text().into_boxed_str());
        cmd = cmd.version(text).long_version(text);
    }
    let parsed = cmd
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    match parsed {
        Ok(cli) => Ok(cli),
        Err(e) => {
            use clap::error::ErrorKind;
            let asked = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
            if asked || !json_requested() {
                let _ = e.print();
                // help and version asked for: 0; a usage error (or a bare
                // `hostnet portmap`, which shows help): 2
                return Err(if asked {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_INVALID)
                });
            }
            let text = e.to_string();
            let msg = text
                .lines()
                .find_map(|l| l.strip_prefix("error:"))
                .unwrap_or(text.trim())
                .trim()
                .to_string();
            Err(fail(&Error::invalid(msg), true))
        }
    }
}

/// Report an error: one line on stderr; with `json`, also the error document
/// on stdout (not for `check`'s differences: its document is already printed).
pub fn fail(e: &Error, json: bool) -> ExitCode {
    eprintln!("hostnet: {e}");
    if json && e.kind != Kind::Differences {
        println!("{}", e.to_json());
    }
    ExitCode::from(e.exit_code())
}

/// The exit code of a command's result.
pub fn finish(result: crate::error::Result<()>, json: bool) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, json),
    }
}
