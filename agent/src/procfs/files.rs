//! Reading the /proc and /sys files the collector keeps open: again from their start into one
//! reused buffer each cycle, by positional reads.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// /proc files the kernel writes in one piece (a single `show`, or a sysctl): a read into a
/// buffer larger than the text returns all of it, so a short read is their end. Files of
/// many records (net/dev, diskstats, vmstat...) come a page at a time and are read to 0.
pub(super) const ONE_PIECE: [&str; 17] = [
    "stat",
    "loadavg",
    "meminfo",
    "net/snmp",
    "net/netstat",
    "net/sockstat",
    "net/sockstat6",
    "net/snmp6",
    "softirqs",
    "pressure/cpu",
    "pressure/memory",
    "pressure/io",
    "sys/net/netfilter/nf_conntrack_count",
    "sys/net/netfilter/nf_conntrack_max",
    "sys/fs/file-nr",
    "sys/kernel/random/entropy_avail",
    "uptime",
];

/// Reads `file` again from its start into `buf` by positional reads (no seek, and none of
/// the size probing `read_to_string` does); false on error or text that is not UTF-8. A
/// file written in one piece (see [`ONE_PIECE`]; sysfs attributes too) ends at the first
/// short read, which saves the read that would return 0.
pub(super) fn reread(file: &File, buf: &mut String, one_piece: bool) -> bool {
    let mut bytes = std::mem::take(buf).into_bytes();
    bytes.clear();
    loop {
        let len = bytes.len();
        let room = (bytes.capacity() - len).max(4096);
        bytes.resize(len + room, 0);
        match file.read_at(&mut bytes[len..], len as u64) {
            Ok(0) => {
                bytes.truncate(len);
                break;
            }
            Ok(n) => {
                bytes.truncate(len + n);
                if one_piece && n < room {
                    break;
                }
            }
            Err(_) => return false,
        }
    }
    match String::from_utf8(bytes) {
        Ok(text) => {
            *buf = text;
            true
        }
        Err(_) => false,
    }
}
