//! A web server for probes to probe, controlled by the test: it answers after a delay, with
//! a chosen status, or closes every connection at once; and it counts the connections it
//! accepted (one per probe run).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

/// A probe target running on a thread of the test process.
pub struct Target {
    pub addr: String,
    /// Wait before answering, in ms.
    pub delay_ms: Arc<AtomicU64>,
    /// Close connections at once rather than answer.
    pub refuse: Arc<AtomicBool>,
    /// The HTTP status answered (200 at start).
    pub status: Arc<AtomicU16>,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicU64>,
}

impl Target {
    /// Starts the server on 127.0.0.1 with an ephemeral port. The thread lives as long as the
    /// test process.
    pub fn start() -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let target = Target {
            addr,
            delay_ms: Arc::new(AtomicU64::new(0)),
            refuse: Arc::new(AtomicBool::new(false)),
            status: Arc::new(AtomicU16::new(200)),
            accepted: Arc::new(AtomicU64::new(0)),
        };
        let (d, r, s, a) = (
            target.delay_ms.clone(),
            target.refuse.clone(),
            target.status.clone(),
            target.accepted.clone(),
        );
        std::thread::spawn(move || {
            loop {
                match listener.accept() {
                    Ok((conn, _)) if r.load(Ordering::Relaxed) => {
                        a.fetch_add(1, Ordering::SeqCst);
                        drop(conn)
                    }
                    Ok((mut conn, _)) => {
                        a.fetch_add(1, Ordering::SeqCst);
                        let (d, s) = (d.clone(), s.clone());
                        std::thread::spawn(move || {
                            let _ = conn.set_nonblocking(false);
                            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                            let mut buf = [0u8; 4096];
                            let _ = conn.read(&mut buf);
                            std::thread::sleep(Duration::from_millis(d.load(Ordering::Relaxed)));
                            let status = s.load(Ordering::Relaxed);
                            let _ = conn.write_all(
                                format!(
                                    "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                                )
                                .as_bytes(),
                            );
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        target
    }
}
