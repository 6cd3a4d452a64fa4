//! node_exporter's metric names over Strata's series, so that the dashboards people already
//! have (Grafana's "Node Exporter Full" above all) read Strata's agents unchanged.
//!
//! The agent collects under its own names (`host_*`, with Strata's labels: `agent`,
//! `interface`, `kind`...); the query layer answers node_exporter's names from them, by a
//! table ([`table`]): a selector naming `node_memory_MemFree_bytes{instance="web-1"}` reads
//! `host_memory_detail_bytes{kind="mem_free",agent="web-1"}`, and the series it returns are
//! named and labelled as node_exporter's would be: `instance` for the agent, `job="node"`,
//! `device` for a network interface, without the labels that picked them (`kind`). Values are
//! the same (both are in base units). Strata's own names still answer as before; a selector
//! without a name (`{instance="web-1"}`, `{__name__=~"node_.*"}`) sees both.
//!
//! Collecting under both names would double the agent's series and the store; mapping at
//! query time costs a table lookup per selector.

mod table;

use std::collections::BTreeSet;
use std::sync::Arc;

use promql_parser::label::{MatchOp, Matcher, Matchers};
use promql_parser::parser::VectorSelector;

use super::value::{Labels, NAME, RawSeries};
use super::{LabelsFuture, PartialFuture, SelectFuture, Source, selects};
pub use table::{ENTRIES, Entry};

/// node_exporter's label for the scraped target: Strata's agent.
pub const INSTANCE: &str = "instance";
/// node_exporter's label for the scrape job, always [`JOB_VALUE`] here.
pub const JOB: &str = "job";
/// The `job` every node_exporter-named series carries.
pub const JOB_VALUE: &str = "node";
/// Strata's label naming the agent.
const AGENT: &str = "agent";
/// node_exporter's label for a network interface (and a disk or filesystem device).
const DEVICE: &str = "device";
/// Strata's label naming a network interface.
const INTERFACE: &str = "interface";

/// The node_exporter form of a Strata series' labels, when the table has its name.
pub fn to_node(labels: &Labels) -> Option<Labels> {
    let name = labels.get(NAME)?;
    let entry = table::BY_HOST
        .get(name.as_str())?
        .iter()
        .find(|e| picks(e, labels))?;
    Some(relabel(entry, labels))
}

/// Whether `labels` carry the fixed labels of `entry`.
fn picks(entry: &Entry, labels: &Labels) -> bool {
    entry
        .fixed
        .iter()
        .all(|(k, v)| labels.get(*k).is_some_and(|l| l == v))
}

/// `labels` (a series of `entry.host`) as node_exporter's `entry.node`.
fn relabel(entry: &Entry, labels: &Labels) -> Labels {
    let mut out = Labels::new();
    for (k, v) in labels {
        if k == NAME || entry.fixed.iter().any(|(f, _)| f == k) {
            continue;
        }
        let k = match k.as_str() {
            AGENT => INSTANCE,
            INTERFACE if entry.device_is_interface => DEVICE,
            other => other,
        };
        out.insert(k.to_string(), v.clone());
    }
    out.insert(NAME.to_string(), entry.node.clone());
    out.insert(JOB.to_string(), JOB_VALUE.to_string());
    out
}

/// The entries whose node_exporter name `selector` may select.
fn candidates(selector: &VectorSelector) -> Vec<&'static Entry> {
    if let Some(name) = &selector.name {
        return table::BY_NODE
            .get(name.as_str())
            .copied()
            .into_iter()
            .collect();
    }
    let accepts = |ms: &[Matcher], node: &str| {
        ms.iter()
            .filter(|m| m.name == NAME)
            .all(|m| m.is_match(node))
    };
    let ors = &selector.matchers.or_matchers;
    ENTRIES
        .iter()
        .filter(|e| {
            accepts(&selector.matchers.matchers, &e.node)
                && (ors.is_empty() || ors.iter().any(|g| accepts(g, &e.node)))
                && may_hold(&selector.matchers.matchers, e)
        })
        .collect()
}

/// Whether `entry`'s node_exporter series can satisfy `matchers` on the labels whose value
/// the entry fixes (`job`) or that it never carries (`agent`, `interface`, its fixed labels):
/// a selector without a name (`{agent="web-1"}`) reads no more than it may select.
fn may_hold(matchers: &[Matcher], entry: &Entry) -> bool {
    matchers.iter().all(|m| match m.name.as_str() {
        JOB => m.is_match(JOB_VALUE),
        AGENT => m.is_match(""),
        INTERFACE if entry.device_is_interface => m.is_match(""),
        l if entry.fixed.iter().any(|(k, _)| *k == l) => m.is_match(""),
        _ => true,
    })
}

/// The selector of Strata's series that `selector` may select through `entries`: their
/// names, its matchers on the labels that keep their meaning (`instance` as `agent`), the
/// others left to the test of each mapped series against `selector` itself.
fn host_selector(selector: &VectorSelector, entries: &[&'static Entry]) -> VectorSelector {
    let hosts: BTreeSet<&str> = entries.iter().map(|e| e.host.as_str()).collect();
    let fixed: BTreeSet<&str> = entries
        .iter()
        .flat_map(|e| e.fixed.iter().map(|(k, _)| *k))
        .collect();
    let interfaces = entries.iter().filter(|e| e.device_is_interface).count();
    let mut matchers = Vec::new();
    let name = if let [only] = hosts.iter().collect::<Vec<_>>()[..] {
        Some(only.to_string())
    } else {
        let alternatives: Vec<String> = hosts.iter().map(|h| regex::escape(h)).collect();
        let value = alternatives.join("|");
        let re = regex::Regex::new(&format!("^(?:{value})$")).expect("escaped names");
        matchers.push(Matcher::new(MatchOp::Re(re), NAME, &value));
        None
    };
    for m in &selector.matchers.matchers {
        let label = match m.name.as_str() {
            NAME | JOB | AGENT | INTERFACE => continue,
            l if fixed.contains(l) => continue,
            INSTANCE => AGENT,
            DEVICE if interfaces == entries.len() => INTERFACE,
            DEVICE if interfaces > 0 => continue,
            l => l,
        };
        matchers.push(Matcher {
            name: label.to_string(),
            ..m.clone()
        });
    }
    if let [only] = entries {
        for (k, v) in &only.fixed {
            matchers.push(Matcher::new(MatchOp::Equal, k, v));
        }
    }
    VectorSelector {
        name,
        matchers: Matchers::new(matchers),
        ..selector.clone()
    }
}

/// `series` (of `entries`' Strata names) as node_exporter's, those `selector` selects.
fn mapped(
    selector: &VectorSelector,
    entries: &[&'static Entry],
    labels: &Labels,
) -> Option<Labels> {
    let name = labels.get(NAME)?;
    let entry = entries
        .iter()
        .find(|e| &e.host == name && picks(e, labels))?;
    let out = relabel(entry, labels);
    selects(selector, &out).then_some(out)
}

/// Whether `selector` may also select Strata's own names (it names none of the table's).
fn passes_through(selector: &VectorSelector) -> bool {
    selector
        .name
        .as_deref()
        .is_none_or(|n| !table::BY_NODE.contains_key(n))
}

/// A source that also answers node_exporter's names from `inner`'s Strata series.
pub struct NodeNames(pub Arc<dyn Source>);

impl NodeNames {
    /// `inner`, answering node_exporter's names too.
    pub fn wrap(inner: Arc<dyn Source>) -> Arc<dyn Source> {
        Arc::new(Self(inner))
    }
}

impl Source for NodeNames {
    fn select<'a>(
        &'a self,
        selector: &'a VectorSelector,
        from_ms: i64,
        to_ms: i64,
    ) -> SelectFuture<'a> {
        Box::pin(async move {
            let entries = candidates(selector);
            let mut out = Vec::new();
            if !entries.is_empty() {
                let host = host_selector(selector, &entries);
                for s in self.0.select(&host, from_ms, to_ms).await? {
                    if let Some(labels) = mapped(selector, &entries, &s.labels) {
                        out.push(RawSeries {
                            labels,
                            samples: s.samples,
                        });
                    }
                }
            }
            if passes_through(selector) {
                out.extend(self.0.select(selector, from_ms, to_ms).await?);
            }
            Ok(out)
        })
    }

    /// The inner source's parts (node_exporter's names are answered in each part too).
    fn parts_label(&self) -> Option<&str> {
        self.0.parts_label()
    }

    fn partial<'a>(
        &'a self,
        expr: &'a str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> PartialFuture<'a> {
        self.0.partial(expr, start_ms, end_ms, step_ms)
    }

    /// The inner source's warnings, each once (a region that failed both the mapped and
    /// the plain read of one selector is said once).
    fn warnings(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.0
            .warnings()
            .into_iter()
            .filter(|w| seen.insert(w.clone()))
            .collect()
    }

    fn series<'a>(
        &'a self,
        selector: &'a VectorSelector,
        from_ms: i64,
        to_ms: i64,
    ) -> LabelsFuture<'a> {
        Box::pin(async move {
            let entries = candidates(selector);
            let mut out = Vec::new();
            if !entries.is_empty() {
                let host = host_selector(selector, &entries);
                for labels in self.0.series(&host, from_ms, to_ms).await? {
                    out.extend(mapped(selector, &entries, &labels));
                }
            }
            if passes_through(selector) {
                out.extend(self.0.series(selector, from_ms, to_ms).await?);
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests;
