//! A test sink for readings, shared by the tests of the procfs modules.

use super::Emit;

/// Readings as (name, labels joined, value).
#[derive(Default)]
pub(super) struct Seen(pub(super) Vec<(String, String, f64)>);

impl Emit for Seen {
    fn emit(&mut self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.0.push((name.to_string(), labels.join(","), value));
    }
}

impl Seen {
    /// Asserts each (name, labels, value) was seen.
    pub(super) fn expect(&self, want: &[(&str, &str, f64)]) {
        for (name, labels, value) in want {
            assert_eq!(self.get(name, labels), Some(*value), "{name}{{{labels}}}");
        }
    }

    pub(super) fn get(&self, name: &str, labels: &str) -> Option<f64> {
        self.0
            .iter()
            .find(|(n, l, _)| n == name && l == labels)
            .map(|r| r.2)
    }
}
