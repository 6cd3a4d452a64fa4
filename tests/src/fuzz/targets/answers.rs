//! Targets fed by the servers the agent probes: an HTTP server's whole answer (status line,
//! headers, a body by length, chunked or until the end) and an SMTP server's replies, read
//! by the probes' own code from an in-memory stream that hands the answer over in pieces
//! (the first byte sets their size, as a network splits them).

use std::cell::RefCell;
use std::hint::black_box;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use strata_agent::checks::http::{self, Phases};
use strata_agent::checks::smtp;
use strata_agent::checks::spec::HttpSpec;
use tokio::io::{AsyncRead, AsyncWrite, BufReader, ReadBuf};

use super::{Target, none, seeds, variants};

/// A peer whose answer is `data`, read `piece` bytes at a time; what is written to it is
/// dropped. Never pending: the probe's deadline is never waited on.
struct Replay<'a> {
    data: &'a [u8],
    piece: usize,
}

impl AsyncRead for Replay<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.data.len().min(self.piece).min(buf.remaining());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Replay<'_> {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(b.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The answer, and the size of the pieces it arrives in (from its first byte).
fn replay(data: &[u8]) -> Replay<'_> {
    match data.split_first() {
        Some((first, rest)) => Replay {
            data: rest,
            piece: 1 + usize::from(*first) * 37,
        },
        None => Replay { data, piece: 1 },
    }
}

/// Runs `f` on this thread's runtime (one per thread, made once: the probes time out with
/// tokio's clock).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    thread_local! {
        static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
    }
    RUNTIME.with(|cell| {
        let mut slot = cell.borrow_mut();
        let runtime = slot.get_or_insert_with(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a current-thread runtime")
        });
        runtime.block_on(f)
    })
}

/// An HTTP GET as the probe sends it, with a small body cap so that caps are crossed.
fn spec(method: &str) -> HttpSpec {
    HttpSpec {
        url: "http://probed.example:8080/health?full=1".into(),
        method: method.into(),
        expect_status: Vec::new(),
        body_match: None,
        headers: Default::default(),
        body: None,
        warn_after: None,
        cert_warn_days: 14,
        max_body_bytes: 1024,
        ca_file: None,
        insecure: false,
    }
}

/// An HTTP server's answer read by the probe (first byte: the pieces' size; its lowest bit
/// also picks GET or HEAD).
pub const HTTP_ANSWER: Target = Target {
    name: "http_answer",
    run: |data| {
        let spec = spec(if data.first().is_some_and(|b| b & 1 == 1) {
            "HEAD"
        } else {
            "GET"
        });
        let Ok(target) = http::parse_url(&spec.url) else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut phases = Phases::default();
        let answer = block_on(http::exchange(
            replay(data),
            &spec,
            &target,
            deadline,
            &mut phases,
        ));
        if let Ok(response) = answer {
            black_box((response.status, response.body.len(), response.body_bytes));
        }
    },
    seeds: || {
        // the first byte: pieces of 1, 1,481, 2,961, 4,441 and 5,921 bytes
        variants(&[
            (
                0,
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
            ),
            (
                40,
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            ),
            (80, "HTTP/1.0 302 Found\r\nLocation: /x\r\n\r\n"),
            (120, "HTTP/1.1 204 No Content\r\n\r\n"),
            (
                160,
                "HTTP/1.1 500 Oops\r\ncontent-length: 99999999999999999999\r\n\r\nshort",
            ),
        ])
    },
    samples: none,
};

/// An SMTP server's replies, read one after the other until one fails or the answer ends.
pub const SMTP_REPLY: Target = Target {
    name: "smtp_reply",
    run: |data| {
        block_on(async {
            let mut reader = BufReader::new(replay(data));
            let deadline = Instant::now() + Duration::from_secs(5);
            // a transaction reads at most a handful of replies
            for _ in 0..8 {
                match smtp::reply(&mut reader, deadline).await {
                    Ok(r) => {
                        black_box(r);
                    }
                    Err(_) => break,
                }
            }
        })
    },
    seeds: || {
        seeds(&[
            "\x05220 mx.example ESMTP ready\r\n250-mx.example\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n\
             250-STARTTLS\r\n250 SMTPUTF8\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n221 2.0.0 Bye\r\n",
            "\x01421-4.3.2 busy\n421 4.3.2 try later\n",
            "\x0222x garbage\r\n",
        ])
    },
    samples: none,
};
