//! `strata ca`: the mesh's own certificate authority — make it, issue the managers',
//! brokers' and operators' certificates into node directories, revoke identities.
//!
//! The CA directory stays with whoever runs these commands (at the centre); only its
//! certificate, `ca.crt`, and the revocation list, `revoked.txt`, travel to the nodes.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use strata_proto::identity::ca::Ca;
use strata_proto::identity::{Identity, Role};

/// Options of `strata ca`.
#[derive(Args, Debug)]
pub struct CaArgs {
    /// The CA directory (`ca.crt`, `ca.key`, `revoked.txt`).
    #[arg(long, default_value = "/etc/strata/ca", env = "STRATA_CA_DIR")]
    pub dir: PathBuf,
    #[command(subcommand)]
    pub command: CaCommand,
}

/// Which role, region and id a certificate names.
#[derive(Args, Debug)]
pub struct Who {
    /// agent, sub-manager, region-ca, broker, super-manager or operator.
    #[arg(long)]
    pub role: String,
    /// The region (agents, sub-managers and region CAs).
    #[arg(long, default_value = "")]
    pub region: String,
    /// The id (a member's or agent's id, a broker's name, a person's login).
    #[arg(long)]
    pub id: String,
}

impl Who {
    fn identity(&self) -> anyhow::Result<Identity> {
        let role = Role::parse(&self.role).with_context(|| {
            let roles: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
            format!("--role '{}' is not one of {}", self.role, roles.join(", "))
        })?;
        anyhow::ensure!(
            !role.regional() || !self.region.is_empty(),
            "--region is needed for a {role}"
        );
        Ok(Identity::new(role, &self.region, &self.id)?)
    }
}

/// What `strata ca` does.
#[derive(Subcommand, Debug)]
pub enum CaCommand {
    /// Make a new CA in the directory (never replaces one).
    Init,
    /// Issue a certificate and key into a node directory (the `[tls] dir` of a component); a
    /// region CA's (`--role region-ca`) goes beside a member's files as `region-ca.crt/.key`.
    Issue {
        #[command(flatten)]
        who: Who,
        /// The node directory to write `ca.crt`, `node.crt`, `node.key` and `revoked.txt`
        /// into.
        #[arg(long)]
        out: PathBuf,
        /// How long the certificate is valid.
        #[arg(long, default_value = "90days", value_parser = humantime::parse_duration)]
        valid_for: Duration,
        /// The system group of the component that reads them (e.g. `strata-broker`, made by
        /// its package, or a number: 10001 for the container images): the files become
        /// root:GROUP and the keys readable by that group (0640), so that the component needs
        /// no root. Default: root's only (keys 0600).
        #[arg(long)]
        group: Option<String>,
    },
    /// Revoke an identity: every door that reads the updated `revoked.txt` refuses it.
    Revoke {
        #[command(flatten)]
        who: Who,
    },
    /// Print the CA certificate's SHA-256 fingerprint and the revoked identities.
    Show,
}

/// Runs `strata ca`.
pub fn run(args: CaArgs) -> anyhow::Result<()> {
    match &args.command {
        CaCommand::Init => {
            let ca = Ca::init(&args.dir)?;
            println!("CA made in {}", args.dir.display());
            println!("fingerprint sha256:{}", ca.fingerprint());
        }
        CaCommand::Issue {
            who,
            out,
            valid_for,
            group,
        } => {
            let ca = Ca::load(&args.dir)?;
            let identity = who.identity()?;
            let issued = ca.issue(&identity, *valid_for)?;
            if identity.role == Role::RegionCa {
                // beside the member's own node files: it signs its region's enrolments
                strata_proto::identity::enrol::write_region_ca(out, &issued)?;
            } else {
                issued.write_node(out, ca.cert_pem(), "")?;
            }
            if ca.revoked_path().exists() {
                std::fs::copy(ca.revoked_path(), out.join("revoked.txt"))
                    .with_context(|| format!("copy the revocation list into {}", out.display()))?;
            }
            if let Some(group) = group {
                hand_to_group(out, group)?;
            }
            let until = humantime::format_rfc3339_seconds(issued.not_after);
            println!(
                "issued {identity} into {} (valid until {until})",
                out.display()
            );
        }
        CaCommand::Revoke { who } => {
            let ca = Ca::load(&args.dir)?;
            let identity = who.identity()?;
            let fresh = ca.revoke(&identity)?;
            println!(
                "{identity} {}; copy {} to every node's [tls] dir (reloaded within its \
                 reload_interval)",
                if fresh {
                    "revoked"
                } else {
                    "was already revoked"
                },
                ca.revoked_path().display()
            );
        }
        CaCommand::Show => {
            let ca = Ca::load(&args.dir)?;
            println!("CA {}", args.dir.display());
            println!("fingerprint sha256:{}", ca.fingerprint());
            let revoked = std::fs::read_to_string(ca.revoked_path()).unwrap_or_default();
            for uri in strata_proto::identity::ca::parse_revoked(&revoked) {
                println!("revoked {uri}");
            }
        }
    }
    Ok(())
}

/// The id of the system group `name` (from /etc/group), or `name` itself when it is a number
/// (a container's group, which the host may not name).
fn group_id(name: &str) -> anyhow::Result<u32> {
    if let Ok(gid) = name.parse() {
        return Ok(gid);
    }
    let groups = std::fs::read_to_string("/etc/group").context("read /etc/group")?;
    groups
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let (group, _, gid) = (fields.next()?, fields.next()?, fields.next()?);
            (group == name).then(|| gid.parse().ok()).flatten()
        })
        .next()
        .with_context(|| {
            format!("--group: no group '{name}' in /etc/group (is its package installed?)")
        })
}

/// Makes the node directory `dir` and its files root:`group`, the keys 0640, so that the
/// component running as that group reads them and no one else does.
fn hand_to_group(dir: &std::path::Path, group: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let gid = group_id(group)?;
    let chown = |path: &std::path::Path| {
        std::os::unix::fs::chown(path, None, Some(gid))
            .with_context(|| format!("give {} to group {group}", path.display()))
    };
    chown(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750))
        .with_context(|| format!("set the mode of {}", dir.display()))?;
    for entry in std::fs::read_dir(dir).with_context(|| format!("list {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("list {}", dir.display()))?
            .path();
        chown(&path)?;
        let key = path.extension().is_some_and(|e| e == "key");
        let mode = if key { 0o640 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("set the mode of {}", path.display()))?;
    }
    Ok(())
}
