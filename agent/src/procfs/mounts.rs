//! The local filesystems of /proc/mounts: which are reported, and their mount points with
//! the octal escapes undone.

use super::Emit;

/// A local filesystem of /proc/mounts.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub device: String,
    pub mount: String,
    pub fstype: String,
}

/// The local filesystems of a /proc/mounts text, each mount point once. Network
/// filesystems are left out: a stalled server would stall the cycle.
pub fn local_mounts(text: &str) -> Vec<Mount> {
    let mut out: Vec<Mount> = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(device), Some(mount), Some(fstype)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let mount = unescape_mount(mount);
        if !is_reported_filesystem(&mount, fstype) || out.iter().any(|m| m.mount == mount) {
            continue;
        }
        out.push(Mount {
            device: device.to_string(),
            mount: mount.into_owned(),
            fstype: fstype.to_string(),
        });
    }
    out
}

/// Whether a mount is a local filesystem worth reporting: not a kernel pseudo-filesystem,
/// not a network one, not under /proc, /sys or /dev (node_exporter's default filter, with
/// network filesystems left out as well).
fn is_reported_filesystem(mount: &str, fstype: &str) -> bool {
    const SKIP_TYPES: [&str; 28] = [
        "autofs",
        "binfmt_misc",
        "bpf",
        "cgroup",
        "cgroup2",
        "configfs",
        "debugfs",
        "devpts",
        "devtmpfs",
        "fusectl",
        "hugetlbfs",
        "iso9660",
        "mqueue",
        "nsfs",
        "overlay",
        "proc",
        "procfs",
        "pstore",
        "rpc_pipefs",
        "securityfs",
        "selinuxfs",
        "squashfs",
        "sysfs",
        "tracefs",
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
    ];
    // a container runtime's and kubelet's mounts come and go with every pod: one series
    // each would churn without end (as kube-prometheus excludes them from node_exporter's)
    const RUNTIME_ROOTS: [&str; 6] = [
        "/var/lib/kubelet",
        "/var/lib/docker",
        "/var/lib/containers",
        "/run/containerd",
        "/run/k3s",
        "/run/netns",
    ];
    let under = |root: &str| mount == root || mount.starts_with(&format!("{root}/"));
    !SKIP_TYPES.contains(&fstype)
        && !fstype.starts_with("fuse.")
        && !under("/proc")
        && !under("/sys")
        && !under("/dev")
        && !RUNTIME_ROOTS.iter().any(|r| under(r))
}

/// A mount point as /proc/mounts writes it, with its octal escapes (`\040` for a space)
/// undone.
fn unescape_mount(mount: &str) -> std::borrow::Cow<'_, str> {
    if !mount.contains('\\') {
        return mount.into();
    }
    let mut out = String::with_capacity(mount.len());
    let mut rest = mount;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 4);
        match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out.into()
}

/// Space and inodes of every filesystem of `mounts`, by statvfs (under `root`, the host's
/// root as mounted here, when given).
pub(super) fn emit_filesystems(
    mounts: &[Mount],
    root: Option<&std::path::Path>,
    out: &mut impl Emit,
) {
    for m in mounts {
        let path = match root {
            Some(root) => root.join(m.mount.trim_start_matches('/')),
            None => std::path::PathBuf::from(&m.mount),
        };
        let Ok(st) = rustix::fs::statvfs(&path) else {
            continue;
        };
        let unit = st.f_frsize as f64;
        let size = st.f_blocks as f64 * unit;
        let free = st.f_bfree as f64 * unit;
        let avail = st.f_bavail as f64 * unit;
        let used = size - free;
        // as df: the share of what users may fill
        let ratio = if used + avail > 0.0 {
            used / (used + avail)
        } else {
            0.0
        };
        let l = [
            ("mountpoint", m.mount.as_str()),
            ("device", m.device.as_str()),
            ("fstype", m.fstype.as_str()),
        ];
        out.emit("host_filesystem_size_bytes", &l, size);
        out.emit("host_filesystem_free_bytes", &l, free);
        out.emit("host_filesystem_avail_bytes", &l, avail);
        out.emit("host_filesystem_used_bytes", &l, used);
        out.emit("host_filesystem_used_ratio", &l, ratio);
        out.emit("host_filesystem_files", &l, st.f_files as f64);
        out.emit("host_filesystem_files_free", &l, st.f_ffree as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_are_filtered_and_unescaped() {
        assert!(is_reported_filesystem("/", "ext4"));
        assert!(is_reported_filesystem("/data", "xfs"));
        for (mount, fstype) in [
            ("/proc", "proc"),
            ("/sys/fs/cgroup", "tmpfs"),
            ("/dev/shm", "tmpfs"),
            ("/mnt/nas", "nfs4"),
            ("/home/u/remote", "fuse.sshfs"),
            ("/var/lib/x", "overlay"),
            (
                "/var/lib/kubelet/pods/1f/volumes/kubernetes.io~secret/t",
                "tmpfs",
            ),
            (
                "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/9/shm",
                "tmpfs",
            ),
            ("/var/lib/docker/volumes/data", "ext4"),
        ] {
            assert!(!is_reported_filesystem(mount, fstype), "{mount} {fstype}");
        }
        assert_eq!(unescape_mount("/mnt/my\\040disk"), "/mnt/my disk");
        let mounts = local_mounts(
            "/dev/vda / ext4 rw 0 0\nproc /proc proc rw 0 0\n/dev/vda / ext4 rw 0 0\n\
             /dev/vdb /mnt/my\\040disk xfs rw 0 0\n",
        );
        let points: Vec<&str> = mounts.iter().map(|m| m.mount.as_str()).collect();
        assert_eq!(points, vec!["/", "/mnt/my disk"]);
        assert_eq!(unescape_mount("/plain"), "/plain");
        assert_eq!(unescape_mount("/odd\\x"), "/odd\\x");
    }
}
