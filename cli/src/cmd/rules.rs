//! `strata rules`: what a region's alerting rules are, and what a rules file would have
//! fired over the history a region has stored.
//!
//! `strata rules test` replays each rule of a file with the sub-manager's own judge (holds,
//! hysteresis, flapping, absence), one step at a time, over the rule's series as the region
//! stored them, and prints every event that would have opened, changed and resolved.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use strata_proto::identity::Role;
use strata_proto::labels::{LabelMap, to_map};
use strata_proto::v1::sub_manager_client::SubManagerClient;
use strata_proto::v1::{
    Aggregation, GetRulesRequest, LabelMatcher, PutRulesRequest, QueryRangeRequest, Severity,
};
use strata_sub_manager::rules::RuleSet;
use strata_sub_manager::rules::eval::{AgentRules, Observed};
use strata_sub_manager::rules::model::{self, Direction, Kind, Rule};

/// Which region to ask, and where: options shared by the commands of the regional API.
#[derive(Args, Debug)]
pub struct RegionApi {
    /// A sub-manager of the region, or a broker (which routes to the region's members).
    #[arg(
        long,
        default_value = "127.0.0.1:7700",
        env = "STRATA_REGION_API",
        global = true
    )]
    pub region_api: String,
    /// The region.
    #[arg(long, default_value = "default", global = true)]
    pub region: String,
    #[command(flatten)]
    pub tls: super::tls::TlsArgs,
}

/// Options of `strata rules`.
#[derive(Args, Debug)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub command: RulesCommand,
    #[command(flatten)]
    pub at: RegionApi,
}

/// What `strata rules` does.
#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Print the rules in force (built-in thresholds, the rules file's, the API's) as TOML.
    Show,
    /// Replace the rules defined through the API with those of a file (validated first).
    Put {
        /// A TOML file of [[rules]].
        file: PathBuf,
    },
    /// Replay a rules file over the region's stored history and print what would have fired.
    Test {
        /// A TOML file of [[rules]].
        file: PathBuf,
        /// How far back to look.
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        since: Duration,
        /// The step the history is judged at (the worst value of each step is taken).
        #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
        step: Duration,
    },
}

/// A client of the regional API `at` (a sub-manager or a broker), as an operator.
pub(crate) async fn client(
    at: &RegionApi,
) -> anyhow::Result<SubManagerClient<tonic::transport::Channel>> {
    let addr = &at.region_api;
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60));
    let channel = at
        .tls
        .channel(endpoint, &[Role::SubManager, Role::Broker])
        .with_context(|| format!("connect to {addr}"))?;
    Ok(SubManagerClient::new(channel).max_decoding_message_size(64 * 1024 * 1024))
}

/// Runs `strata rules`.
pub async fn run(args: RulesArgs) -> anyhow::Result<()> {
    match &args.command {
        RulesCommand::Show => {
            let r = client(&args.at)
                .await?
                .get_rules(GetRulesRequest {
                    region: args.at.region.clone(),
                })
                .await
                .map_err(|s| anyhow!("GetRules: {}", s.message()))?
                .into_inner();
            if !r.file.is_empty() {
                println!("# rules file: {}", r.file);
            }
            println!("# {} rules in force", r.count);
            print!("{}", r.rules_toml);
            Ok(())
        }
        RulesCommand::Put { file } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("read {}", file.display()))?;
            let r = client(&args.at)
                .await?
                .put_rules(PutRulesRequest {
                    region: args.at.region.clone(),
                    rules_toml: text,
                })
                .await
                .map_err(|s| anyhow!("{}", s.message()))?
                .into_inner();
            println!("{} rules in force", r.count);
            Ok(())
        }
        RulesCommand::Test { file, since, step } => test(&args, file, *since, *step).await,
    }
}

/// The selectors of a rule as the regional API takes them.
fn matchers(rule: &Rule) -> Vec<LabelMatcher> {
    rule.spec
        .labels
        .iter()
        .map(|(name, text)| strata_proto::labels::label_matcher(name, text))
        .collect()
}

/// One series' labels and its points by time.
type SeriesPoints = (Arc<LabelMap>, BTreeMap<i64, f64>);

fn when(ms: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64),
    )
    .to_string()
}

async fn test(
    args: &RulesArgs,
    file: &PathBuf,
    since: Duration,
    step: Duration,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
    let rules = model::parse(&text, &file.display().to_string())
        .map_err(|problems| anyhow!("{}", problems.join("\n")))?;
    let mut c = client(&args.at).await?;
    let to_ms = strata_proto::now_ms();
    let step_ms = (step.as_millis() as i64).max(1000);
    let from_ms = to_ms - since.as_millis() as i64;
    let mut opened = 0usize;
    println!(
        "{:<20}  {:<24}  {:<20}  {:<9}  {:<8}  message",
        "time", "resource", "rule", "change", "severity"
    );
    for rule in &rules {
        let aggregation = match rule.kind {
            Kind::Threshold {
                direction: Direction::Below,
                ..
            } => Aggregation::Min,
            _ => Aggregation::Max,
        };
        let series = c
            .query_range(QueryRangeRequest {
                region: args.at.region.clone(),
                name: rule.spec.metric.clone(),
                label_matchers: matchers(rule),
                from_ms,
                to_ms,
                step_ms,
                aggregation: aggregation as i32,
                ..Default::default()
            })
            .await
            .map_err(|s| anyhow!("history of {}: {}", rule.spec.metric, s.message()))?
            .into_inner()
            .series;
        // each agent's series, with their points by time
        let mut agents: BTreeMap<String, Vec<SeriesPoints>> = BTreeMap::new();
        for s in series {
            let labels = to_map(&s.labels);
            let agent = labels.get("agent").cloned().unwrap_or_default();
            let points = s.points.iter().map(|p| (p.ts_ms, p.value)).collect();
            agents
                .entry(agent)
                .or_default()
                .push((Arc::new(labels), points));
        }
        let set = RuleSet::new(vec![rule.clone()], 1);
        for (agent, list) in &agents {
            let steps: BTreeSet<i64> = match rule.kind {
                // absence is judged at every step, data or not
                Kind::Absent { .. } => (0..)
                    .map(|i| from_ms - from_ms % step_ms + i * step_ms)
                    .take_while(|t| *t <= to_ms)
                    .collect(),
                Kind::Threshold { .. } => {
                    list.iter().flat_map(|(_, p)| p.keys().copied()).collect()
                }
            };
            let mut judge = AgentRules::resume(&[], steps.first().copied().unwrap_or(from_ms));
            let mut firing = Severity::Ok;
            for ts in steps {
                let mut observed = Observed::default();
                for (k, (labels, points)) in list.iter().enumerate() {
                    if let Some(v) = points.get(&ts) {
                        observed.note(&[0], k as u32, ts, *v, labels);
                    }
                }
                for v in judge.judge(&set, &observed, agent, step_ms, ts) {
                    if v.severity == firing {
                        continue;
                    }
                    let change = match (firing, v.severity) {
                        (Severity::Ok, _) => {
                            opened += 1;
                            "opened"
                        }
                        (_, Severity::Ok) => "resolved",
                        _ => "changed",
                    };
                    println!(
                        "{:<20}  {:<24}  {:<20}  {:<9}  {:<8}  {}{}",
                        when(ts),
                        format!("{}/{agent}", args.at.region),
                        v.rule,
                        change,
                        strata_proto::names::severity_name(v.severity),
                        v.message,
                        if v.flapping { " (flapping)" } else { "" },
                    );
                    firing = v.severity;
                }
            }
        }
    }
    println!(
        "{opened} event(s) would have opened over the last {} ({} rules, step {})",
        humantime::format_duration(since),
        rules.len(),
        humantime::format_duration(step)
    );
    Ok(())
}
