//! `strata bench ...`: runs `strata-bench` (the benchmarks' own binary, from beside this one
//! or on PATH) with the same arguments, so that the operator's binary carries none of what
//! only a benchmark needs.

use std::ffi::OsString;

use anyhow::Context;
use clap::Args;

/// Options of `strata bench`: everything after `bench` goes to `strata-bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// What to measure (tsdb, agent, probes, failover, region, overview, promql, forward, or
    /// all of them) and its options; `strata bench <what> --help` lists them.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

/// Runs `strata-bench` with `args` and returns its outcome.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let binary = strata_testkit::binary("strata-bench").context(
        "strata-bench is not built: build it beside strata with `cargo build --release -p strata-bench` (`make bench` does)",
    )?;
    let status = tokio::process::Command::new(&binary)
        .args(&args.args)
        .status()
        .await
        .with_context(|| format!("run {}", binary.display()))?;
    anyhow::ensure!(status.success(), "strata-bench exited with {status}");
    Ok(())
}
