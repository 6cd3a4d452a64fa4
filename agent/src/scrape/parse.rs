//! The Prometheus text exposition format (0.0.4) and OpenMetrics text (1.0), read line by
//! line without copying: a sample is its series text (`name{labels}`, the key the scraper
//! caches its series by), its value and its timestamp; labels are only parsed when the
//! scraper meets a series for the first time.
//!
//! Written here rather than taken from a crate: the crates found (`prometheus-parse`,
//! `openmetrics-parser`) build owned label maps for every sample of every scrape or regroup
//! histograms, where a scrape of a known target should cost a lookup and a float parse per
//! line. Comments (`# HELP`, `# TYPE`, `# UNIT`, `# EOF`) carry nothing stored; exemplars
//! (`# {...}` after an OpenMetrics sample) are skipped.

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    /// `name` or `name{labels}` as written (the series' key).
    pub series: &'a str,
    pub value: f64,
    /// In milliseconds, when the line has one.
    pub ts_ms: Option<i64>,
}

/// What the exposition is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`: timestamps in milliseconds.
    Text,
    /// `application/openmetrics-text`: timestamps in seconds.
    OpenMetrics,
}

impl Format {
    /// The format a `Content-Type` names.
    pub fn of_content_type(content_type: Option<&str>) -> Self {
        match content_type {
            Some(t) if t.trim_start().starts_with("application/openmetrics-text") => {
                Self::OpenMetrics
            }
            _ => Self::Text,
        }
    }
}

/// A line that is not a sample nor a comment: its number (from 1) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Calls `each` with every sample of `body`; stops at the first malformed line.
pub fn for_each<'a>(
    body: &'a str,
    format: Format,
    mut each: impl FnMut(Line<'a>),
) -> Result<(), ParseError> {
    for (n, raw) in body.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let sample = sample(line, format).map_err(|reason| ParseError {
            line: n + 1,
            reason: format!("{reason}: '{}'", clip(raw)),
        })?;
        each(sample);
    }
    Ok(())
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(120) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Where the series text of `line` ends (after its `}` or its name).
fn series_end(line: &str) -> Result<usize, String> {
    let bytes = line.as_bytes();
    let name_end = bytes
        .iter()
        .position(|b| *b == b'{' || b.is_ascii_whitespace())
        .ok_or("no value")?;
    if name_end == 0 {
        return Err("no metric name".into());
    }
    if bytes[name_end] != b'{' {
        return Ok(name_end);
    }
    let mut quoted = false;
    let mut i = name_end + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'}' if !quoted => return Ok(i + 1),
            _ => {}
        }
        i += 1;
    }
    Err("unclosed label set".into())
}

fn sample(line: &str, format: Format) -> Result<Line<'_>, String> {
    let end = series_end(line)?;
    let series = &line[..end];
    let rest = line[end..].trim_start();
    // an OpenMetrics exemplar follows " # "
    let rest = rest.split(" # ").next().unwrap_or(rest);
    let mut parts = rest.split_ascii_whitespace();
    let value = parse_value(parts.next().ok_or("no value")?)?;
    let ts_ms = match parts.next() {
        None => None,
        Some(ts) => Some(match format {
            Format::Text => ts
                .parse::<i64>()
                .map_err(|_| format!("timestamp '{ts}' is not milliseconds"))?,
            Format::OpenMetrics => {
                let secs: f64 = ts
                    .parse()
                    .map_err(|_| format!("timestamp '{ts}' is not seconds"))?;
                (secs * 1000.0).round() as i64
            }
        }),
    };
    if parts.next().is_some() {
        return Err("text after the timestamp".into());
    }
    Ok(Line {
        series,
        value,
        ts_ms,
    })
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" | "Inf" | "+inf" | "inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        "NaN" | "nan" => Ok(f64::NAN),
        _ => text
            .parse()
            .map_err(|_| format!("value '{text}' is not a number")),
    }
}

/// The name and labels of a series text (`name{a="1",b="2"}`), escapes undone.
pub fn series_labels(series: &str) -> Result<(String, Vec<(String, String)>), String> {
    let Some(open) = series.find('{') else {
        check_name(series, "metric name")?;
        return Ok((series.to_string(), Vec::new()));
    };
    let name = &series[..open];
    check_name(name, "metric name")?;
    let body = series[open + 1..]
        .strip_suffix('}')
        .ok_or("unclosed label set")?;
    let mut labels = Vec::new();
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or("a label without '='")?;
        let label = rest[..eq].trim();
        check_name(label, "label name")?;
        rest = rest[eq + 1..].trim_start();
        let mut chars = rest.char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err(format!("label {label}: value is not quoted"));
        }
        let mut value = String::new();
        let mut end = None;
        let mut escaped = false;
        for (i, c) in chars {
            match (escaped, c) {
                (true, 'n') => (value.push('\n'), escaped = false).1,
                (true, c) => (value.push(c), escaped = false).1,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(i);
                    break;
                }
                (false, c) => value.push(c),
            }
        }
        let end = end.ok_or_else(|| format!("label {label}: unclosed value"))?;
        if labels.iter().any(|(l, _): &(String, String)| l == label) {
            return Err(format!("label {label} appears twice"));
        }
        labels.push((label.to_string(), value));
        rest = rest[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok((name.to_string(), labels))
}

fn check_name(name: &str, what: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if ok {
        Ok(())
    } else {
        Err(format!("'{name}' is not a valid {what}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(body: &str, format: Format) -> Vec<Line<'_>> {
        let mut out = Vec::new();
        for_each(body, format, |l| out.push(l)).unwrap();
        out
    }

    #[test]
    fn samples_comments_escapes_and_special_values_are_read() {
        let body = "# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\n\
            node_load1 0.42\n\
            node_filesystem_avail_bytes{device=\"/dev/sda1\",fstype=\"ext4\",mountpoint=\"/\"} 1.2e+10\n\
            weird{path=\"a}b\\\"c\\\\d\\ne\"} +Inf 1700000000000\n\
            \n  nan_gauge NaN\n";
        let got = lines(body, Format::Text);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].series, "node_load1");
        assert_eq!(got[0].value, 0.42);
        assert_eq!(got[2].value, f64::INFINITY);
        assert_eq!(got[2].ts_ms, Some(1_700_000_000_000));
        assert!(got[3].value.is_nan());
        let (name, labels) = series_labels(got[2].series).unwrap();
        assert_eq!(name, "weird");
        assert_eq!(
            labels,
            vec![("path".to_string(), "a}b\"c\\d\ne".to_string())]
        );
        let (_, fs) = series_labels(got[1].series).unwrap();
        assert_eq!(fs.len(), 3);
        assert_eq!(fs[2], ("mountpoint".to_string(), "/".to_string()));
    }

    #[test]
    fn openmetrics_timestamps_are_seconds_and_exemplars_are_skipped() {
        let body =
            "# TYPE a counter\na_total 3 1700000000.5 # {trace_id=\"x\"} 1 1700000000\n# EOF\n";
        let got = lines(body, Format::OpenMetrics);
        assert_eq!(got[0].ts_ms, Some(1_700_000_000_500));
        assert_eq!(got[0].value, 3.0);
        assert_eq!(
            Format::of_content_type(Some("application/openmetrics-text; version=1.0.0")),
            Format::OpenMetrics
        );
    }

    #[test]
    fn malformed_lines_are_named_by_number() {
        for (body, needle) in [
            ("ok 1\nbad", "line 2: no value"),
            ("m{a=\"1\" 2", "line 1: unclosed label set"),
            ("m one", "not a number"),
            ("m 1 2 3", "text after the timestamp"),
            ("m 1 12.5", "not milliseconds"),
        ] {
            let err = for_each(body, Format::Text, |_| {})
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{body}: {err}");
        }
        for bad in [
            "m{a=1}",
            "m{a=\"1\",a=\"2\"}",
            "1m",
            "m{1a=\"x\"}",
            "m{a=\"x}",
        ] {
            assert!(series_labels(bad).is_err(), "{bad}");
        }
    }
}
