//! A real Strata daemon started as a child process on port 0.
//!
//! Every daemon prints `... listening grpc=ADDR` (or `http=ADDR`, and more `key=value` pairs
//! such as `console=` and `metrics=`) as its first stdout line; [`Proc`] waits for that line
//! with a deadline and reads the bound addresses from it, so nothing binds a port, drops it
//! and hopes it is still free. A daemon restarted after a kill is pinned to the address it
//! first reported (through its listen variable or option), as a restarted host keeps its
//! address; should the port still be held, the start is retried until a deadline. Logs go to
//! `<dir>/<name>.log`; the child is killed on drop, so a failing test leaves nothing running.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::binary::binary;
use crate::error::{Result, TestkitError};

/// How long a daemon (or a peer) may take to report its address.
pub(crate) const START_WITHIN: Duration = Duration::from_secs(30);
/// How long a restart keeps trying for its pinned port.
const RESTART_WITHIN: Duration = Duration::from_secs(15);

/// How a restarted daemon is told to listen where it listened first.
#[derive(Debug, Clone)]
pub enum Pin {
    /// Not pinned: a restart may listen elsewhere.
    None,
    /// Through this environment variable (e.g. `STRATA_BROKER_LISTEN`).
    Env(&'static str),
    /// Through this command-line option, whose value is replaced (e.g. `--listen`).
    Arg(&'static str),
}

/// What to start: a workspace binary with its arguments and environment.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Names the log file and the messages.
    pub name: String,
    /// A workspace binary (`strata-broker`, `strata`...), found by [`binary`].
    pub binary: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub pin: Pin,
    /// Where the log goes.
    pub dir: PathBuf,
    /// The network namespace it runs in (`ip netns exec`), as a host of a [`crate::netns`]
    /// network; none: this process's.
    pub netns: Option<String>,
}

impl Spec {
    /// Starts `binary` as `name` with `args`, logging into `dir`.
    pub fn new(name: &str, binary: &str, args: &[&str], dir: &Path) -> Self {
        Self {
            name: name.into(),
            binary: binary.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
            pin: Pin::None,
            dir: dir.to_path_buf(),
            netns: None,
        }
    }

    /// Runs it on a host of a [`crate::netns::Network`].
    pub fn netns(mut self, netns: &str) -> Self {
        self.netns = Some(netns.into());
        self
    }

    /// Pins a restart to the first address through `pin`.
    pub fn pin(mut self, pin: Pin) -> Self {
        self.pin = pin;
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// A running daemon, killed (SIGKILL) and reaped on drop.
pub struct Proc {
    pub name: String,
    /// The address from the daemon's `listening` line (`grpc=` or `http=`).
    pub addr: String,
    /// That whole first line.
    pub first_line: String,
    child: Child,
    log: PathBuf,
    spec: Spec,
}

impl Proc {
    /// Starts `binary` with `args`, logging stderr to `<dir>/<name>.log`, and waits up to
    /// 30 s for its `listening` line; panics (with the log) when it does not come.
    pub fn start(name: &str, binary: &str, args: &[&str], dir: &Path) -> Proc {
        Self::spawn(Spec::new(name, binary, args, dir))
    }

    /// Starts `spec`; panics with the daemon's log when it does not report its address.
    pub fn spawn(spec: Spec) -> Proc {
        Self::try_spawn(spec).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts `spec`, or says why it did not report its address.
    pub fn try_spawn(spec: Spec) -> Result<Proc> {
        let log = spec.dir.join(format!("{}.log", spec.name));
        let (child, first_line) = launch(&spec, &spec.args, &spec.env, &log)?;
        let addr = main_addr(&spec.name, &first_line)?;
        Ok(Proc {
            name: spec.name.clone(),
            addr,
            first_line,
            child,
            log,
            spec,
        })
    }

    /// Starts the daemon again with the same arguments (after [`Proc::kill`]), appending to
    /// its log; pinned daemons listen at their first address again.
    pub fn restart(&mut self) {
        self.kill();
        let (mut args, mut env) = (self.spec.args.clone(), self.spec.env.clone());
        match self.spec.pin {
            Pin::None => {}
            Pin::Env(var) => env.push((var.into(), self.addr.clone())),
            Pin::Arg(flag) => {
                if let Some(i) = args.iter().position(|a| a == flag) {
                    args[i + 1] = self.addr.clone();
                }
            }
        }
        let pinned = !matches!(self.spec.pin, Pin::None);
        let deadline = Instant::now() + RESTART_WITHIN;
        loop {
            match launch(&self.spec, &args, &env, &self.log) {
                Ok((child, line)) => {
                    self.addr = main_addr(&self.spec.name, &line).unwrap_or_else(|e| panic!("{e}"));
                    self.first_line = line;
                    self.child = child;
                    return;
                }
                // the pinned port may still be held by a connection of the old process
                Err(TestkitError::Exited { .. }) if pinned && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("restart {}: {e}", self.spec.name),
            }
        }
    }

    /// A `key=value` of the first line (`console`, `metrics`, ...), without a trailing `/`
    /// or scheme.
    pub fn field(&self, key: &str) -> Option<String> {
        fields(&self.first_line).remove(key)
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the daemon with SIGKILL, as a crash would, and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`) to the daemon.
    pub fn signal(&self, signal: &str) -> Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .map_err(|source| TestkitError::Io {
                doing: format!("send SIG{signal} to {}", self.name),
                source,
            })?;
        if status.success() {
            Ok(())
        } else {
            Err(TestkitError::Signal {
                name: self.name.clone(),
                signal: signal.into(),
            })
        }
    }

    /// Sends SIGTERM and waits up to `grace` for a clean exit; returns whether it exited 0.
    pub fn terminate(&mut self, grace: Duration) -> bool {
        if self.signal("TERM").is_err() {
            return false;
        }
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

/// Starts the binary and waits for its first stdout line.
fn launch(
    spec: &Spec,
    args: &[String],
    env: &[(String, String)],
    log: &Path,
) -> Result<(Child, String)> {
    let io = |doing: String| move |source| TestkitError::Io { doing, source };
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io(format!("open log {}", log.display())))?;
    let program = binary(&spec.binary)?;
    let mut command = match &spec.netns {
        Some(netns) => {
            // `ip netns exec` execs the program itself: the child's pid is the daemon's
            let mut c = Command::new("ip");
            c.args(["netns", "exec", netns]).arg(&program);
            c
        }
        None => Command::new(&program),
    };
    let mut child = command
        .args(args)
        .envs(child_env(env, std::env::var("RUST_LOG").ok()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(io(format!("start {}", spec.binary)))?;
    let rx = first_line_of(&mut child);
    let line = await_line(&rx, &mut child, &spec.name, log)?;
    Ok((child, line))
}

/// The first line `child` prints on its piped stdout, when it comes (the rest is read and
/// dropped, so that the child never blocks on a full pipe).
fn first_line_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(first)) = lines.next() {
            let _ = tx.send(first);
        }
        for _ in lines {}
    });
    rx
}

/// Starts `command` (stdout and stderr piped) and returns it with the first line it printed
/// within 30 s (empty when none came), for programs that are not workspace daemons (one run
/// in a chroot, say).
pub fn spawn_first_line(mut command: Command) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
    let line = first_line_of(&mut child)
        .recv_timeout(START_WITHIN)
        .unwrap_or_default();
    (child, line)
}

/// All a finished program printed, stdout then stderr.
pub fn printed(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The line `rx` gives within 30 s; when the child exits or stays silent first, it is
/// reaped (killed if need be) and the error carries its log.
pub(crate) fn await_line(
    rx: &mpsc::Receiver<String>,
    child: &mut Child,
    name: &str,
    log: &Path,
) -> Result<String> {
    let log_text = || std::fs::read_to_string(log).unwrap_or_default();
    match rx.recv_timeout(START_WITHIN) {
        Ok(line) => Ok(line),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let status = child.wait().ok();
            Err(TestkitError::Exited {
                name: name.into(),
                status: format!("{status:?}"),
                log: log_text(),
            })
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(TestkitError::Silent {
                name: name.into(),
                within: START_WITHIN,
                log: log_text(),
            })
        }
    }
}

/// The child's environment: `RUST_LOG` as this process has it (or `info`), then `env`,
/// whose values win (a mesh's log filter, a pinned listen address).
fn child_env(env: &[(String, String)], rust_log: Option<String>) -> Vec<(String, String)> {
    let mut all = vec![(
        "RUST_LOG".to_string(),
        rust_log.unwrap_or_else(|| "info".into()),
    )];
    all.extend(env.iter().cloned());
    all
}

/// The `key=value` words of a `listening` line, URLs reduced to `host:port`.
fn fields(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| {
            let v = v.strip_prefix("http://").unwrap_or(v).trim_end_matches('/');
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn main_addr(name: &str, line: &str) -> Result<String> {
    let f = fields(line);
    f.get("http")
        .or_else(|| f.get("grpc"))
        .cloned()
        .ok_or_else(|| TestkitError::NoAddress {
            name: name.into(),
            line: line.into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_line_gives_its_addresses() {
        let line = "strata-sub-manager listening grpc=127.0.0.1:4000 console=http://127.0.0.1:4001/ metrics=127.0.0.1:4002";
        assert_eq!(main_addr("x", line).unwrap(), "127.0.0.1:4000");
        let f = fields(line);
        assert_eq!(f["console"], "127.0.0.1:4001");
        assert_eq!(f["metrics"], "127.0.0.1:4002");
        assert!(main_addr("x", "no address here").is_err());
    }

    #[test]
    fn a_spec_s_environment_wins_over_the_default_log_filter() {
        let spec = [("RUST_LOG".to_string(), "warn".to_string())];
        let mut cmd = Command::new("true");
        cmd.envs(child_env(&spec, Some("debug".into())));
        let log = cmd
            .get_envs()
            .filter(|(k, _)| *k == "RUST_LOG")
            .last()
            .and_then(|(_, v)| v);
        assert_eq!(log, Some(std::ffi::OsStr::new("warn")));
        let mut cmd = Command::new("true");
        cmd.envs(child_env(&[], None));
        assert!(
            cmd.get_envs()
                .any(|(k, v)| k == "RUST_LOG" && v == Some("info".as_ref()))
        );
    }
}
