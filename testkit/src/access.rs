//! The principals of the meshes a test process starts: every super-manager and member gets,
//! in its principals file, one admin token made once per process, and the test kit's HTTP
//! helpers send it, so that a test about something else passes the gate as an admin; a test
//! about the gate sends its own credentials ([`crate::http_request_as`]). The tests'
//! operator certificate (`spiffe://strata/operator/test`) speaks for the user [`OPERATOR`],
//! an admin of every region, seeded beside the token.

use std::path::Path;
use std::sync::OnceLock;

use strata_web::auth::principals::PrincipalsFile;
use strata_web::auth::{Role, Scope};

use crate::error::{Result, TestkitError};

/// The admin token of this test process (all regions).
pub fn admin_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| strata_web::auth::secret::new_token().1)
}

/// The user the tests' operator certificate speaks for at the gRPC doors.
pub const OPERATOR: &str = "test";

/// The record of user [`OPERATOR`] (an admin of every region, with a random password),
/// hashed once per process.
fn operator_record() -> &'static strata_web::auth::principals::UserRecord {
    static RECORD: OnceLock<strata_web::auth::principals::UserRecord> = OnceLock::new();
    RECORD.get_or_init(|| {
        let mut made = strata_web::auth::Principals::default();
        made.add_user(
            OPERATOR,
            &strata_web::auth::secret::generate_password(),
            Role::Admin,
            Scope::All,
            strata_proto::now_ms(),
        )
        .expect("the tests' operator user");
        made.users[OPERATOR].clone()
    })
}

/// Writes the process's admin token and the user [`OPERATOR`] into the principals file in
/// `data_dir` (made when missing; other principals there are kept).
pub fn seed(data_dir: &Path) -> Result<()> {
    let path = data_dir.join("principals.json");
    let file = PrincipalsFile::open(&path).map_err(|e| TestkitError::Config {
        part: path.display().to_string(),
        message: e.to_string(),
    })?;
    let id = strata_web::auth::secret::split_token(admin_token())
        .map(|(id, _)| id.to_string())
        .unwrap_or_default();
    let current = file.current();
    if current.tokens.contains_key(&id) && current.users.contains_key(OPERATOR) {
        return Ok(());
    }
    file.change(|p| {
        if !p.tokens.contains_key(&id) {
            p.insert_token(
                admin_token(),
                "testkit",
                Role::Admin,
                Scope::All,
                strata_proto::now_ms(),
            )?;
        }
        p.users
            .entry(OPERATOR.to_string())
            .or_insert_with(|| operator_record().clone());
        Ok(())
    })
    .map(|_| ())
    .map_err(|e| TestkitError::Config {
        part: path.display().to_string(),
        message: e.to_string(),
    })
}
