//! One transaction mechanism for every change: steps done are recorded with
//! their undo; a failure rolls them back in reverse (`fail`), and so does a
//! panic unwinding through the holder (the Drop guard). `commit` keeps them.
//! `plan::execute` (init, network create/rm, teardown), `portmaps` (portmap
//! add and del) and `attach` (ADD) run on it; with a delegated IPAM plugin
//! the CNI ADD holds an outer one around `attach`'s (the plugin's DEL is
//! its undo).

use crate::error::{Error, Result};

type UndoFn<'a> = Box<dyn FnOnce() -> Result<()> + 'a>;

/// Undo steps of a change in progress; rolled back when dropped uncommitted.
#[derive(Default)]
pub struct Transaction<'a> {
    undo: Vec<(String, UndoFn<'a>)>,
}

impl<'a> Transaction<'a> {
    pub fn new() -> Self {
        Transaction { undo: Vec::new() }
    }

    /// A step was done; `undo` puts it back (`what` names it in messages).
    pub fn done(&mut self, what: impl Into<String>, undo: impl FnOnce() -> Result<()> + 'a) {
        self.undo.push((what.into(), Box::new(undo)));
    }

    /// Undo every step, in reverse; returns what could not be undone.
    pub fn roll_back(&mut self) -> Vec<String> {
        let mut failed = Vec::new();
        while let Some((what, undo)) = self.undo.pop() {
            if let Err(e) = undo() {
                failed.push(format!("{what}: {}", e.msg));
            }
        }
        failed
    }

    /// Roll back after `err` and return it, with any undo failures appended.
    pub fn fail(mut self, mut err: Error) -> Error {
        let mut failed = Vec::new();
        while let Some((_, undo)) = self.undo.pop() {
            if let Err(e) = undo() {
                failed.push(e.msg);
            }
        }
        if !failed.is_empty() {
            err.msg = format!(
                "{} (and rolling back failed: {})",
                err.msg,
                failed.join("; ")
            );
        }
        err
    }

    /// Keep everything done.
    pub fn commit(mut self) {
        self.undo.clear();
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        let failed = self.roll_back();
        if !failed.is_empty() {
            eprintln!("hostnet: rolling back failed: {}", failed.join("; "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn fail_undoes_in_reverse_and_reports_undo_failures() {
        let log = RefCell::new(Vec::new());
        let mut t = Transaction::new();
        t.done("one", || {
            log.borrow_mut().push(1);
            Ok(())
        });
        t.done("two", || Err(Error::new(crate::error::Kind::Io, "stuck")));
        t.done("three", || {
            log.borrow_mut().push(3);
            Ok(())
        });
        let e = t.fail(Error::conflict("the step failed"));
        assert_eq!(*log.borrow(), vec![3, 1]);
        assert_eq!(e.kind, crate::error::Kind::Conflict);
        assert_eq!(e.msg, "the step failed (and rolling back failed: stuck)");
    }

    #[test]
    fn a_panic_rolls_back_and_commit_keeps() {
        let log = RefCell::new(Vec::new());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut t = Transaction::new();
            t.done("one", || {
                log.borrow_mut().push(1);
                Ok(())
            });
            panic!("injected");
        }));
        assert!(r.is_err());
        assert_eq!(*log.borrow(), vec![1]);
        let mut t = Transaction::new();
        t.done("two", || {
            log.borrow_mut().push(2);
            Ok(())
        });
        t.commit();
        assert_eq!(*log.borrow(), vec![1], "committed: nothing undone");
    }
}
