//! `strata notify`: a region's notification channels (receivers, routes, silences), shown
//! with their secrets hidden, replaced from a file, or given back to the config file.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use strata_proto::v1::{GetNotifyRequest, NotifyResponse, PutNotifyRequest};

use super::rules::{RegionApi, client};

/// Options of `strata notify`.
#[derive(Args, Debug)]
pub struct NotifyArgs {
    #[command(subcommand)]
    pub command: NotifyCommand,
    #[command(flatten)]
    pub at: RegionApi,
}

/// What `strata notify` does.
#[derive(Subcommand, Debug)]
pub enum NotifyCommand {
    /// Print the channels in force as TOML (secrets shown as <hidden>).
    Show,
    /// Replace the channels with those of a file: the `[notify]` section's content
    /// (validated first; a <hidden> secret keeps the receiver's current one).
    Put {
        /// A TOML file of [[receivers]], [[routes]] and [[silences]].
        file: PathBuf,
    },
    /// Drop the channels put through the API: the config file's are in force again.
    Reset,
}

fn count(n: u32, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn summary(r: &NotifyResponse) -> String {
    format!(
        "{}, {}, {} in force (from the {})",
        count(r.receivers, "receiver"),
        count(r.routes, "route"),
        count(r.silences, "silence"),
        if r.source == "api" {
            "API"
        } else {
            "config file"
        }
    )
}

/// Runs `strata notify`.
pub async fn run(args: NotifyArgs) -> anyhow::Result<()> {
    let mut c = client(&args.at).await?;
    let region = args.at.region.clone();
    let put = |notify_toml: String, use_file: bool| PutNotifyRequest {
        region: region.clone(),
        notify_toml,
        use_file,
    };
    let r = match &args.command {
        NotifyCommand::Show => {
            let r = c
                .get_notify(GetNotifyRequest {
                    region: args.at.region.clone(),
                })
                .await
                .map_err(|s| anyhow!("GetNotify: {}", s.message()))?
                .into_inner();
            println!("# {}", summary(&r));
            print!("{}", r.notify_toml);
            return Ok(());
        }
        NotifyCommand::Put { file } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("read {}", file.display()))?;
            c.put_notify(put(text, false)).await
        }
        NotifyCommand::Reset => c.put_notify(put(String::new(), true)).await,
    };
    let r = r.map_err(|s| anyhow!("{}", s.message()))?.into_inner();
    println!("{}", summary(&r));
    Ok(())
}
