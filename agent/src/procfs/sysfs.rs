//! Network interfaces and temperature sensors, from /sys: found every [`RESCAN_EVERY`] cycles
//! and their attribute files kept open in between.

use std::fs::File;

use super::files::reread;
use super::parse::first_number;
use super::{Emit, ProcFs, RESCAN_EVERY};

/// One network interface and its attribute files, kept open.
#[derive(Debug)]
pub(super) struct Interface {
    name: String,
    /// MAC address (read when found).
    address: String,
    operstate: Option<File>,
    carrier_changes: Option<File>,
    /// Settings (MTU, speed, queue length): metric, scale (speed is in Mbit/s), file and
    /// the last value read; read every [`SETTINGS_EVERY`] cycles, reported every cycle.
    settings: [(&'static str, f64, Option<File>, Option<f64>); 3],
}

/// Cycles between two reads of an interface's settings: they change only when an operator
/// or a link renegotiation changes them, and reading the speed takes the kernel's network
/// configuration lock.
const SETTINGS_EVERY: u64 = 6;

impl ProcFs {
    /// MTU, link state, MAC address, speed, queue length and carrier changes of every
    /// interface, from /sys/class/net. The interfaces and their attribute files are found
    /// once a minute or so ([`RESCAN_EVERY`] cycles) and kept open in between.
    pub(super) fn collect_interfaces(&mut self, out: &mut impl Emit) {
        if self.cycles.is_multiple_of(RESCAN_EVERY) {
            self.interfaces.clear();
            if let Ok(entries) = std::fs::read_dir(self.sys_root.join("class/net")) {
                for entry in entries.flatten() {
                    let Ok(name) = entry.file_name().into_string() else {
                        continue;
                    };
                    let dir = entry.path();
                    let address = std::fs::read_to_string(dir.join("address"))
                        .map(|a| a.trim().to_string())
                        .unwrap_or_default();
                    let open = |attr: &str| File::open(dir.join(attr)).ok();
                    self.interfaces.push(Interface {
                        name,
                        address,
                        operstate: open("operstate"),
                        carrier_changes: open("carrier_changes"),
                        settings: [
                            ("host_network_mtu_bytes", 1.0, open("mtu"), None),
                            ("host_network_speed_bytes", 125_000.0, open("speed"), None),
                            (
                                "host_network_transmit_queue_length",
                                1.0,
                                open("tx_queue_len"),
                                None,
                            ),
                        ],
                    });
                }
            }
        }
        let read_settings = self.cycles.is_multiple_of(SETTINGS_EVERY);
        for iface in &mut self.interfaces {
            let l = [("interface", iface.name.as_str())];
            if let Some(f) = &mut iface.operstate
                && reread(f, &mut self.buf, true)
            {
                let state = self.buf.trim();
                let up = matches!(state, "up" | "unknown");
                out.emit("host_network_up", &l, f64::from(u8::from(up)));
                out.emit(
                    "host_network_info",
                    &[
                        ("interface", iface.name.as_str()),
                        ("address", iface.address.as_str()),
                        ("operstate", state),
                    ],
                    1.0,
                );
            }
            if let Some(f) = &mut iface.carrier_changes
                && reread(f, &mut self.buf, true)
                && let Some(v) = first_number(&self.buf)
            {
                out.emit("host_network_carrier_changes_total", &l, v);
            }
            // virtual interfaces refuse to read some attributes (speed): skipped
            for (name, scale, file, last) in &mut iface.settings {
                if read_settings && let Some(f) = file {
                    *last = (reread(f, &mut self.buf, true))
                        .then(|| first_number(&self.buf))
                        .flatten()
                        .filter(|v| *v >= 0.0);
                }
                if let Some(v) = last {
                    out.emit(name, &l, *v * *scale);
                }
            }
        }
    }

    /// Every hwmon temperature input, in degrees Celsius.
    pub(super) fn collect_temperatures(&mut self, out: &mut impl Emit) {
        if self.cycles.is_multiple_of(RESCAN_EVERY) {
            self.sensors = self.find_sensors();
        }
        for (chip, sensor, file) in &self.sensors {
            if reread(file, &mut self.buf, true)
                && let Some(milli) = first_number(&self.buf)
            {
                out.emit(
                    "host_temperature_celsius",
                    &[("chip", chip), ("sensor", sensor)],
                    milli / 1000.0,
                );
            }
        }
    }

    /// Every hwmon temperature input: chip name, sensor and the open file.
    fn find_sensors(&mut self) -> Vec<(String, String, File)> {
        let mut found = Vec::new();
        let Ok(chips) = std::fs::read_dir(self.sys_root.join("class/hwmon")) else {
            return found;
        };
        for chip in chips.flatten() {
            let dir = chip.path();
            let chip_name = if self.load(&dir.join("name")) {
                self.buf.trim().to_string()
            } else {
                chip.file_name().to_string_lossy().into_owned()
            };
            let Ok(files) = std::fs::read_dir(&dir) else {
                continue;
            };
            for file in files.flatten() {
                let file_name = file.file_name();
                let Some(sensor) = file_name
                    .to_str()
                    .and_then(|f| f.strip_suffix("_input"))
                    .filter(|f| f.starts_with("temp"))
                else {
                    continue;
                };
                if let Ok(f) = File::open(file.path()) {
                    found.push((chip_name.clone(), sensor.to_string(), f));
                }
            }
        }
        found
    }
}
