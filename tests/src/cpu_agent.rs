//! An agent served in the test's own process whose total CPU usage the test sets, polled by
//! a real sub-manager like any agent: the alerting tests drive their rules with it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_agent::buffer::SampleBuffer;
use strata_agent::entry::AgentEntry;
use strata_agent::registry::Registry;
use strata_proto::identity::Role;
use strata_testkit::{MeshCa, block_on};
use tokio_util::sync::CancellationToken;

/// An agent served in this process whose total CPU usage the test sets; it samples every
/// 250 ms. Stops when dropped.
pub struct CpuAgent {
    /// Where its Agent service listens.
    pub addr: String,
    cpu: Arc<AtomicU64>,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CpuAgent {
    /// Starts agent `id` of `region` at 30% CPU, with a certificate from `ca` (the mesh's,
    /// given to it with `MeshBuilder::ca`).
    pub fn start(id: &str, region: &str, ca: &MeshCa) -> Self {
        let transport = ca
            .transport(Role::Agent, region, id)
            .unwrap_or_else(|e| panic!("{e}"));
        let cpu = Arc::new(AtomicU64::new(0.3f64.to_bits()));
        let stop = CancellationToken::new();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut registry = Registry::new(10_000);
        let mut buffer = SampleBuffer::new(100_000, Duration::from_secs(600));
        let labels = [("cpu".to_string(), "total".to_string())].into();
        let series = buffer
            .intern("host_cpu_usage_ratio", &labels)
            .expect("an empty dictionary takes a series");
        let entry = registry.add(AgentEntry {
            id: id.into(),
            hostname: id.into(),
            cpu_count: 2,
            collect_interval_ms: 250,
            buffer: Mutex::new(buffer),
            checks: Mutex::default(),
        });
        let registry = Arc::new(registry);
        let (value, stopped) = (cpu.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let stop = stopped.clone();
                let serving = tokio::spawn(async move {
                    strata_agent::door::serve(listener, &transport, registry, None, stop).await
                });
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                loop {
                    tokio::select! {
                        _ = stopped.cancelled() => break,
                        _ = tick.tick() => {}
                    }
                    let v = f64::from_bits(value.load(Ordering::Relaxed));
                    entry
                        .buffer
                        .lock()
                        .unwrap()
                        .push(series, strata_testkit::now_ms(), v);
                }
                let _ = serving.await;
            })
        });
        Self {
            addr,
            cpu,
            stop,
            thread: Some(thread),
        }
    }

    /// Sets the CPU usage its next samples report.
    pub fn set(&self, v: f64) {
        self.cpu.store(v.to_bits(), Ordering::Relaxed);
    }
}

impl Drop for CpuAgent {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
