//! The principals of the meshes a test process starts: every super-manager and member gets,
//! in its principals file, one admin token made once per process, and the test kit's HTTP
//! helpers send it, so that a test about something else passes the gate as an admin; a test
//! about the gate sends its own credentials ([`crate::http_request_as`]).

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

/// Writes the process's admin token into the principals file in `data_dir` (made when
/// missing; other principals there are kept).
pub fn seed(data_dir: &Path) -> Result<()> {
    let path = data_dir.join("principals.json");
    let file = PrincipalsFile::open(&path).map_err(|e| TestkitError::Config {
        part: path.display().to_string(),
        message: e.to_string(),
    })?;
    let id = strata_web::auth::secret::split_token(admin_token())
        .map(|(id, _)| id.to_string())
        .unwrap_or_default();
    if file.current().tokens.contains_key(&id) {
        return Ok(());
    }
    file.change(|p| {
        p.insert_token(
            admin_token(),
            "testkit",
            Role::Admin,
            Scope::All,
            strata_proto::now_ms(),
        )
    })
    .map(|_| ())
    .map_err(|e| TestkitError::Config {
        part: path.display().to_string(),
        message: e.to_string(),
    })
}
