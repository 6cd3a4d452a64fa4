//! A fault-injecting TCP proxy, to cut a region off from the centre without touching the
//! machine's network: the region's clients dial the proxy instead of the broker (and brokers
//! dial the region's members through theirs). Cut, it stops moving bytes in both directions
//! and holds new connections without connecting them, as a link that drops every packet
//! would: peers notice only by their own timeouts and keepalives. Healed, bytes flow again.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A TCP proxy to one target, stopped on drop.
pub struct Proxy {
    /// Where clients connect.
    pub addr: String,
    cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

fn pump(mut from: TcpStream, mut to: TcpStream, cut: Arc<AtomicBool>, stop: Arc<AtomicBool>) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = vec![0u8; 32 * 1024];
    while !stop.load(Ordering::Relaxed) {
        if cut.load(Ordering::Relaxed) {
            // Read nothing: the sender's buffers fill and its peer hears nothing.
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

impl Proxy {
    /// A proxy on a free loopback port forwarding to `target`.
    pub fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a proxy port");
        let addr = listener.local_addr().expect("bound address").to_string();
        let cut = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let target = target.to_string();
        let (c, s) = (cut.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let (c, s, target) = (c.clone(), s.clone(), target.clone());
                std::thread::spawn(move || {
                    // A connection made while cut waits, unconnected, for the heal.
                    while c.load(Ordering::Relaxed) && !s.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    let Ok(upstream) = TcpStream::connect(&target) else {
                        return;
                    };
                    let _ = upstream.set_nodelay(true);
                    let _ = client.set_nodelay(true);
                    let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
                        return;
                    };
                    let (cc, ss) = (c.clone(), s.clone());
                    std::thread::spawn(move || pump(c2, upstream, cc, ss));
                    pump(u2, client, c, s);
                });
            }
        });
        Proxy { addr, cut, stop }
    }

    /// Stops moving bytes, as a link that drops everything.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
    }

    /// Moves bytes again.
    pub fn heal(&self) {
        self.cut.store(false, Ordering::Relaxed);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // wake the accept loop
        let _ = TcpStream::connect(&self.addr);
    }
}
