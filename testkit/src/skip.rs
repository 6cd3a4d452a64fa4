//! A check that cannot run where it is run: skipped, and said so, on a developer's machine;
//! a failure under CI (`CI=true`), where `make test` installs everything every check needs,
//! so that a green run never hides a check that ran nothing.

/// Says that `what` cannot run here because of `why`: a line starting `SKIPPED:` on stderr,
/// or, under `CI=true`, a panic.
pub fn cannot_run(what: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what} cannot run under CI: {why}");
    }
    eprintln!("SKIPPED: {what}: {why}");
}
