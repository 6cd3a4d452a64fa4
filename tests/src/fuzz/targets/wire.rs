//! Targets fed by the disk under a component and by the other components over gRPC: the
//! agent's journal (its files after a crash or a fault), the store's write-ahead records,
//! rollup blocks and series keys, an agent's poll answer as a region stores it, the
//! messages each door decodes, and an agent's signing request (sent before it has any
//! identity).

use std::hint::black_box;
use std::sync::OnceLock;

use prost::Message;
use strata_proto::labels::label;
use strata_proto::v1::{
    AgentConfigRequest, BufferStats, CentreChange, ConfigureAgentRequest, ConfigureRequest,
    EnrolRequest, HeartbeatRequest, PeerRequest, PollRequest, PollResponse, PutNotifyRequest,
    PutPrincipalsRequest, PutRulesRequest, QueryRangeRequest, RegionUpdate, RegisterAgentsRequest,
    RunActionRequest, Sample, SeriesDesc, SnapshotRequest, WatchCentreRequest, WatchRegionRequest,
};
use strata_sub_manager::ingest::{AgentLimits, Dictionary, ingest};
use strata_tsdb::{Tsdb, TsdbOptions, records};

use super::{Target, none, pick, seeds, text, variants};

/// The agent journal's files read back: the first byte picks how many series the
/// dictionary holds for the samples' check, the rest is a file (a segment, or the
/// dictionary itself).
pub const AGENT_JOURNAL: Target = Target {
    name: "agent_journal",
    run: |data| {
        let (series, rest) = pick(data, 8);
        black_box(strata_agent::buffer::journal::read_back(
            rest,
            usize::from(series),
            1,
        ));
    },
    seeds: || {
        // a real journal's files: the dictionary and a segment with a kept state
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = strata_agent::buffer::journal::JournalConfig {
            dir: dir.path().to_path_buf(),
            max_bytes: 1 << 20,
            segment_bytes: 1 << 20,
        };
        let mut b =
            strata_agent::buffer::SampleBuffer::durable(100, std::time::Duration::ZERO, config)
                .expect("a journal");
        let labels = [("host".to_string(), "h".to_string())].into();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            b.push_series(name, &labels, 1000 * i as i64, i as f64);
        }
        b.keep_state("log", Some("at 42".into()));
        b.commit();
        b.close();
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir.path()).expect("the journal's files") {
            let path = entry.expect("a file").path();
            if path.extension().is_some_and(|e| e == "log") {
                out.push([&[3u8][..], &std::fs::read(&path).expect("a file")].concat());
            }
        }
        out.sort();
        out
    },
    samples: none,
};

/// A store record read back: a write-ahead batch (first byte 0), a rollup block (1), a
/// series key (2) or a chunk's value with its end time (3).
pub const TSDB_RECORDS: Target = Target {
    name: "tsdb_records",
    run: |data| {
        let (which, rest) = pick(data, 4);
        match which {
            0 => drop(black_box(records::decode_wal(rest))),
            1 => drop(black_box(records::decode_rollup_block(rest))),
            2 => drop(black_box(records::decode_series_key(rest))),
            _ => drop(black_box(records::chunk_end(rest))),
        }
    },
    seeds: || {
        let wal = records::encode_wal(&[(1, 1_700_000_000_000, 0.5), (2, -5, f64::NAN)]);
        let buckets = strata_tsdb::rollup::buckets(
            &[(0, 1.0), (60_000, 2.0), (61_000, -3.0)],
            strata_tsdb::rollup::Resolution::Minute,
        );
        let block = records::encode_rollup_block(&buckets.into_iter().collect());
        let key = records::series_key(
            "host_load1",
            &[("agent".to_string(), "web-1".to_string())].into(),
        );
        let chunk = strata_tsdb::chunk::encode(&[(1, 1.0), (2, 2.0)]);
        variants(&[(0, wal), (1, block), (2, key), (3, chunk)])
    },
    samples: none,
};

/// The store the poll answers go to, opened once per process.
fn store() -> &'static Tsdb {
    static STORE: OnceLock<(tempfile::TempDir, Tsdb)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("a temp dir");
            let options = TsdbOptions {
                max_series: 100_000,
                ..TsdbOptions::keep_forever()
            };
            let tsdb = Tsdb::open(dir.path(), options).expect("a store");
            (dir, tsdb)
        })
        .1
}

/// An agent's poll answer as a region decodes, learns and stores it (any agent the region
/// polls can send anything).
pub const POLL_ANSWER: Target = Target {
    name: "poll_answer",
    run: |data| {
        let Ok(answer) = PollResponse::decode(data) else {
            return;
        };
        let mut dictionary = Dictionary::with_limits(AgentLimits {
            max_series: 1000,
            max_labels: 30,
            max_new_per_hour: 1000,
        });
        let rules = strata_sub_manager::rules::RuleSet::default();
        if dictionary.learn(store(), &rules, "fuzz", &answer).is_ok() {
            black_box(ingest(store(), "fuzz", &answer, &dictionary).ok());
        }
    },
    seeds: || {
        let answer = PollResponse {
            agent_id: "web-1".into(),
            series: vec![
                SeriesDesc {
                    name: "host_load1".into(),
                    labels: vec![],
                },
                SeriesDesc {
                    name: "host_cpu_usage_ratio".into(),
                    labels: vec![label("cpu", "total")],
                },
            ],
            samples: vec![
                Sample {
                    series: 0,
                    ts_ms: 1_700_000_000_000,
                    value: 0.5,
                    seq: 1,
                },
                Sample {
                    series: 1,
                    ts_ms: i64::MIN,
                    value: f64::NAN,
                    seq: 2,
                },
                Sample {
                    series: 9,
                    ts_ms: 0,
                    value: 1.0,
                    seq: 3,
                },
            ],
            last_seq: 3,
            buffer: Some(BufferStats {
                epoch: 7,
                ..Default::default()
            }),
            dictionary: 2,
            ..Default::default()
        };
        vec![answer.encode_to_vec()]
    },
    samples: none,
};

/// Decodes `bytes` as message `M`, as a door or a client does before anything else.
fn decode<M: Message + Default>(bytes: &[u8]) {
    black_box(M::decode(bytes).ok());
}

/// The messages the doors decode: the first byte picks one (the agent's requests, the
/// region's, the brokers', the centres', and the streams the centres and the CLI read).
pub const GRPC_MESSAGES: Target = Target {
    name: "grpc_messages",
    run: |data| {
        let (which, rest) = pick(data, 18);
        match which {
            0 => decode::<PollRequest>(rest),
            1 => decode::<ConfigureRequest>(rest),
            2 => decode::<SnapshotRequest>(rest),
            3 => decode::<RunActionRequest>(rest),
            4 => decode::<HeartbeatRequest>(rest),
            5 => decode::<RegisterAgentsRequest>(rest),
            6 => decode::<EnrolRequest>(rest),
            7 => decode::<WatchRegionRequest>(rest),
            8 => decode::<QueryRangeRequest>(rest),
            9 => decode::<PutRulesRequest>(rest),
            10 => decode::<PutNotifyRequest>(rest),
            11 => decode::<PutPrincipalsRequest>(rest),
            12 => decode::<PeerRequest>(rest),
            13 => decode::<ConfigureAgentRequest>(rest),
            14 => decode::<AgentConfigRequest>(rest),
            15 => decode::<WatchCentreRequest>(rest),
            16 => decode::<RegionUpdate>(rest),
            _ => decode::<CentreChange>(rest),
        }
    },
    seeds: || {
        let poll = PollRequest {
            agent_id: "web-1".into(),
            ack_seq: 9,
            poller: "lab-1".into(),
            epoch: 7,
            known_series: 3,
            dictionary: 1,
            assigned: vec!["lab-1".into(), "lab-2".into()],
            ..Default::default()
        };
        let query = QueryRangeRequest {
            region: "lab".into(),
            resource_id: "lab/web-1".into(),
            name: "host_load1".into(),
            from_ms: 0,
            to_ms: 60_000,
            ..Default::default()
        };
        let rules = PutRulesRequest {
            region: "lab".into(),
            rules_toml: "[[rules]]\nname = 'x'\n".into(),
        };
        variants(&[
            (0, poll.encode_to_vec()),
            (8, query.encode_to_vec()),
            (9, rules.encode_to_vec()),
        ])
    },
    samples: none,
};

/// An EC P-256 signing request for CN=agent.
const CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----
MIHLMHICAQAwEDEOMAwGA1UEAwwFYWdlbnQwWTATBgcqhkjOPQIBBggqhkjOPQMB
BwNCAAQuPnu+3+Y9/5Lf3tlgiXtcXtRtG1vlub2sYfJffj4CPzeXZZodagRQiR4t
joUCGBeKSAwFdvmT5+R4EnQXTRMOoAAwCgYIKoZIzj0EAwIDSQAwRgIhAKYJQXyc
2QstBVCjcGMTaryTNlmMpNefPWgKVTIKYFNFAiEA8q3kX/1ZO3z2TrwDSbzighgD
fLe987ETm+yPEnWJ4aU=
-----END CERTIFICATE REQUEST-----
";

/// An agent's signing request, as the brokers and members read it at enrolment, before the
/// agent has any identity.
pub const SIGNING_REQUEST: Target = Target {
    name: "signing_request",
    run: |data| {
        black_box(strata_proto::identity::enrol::read_request(&text(data)).ok());
    },
    // one made by `openssl req` (a fresh one each run would change the runs' inputs)
    seeds: || seeds(&[CSR]),
    samples: none,
};

/// The directories `FILE_BUNDLE` checks a manifest's files against.
fn accept_dirs() -> Vec<strata_agent::files::AcceptDir> {
    vec![
        strata_agent::files::AcceptDir {
            dir: "/etc/app".into(),
            executable: false,
            max_file_bytes: 1024,
        },
        strata_agent::files::AcceptDir {
            dir: "/opt/plugins".into(),
            executable: true,
            max_file_bytes: 1 << 20,
        },
    ]
}

/// A trust of a CA of its own, made once.
fn bundle_trust() -> &'static strata_proto::identity::verify::Trust {
    static TRUST: OnceLock<strata_proto::identity::verify::Trust> = OnceLock::new();
    TRUST.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temp dir");
        let ca = strata_proto::identity::ca::Ca::init(dir.path()).expect("a CA");
        strata_proto::identity::verify::Trust::new(ca.cert_pem(), "").expect("its trust")
    })
}

/// A file bundle as an agent reads it from the centre (through a region it does not
/// trust): the first byte picks the signed envelope (its chain and signature checked
/// against the mesh's CA) or the manifest (its files checked against `accept_files`).
pub const FILE_BUNDLE: Target = Target {
    name: "file_bundle",
    run: |data| {
        let (kind, rest) = pick(data, 2);
        match kind {
            0 => {
                if let Ok(b) = strata_proto::v1::SignedBundle::decode(rest) {
                    black_box(
                        strata_proto::identity::signed::verify(
                            bundle_trust(),
                            &b.chain,
                            &b.manifest,
                            &b.signature,
                            strata_proto::identity::Role::SuperManager,
                            std::time::SystemTime::now(),
                        )
                        .ok(),
                    );
                }
            }
            _ => {
                if let Ok(m) = strata_proto::v1::BundleManifest::decode(rest) {
                    black_box(strata_agent::files::accept::check(&m.files, &accept_dirs()).ok());
                }
            }
        }
    },
    seeds: || {
        let file = |path: &str, mode: u32, content: &str| strata_proto::v1::BundleFile {
            path: path.into(),
            mode,
            content: content.as_bytes().to_vec(),
        };
        let manifest = strata_proto::v1::BundleManifest {
            name: "app-conf".into(),
            version: 2,
            targets: vec!["eu/web-1".into()],
            files: vec![
                file("/etc/app/app.conf", 0o640, "port = 8080\n"),
                file("/opt/plugins/check_x", 0o755, "#!/bin/sh\n"),
                file("/etc/app/../shadow", 0o4755, "x"),
            ],
            rollback_to: 0,
            published_by: "ana".into(),
            published_ms: 1,
        }
        .encode_to_vec();
        let signed = strata_proto::v1::SignedBundle {
            manifest: manifest.clone(),
            chain: vec![b"not a certificate".to_vec()],
            signature: vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
        }
        .encode_to_vec();
        variants(&[(0, signed), (1, manifest)])
    },
    samples: none,
};
