//! Every Strata component serves its own health and metrics: `GET /healthz` and
//! `GET /metrics` (Prometheus text format) on an optional `metrics_listen` address.
//!
//! This is a deliberately small HTTP/1.1 responder on plain tokio, so that the agent can
//! expose its metrics without linking a web framework. Connections are bounded in number
//! and in time, and each answer closes its connection.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Most connections answered at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 32;
/// Time allowed to read a request and write its answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A Prometheus text exposition being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a metric family: its help text and type (`counter` or `gauge`).
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let escaped = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.out, "{k}=\"{escaped}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
        self
    }

    /// A family with a single unlabelled sample.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help).sample(name, &[], value)
    }

    /// The `<component>_build_info` gauge, value 1, labelled with the version.
    pub fn build_info(&mut self, component: &str, version: &str) -> &mut Self {
        let name = format!("strata_{component}_build_info");
        self.family(&name, "gauge", "Build of this component (always 1).")
            .sample(&name, &[("version", version)], 1.0)
    }

    /// A histogram family: `histogram`'s cumulative buckets, sum and count.
    pub fn histogram(&mut self, name: &str, help: &str, histogram: &Histogram) -> &mut Self {
        self.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (bound, count) in histogram.bounds.iter().zip(&histogram.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let le = bound.to_string();
            self.sample(&bucket, &[("le", &le)], cumulative as f64);
        }
        let total = histogram.count.load(Ordering::Relaxed);
        self.sample(&bucket, &[("le", "+Inf")], total as f64);
        let sum = histogram.sum_ms.load(Ordering::Relaxed) as f64 / 1e3;
        self.sample(&format!("{name}_sum"), &[], sum);
        self.sample(&format!("{name}_count"), &[], total as f64)
    }

    /// The text written so far.
    pub fn finish(self) -> String {
        self.out
    }
}

/// A histogram of durations in seconds over fixed bounds, observed in milliseconds, many at
/// a time (one batch of atomic additions per call).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); the last counts those above every bound.
    counts: Vec<AtomicU64>,
    sum_ms: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// An empty histogram over `bounds` (seconds, ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ms: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Adds every duration of `millis` (negative ones count as zero).
    pub fn observe_ms(&self, millis: impl Iterator<Item = i64>) {
        let mut local = vec![0u64; self.counts.len()];
        let (mut sum, mut n) = (0u64, 0u64);
        for ms in millis {
            let ms = ms.max(0) as u64;
            let secs = ms as f64 / 1e3;
            let i = self.bounds.partition_point(|b| *b < secs);
            local[i] += 1;
            sum += ms;
            n += 1;
        }
        if n == 0 {
            return;
        }
        for (c, l) in self.counts.iter().zip(local) {
            if l > 0 {
                c.fetch_add(l, Ordering::Relaxed);
            }
        }
        self.sum_ms.fetch_add(sum, Ordering::Relaxed);
        self.count.fetch_add(n, Ordering::Relaxed);
    }
}

/// Serves `/healthz` and `/metrics` (rendered by `render` at each request) until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    render: Arc<dyn Fn() -> String + Send + Sync>,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let render = render.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(IO_TIMEOUT, answer(stream, render)).await;
            drop(permit);
        });
    }
}

async fn answer(
    mut stream: TcpStream,
    render: Arc<dyn Fn() -> String + Send + Sync>,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let request = String::from_utf8_lossy(&head);
    let mut words = request.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4", render()),
        ("GET", "/healthz") => ("200 OK", "text/plain", "ok\n".to_string()),
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "only /metrics and /healthz are served here\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET is served here\n".to_string(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Binds `addr` and serves telemetry on it in the background until `shutdown`; returns the
/// bound address.
pub async fn spawn(
    addr: &str,
    render: Arc<dyn Fn() -> String + Send + Sync>,
    shutdown: CancellationToken,
) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(serve(listener, render, shutdown));
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_escapes_label_values() {
        let mut e = Exposition::new();
        e.build_info("agent", "1.0");
        e.family("x_total", "counter", "X.")
            .sample("x_total", &[("a", "q\"uote")], 3.0);
        let text = e.finish();
        assert!(
            text.contains("strata_agent_build_info{version=\"1.0\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("x_total{a=\"q\\\"uote\"} 3\n"), "{text}");
        assert!(text.contains("# TYPE x_total counter"), "{text}");
    }

    #[test]
    fn a_histogram_counts_each_duration_in_its_bucket_and_renders_them_cumulated() {
        static BOUNDS: [f64; 3] = [0.5, 1.0, 10.0];
        let h = Histogram::new(&BOUNDS);
        h.observe_ms([100, 500, 900, 20_000, -5].into_iter());
        h.observe_ms(std::iter::empty());
        let mut e = Exposition::new();
        e.histogram("lag_seconds", "Lag.", &h);
        let text = e.finish();
        for line in [
            "# TYPE lag_seconds histogram",
            "lag_seconds_bucket{le=\"0.5\"} 3\n",
            "lag_seconds_bucket{le=\"1\"} 4\n",
            "lag_seconds_bucket{le=\"10\"} 4\n",
            "lag_seconds_bucket{le=\"+Inf\"} 5\n",
            "lag_seconds_sum 21.5\n",
            "lag_seconds_count 5\n",
        ] {
            assert!(text.contains(line), "{line}: {text}");
        }
    }

    #[tokio::test]
    async fn serves_metrics_and_health_over_http() {
        let shutdown = CancellationToken::new();
        let addr = spawn(
            "127.0.0.1:0",
            Arc::new(|| "m 1\n".to_string()),
            shutdown.clone(),
        )
        .await
        .unwrap();
        for (path, want) in [
            ("/metrics", "m 1\n"),
            ("/healthz", "ok\n"),
            ("/nope", "only /metrics"),
        ] {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut text = String::new();
            s.read_to_string(&mut text).await.unwrap();
            assert!(text.contains(want), "{path}: {text}");
        }
        shutdown.cancel();
    }
}
