//! The timed path: fork+exec of ONE plugin process and its reaping, from a
//! thread that is already inside the right network namespace. stdin, stdout
//! and stderr are files prepared before the clock starts, so nothing but the
//! plugin runs between the two clock reads (no shell, no pipe pumping thread).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::R;

/// One finished process.
pub struct Run {
    pub wall: Duration,
    pub status: ExitStatus,
    /// Peak RSS of the process (and of any child it waited for), KiB.
    pub maxrss_kib: u64,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.status.success()
    }
    pub fn failure(&self, what: &str) -> String {
        format!(
            "{what}: {} stdout: {} stderr: {}",
            self.status,
            self.stdout.trim(),
            self.stderr.trim()
        )
    }
}

/// Per-thread scratch files for stdin/stdout/stderr.
pub struct Scratch {
    stdin: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Scratch {
    pub fn new(dir: &Path, tag: &str) -> Scratch {
        Scratch {
            stdin: dir.join(format!("{tag}.in")),
            stdout: dir.join(format!("{tag}.out")),
            stderr: dir.join(format!("{tag}.err")),
        }
    }
}

fn read_all(mut f: File) -> String {
    let mut s = String::new();
    let _ = f.seek(SeekFrom::Start(0));
    let _ = f.read_to_string(&mut s);
    s
}

/// Run `cmd` with `input` on stdin; time spawn..reap; collect rusage.
pub fn timed(cmd: &mut Command, input: &[u8], scratch: &Scratch) -> R<Run> {
    let open_rw = |p: &Path| {
        File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(p)
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let mut stdin = open_rw(&scratch.stdin)?;
    stdin.write_all(input).map_err(|e| e.to_string())?;
    stdin.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let stdout = open_rw(&scratch.stdout)?;
    let stderr = open_rw(&scratch.stderr)?;
    cmd.stdin(Stdio::from(stdin))
        .stdout(Stdio::from(stdout.try_clone().map_err(|e| e.to_string())?))
        .stderr(Stdio::from(stderr.try_clone().map_err(|e| e.to_string())?));

    let start = Instant::now();
    let child = cmd.spawn().map_err(|e| format!("spawning {cmd:?}: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; wait4 on our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = loop {
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if rc == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break rc;
    };
    let wall = start.elapsed();
    // the child is reaped; std must not wait for it again (dropping a Child never waits)
    drop(child);
    if rc != pid {
        return Err(format!("wait4 {pid}: {}", std::io::Error::last_os_error()));
    }
    Ok(Run {
        wall,
        status: ExitStatus::from_raw(status),
        maxrss_kib: ru.ru_maxrss.max(0) as u64,
        stdout: read_all(stdout),
        stderr: read_all(stderr),
    })
}
