//! `strata healthz`: the health check of a container image, and of anything else that has
//! no HTTP client: GET a component's `/healthz`, exit 0 when it answers 200.
//!
//! A container's check asks its own component over loopback, where the super-manager may
//! serve HTTPS with a certificate for its public name only: `--loopback-any-cert` accepts
//! any certificate then, and only for a loopback address, so it can never skip the check of
//! a remote server.

use std::time::Duration;

use anyhow::Context;
use clap::Args;

/// Options of `strata healthz`.
#[derive(Args, Debug)]
pub struct HealthzArgs {
    /// The component's health URL, e.g. http://127.0.0.1:9600/healthz (default
    /// `STRATA_HEALTHZ_URL`).
    #[arg(env = "STRATA_HEALTHZ_URL")]
    pub url: String,
    /// How long the answer may take.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Accept any certificate of an HTTPS server on a loopback address written as one
    /// (127.0.0.1, [::1]): the component's own console, whose certificate names its public
    /// address.
    #[arg(long, env = "STRATA_HEALTHZ_LOOPBACK_ANY_CERT")]
    pub loopback_any_cert: bool,
}

/// Whether `url`'s host is a loopback address, written as one (a name could resolve
/// anywhere).
fn on_loopback(url: &reqwest::Url) -> bool {
    url.host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// GETs the URL; an error unless it answers 200.
pub async fn run(args: HealthzArgs) -> anyhow::Result<()> {
    let url: reqwest::Url = args
        .url
        .parse()
        .with_context(|| format!("healthz: '{}' is not a URL", args.url))?;
    anyhow::ensure!(
        !args.loopback_any_cert || on_loopback(&url),
        "--loopback-any-cert: {url} is not a loopback address"
    );
    // the component itself answers: no redirect followed elsewhere, no proxy in between
    let client = reqwest::Client::builder()
        .timeout(args.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .danger_accept_invalid_certs(args.loopback_any_cert)
        .build()
        .context("make the health check's HTTP client")?;
    let answer = client
        .get(url.clone())
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = answer.status();
    anyhow::ensure!(status.is_success(), "GET {url}: {status}");
    println!("{url}: {status}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_may_skip_the_certificate() {
        for (url, loopback) in [
            ("https://127.0.0.1:9740/healthz", true),
            ("https://[::1]:9740/healthz", true),
            ("https://localhost:9740/healthz", false),
            ("https://10.0.0.1:9740/healthz", false),
            ("https://strata.example.com/healthz", false),
        ] {
            assert_eq!(on_loopback(&url.parse().unwrap()), loopback, "{url}");
        }
    }
}
