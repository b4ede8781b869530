//! Packet path: new TCP connections per second from an "outside" namespace to
//! a mapped host port, DNAT'd to a server in a container namespace. Client and
//! server are threads of this process, each in its namespace and pinned to
//! its own CPU. Every connection: connect, read one byte the server sends,
//! close with an RST (SO_LINGER 0) so neither side piles up TIME_WAIT.
//! Loops are bounded by time and by count.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hostnet::kernel::netns;

use crate::R;
use crate::ns::check_interrupted;

const MAX_CONNS_PER_REP: usize = 200_000;

pub fn pin_to_cpu(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; affinity of the calling thread only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn enter(path: &Path) -> R<()> {
    netns::enter_process(path).map_err(|e| e.to_string())
}

fn linger0(s: &TcpStream) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt with a correctly sized struct on an open socket.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &l as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as u32,
        );
    }
}

/// A one-byte TCP server on 0.0.0.0:port in `ns`, pinned to `cpu`, until dropped.
pub struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(ns: PathBuf, port: u16, cpu: usize) -> R<Server> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel::<R<()>>();
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let listener = (|| -> R<TcpListener> {
                enter(&ns)?;
                pin_to_cpu(cpu);
                let l = TcpListener::bind(("0.0.0.0", port))
                    .map_err(|e| format!("bind :{port}: {e}"))?;
                // accept() honours SO_RCVTIMEO: wake up every 100 ms to check `stop`
                let tv = libc::timeval {
                    tv_sec: 0,
                    tv_usec: 100_000,
                };
                // SAFETY: setsockopt with a correctly sized struct on an open socket.
                unsafe {
                    libc::setsockopt(
                        l.as_raw_fd(),
                        libc::SOL_SOCKET,
                        libc::SO_RCVTIMEO,
                        &tv as *const _ as *const libc::c_void,
                        std::mem::size_of::<libc::timeval>() as u32,
                    );
                }
                Ok(l)
            })();
            let listener = match listener {
                Ok(l) => {
                    let _ = tx.send(Ok(()));
                    l
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            while !s.load(Ordering::Relaxed) {
                if let Ok((mut c, _)) = listener.accept() {
                    let _ = c.write_all(b"x");
                }
            }
        });
        rx.recv().map_err(|_| "server thread died".to_string())??;
        Ok(Server {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn one_conn(target: SocketAddr) -> R<()> {
    let mut s = TcpStream::connect_timeout(&target, Duration::from_secs(2))
        .map_err(|e| format!("connect {target}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b)
        .map_err(|e| format!("read from {target}: {e}"))?;
    linger0(&s);
    Ok(())
}

/// From `client_ns` (pinned to `cpu`): `warmup` connections, then `reps`
/// rounds of `secs` seconds each; conn/s per round.
pub fn conn_rate(
    client_ns: PathBuf,
    target: SocketAddr,
    cpu: usize,
    warmup: usize,
    secs: f64,
    reps: usize,
) -> R<Vec<f64>> {
    std::thread::spawn(move || -> R<Vec<f64>> {
        enter(&client_ns)?;
        pin_to_cpu(cpu);
        for _ in 0..warmup {
            one_conn(target)?;
        }
        let mut rates = Vec::new();
        for _ in 0..reps {
            check_interrupted()?;
            let limit = Duration::from_secs_f64(secs);
            let start = Instant::now();
            let mut n = 0usize;
            while n < MAX_CONNS_PER_REP {
                one_conn(target)?;
                n += 1;
                if n.is_multiple_of(64) && start.elapsed() >= limit {
                    break;
                }
            }
            rates.push(n as f64 / start.elapsed().as_secs_f64());
        }
        Ok(rates)
    })
    .join()
    .map_err(|_| "client thread panicked".to_string())?
}
