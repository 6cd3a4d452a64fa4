//! `strata bench all`: every bench at its published size, one after the other, into one
//! JSON document (`docs/performance.json`) from which `docs/performance.md` and the README's
//! headline table are written. Each published figure then comes from one command, one
//! machine and one day, with the commit, the machine and each peer's version beside it.
//!
//! Each bench runs as a child process of this binary (`strata-bench <what> ... --json`),
//! so that one bench's memory and threads are gone before the next starts; its progress
//! goes to this terminal, its JSON is kept. `--only` re-runs some benches into an existing
//! document (each entry keeps its own commit and date); `--render` writes the pages again
//! from the document without running anything.

mod doc;
mod figures;
mod readme;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};

/// Options of `strata bench all`.
#[derive(Args, Debug)]
pub struct AllBench {
    /// The JSON document the figures are kept in (read first when `--only` or `--render`).
    #[arg(long, default_value = "docs/performance.json")]
    pub json_out: PathBuf,
    /// The page written from the document.
    #[arg(long, default_value = "docs/performance.md")]
    pub doc: PathBuf,
    /// The README whose headline table (between its `bench all` markers) is written from
    /// the document; `--readme ''` leaves it alone.
    #[arg(long, default_value = "README.md")]
    pub readme: PathBuf,
    /// Runs these benches only (comma-separated keys, as `--list` prints them), keeping the
    /// others' figures from the document.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Writes the pages from the document without running any bench.
    #[arg(long)]
    pub render: bool,
    /// Lists the benches and their arguments, then stops.
    #[arg(long)]
    pub list: bool,
}

/// One bench at its published size.
pub struct Step {
    /// Its key in the document.
    pub key: &'static str,
    /// `strata bench` arguments, `--json` added.
    pub args: &'static [&'static str],
}

/// Every bench `strata bench all` runs, in order: the quick ones first.
pub const STEPS: &[Step] = &[
    Step {
        key: "probes",
        args: &["probes", "--rounds", "15"],
    },
    Step {
        key: "agent",
        args: &["agent", "--rounds", "3"],
    },
    Step {
        key: "tsdb",
        args: &["tsdb", "--hosts", "20", "--hours", "24", "--queries", "20"],
    },
    Step {
        key: "promql",
        args: &["promql"],
    },
    Step {
        key: "failover",
        args: &["failover"],
    },
    Step {
        key: "failover_no_brokers",
        args: &["failover", "--no-brokers"],
    },
    Step {
        key: "region",
        args: &["region"],
    },
    Step {
        key: "region_one_core",
        args: &["region", "--one-core", "--agents", "18000"],
    },
    Step {
        key: "overview",
        args: &[
            "overview",
            "--regions",
            "1000",
            "--resources",
            "1000",
            "--probes",
            "5",
        ],
    },
    Step {
        key: "forward",
        args: &["forward", "--duration", "5m", "--jobs", "10"],
    },
    Step {
        key: "forward_outage",
        args: &[
            "forward",
            "--duration",
            "14m",
            "--outage",
            "10m",
            "--jobs",
            "10",
        ],
    },
];

/// The document `strata bench all` writes.
#[derive(Debug, Serialize, Deserialize, Default)]
pub struct Document {
    /// The command that wrote it.
    pub command: String,
    pub machine: Machine,
    /// Each peer's package version, as installed when the document was last written.
    pub peers: BTreeMap<String, String>,
    /// Each bench's run, by key.
    pub benches: BTreeMap<String, Run>,
}

/// The machine the benches ran on.
#[derive(Debug, Serialize, Deserialize, Default, Clone)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub memory_gb: f64,
    pub kernel: String,
}

/// One bench's run.
#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct Run {
    /// `strata bench` arguments.
    pub args: Vec<String>,
    /// The commit of the tree the binaries were built from (`-dirty` when it had changes).
    pub commit: String,
    /// When the run ended (UTC, RFC 3339).
    pub date: String,
    pub seconds: f64,
    /// The bench's `--json` output.
    pub figures: serde_json::Value,
}

/// Runs `strata bench all`.
pub fn run(args: AllBench) -> anyhow::Result<()> {
    if args.list {
        for step in STEPS {
            println!("{:<20} strata bench {}", step.key, step.args.join(" "));
        }
        return Ok(());
    }
    for key in &args.only {
        anyhow::ensure!(
            STEPS.iter().any(|s| s.key == key),
            "--only: no bench {key:?} (strata bench all --list names them)"
        );
    }
    // --only keeps the other benches' figures (none yet when the document is new)
    let mut document = if args.render || (!args.only.is_empty() && args.json_out.exists()) {
        read(&args.json_out)?
    } else {
        Document::default()
    };
    let mut failed = Vec::new();
    if !args.render {
        document.command = "strata bench all".into();
        document.machine = machine();
        let steps: Vec<&Step> = STEPS
            .iter()
            .filter(|s| args.only.is_empty() || args.only.iter().any(|k| k == s.key))
            .collect();
        let commit = commit();
        for (i, step) in steps.iter().enumerate() {
            eprintln!(
                "== bench all: {} of {}: strata bench {}",
                i + 1,
                steps.len(),
                step.args.join(" ")
            );
            match run_step(step, &commit) {
                Ok(run) => {
                    eprintln!("== bench all: {} done in {:.0} s", step.key, run.seconds);
                    document.benches.insert(step.key.into(), run);
                    // kept after each bench, so that a failure later loses nothing
                    write(&args.json_out, &document)?;
                }
                Err(e) => {
                    eprintln!("== bench all: {} failed: {e:#}", step.key);
                    failed.push(step.key);
                }
            }
        }
        // read after the runs: a bench installs the peers it needs when they are missing
        document.peers = peer_versions();
        write(&args.json_out, &document)?;
    }
    let page = doc::render(&document)?;
    std::fs::write(&args.doc, page).with_context(|| format!("write {}", args.doc.display()))?;
    eprintln!("wrote {}", args.doc.display());
    if !args.readme.as_os_str().is_empty() {
        let path = &args.readme;
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let text = readme::replace_headline(&text, &readme::headline(&document)?)
            .with_context(|| format!("write the headline table of {}", path.display()))?;
        std::fs::write(path, text).with_context(|| format!("write {}", path.display()))?;
        eprintln!("wrote the headline table of {}", path.display());
    }
    anyhow::ensure!(
        failed.is_empty(),
        "these benches failed (their earlier figures, if any, were kept): {}",
        failed.join(", ")
    );
    Ok(())
}

/// Runs one bench as a child process and keeps its JSON.
fn run_step(step: &Step, commit: &str) -> anyhow::Result<Run> {
    let exe = std::env::current_exe().context("find strata-bench itself")?;
    let started = Instant::now();
    let out = Command::new(exe)
        .args(step.args)
        .arg("--json")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("run strata bench {}", step.args.join(" ")))?;
    anyhow::ensure!(out.status.success(), "it exited with {}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    let figures: serde_json::Value = serde_json::from_str(text.trim())
        .with_context(|| format!("read its --json output: {:?}", text.trim()))?;
    Ok(Run {
        args: step.args.iter().map(|a| a.to_string()).collect(),
        commit: commit.to_string(),
        date: now_utc(),
        seconds: started.elapsed().as_secs_f64(),
        figures,
    })
}

/// The document at `path`.
pub fn read(path: &Path) -> anyhow::Result<Document> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
}

fn write(path: &Path, document: &Document) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let mut text = serde_json::to_string_pretty(document)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

/// The current time, UTC, to the second (RFC 3339).
fn now_utc() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The first line a command prints, if it runs.
fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// The commit of the working tree, `-dirty` when it has uncommitted changes.
fn commit() -> String {
    let Some(head) = output_of("git", &["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".into();
    };
    let dirty = output_of("git", &["status", "--porcelain", "--untracked-files=no"]).is_some();
    if dirty { format!("{head}-dirty") } else { head }
}

/// This machine: cores, CPU model, memory, kernel.
fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |text: &str, name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim_start().strip_prefix(':'))
            .map(|v| v.trim().to_string())
    };
    let kb = field(&meminfo, "MemTotal")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    Machine {
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into()),
        memory_gb: (kb / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        kernel: output_of("uname", &["-r"]).unwrap_or_else(|| "unknown".into()),
    }
}

/// The Debian packages of the peers the benches compare with.
pub const PEER_PACKAGES: &[&str] = &[
    "prometheus",
    "victoria-metrics",
    "prometheus-node-exporter",
    "prometheus-blackbox-exporter",
];

/// Each peer's installed package version ("not installed" otherwise).
fn peer_versions() -> BTreeMap<String, String> {
    PEER_PACKAGES
        .iter()
        .map(|p| {
            let v = output_of("dpkg-query", &["-W", "-f=${Version}", p]);
            (p.to_string(), v.unwrap_or_else(|| "not installed".into()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn the_pages_are_what_the_kept_document_renders_to() {
        let doc = read(&root().join("docs/performance.json")).unwrap();
        for step in STEPS {
            assert!(
                doc.benches.contains_key(step.key),
                "docs/performance.json lacks {}: strata bench all --only {}",
                step.key,
                step.key
            );
        }
        let page = std::fs::read_to_string(root().join("docs/performance.md")).unwrap();
        assert!(
            doc::render(&doc).unwrap() == page,
            "docs/performance.md is not what docs/performance.json renders to: \
             ./target/release/strata bench all --render writes it again"
        );
        let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
        let table = readme::headline(&doc).unwrap();
        assert!(
            readme::replace_headline(&readme, &table).unwrap() == readme,
            "the README's headline table is not what docs/performance.json renders to: \
             ./target/release/strata bench all --render writes it again"
        );
    }

    #[test]
    fn every_bench_is_a_known_subcommand_with_its_json() {
        use clap::CommandFactory;
        let cli = crate::Cli::command();
        for step in STEPS {
            let mut args = vec!["strata bench"];
            args.extend(step.args);
            args.push("--json");
            let parsed = cli.clone().try_get_matches_from(&args);
            assert!(parsed.is_ok(), "{}: {:?}", step.key, parsed.err());
        }
    }
}
