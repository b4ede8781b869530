//! The man pages in man/ are generated from the clap definitions; this test
//! fails when they are stale. `make man` (HOSTNET_UPDATE_MAN=1) rewrites them.

use std::path::Path;

use clap::CommandFactory;
use hostnet::cli::Cli;

fn render(cmd: &clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .section("8")
        .render(&mut out)
        .expect("render man page");
    out
}

/// (file name, contents) for hostnet(8) and one page per subcommand, recursively.
fn pages() -> Vec<(String, Vec<u8>)> {
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = format!("{prefix}-{}", sub.get_name());
            // clap wants &'static names; a test process may leak a few strings
            let static_name: &'static str = Box::leak(name.clone().into_boxed_str());
            let sub = sub
                .clone()
                .name(static_name)
                .bin_name(name.replace('-', " "));
            out.push((format!("{name}.8"), render(&sub)));
            walk(&sub, &name, out);
        }
    }
    let mut cmd = Cli::command();
    cmd.build();
    let mut out = vec![("hostnet.8".to_string(), render(&cmd))];
    walk(&cmd, "hostnet", &mut out);
    out
}

#[test]
fn man_pages_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let update = std::env::var_os("HOSTNET_UPDATE_MAN").is_some();
    let mut stale = Vec::new();
    for (name, body) in pages() {
        let path = dir.join(&name);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &body).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(&body[..]) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "stale man pages {stale:?}: run `make man`"
    );
}
