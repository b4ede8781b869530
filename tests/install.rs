//! `make install` / `make uninstall` into a throwaway DESTDIR put every file
//! where the README says and take them away again; `make deb` builds a
//! package whose contents, control data and binary are checked with
//! `dpkg-deb` (nothing is installed on this machine).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{TempDir, hostnet_bin, run, run_ok, stderr};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every path under `root` (files, links, directories), relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir {
                walk(root, &p, out);
            } else {
                out.push(format!("/{rel}"));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn make(args: &[&str]) -> String {
    run_ok(
        Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(repo())
            .args(args),
    )
}

fn man_pages() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(repo().join("man"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".8"))
        .collect();
    v.sort();
    v
}

/// What the README's "Install" section lists, for PREFIX and the CNI dirs.
fn expected(prefix: &str, cni_dirs: &[&str]) -> Vec<String> {
    let mut want = vec![
        format!("{prefix}/sbin/hostnet"),
        format!("{prefix}/lib/systemd/system/hostnet.service"),
        format!("{prefix}/lib/systemd/system/hostnet-nftables.service"),
        format!("{prefix}/share/bash-completion/completions/hostnet"),
        format!("{prefix}/share/zsh/site-functions/_hostnet"),
        format!("{prefix}/share/fish/vendor_completions.d/hostnet.fish"),
    ];
    for m in man_pages() {
        want.push(format!("{prefix}/share/man/man8/{m}"));
    }
    for d in cni_dirs {
        want.push(format!("{d}/hostnet"));
    }
    want.sort();
    want
}

#[test]
fn make_install_and_uninstall_into_destdir() {
    let bin = hostnet_bin();
    let bin = format!("BIN={}", bin.display());

    // defaults: PREFIX=/usr/local; the CNI link in each of /opt/cni/bin and
    // /usr/lib/cni that exists here, else /opt/cni/bin
    let dest = TempDir::new("inst");
    let destdir = format!("DESTDIR={}", dest.str());
    make(&["install", "NO_BUILD=1", &bin, &destdir]);
    let mut cni: Vec<&str> = ["/opt/cni/bin", "/usr/lib/cni"]
        .into_iter()
        .filter(|d| Path::new(d).is_dir())
        .collect();
    if cni.is_empty() {
        cni.push("/opt/cni/bin");
    }
    assert_eq!(tree(&dest.path), expected("/usr/local", &cni));
    for d in &cni {
        let link = dest.path.join(d.trim_start_matches('/')).join("hostnet");
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            PathBuf::from("/usr/local/sbin/hostnet"),
            "{}",
            link.display()
        );
    }
    let unit =
        std::fs::read_to_string(dest.join("usr/local/lib/systemd/system/hostnet.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/sbin/hostnet init"),
        "the unit runs the installed binary: {unit}"
    );
    let out = run(Command::new(dest.join("usr/local/sbin/hostnet")).arg("--version"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("hostnet "));
    let comp =
        std::fs::read_to_string(dest.join("usr/local/share/bash-completion/completions/hostnet"))
            .unwrap();
    assert!(comp.contains("portmap"), "bash completion generated");

    make(&["uninstall", &destdir]);
    assert_eq!(
        tree(&dest.path),
        Vec::<String>::new(),
        "uninstall removes every file"
    );

    // PREFIX=/usr and CNI_BIN_DIR
    let dest = TempDir::new("inst2");
    let destdir = format!("DESTDIR={}", dest.str());
    make(&[
        "install",
        "NO_BUILD=1",
        &bin,
        &destdir,
        "PREFIX=/usr",
        "CNI_BIN_DIR=/srv/cni",
    ]);
    assert_eq!(tree(&dest.path), expected("/usr", &["/srv/cni"]));
    make(&["uninstall", &destdir, "PREFIX=/usr", "CNI_BIN_DIR=/srv/cni"]);
    assert_eq!(tree(&dest.path), Vec::<String>::new());
}

/// `make deb` (a release build and cargo-deb, reused when up to date): the
/// package holds the binary, units, man pages and completions; depends on
/// libnftnl11 and libmnl0; its scripts enable the units and start nothing;
/// and the extracted binary runs.
#[test]
fn make_deb_builds_a_package_that_runs() {
    make(&["deb"]);
    let debs: Vec<PathBuf> = std::fs::read_dir(repo().join("target/debian"))
        .expect("target/debian")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with(&format!("hostnet_{}", env!("CARGO_PKG_VERSION")))
                    && n.ends_with(".deb")
            })
        })
        .collect();
    assert_eq!(debs.len(), 1, "one package: {debs:?}");
    let deb = debs[0].to_str().unwrap();

    let contents = run_ok(Command::new("dpkg-deb").args(["-c", deb]));
    let mut want = vec![
        "./usr/sbin/hostnet".to_string(),
        "./usr/lib/systemd/system/hostnet.service".into(),
        "./usr/lib/systemd/system/hostnet-nftables.service".into(),
        "./usr/share/bash-completion/completions/hostnet".into(),
        "./usr/share/zsh/vendor-completions/_hostnet".into(),
        "./usr/share/fish/vendor_completions.d/hostnet.fish".into(),
    ];
    for m in man_pages() {
        want.push(format!("./usr/share/man/man8/{m}.gz"));
    }
    for w in &want {
        assert!(
            contents.contains(w.as_str()),
            "{w} in the package:\n{contents}"
        );
    }

    let control = run_ok(Command::new("dpkg-deb").args(["-f", deb, "Depends"]));
    for dep in ["libnftnl11", "libmnl0"] {
        assert!(control.contains(dep), "depends on {dep}: {control}");
    }
    let x = TempDir::new("debx");
    run_ok(Command::new("dpkg-deb").args(["-e", deb, x.join("DEBIAN").to_str().unwrap()]));
    let postinst = std::fs::read_to_string(x.join("DEBIAN/postinst")).unwrap();
    let code: String = postinst
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    for unit in ["hostnet.service", "hostnet-nftables.service"] {
        assert!(
            code.contains(&format!("deb-systemd-helper enable {unit}")),
            "postinst enables {unit}:\n{postinst}"
        );
    }
    for start in [
        "deb-systemd-invoke",
        "systemctl start",
        "systemctl restart",
        "invoke-rc.d",
    ] {
        assert!(
            !code.contains(start),
            "postinst starts nothing ({start}):\n{postinst}"
        );
    }
    assert!(
        postinst.contains("/usr/sbin/hostnet \"$d/hostnet\""),
        "CNI link"
    );

    run_ok(Command::new("dpkg-deb").args(["-x", deb, x.str()]));
    let out = run(Command::new(x.join("usr/sbin/hostnet")).arg("--version"));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!(
            "hostnet {}\nCNI versions: ",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
}
