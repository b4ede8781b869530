//! `hostnet teardown`: remove exactly what hostnet created (`core::teardown`);
//! `--dry-run` prints what it would do.

use crate::cli::{Global, TeardownArgs};
use crate::core::teardown::{self, Options};
use crate::error::Result;

pub fn run(g: &Global, args: &TeardownArgs) -> Result<()> {
    let store = super::store(g);
    let opts = Options {
        restore_sysctl: args.restore_sysctl,
        default_state: g.state_dir == std::path::Path::new(crate::cli::DEFAULT_STATE_DIR),
    };
    let lines = teardown::teardown(&store, &opts, args.dry_run)?;
    if args.dry_run {
        if g.json {
            println!(
                "{}",
                serde_json::json!({ "dry_run": true, "actions": lines })
            );
        } else if lines.is_empty() {
            println!("# nothing to remove");
        }
        if !g.json {
            for a in &lines {
                println!("would {a}");
            }
        }
        return Ok(());
    }
    if g.json {
        println!("{}", serde_json::json!({ "actions": lines }));
    } else if lines.is_empty() {
        println!("nothing to remove");
    } else {
        for line in &lines {
            println!("{line}");
        }
    }
    Ok(())
}
