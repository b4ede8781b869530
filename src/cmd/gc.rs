//! `hostnet gc`: release what no live container accounts for, found from
//! the state and the kernel alone (see `core::orphans`), under the host lock.
//! `--dry-run` lists it and changes nothing.

use serde_json::json;

use crate::cli::{GcArgs, Global};
use crate::core::orphans;
use crate::error::{Error, Kind, Result};

pub fn run(g: &Global, args: &GcArgs) -> Result<()> {
    let store = super::store(g);
    let (lines, problems) = orphans::gc(&store, args.dry_run)?;
    if g.json {
        println!(
            "{}",
            json!({ "dry_run": args.dry_run, "released": lines, "problems": problems })
        );
    } else {
        let verb = if args.dry_run {
            "would release"
        } else {
            "released"
        };
        if lines.is_empty() {
            println!("nothing to release");
        }
        for l in &lines {
            println!("{verb} {l}");
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::new(Kind::Io, format!("gc: {}", problems.join("; "))))
    }
}
