//! What the host is and runs: its name, uptime and clock, kernel (uname) and distribution
//! (/etc/os-release), the last two read once.

use super::parse::first_number;
use super::{Emit, ProcFs};

/// The host's name, or "localhost" when it has none.
pub fn hostname() -> String {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_string_lossy();
    if name.is_empty() {
        "localhost".into()
    } else {
        name.into_owned()
    }
}

/// What the host runs, read once: uname and /etc/os-release.
#[derive(Debug, Default)]
pub(super) struct HostInfo {
    sysname: String,
    release: String,
    version: String,
    machine: String,
    nodename: String,
    os_id: String,
    os_version: String,
    os_name: String,
}

impl HostInfo {
    fn read() -> Self {
        let u = rustix::system::uname();
        let text = |s: &std::ffi::CStr| s.to_string_lossy().into_owned();
        let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let field = |key: &str| {
            release
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(|v| v.trim_matches('"').to_string())
                .unwrap_or_default()
        };
        Self {
            sysname: text(u.sysname()),
            release: text(u.release()),
            version: text(u.version()),
            machine: text(u.machine()),
            nodename: text(u.nodename()),
            os_id: field("ID"),
            os_version: field("VERSION_ID"),
            os_name: field("PRETTY_NAME"),
        }
    }
}

impl ProcFs {
    /// Uptime, the clock, and what the host runs (kernel, distribution) as info series.
    pub(super) fn collect_system(&mut self, out: &mut impl Emit) {
        if self.load_proc("uptime")
            && let Some(up) = first_number(&self.buf)
        {
            out.emit("host_uptime_seconds", &[], up);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        out.emit("host_time_seconds", &[], now);
        let info = self.info.get_or_insert_with(HostInfo::read);
        out.emit(
            "host_uname_info",
            &[
                ("sysname", info.sysname.as_str()),
                ("release", info.release.as_str()),
                ("version", info.version.as_str()),
                ("machine", info.machine.as_str()),
                ("nodename", info.nodename.as_str()),
            ],
            1.0,
        );
        out.emit(
            "host_os_info",
            &[
                ("id", info.os_id.as_str()),
                ("version_id", info.os_version.as_str()),
                ("pretty_name", info.os_name.as_str()),
            ],
            1.0,
        );
    }
}
