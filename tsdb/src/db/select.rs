//! Selecting series by label matchers over the postings (see `index`), and rebuilding the
//! postings of a store from before they existed.

use std::collections::BTreeSet;

use rocksdb::{Direction, IteratorMode, WriteBatch};

use super::Tsdb;
use crate::error::{Result, TsdbError};
use crate::index::{add_postings, label_prefix, parse_after_label, value_prefix};
use crate::keys::{self, CF_POSTINGS, CF_SERIES_BY_ID};
use crate::matcher::{MatchOp, Matcher, NAME_LABEL};
use crate::series::{SeriesId, SeriesInfo};

impl Tsdb {
    /// Ids of series whose `label` has a value for which `keep` holds.
    fn postings_where(
        &self,
        label: &str,
        keep: impl Fn(&str) -> bool,
    ) -> Result<BTreeSet<SeriesId>> {
        let prefix = label_prefix(label);
        let mut out = BTreeSet::new();
        let iter = self.raw_db().iterator_cf(
            self.cf(CF_POSTINGS),
            IteratorMode::From(&prefix, Direction::Forward),
        );
        for item in iter {
            let (key, _) = item.map_err(TsdbError::rocks(format!("read postings of {label}")))?;
            if !key.starts_with(&prefix) {
                break;
            }
            let (value, id) =
                parse_after_label(&key[prefix.len()..]).ok_or(TsdbError::Corrupt {
                    what: "postings key",
                    cf: CF_POSTINGS,
                })?;
            if keep(value) {
                out.insert(id);
            }
        }
        Ok(out)
    }

    /// Ids of series with `label=value`.
    fn postings(&self, label: &str, value: &str) -> Result<BTreeSet<SeriesId>> {
        let prefix = value_prefix(label, value);
        let mut out = BTreeSet::new();
        let iter = self.raw_db().iterator_cf(
            self.cf(CF_POSTINGS),
            IteratorMode::From(&prefix, Direction::Forward),
        );
        for item in iter {
            let (key, _) = item.map_err(TsdbError::rocks(format!(
                "read postings of {label}={value}"
            )))?;
            if !key.starts_with(&prefix) {
                break;
            }
            let raw: [u8; 8] = key[prefix.len()..]
                .try_into()
                .map_err(|_| TsdbError::Corrupt {
                    what: "postings key",
                    cf: CF_POSTINGS,
                })?;
            out.insert(u64::from_be_bytes(raw));
        }
        Ok(out)
    }

    /// The series that satisfy every matcher (a matcher on `__name__` selects by metric).
    pub fn select_matching(&self, matchers: &[Matcher]) -> Result<Vec<SeriesInfo>> {
        // Matchers that a missing label cannot satisfy narrow the set; run them first.
        let (narrowing, widening): (Vec<&Matcher>, Vec<&Matcher>) =
            matchers.iter().partition(|m| !m.matches(""));
        let mut selected: Option<BTreeSet<SeriesId>> = None;
        for m in narrowing {
            let set = match &m.op {
                MatchOp::Equal(v) => self.postings(&m.name, v)?,
                _ => self.postings_where(&m.name, |v| m.matches(v))?,
            };
            selected = Some(match selected {
                None => set,
                Some(s) => s.intersection(&set).copied().collect(),
            });
            if selected.as_ref().is_some_and(BTreeSet::is_empty) {
                return Ok(Vec::new());
            }
        }
        for m in widening {
            // Satisfied by series without the label: drop those whose value fails it.
            let excluded = self.postings_where(&m.name, |v| !m.matches(v))?;
            let base = match selected.take() {
                Some(s) => s,
                None => self.postings_where(NAME_LABEL, |_| true)?,
            };
            selected = Some(base.difference(&excluded).copied().collect());
        }
        let ids = match selected {
            Some(s) => s,
            None => self.postings_where(NAME_LABEL, |_| true)?,
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let key = self.series_key_of(id)?.ok_or(TsdbError::Corrupt {
                what: "series without key",
                cf: CF_SERIES_BY_ID,
            })?;
            let (name, labels) = keys::decode_series_key(&key)?;
            out.push(SeriesInfo { id, name, labels });
        }
        out.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
        Ok(out)
    }

    /// The stored key (name and labels) of series `id`.
    pub(crate) fn series_key_of(&self, id: SeriesId) -> Result<Option<Vec<u8>>> {
        self.raw_db()
            .get_cf(self.cf(CF_SERIES_BY_ID), id.to_be_bytes())
            .map_err(TsdbError::rocks(format!("read series {id}")))
    }

    /// The series of metric `name` whose labels equal every `(label, value)` in `matchers`.
    pub fn select(&self, name: &str, matchers: &[(String, String)]) -> Result<Vec<SeriesInfo>> {
        let mut all = vec![Matcher::equal(NAME_LABEL, name)];
        all.extend(matchers.iter().map(|(k, v)| Matcher::equal(k, v)));
        self.select_matching(&all)
    }

    /// Writes postings for every series if the postings are empty (a store from before
    /// they existed).
    pub(crate) fn rebuild_postings_if_missing(&self) -> Result<()> {
        let db = self.raw_db();
        if db
            .iterator_cf(self.cf(CF_POSTINGS), IteratorMode::Start)
            .next()
            .is_some()
        {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        for item in db.iterator_cf(self.cf(CF_SERIES_BY_ID), IteratorMode::Start) {
            let (id, key) = item.map_err(TsdbError::rocks("rebuild postings"))?;
            let id =
                u64::from_be_bytes(id.as_ref().try_into().map_err(|_| TsdbError::Corrupt {
                    what: "series id",
                    cf: CF_SERIES_BY_ID,
                })?);
            let (name, labels) = keys::decode_series_key(&key)?;
            add_postings(&mut batch, self.cf(CF_POSTINGS), id, &name, &labels);
        }
        db.write(batch)
            .map_err(TsdbError::rocks("write rebuilt postings"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TsdbOptions;
    use proptest::prelude::*;

    use crate::test_labels as labels;

    #[test]
    fn every_matcher_kind_selects_as_promql_does() {
        let dir = tempfile::tempdir().unwrap();
        let db = Tsdb::open(dir.path(), TsdbOptions::keep_forever()).unwrap();
        db.series_id("cpu", &labels(&[("agent", "web-1"), ("cpu", "0")]))
            .unwrap();
        db.series_id("cpu", &labels(&[("agent", "web-2"), ("cpu", "0")]))
            .unwrap();
        db.series_id("cpu", &labels(&[("agent", "db-1")])).unwrap();
        db.series_id("mem", &labels(&[("agent", "web-1")])).unwrap();
        let hosts = |ms: Vec<Matcher>| -> Vec<String> {
            db.select_matching(&ms)
                .unwrap()
                .into_iter()
                .map(|s| format!("{}:{}", s.name, s.labels["agent"]))
                .collect()
        };
        let cpu = || Matcher::equal(NAME_LABEL, "cpu");
        assert_eq!(
            hosts(vec![cpu()]),
            vec!["cpu:db-1", "cpu:web-1", "cpu:web-2"]
        );
        assert_eq!(
            hosts(vec![cpu(), Matcher::regex("agent", "web-.*").unwrap()]),
            vec!["cpu:web-1", "cpu:web-2"]
        );
        assert_eq!(
            hosts(vec![cpu(), Matcher::not_equal("agent", "web-1")]),
            vec!["cpu:db-1", "cpu:web-2"]
        );
        assert_eq!(
            hosts(vec![cpu(), Matcher::not_regex("agent", "web.*").unwrap()]),
            vec!["cpu:db-1"]
        );
        assert_eq!(
            hosts(vec![cpu(), Matcher::equal("cpu", "")]),
            vec!["cpu:db-1"],
            "a missing label equals \"\""
        );
        assert_eq!(
            hosts(vec![Matcher::equal("agent", "web-1")]),
            vec!["cpu:web-1", "mem:web-1"]
        );
        assert!(hosts(vec![cpu(), Matcher::equal("agent", "nope")]).is_empty());
        assert_eq!(
            db.select("cpu", &[("agent".into(), "db-1".into())])
                .unwrap()
                .len(),
            1
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
        /// Postings select exactly what checking every series' labels selects.
        #[test]
        fn postings_agree_with_a_full_scan(
            series in proptest::collection::vec((0u8..3, 0u8..4, proptest::option::of(0u8..3)), 1..30),
            eq in proptest::option::of(0u8..4),
            re in proptest::option::of(proptest::sample::select(vec!["0", "1|2", ".*", "[0-1]", "", ".+"])),
            ne in proptest::option::of(0u8..3),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let db = Tsdb::open(dir.path(), TsdbOptions::keep_forever()).unwrap();
            let mut all = Vec::new();
            for (name, host, zone) in &series {
                let mut l = labels(&[("host", &host.to_string())]);
                if let Some(z) = zone {
                    l.insert("zone".into(), z.to_string());
                }
                let name = format!("m{name}");
                let id = db.series_id(&name, &l).unwrap();
                all.push((id, name, l));
            }
            let mut matchers = vec![];
            if let Some(h) = eq { matchers.push(Matcher::equal("host", &h.to_string())); }
            if let Some(r) = re { matchers.push(Matcher::regex("zone", r).unwrap()); }
            if let Some(z) = ne { matchers.push(Matcher::not_equal("zone", &z.to_string())); }
            let mut want: Vec<u64> = all
                .iter()
                .filter(|(_, name, l)| matchers.iter().all(|m| {
                    let v = if m.name == NAME_LABEL { name.as_str() } else { l.get(&m.name).map_or("", String::as_str) };
                    m.matches(v)
                }))
                .map(|(id, _, _)| *id)
                .collect();
            want.sort_unstable();
            want.dedup();
            let mut got: Vec<u64> = db.select_matching(&matchers).unwrap().into_iter().map(|s| s.id).collect();
            got.sort_unstable();
            prop_assert_eq!(got, want);
        }
    }
}
