//! Targets fed by people and their tools: every TOML a file or the API takes (the roles'
//! configurations, a pushed agent configuration, rules, notification books, services),
//! PromQL, the API's time, step and period parameters, and identities in certificates.
//! Seeds are the files shipped in `deploy/`.

use std::hint::black_box;
use std::sync::OnceLock;

use strata_agent::AgentConfig;
use strata_agent::control::push;
use strata_agent::policy::Policy;
use strata_proto::config::RoleConfig;

use super::{Target, none, pick, seeds, text, variants};

const AGENT: &str = include_str!("../../../../deploy/agent.toml");
const BROKER: &str = include_str!("../../../../deploy/broker.toml");
const SUB_MANAGER: &str = include_str!("../../../../deploy/sub-manager.toml");
const SUPER_MANAGER: &str = include_str!("../../../../deploy/super-manager.toml");
const RULES: &str = include_str!("../../../../deploy/rules.toml");
const SERVICES: &str = include_str!("../../../../deploy/services.toml");

/// A configuration parsed and then checked as a daemon checks it at start (no
/// environment).
fn role<C: RoleConfig>(text: &str) {
    if let Ok(config) = C::parse(text) {
        black_box(config.finish(&|_| None).is_ok());
    }
}

/// The agent's own file.
pub const AGENT_TOML: Target = Target {
    name: "agent_toml",
    run: |data| {
        role::<AgentConfig>(&text(data));
    },
    seeds: || {
        seeds(&[
            AGENT,
            "[[checks]]\nname = 'web'\nkind = 'http'\nurl = 'https://x/'\n[[scrape]]\nname = 'n'\nurl = 'http://127.0.0.1:9100/metrics'\n",
        ])
    },
    samples: none,
};

/// The local policy pushed configurations are judged by.
fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let local = "allow_paths = ['/var/log/**']\n[commands.disk]\ncommand = ['/bin/df']\n\
                     [commands.ping]\ncommand = ['/bin/echo']\nallow_args = true\n\
                     args_pattern = '[a-z0-9.]+'\n";
        AgentConfig::parse(local)
            .map(|c| c.policy())
            .unwrap_or_else(|e| panic!("the fuzz target's own policy does not parse: {e}"))
    })
}

/// A configuration pushed to an agent, judged by its local policy.
pub const PUSHED_TOML: Target = Target {
    name: "pushed_toml",
    run: |data| {
        black_box(push::parse(&text(data), policy()).is_ok());
    },
    seeds: || {
        seeds(&[
            "[items.processes]\ntop = 5\nwatch = ['nginx', '^postgres']\n[[checks]]\nname = 'disk'\n\
             kind = 'script'\nrun = 'disk'\n[[checks]]\nname = 'p'\nkind = 'script'\nrun = 'ping'\n\
             args = ['host1']\n[[checks]]\nname = 'log'\nkind = 'log'\npath = '/var/log/syslog'\n\
             pattern = 'error'\n",
        ])
    },
    samples: none,
};

/// A region's rules file (also what `PUT` of the rules takes).
pub const RULES_TOML: Target = Target {
    name: "rules_toml",
    run: |data| {
        black_box(strata_sub_manager::rules::model::parse(&text(data), "fuzz").is_ok());
    },
    seeds: || seeds(&[RULES]),
    samples: none,
};

/// A region's notification book: receivers, routes, silences, escalation.
pub const NOTIFY_TOML: Target = Target {
    name: "notify_toml",
    run: |data| {
        black_box(strata_sub_manager::notify::book::parse(&text(data)).is_ok());
    },
    seeds: || {
        // the [notify] part of the shipped sub-manager file, and the whole file
        let notify = SUB_MANAGER
            .find("[notify")
            .map_or(SUB_MANAGER, |at| &SUB_MANAGER[at..]);
        seeds(&[notify, SUB_MANAGER])
    },
    samples: none,
};

/// The services file of the centre.
pub const SERVICES_TOML: Target = Target {
    name: "services_toml",
    run: |data| {
        black_box(strata_super_manager::services::model::parse_file(&text(data)).is_ok());
    },
    seeds: || seeds(&[SERVICES]),
    samples: none,
};

/// The broker's, sub-manager's and super-manager's files (the first byte picks which).
pub const ROLE_TOML: Target = Target {
    name: "role_toml",
    run: |data| {
        let (which, rest) = pick(data, 3);
        let t = text(rest);
        match which {
            0 => role::<strata_broker::BrokerConfig>(&t),
            1 => role::<strata_sub_manager::SubManagerConfig>(&t),
            _ => role::<strata_super_manager::SuperManagerConfig>(&t),
        }
    },
    seeds: || variants(&[(0, BROKER), (1, SUB_MANAGER), (2, SUPER_MANAGER)]),
    samples: none,
};

/// PromQL, as the HTTP API and the rules take it.
pub const PROMQL: Target = Target {
    name: "promql",
    run: |data| {
        black_box(strata_web::promql::parse(&text(data)).is_ok());
    },
    seeds: || {
        seeds(&[
            "sum by (job) (rate(http_requests_total{job=~\"api|web\", code!=\"200\"}[5m] offset 1h))",
            "histogram_quantile(0.99, sum by (le) (rate(bench_request_seconds_bucket[5m])))",
            "max_over_time(deriv(node_memory_MemAvailable_bytes[1h:5m])[1d:]) @ 1700000000 > bool 0",
            "label_replace(up, \"a\", \"$1\", \"instance\", \"(.*):.*\") or on(job) group_left vector(1)",
            "-(1 + 2) ^ 3 % 4 atan2 5 unless topk(3, {__name__=~\".+\"})",
        ])
    },
    samples: none,
};

/// The API's parameters: PromQL times and steps, report periods, RFC 3339 times, resource
/// ids, percent-encoded text (the first byte picks which).
pub const API_PARAMETERS: Target = Target {
    name: "api_parameters",
    run: |data| {
        let (which, rest) = pick(data, 6);
        let t = text(rest);
        match which {
            0 => black_box(strata_web::promql::http::parse_time("time", &t).is_ok()),
            1 => black_box(strata_web::promql::http::parse_step("step", &t).is_ok()),
            2 => black_box(strata_super_manager::period::parse(&t, 1_700_000_000_000).is_ok()),
            3 => black_box(strata_proto::windows::rfc3339_ms(&t).is_ok()),
            4 => black_box(strata_proto::ResourceId::parse(&t).is_ok()),
            _ => black_box(!strata_web::auth::policy::percent_decode(&t).is_empty()),
        };
    },
    seeds: || {
        variants(&[
            (0, "2026-12-05T10:00:00.123Z"),
            (0, "1700000000.5"),
            (1, "15s"),
            (1, "1h30m"),
            (2, "7d"),
            (2, "2026-11-01..2026-12-01"),
            (3, "2026-12-05T10:00:00+01:00"),
            (4, "host:region-a/web-1"),
            (5, "a%20b%2Fc%zz%"),
            (1, "0.001"),
        ])
    },
    samples: none,
};

/// Identities read from certificates' SAN URIs (the first byte even) and the revocation
/// list's text (odd).
pub const IDENTITY: Target = Target {
    name: "identity",
    run: |data| {
        let (which, rest) = pick(data, 2);
        let t = text(rest);
        if which == 0 {
            black_box(strata_proto::identity::Identity::parse_uri(&t).is_ok());
        } else {
            black_box(strata_proto::identity::ca::parse_revoked(&t).len());
        }
    },
    seeds: || {
        variants(&[
            (0, "spiffe://strata/sub-manager/region-a/member-1"),
            (0, "spiffe://strata/agent/r/h%2Fx"),
            (
                1,
                "# revoked\nspiffe://strata/agent/r/h1\n\n  spiffe://x \n",
            ),
        ])
    },
    samples: none,
};
