//! Logging in, for the browser tests: the principals they use, written into a mesh's
//! principals files before it starts, and a login through the console's form.

use std::path::PathBuf;
use std::time::Duration;

use strata_testkit::wait_for;
use strata_web::auth::principals::PrincipalsFile;
use strata_web::auth::{Principals, Role, Scope};

use crate::webdriver::Browser;

/// The operator's and the admin's passwords.
pub const ANA: (&str, &str) = ("ana", "ana's long password");
pub const ROOT: (&str, &str) = ("root", "root's long password");

/// Adds the test process's admin token, `ana` (operator) and `root` (admin), all regions,
/// to the principals of each data directory of `dirs`.
pub fn principals(dirs: &[PathBuf]) {
    let mut made = Principals::default();
    made.add_user(ANA.0, ANA.1, Role::Operator, Scope::All, 1)
        .unwrap();
    made.add_user(ROOT.0, ROOT.1, Role::Admin, Scope::All, 1)
        .unwrap();
    for dir in dirs {
        strata_testkit::access::seed(dir).unwrap();
    }
    add_principals(dirs, &made);
}

/// Adds the users and tokens of `made` to the principals file of each data directory of
/// `dirs` (a running manager reads them within a second).
pub fn add_principals(dirs: &[PathBuf], made: &Principals) {
    for dir in dirs {
        PrincipalsFile::open(dir.join("principals.json"))
            .unwrap()
            .change(|p| {
                p.users.extend(made.users.clone());
                p.tokens.extend(made.tokens.clone());
                Ok(())
            })
            .unwrap();
    }
}

/// Logs in at the console `base` as `who` (after logging out whoever was in).
pub fn log_in(browser: &Browser, base: &str, who: (&str, &str)) {
    browser.goto(base);
    let within = Duration::from_secs(15);
    wait_for("the login form or the session", within, || {
        if !browser.text_of("#logout").is_empty() {
            browser.click("#logout");
            Err("logging out".to_string())
        } else if browser.text_of("#login-form").is_empty() {
            Err("no login form yet".to_string())
        } else {
            Ok(())
        }
    });
    browser.fill("#login-form input[name=name]", who.0);
    browser.fill("#login-form input[name=password]", who.1);
    browser.click("#login-form button");
    wait_for(&format!("{} logged in", who.0), within, || {
        let shown = browser.text_of("#who");
        if shown.starts_with(who.0) {
            Ok(())
        } else {
            Err(format!(
                "header: '{shown}'; login: '{}'",
                browser.text_of("#login-result")
            ))
        }
    });
}

/// Logs in at `addr`'s console API (`POST /api/v1/login`) as `who`, without a browser: the
/// session cookie's value.
pub fn session_cookie(addr: &str, who: (&str, &str)) -> Result<String, String> {
    let body = serde_json::json!({"name": who.0, "password": who.1}).to_string();
    let head = raw_request(addr, "POST", "/api/v1/login", &body, None)?;
    let (status, _) = head.split_once("\r\n").unwrap_or((&head, ""));
    head.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| {
                    value
                        .trim()
                        .split(';')
                        .next()?
                        .split_once('=')
                        .map(|(_, v)| v.to_string())
                })
                .flatten()
        })
        .ok_or_else(|| format!("no session cookie: {status}"))
}

/// `method path` at `addr` with the session cookie `value`, under the cookie name of
/// `addr`'s port (the one its console reads): the status and the whole answer.
pub fn with_session(
    addr: &str,
    method: &str,
    path: &str,
    value: &str,
) -> Result<(u16, String), String> {
    let port = addr.rsplit_once(':').map_or("", |(_, p)| p);
    let cookie = format!("strata_session_{port}={value}");
    let answer = raw_request(addr, method, path, "", Some(&cookie))?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in '{answer}'"))?;
    Ok((status, answer))
}

/// One HTTP/1.1 request with a JSON `body` and an optional `Cookie`: the whole answer.
fn raw_request(
    addr: &str,
    method: &str,
    path: &str,
    body: &str,
    cookie: Option<&str>,
) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{cookie}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| format!("send {method} {path}: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read {method} {path}: {e}"))?;
    Ok(String::from_utf8_lossy(&raw).into_owned())
}
