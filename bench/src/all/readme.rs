//! The README's headline table, written from the document between two markers, so that
//! the landing page's figures are the document's and nothing else.

use std::fmt::Write as _;

use super::Document;
use super::doc::{anchor, peer, sections};
use super::figures::{mb, millions, num, ratio};

/// The line before the table.
pub const BEGIN: &str =
    "<!-- strata bench all: headline table, written from docs/performance.json -->";
/// The line after it.
pub const END: &str = "<!-- strata bench all: end of the headline table -->";

/// `readme` with the text between its markers replaced by `table`.
pub fn replace_headline(readme: &str, table: &str) -> anyhow::Result<String> {
    let start = readme
        .find(BEGIN)
        .ok_or_else(|| anyhow::anyhow!("no line {BEGIN:?} to write after"))?;
    let after_begin = start + BEGIN.len();
    let end = readme[after_begin..]
        .find(END)
        .map(|i| after_begin + i)
        .ok_or_else(|| anyhow::anyhow!("no line {END:?} after {BEGIN:?}"))?;
    Ok(format!(
        "{}\n{}\n{}",
        &readme[..after_begin],
        table.trim(),
        &readme[end..]
    ))
}

/// A link to the section of docs/performance.md that shows bench `key`.
fn link(text: &str, key: &str) -> String {
    let title = sections()
        .into_iter()
        .find(|s| s.keys.contains(&key))
        .unwrap_or_else(|| panic!("no section of the page shows bench {key}"))
        .title;
    format!("[{text}](docs/performance.md#{})", anchor(title))
}

/// The headline table: one row per figure a newcomer asks for first.
pub fn headline(doc: &Document) -> anyhow::Result<String> {
    let mut out = String::from("| bench | Strata | peer | ratio |\n|---|---|---|---|\n");
    let (prom, vm) = (peer(doc, "prometheus"), peer(doc, "victoria-metrics"));
    let f = doc.figures("tsdb");
    if f.ran() {
        let (sb, si) = (
            f.num("strata.bytes_per_sample")?,
            f.num("strata.ingest_samples_per_cpu_s")?,
        );
        let (vb, vi) = (
            f.num("victoriametrics.bytes_per_sample")?,
            f.num("victoriametrics.ingest_samples_per_cpu_s")?,
        );
        let (pb, pi) = (
            f.num("prometheus.bytes_per_sample")?,
            f.num("prometheus.ingest_samples_per_cpu_s")?,
        );
        let fewer = |b: f64| format!("{:.0}%", (1.0 - sb / b) * 100.0);
        writeln!(
            out,
            "| {}: bytes per sample on disk | {} | VictoriaMetrics {vm}: {}; Prometheus {prom} \
             (compacted): {} | {} and {} fewer bytes |",
            link("storage", "tsdb"),
            num(sb, 3),
            num(vb, 3),
            num(pb, 3),
            fewer(vb),
            fewer(pb)
        )?;
        writeln!(
            out,
            "| {}: ingest samples per CPU-second | {} | VictoriaMetrics {vm}: {}; Prometheus \
             {prom} (promtool, window by window): {} | {} and {} |",
            link("storage", "tsdb"),
            millions(si),
            millions(vi),
            millions(pi),
            ratio(si / vi),
            ratio(si / pi)
        )?;
    }
    let f = doc.figures("agent");
    if f.ran() {
        writeln!(
            out,
            "| {}: CPU ms per collection and poll, mutual TLS / plaintext, buffer on disk | \
             {} / {} | node_exporter {}, scraped once per interval: {} | {} / {} (RSS {}), \
             median of the rounds |",
            link("agent", "agent"),
            num(f.num("strata.cpu_ms_per_collection")?, 3),
            num(f.num("strata_plaintext.cpu_ms_per_collection")?, 3),
            peer(doc, "prometheus-node-exporter"),
            num(f.num("node_exporter.cpu_ms_per_collection")?, 3),
            num(f.num("ratios.cpu.median")?, 2),
            num(f.num("ratios.cpu_plaintext.median")?, 2),
            num(f.num("ratios.rss.median")?, 2)
        )?;
    }
    let f = doc.figures("probes");
    if f.ran() {
        writeln!(
            out,
            "| {}: https TLS phase | {} ms | blackbox_exporter {}: {} ms | {} |",
            link("probes", "probes"),
            num(f.num("https.tls.strata_ms")?, 3),
            peer(doc, "prometheus-blackbox-exporter"),
            num(f.num("https.tls.blackbox_ms")?, 3),
            if f.flag("all_agree")? {
                "every phase within 1 ms or 10% of the peer's"
            } else {
                "not every phase agrees: see the page"
            }
        )?;
    }
    for (key, what, peers) in [
        (
            "failover",
            "sub-manager SIGKILLed, every orphan polled again (p99)",
            "Zabbix 7 proxy groups: 1 minute by default (10 s at the least); Icinga 2: not \
             below 30 s | documented defaults, not measured",
        ),
        (
            "failover_no_brokers",
            "every broker stopped, a sub-manager SIGKILLed, every orphan polled again by its \
             peers (p99)",
            "none measured | —",
        ),
    ] {
        let f = doc.figures(key);
        if f.ran() {
            writeln!(
                out,
                "| {}: {what} | {} ms, {} of {} samples lost | {peers} |",
                link("failover", key),
                num(f.num("p99_ms")?, 0),
                num(f.num("samples_lost")?, 0),
                num(f.num("ticks")? * f.num("agents")?, 0)
            )?;
        }
    }
    let f = doc.figures("promql");
    if f.ran() {
        writeln!(
            out,
            "| {}: queries answered as Prometheus answers them; HTTP latency p50 / p99 | {} of \
             {}; {} / {} ms | Prometheus {prom}: {} / {} ms | latency p50 {}, p99 {} |",
            link("PromQL", "promql"),
            num(f.num("identical")?, 0),
            num(f.num("queries")?, 0),
            num(f.num("strata_p50_ms")?, 2),
            num(f.num("strata_p99_ms")?, 2),
            num(f.num("prometheus_p50_ms")?, 2),
            num(f.num("prometheus_p99_ms")?, 2),
            ratio(f.num("strata_p50_ms")? / f.num("prometheus_p50_ms")?),
            ratio(f.num("strata_p99_ms")? / f.num("prometheus_p99_ms")?)
        )?;
    }
    let (f, g) = (doc.figures("forward"), doc.figures("forward_outage"));
    if f.ran() && g.ran() {
        writeln!(
            out,
            "| {}: exporters scraped and shipped to VictoriaMetrics, CPU s per million samples \
             delivered (5 min; 14 min with the receiver stopped 10) | {}; {}, {} missing | \
             Prometheus {prom} agent mode: {}; {}, {} missing | {}; {} |",
            link("forwarding", "forward"),
            num(f.num("strata.cpu_s_per_million")?, 2),
            num(g.num("strata.cpu_s_per_million")?, 2),
            num(f.num("strata.missing")? + g.num("strata.missing")?, 0),
            num(f.num("prometheus.cpu_s_per_million")?, 2),
            num(g.num("prometheus.cpu_s_per_million")?, 2),
            num(
                f.num("prometheus.missing")? + g.num("prometheus.missing")?,
                0
            ),
            ratio(f.num("cpu_ratio")?),
            ratio(g.num("cpu_ratio")?)
        )?;
    }
    let f = doc.figures("overview");
    if f.ran() {
        writeln!(
            out,
            "| {}: `GET /api/v1/overview` and a service's drill-down, {} regions × {} hosts \
             (p50 / p99) | {} / {} ms and {} / {} ms; every region followed again {} s after \
             a restart | none | — |",
            link("enterprise view", "overview"),
            num(f.num("regions")?, 0),
            num(f.num("resources")? / f.num("regions")?.max(1.0), 0),
            num(f.num("overview_p50_ms")?, 1),
            num(f.num("overview_p99_ms")?, 1),
            num(f.num("drill_p50_ms")?, 1),
            num(f.num("drill_p99_ms")?, 1),
            num(f.num("resubscribe_s")?, 1)
        )?;
    }
    let (f, g) = (doc.figures("region"), doc.figures("region_one_core"));
    if f.ran() {
        let agents = f.num("agents")?;
        let per = f.num("cpu_s_per_1000_agents_per_min")?;
        let one_core = if g.ran() {
            format!(
                "; one core, {} agents: lag p99 {} s, {} polls late",
                num(g.num("agents")?, 0),
                num(g.num("lag_p99_ms")? / 1000.0, 1),
                num(g.num("polls_late")?, 0)
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "| {}: {} agents × {} series every {} s; ingest lag p99, samples lost | {} s, {} \
             lost; {} cores ({} CPU-s per 1,000 agents per minute), {}; API p99 loaded / idle \
             {}{one_core} | Zabbix proxy, documented production deployment: \
             about 9,400 values/s | not measured side by side |",
            link("one sub-manager at scale", "region"),
            num(agents, 0),
            num(f.num("series_per_agent")?, 0),
            num(f.num("sample_interval_s")?, 0),
            num(f.num("lag_p99_ms")? / 1000.0, 1),
            num(f.num("samples_lost")?, 0),
            num(per * agents / 1000.0 / 60.0, 2),
            num(per, 2),
            mb(f.num("peak_rss_bytes")?),
            ratio(f.num("api_p99_load_ms")? / f.num("api_p99_idle_ms")?.max(0.001))
        )?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_goes_between_the_markers_and_nothing_else_moves() {
        let readme = format!("# Title\n\nbefore\n{BEGIN}\nold table\n{END}\nafter\n");
        let out = replace_headline(&readme, "| new |\n").unwrap();
        assert_eq!(
            out,
            format!("# Title\n\nbefore\n{BEGIN}\n| new |\n{END}\nafter\n")
        );
        let again = replace_headline(&out, "| new |").unwrap();
        assert_eq!(again, out, "writing the same table twice changes nothing");
        let e = replace_headline("no markers", "x").unwrap_err().to_string();
        assert!(e.contains("no line"), "{e}");
    }
}
