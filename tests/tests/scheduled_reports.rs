//! Reports that arrive by themselves, with the real binaries: a daily report first seen
//! after its time sends nothing that day; moved a few seconds ahead in Europe/Paris (the
//! centre restarted with it, so that a slow start cannot make it pass unseen) it reaches
//! an SMTP sink at its time, as an HTML body with the table attached as CSV; the centre,
//! stopped over the next occurrence, sends it once when it is back, marked late, and never
//! again after another restart.

use std::time::{Duration, Instant};

use strata_testkit::{Mesh, get_json, wait_for};
use strata_tests::sinks::{Mail, SmtpSink};

const ZONE: &str = "Europe/Paris";

/// The local time in Paris `ahead` from now, as `HH:MM:SS`.
fn paris_in(ahead: Duration) -> String {
    let at = jiff::Timestamp::now() + jiff::SignedDuration::try_from(ahead).unwrap();
    at.to_zoned(jiff::tz::TimeZone::get(ZONE).unwrap())
        .strftime("%H:%M:%S")
        .to_string()
}

/// A mail's text with quoted-printable's soft line breaks taken out.
fn unwrapped(mail: &Mail) -> String {
    mail.data.replace("=\r\n", "").replace("=\n", "")
}

fn mails_for(smtp: &SmtpSink, schedule: &str) -> Vec<Mail> {
    smtp.mails()
        .into_iter()
        .filter(|m| m.subject().contains(schedule))
        .collect()
}

/// The centre's config file in `mesh`'s directory with the schedule's `at` set to `at`
/// (the line that sets it replaced).
fn set_at(mesh: &Mesh, at: &str) {
    let config = mesh.dir().join("super-manager.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("at = ") {
                format!("at = \"{at}\"")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&config, lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_scheduled_report_arrives_at_its_time_and_once_after_a_missed_one() {
    let smtp = SmtpSink::start();
    // first seen at a time already past today: the schedule starts with its next occurrence
    let past = paris_in(Duration::ZERO);
    let past = {
        let h: u32 = past[..2].parse().unwrap();
        format!("{:02}{}", (h + 22) % 24, &past[2..])
    };
    let mut mesh = Mesh::builder()
        .super_toml(&format!(
            r#"
[notify]
[[notify.receivers]]
name = "ops-mail"
kind = "email"
smtp = "{smtp}"
starttls = "none"
from = "strata@example.test"
to = ["ops@example.test"]
[reports]
check_interval = "1s"
[[reports.schedules]]
name = "daily-failures"
report = "failure"
every = "daily"
at = "{past}"
time_zone = "{ZONE}"
receivers = ["ops-mail"]
"#,
            smtp = smtp.addr()
        ))
        .start();
    wait_for("the schedule seen", Duration::from_secs(30), || {
        let s = get_json(&mesh.http(), "/api/v1/reports/schedules")?;
        if s[0]["last"]["due_ms"].as_i64().is_some() {
            Ok(())
        } else {
            Err(s.to_string())
        }
    });
    assert!(
        mails_for(&smtp, "daily-failures").is_empty(),
        "nothing sent when first seen"
    );
    // then due a few seconds ahead, after a restart of the centre (however slow the mesh
    // was to start, the time is still to come)
    mesh.super_manager().kill();
    let first = paris_in(Duration::from_secs(4));
    set_at(&mesh, &first);
    mesh.super_manager().restart();
    let started = Instant::now();
    let on_time = wait_for(
        "the report at its time",
        Duration::from_secs(30),
        || match mails_for(&smtp, "daily-failures").as_slice() {
            [one] => Ok(one.clone()),
            other => Err(format!("{} mails", other.len())),
        },
    );
    eprintln!(
        "sent {:.1} s after the centre restarted (due 4 s after): {}",
        started.elapsed().as_secs_f64(),
        on_time.subject()
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "sent before its time"
    );
    let subject = on_time.subject();
    assert!(
        subject.starts_with("[Strata] daily-failures: failure report, "),
        "{subject}"
    );
    assert!(!subject.contains("late"), "{subject}");
    for part in [
        "multipart/alternative",
        "text/html",
        "<th>resource</th>",
        "filename=\"daily-failures-",
        "text/csv",
    ] {
        assert!(
            unwrapped(&on_time).contains(part),
            "{part} not in {}",
            on_time.data
        );
    }
    // the report covers the day before in Paris (CET or CEST)
    assert!(
        subject.contains(" 00:00 CET to ") || subject.contains(" 00:00 CEST to "),
        "{subject}"
    );

    // the centre is down when the next occurrence comes, then back
    mesh.super_manager().kill();
    let missed = paris_in(Duration::from_secs(2));
    let missed_at = Instant::now() + Duration::from_secs(3);
    set_at(&mesh, &missed);
    wait_for("the missed time past", Duration::from_secs(10), || {
        if Instant::now() >= missed_at {
            Ok(())
        } else {
            Err("not yet".to_string())
        }
    });
    assert_eq!(mails_for(&smtp, "daily-failures").len(), 1);
    mesh.super_manager().restart();
    let late = wait_for(
        "the missed report, late",
        Duration::from_secs(30),
        || match mails_for(&smtp, "daily-failures").as_slice() {
            [_, late] => Ok(late.clone()),
            other => Err(format!("{} mails", other.len())),
        },
    );
    assert!(
        late.subject().ends_with("(sent late)"),
        "{}",
        late.subject()
    );
    assert!(
        unwrapped(&late).contains("Sent late: the centre was not running when it was due"),
        "{}",
        late.data
    );
    let schedules = get_json(&mesh.http(), "/api/v1/reports/schedules").unwrap();
    let last = &schedules[0]["last"];
    assert_eq!(last["late"], true, "{schedules}");
    assert!(last["sent_ms"].as_i64().unwrap() > 0, "{schedules}");
    assert!(
        schedules[0]["next_due_ms"].as_i64().is_some(),
        "{schedules}"
    );

    // once: neither more ticks nor another restart send it again (an absence is watched
    // for three ticks of `check_interval`, before and after the restart)
    std::thread::sleep(Duration::from_secs(3));
    mesh.super_manager().restart();
    wait_for(
        "the restarted centre's record",
        Duration::from_secs(30),
        || {
            let s = get_json(&mesh.http(), "/api/v1/reports/schedules")?;
            if s[0]["last"]["late"] == true {
                Ok(())
            } else {
                Err(s.to_string())
            }
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    let all = mails_for(&smtp, "daily-failures");
    assert_eq!(
        all.len(),
        2,
        "{:?}",
        all.iter().map(Mail::subject).collect::<Vec<_>>()
    );
}
