//! The web console is served by the super-manager from assets embedded in its binary, and
//! its live stream sends the overview as server-sent events.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use strata_testkit::{Mesh, Region, http_get};

/// The first `overview` event of the stream at `addr`, read within five seconds.
fn first_overview_event(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    write!(
        s,
        "GET /api/v1/stream HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\
         Authorization: Bearer {}\r\n\r\n",
        strata_testkit::admin_token()
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        if let Ok(n) = s.read(&mut buf) {
            seen.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&seen);
        if let Some(at) = text.find("event: overview")
            && let Some(end) = text[at..].find("\n\n")
        {
            return text[at..at + end].to_string();
        }
    }
    panic!(
        "no overview event in 5 s: {}",
        String::from_utf8_lossy(&seen)
    );
}

#[test]
fn the_console_and_its_live_stream_are_served() {
    let mesh = Mesh::builder()
        .region(Region::new("west").sim("sim", "sim-", 3))
        .start();
    let http = mesh.http();

    let (status, page) = http_get(&http, "/").unwrap();
    assert_eq!(status, 200);
    assert!(
        page.contains("/assets/app.js") && page.contains("Service map"),
        "{page}"
    );
    for (asset, marker) in [
        ("app.js", "EventSource('/api/v1/stream')"),
        ("app.css", "--ok"),
    ] {
        let (status, body) = http_get(&http, &format!("/assets/{asset}")).unwrap();
        assert_eq!(status, 200, "{asset}");
        assert!(body.contains(marker), "{asset}");
    }
    let (status, _) = http_get(&http, "/assets/nope.js").unwrap();
    assert_eq!(status, 404);

    let event = first_overview_event(&http);
    let data = event
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("the event has data");
    let overview: serde_json::Value = serde_json::from_str(data).unwrap();
    assert!(overview["regions"].is_array(), "{overview}");
    assert!(
        overview["generated_at_ms"].as_i64().unwrap() > 0,
        "{overview}"
    );
}
