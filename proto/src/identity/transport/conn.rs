//! The bytes of a door's connections: an accepted connection (plain or TLS) that carries
//! its caller to the gRPC handlers, and the connector every channel dials with.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::Uri;
use tonic::transport::server::Connected;

use super::{Caller, Expect, Transport};

/// The connecting side: TCP, then TLS as this transport's identity to a server that must
/// prove what the channel expects — or, for an agent that has no identity yet, with a fixed
/// configuration (no client certificate, the CA pinned by its fingerprint).
#[derive(Clone)]
pub(crate) enum Connector {
    /// As the transport's identity.
    As {
        transport: Transport,
        expect: Expect,
    },
    /// With this configuration.
    Fixed(std::sync::Arc<rustls::ClientConfig>),
}

type ConnectFuture = Pin<Box<dyn Future<Output = Result<TokioIo<Dialled>, io::Error>> + Send>>;

/// A connection this side dialled: it ends when the server's certificate expires, so that
/// the next call dials again and meets the server's renewed certificate (or none).
pub(crate) struct Dialled {
    stream: tokio_rustls::client::TlsStream<TcpStream>,
    expiry: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// The error that ends a connection once `expiry` (the certificate of `whose` it was opened
/// with) has passed; none before, or without one.
fn expired(
    expiry: &mut Option<Pin<Box<tokio::time::Sleep>>>,
    cx: &mut Context<'_>,
    whose: &str,
) -> Option<io::Error> {
    let expiry = expiry.as_mut()?;
    expiry.as_mut().poll(cx).is_ready().then(|| {
        io::Error::new(
            io::ErrorKind::ConnectionAborted,
            format!("the {whose} certificate expired"),
        )
    })
}

impl AsyncRead for Dialled {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(error) = expired(&mut self.expiry, cx, "server's") {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Dialled {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<Dialled>;
    type Error = io::Error;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .unwrap_or_default()
                .trim_matches(['[', ']'])
                .to_string();
            let port = uri.port_u16().unwrap_or(80);
            let config = match &this {
                Connector::As { transport, expect } => {
                    transport.client_config(expect).map_err(io::Error::other)?
                }
                Connector::Fixed(config) => config.clone(),
            };
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            let _ = tcp.set_nodelay(true);
            // names are not checked (identities are); any valid name does for rustls
            let name = ServerName::try_from(host.clone())
                .unwrap_or_else(|_| ServerName::try_from("strata").expect("static name"));
            let stream = TlsConnector::from(config).connect(name, tcp).await?;
            let expiry = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(crate::identity::verify::not_after_of)
                .map(|t| {
                    let left = t
                        .duration_since(std::time::SystemTime::now())
                        .unwrap_or_default();
                    Box::pin(tokio::time::sleep(left))
                });
            Ok(TokioIo::new(Dialled { stream, expiry }))
        })
    }
}

/// An accepted connection, plain or TLS, with who is at the other end.
pub struct Conn {
    pub(super) io: Io,
    pub(super) caller: Caller,
    /// When the peer's certificate expires: the connection ends then, so that the peer
    /// comes back with its renewed certificate (or not at all).
    pub(super) expiry: Option<Pin<Box<tokio::time::Sleep>>>,
}

pub(super) enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Connected for Conn {
    type ConnectInfo = Caller;

    fn connect_info(&self) -> Caller {
        self.caller.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(error) = expired(&mut self.expiry, cx, "peer's") {
            return Poll::Ready(Err(error));
        }
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }
}
