//! `hostnet check`: the desired state (from disk) against the kernel
//! (`core::drift`). Prints one line per difference and fails (exit 1) when
//! there is any; warnings do not change the exit status.

use serde_json::json;

use crate::cli::Global;
use crate::core::drift::{self, Difference};
use crate::error::{Error, Kind, Result};

pub fn run(g: &Global) -> Result<()> {
    let store = super::store(g);
    let found = drift::check(&store)?;
    let mut diffs: Vec<String> = found.differences.iter().map(with_fix).collect();
    for o in &found.leftovers {
        diffs.push(format!("leftover {o} (fix: hostnet gc)"));
    }
    let warns = found.warnings;
    if g.json {
        println!(
            "{}",
            json!({ "ok": diffs.is_empty(), "differences": diffs, "warnings": warns })
        );
    } else {
        if diffs.is_empty() {
            println!("ok: the kernel matches hostnet's state");
        }
        for d in &diffs {
            println!("{d}");
        }
        if !diffs.is_empty() {
            println!("(hostnet init repairs every difference above)");
        }
        for w in &warns {
            println!("warning: {w}");
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(Error::new(
            Kind::Differences,
            format!(
                "{} difference(s) between hostnet's state and the kernel",
                diffs.len()
            ),
        ))
    }
}

/// A difference's line: a sysctl's also says what its value breaks and how
/// to set it by hand (init repairs every difference).
fn with_fix(d: &Difference) -> String {
    match d {
        Difference::Sysctl {
            key, want, breaks, ..
        } => format!("{d}: {breaks} (fix: hostnet init, or sysctl -w {key}={want})"),
        Difference::Other(line) => line.clone(),
    }
}
