//! A fault-injecting TCP proxy, to cut a region off from the centre without touching the
//! machine's network: the region's clients dial the proxy instead of the broker (and brokers
//! dial the region's members through theirs). Cut, it stops moving bytes in both directions
//! and holds new connections without connecting them, as a link that drops every packet
//! would: peers notice only by their own timeouts and keepalives. Healed, bytes flow again.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A TCP proxy to one target, stopped on drop.
pub struct Proxy {
    /// Where clients connect.
    pub addr: String,
    cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    /// Where bytes go; empty until known (connections wait for it, as while cut).
    target: Arc<Mutex<String>>,
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
        let proxy = Self::bind();
        proxy.set_target(target);
        proxy
    }

    /// A proxy on a free loopback port whose target comes later ([`Proxy::set_target`]), for
    /// a daemon that must be told the proxy's address before it reports its own.
    pub fn bind() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a proxy port");
        let addr = listener.local_addr().expect("bound address").to_string();
        let cut = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let target = Arc::new(Mutex::new(String::new()));
        let (c, s, t) = (cut.clone(), stop.clone(), target.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let (c, s, t) = (c.clone(), s.clone(), t.clone());
                std::thread::spawn(move || {
                    // A connection made while cut waits, unconnected, for the heal.
                    let target = loop {
                        let target = t.lock().expect("proxy target lock").clone();
                        if s.load(Ordering::Relaxed) {
                            return;
                        }
                        if !c.load(Ordering::Relaxed) && !target.is_empty() {
                            break target;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    };
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
        Proxy {
            addr,
            cut,
            stop,
            target,
        }
    }

    /// Forwards to `target` from now on.
    pub fn set_target(&self, target: &str) {
        *self.target.lock().expect("proxy target lock") = target.to_string();
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
