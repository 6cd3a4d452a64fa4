// A host: its CPU, memory, disk I/O, network and filesystem charts over the range picked
// (PromQL over the Prometheus HTTP API), its top processes and routes (live, from its agent)
// and its events.
import { api } from '../api.js';
import { html, join } from '../html.js';
import { num } from '../format.js';
import { plot } from '../plot.js';
import { chartWidth, queryRange, rangePicker, rateWindow, stepFor, timeRange } from '../range.js';
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

// What the live process list can be ordered by (the snapshot's `order`).
const ORDERS = [['cpu', 'CPU'], ['memory', 'memory'], ['io', 'disk I/O']];

// This page's address with another order of its processes.
function withOrder(order) {
  const [path, query = ''] = window.location.hash.split('?');
  const q = new URLSearchParams(query);
  q.set('order', order);
  return `${path}?${q}`;
}

function processes(snap, order) {
  if (snap.error) return html`<p class="muted">${snap.error}</p>`;
  const by = join(ORDERS.map(([o, label]) => (o === order ? html`<b>${label}</b>` : html`<a href="${withOrder(o)}">${label}</a>`)), ' · ');
  return html`<p id="process-order">busiest by ${by}</p>
    <div class="table-wrap"><table id="processes"><thead><tr><th>PID</th><th>User</th><th>CPU %</th>
    <th>RSS MiB</th><th>Disk read KiB/s</th><th>Disk write KiB/s</th><th>Threads</th><th>Command</th></tr></thead><tbody>
    ${snap.processes.map((p) => html`<tr><td>${p.pid}</td><td>${p.user}</td><td>${num(p.cpu_ratio * 100)}</td>
      <td>${num(p.rss_bytes / 1048576)}</td><td class="io-read">${num(p.read_bytes_per_second / 1024)}</td>
      <td class="io-write">${num(p.write_bytes_per_second / 1024)}</td><td>${p.threads}</td><td>${(p.cmdline || p.name).slice(0, 160)}</td></tr>`)}
    </tbody></table></div><p class="muted">${snap.process_count} processes in all</p>`;
}

// The host's routing table, from the same live snapshot.
function routes(snap) {
  if (snap.error || !snap.routes?.length) return '';
  return html`<h2>Routes</h2><div class="table-wrap"><table id="routes"><thead><tr><th>Destination</th><th>Gateway</th>
    <th>Interface</th><th>Metric</th></tr></thead><tbody>
    ${snap.routes.map((r) => html`<tr class="${r.reject ? 'muted' : ''}"><td>${r.destination}</td><td>${r.gateway || 'direct'}${r.reject ? ' (reject)' : ''}</td>
      <td>${r.interface}</td><td>${r.metric}</td></tr>`)}</tbody></table></div>`;
}

// A PromQL string literal.
const quote = (v) => JSON.stringify(String(v));

export async function render([region, host], params) {
  const base = `/api/v1/resources/${encodeURIComponent(region)}/${encodeURIComponent(host)}`;
  const r = timeRange(params);
  const step = stepFor(r, chartWidth(true));
  const sel = (name, extra = '') => `${name}{region=${quote(region)},agent=${quote(host)}${extra}}`;
  const query = (q) => queryRange(q, r, step).catch(() => []);
  const rate = (name, extra) => query(`rate(${sel(name, extra)}[${rateWindow(step)}])`);
  const notLo = ',interface!="lo"';
  const order = ORDERS.some(([o]) => o === params.get('order')) ? params.get('order') : 'cpu';
  const [cpu, mem, fs, read, written, rx, tx, events, snap] = await Promise.all([
    query(`100 * ${sel('host_cpu_usage_ratio', ',cpu="total"')}`), query(`100 * ${sel('host_memory_used_ratio')}`),
    query(`100 * ${sel('host_filesystem_used_ratio')}`),
    rate('host_disk_read_bytes_total'), rate('host_disk_written_bytes_total'),
    rate('host_network_receive_bytes_total', notLo), rate('host_network_transmit_bytes_total', notLo),
    api(`${base}/events`).catch(() => []), api(`${base}/snapshot?top=15&order=${order}`).catch((e) => ({ error: e.message }))]);
  const disk = byteRates([...busiest(read, 'device', 'read', 3), ...busiest(written, 'device', 'write', 3)]);
  const net = byteRates([...busiest(rx, 'interface', 'in', 3), ...busiest(tx, 'interface', 'out', 3)]);
  const mounts = busiest(fs, 'mountpoint', '', 6);
  const named = (series, name) => series.map((x) => ({ name, points: x.points }));
  const half = (series, unit) => plot(series, { unit, step, from: r.from, to: r.to });
  return html`<h1>${region}/${host}</h1>
  <p><a href="#/compare?resources=${encodeURIComponent(`${region}/${host}`)}">compare with other hosts</a> ·
  <a href="#/explore?query=${encodeURIComponent(sel('host_load1'))}">explore its metrics</a></p>
  ${rangePicker(r)}
  <div class="grid charts"><div class="card" id="cpu-chart"><h2>CPU %</h2>${half(named(cpu, 'cpu'), ' %')}</div>
  <div class="card" id="memory-chart"><h2>Memory %</h2>${half(named(mem, 'memory'), ' %')}</div>
  <div class="card" id="disk-chart"><h2>Disk I/O</h2>${half(disk.series, disk.unit)}</div>
  <div class="card" id="net-chart"><h2>Network</h2>${half(net.series, net.unit)}</div>
  <div class="card" id="fs-chart"><h2>Filesystems used %</h2>${half(mounts, ' %')}</div></div>
  <h2>Top processes (live)</h2>
  ${processes(snap, order)}
  ${routes(snap)}
  <h2>Events</h2>${eventTable(events, { ack: true })}`;
}
