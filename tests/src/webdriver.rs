//! A small WebDriver client for browser tests: Debian's `chromedriver` driving headless
//! `chromium`, spoken to in the W3C WebDriver protocol (JSON over HTTP) with this harness's
//! own HTTP helper, so the tests need no browser-automation crate.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use std::io::{BufRead, BufReader, Read};

use strata_testkit::send_request;

use strata_testkit::peer::{Output, Peer};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process with one headless Chromium session, ended on drop.
pub struct Browser {
    /// chromedriver, killed on drop (after the session is ended).
    _driver: Peer,
    addr: String,
    session: String,
}

fn call(addr: &str, method: &str, path: &str, body: &Value) -> Result<Value, String> {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let (status, text) = exchange(addr, method, path, &body)?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}: {text}"))?;
    if status != 200 {
        return Err(format!(
            "{method} {path}: {status}: {}",
            v["value"]["message"]
        ));
    }
    Ok(v["value"].clone())
}

/// One HTTP/1.1 request to chromedriver, its answer read by its Content-Length (chromedriver
/// keeps connections open whatever the request asks).
fn exchange(addr: &str, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
    let stream = send_request(addr, method, path, body.as_bytes(), Duration::from_secs(60))?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|e| format!("read {path}: {e}"))?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line '{line}'"))?;
    let mut length = 0;
    loop {
        line.clear();
        reader
            .read_line(&mut line)
            .map_err(|e| format!("read {path}: {e}"))?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader
        .read_exact(&mut body)
        .map_err(|e| format!("read {path}: {e}"))?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

impl Browser {
    /// Starts chromedriver and a headless Chromium window of `width`×`height`.
    pub fn start(width: u32, height: u32) -> Browser {
        for (bin, package) in [
            ("/usr/bin/chromedriver", "chromium-driver"),
            ("/usr/bin/chromium", "chromium"),
        ] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: install it with `sudo apt-get install -y {package}` (make test does)"
            );
        }
        let mut command = Command::new("/usr/bin/chromedriver");
        command.arg("--port=0");
        let log = std::env::temp_dir().join(format!("chromedriver-{}.log", std::process::id()));
        // "ChromeDriver was started successfully on port 43109."
        let driver = Peer::start(command, Output::Stdout, &log, |line| {
            let port = line.split("successfully on port ").nth(1)?;
            Some(format!("127.0.0.1:{}", port.trim_end_matches('.').trim()))
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let addr = driver.addr.clone();
        let deadline = Instant::now() + Duration::from_secs(20);
        while call(&addr, "GET", "/status", &Value::Null).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start within 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}")]
            }
        }}});
        let session = call(&addr, "POST", "/session", &caps).expect("open a browser session");
        Browser {
            _driver: driver,
            addr,
            session: session["sessionId"]
                .as_str()
                .expect("a session id")
                .to_string(),
        }
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        call(
            &self.addr,
            method,
            &format!("/session/{}{path}", self.session),
            &body,
        )
    }

    /// Loads `url`.
    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }))
            .expect("navigate");
    }

    /// The element `css` selects, waited for up to `within`.
    pub fn find(&self, css: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            match self.call(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            ) {
                Ok(v) => return v[ELEMENT].as_str().expect("an element id").to_string(),
                Err(e) if Instant::now() >= deadline => {
                    panic!(
                        "no '{css}' within {within:?}: {e}; page text: {}",
                        self.text_of("body")
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Clicks the element `css` selects (waited for up to 15 s; found again if the page was
    /// redrawn between finding and clicking it).
    pub fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let el = self.find(css, Duration::from_secs(15));
            match self.call("POST", &format!("/element/{el}/click"), json!({})) {
                Ok(_) => return,
                Err(e) if Instant::now() >= deadline => panic!("click '{css}': {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Types `text` into the field `css` selects, in place of what it held.
    pub fn fill(&self, css: &str, text: &str) {
        let el = self.find(css, Duration::from_secs(15));
        self.call("POST", &format!("/element/{el}/clear"), json!({}))
            .unwrap_or_else(|e| panic!("clear '{css}': {e}"));
        self.call(
            "POST",
            &format!("/element/{el}/value"),
            json!({ "text": text }),
        )
        .unwrap_or_else(|e| panic!("type into '{css}': {e}"));
    }

    /// Moves the mouse onto the element `css` selects, `x` px right of its centre (left
    /// when negative); with `drag_to`, presses the button there, moves to `drag_to` px and
    /// releases it (a drag across the element).
    /// The element is found again if the page was redrawn between finding and moving.
    pub fn pointer(&self, css: &str, x: i64, drag_to: Option<i64>) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.try_pointer(css, x, drag_to) {
                Ok(()) => return,
                Err(e) if Instant::now() >= deadline => panic!("pointer over '{css}': {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn try_pointer(&self, css: &str, x: i64, drag_to: Option<i64>) -> Result<(), String> {
        let el = self.find(css, Duration::from_secs(15));
        let origin = json!({ ELEMENT: el });
        let mut steps =
            vec![json!({"type": "pointerMove", "duration": 0, "origin": origin, "x": x, "y": 0})];
        if let Some(to) = drag_to {
            steps.push(json!({"type": "pointerDown", "button": 0}));
            steps.push(
                json!({"type": "pointerMove", "duration": 300, "origin": origin, "x": to, "y": 0}),
            );
            steps.push(json!({"type": "pointerUp", "button": 0}));
        }
        let actions = json!({"actions": [{"type": "pointer", "id": "mouse",
            "parameters": {"pointerType": "mouse"}, "actions": steps}]});
        self.call("POST", "/actions", actions).map(|_| ())
    }

    /// What the script `body` (a function body) returns, run in the page.
    pub fn script(&self, body: &str) -> Value {
        self.call("POST", "/execute/sync", json!({"script": body, "args": []}))
            .unwrap_or_else(|e| panic!("script: {e}"))
    }

    /// The width in CSS pixels of the element `css` selects (waited for up to 15 s).
    pub fn width(&self, css: &str) -> i64 {
        self.find(css, Duration::from_secs(15));
        let css = serde_json::to_string(css).expect("a string");
        self.script(&format!(
            "return document.querySelector({css}).getBoundingClientRect().width"
        ))
        .as_f64()
        .unwrap_or_else(|| panic!("no width for {css}")) as i64
    }

    /// The attribute `name` of the element `css` selects (waited for up to 15 s).
    pub fn attribute(&self, css: &str, name: &str) -> String {
        let el = self.find(css, Duration::from_secs(15));
        self.call(
            "GET",
            &format!("/element/{el}/attribute/{name}"),
            Value::Null,
        )
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
    }

    /// The text of the first element `css` selects, or "" when there is none.
    pub fn text_of(&self, css: &str) -> String {
        match self.call(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        ) {
            Ok(v) => {
                let el = v[ELEMENT].as_str().unwrap_or_default().to_string();
                self.call("GET", &format!("/element/{el}/text"), Value::Null)
                    .ok()
                    .and_then(|t| t.as_str().map(String::from))
                    .unwrap_or_default()
            }
            Err(_) => String::new(),
        }
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        self.call("GET", "/url", Value::Null)
            .ok()
            .and_then(|u| u.as_str().map(String::from))
            .unwrap_or_default()
    }

    /// Saves a screenshot of the window as PNG at `path`.
    pub fn screenshot(&self, path: &Path) {
        let b64 = self
            .call("GET", "/screenshot", Value::Null)
            .expect("screenshot");
        let png = base64_decode(b64.as_str().expect("base64 text")).expect("valid base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create the screenshot directory");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = call(
            &self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            &Value::Null,
        );
    }
}

/// Standard base64 (with padding or without; whitespace skipped) decoded.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().filter(|&&b| b == b'=').count();
        let mut n = 0u32;
        for &b in chunk {
            n = n << 6 | if b == b'=' { 0 } else { value(b)? };
        }
        n <<= 6 * (4 - chunk.len()) as u32;
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&three[..(chunk.len() * 6 / 8).saturating_sub(pad)]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(super::base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(super::base64_decode("aGk=").unwrap(), b"hi");
        assert_eq!(super::base64_decode("aGV5").unwrap(), b"hey");
        assert_eq!(super::base64_decode("aGk").unwrap(), b"hi");
        assert!(super::base64_decode("a$==").is_none());
    }
}
