//! A report as a table: named columns and rows, written as JSON or CSV.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::period::Period;

/// A report: its kind, its period, its columns, and a row per object.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub kind: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub columns: Vec<String>,
    /// One object per row, its keys among `columns`.
    pub rows: Vec<Map<String, Value>>,
}

impl Table {
    /// An empty table of `kind` over `period` with `columns`.
    pub fn new(kind: &str, period: Period, columns: &[&str]) -> Self {
        Self {
            kind: kind.into(),
            from_ms: period.from_ms,
            to_ms: period.to_ms,
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row from `(column, value)` pairs.
    pub fn push<const N: usize>(&mut self, cells: [(&str, Value); N]) {
        debug_assert!(
            cells
                .iter()
                .all(|(c, _)| self.columns.iter().any(|k| k == c))
        );
        self.rows
            .push(cells.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
    }

    /// The table as CSV (RFC 4180): a header line, then one line per row.
    pub fn to_csv(&self) -> String {
        let mut out = self
            .columns
            .iter()
            .map(|c| csv_field(c))
            .collect::<Vec<_>>()
            .join(",");
        out.push_str("\r\n");
        for row in &self.rows {
            let line: Vec<String> = self
                .columns
                .iter()
                .map(|c| csv_field(&cell(row.get(c))))
                .collect();
            out.push_str(&line.join(","));
            out.push_str("\r\n");
        }
        out
    }
}

impl Table {
    /// The table as an HTML fragment (a `<table>` with a header row), every cell escaped.
    pub fn to_html(&self) -> String {
        let mut out = String::from(
            "<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\" style=\"border-collapse:collapse\">\n<tr>",
        );
        for c in &self.columns {
            out.push_str(&format!("<th>{}</th>", html_escape(c)));
        }
        out.push_str("</tr>\n");
        for row in &self.rows {
            out.push_str("<tr>");
            for c in &self.columns {
                out.push_str(&format!("<td>{}</td>", html_escape(&cell(row.get(c)))));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
        out
    }
}

/// `text` with HTML's special characters escaped.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A cell as text: empty for no value, a string as it is, anything else as JSON.
pub fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_quotes_what_needs_it_and_leaves_missing_cells_empty() {
        let mut t = Table::new(
            "x",
            Period {
                from_ms: 0,
                to_ms: 1,
            },
            &["name", "value", "note"],
        );
        t.push([("name", json!("a,b")), ("value", json!(1.5))]);
        t.push([("name", json!("say \"hi\"")), ("note", Value::Null)]);
        assert_eq!(
            t.to_csv(),
            "name,value,note\r\n\"a,b\",1.5,\r\n\"say \"\"hi\"\"\",,\r\n"
        );
        let html = t.to_html();
        assert!(
            html.contains("<th>name</th><th>value</th><th>note</th>"),
            "{html}"
        );
        assert!(
            html.contains("<td>say &quot;hi&quot;</td><td></td><td></td>"),
            "{html}"
        );
        assert_eq!(html_escape("<b>&'"), "&lt;b&gt;&amp;&#39;");
    }
}
