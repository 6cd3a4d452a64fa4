//! The overview's own store: each member's journal cursor, records and events, and the
//! incidents, written with every update so that a restarted super-manager carries on.

use prost::Message;
use strata_proto::v1::{CheckStatus, Event, Resource};
use strata_tsdb::{Journal, TableOp};
use tracing::warn;

use super::{MemberData, Overview};
use crate::incidents::{Incidents, Op};

pub(super) fn cursor_key(region: &str, member: &str) -> Vec<u8> {
    format!("c/{region}/{member}").into_bytes()
}

pub(super) fn resource_key(region: &str, member: &str, id: &str) -> Vec<u8> {
    format!("r/{region}/{member}/{id}").into_bytes()
}

pub(super) fn check_key(region: &str, member: &str, id: &str) -> Vec<u8> {
    format!("k/{region}/{member}/{id}").into_bytes()
}

pub(super) fn event_key(region: &str, member: &str, id: &str) -> Vec<u8> {
    format!("e/{region}/{member}/{id}").into_bytes()
}

/// Splits a stored key `<prefix><region>/<member>/<rest>`.
fn split_key<'a>(key: &'a str, prefix: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let rest = key.strip_prefix(prefix)?;
    let (region, rest) = rest.split_once('/')?;
    match rest.split_once('/') {
        Some((member, tail)) => Some((region, member, tail)),
        None => Some((region, rest, "")),
    }
}

impl Overview {
    /// An overview kept in `store` as well, carried on from what it holds; at most
    /// `history` resolved incidents are kept.
    pub fn open(store: Journal, history: usize) -> Result<Self, strata_tsdb::TsdbError> {
        let mut o = Self {
            incidents: Incidents::new(history),
            ..Self::default()
        };
        let text = |k: &[u8]| String::from_utf8_lossy(k).into_owned();
        for (k, v) in store.scan(b"c/")? {
            let key = text(&k);
            let Some((region, member, _)) = split_key(&key, "c/") else {
                continue;
            };
            let value = text(&v);
            let (epoch, seq) = value.rsplit_once('\n').unwrap_or(("", "0"));
            let d = o.member_mut(region, member);
            d.epoch = epoch.to_string();
            d.seq = seq.parse().unwrap_or(0);
        }
        for (k, v) in store.scan(b"r/")? {
            let key = text(&k);
            let Some((region, member, _)) = split_key(&key, "r/") else {
                continue;
            };
            match Resource::decode(v.as_slice()) {
                Ok(r) => {
                    o.member_mut(region, member)
                        .resources
                        .insert(r.id.clone(), r);
                }
                Err(_) => warn!(%key, "stored resource record unreadable; skipped"),
            }
        }
        for (k, v) in store.scan(b"e/")? {
            let key = text(&k);
            let Some((region, member, _)) = split_key(&key, "e/") else {
                continue;
            };
            match Event::decode(v.as_slice()) {
                Ok(e) => {
                    o.member_mut(region, member).events.insert(e.id.clone(), e);
                }
                Err(_) => warn!(%key, "stored event unreadable; skipped"),
            }
        }
        for (k, v) in store.scan(b"k/")? {
            let key = text(&k);
            let Some((region, member, _)) = split_key(&key, "k/") else {
                continue;
            };
            match CheckStatus::decode(v.as_slice()) {
                Ok(c) => {
                    o.member_mut(region, member)
                        .checks
                        .insert(super::check_id(&c), c);
                }
                Err(_) => warn!(%key, "stored check unreadable; skipped"),
            }
        }
        let decode_all = |rows: Vec<(Vec<u8>, Vec<u8>)>| -> Vec<Event> {
            rows.into_iter()
                .filter_map(|(_, v)| Event::decode(v.as_slice()).ok())
                .collect()
        };
        let open = decode_all(store.scan(b"i/o/")?);
        let resolved = decode_all(store.scan(b"i/r/")?);
        o.incidents.load(open, resolved);
        o.store = Some(store);
        Ok(o)
    }

    pub(super) fn member_mut(&mut self, region: &str, member: &str) -> &mut MemberData {
        self.regions
            .entry(region.to_string())
            .or_default()
            .entry(member.to_string())
            .or_default()
    }

    /// Writes `ops` to the store, if there is one.
    pub(super) fn persist(&self, ops: &[Op]) {
        let Some(store) = &self.store else { return };
        if ops.is_empty() {
            return;
        }
        let table: Vec<TableOp<'_>> = ops
            .iter()
            .map(|(k, v)| match v {
                Some(v) => TableOp::Put(k, v),
                None => TableOp::Delete(k),
            })
            .collect();
        if let Err(error) = store.write_table(&table) {
            warn!(%error, "persisting the overview failed; it holds in memory");
        }
    }

    /// Store changes that forget everything of `member` of `region`.
    pub(super) fn forget_ops(region: &str, member: &str, d: &MemberData, ops: &mut Vec<Op>) {
        ops.push((cursor_key(region, member), None));
        for id in d.resources.keys() {
            ops.push((resource_key(region, member, id), None));
        }
        for id in d.events.keys() {
            ops.push((event_key(region, member, id), None));
        }
        for id in d.checks.keys() {
            ops.push((check_key(region, member, id), None));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{member, resource, update};
    use super::*;
    use strata_proto::v1::region_update::Kind;
    use strata_proto::v1::{ResourceState, Severity};

    #[test]
    fn a_reopened_overview_has_its_cursors_records_and_incidents_back() {
        let dir = tempfile::tempdir().unwrap();
        let critical = Event {
            id: "eu/h1/cpu/1".into(),
            resource_id: "eu/h1".into(),
            rule: "cpu".into(),
            severity: Severity::Critical as i32,
            opened_ms: 1,
            ..Default::default()
        };
        {
            let mut o = Overview::open(Journal::open(dir.path(), 1).unwrap(), 10).unwrap();
            o.set_members(&[member("a", "eu", true), member("b", "eu", true)]);
            o.apply(update(
                "a",
                7,
                Kind::Resource(resource("h1", "a", ResourceState::Up, 5)),
            ));
            o.apply(update("a", 8, Kind::Event(critical.clone())));
            o.apply(update(
                "b",
                3,
                Kind::Resource(resource("h2", "b", ResourceState::Up, 5)),
            ));
            o.apply(update("b", 4, Kind::ResourceRemoved("eu/h2".into())));
            o.set_members(&[member("a", "eu", true)]);
        }
        let mut o = Overview::open(Journal::open(dir.path(), 1).unwrap(), 10).unwrap();
        o.set_members(&[member("a", "eu", true)]);
        assert_eq!(o.cursor("eu", "a"), ("e".into(), 8));
        assert_eq!(o.cursor("eu", "b"), (String::new(), 0), "b was forgotten");
        let rs = o.resources_json(None);
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].host, "h1");
        let events = o.events_json(None, true);
        assert_eq!(events.len(), 1);
        assert_eq!(
            (events[0].id.as_str(), events[0].resolved_ms),
            ("eu/h1/cpu/1", 0)
        );
        o.apply(update(
            "a",
            9,
            Kind::Event(Event {
                resolved_ms: 9,
                ..critical
            }),
        ));
        let events = o.events_json(None, true);
        assert_eq!((events.len(), events[0].resolved_ms), (1, 9));
    }
}
