//! `strata files`: publish a bundle of files to hosts, follow where it stands on each, and
//! roll it back.

use anyhow::Context;
use base64::Engine;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client;

/// Options of `strata files`.
#[derive(Args, Debug)]
pub struct FilesArgs {
    /// Base URL of the super-manager's API; several, comma-separated: the first that answers.
    #[arg(
        long,
        default_value = "http://127.0.0.1:9740",
        env = "STRATA_API",
        global = true
    )]
    pub api: String,
    #[command(subcommand)]
    pub command: Option<FilesCommand>,
}

/// What `strata files` does (status by default).
#[derive(Subcommand, Debug)]
pub enum FilesCommand {
    /// Publish the next version of a bundle to the hosts the targets select (all given
    /// selectors must match): signed by the centre, written by each host's agent only under
    /// its own accept_files.
    Publish {
        /// The bundle's name.
        name: String,
        /// A file, as DEST=SOURCE or DEST=SOURCE:MODE (octal, default 0644): SOURCE read
        /// here, written to DEST on the hosts.
        #[arg(long = "file", required = true)]
        files: Vec<String>,
        /// Hosts of this region.
        #[arg(long)]
        region: Option<String>,
        /// Host names matching this pattern (* and ?).
        #[arg(long)]
        hosts: Option<String>,
        /// The hosts of this service (all its components, or --component's).
        #[arg(long)]
        service: Option<String>,
        #[arg(long, requires = "service")]
        component: Option<String>,
    },
    /// The bundles, or one bundle's hosts: applied, refused (with the reason) or pending.
    Status {
        /// A bundle's name (default: every bundle).
        name: Option<String>,
    },
    /// Make a bundle's hosts restore a version they kept (default the one before the
    /// latest).
    Rollback {
        name: String,
        #[arg(long)]
        to: Option<u64>,
    },
}

/// `DEST=SOURCE[:MODE]` read into the API's file object.
fn file_arg(arg: &str) -> anyhow::Result<Value> {
    let (dest, source) = arg
        .split_once('=')
        .with_context(|| format!("--file {arg}: write DEST=SOURCE or DEST=SOURCE:MODE"))?;
    let (source, mode) = match source.rsplit_once(':') {
        Some((s, m)) if !m.is_empty() && m.chars().all(|c| c.is_digit(8)) => (s, m),
        _ => (source, "0644"),
    };
    let bytes = std::fs::read(source).with_context(|| format!("--file {arg}: read {source}"))?;
    Ok(json!({
        "path": dest,
        "mode": mode,
        "content_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
    }))
}

fn print_bundle(b: &Value) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    println!(
        "{} version {}{} by {}, {}",
        text(&b["name"]),
        b["version"],
        match b["rollback_to"].as_u64() {
            Some(v) if v > 0 => format!(" (restores {v})"),
            _ => String::new(),
        },
        text(&b["published_by"]),
        client::ago(b["published_ms"].as_i64().unwrap_or(0))
    );
    for f in b["files"].as_array().into_iter().flatten() {
        println!(
            "  {} {} ({} bytes)",
            text(&f["mode"]),
            text(&f["path"]),
            f["bytes"]
        );
    }
    let mut rows = vec![vec![
        "host".to_string(),
        "state".into(),
        "version".into(),
        "tries".into(),
        "reason".into(),
    ]];
    for (host, h) in b["hosts"].as_object().into_iter().flatten() {
        rows.push(vec![
            host.clone(),
            text(&h["state"]),
            h["version"].to_string(),
            h["attempts"].to_string(),
            text(&h["reason"]),
        ]);
    }
    print!("{}", client::table(&rows));
}

/// Runs `strata files`.
pub async fn run(args: FilesArgs) -> anyhow::Result<()> {
    match args.command.unwrap_or(FilesCommand::Status { name: None }) {
        FilesCommand::Publish {
            name,
            files,
            region,
            hosts,
            service,
            component,
        } => {
            let files = files
                .iter()
                .map(|f| file_arg(f))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let body = json!({
                "name": name,
                "files": files,
                "targets": {"region": region, "hosts": hosts, "service": service, "component": component},
            });
            let b: Value = client::post(&args.api, "/api/v1/files", &body).await?;
            print_bundle(&b);
            Ok(())
        }
        FilesCommand::Status { name: Some(name) } => {
            let path = format!("/api/v1/files/{}", client::query_escape(&name));
            let b: Value = client::get(&args.api, &path).await?;
            print_bundle(&b);
            Ok(())
        }
        FilesCommand::Status { name: None } => {
            let list: Vec<Value> = client::get(&args.api, "/api/v1/files").await?;
            let mut rows = vec![vec![
                "bundle".to_string(),
                "version".into(),
                "published".into(),
                "by".into(),
                "files".into(),
                "applied".into(),
                "refused".into(),
                "pending".into(),
            ]];
            for b in &list {
                rows.push(vec![
                    b["name"].as_str().unwrap_or_default().to_string(),
                    b["version"].to_string(),
                    client::ago(b["published_ms"].as_i64().unwrap_or(0)),
                    b["published_by"].as_str().unwrap_or_default().to_string(),
                    b["files"].to_string(),
                    b["applied"].to_string(),
                    b["refused"].to_string(),
                    b["pending"].to_string(),
                ]);
            }
            print!("{}", client::table(&rows));
            println!("{} bundle(s)", list.len());
            Ok(())
        }
        FilesCommand::Rollback { name, to } => {
            let path = format!("/api/v1/files/{}/rollback", client::query_escape(&name));
            let b: Value = client::post(&args.api, &path, &json!({ "to": to })).await?;
            print_bundle(&b);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_argument_reads_its_source_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("run.sh");
        std::fs::write(&src, "#!/bin/sh\n").unwrap();
        let f = file_arg(&format!("/opt/p/run.sh={}:0755", src.display())).unwrap();
        assert_eq!(
            (f["path"].as_str(), f["mode"].as_str()),
            (Some("/opt/p/run.sh"), Some("0755"))
        );
        assert_eq!(f["content_base64"], "IyEvYmluL3NoCg==");
        let f = file_arg(&format!("/etc/a={}", src.display())).unwrap();
        assert_eq!(f["mode"], "0644");
        assert!(
            file_arg("/etc/a")
                .unwrap_err()
                .to_string()
                .contains("DEST=SOURCE")
        );
        assert!(file_arg("/etc/a=/no/such/file").is_err());
    }
}
