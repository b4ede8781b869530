//! The layering rule, checked on the sources (no root needed): the CLI
//! (`src/cmd/`) and the CNI plugin (`src/cni/`) are two thin front ends over
//! `src/core/`: they never import each other, nor the kernel layer (every
//! read and change of the host goes through the core); the core imports
//! neither; the kernel layer imports none of the three; `main.rs` only
//! dispatches.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a source file names through `crate::` (code only:
/// comments are skipped), grouped imports (`crate::{a, b::c}`) included.
fn crate_modules(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        found.push(name);
                    }
                }
            } else {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                found.push(name);
            }
            rest = after;
        }
    }
    found
}

fn edges(layer: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root.join(layer), &mut files);
    assert!(!files.is_empty(), "no sources under src/{layer}");
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for m in crate_modules(&text) {
            out.push((f.display().to_string(), m));
        }
    }
    out
}

fn forbid(layer: &str, forbidden: &[&str]) {
    let bad: Vec<String> = edges(layer)
        .into_iter()
        .filter(|(_, m)| forbidden.contains(&m.as_str()))
        .map(|(f, m)| format!("{f} imports crate::{m}"))
        .collect();
    assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
}

#[test]
fn the_cli_does_not_import_the_cni_front_end() {
    forbid("cmd", &["cni"]);
}

#[test]
fn the_cni_front_end_does_not_import_the_cli() {
    forbid("cni", &["cmd", "cli", "output"]);
}

/// No exceptions: what a command reads or changes in the kernel, the core
/// reads or changes for it.
#[test]
fn the_front_ends_do_not_import_the_kernel_layer() {
    forbid("cmd", &["kernel"]);
    forbid("cni", &["kernel"]);
}

#[test]
fn the_core_imports_no_front_end() {
    forbid("core", &["cmd", "cni", "cli", "output"]);
}

#[test]
fn the_kernel_layer_imports_nothing_above_it() {
    forbid("kernel", &["cmd", "cni", "core", "cli", "output"]);
}

#[test]
fn the_scanner_sees_plain_and_grouped_paths() {
    let text =
        "use crate::core::state;\nuse crate::{cni, kernel::nft};\n// crate::cmd in a comment\n";
    assert_eq!(crate_modules(text), vec!["core", "cni", "kernel"]);
}

#[test]
fn main_only_dispatches() {
    let main = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/main.rs");
    let text = std::fs::read_to_string(&main).expect("src/main.rs");
    let fns = text
        .lines()
        .filter(|l| l.trim_start().starts_with("fn ") || l.contains(" fn "))
        .count();
    assert_eq!(fns, 1, "main.rs defines only fn main:\n{text}");
    assert!(
        !text.contains("mod ") && !text.contains("impl "),
        "main.rs declares no modules or types"
    );
    // only the front ends (and their argument types): no core, no kernel
    for m in ["core", "state", "plan", "kernel"] {
        assert!(
            !text.contains(&format!("hostnet::{m}")),
            "main.rs reaches past the front ends (hostnet::{m}):\n{text}"
        );
    }
}
