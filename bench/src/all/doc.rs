//! `docs/performance.md`, written from the document: each bench's section says what it
//! measures and how (fixed text), then its command and its figures (from the document).
//! Nothing in the page is typed by hand, so it cannot drift from the figures.

mod mesh;

use std::fmt::Write as _;

use super::Document;
use super::figures::{mb, millions, num, ratio};

/// A section: its title (its anchor follows from it), what it measures, and its figures.
pub struct Section {
    pub title: &'static str,
    /// The benches whose figures it shows (the first gives its command).
    pub keys: &'static [&'static str],
    /// What the bench does and how it measures, as fixed text.
    pub about: &'static str,
    /// The figures, from the document.
    pub figures: fn(&Document) -> anyhow::Result<String>,
}

/// Every section of the page, in order.
pub fn sections() -> Vec<Section> {
    let mut all = vec![
        Section {
            title: "Storage, beside Prometheus and VictoriaMetrics",
            keys: &["tsdb"],
            about: TSDB,
            figures: tsdb,
        },
        Section {
            title: "Agent, beside node_exporter",
            keys: &["agent"],
            about: AGENT,
            figures: agent,
        },
        Section {
            title: "Probes, beside blackbox_exporter",
            keys: &["probes"],
            about: PROBES,
            figures: probes,
        },
        Section {
            title: "PromQL, against Prometheus",
            keys: &["promql"],
            about: PROMQL,
            figures: promql,
        },
    ];
    all.extend(mesh::sections());
    all
}

/// The GitHub anchor of a heading.
pub fn anchor(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// A peer's version as the pages name it: "prometheus" and "2.42.0+ds-5" give "2.42".
pub fn peer(doc: &Document, package: &str) -> String {
    let full = doc.peers.get(package).map_or("", String::as_str);
    let upstream = full.split(['+', '-', '~']).next().unwrap_or("");
    let short: Vec<&str> = upstream.split('.').take(2).collect();
    if short.is_empty() || short[0].is_empty() {
        "(version unknown)".into()
    } else {
        short.join(".")
    }
}

/// The page.
pub fn render(doc: &Document) -> anyhow::Result<String> {
    let mut out = String::new();
    let m = &doc.machine;
    writeln!(
        out,
        "# Performance\n\n\
         Written by `strata bench all` from [performance.json](performance.json); do not edit \
         by hand. To measure again and write this page and the README's headline table:\n\n\
         ```sh\n\
         make release    # every binary in release, and the agent as shipped\n\
         ./target/release/strata bench all                  # every bench below, about an hour here\n\
         ./target/release/strata bench all --only tsdb      # one bench again, the others kept\n\
         ./target/release/strata bench all --render         # the pages again from the JSON\n\
         ```\n\n\
         Machine: {} cores ({}), {} GB of memory, Linux {}. Peers (Debian packages, \
         installed by the benches when missing and running as root): {}. Everything runs on \
         this one machine, one bench at a time; each section names its own date and commit \
         (`-dirty`: the binaries were built from a tree with changes not committed).\n\n\
         Every `strata bench ...` command runs the `strata-bench` binary (crate `bench/`), \
         which `strata` looks for beside itself, then on `PATH`; `strata bench <what> --help` \
         lists each bench's options. Earlier runs, with the reasons figures moved, are in \
         [performance-history.md](performance-history.md).",
        m.cores,
        m.cpu_model,
        num(m.memory_gb, 1),
        m.kernel,
        doc.peers
            .iter()
            .map(|(p, v)| format!("{p} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    for s in sections() {
        writeln!(out, "\n## {}\n\n{}\n", s.title, s.about.trim())?;
        writeln!(out, "```sh")?;
        for key in s.keys {
            writeln!(out, "{}", doc.figures(key).command())?;
        }
        writeln!(out, "```\n")?;
        if let [key] = s.keys {
            let mut line = doc.figures(key).provenance();
            line[..1].make_ascii_uppercase();
            writeln!(out, "{line}.")?;
        } else {
            for key in s.keys {
                let f = doc.figures(key);
                let args = f.run().map_or(key.to_string(), |r| r.args.join(" "));
                writeln!(out, "- `strata bench {args}`: {}", f.provenance())?;
            }
        }
        if s.keys.iter().any(|k| doc.figures(k).ran()) {
            writeln!(out, "\n{}", (s.figures)(doc)?.trim_end())?;
        }
    }
    Ok(out)
}

const TSDB: &str = "
`strata bench tsdb` generates `strata sim`'s host-profile dataset (about 200 node_exporter-like
series per host: per-core CPU seconds by mode, memory in pages, filesystems, disks,
interfaces, TCP states, kernel counters, temperatures, and full-precision usage ratios;
deterministic noise) in VictoriaMetrics' JSON-lines import format, and loads the identical
samples into Strata's store, into VictoriaMetrics and into Prometheus, each at its best:

- **Strata**: its store written series by series, then compacted; bytes are everything in
  its directory (write-ahead log and RocksDB files). Its ingest includes parsing the JSON
  lines, as VictoriaMetrics' import includes its own.
- **VictoriaMetrics**: `/api/v1/import`, then flushed and force-merged.
- **Prometheus**: ingest is promtool's backfill (`tsdb create-blocks-from openmetrics`) fed
  one aligned two-hour window per run: fed the whole file at once, promtool re-reads it for
  every block it writes, which overstates its CPU about sevenfold. Bytes are those of its
  blocks after a running Prometheus (retention 100 years) has compacted promtool's
  two-hour blocks into longer ones in its first full compaction cycle; the newest block
  stays as it is (Prometheus leaves it for backups). The two-hour blocks' bytes are shown
  too.

The range query is a day at 1-minute steps (avg) over 1,000 series of one metric, one
thread. `--json` prints the figures as one object.
";

fn tsdb(doc: &Document) -> anyhow::Result<String> {
    let f = doc.figures("tsdb");
    let mut out = String::new();
    let (samples, series) = (f.num("samples")?, f.num("series")?);
    writeln!(
        out,
        "{} series, {} samples:\n\n\
         | store | bytes per sample | ingest samples per CPU-second |\n|---|---|---|",
        num(series, 0),
        num(samples, 0)
    )?;
    let (sb, si) = (
        f.num("strata.bytes_per_sample")?,
        f.num("strata.ingest_samples_per_cpu_s")?,
    );
    writeln!(
        out,
        "| **Strata** | **{}** | **{}** |",
        num(sb, 3),
        millions(si)
    )?;
    let peers = [
        ("victoriametrics", "VictoriaMetrics", "victoria-metrics"),
        ("prometheus", "Prometheus", "prometheus"),
    ];
    let mut notes = Vec::new();
    for (key, name, package) in peers {
        let label = format!("{name} {}", peer(doc, package));
        match (
            f.opt(&format!("{key}.bytes_per_sample")),
            f.opt(&format!("{key}.ingest_samples_per_cpu_s")),
        ) {
            (Some(b), Some(i)) => {
                writeln!(out, "| {label} | {} | {} |", num(b, 3), millions(i))?;
                notes.push(format!(
                    "Beside {label}, Strata stores {:.0}% {} bytes and ingests {} its samples \
                     per CPU-second.",
                    ((1.0 - sb / b) * 100.0).abs(),
                    if sb <= b { "fewer" } else { "more" },
                    ratio(si / i)
                ));
                if let Some(u) = f.opt(&format!("{key}.bytes_per_sample_uncompacted")) {
                    notes.push(format!(
                        "{label} before its own compaction (promtool's two-hour blocks): {} \
                         bytes per sample.",
                        num(u, 3)
                    ));
                }
                notes.push(format!("{label}, how: {}.", f.text(&format!("{key}.how"))?));
            }
            _ => writeln!(out, "| {label} | not measured | not measured |")?,
        }
    }
    writeln!(out)?;
    for n in notes {
        writeln!(out, "- {n}")?;
    }
    writeln!(
        out,
        "- Strata: {} samples per second of wall-clock time, range query p50 {} ms / p99 {} ms, \
         peak RSS {}; {} bytes per sample once minute and hour rollups exist for the whole \
         dataset (rollups are built for data older than 14 days, a day before raw retention \
         drops it).",
        millions(f.num("strata.ingest_samples_per_s")?),
        num(f.num("strata.query_p50_ms")?, 1),
        num(f.num("strata.query_p99_ms")?, 1),
        mb(f.num("strata.peak_rss_bytes")?),
        num(f.num("strata.bytes_per_sample_with_minute_rollups")?, 3)
    )?;
    writeln!(
        out,
        "\nThe store alone, on synthetic series written time-ordered as a sub-manager \
         writes them, is `cargo bench -p strata-tsdb --bench tsdb` (and the chunk codec \
         `--bench codec`); `make bench` runs both, not part of `bench all`."
    )?;
    Ok(out)
}

const AGENT: &str = "
`strata bench agent` starts `strata-agent` (collecting every `--interval`, polled once per
interval as a sub-manager would, its buffer on disk under a `state_dir` as the packages
configure it) and Debian's `prometheus-node-exporter` (scraped once per interval, so that it
too wakes from idle for each collection, as under Prometheus), and reports CPU
milliseconds per collection, peak RSS and series for each. The agent is measured twice,
polled over mutual TLS (as a mesh runs it) and in plaintext. The three run one after the
other, never two at once, for several rounds; node_exporter goes last in odd rounds and
first in even ones, so that the machine's drift weighs on both alike. Each agent's figures
are its median round; each ratio is the median of the rounds' ratios with their spread.
";

fn agent(doc: &Document) -> anyhow::Result<String> {
    let f = doc.figures("agent");
    let ne = format!("node_exporter {}", peer(doc, "prometheus-node-exporter"));
    let mut out = String::new();
    writeln!(
        out,
        "| agent | CPU ms per collection | peak RSS | series |\n|---|---|---|---|"
    )?;
    for (key, name) in [
        ("strata", "strata-agent, mutual TLS".to_string()),
        ("strata_plaintext", "strata-agent, plaintext".to_string()),
        ("node_exporter", ne.clone()),
    ] {
        if f.opt(&format!("{key}.cpu_ms_per_collection")).is_none() && key == "node_exporter" {
            writeln!(out, "| {name} | not measured | | |")?;
            continue;
        }
        writeln!(
            out,
            "| {name} | {} | {} | {} |",
            num(f.num(&format!("{key}.cpu_ms_per_collection"))?, 3),
            mb(f.num(&format!("{key}.peak_rss_bytes"))?),
            num(f.num(&format!("{key}.series"))?, 0)
        )?;
    }
    if f.opt("ratios.cpu.median").is_some() {
        let spread = |what: &str| -> anyhow::Result<String> {
            Ok(format!(
                "{} ({}–{})",
                num(f.num(&format!("ratios.{what}.median"))?, 2),
                num(f.num(&format!("ratios.{what}.min"))?, 2),
                num(f.num(&format!("ratios.{what}.max"))?, 2)
            ))
        };
        let rounds = f
            .run()?
            .figures
            .get("rounds")
            .and_then(|r| r.as_array())
            .map_or(0, Vec::len);
        writeln!(
            out,
            "\nRatios strata-agent / {ne}, median (lowest–highest) of {rounds} rounds: CPU \
             {} over mutual TLS, {} in plaintext; peak RSS {}.",
            spread("cpu")?,
            spread("cpu_plaintext")?,
            spread("rss")?
        )?;
    }
    writeln!(
        out,
        "\nWhat the series are: the agent's count its host items collected every cycle plus, \
         every 15 s, its per-process and TCP-state series; node_exporter's include about 140 \
         series about itself (per-collector timings, Go runtime, its own process). Most of \
         the agent's CPU is kernel time, much of it the kernel writing the /proc and /sys \
         text the agent reads."
    )?;
    Ok(out)
}

const PROBES: &str = "
`strata bench probes` serves an HTTP and an HTTPS target (each waits 25 ms before its first
byte and again mid-body) and a DNS server (answers after 25 ms), probes each with the
agent's probes and with Debian's `prometheus-blackbox-exporter` in turn, and compares the
median of every phase; they agree when within 1 ms or 10%. The test
`tests/tests/probes_blackbox.rs` asserts the agreement in `make test`.
";

fn probes(doc: &Document) -> anyhow::Result<String> {
    let f = doc.figures("probes");
    let mut out = String::new();
    writeln!(
        out,
        "{} rounds; all phases agree: {}.\n\n\
         | phase | Strata ms | blackbox_exporter {} ms | agree |\n|---|---|---|---|",
        num(f.num("rounds")?, 0),
        if f.flag("all_agree")? { "yes" } else { "no" },
        peer(doc, "prometheus-blackbox-exporter")
    )?;
    let phases: &[(&str, &[&str])] = &[
        ("http", &["resolve", "connect", "processing", "transfer"]),
        (
            "https",
            &["resolve", "connect", "tls", "processing", "transfer"],
        ),
        ("dns", &["query"]),
    ];
    for (kind, names) in phases {
        for name in *names {
            let at = format!("{kind}.{name}");
            writeln!(
                out,
                "| {kind} {name} | {} | {} | {} |",
                num(f.num(&format!("{at}.strata_ms"))?, 3),
                num(f.num(&format!("{at}.blackbox_ms"))?, 3),
                if f.flag(&format!("{at}.agree"))? {
                    "yes"
                } else {
                    "no"
                }
            )?;
        }
    }
    Ok(out)
}

const PROMQL: &str = "
One dataset (simulated hosts' metrics, about 200 series each, and a histogram
`bench_request_seconds_bucket`; every series labelled `region=\"bench\"`) is loaded into
Strata's store and, with promtool's backfill, into Debian's Prometheus; Prometheus's copy
also holds every host series under node_exporter's names and labels, as a Prometheus
scraping node_exporter on those hosts would, while Strata answers those names from its own
series ([the mapping](api.md#node_exporters-names)). Both answer the same expressions over
their HTTP APIs, each as an instant query and as a range query over the last hour at one
point a minute: the expressions of `bench/src/promql/queries.rs` (every supported
function, aggregation, operator, modifier and subquery) and the queries of Grafana's Node
Exporter Full dashboard whose metrics Strata's agents collect
(`bench/src/promql/node_exporter_full.rs`). Answers are compared series by series (the same
label sets and timestamps, values within 1e-9 relative, NaN with NaN;
`bench/src/promql/compare.rs`). Then the requests Grafana's Prometheus data source sends
when that dashboard opens, and faulty requests of each endpoint, are replayed against both
and compared: status codes, envelopes, data and `errorType`s
(`bench/src/promql/grafana.rs`). Latency is over HTTP, both servers asked in turn by one
client with `Connection: close`, so each figure includes a TCP connection.
`tests/tests/promql_prometheus.rs` runs a small version in `make test`.
";

fn promql(doc: &Document) -> anyhow::Result<String> {
    let f = doc.figures("promql");
    let p = format!("Prometheus {}", peer(doc, "prometheus"));
    let queries = f.num("queries")?;
    let mut out = String::new();
    writeln!(
        out,
        "| queries | identical | differ | unsupported | Grafana's requests and errors |\n\
         |---|---|---|---|---|\n\
         | {} | {} ({:.0}%) | {} | {} | {} of {} as {p} |\n",
        num(queries, 0),
        num(f.num("identical")?, 0),
        f.num("identical")? / queries.max(1.0) * 100.0,
        num(f.num("differ")?, 0),
        num(f.num("unsupported")?, 0),
        num(f.num("grafana_identical")?, 0),
        num(f.num("grafana_requests")?, 0)
    )?;
    writeln!(
        out,
        "| latency over HTTP | Strata | {p} |\n|---|---|---|\n\
         | p50 | {} ms | {} ms |\n| p99 | {} ms | {} ms |",
        num(f.num("strata_p50_ms")?, 2),
        num(f.num("prometheus_p50_ms")?, 2),
        num(f.num("strata_p99_ms")?, 2),
        num(f.num("prometheus_p99_ms")?, 2)
    )?;
    Ok(out)
}
