//! `strata user` and `strata token`: the people and scripts who may use the consoles and
//! the API, written to the principals file of a manager (the centre's by default: it hands
//! them to the regions). The file holds hashes only; a token's text is printed once, when
//! it is made, and never again.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use strata_web::auth::principals::PrincipalsFile;
use strata_web::auth::{Role, Scope};

use super::client;

/// The principals file the commands change.
#[derive(Args, Debug)]
pub struct FileArg {
    /// The principals file (the super-manager's `[auth] principals_file`, by default
    /// `principals.json` in its data directory).
    #[arg(
        long,
        global = true,
        default_value = "/var/lib/strata-super-manager/principals.json",
        env = "STRATA_PRINCIPALS"
    )]
    pub file: PathBuf,
}

/// Options of `strata user`.
#[derive(Args, Debug)]
pub struct UserArgs {
    #[command(flatten)]
    pub file: FileArg,
    #[command(subcommand)]
    pub command: UserCommand,
}

/// What `strata user` does.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a local account; the password is read from standard input (one line), or
    /// generated and printed once with --generate.
    Add {
        name: String,
        /// viewer, operator or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// The regions covered: `all`, or a comma-separated list.
        #[arg(long, default_value = "all")]
        regions: String,
        /// Generate the password and print it once.
        #[arg(long)]
        generate: bool,
    },
    /// Set an account's password (read from standard input, or generated with --generate).
    Passwd {
        name: String,
        #[arg(long)]
        generate: bool,
    },
    /// List the accounts.
    List,
    /// Remove an account.
    Remove { name: String },
}

/// Options of `strata token`.
#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(flatten)]
    pub file: FileArg,
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// What `strata token` does.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Make an API token; its text is printed once (send it as `Authorization: Bearer`, or
    /// set STRATA_TOKEN for the commands).
    Create {
        /// What it is for (a script's, a dashboard's name).
        #[arg(long)]
        name: String,
        /// viewer, operator or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// The regions covered: `all`, or a comma-separated list.
        #[arg(long, default_value = "all")]
        regions: String,
        /// How long it works (`30d`, `12h`; `never` for no expiry).
        #[arg(long, default_value = "90d")]
        expires: String,
    },
    /// List the tokens (never their text).
    List,
    /// Revoke a token by id (or by name, when one has it).
    Revoke { token: String },
}

fn password(generate: bool) -> anyhow::Result<(String, bool)> {
    if generate {
        return Ok((strata_web::auth::secret::generate_password(), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("read the password from standard input")?;
    Ok((line.trim_end_matches(['\r', '\n']).to_string(), false))
}

fn open(file: &FileArg) -> anyhow::Result<PrincipalsFile> {
    PrincipalsFile::open(&file.file).map_err(anyhow::Error::from)
}

fn parse_role_scope(role: &str, regions: &str) -> anyhow::Result<(Role, Scope)> {
    let role = Role::parse(role).map_err(|e| anyhow::anyhow!("--{e}"))?;
    let scope = Scope::parse(regions).map_err(|e| anyhow::anyhow!("--{e}"))?;
    Ok((role, scope))
}

fn time(ms: i64) -> String {
    if ms == 0 {
        return "-".into();
    }
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Runs `strata user`.
pub fn user(args: UserArgs) -> anyhow::Result<()> {
    let file = open(&args.file)?;
    let now = strata_proto::now_ms();
    match args.command {
        UserCommand::Add {
            name,
            role,
            regions,
            generate,
        } => {
            let (role, scope) = parse_role_scope(&role, &regions)?;
            let (password, generated) = password(generate)?;
            file.change(|p| p.add_user(&name, &password, role, scope.clone(), now))?;
            println!("user {name} added ({role}, regions {scope})");
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::Passwd { name, generate } => {
            let (password, generated) = password(generate)?;
            file.change(|p| p.set_password(&name, &password, now))?;
            println!("password of {name} changed; their sessions end");
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::List => {
            let mut rows = vec![vec![
                "NAME".into(),
                "ROLE".into(),
                "REGIONS".into(),
                "CHANGED".into(),
            ]];
            for u in file.current().user_views() {
                rows.push(vec![
                    u.name,
                    u.role.to_string(),
                    u.regions,
                    time(u.changed_ms),
                ]);
            }
            print!("{}", client::table(&rows));
        }
        UserCommand::Remove { name } => {
            file.change(|p| p.remove_user(&name))?;
            println!("user {name} removed");
        }
    }
    Ok(())
}

/// Runs `strata token`.
pub fn token(args: TokenArgs) -> anyhow::Result<()> {
    let file = open(&args.file)?;
    let now = strata_proto::now_ms();
    match args.command {
        TokenCommand::Create {
            name,
            role,
            regions,
            expires,
        } => {
            let (role, scope) = parse_role_scope(&role, &regions)?;
            let expires_ms = strata_web::auth::principals::expires_at(&expires, now)
                .map_err(|e| anyhow::anyhow!("--{e}"))?;
            let (id, text) =
                file.change(|p| p.create_token(&name, role, scope.clone(), expires_ms, now))?;
            println!(
                "token {id} ({name}: {role}, regions {scope}, expires {})",
                time(expires_ms)
            );
            println!("{text}");
            eprintln!("the token is shown this once: keep it now");
        }
        TokenCommand::List => {
            let mut rows = vec![vec![
                "ID".into(),
                "NAME".into(),
                "ROLE".into(),
                "REGIONS".into(),
                "EXPIRES".into(),
                "REVOKED".into(),
            ]];
            for t in file.current().token_views() {
                rows.push(vec![
                    t.id,
                    t.name,
                    t.role.to_string(),
                    t.regions,
                    time(t.expires_ms),
                    time(t.revoked_ms),
                ]);
            }
            print!("{}", client::table(&rows));
        }
        TokenCommand::Revoke { token } => {
            let id = file.change(|p| p.revoke_token(&token, now))?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}
