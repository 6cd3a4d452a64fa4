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
