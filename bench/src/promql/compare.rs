//! Two answers of the Prometheus HTTP API compared: the same kind of result, the same label
//! sets, the same timestamps, values equal within 1e-9 relative (NaN equal to NaN).

use std::collections::BTreeMap;

use serde_json::Value;

/// What the comparisons found.
#[derive(Debug, Default)]
pub struct Tally {
    pub queries: usize,
    pub identical: usize,
    /// `(query, how it differs)`.
    pub differ: Vec<(String, String)>,
    /// `(query, Strata's refusal)`: what Strata says it does not support.
    pub unsupported: Vec<(String, String)>,
}

fn number(v: &Value) -> Option<f64> {
    match v.as_str()? {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        s => s.parse().ok(),
    }
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// A series' labels as one comparable text.
fn key(metric: &Value) -> String {
    let map: BTreeMap<String, String> = metric
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    format!("{map:?}")
}

/// `[t, "v"]` pairs: equal when the times are and the values are the same.
fn same_points(a: &[Value], b: &[Value]) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!("{} points against {}", a.len(), b.len()));
    }
    for (p, q) in a.iter().zip(b) {
        let (ta, tb) = (
            p[0].as_f64().unwrap_or(f64::NAN),
            q[0].as_f64().unwrap_or(f64::NAN),
        );
        if (ta - tb).abs() > 1e-6 {
            return Err(format!("a point at {ta} against {tb}"));
        }
        match (number(&p[1]), number(&q[1])) {
            (Some(x), Some(y)) if same(x, y) => {}
            _ => return Err(format!("at {ta}: {} against {}", p[1], q[1])),
        }
    }
    Ok(())
}

/// The series of a vector or matrix result by their labels, with their points.
fn series(result: &Value, matrix: bool) -> BTreeMap<String, Vec<Value>> {
    result
        .as_array()
        .map(|r| {
            r.iter()
                .map(|s| {
                    let points = if matrix {
                        s["values"].as_array().cloned().unwrap_or_default()
                    } else {
                        vec![s["value"].clone()]
                    };
                    (key(&s["metric"]), points)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// How `ours` differs from `theirs` (two successful answers), if it does.
pub(super) fn difference(ours: &Value, theirs: &Value) -> Result<(), String> {
    let (ka, kb) = (&ours["resultType"], &theirs["resultType"]);
    if ka != kb {
        return Err(format!("a {ka} against a {kb}"));
    }
    match ka.as_str() {
        Some("scalar") | Some("string") => same_points(
            std::slice::from_ref(&ours["result"]),
            std::slice::from_ref(&theirs["result"]),
        ),
        Some(kind) => {
            let matrix = kind == "matrix";
            let (a, b) = (
                series(&ours["result"], matrix),
                series(&theirs["result"], matrix),
            );
            if a.len() != b.len() || a.keys().ne(b.keys()) {
                let only: Vec<&String> = a.keys().filter(|k| !b.contains_key(*k)).collect();
                let missing: Vec<&String> = b.keys().filter(|k| !a.contains_key(*k)).collect();
                return Err(format!(
                    "{} series against {}; only ours: {only:?}; only theirs: {missing:?}",
                    a.len(),
                    b.len()
                ));
            }
            for (k, points) in &a {
                same_points(points, &b[k]).map_err(|e| format!("{k}: {e}"))?;
            }
            Ok(())
        }
        None => Err("no resultType".into()),
    }
}

impl Tally {
    /// Compares the answers to query `name`: Strata's `ours`, Prometheus's `theirs`.
    pub fn add(&mut self, name: &str, ours: &Value, theirs: &Value) {
        self.queries += 1;
        let ok = |v: &Value| v["status"] == "success";
        let outcome = match (ok(ours), ok(theirs)) {
            (true, true) => difference(&ours["data"], &theirs["data"]),
            (false, false) => Ok(()), // both refuse it
            (false, true) => {
                let said = ours["error"].as_str().unwrap_or("").to_string();
                if said.starts_with("not supported") {
                    self.unsupported.push((name.to_string(), said));
                    return;
                }
                Err(format!("refused: {said}"))
            }
            (true, false) => Err(format!("Prometheus refused: {}", theirs["error"])),
        };
        match outcome {
            Ok(()) => self.identical += 1,
            Err(why) => self.differ.push((name.to_string(), why)),
        }
    }
}
