//! The TOML of every part of a mesh: what the builder decides (ids, port 0, brokers, data
//! directories, intervals), with the test's own TOML merged over it table by table.

use std::path::Path;
use std::time::Duration;

use toml::{Table, Value};

use crate::error::{Result, TestkitError};

/// A humantime duration the configs accept.
pub(crate) fn duration(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

fn table(pairs: &[(&str, Value)]) -> Table {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

/// The `[tls]` table of a part: its node directory, or plaintext when `None`.
fn tls(dir: Option<&Path>) -> Value {
    Value::Table(match dir {
        Some(dir) => table(&[("dir", s(dir.to_string_lossy()))]),
        None => table(&[("insecure", Value::Boolean(true))]),
    })
}

/// Merges `over` into `base`: tables key by key, anything else replaced.
fn merge_into(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge_into(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// `base` with the TOML text `extra` merged over it, as text.
pub(crate) fn render(mut base: Table, extra: &str, part: &str) -> Result<String> {
    let bad = |message: String| TestkitError::Config {
        part: part.into(),
        message,
    };
    let over: Table = extra
        .parse()
        .map_err(|e: toml::de::Error| bad(e.to_string()))?;
    merge_into(&mut base, over);
    toml::to_string(&base).map_err(|e| bad(e.to_string()))
}

/// A broker listening on port 0, with the node directory `tls` (none: plaintext).
pub(crate) fn broker(id: &str, tls_dir: Option<&Path>, extra: &str) -> Result<String> {
    let base = table(&[
        ("id", s(id)),
        ("listen", s("127.0.0.1:0")),
        ("tls", tls(tls_dir)),
    ]);
    render(base, extra, id)
}

/// What a super-manager's config needs.
pub(crate) struct SuperPlan<'a> {
    pub id: &'a str,
    pub http: &'a str,
    pub brokers: &'a [String],
    pub data_dir: &'a Path,
    /// Its node directory (none: plaintext).
    pub tls: Option<&'a Path>,
}

/// A super-manager on `http` (gRPC on port 0), following `brokers`, its store in
/// `data_dir`.
pub(crate) fn super_manager(plan: &SuperPlan<'_>, extra: &str) -> Result<String> {
    crate::access::seed(plan.data_dir)?;
    let base = table(&[
        ("id", s(plan.id)),
        ("http", s(plan.http)),
        ("grpc_listen", s("127.0.0.1:0")),
        ("brokers", strings(plan.brokers)),
        ("data_dir", s(plan.data_dir.to_string_lossy())),
        ("tls", tls(plan.tls)),
    ]);
    render(base, extra, plan.id)
}

/// What a member's config needs beyond the region's spec.
pub(crate) struct MemberPlan<'a> {
    pub id: &'a str,
    pub region: &'a str,
    pub brokers: &'a [String],
    /// Where brokers dial it, when not its own address (a proxy).
    pub advertise: Option<&'a str>,
    pub data_dir: &'a Path,
    pub interval: Duration,
    pub console: bool,
    /// `(id, address)` of the agents listed in its config.
    pub agents: &'a [(String, String)],
    /// Its node directory (none: plaintext).
    pub tls: Option<&'a Path>,
}

/// A region member listening on port 0.
pub(crate) fn member(plan: &MemberPlan<'_>, extra: &str) -> Result<String> {
    crate::access::seed(plan.data_dir)?;
    let mut base = table(&[
        ("id", s(plan.id)),
        ("region", s(plan.region)),
        ("listen", s("127.0.0.1:0")),
        ("data_dir", s(plan.data_dir.to_string_lossy())),
        ("brokers", strings(plan.brokers)),
        ("tls", tls(plan.tls)),
        (
            "poll",
            Value::Table(table(&[
                ("interval", s(duration(plan.interval))),
                ("backoff_max", s("1s")),
            ])),
        ),
    ]);
    if let Some(advertise) = plan.advertise {
        base.insert("advertise".into(), s(advertise));
    }
    if plan.console {
        base.insert("console_listen".into(), s("127.0.0.1:0"));
    }
    if !plan.agents.is_empty() {
        let agents = plan
            .agents
            .iter()
            .map(|(id, addr)| Value::Table(table(&[("id", s(id)), ("address", s(addr))])))
            .collect();
        base.insert("agents".into(), Value::Array(agents));
    }
    render(base, extra, plan.id)
}

/// A real agent listening on port 0, sampling every `interval`, registered with `brokers`
/// for `region` unless it is listed, with the node directory `tls_dir` (none: plaintext);
/// `{http}` in `extra` is the centre's HTTP address.
pub(crate) fn agent(
    extra: &str,
    http: &str,
    region: &str,
    brokers: Option<&[String]>,
    interval: Duration,
    tls_dir: Option<&Path>,
) -> Result<String> {
    let mut base = table(&[
        ("listen", s("127.0.0.1:0")),
        ("collect_interval", s(duration(interval))),
        ("tls", tls(tls_dir)),
    ]);
    if let Some(brokers) = brokers {
        base.insert(
            "registration".into(),
            Value::Table(table(&[
                ("brokers", strings(brokers)),
                ("region", s(region)),
            ])),
        );
    }
    render(base, &extra.replace("{http}", http), "an agent")
}

/// The id a real agent's TOML gives, or the host's name (the agent's default).
pub(crate) fn agent_id(toml: &str) -> Option<String> {
    let t: Table = toml.parse().ok()?;
    t.get("id")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_s_toml_merges_table_by_table() {
        let plan = MemberPlan {
            id: "west-1",
            region: "west",
            brokers: &["127.0.0.1:1".into()],
            advertise: None,
            data_dir: Path::new("/tmp/x"),
            interval: Duration::from_millis(500),
            console: true,
            agents: &[("a-1".into(), "127.0.0.1:2".into())],
            tls: Some(Path::new("/tmp/tls")),
        };
        let text = member(&plan, "[poll]\ntimeout = \"2s\"\n").unwrap();
        let t: Table = text.parse().unwrap();
        assert_eq!(t["poll"]["interval"].as_str(), Some("500ms"));
        assert_eq!(t["poll"]["timeout"].as_str(), Some("2s"));
        assert_eq!(t["console_listen"].as_str(), Some("127.0.0.1:0"));
        assert_eq!(t["agents"][0]["id"].as_str(), Some("a-1"));
        assert_eq!(t["tls"]["dir"].as_str(), Some("/tmp/tls"));
        let err = member(&plan, "[poll\n").unwrap_err().to_string();
        assert!(err.contains("west-1"), "{err}");
    }

    #[test]
    fn an_agent_s_toml_may_name_the_centre() {
        let text = agent(
            "id = 'web-1'\n[[checks]]\nname = 'c'\nkind = 'http'\nurl = 'http://{http}/'\n",
            "127.0.0.1:9",
            "east",
            Some(&["127.0.0.1:1".into()]),
            Duration::from_secs(1),
            None,
        )
        .unwrap();
        assert!(text.contains("http://127.0.0.1:9/"), "{text}");
        assert!(text.contains("[registration]"), "{text}");
        assert!(text.contains("insecure = true"), "{text}");
        assert_eq!(agent_id(&text).as_deref(), Some("web-1"));
    }
}
