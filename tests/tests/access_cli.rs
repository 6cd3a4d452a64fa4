//! `strata user` and `strata token`: the commands change a principals file, which keeps no
//! secret.

use strata_web::auth::principals::PrincipalsFile;

#[test]
fn strata_user_and_token_change_the_principals_file() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("principals.json");
    let f = file.to_str().unwrap();
    let run = |args: &[&str], stdin: &str| {
        let mut child = strata_testkit::cli()
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), format!("{text}{err}"))
    };
    let (ok, out) = run(
        &[
            "user",
            "add",
            "ana",
            "--role",
            "operator",
            "--regions",
            "east",
            "--file",
            f,
        ],
        "ana's long password\n",
    );
    assert!(
        ok && out.contains("user ana added (operator, regions east)"),
        "{out}"
    );
    let (ok, out) = run(
        &["user", "add", "bo", "--role", "chief", "--file", f],
        "x\n",
    );
    assert!(!ok && out.contains("role: 'chief'"), "{out}");
    let (ok, out) = run(
        &[
            "token",
            "create",
            "--name",
            "ci",
            "--role",
            "viewer",
            "--expires",
            "30d",
            "--file",
            f,
        ],
        "",
    );
    assert!(ok, "{out}");
    let token = out
        .lines()
        .find(|l| l.starts_with("strata_"))
        .unwrap_or_else(|| panic!("no token printed: {out}"))
        .to_string();
    let principals = PrincipalsFile::open(&file).unwrap().current();
    assert!(
        principals
            .check_password("ana", "ana's long password")
            .is_some()
    );
    assert_eq!(
        principals
            .check_token(&token, strata_testkit::now_ms())
            .map(|p| p.name),
        Some("token:ci".to_string())
    );
    assert!(
        !std::fs::read_to_string(&file)
            .unwrap()
            .contains(&token[20..]),
        "no secret kept"
    );
    let (ok, out) = run(&["token", "list", "--file", f], "");
    assert!(ok && out.contains("ci") && out.contains("viewer"), "{out}");
    let (ok, out) = run(&["token", "revoke", "ci", "--file", f], "");
    assert!(ok && out.contains("revoked"), "{out}");
    let principals = PrincipalsFile::open(&file).unwrap().current();
    assert!(
        principals
            .check_token(&token, strata_testkit::now_ms())
            .is_none()
    );
    let (ok, _) = run(&["user", "remove", "ana", "--file", f], "");
    assert!(ok);
    assert!(
        PrincipalsFile::open(&file)
            .unwrap()
            .current()
            .users
            .is_empty()
    );
}
