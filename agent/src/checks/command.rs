//! Running a command with a timeout, for script checks and whitelisted actions.
//!
//! The command runs in its own process group, so that on timeout the whole group is killed:
//! a plugin that forked children leaves none behind. Output is read concurrently and capped,
//! so a command that writes without end fills no memory. When the command exits but a child
//! still holds its output open, the group is killed after a short grace instead of waiting
//! for the child.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::task::JoinHandle;

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it (not ours).
    Signal(i32),
    /// It ran past its timeout; its process group was killed.
    TimedOut,
}

impl Exit {
    /// How it ended, in words: `exit 0`, `signal 9`, `timed out`.
    pub fn describe(&self) -> String {
        match self {
            Exit::Code(c) => format!("exit {c}"),
            Exit::Signal(s) => format!("signal {s}"),
            Exit::TimedOut => "timed out".to_string(),
        }
    }
}

/// A finished command.
#[derive(Debug, Clone)]
pub struct Finished {
    pub exit: Exit,
    /// Standard output, at most the cap, lossily decoded.
    pub stdout: String,
    pub stderr: String,
    /// Output beyond the cap was discarded.
    pub truncated: bool,
    /// Processes of its group were still running after it ended, and were killed.
    pub killed_leftovers: bool,
}

/// How long children of an exited command may keep its output open.
const LEFTOVER_GRACE: Duration = Duration::from_millis(300);

/// Reads `from` to its end, keeping at most `cap` bytes in `into`.
fn capture(
    mut from: impl AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<(Vec<u8>, bool)>>,
    cap: usize,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut chunk = vec![0u8; 8192];
        loop {
            match from.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let mut g = into.lock().expect("output lock poisoned");
                    let room = cap.saturating_sub(g.0.len());
                    g.0.extend_from_slice(&chunk[..n.min(room)]);
                    if n > room {
                        g.1 = true;
                    }
                }
            }
        }
    })
}

fn kill_group(pgid: Option<u32>) {
    if let Some(pid) = pgid.and_then(|p| Pid::from_raw(p as i32)) {
        // the group may be gone already
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

/// Runs `argv` (no shell) for at most `timeout`, keeping at most `cap` bytes of each output.
pub async fn run(argv: &[String], timeout: Duration, cap: usize) -> std::io::Result<Finished> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"))?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()?;
    let pgid = child.id();
    let out = Arc::new(Mutex::new((Vec::new(), false)));
    let err = Arc::new(Mutex::new((Vec::new(), false)));
    let mut readers = Vec::new();
    if let Some(s) = child.stdout.take() {
        readers.push(capture(s, out.clone(), cap));
    }
    if let Some(s) = child.stderr.take() {
        readers.push(capture(s, err.clone(), cap));
    }
    let exit = match tokio::time::timeout(crate::durations::capped(timeout), child.wait()).await {
        Ok(Ok(status)) => {
            use std::os::unix::process::ExitStatusExt;
            match (status.code(), status.signal()) {
                (Some(code), _) => Exit::Code(code),
                (None, Some(sig)) => Exit::Signal(sig),
                (None, None) => Exit::Signal(0),
            }
        }
        Ok(Err(e)) => {
            kill_group(pgid);
            return Err(e);
        }
        Err(_) => {
            kill_group(pgid);
            let _ = child.wait().await;
            Exit::TimedOut
        }
    };
    let mut killed_leftovers = false;
    let all_read = futures_join(&mut readers);
    if tokio::time::timeout(LEFTOVER_GRACE, all_read)
        .await
        .is_err()
    {
        // children still hold the output open
        killed_leftovers = exit != Exit::TimedOut;
        kill_group(pgid);
        if tokio::time::timeout(Duration::from_secs(1), futures_join(&mut readers))
            .await
            .is_err()
        {
            // a descendant left the group and keeps the pipe: stop reading it
            for r in &readers {
                r.abort();
            }
        }
    }
    let take = |m: &Arc<Mutex<(Vec<u8>, bool)>>| {
        let g = m.lock().expect("output lock poisoned");
        (String::from_utf8_lossy(&g.0).into_owned(), g.1)
    };
    let (stdout, t1) = take(&out);
    let (stderr, t2) = take(&err);
    Ok(Finished {
        exit,
        stdout,
        stderr,
        truncated: t1 || t2,
        killed_leftovers,
    })
}

/// Waits for every reader still running.
async fn futures_join(readers: &mut [JoinHandle<()>]) {
    for r in readers.iter_mut() {
        if !r.is_finished() {
            let _ = r.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    fn alive(pid: i32) -> bool {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
    }

    #[tokio::test]
    async fn exit_code_and_output_are_kept() {
        let f = run(
            &sh("echo hello; echo oops >&2; exit 2"),
            Duration::from_secs(5),
            1024,
        )
        .await
        .unwrap();
        assert_eq!(f.exit, Exit::Code(2));
        assert_eq!(f.stdout, "hello\n");
        assert_eq!(f.stderr, "oops\n");
        assert!(!f.truncated && !f.killed_leftovers);
    }

    #[tokio::test]
    async fn a_command_that_never_exits_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let script = format!(
            "sleep 600 & echo $! > {p}; sleep 600 & echo $! >> {p}; sleep 600",
            p = pids.display()
        );
        let started = Instant::now();
        let f = run(&sh(&script), Duration::from_millis(500), 1024)
            .await
            .unwrap();
        assert_eq!(f.exit, Exit::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
        let children: Vec<i32> = std::fs::read_to_string(&pids)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        assert_eq!(children.len(), 2);
        let deadline = Instant::now() + Duration::from_secs(5);
        while children.iter().any(|&p| alive(p)) {
            assert!(Instant::now() < deadline, "children {children:?} still run");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn children_holding_the_output_after_exit_are_killed() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("pid");
        let script = format!("sleep 600 & echo $! > {}; echo done; exit 0", pid.display());
        let started = Instant::now();
        let f = run(&sh(&script), Duration::from_secs(30), 1024)
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(f.exit, Exit::Code(0));
        assert_eq!(f.stdout, "done\n");
        assert!(f.killed_leftovers);
        let child: i32 = std::fs::read_to_string(&pid)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(child) {
            assert!(Instant::now() < deadline, "child {child} still runs");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn endless_output_is_capped() {
        let f = run(
            &sh("head -c 5000000 /dev/zero"),
            Duration::from_secs(10),
            4096,
        )
        .await
        .unwrap();
        assert_eq!(f.stdout.len(), 4096);
        assert!(f.truncated);
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error() {
        assert!(
            run(&["/nonexistent/plugin".into()], Duration::from_secs(1), 10)
                .await
                .is_err()
        );
    }
}
