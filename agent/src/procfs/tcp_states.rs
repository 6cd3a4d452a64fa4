//! TCP connections by state, counted from a netlink sock_diag dump.
//!
//! Reading /proc/net/tcp costs the kernel milliseconds (it formats every socket as text and
//! finds its place again at each page); a sock_diag dump sends fixed-size binary records,
//! about ten times cheaper here. It still walks every socket, so it is its own item
//! (`tcp`) with a longer default interval than the rest.

use std::os::fd::OwnedFd;

use rustix::net::netlink::{SOCK_DIAG, SocketAddrNetlink};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

use super::Emit;

/// TCP states by their kernel number (include/net/tcp_states.h), as labels.
const STATES: [&str; 13] = [
    "unknown",
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
    "new_syn_recv",
];

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;

/// A dump request for every TCP socket of `family`: nlmsghdr then inet_diag_req_v2.
pub fn request(family: u8, seq: u32) -> [u8; 72] {
    let mut m = [0u8; 72];
    m[0..4].copy_from_slice(&72u32.to_ne_bytes());
    m[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    // port id 0: the kernel
    m[16] = family;
    m[17] = IPPROTO_TCP;
    // idiag_ext 0, pad 0, then the states wanted: all of them
    m[20..24].copy_from_slice(&u32::MAX.to_ne_bytes());
    // the socket id (48 bytes) stays zero: no filter
    m
}

/// What one datagram of the answer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Part {
    /// More records may follow.
    More,
    /// The dump is complete.
    Done,
    /// The kernel refused the request (errno).
    Error(i32),
}

/// Counts the states of the inet_diag_msg records in `datagram` into `counts`.
pub fn count(datagram: &[u8], counts: &mut [u64; STATES.len()]) -> Part {
    let mut rest = datagram;
    while rest.len() >= 16 {
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        if len < 16 || len > rest.len() {
            return Part::Error(0);
        }
        match kind {
            NLMSG_DONE => return Part::Done,
            NLMSG_ERROR => {
                let errno = rest
                    .get(16..20)
                    .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                // the kernel sends a negative errno; a hostile or corrupt one may be i32::MIN
                return Part::Error(errno.saturating_neg());
            }
            SOCK_DIAG_BY_FAMILY => {
                // inet_diag_msg: family, state, ...
                if let Some(&state) = rest.get(17) {
                    counts[usize::from(state).min(STATES.len() - 1)] += 1;
                }
            }
            _ => {}
        }
        // records are aligned to 4 bytes
        let next = (len + 3) & !3;
        rest = rest.get(next..).unwrap_or(&[]);
    }
    Part::More
}

/// A sock_diag socket kept open between cycles.
#[derive(Debug, Default)]
pub struct TcpStates {
    socket: Option<OwnedFd>,
    seq: u32,
    buf: Vec<u8>,
}

impl TcpStates {
    /// Emits `host_tcp_connection_states{state}` for every state (IPv4 and IPv6 together); emits
    /// nothing when sock_diag is unavailable.
    pub fn collect(&mut self, out: &mut impl Emit) {
        let mut counts = [0u64; STATES.len()];
        for family in [AF_INET, AF_INET6] {
            if self.dump(family, &mut counts).is_err() {
                // opened again next time
                self.socket = None;
                return;
            }
        }
        // "unknown" and "new_syn_recv" (requests, not sockets) are not states to report
        for (i, state) in STATES.iter().enumerate().take(12).skip(1) {
            out.emit(
                "host_tcp_connection_states",
                &[("state", state)],
                counts[i] as f64,
            );
        }
    }

    fn dump(&mut self, family: u8, counts: &mut [u64; STATES.len()]) -> rustix::io::Result<()> {
        if self.socket.is_none() {
            let fd = rustix::net::socket(AddressFamily::NETLINK, SocketType::RAW, Some(SOCK_DIAG))?;
            self.socket = Some(fd);
        }
        let fd = self.socket.as_ref().expect("opened above");
        self.seq = self.seq.wrapping_add(1);
        rustix::net::sendto(
            fd,
            &request(family, self.seq),
            SendFlags::empty(),
            &SocketAddrNetlink::new(0, 0),
        )?;
        self.buf.resize(64 * 1024, 0);
        loop {
            let (got, _) = rustix::net::recv(fd, &mut self.buf[..], RecvFlags::empty())?;
            match count(&self.buf[..got], counts) {
                Part::More if got > 0 => {}
                Part::More | Part::Done => return Ok(()),
                Part::Error(errno) => return Err(rustix::io::Errno::from_raw_os_error(errno)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Seen(Vec<(String, f64)>);

    impl Emit for Seen {
        fn emit(&mut self, _: &'static str, labels: &[(&'static str, &str)], value: f64) {
            self.0.push((labels[0].1.to_string(), value));
        }
    }

    #[test]
    fn records_are_counted_and_the_end_is_seen() {
        let mut d = Vec::new();
        for state in [1u8, 1, 10] {
            let mut rec = vec![0u8; 88];
            rec[0..4].copy_from_slice(&88u32.to_ne_bytes());
            rec[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
            rec[16] = AF_INET;
            rec[17] = state;
            d.extend(rec);
        }
        let mut counts = [0; STATES.len()];
        assert_eq!(count(&d, &mut counts), Part::More);
        assert_eq!((counts[1], counts[10]), (2, 1));
        let mut done = vec![0u8; 20];
        done[0..4].copy_from_slice(&20u32.to_ne_bytes());
        done[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
        assert_eq!(count(&done, &mut counts), Part::Done);
        assert_eq!(count(&[1, 2, 3], &mut counts), Part::More);
        let mut bad = done.clone();
        bad[0..4].copy_from_slice(&500u32.to_ne_bytes());
        assert_eq!(count(&bad, &mut counts), Part::Error(0));
        // an error record with errno i32::MIN (found by the fuzz target) is no overflow
        let mut error = done.clone();
        error[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        error[16..20].copy_from_slice(&i32::MIN.to_ne_bytes());
        assert_eq!(count(&error, &mut counts), Part::Error(i32::MAX));
        error[16..20].copy_from_slice(&(-13i32).to_ne_bytes());
        assert_eq!(count(&error, &mut counts), Part::Error(13));
    }

    #[test]
    fn this_host_counts_our_own_listener_and_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let _server = listener.accept().unwrap();
        let mut t = TcpStates::default();
        let mut seen = Seen::default();
        t.collect(&mut seen);
        let get = |s: &str| seen.0.iter().find(|(k, _)| k == s).map(|(_, v)| *v);
        assert!(get("listen").unwrap() >= 1.0, "{:?}", seen.0);
        assert!(get("established").unwrap() >= 2.0, "{:?}", seen.0);
        assert_eq!(seen.0.len(), 11);
    }
}
