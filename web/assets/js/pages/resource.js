// A host: its CPU, memory, disk I/O, network and filesystem charts from the region's store,
// its top processes (live, from its agent) and its events.
import { api } from '../api.js';
import { html } from '../html.js';
import { num } from '../format.js';
import { chart } from '../charts.js';
import { eventTable } from '../events-table.js';

// The busiest `limit` series, each named by `prefix` and its `label` (idle ones left out).
function busiest(series, label, prefix, limit = 4) {
  const peak = (s) => Math.max(0, ...s.points.map((p) => p[1]));
  return series.filter((s) => peak(s) > 0).sort((a, b) => peak(b) - peak(a)).slice(0, limit)
    .map((s) => ({ name: `${prefix} ${s.labels[label] ?? ''}`.trim(), points: s.points }));
}

// Byte rates scaled to KiB/s or MiB/s, whichever reads better.
function byteRates(series) {
  const peak = Math.max(0, ...series.flatMap((s) => s.points.map((p) => p[1])));
  const [div, unit] = peak >= 1048576 ? [1048576, ' MiB/s'] : [1024, ' KiB/s'];
  return { unit, series: series.map((s) => ({ name: s.name, points: s.points.map((p) => [p[0], p[1] / div]) })) };
}

const percent = (series, name) => series.map((s) => ({ name: name ?? s.name, points: s.points.map((p) => [p[0], p[1] * 100]) }));

function processes(snap) {
  if (snap.error) return html`<p class="muted">${snap.error}</p>`;
  return html`<div class="table-wrap"><table id="processes"><thead><tr><th>PID</th><th>User</th><th>CPU %</th>
    <th>RSS MiB</th><th>Threads</th><th>Command</th></tr></thead><tbody>
    ${snap.processes.map((p) => html`<tr><td>${p.pid}</td><td>${p.user}</td><td>${num(p.cpu_ratio * 100)}</td>
      <td>${num(p.rss_bytes / 1048576)}</td><td>${p.threads}</td><td>${(p.cmdline || p.name).slice(0, 160)}</td></tr>`)}
    </tbody></table></div><p class="muted">${snap.process_count} processes in all</p>`;
}

export async function render([region, host]) {
  const base = `/api/v1/resources/${encodeURIComponent(region)}/${encodeURIComponent(host)}`;
  const metric = (name, extra = '') => api(`${base}/metrics?name=${name}&step_ms=5000${extra}`)
    .then((m) => m.series).catch(() => []);
  const rate = (name, extra = '') => metric(name, `&agg=rate${extra}`);
  const notLo = `&label.interface=${encodeURIComponent('!lo')}`;
  const [cpu, mem, fs, read, written, rx, tx, events, snap] = await Promise.all([
    metric('host_cpu_usage_ratio', '&label.cpu=total'), metric('host_memory_used_ratio'),
    metric('host_filesystem_used_ratio'),
    rate('host_disk_read_bytes_total'), rate('host_disk_written_bytes_total'),
    rate('host_network_receive_bytes_total', notLo), rate('host_network_transmit_bytes_total', notLo),
    api(`${base}/events`).catch(() => []), api(`${base}/snapshot?top=15`).catch((e) => ({ error: e.message }))]);
  const disk = byteRates([...busiest(read, 'device', 'read', 3), ...busiest(written, 'device', 'write', 3)]);
  const net = byteRates([...busiest(rx, 'interface', 'in', 3), ...busiest(tx, 'interface', 'out', 3)]);
  const mounts = percent(busiest(fs, 'mountpoint', '', 6));
  const half = (series, unit) => chart(series, { unit, width: 600 });
  return html`<h1>${region}/${host}</h1>
  <p><a href="#/compare?resources=${encodeURIComponent(`${region}/${host}`)}">compare with other hosts</a></p>
  <div class="grid charts"><div class="card"><h2>CPU %</h2>${half(percent(cpu, 'cpu'), ' %')}</div>
  <div class="card"><h2>Memory %</h2>${half(percent(mem, 'memory'), ' %')}</div>
  <div class="card" id="disk-chart"><h2>Disk I/O</h2>${half(disk.series, disk.unit)}</div>
  <div class="card" id="net-chart"><h2>Network</h2>${half(net.series, net.unit)}</div>
  <div class="card" id="fs-chart"><h2>Filesystems used %</h2>${half(mounts, ' %')}</div></div>
  <h2>Top processes (live)</h2>
  ${processes(snap)}
  <h2>Events</h2>${eventTable(events, { ack: true })}`;
}
