//! HTTPS for both consoles' addresses (the super-manager's `http`, a member's
//! `console_listen`): a password, a session cookie or a token must not cross a network in
//! clear. The certificate is the operator's (PEM files: one a browser trusts for the name
//! it is reached by; `strata ca issue` makes mesh identities, which browsers do not know).
//! Plain HTTP is served on a loopback address, or anywhere with `[https] insecure = true`,
//! said at start; any other address without a certificate is refused by the configuration.
//!
//! TLS handshakes run in their own tasks, each bounded in time, so that a slow client holds
//! no other back; the finished connections are handed to axum's server through a bounded
//! queue ([`TlsListener`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt;
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take over its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `[https]` of a manager's configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpsConfig {
    /// The certificate chain (PEM), leaf first.
    pub cert_file: Option<PathBuf>,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// Serve plain HTTP on an address that is not loopback (default false).
    pub insecure: bool,
}

impl HttpsConfig {
    /// What is wrong with the section for a listener on `addr` (named `field`).
    pub fn problems(&self, field: &str, addr: &str) -> Vec<String> {
        let mut problems = Vec::new();
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => problems.push("https.key_file: needed with https.cert_file".into()),
            (None, Some(_)) => problems.push("https.cert_file: needed with https.key_file".into()),
            (None, None) => {
                let loopback = addr
                    .parse::<SocketAddr>()
                    .is_ok_and(|a| a.ip().is_loopback());
                if !loopback && !self.insecure {
                    problems.push(format!(
                        "{field}: '{addr}' is not a loopback address: give [https] cert_file and key_file, or set [https] insecure = true to serve it in clear"
                    ));
                }
            }
            (Some(_), Some(_)) => {}
        }
        problems
    }

    /// The TLS acceptor of the certificate and key, or none (plain HTTP).
    pub fn acceptor(&self) -> Result<Option<TlsAcceptor>, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let (Some(cert), Some(key)) = (&self.cert_file, &self.key_file) else {
            return Ok(None);
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect())
            .map_err(|e| format!("https.cert_file {}: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!(
                "https.cert_file {}: no certificate in it",
                cert.display()
            ));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("https.key_file {}: {e}", key.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("https: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("https: the certificate and key do not go together: {e}"))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Some(TlsAcceptor::from(Arc::new(config))))
    }
}

/// A listener whose connections have finished their TLS handshake.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Accepts on `listener`, each handshake in a task of its own.
    pub fn new(listener: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let accepting = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::debug!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // answers go out as soon as written (no wait on Nagle's algorithm)
                let _ = tcp.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self {
            ready,
            local,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // the accepting task ended: nothing more will come
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Serves `router` on `listener` (over TLS with `tls`), each request knowing its peer's
/// address, until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let make = router.into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        Some(acceptor) => {
            let listener = TlsListener::new(listener, acceptor)?.tap_io(|_| ());
            axum::serve(listener, make)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            // answers go out as soon as written (no wait on Nagle's algorithm)
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, make)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback_or_when_said() {
        let none = HttpsConfig::default();
        assert!(none.problems("http", "127.0.0.1:9740").is_empty());
        assert!(none.problems("http", "[::1]:9740").is_empty());
        let p = none.problems("http", "0.0.0.0:9740").join("\n");
        assert!(
            p.contains("http: '0.0.0.0:9740' is not a loopback address"),
            "{p}"
        );
        let insecure = HttpsConfig {
            insecure: true,
            ..HttpsConfig::default()
        };
        assert!(insecure.problems("http", "0.0.0.0:9740").is_empty());
        let half = HttpsConfig {
            cert_file: Some("c.pem".into()),
            ..HttpsConfig::default()
        };
        assert!(
            half.problems("http", "0.0.0.0:1")
                .join("")
                .contains("https.key_file")
        );
        let missing = HttpsConfig {
            cert_file: Some("/nonexistent/c.pem".into()),
            key_file: Some("/nonexistent/k.pem".into()),
            insecure: false,
        };
        let err = missing.acceptor().err().unwrap_or_default();
        assert!(err.contains("https.cert_file /nonexistent/c.pem"), "{err}");
    }
}
