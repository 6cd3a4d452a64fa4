//! Scheduled reports delivered by themselves: every `check_interval` the centre looks for a
//! schedule whose time has come, builds its report over the period it covers and sends it
//! to the schedule's receivers (an HTML body and a CSV attachment by e-mail, JSON to a
//! webhook).
//!
//! What was sent is kept in `<data_dir>/report-schedules.json` ([`crate::deliveries`]),
//! written after each delivery, so that a restarted centre neither sends a report
//! twice nor forgets one: an occurrence that passed while the centre was down is sent when
//! it is back, once, marked late (only the latest: earlier missed ones are counted in its
//! text). A schedule seen for the first time starts with its next occurrence. A receiver
//! that fails is tried again every tick, up to `max_attempts`, the others not again. With
//! several centres, the one that records the health timeline sends (one mail, not one per
//! centre); the others keep no state and send nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use super::schedule::{Format, Schedule};
use super::table::html_escape;
pub use crate::config::reports::ReportsConfig;
pub use crate::deliveries::{Board, FILE, Kept};
use crate::deliveries::{load, save};
use crate::notify::receivers::{ReceiverConfig, ReceiverKind};
use crate::shared::Shared;

/// A schedule as `GET /api/v1/reports/schedules` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub name: String,
    pub report: String,
    pub every: String,
    pub at: String,
    pub time_zone: String,
    pub receivers: Vec<String>,
    pub next_due_ms: Option<i64>,
    pub last: Option<Kept>,
}

/// Every configured schedule with its next time and what `board` says was last done.
pub fn statuses(board: &Board, schedules: &[Schedule], now_ms: i64) -> Vec<Status> {
    let kept = board.kept();
    schedules
        .iter()
        .map(|s| {
            let c = &s.config;
            Status {
                name: c.name.clone(),
                report: c.report.clone(),
                every: format!("{:?}", c.every).to_lowercase(),
                at: c.at.clone(),
                time_zone: c.time_zone.clone(),
                receivers: c.receivers.clone(),
                next_due_ms: s.next_due(now_ms),
                last: kept.get(&c.name).cloned(),
            }
        })
        .collect()
}

/// The schedules' runner.
struct Runner {
    shared: Arc<Shared>,
    schedules: Vec<Schedule>,
    receivers: HashMap<String, ReceiverConfig>,
    path: PathBuf,
    http: reqwest::Client,
    timeout: Duration,
    started_ms: i64,
}

/// What one report is, ready to send.
struct Rendered {
    subject: String,
    text: String,
    html: Option<String>,
    csv: Option<(String, String)>,
    json: serde_json::Value,
}

impl Runner {
    /// Sends what is due; answers whether the state changed.
    async fn tick(&self, kept: &mut BTreeMap<String, Kept>, now: i64) -> bool {
        let mut changed = false;
        for s in &self.schedules {
            let name = &s.config.name;
            let Some(due) = s.last_due(now) else {
                continue;
            };
            let Some(k) = kept.get_mut(name) else {
                info!(schedule = %name, next = %s.local(s.next_due(now).unwrap_or(due)), "new report schedule: its next occurrence is the first sent");
                kept.insert(
                    name.clone(),
                    Kept {
                        due_ms: due,
                        ..Kept::default()
                    },
                );
                changed = true;
                continue;
            };
            if k.pending_ms == 0 {
                if k.due_ms >= due {
                    continue;
                }
                let mut missed = 0u32;
                let mut earlier = s.last_due(due - 1);
                while let Some(e) = earlier.filter(|e| *e > k.due_ms && missed < 10_000) {
                    missed += 1;
                    earlier = s.last_due(e - 1);
                }
                *k = Kept {
                    pending_ms: due,
                    late: due < self.started_ms,
                    missed,
                    ..k.clone()
                };
            }
            self.deliver(s, k, now)
                .instrument(info_span!("scheduled report", schedule = %name))
                .await;
            changed = true;
        }
        changed
    }

    /// Sends the pending occurrence of `s` to the receivers that do not have it yet.
    async fn deliver(&self, s: &Schedule, k: &mut Kept, now: i64) {
        let rendered = match self.render(s, k).await {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "the scheduled report could not be built");
                self.failed(k, e);
                return;
            }
        };
        let mut errors = Vec::new();
        for name in &s.config.receivers {
            if k.delivered.contains(name) {
                continue;
            }
            let Some(r) = self.receivers.get(name) else {
                continue;
            };
            match self.send(r, &rendered).await {
                Ok(()) => {
                    info!(receiver = %name, late = k.late, "scheduled report sent");
                    k.delivered.push(name.clone());
                }
                Err(e) => {
                    warn!(receiver = %name, error = %e, "scheduled report not delivered");
                    errors.push(format!("{name}: {e}"));
                }
            }
        }
        if errors.is_empty() {
            self.shared
                .metrics
                .reports_sent
                .fetch_add(1, Ordering::Relaxed);
            *k = Kept {
                due_ms: k.pending_ms,
                sent_ms: now,
                late: k.late,
                missed: k.missed,
                ..Kept::default()
            };
        } else {
            self.failed(k, errors.join("; "));
        }
    }

    /// Counts a failed try; past `max_attempts` the occurrence is given up.
    fn failed(&self, k: &mut Kept, error: String) {
        k.attempts += 1;
        k.error = Some(error);
        if k.attempts >= self.shared.config.reports.max_attempts {
            self.shared
                .metrics
                .reports_failed
                .fetch_add(1, Ordering::Relaxed);
            k.due_ms = k.pending_ms;
            k.pending_ms = 0;
            k.delivered.clear();
        }
    }

    async fn render(&self, s: &Schedule, k: &Kept) -> Result<Rendered, String> {
        let c = &s.config;
        let period = s
            .period(k.pending_ms)
            .ok_or_else(|| "the period of the occurrence is out of range".to_string())?;
        let mut q: HashMap<String, String> = c.params.clone().into_iter().collect();
        q.insert("from_ms".into(), period.from_ms.to_string());
        q.insert("to_ms".into(), period.to_ms.to_string());
        let table = super::table(self.shared.clone(), &c.report, &q)
            .await
            .map_err(|e| e.to_string())?;
        let (from, to) = (s.local(period.from_ms), s.local(period.to_ms));
        let late = if k.late {
            let earlier = match k.missed {
                0 => String::new(),
                1 => " (1 earlier occurrence was missed)".to_string(),
                n => format!(" ({n} earlier occurrences were missed)"),
            };
            format!(
                "Sent late: the centre was not running when it was due at {}{earlier}.",
                s.local(k.pending_ms)
            )
        } else {
            String::new()
        };
        let subject = format!(
            "[Strata] {}: {} report, {from} to {to}{}",
            c.name,
            c.report,
            if k.late { " (sent late)" } else { "" }
        );
        let intro = format!(
            "The {} report of {from} to {to}, {} row(s), due {}. {late}",
            c.report,
            table.rows.len(),
            s.local(k.pending_ms)
        );
        let csv = table.to_csv();
        let day = from.split(' ').next().unwrap_or_default().to_string();
        let (html, attached) = match c.format {
            Format::Both | Format::Html => (
                Some(format!(
                    "<p>{}</p>\n{}",
                    html_escape(intro.trim()),
                    table.to_html()
                )),
                c.format == Format::Both,
            ),
            Format::Csv => (None, true),
        };
        let text = if attached {
            format!("{}\nThe table is attached as CSV.\n", intro.trim())
        } else {
            format!("{}\n\n{csv}", intro.trim())
        };
        Ok(Rendered {
            subject,
            text,
            html,
            csv: attached.then(|| (format!("{}-{day}.csv", c.name), csv)),
            json: json!({
                "schedule": c.name,
                "report": c.report,
                "due_ms": k.pending_ms,
                "late": k.late,
                "missed": k.missed,
                "table": table,
            }),
        })
    }

    async fn send(&self, r: &ReceiverConfig, m: &Rendered) -> Result<(), String> {
        match &r.kind {
            ReceiverKind::Email {
                smtp,
                from,
                to,
                starttls,
                username,
                password,
            } => {
                let mail = strata_web::mail::Mail {
                    from: from.clone(),
                    to: to.clone(),
                    subject: m.subject.clone(),
                    text: m.text.clone(),
                    html: m.html.clone(),
                    attachments: m
                        .csv
                        .iter()
                        .map(|(name, csv)| strata_web::mail::Attached {
                            name: name.clone(),
                            content_type: "text/csv".into(),
                            bytes: csv.clone().into_bytes(),
                        })
                        .collect(),
                };
                let relay = strata_web::mail::Relay {
                    smtp,
                    starttls: *starttls,
                    credentials: username.as_ref().zip(password.as_ref()),
                    timeout: self.timeout,
                };
                strata_web::mail::send(relay, &mail).await
            }
            ReceiverKind::Webhook { url, headers } => {
                let mut req = self.http.post(url).json(&m.json);
                for (k, v) in headers {
                    req = req.header(k, v);
                }
                let answer = req
                    .send()
                    .await
                    .map_err(|e| format!("POST: {}", e.without_url()))?;
                if answer.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("answered {}", answer.status()))
                }
            }
        }
    }
}

/// Runs the schedules until `shutdown`.
pub async fn run(shared: Arc<Shared>, http: reqwest::Client, shutdown: CancellationToken) {
    let config = &shared.config;
    let schedules = configured(&shared);
    if schedules.is_empty() {
        return;
    }
    let path = config.data_dir.join(FILE);
    let runner = Runner {
        shared: shared.clone(),
        schedules,
        receivers: config
            .notify
            .receivers
            .iter()
            .map(|r| (r.name.clone(), r.clone()))
            .collect(),
        path,
        http,
        timeout: config.notify.timeout,
        started_ms: strata_proto::now_ms(),
    };
    let mut kept = load(&runner.path);
    shared.schedule_board.show(&kept);
    let mut ticker = tokio::time::interval(config.reports.check_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        // one centre sends for all (crate::centres)
        if !shared.centres.records_timeline() {
            continue;
        }
        let now = strata_proto::now_ms();
        if runner.tick(&mut kept, now).await {
            if let Err(error) = save(&runner.path, &kept) {
                warn!(path = %runner.path.display(), %error, "the scheduled reports' state could not be kept");
            }
            shared.schedule_board.show(&kept);
        }
    }
}

/// The configured schedules (empty when there are none or they do not parse).
pub fn configured(shared: &Shared) -> Vec<Schedule> {
    let names: Vec<String> = shared
        .config
        .notify
        .receivers
        .iter()
        .map(|r| r.name.clone())
        .collect();
    super::schedule::schedules(&shared.config.reports.schedules, &names).unwrap_or_default()
}
