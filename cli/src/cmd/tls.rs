//! How the CLI's gRPC commands reach the mesh: mutual TLS as an operator, with a
//! certificate from `strata ca issue --role operator` in a node directory.

use clap::Args;
use strata_proto::identity::{Expect, Role, TlsConfig, Transport};
use tonic::transport::Channel;

/// The CLI's own identity, for the commands that speak gRPC.
#[derive(Args, Debug, Clone)]
pub struct TlsArgs {
    /// The operator's node directory (`ca.crt`, `node.crt`, `node.key`).
    #[arg(
        long,
        default_value = "/etc/strata/tls",
        env = "STRATA_TLS_DIR",
        global = true
    )]
    pub tls_dir: std::path::PathBuf,
    /// Speak plaintext, to a mesh run with `[tls] insecure = true`.
    #[arg(long, global = true)]
    pub insecure: bool,
}

impl TlsArgs {
    /// The transport these options ask for, as `role`.
    pub fn transport(&self, role: Role) -> anyhow::Result<Transport> {
        let config = TlsConfig {
            dir: self.tls_dir.clone(),
            insecure: self.insecure,
            ..TlsConfig::default()
        };
        Ok(Transport::load(&config, role, None, None)?)
    }

    /// A channel to `addr` as an operator, to a server of one of `roles`.
    pub fn channel(
        &self,
        endpoint: tonic::transport::Endpoint,
        roles: &[Role],
    ) -> anyhow::Result<Channel> {
        Ok(self
            .transport(Role::Operator)?
            .channel(endpoint, Expect::OneOf(roles.to_vec())))
    }
}
