//! The targets, one per parser fed from outside, grouped by where their input comes from:
//! the host (`host`: /proc, netlink, logs, plugins, DNS and certificates of probed servers,
//! exporters), probed servers' answers read from a stream (`answers`: HTTP, SMTP), the
//! store and the wire (`store`: chunks, remote-write bodies), the disk and the other
//! components (`wire`: the agent's journal, the store's records, poll answers, gRPC
//! messages, signing requests), and people (`text`: TOML, PromQL, API parameters,
//! identities).

mod answers;
mod host;
mod store;
mod text;
mod wire;

/// One parser as a fuzz target.
#[derive(Clone, Copy)]
pub struct Target {
    /// Its name: the fuzz binary's, and its corpus directory's.
    pub name: &'static str,
    /// Feeds it one input; returns whatever the parser answers, panics only on a defect.
    pub run: fn(&[u8]),
    /// Inputs written here that start the exploration (more live in `fuzz/corpus/`); the
    /// same everywhere, so that a run's mutations are the same everywhere.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Real inputs read from this machine (its /proc files, its trust store), which the
    /// corpus writer (`cargo run -p strata-tests --example fuzz_corpus`) keeps in
    /// `fuzz/corpus/`; never read by the runs themselves.
    pub samples: fn() -> Vec<Vec<u8>>,
}

/// No samples.
fn none() -> Vec<Vec<u8>> {
    Vec::new()
}

/// Every target.
pub const TARGETS: &[Target] = &[
    host::PROC_STAT,
    host::PROC_MEMINFO,
    host::PROC_SMALL_FILES,
    host::PROC_NET,
    host::PROC_PID_STAT,
    host::PROC_CONNECTIONS,
    host::PROC_MOUNTS,
    host::PROC_ROUTES,
    host::SOCK_DIAG,
    host::ACCESS_LOG,
    host::PERFDATA,
    host::DNS_HEADER,
    host::CERTIFICATE,
    host::EXPOSITION,
    answers::HTTP_ANSWER,
    answers::SMTP_REPLY,
    store::CHUNK,
    store::REMOTE_WRITE,
    store::MATCHER,
    text::AGENT_TOML,
    text::PUSHED_TOML,
    text::RULES_TOML,
    text::NOTIFY_TOML,
    text::SERVICES_TOML,
    text::ROLE_TOML,
    text::PROMQL,
    text::API_PARAMETERS,
    text::IDENTITY,
    wire::AGENT_JOURNAL,
    wire::TSDB_RECORDS,
    wire::POLL_ANSWER,
    wire::GRPC_MESSAGES,
    wire::SIGNING_REQUEST,
    wire::FILE_BUNDLE,
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The input as text, invalid UTF-8 replaced (what the readers do with a file).
fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Seeds from string literals.
fn seeds(texts: &[&str]) -> Vec<Vec<u8>> {
    texts.iter().map(|t| t.as_bytes().to_vec()).collect()
}

/// Inputs of a target that takes several kinds, each behind the byte that picks its kind.
fn variants<T: AsRef<[u8]>>(inputs: &[(u8, T)]) -> Vec<Vec<u8>> {
    inputs
        .iter()
        .map(|(kind, input)| [&[*kind][..], input.as_ref()].concat())
        .collect()
}

/// The first byte picks among `n` variants of a target; the rest is the input.
fn pick(data: &[u8], n: u8) -> (u8, &[u8]) {
    match data.split_first() {
        Some((first, rest)) => (first % n, rest),
        None => (0, data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_is_a_binary_of_cargo_fuzz_and_nothing_else_is() {
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
        let mut files: Vec<String> = std::fs::read_dir(fuzz.join("fuzz_targets"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut names: Vec<String> = TARGETS.iter().map(|t| format!("{}.rs", t.name)).collect();
        names.sort();
        assert_eq!(files, names, "fuzz/fuzz_targets/ and TARGETS differ");
        for t in TARGETS {
            assert!(
                manifest.contains(&format!("name = \"{}\"", t.name)),
                "fuzz/Cargo.toml has no [[bin]] {}",
                t.name
            );
            let file =
                std::fs::read_to_string(fuzz.join(format!("fuzz_targets/{}.rs", t.name))).unwrap();
            assert!(
                file.contains(&format!("run(\"{}\"", t.name)),
                "{} runs another target",
                t.name
            );
        }
    }

    #[test]
    fn every_target_has_seeds_and_takes_empty_input() {
        for t in TARGETS {
            assert!(!(t.seeds)().is_empty(), "{} has no seed", t.name);
            (t.run)(&[]);
        }
    }
}
