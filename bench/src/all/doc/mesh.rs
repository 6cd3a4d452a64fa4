//! The sections of the page about the mesh as a whole: failover, one sub-manager at scale,
//! the enterprise view, forwarding.

use std::fmt::Write as _;

use super::super::Document;
use super::super::figures::{Figures, mb, num, ratio};
use super::{Section, peer};

/// The mesh's sections, in order.
pub fn sections() -> Vec<Section> {
    vec![
        Section {
            title: "Failover",
            keys: &["failover", "failover_no_brokers"],
            about: FAILOVER,
            figures: failover,
        },
        Section {
            title: "One sub-manager at scale",
            keys: &["region", "region_one_core"],
            about: REGION,
            figures: region,
        },
        Section {
            title: "Enterprise view, a thousand regions",
            keys: &["overview"],
            about: OVERVIEW,
            figures: overview,
        },
        Section {
            title: "Forwarding, beside Prometheus agent mode",
            keys: &["forward", "forward_outage"],
            about: FORWARD,
            figures: forward,
        },
    ]
}

const FAILOVER: &str = "
Three sub-managers share 2,000 simulated agents (19 series each, a sample per second) behind
two brokers, every link over mutual TLS; twenty times, a sub-manager picked at random is
SIGKILLed, and the bench, which serves the agents itself and so sees every poll, times how
long until every agent that sub-manager had polled last has been polled by another; the
victim is then restarted and takes its agents back before the next kill. At the end the
ticks stop, every buffer drains, and every agent's `sim_sample_number` (its tick count) is
read back: the ticks missing are the samples lost. `--no-brokers` stops every broker before
the kills, so the members find each other's death themselves and take the agents by the
same rendezvous rule ([HA](ha.md)). Other variants, not in `bench all`: `--freeze`
(SIGSTOP: a hung host, only the 2 s lease tells), `--replicas 2`, `--insecure`.

For comparison, the peers' documented defaults (not measured here): Zabbix 7 proxy groups
move hosts after a failover delay of 1 minute by default (10 s at the least); Icinga 2's HA
failover cannot go below 30 s.
";

fn failover(doc: &Document) -> anyhow::Result<String> {
    let mut out = String::from(
        "| what fails | every orphan polled again: p50 / p99 / max | samples lost | \
         sub-managers' CPU per poll |\n|---|---|---|---|\n",
    );
    for (key, what) in [
        (
            "failover",
            "a sub-manager SIGKILLed (its streams to the brokers break)",
        ),
        (
            "failover_no_brokers",
            "a sub-manager SIGKILLed, every broker stopped (its peers find its port closed)",
        ),
    ] {
        let f = doc.figures(key);
        if !f.ran() {
            continue;
        }
        let total = f.num("ticks")? * f.num("agents")?;
        writeln!(
            out,
            "| {what}, {} kills | {} / {} / {} ms | {} of {} | {} µs |",
            num(f.num("kills")?, 0),
            num(f.num("p50_ms")?, 0),
            num(f.num("p99_ms")?, 0),
            num(f.num("max_ms")?, 0),
            num(f.num("samples_lost")?, 0),
            num(total, 0),
            num(f.num("sub_manager_cpu_us_per_poll")?, 0)
        )?;
    }
    Ok(out)
}

const REGION: &str = "
One sub-manager (the real binary, its defaults: polled every 5 s, 64 polls in flight, two
poll workers) polls 10,000 simulated agents of the host profile (207 series each, sampled
every 10 s: 207,000 samples per second), served by `strata sim` in a process of its own
whose CPU is counted apart. After every agent was polled and the member has caught up with
the start, a 60 s window is measured with the regional API asked all along; then every
agent's `sim_sample_number` is read back (a tick missing below the last stored is a sample
lost), and the same requests are timed on the same region at rest (the simulator stopped
with SIGSTOP): the idle figures, on the same data. `--one-core` pins the member to one core
and the simulator to the other, to find how many agents one core carries with the lag
under one sample interval. The store's bytes per sample at the end of a one-minute run are
a young store's (write-ahead records not yet deleted, files not yet compacted);
`--duration 55m` shows them after an hour, and the bytes of stored data are `strata bench
tsdb`'s. Where the CPU goes at the limit, and how it got there, is in
[performance-history.md](performance-history.md).

The peer figure: Zabbix documents a production proxy at about 9,400 values per second (not
measured side by side).
";

fn region(doc: &Document) -> anyhow::Result<String> {
    let mut out = String::from(
        "| run | agents (samples/s) | member CPU: cores (s per 1,000 agents per minute) | \
         lag p50 / p99 | polls late | samples lost | agents behind | peak RSS | bytes per \
         sample at the end |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let runs = [("region", "two cores"), ("region_one_core", "one core")];
    for (key, what) in runs {
        let f = doc.figures(key);
        if !f.ran() {
            continue;
        }
        let (agents, per) = (f.num("agents")?, f.num("cpu_s_per_1000_agents_per_min")?);
        writeln!(
            out,
            "| {what} | {} ({}) | {} ({}) | {} / {} s | {} | {} | {} | {} | {} |",
            num(agents, 0),
            num(f.num("samples_per_second")?, 0),
            num(per * agents / 1000.0 / 60.0, 2),
            num(per, 2),
            num(f.num("lag_p50_ms")? / 1000.0, 1),
            num(f.num("lag_p99_ms")? / 1000.0, 1),
            num(f.num("polls_late")?, 0),
            num(f.num("samples_lost")?, 0),
            num(f.num("agents_behind")?, 0),
            mb(f.num("peak_rss_bytes")?),
            num(f.num("bytes_per_sample")?, 1)
        )?;
    }
    out.push_str(
        "\nThe regional API, idle and under that load (the host's metrics over an hour, the \
         region's resources, PromQL `avg(host_load1)` over every agent):\n\n\
         | run | request | idle p50 / p99 | loaded p50 / p99 | loaded / idle (p99) |\n\
         |---|---|---|---|---|\n",
    );
    for (key, what) in runs {
        let f = doc.figures(key);
        let Some(api) = f.value("api").and_then(|a| a.as_array()) else {
            continue;
        };
        for (i, a) in api.iter().enumerate() {
            let n = |field: &str| -> anyhow::Result<f64> {
                a.get(field)
                    .and_then(|v| v.as_f64())
                    .ok_or_else(|| anyhow::anyhow!("bench {key}: no number api[{i}].{field}"))
            };
            let kind = a.get("kind").and_then(|k| k.as_str()).unwrap_or("?");
            writeln!(
                out,
                "| {what} | {kind} | {} / {} ms | {} / {} ms | {} |",
                num(n("idle_p50_ms")?, 1),
                num(n("idle_p99_ms")?, 1),
                num(n("load_p50_ms")?, 1),
                num(n("load_p99_ms")?, 1),
                ratio(n("load_p99_ms")? / n("idle_p99_ms")?.max(0.001))
            )?;
        }
    }
    Ok(out)
}

const OVERVIEW: &str = "
The super-manager (the real library, its store in a temporary directory) follows simulated
regions (here 1,000 regions of 1,000 hosts: a million resources) through WatchRegion
streams from a small broker of the bench's own, one sub-manager per region, a snapshot and
then a host change per second each, and HTTP probes per region running every 10 s whose
runs stream up, with 200 services of three components each (50 web hosts in one region, a
database host in the next, the region's probes in front; nine in ten depend on another
service). It then times its REST API, 200 requests each, and restarts the super-manager on
its data to time how long until every region's stream is open again and every host
counted. The stand-in regions stream from the same process, so the memory and CPU figures
include theirs.
";

fn overview(doc: &Document) -> anyhow::Result<String> {
    let f = doc.figures("overview");
    let mut out = String::new();
    writeln!(
        out,
        "{} regions × {} hosts ({} resources), {} services.\n\n| request | p50 | p99 |\n\
         |---|---|---|",
        num(f.num("regions")?, 0),
        num(f.num("resources")? / f.num("regions")?.max(1.0), 0),
        num(f.num("resources")?, 0),
        num(f.num("services")?, 0)
    )?;
    for (field, what) in [
        ("overview", "`GET /api/v1/overview` (every region's counts)"),
        (
            "service",
            "`GET /api/v1/services` (every service with its health)",
        ),
        (
            "drill",
            "`GET /api/v1/services/{name}` (drill-down to hosts, checks, incidents)",
        ),
        ("qos", "`GET /api/v1/services/{name}/qos?period=1h`"),
    ] {
        writeln!(
            out,
            "| {what} | {} ms | {} ms |",
            num(f.num(&format!("{field}_p50_ms"))?, 1),
            num(f.num(&format!("{field}_p99_ms"))?, 1)
        )?;
    }
    writeln!(
        out,
        "\nMemory: {} KB per 1,000 resources (this process's growth while the super-manager \
         took the regions in; peak {} with the simulated regions). Every region followed \
         again {} s after a restart. Probe runs recorded {}/s while the requests were timed \
         ({}/s sent); one QoS store on its own records {}/s.",
        num(f.num("rss_bytes_per_1000_resources")? / 1000.0, 0),
        mb(f.num("peak_rss_bytes")?),
        num(f.num("resubscribe_s")?, 1),
        num(f.num("probe_runs_per_second")?, 0),
        num(f.num("probe_runs_sent_per_second")?, 0),
        num(f.num("qos_store_runs_per_second")?, 0)
    )?;
    Ok(out)
}

const FORWARD: &str = "
The same exporters (Debian's node_exporter and blackbox_exporter, probing node_exporter's
page), scraped by 10 jobs each every second and shipped to VictoriaMetrics, once by Strata
and once by Prometheus in agent mode, one after the other for the same time, each to a
VictoriaMetrics of its own:

- **Strata**: `strata-agent` (its `[[scrape]]` jobs only) polled every second over mutual
  TLS by a `strata-sub-manager`, which stores the samples and forwards them with
  `[[remote_write]]` from its outbox (2,000 samples per request, 2 shards);
- **Prometheus agent mode**: `prometheus --enable-feature=agent` with the same scrape jobs
  and a `remote_write`, its defaults otherwise.

Figures: CPU seconds of every process of the path over its whole run, per million samples
delivered; the sum of their peak RSS; and what is missing at the destination, counted alike
for both from VictoriaMetrics' export (each delivered scrape must bring as many samples as
its `scrape_samples_post_metric_relabeling` said, and a gap in `up` past one interval and a
half is a whole scrape missing). For Strata every sample its region stored is also looked
up at the destination. `--outage 10m` stops the receiver from a quarter of the run on and
starts it again on the same port and data. Strata's figure includes storing every sample in
its region, which Prometheus's agent mode does not do.
";

fn forward(doc: &Document) -> anyhow::Result<String> {
    let p = format!("Prometheus {} agent mode", peer(doc, "prometheus"));
    let mut out = String::from(
        "| run | path | CPU s per million samples | peak RSS | samples delivered | scrapes | \
         missing |\n|---|---|---|---|---|---|---|\n",
    );
    let mut ratios = Vec::new();
    for key in ["forward", "forward_outage"] {
        let f = doc.figures(key);
        if !f.ran() {
            continue;
        }
        let run = forward_run(&f)?;
        for (path, name) in [("strata", "Strata"), ("prometheus", p.as_str())] {
            let extra = if path == "strata" {
                format!(
                    " (and {} stored but not delivered)",
                    num(f.num("strata_stored_not_delivered")?, 0)
                )
            } else {
                String::new()
            };
            writeln!(
                out,
                "| {run} | {name} | {} | {} | {} | {} | {}{extra} |",
                num(f.num(&format!("{path}.cpu_s_per_million"))?, 2),
                mb(f.num(&format!("{path}.peak_rss_bytes"))?),
                num(f.num(&format!("{path}.delivered"))?, 0),
                num(f.num(&format!("{path}.scrapes"))?, 0),
                num(f.num(&format!("{path}.missing"))?, 0)
            )?;
        }
        ratios.push(format!("{} ({run})", ratio(f.num("cpu_ratio")?)));
    }
    writeln!(
        out,
        "\nStrata's CPU per sample delivered over {p}'s: {}.",
        ratios.join("; ")
    )?;
    Ok(out)
}

/// "5 min" or "14 min, receiver stopped 10 min".
fn forward_run(f: &Figures) -> anyhow::Result<String> {
    let minutes = |s: f64| num(s / 60.0, 0);
    let outage = f.num("outage_s")?;
    Ok(if outage > 0.0 {
        format!(
            "{} min, receiver stopped {} min",
            minutes(f.num("duration_s")?),
            minutes(outage)
        )
    } else {
        format!("{} min", minutes(f.num("duration_s")?))
    })
}
