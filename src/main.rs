//! hostnet: dispatch only. With CNI_COMMAND in the environment the binary is a
//! CNI plugin; otherwise it is the command line tool.

use std::process::ExitCode;

use hostnet::cli::{Command, NetworkCommand, PortmapCommand};
use hostnet::cmd::{self, output};

fn main() -> ExitCode {
    // CNI plugin mode: the runtime runs us in the host netns with CNI_* set;
    // only the result or error JSON goes to stdout.
    if std::env::var_os("CNI_COMMAND").is_some() {
        return hostnet::cni::run();
    }
    // no arguments: the CNI version banner (stderr), as the reference plugins print
    if std::env::args_os().len() == 1 {
        hostnet::cni::version_banner();
        return ExitCode::SUCCESS;
    }
    output::default_sigpipe();
    let cli = match output::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let g = &cli.global;
    let result = (|| {
        cmd::enter_netns(g)?;
        match &cli.command {
            Command::Init(a) => cmd::init::run(g, a),
            Command::Status => cmd::status::run(g),
            Command::Check => cmd::check::run(g),
            Command::Teardown(a) => cmd::teardown::run(g, a),
            Command::Gc(a) => cmd::gc::run(g, a),
            Command::Portmap(PortmapCommand::Add(a)) => cmd::portmap::add(g, a),
            Command::Portmap(PortmapCommand::Del(a)) => cmd::portmap::del(g, a),
            Command::Portmap(PortmapCommand::Ls) => cmd::portmap::ls(g),
            Command::Version => cmd::version::run(g),
            Command::Completions(a) => cmd::completions::run(a),
            Command::Network(NetworkCommand::Create(a)) => cmd::network::create(g, a),
            Command::Network(NetworkCommand::Ls(a)) => cmd::network::ls(g, a),
            Command::Network(NetworkCommand::Inspect(a)) => cmd::network::inspect(g, a),
            Command::Network(NetworkCommand::Rm(a)) => cmd::network::rm(g, a),
            Command::Network(NetworkCommand::Prune) => cmd::network::prune(g),
        }
    })();
    output::finish(result, g.json)
}
