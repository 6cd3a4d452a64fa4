//! Receivers of notifications, written for the tests: an SMTP sink that keeps every message
//! it is sent, and a webhook receiver that counts requests and can fail the first ones.
//! Both serve on 127.0.0.1 with an ephemeral port, on threads of their own, and stop when
//! dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A listener served by `handle` on a thread, until dropped.
struct Server {
    addr: String,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a sink");
        let addr = listener.local_addr().expect("an address").to_string();
        listener.set_nonblocking(true).expect("non-blocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = Arc::new(handle);
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).ok();
                        stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
                        let handle = handle.clone();
                        std::thread::spawn(move || handle(stream));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Self { addr, stop }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One e-mail as the sink received it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body, as sent after DATA.
    pub data: String,
}

impl Mail {
    /// The Subject header's value, unfolded (a long one is continued on indented lines).
    pub fn subject(&self) -> String {
        let mut lines = self
            .data
            .lines()
            .skip_while(|l| !l.starts_with("Subject: "));
        let Some(first) = lines.next() else {
            return String::new();
        };
        let mut subject = first["Subject: ".len()..].to_string();
        for more in lines.take_while(|l| l.starts_with([' ', '\t'])) {
            subject.push(' ');
            subject.push_str(more.trim_start());
        }
        subject
    }
}

/// An SMTP server that accepts every message (no STARTTLS offered, no authentication).
pub struct SmtpSink {
    server: Server,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    /// Starts the sink.
    pub fn start() -> Self {
        let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let kept = mails.clone();
        let server = Server::start(move |stream| {
            if let Some(mail) = smtp_session(stream)
                && !mail.is_empty()
            {
                kept.lock().unwrap().extend(mail);
            }
        });
        Self { server, mails }
    }

    /// `host:port`.
    pub fn addr(&self) -> &str {
        &self.server.addr
    }

    /// The messages received so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

fn smtp_session(stream: TcpStream) -> Option<Vec<Mail>> {
    let mut out = stream.try_clone().ok()?;
    let mut lines = BufReader::new(stream);
    let mut say = |text: &str| out.write_all(format!("{text}\r\n").as_bytes()).ok();
    say("220 sink.test ESMTP test sink")?;
    let mut mails = Vec::new();
    let mut current = Mail {
        from: String::new(),
        to: Vec::new(),
        data: String::new(),
    };
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line).ok()? == 0 {
            return Some(mails);
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            say("250-sink.test")?;
            say("250 8BITMIME")?;
        } else if upper.starts_with("HELO") {
            say("250 sink.test")?;
        } else if let Some(from) = upper.strip_prefix("MAIL FROM:") {
            current.from = command[command.len() - from.len()..].trim().to_string();
            say("250 OK")?;
        } else if let Some(to) = upper.strip_prefix("RCPT TO:") {
            current
                .to
                .push(command[command.len() - to.len()..].trim().to_string());
            say("250 OK")?;
        } else if upper == "DATA" {
            say("354 end with <CRLF>.<CRLF>")?;
            loop {
                let mut l = String::new();
                if lines.read_line(&mut l).ok()? == 0 {
                    return Some(mails);
                }
                if l == ".\r\n" || l == ".\n" {
                    break;
                }
                current.data.push_str(&l);
            }
            mails.push(std::mem::replace(
                &mut current,
                Mail {
                    from: String::new(),
                    to: Vec::new(),
                    data: String::new(),
                },
            ));
            say("250 OK queued")?;
        } else if upper == "QUIT" {
            say("221 bye")?;
            return Some(mails);
        } else if upper == "RSET" || upper == "NOOP" {
            say("250 OK")?;
        } else {
            say("502 not implemented")?;
        }
    }
}

/// A request's headers, as received.
type Headers = Vec<(String, String)>;

/// An HTTP receiver of webhooks: answers 500 to the first `fail_first` requests, then 200;
/// keeps every request's headers and body.
pub struct WebhookReceiver {
    server: Server,
    requests: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<String>>>,
    headers: Arc<Mutex<Vec<Headers>>>,
}

impl WebhookReceiver {
    /// Starts a receiver that fails the first `fail_first` requests (usize::MAX: all).
    pub fn start(fail_first: usize) -> Self {
        let requests = Arc::new(AtomicUsize::new(0));
        let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
        let headers: Arc<Mutex<Vec<Headers>>> = Arc::default();
        let (count, kept, kept_headers) = (requests.clone(), bodies.clone(), headers.clone());
        let server = Server::start(move |stream| {
            let Some((head, body)) = read_http_request(&stream) else {
                return;
            };
            let n = count.fetch_add(1, Ordering::SeqCst);
            kept.lock().unwrap().push(body);
            kept_headers.lock().unwrap().push(head);
            let status = if n < fail_first {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let mut out = &stream;
            let _ = out.write_all(
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            );
        });
        Self {
            server,
            requests,
            bodies,
            headers,
        }
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// Requests received so far (failed ones included).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The bodies received so far.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }

    /// The value of header `name` (any case) in each request received so far.
    pub fn header(&self, name: &str) -> Vec<Option<String>> {
        self.headers
            .lock()
            .unwrap()
            .iter()
            .map(|h| {
                h.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            })
            .collect()
    }
}

/// The pseudo-header under which a receiver keeps a request's first line
/// (`GET /send?to=... HTTP/1.1`).
pub const REQUEST_LINE: &str = ":request";

/// Reads one HTTP request's headers and body (by its content-length); the request line is
/// kept as the header [`REQUEST_LINE`].
fn read_http_request(stream: &TcpStream) -> Option<(Headers, String)> {
    let mut reader = BufReader::new(stream);
    let mut length = 0usize;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if headers.is_empty() {
            headers.push((REQUEST_LINE.to_string(), line.to_string()));
        } else if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok()?;
            }
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((headers, String::from_utf8_lossy(&body).into_owned()))
}
