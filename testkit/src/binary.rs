//! Where Strata's binaries are: beside the running executable (a test's `target/<profile>/deps`
//! has them one level up), else on `PATH` (an installed package).

use std::path::PathBuf;

use crate::error::{Result, TestkitError};

/// The path of Strata's binary `name` (`strata`, `strata-broker`, ...).
pub fn binary(name: &str) -> Result<PathBuf> {
    let mut tried = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(mut dir) = exe.parent().map(|d| d.to_path_buf())
    {
        if dir.ends_with("deps") {
            dir.pop();
        }
        let path = dir.join(name);
        if path.is_file() {
            return Ok(path);
        }
        tried.push(dir.display().to_string());
    }
    if let Some(path) = which(name) {
        return Ok(path);
    }
    tried.push("PATH".into());
    Err(TestkitError::NoBinary {
        name: name.into(),
        tried: tried.join(", "),
    })
}

/// `name` on `PATH`, as the shell would find it.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// As [`binary`], panicking with the way to build it (for tests).
pub fn bin(name: &str) -> PathBuf {
    binary(name).unwrap_or_else(|e| panic!("{e}"))
}

/// The `strata` command, with the test process's admin token in `STRATA_TOKEN` (what its
/// API commands send).
pub fn cli() -> std::process::Command {
    let mut command = std::process::Command::new(bin("strata"));
    command.env("STRATA_TOKEN", crate::admin_token());
    command
}
