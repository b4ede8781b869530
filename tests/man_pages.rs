//! The man pages in man/ are generated from the clap definitions; this test
//! fails when they are stale. `make man` (HOSTNET_UPDATE_MAN=1) rewrites them.

use std::path::Path;

use clap::CommandFactory;
use hostnet::cli::Cli;

/// roff text: backslashes and dashes escaped, no line starting with a dot.
fn roff(text: &str) -> String {
    let t = text.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// clap's NAME, SYNOPSIS, DESCRIPTION, OPTIONS and SUBCOMMANDS, the command's
/// long help after the options as NOTES, then the sections of
/// hostnet::manual (EXAMPLES, EXIT STATUS, FILES, SEE ALSO).
fn render(cmd: &clap::Command, name: &str) -> Vec<u8> {
    let man = clap_mangen::Man::new(cmd.clone()).section("8");
    let mut out = Vec::new();
    man.render_title(&mut out).expect("title");
    man.render_name_section(&mut out).expect("name");
    man.render_synopsis_section(&mut out).expect("synopsis");
    man.render_description_section(&mut out)
        .expect("description");
    man.render_options_section(&mut out).expect("options");
    if cmd.get_subcommands().any(|s| s.get_name() != "help") {
        man.render_subcommands_section(&mut out)
            .expect("subcommands");
    }
    let mut text = String::new();
    if let Some(after) = cmd
        .get_after_long_help()
        .filter(|a| !a.to_string().starts_with("EXIT STATUS:"))
    {
        text += ".SH NOTES\n";
        // the exit-code table of --help is the EXIT STATUS section here
        for para in after
            .to_string()
            .split("\n\n")
            .filter(|p| !p.starts_with("EXIT STATUS:") && !p.starts_with("With --json"))
        {
            text += &format!(".PP\n{}\n", roff(para.trim()));
        }
    }
    for s in hostnet::manual::sections(name) {
        text += &format!(".SH \"{}\"\n", s.title);
        for p in &s.paragraphs {
            match p.strip_prefix("$ ") {
                Some(cmdline) => text += &format!(".IP\n.nf\n\\fB{}\\fR\n.fi\n", roff(cmdline)),
                None => text += &format!(".PP\n{}\n", roff(p)),
            }
        }
    }
    out.extend_from_slice(text.as_bytes());
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
            out.push((format!("{name}.8"), render(&sub, &name)));
            walk(&sub, &name, out);
        }
    }
    let mut cmd = Cli::command();
    cmd.build();
    let mut out = vec![("hostnet.8".to_string(), render(&cmd, "hostnet"))];
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
