//! Harness for tests that start Strata's real binaries on 127.0.0.1 with port 0.
//!
//! Each daemon prints `... listening grpc=ADDR` (or `http=ADDR`) on its first stdout line;
//! [`Proc::start`] waits for it with a deadline and reads the bound address from it, and kills
//! the process on drop, so that a failing test leaves nothing running. Logs go to files in
//! the test's temporary directory and are printed when a wait fails.
//!
//! The binaries must be built first (`cargo build --workspace --bins`; `make test` does it).

pub mod alertmanager;
pub mod proxy;
pub mod sinks;
pub mod target;
pub mod webdriver;

pub use proxy::Proxy;
pub use target::Target;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Path of a workspace binary next to the running test's target directory.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let mut dir = exe
        .parent()
        .expect("test executable directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (`make test` does)",
        path.display()
    );
    path
}

/// A running daemon, killed (SIGKILL) and reaped on drop.
pub struct Proc {
    pub name: String,
    /// The address from the daemon's `listening` line.
    pub addr: String,
    /// That whole first line (more addresses may follow the first).
    pub first_line: String,
    child: Child,
    log: PathBuf,
    binary: String,
    args: Vec<String>,
}

impl Proc {
    /// Starts `binary` with `args`, logging stderr to `<dir>/<name>.log`, and waits up to 30 s
    /// for its `listening <kind>=ADDR` line.
    pub fn start(name: &str, binary: &str, args: &[&str], dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (child, addr, first_line) = Self::spawn(name, binary, &args, &log);
        Proc {
            name: name.to_string(),
            addr,
            first_line,
            child,
            log,
            binary: binary.to_string(),
            args,
        }
    }

    /// Starts the daemon again with the same arguments (after [`Proc::kill`]), appending to
    /// its log; its address is read afresh.
    pub fn restart(&mut self) {
        self.kill();
        let (child, addr, first_line) =
            Self::spawn(&self.name, &self.binary, &self.args, &self.log);
        self.child = child;
        self.addr = addr;
        self.first_line = first_line;
    }

    fn spawn(name: &str, binary: &str, args: &[String], log: &Path) -> (Child, String, String) {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open log file");
        let mut child = Command::new(bin(binary))
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{name} did not report its address within 30 s; log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            }
        };
        let addr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("grpc=").or_else(|| w.strip_prefix("http=")))
            .unwrap_or_else(|| panic!("{name}: no address in its first line '{line}'"))
            .to_string();
        (child, addr, line)
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the daemon with SIGKILL, as a crash would, and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits up to `grace` for a clean exit; returns whether it exited 0.
    pub fn terminate(&mut self, grace: Duration) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `strata sim` as `name`: `agents` simulated agents `<prefix>0001`... on a fixed
/// free port (so that a restart keeps it), sampling every 500 ms, registered with `broker`
/// for `region`.
pub fn start_sim(
    name: &str,
    prefix: &str,
    agents: usize,
    broker: &str,
    region: &str,
    dir: &Path,
) -> Proc {
    Proc::start(
        name,
        "strata",
        &[
            "sim",
            "--agents",
            &agents.to_string(),
            "--prefix",
            prefix,
            "--listen",
            &free_addr(),
            "--interval",
            "500ms",
            "--brokers",
            broker,
            "--region",
            region,
        ],
        dir,
    )
}

/// Starts `strata-broker` on an ephemeral port.
pub fn start_broker(dir: &Path) -> Proc {
    let cfg = write_config(dir, "broker.toml", "listen = \"127.0.0.1:0\"\n");
    Proc::start("broker", "strata-broker", &["--config", &cfg], dir)
}

/// Starts `strata-sub-manager` `id` of `region` with `broker`, polling every `poll` (its
/// store in `<dir>/<id>`).
pub fn start_sub_manager(id: &str, region: &str, broker: &str, poll: &str, dir: &Path) -> Proc {
    let cfg = write_config(
        dir,
        &format!("{id}.toml"),
        &format!(
            "id = \"{id}\"\nregion = \"{region}\"\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n\
             brokers = [\"{broker}\"]\n[poll]\ninterval = \"{poll}\"\nbackoff_max = \"1s\"\n",
            dir.join(id).display(),
        ),
    );
    Proc::start(id, "strata-sub-manager", &["--config", &cfg], dir)
}

/// Starts `strata-agent` `web-1`, registered with `broker` for `region`, whose check
/// `shop-http` probes `url` every `interval` (`extra`: more TOML lines of the check).
pub fn start_probing_agent(
    broker: &str,
    region: &str,
    url: &str,
    interval: &str,
    extra: &str,
    dir: &Path,
) -> Proc {
    let cfg = write_config(
        dir,
        "agent.toml",
        &format!(
            "id = \"web-1\"\nlisten = \"127.0.0.1:0\"\ncollect_interval = \"1s\"\n\
             [registration]\nbrokers = [\"{broker}\"]\nregion = \"{region}\"\n\
             [[checks]]\nname = \"shop-http\"\nkind = \"http\"\nurl = \"{url}\"\n\
             interval = \"{interval}\"\n{extra}",
        ),
    );
    Proc::start("agent", "strata-agent", &["--config", &cfg], dir)
}

/// Starts `strata-super-manager` following `brokers`, its store in `<dir>/super`, with
/// `extra` TOML lines appended to its config.
pub fn start_super_manager(brokers: &[&str], extra: &str, dir: &Path) -> Proc {
    let list = brokers
        .iter()
        .map(|b| format!("\"{b}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let cfg = write_config(
        dir,
        "super.toml",
        &format!(
            "http = \"127.0.0.1:0\"\nbrokers = [{list}]\ndata_dir = \"{}\"\n{extra}",
            dir.join("super").display()
        ),
    );
    Proc::start(
        "super-manager",
        "strata-super-manager",
        &["--config", &cfg],
        dir,
    )
}

/// Runs `f` to completion on a runtime of its own (tests are synchronous).
pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(f)
}

/// Polls `check` every 200 ms until it returns Some or `within` passes; panics with `what`
/// and the last observation on timeout.
pub fn wait_for<T>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + within;
    let mut last = String::from("never checked");
    while Instant::now() < deadline {
        match check() {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {within:?} waiting for {what}; last: {last}");
}

/// A minimal HTTP/1.1 GET: returns the status code and body.
pub fn http_get(addr: &str, path: &str) -> Result<(u16, String), String> {
    http_request(addr, "GET", path, "")
}

/// Connects to `addr` and sends one HTTP/1.1 request with a JSON `body`, reads timing out
/// after `timeout`; returns the stream to read the answer from.
pub fn send_request(
    addr: &str,
    method: &str,
    path: &str,
    body: &str,
    timeout: Duration,
) -> Result<TcpStream, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).ok();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| format!("send {method} {path}: {e}"))?;
    Ok(stream)
}

/// A minimal HTTP/1.1 request with a JSON body (empty for none): the status code and body.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, String), String> {
    let mut stream = send_request(addr, method, path, body, Duration::from_secs(10))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read {method} {path}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no header end")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in '{head}'"))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// GET `path` and parse the body as JSON, requiring status 200.
pub fn get_json(addr: &str, path: &str) -> Result<serde_json::Value, String> {
    let (status, body) = http_get(addr, path)?;
    if status != 200 {
        return Err(format!("GET {path}: {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("GET {path}: bad JSON: {e}: {body}"))
}

/// Writes `text` to `<dir>/<name>` and returns the path as a string.
pub fn write_config(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path.to_string_lossy().into_owned()
}

/// A loopback address with a port that was free a moment ago, for daemons that do not report
/// the address of a second listener (such as `metrics_listen`).
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("bound address").to_string()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    strata_proto::now_ms()
}
