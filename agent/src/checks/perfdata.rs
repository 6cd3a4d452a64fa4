//! Nagios plugin output: `TEXT | perfdata` on the first line, more text and perfdata after.
//!
//! Perfdata is `'label'=value[UOM];[warn];[crit];[min];[max]`, space separated; labels may be
//! quoted with `''` for a quote. Units follow Icinga 2: s/ms/us to seconds, B/KB/MB/GB/TB
//! (powers of 1000) and KiB/MiB/GiB/TiB (powers of 1024) to bytes, `%` and `c` kept.

/// One parsed perfdata value.
#[derive(Debug, Clone, PartialEq)]
pub struct Perf {
    pub label: String,
    /// The value in base units (seconds, bytes).
    pub value: f64,
    /// The unit after conversion: "seconds", "bytes", "percent", "counter" or "".
    pub unit: &'static str,
    pub warn: Option<f64>,
    pub crit: Option<f64>,
}

/// A plugin's output, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginOutput {
    /// The first line's text before `|`.
    pub text: String,
    /// The following lines' text (long output).
    pub long_text: Vec<String>,
    pub perf: Vec<Perf>,
    /// Perfdata tokens that could not be read, quoted as written.
    pub bad: Vec<String>,
}

/// Parses a plugin's standard output.
pub fn parse(output: &str) -> PluginOutput {
    let mut out = PluginOutput::default();
    let mut perf_text = String::new();
    let mut in_perf = false;
    for (i, line) in output.lines().enumerate() {
        if i == 0 {
            let (text, perf) = line.split_once('|').unwrap_or((line, ""));
            out.text = text.trim().to_string();
            perf_text.push_str(perf);
            perf_text.push(' ');
            continue;
        }
        if in_perf {
            perf_text.push_str(line);
            perf_text.push(' ');
        } else if let Some((text, perf)) = line.split_once('|') {
            if !text.trim().is_empty() {
                out.long_text.push(text.trim_end().to_string());
            }
            perf_text.push_str(perf);
            perf_text.push(' ');
            in_perf = true;
        } else {
            out.long_text.push(line.trim_end().to_string());
        }
    }
    for token in tokens(&perf_text) {
        match parse_token(&token) {
            Some(p) => out.perf.push(p),
            None => out.bad.push(token),
        }
    }
    out
}

/// Splits perfdata on spaces outside single quotes.
fn tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if quoted && chars.peek() == Some(&'\'') => {
                current.push('\'');
                chars.next();
            }
            '\'' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

fn parse_token(token: &str) -> Option<Perf> {
    let (label, rest) = token.rsplit_once('=')?;
    let label = label.trim_matches('\'').to_string();
    if label.is_empty() {
        return None;
    }
    let mut fields = rest.split(';');
    let first = fields.next()?;
    let split = first
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(first.len());
    // "1e" style ambiguity: a unit never starts with e/E in the plugin guidelines
    let (number, uom) = first.split_at(split);
    let raw: f64 = number.parse().ok()?;
    let (factor, unit) = match uom {
        "" => (1.0, ""),
        "s" => (1.0, "seconds"),
        "ms" => (1e-3, "seconds"),
        "us" => (1e-6, "seconds"),
        "%" => (1.0, "percent"),
        "c" => (1.0, "counter"),
        "B" => (1.0, "bytes"),
        "KB" | "kB" => (1e3, "bytes"),
        "MB" => (1e6, "bytes"),
        "GB" => (1e9, "bytes"),
        "TB" => (1e12, "bytes"),
        "KiB" => (1024.0, "bytes"),
        "MiB" => (1024.0 * 1024.0, "bytes"),
        "GiB" => (1024.0 * 1024.0 * 1024.0, "bytes"),
        "TiB" => (1024.0 * 1024.0 * 1024.0 * 1024.0, "bytes"),
        _ => return None,
    };
    let threshold = |s: Option<&str>| -> Option<f64> {
        // a range like 10:20 or @10:20 keeps its upper end, the usual alert level
        let s = s?.trim_start_matches('@');
        let end = s.rsplit(':').next()?;
        end.parse::<f64>().ok().map(|v| v * factor)
    };
    Some(Perf {
        label,
        value: raw * factor,
        unit,
        warn: threshold(fields.next()),
        crit: threshold(fields.next()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_disk_style_output() {
        let o = parse(
            "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n/ 15272 MB (77%);\n/boot 68 MB (69%); | /boot=68MB;88;93;0;98\n'home dir'=69%;80;90 time=12ms",
        );
        assert_eq!(o.text, "DISK OK - free space: / 3326 MB (56%);");
        assert_eq!(o.long_text, vec!["/ 15272 MB (77%);", "/boot 68 MB (69%);"]);
        assert_eq!(o.perf.len(), 4, "{:?}", o);
        assert_eq!(o.perf[0].label, "/");
        assert_eq!(o.perf[0].value, 2643e6);
        assert_eq!(o.perf[0].unit, "bytes");
        assert_eq!(o.perf[0].warn, Some(5948e6));
        assert_eq!(o.perf[2].label, "home dir");
        assert_eq!(o.perf[2].crit, Some(90.0));
        assert!((o.perf[3].value - 0.012).abs() < 1e-12);
        assert!(o.bad.is_empty());
    }

    #[test]
    fn garbage_is_reported_not_fatal() {
        let o = parse("OK | =1 x=abc y=1zz 'it''s'=3c ok=1;@5:10");
        assert_eq!(o.bad, vec!["=1", "x=abc", "y=1zz"]);
        assert_eq!(o.perf[0].label, "it's");
        assert_eq!(o.perf[0].unit, "counter");
        assert_eq!(o.perf[1].warn, Some(10.0));
        let o = parse("");
        assert_eq!(o, PluginOutput::default());
        let o = parse("\u{0}\u{1}\u{ff}|\u{7f}");
        assert_eq!(o.bad.len(), 1);
    }
}
