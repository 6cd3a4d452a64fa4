//! The principals file: checks, revocation, the file written whole, centres converging.

use super::*;

#[test]
fn two_centres_converge_on_one_document_whatever_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        PrincipalsFile::open(dir.path().join("a.json")).unwrap(),
        PrincipalsFile::open(dir.path().join("b.json")).unwrap(),
    );
    // both changed at once from version 0: one version, two documents
    a.change(|p| p.add_user("ana", "long enough", Role::Viewer, Scope::All, 1))
        .unwrap();
    b.change(|p| p.add_user("bob", "long enough", Role::Viewer, Scope::All, 1))
        .unwrap();
    let (da, db) = ((*a.current()).clone(), (*b.current()).clone());
    let a_took = a.converge(db.clone()).unwrap();
    let b_took = b.converge(da.clone()).unwrap();
    assert!(a_took != b_took, "exactly one side takes the other's");
    assert_eq!(*a.current(), *b.current());
    assert!(
        !a.converge(da).unwrap() && !a.converge(db).unwrap(),
        "settled"
    );
    // a later version wins
    b.change(|p| p.add_user("eve", "long enough", Role::Viewer, Scope::All, 2))
        .unwrap();
    assert!(a.converge((*b.current()).clone()).unwrap());
    assert!(a.current().users.contains_key("eve"));
}

#[test]
fn users_and_tokens_are_checked_and_revoked() {
    let mut p = Principals::default();
    p.add_user(
        "ana",
        "long enough",
        Role::Operator,
        Scope::parse("east").unwrap(),
        1,
    )
    .unwrap();
    assert!(
        p.add_user("ana", "long enough", Role::Admin, Scope::All, 1)
            .is_err()
    );
    assert!(
        p.add_user("b b", "long enough", Role::Admin, Scope::All, 1)
            .is_err()
    );
    assert!(
        p.add_user("bo", "short", Role::Admin, Scope::All, 1)
            .is_err()
    );
    let ana = p.check_password("ana", "long enough").unwrap();
    assert_eq!(
        (ana.role, ana.scope.to_string()),
        (Role::Operator, "east".into())
    );
    assert!(p.check_password("ana", "wrong one").is_none());
    assert!(p.check_password("nobody", "long enough").is_none());

    let (id, text) = p
        .create_token("ci", Role::Viewer, Scope::All, 1_000, 10)
        .unwrap();
    assert_eq!(p.check_token(&text, 20).unwrap().name, "token:ci");
    assert!(p.check_token(&text, 1_000).is_none(), "expired");
    let forged = format!("{}0", &text[..text.len() - 1]);
    assert!(p.check_token(&forged, 20).is_none() || forged == text);
    assert_eq!(p.revoke_token("ci", 30).unwrap(), id);
    assert!(p.check_token(&text, 20).is_none(), "revoked");
    assert!(
        !serde_json::to_string(&p).unwrap().contains(&text[20..]),
        "no secret kept"
    );
}

#[test]
fn the_file_is_written_whole_and_read_again_when_changed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("principals.json");
    let file = PrincipalsFile::open(&path)
        .unwrap()
        .with_recheck(Duration::ZERO);
    assert_eq!(file.current().version, 0);
    file.change(|p| p.add_user("ana", "long enough", Role::Admin, Scope::All, 1))
        .unwrap();
    assert_eq!(file.current().version, 1);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // a change made by another process is seen
    let other = PrincipalsFile::open(&path).unwrap();
    other.change(|p| p.remove_user("ana")).unwrap();
    assert!(file.current().users.is_empty());
    let mut older = (*file.current()).clone();
    older.version = 1;
    assert!(!file.replace_if_newer(older.clone()).unwrap());
    older.version = 9;
    assert!(file.replace_if_newer(older).unwrap());
    std::fs::write(&path, "{").unwrap();
    assert!(
        PrincipalsFile::open(&path)
            .unwrap_err()
            .to_string()
            .contains("principals")
    );
}
