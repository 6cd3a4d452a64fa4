//! What one run of a check found — a Nagios-style state, a message, detail lines and
//! metrics — and the small helpers every check uses to build it.

use strata_proto::v1::{ActionRun, CheckState};

/// One metric of a check's result; the sink adds the `check` label.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// What one run of a check found.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub state: CheckState,
    pub message: String,
    /// Lines that explain the result (matching log lines, top paths, plugin output).
    pub detail: Vec<String>,
    pub metrics: Vec<Metric>,
    /// What the check keeps between runs, stored with these metrics so that a restarted
    /// agent resumes where they left off (a log check's place and totals).
    pub keep: Option<String>,
    /// The tries of the check's recovery action since it last passed.
    pub recovery: Vec<ActionRun>,
}

impl Outcome {
    /// A result with no detail and no metrics.
    pub fn new(state: CheckState, message: impl Into<String>) -> Self {
        Self {
            state,
            message: message.into(),
            detail: Vec::new(),
            metrics: Vec::new(),
            keep: None,
            recovery: Vec::new(),
        }
    }

    /// Adds a metric.
    pub fn metric(&mut self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        self.metrics.push(Metric {
            name,
            labels: labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            value,
        });
    }
}

/// The worse of two states, in Nagios order of gravity (CRITICAL > WARNING > UNKNOWN > OK).
pub fn worse(a: CheckState, b: CheckState) -> CheckState {
    fn rank(s: CheckState) -> u8 {
        match s {
            CheckState::Ok => 0,
            CheckState::Unknown => 1,
            CheckState::Warning => 2,
            CheckState::Critical => 3,
        }
    }
    if rank(b) > rank(a) { b } else { a }
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
