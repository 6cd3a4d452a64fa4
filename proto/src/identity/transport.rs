//! A component's side of mutual TLS: its certificate, key and trust, read from its node
//! directory and reloaded when the files change (renewals and revocations take effect with
//! no restart); the accepting side of its doors, which tags every connection with its
//! [`Caller`]; and one connector for every channel it opens.
//!
//! Connections are long-lived (a poll rides an open HTTP/2 connection), so the handshake is
//! paid once per connection, not per call; what can change during a connection's life
//! (expiry, revocation) is checked again on every call by [`super::authz`].

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, ServerConfig};
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};
use tracing::{debug, info, warn};

mod conn;
mod report;

pub use conn::Conn;
pub(crate) use conn::Connector;
use conn::Io;

use super::ca::{CA_CERT, NODE_CERT, NODE_KEY, REVOKED};
use super::verify::{AskClients, ExpectServer, Reason, Refusal, Trust, Verified};
use super::{Identity, IdentityError, Role};

/// The `[tls]` section of every role's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// The node directory: `ca.crt`, `node.crt`, `node.key`, optionally `revoked.txt`
    /// (default `/etc/strata/tls`).
    pub dir: PathBuf,
    /// Plaintext with no identities (default false): for trials only; logged as a warning at
    /// start and shown as `*_insecure 1` in `/metrics`.
    pub insecure: bool,
    /// How often the files are checked for a renewal or a new revocation list (default 5 s).
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("/etc/strata/tls"),
            insecure: false,
            reload_interval: Duration::from_secs(5),
        }
    }
}

impl TlsConfig {
    /// Problems of this section, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.insecure && self.dir.as_os_str().is_empty() {
            problems.push("tls.dir: must name the node directory (or set tls.insecure)".into());
        }
        if self.reload_interval < Duration::from_millis(100)
            || self.reload_interval > Duration::from_secs(3600)
        {
            problems.push(format!(
                "tls.reload_interval: {:?} is outside 100ms..1h",
                self.reload_interval
            ));
        }
        problems
    }
}

/// Whom a channel means to reach; a server proving another identity is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Any identity of this role.
    Role(Role),
    /// Any identity of this role in this region.
    InRegion(Role, String),
    /// Any identity of one of these roles.
    OneOf(Vec<Role>),
    /// An agent of this region that speaks for every one of these agent ids (its own id, or
    /// a simulator's prefix of them): an endpoint polled for these agents.
    Agents(String, Arc<BTreeSet<String>>),
}

impl Expect {
    /// Whether `identity` is what this expects.
    pub fn accepts(&self, identity: &Identity) -> bool {
        match self {
            Expect::Role(role) => identity.role == *role,
            Expect::InRegion(role, region) => identity.is(*role, region),
            Expect::OneOf(roles) => roles.contains(&identity.role),
            Expect::Agents(region, agents) => {
                identity.is(Role::Agent, region) && agents.iter().all(|a| identity.serves_agent(a))
            }
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Role(role) => write!(f, "a {role}"),
            Expect::InRegion(role, region) => write!(f, "a {role} of region {region}"),
            Expect::OneOf(roles) => {
                let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
                write!(f, "one of {}", names.join(", "))
            }
            Expect::Agents(region, agents) => {
                write!(f, "an agent of region {region} speaking for ")?;
                let mut ids = agents.iter();
                match (ids.next(), agents.len()) {
                    (None, _) => write!(f, "no agent"),
                    (Some(id), 1) => write!(f, "{id}"),
                    (Some(id), n) => write!(f, "{id} and {} more", n - 1),
                }
            }
        }
    }
}

/// Who is at the other end of an accepted connection, as its handshake showed.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The peer's address.
    pub addr: Option<SocketAddr>,
    /// What its certificate proved.
    pub auth: Auth,
}

/// What an accepted connection's certificate proved.
#[derive(Debug, Clone)]
pub enum Auth {
    /// The door runs without TLS (`insecure = true`): nobody is known, everything is allowed.
    Insecure,
    /// TLS without a client certificate.
    Anonymous,
    /// A certificate that proves nothing, and why.
    Refused(Refusal),
    /// A certificate that proved an identity.
    Verified(Verified),
}

impl Caller {
    /// The identity the caller proved, if any.
    pub fn identity(&self) -> Option<&Identity> {
        match &self.auth {
            Auth::Verified(v) => Some(&v.identity),
            _ => None,
        }
    }
}

/// How many handshakes may be in progress at once on one listener.
const MAX_HANDSHAKES: usize = 256;
/// How long a handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A component's transport: mutual TLS with its identity, or (explicitly) plaintext.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    tls: Option<Tls>,
    refusals: [AtomicU64; Reason::ALL.len()],
    handshake_failures: AtomicU64,
}

struct Tls {
    config: TlsConfig,
    expected: Expected,
    loaded: RwLock<Arc<Loaded>>,
    /// Revocations learnt from brokers that the node directory could not keep (it may be
    /// read-only to this process): trusted from memory, one URI per line, relearnt after a
    /// restart.
    learnt: std::sync::Mutex<String>,
}

/// What the process's certificate must name.
#[derive(Debug, Clone)]
struct Expected {
    role: Role,
    region: Option<String>,
    id: Option<String>,
}

struct Loaded {
    me: Verified,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    trust: Arc<Trust>,
    server: Arc<ServerConfig>,
    stamp: Vec<Option<(SystemTime, u64)>>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.identity() {
            Some(me) => write!(f, "Transport(mtls as {me})"),
            None => f.write_str("Transport(insecure)"),
        }
    }
}

impl Transport {
    /// Plaintext, no identities: only when a config says `insecure = true`.
    pub fn insecure() -> Self {
        Self::with(None)
    }

    fn with(tls: Option<Tls>) -> Self {
        Transport {
            inner: Arc::new(Inner {
                tls,
                refusals: Default::default(),
                handshake_failures: AtomicU64::new(0),
            }),
        }
    }

    /// The transport `config` asks for, for a process of `role` (and `region` and `id` when
    /// the config names them: the certificate must name the same).
    pub fn load(
        config: &TlsConfig,
        role: Role,
        region: Option<&str>,
        id: Option<&str>,
    ) -> Result<Self, IdentityError> {
        if config.insecure {
            warn!(
                role = role.name(),
                "tls.insecure = true: this component serves and calls in plaintext and \
                 authorizes nobody; never run it so beyond a trial"
            );
            return Ok(Self::insecure());
        }
        let expected = Expected {
            role,
            region: region.map(str::to_string),
            id: id.map(str::to_string),
        };
        let loaded = load(&config.dir, &expected, "")?;
        info!(identity = %loaded.me.identity, dir = %config.dir.display(), "mutual TLS on");
        Ok(Self::with(Some(Tls {
            config: config.clone(),
            expected,
            loaded: RwLock::new(Arc::new(loaded)),
            learnt: std::sync::Mutex::new(String::new()),
        })))
    }

    /// When this process's certificate became valid and when it expires (none when
    /// insecure).
    pub fn validity(&self) -> Option<(SystemTime, SystemTime)> {
        self.loaded().map(|l| (l.me.not_before, l.me.not_after))
    }

    /// The node directory (none when insecure).
    pub fn node_dir(&self) -> Option<PathBuf> {
        self.inner.tls.as_ref().map(|t| t.config.dir.clone())
    }

    /// Whether this transport runs without TLS.
    pub fn is_insecure(&self) -> bool {
        self.inner.tls.is_none()
    }

    /// This process's identity (none when insecure).
    pub fn identity(&self) -> Option<Identity> {
        self.loaded().map(|l| l.me.identity.clone())
    }

    fn loaded(&self) -> Option<Arc<Loaded>> {
        let tls = self.inner.tls.as_ref()?;
        Some(tls.loaded.read().expect("tls lock poisoned").clone())
    }

    /// The signature of `message` with this node's key and the certificate chain that
    /// proves it (DER, leaf first), for [`super::signed::verify`]; an error when insecure.
    pub fn sign(&self, message: &[u8]) -> Result<(Vec<Vec<u8>>, Vec<u8>), IdentityError> {
        let loaded = self.loaded().ok_or_else(|| {
            IdentityError::cert("sign", "tls.insecure: there is no key to sign with")
        })?;
        let signature = super::signed::sign(&loaded.key, message)?;
        Ok((loaded.chain.iter().map(|c| c.to_vec()).collect(), signature))
    }

    /// The current trust (CA and revocations); none when insecure.
    pub fn trust(&self) -> Option<Arc<Trust>> {
        self.loaded().map(|l| l.trust.clone())
    }

    /// Reloads the node directory every `reload_interval` when its files changed, until
    /// `shutdown`; a directory that no longer loads keeps the last good state (and warns).
    pub fn spawn_reload(&self, shutdown: CancellationToken) {
        let Some(tls) = &self.inner.tls else { return };
        let every = tls.config.reload_interval;
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => this.reload_if_changed(),
                }
            }
        });
    }

    /// Reloads the node directory if any of its files changed.
    pub fn reload_if_changed(&self) {
        self.reload(false);
    }

    /// Reloads the node directory if any of its files changed, or at once when `force`.
    fn reload(&self, force: bool) {
        let Some(tls) = &self.inner.tls else { return };
        let current = self.loaded().expect("tls state");
        if !force && stamp(&tls.config.dir) == current.stamp {
            return;
        }
        let learnt = tls.learnt.lock().expect("learnt lock poisoned").clone();
        match load(&tls.config.dir, &tls.expected, &learnt) {
            Ok(loaded) => {
                info!(
                    identity = %loaded.me.identity,
                    revoked = loaded.trust.revoked_count(),
                    "tls files reloaded"
                );
                *tls.loaded.write().expect("tls lock poisoned") = Arc::new(loaded);
            }
            Err(error) => {
                warn!(%error, "tls files changed but do not load; keeping the last good ones")
            }
        }
    }

    /// The connections accepted on `listener`, each through its TLS handshake (in tasks of
    /// their own, at most [`MAX_HANDSHAKES`] at once) and tagged with its caller, until
    /// `shutdown`.
    pub fn incoming(
        &self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> tokio_stream::wrappers::ReceiverStream<io::Result<Conn>> {
        let (tx, rx) = mpsc::channel(64);
        let this = self.clone();
        tokio::spawn(async move {
            let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
            loop {
                let accepted = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let (tcp, addr) = match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        // out of descriptors and the like: wait a little, go on
                        warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let Ok(permit) = handshakes.clone().acquire_owned().await else {
                    return;
                };
                let (this, tx) = (this.clone(), tx.clone());
                tokio::spawn(async move {
                    let conn = this.accept(tcp, addr).await;
                    drop(permit);
                    if let Some(conn) = conn {
                        let _ = tx.send(Ok(conn)).await;
                    }
                });
            }
        });
        tokio_stream::wrappers::ReceiverStream::new(rx)
    }

    async fn accept(&self, tcp: TcpStream, addr: SocketAddr) -> Option<Conn> {
        let Some(loaded) = self.loaded() else {
            return Some(Conn {
                io: Io::Plain(tcp),
                caller: Caller {
                    addr: Some(addr),
                    auth: Auth::Insecure,
                },
                expiry: None,
            });
        };
        let acceptor = TlsAcceptor::from(loaded.server.clone());
        let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                self.inner
                    .handshake_failures
                    .fetch_add(1, Ordering::Relaxed);
                debug!(%addr, %error, "TLS handshake failed");
                return None;
            }
            Err(_) => {
                self.inner
                    .handshake_failures
                    .fetch_add(1, Ordering::Relaxed);
                debug!(%addr, "TLS handshake timed out");
                return None;
            }
        };
        let auth = match stream.get_ref().1.peer_certificates() {
            None | Some([]) => Auth::Anonymous,
            Some(chain) => match loaded.trust.verify(chain, SystemTime::now()) {
                Ok(verified) => Auth::Verified(verified),
                Err(refusal) => Auth::Refused(refusal),
            },
        };
        let expiry = match &auth {
            Auth::Verified(v) => {
                let left = v
                    .not_after
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                Some(Box::pin(tokio::time::sleep(left)))
            }
            _ => None,
        };
        Some(Conn {
            io: Io::Tls(Box::new(stream)),
            caller: Caller {
                addr: Some(addr),
                auth,
            },
            expiry,
        })
    }

    /// A channel over `endpoint` (an `http://host:port` URI with its timeouts), connected on
    /// first use: mutual TLS to a server that must prove `expect`, or plaintext when
    /// insecure.
    pub fn channel(&self, endpoint: Endpoint, expect: Expect) -> Channel {
        if self.is_insecure() {
            return endpoint.connect_lazy();
        }
        endpoint.connect_with_connector_lazy(Connector::As {
            transport: self.clone(),
            expect,
        })
    }

    /// A channel to `addr` (`host:port`) with default timeouts; see [`Transport::channel`].
    pub fn channel_to(&self, addr: &str, expect: Expect) -> Result<Channel, IdentityError> {
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| IdentityError::cert(format!("address '{addr}'"), e))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true);
        Ok(self.channel(endpoint, expect))
    }

    fn client_config(&self, expect: &Expect) -> Result<Arc<ClientConfig>, rustls::Error> {
        let loaded = self
            .loaded()
            .ok_or_else(|| rustls::Error::General("insecure transport".into()))?;
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ExpectServer {
                trust: loaded.trust.clone(),
                expect: expect.clone(),
            }))
            .with_client_auth_cert(loaded.chain.clone(), loaded.key.clone_key())?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        config.enable_sni = false;
        Ok(Arc::new(config))
    }
}

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The stamps (modification time, length) of a node directory's files.
fn stamp(dir: &Path) -> Vec<Option<(SystemTime, u64)>> {
    [CA_CERT, NODE_CERT, NODE_KEY, REVOKED]
        .iter()
        .map(|f| {
            let meta = std::fs::metadata(dir.join(f)).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        })
        .collect()
}

/// Loads the node directory `dir`, the revocations `learnt` from brokers added to its own.
fn load(dir: &Path, expected: &Expected, learnt: &str) -> Result<Loaded, IdentityError> {
    let stamp = stamp(dir);
    let read = |name: &str| super::ca::read(&dir.join(name));
    let ca = read(CA_CERT)?;
    let mut revoked = std::fs::read_to_string(dir.join(REVOKED)).unwrap_or_default();
    revoked.push('\n');
    revoked.push_str(learnt);
    let trust = Arc::new(Trust::new(&ca, &revoked)?);
    let cert_path = dir.join(NODE_CERT);
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(read(NODE_CERT)?.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| IdentityError::cert(format!("read {}", cert_path.display()), e))?;
    let key_path = dir.join(NODE_KEY);
    let key = PrivateKeyDer::from_pem_slice(read(NODE_KEY)?.as_bytes())
        .map_err(|e| IdentityError::cert(format!("read {}", key_path.display()), e))?;
    let me = trust
        .verify(&chain, SystemTime::now())
        .map_err(|r| IdentityError::cert(format!("{}", cert_path.display()), r.message))?;
    let id = &me.identity;
    let wrong = id.role != expected.role
        || expected.region.as_ref().is_some_and(|r| *r != id.region)
        || expected.id.as_ref().is_some_and(|i| *i != id.id);
    if wrong {
        return Err(IdentityError::WrongIdentity {
            dir: dir.to_path_buf(),
            found: id.to_string(),
            expected: format!(
                "{} {}/{}",
                expected.role,
                expected.region.as_deref().unwrap_or("*"),
                expected.id.as_deref().unwrap_or("*")
            ),
        });
    }
    // the CA's certificate goes last in what a server presents: an enrolling agent, which
    // knows only its fingerprint, finds it there
    let mut presented = chain.clone();
    presented.extend(CertificateDer::pem_slice_iter(ca.as_bytes()).flatten());
    let mut server = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| IdentityError::cert("TLS server config", e))?
        .with_client_cert_verifier(Arc::new(AskClients))
        .with_single_cert(presented, key.clone_key())
        .map_err(|e| IdentityError::cert(format!("use {}", key_path.display()), e))?;
    server.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Loaded {
        me,
        chain,
        key,
        trust,
        server: Arc::new(server),
        stamp,
    })
}
