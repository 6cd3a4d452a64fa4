// Strata console: one page, routed by the URL's hash (so every view is deep-linkable), reading
// the super-manager's REST API; live updates come by server-sent events (/api/v1/stream).
'use strict';

const $ = (sel) => document.querySelector(sel);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) =>
  ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const badge = (h) => `<span class="badge ${esc(h)}">${esc(h)}</span>`;
const time = (ms) => (ms ? new Date(ms).toLocaleString() : '—');
const count = (n, what) => `${n} ${what}${n === 1 ? '' : 's'}`;
const num = (v, d = 1) => (v === null || v === undefined ? '—' : Number(v).toFixed(d));

async function api(path, init) {
  const r = await fetch(path, init);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || `${r.status} on ${path}`);
  return body;
}

// Who is at the console: asked once on the events page, kept in the browser.
const operator = () => localStorage.getItem('strata.operator') || '';

// A line chart of one or more series of [t_ms, value] as an SVG, sized to its box (`width`
// is its drawing width: smaller for a chart in half a page, so that its text stays legible),
// with the series named under it.
function chart(series, { height = 200, unit = '', width = 1200 } = {}) {
  const all = series.flatMap((s) => s.points);
  if (!all.length) return '<p class="muted">no data in this period</p>';
  const w = width, h = height, pad = 84;
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || x0 + 1;
  const y1 = Math.max(...ys, 0) * 1.1 || 1;
  const X = (t) => pad + ((t - x0) / (x1 - x0 || 1)) * (w - pad - 8);
  const Y = (v) => h - 18 - (v / y1) * (h - 28);
  const colors = ['#2456c9', '#c42b1c', '#18794e', '#a35200', '#7c3aed', '#0891b2'];
  // a series of one point is a dot (a line needs two)
  const lines = series.map((s, i) => s.points.length === 1
    ? `<circle cx="${X(s.points[0][0]).toFixed(1)}" cy="${Y(s.points[0][1]).toFixed(1)}" r="3" fill="${colors[i % colors.length]}"/>`
    : `<polyline fill="none" stroke="${colors[i % colors.length]}"
      stroke-width="1.6" points="${s.points.map((p) => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(' ')}"/>`);
  const legend = series.map((s, i) => `<span style="color:${colors[i % colors.length]}">● ${esc(s.name)}</span>`);
  return `<svg class="chart" viewBox="0 0 ${w} ${h}" width="100%" role="img">
    <line x1="${pad}" y1="${h - 18}" x2="${w}" y2="${h - 18}" stroke="#e3e6ec"/>
    <text x="2" y="${Y(y1 / 1.1) + 4}">${num(y1 / 1.1, 1)}${esc(unit)}</text><text x="2" y="${h - 18}">0</text>
    <text x="${pad}" y="${h - 4}">${new Date(x0).toLocaleTimeString()}</text>
    <text x="${w - 90}" y="${h - 4}">${new Date(x1).toLocaleTimeString()}</text>
    ${lines.join('')}</svg><div class="legend">${legend.join(' ')}</div>`;
}

const pages = {};

// What this console covers: the enterprise (the super-manager), or one region (a
// sub-manager's regional console, which knows no services, reports or other regions).
let scope = { scope: 'enterprise' };
const regional = () => scope.scope === 'region';

pages.overview = async () => {
  const [o, services, events] = await Promise.all([
    api('/api/v1/overview'), api('/api/v1/services'), api('/api/v1/events')]);
  if (regional()) {
    const resources = await api('/api/v1/resources');
    return `<h1>Region ${esc(scope.region)}</h1>
    <p class="muted">The regional console of sub-manager ${esc(scope.member)}: this region alone, even with the centre unreachable.</p>
    ${regionTable(o)}
    <h2>Hosts</h2><div class="table-wrap"><table id="hosts"><thead><tr><th>Host</th><th>State</th><th>Severity</th><th>Why</th></tr></thead><tbody>
    ${resources.map((r) => `<tr><td>${resourceLink(r.id)}</td><td class="${esc(r.state)}">${esc(r.state)}</td>
      <td class="${esc(r.severity)}">${esc(r.severity)}</td><td>${esc(r.reason)}</td></tr>`).join('')}</tbody></table></div>
    <h2>Active events</h2>${eventTable(events, { ack: true })}`;
  }
  return `<h1>Enterprise overview</h1>
  <div class="grid">
    ${['ok', 'degraded', 'down', 'unknown'].map((h) => `<div class="card"><div class="figure ${h}">
      ${services.filter((s) => s.health === h).length}</div><div class="label">services ${h}</div></div>`).join('')}
  </div>
  <h2>Services</h2><div class="table-wrap"><table id="services"><thead><tr><th>Service</th><th>Health</th><th>Why</th></tr></thead><tbody>
  ${services.map((s) => `<tr><td><a href="#/service/${encodeURIComponent(s.name)}">${esc(s.name)}</a></td>
    <td>${badge(s.health)}</td><td>${esc(s.reason)}</td></tr>`).join('')}</tbody></table></div>
  <h2>Regions</h2>${regionTable(o)}
  <h2>Active events</h2>${eventTable(events)}`;
};

// The regions of an overview, with their members, resources and open events.
function regionTable(o) {
  return `<div class="table-wrap"><table id="regions"><thead><tr><th>Region</th><th>Sub-managers</th>
    <th>Resources</th><th>Up</th><th>Down</th><th>Warning</th><th>Critical</th><th>Acknowledged</th></tr></thead><tbody>
  ${o.regions.map((r) => `<tr><td>${esc(r.name)}</td>
    <td>${r.sub_managers.map((s) => `<span class="${s.healthy ? 'up' : 'down'}">${esc(s.id)}</span>`).join(', ')}</td>
    <td>${r.resources.total}</td><td class="up">${r.resources.up}</td><td class="down">${r.resources.down}</td>
    <td class="warning">${r.events.warning}</td><td class="critical">${r.events.critical}</td>
    <td class="acked">${r.events.acknowledged ?? 0}</td></tr>`).join('')}
  </tbody></table></div>`;
}

// Incidents as a table; open ones not yet acknowledged get a button (wired by `wire`).
function eventTable(events, { ack = false } = {}) {
  if (!events.length) return '<p class="muted">no event</p>';
  const state = (e) => {
    if (e.resolved_ms) return `resolved ${time(e.resolved_ms)}`;
    if (e.acknowledged_ms) return `<span class="acked">acknowledged by ${esc(e.acknowledged_by)}</span>${e.ack_comment ? ` <span class="muted">“${esc(e.ack_comment)}”</span>` : ''}`;
    return ack ? `<button class="ack" data-resource="${esc(e.resource_id)}" data-rule="${esc(e.rule)}">Acknowledge</button>` : 'open';
  };
  const notes = (e) => [
    (e.changes || []).length > 1 ? `<span class="muted">${e.changes.map((c) => esc(c[1])).join(' → ')}</span>` : '',
    e.flapping ? '<span class="tag">flapping</span>' : '',
    (e.silenced_by || []).length ? `<span class="tag">silenced: ${esc(e.silenced_by.join(', '))}</span>` : '',
    ...(e.actions || []).map((a) => `<span class="tag ${a.ok ? 'ok' : 'critical'}">${a.ok ? '✓' : '✗'} ${esc(a.action)}</span>`),
  ].filter(Boolean).join(' ');
  return `<div class="table-wrap"><table class="events"><thead><tr><th>Severity</th><th>Resource</th><th>Rule</th>
    <th>Message</th><th>Opened</th><th>State</th></tr></thead><tbody>
    ${events.map((e) => `<tr data-rule="${esc(e.rule)}" data-resource="${esc(e.resource_id)}"><td class="${esc(e.severity)}">${esc(e.severity)}</td>
      <td>${resourceLink(e.resource_id)}</td><td>${esc(e.rule)}</td><td>${esc(e.message)} ${notes(e)}</td>
      <td>${time(e.opened_ms)}</td><td class="state">${state(e)}</td></tr>`).join('')}
    </tbody></table></div>`;
}

function resourceLink(id) {
  if (id.startsWith('services/')) return `<a href="#/service/${encodeURIComponent(id.slice(9))}">${esc(id)}</a>`;
  return `<a href="#/resource/${id.split('/').map(encodeURIComponent).join('/')}">${esc(id)}</a>`;
}

// The service map: services in columns by dependency depth, edges to what they need.
pages.map = async () => {
  const services = await api('/api/v1/services');
  const byName = new Map(services.map((s) => [s.name, s]));
  const depth = new Map();
  const depthOf = (n, seen = new Set()) => {
    if (depth.has(n)) return depth.get(n);
    if (seen.has(n)) return 0;
    seen.add(n);
    const deps = (byName.get(n)?.depends_on || []).filter((d) => byName.has(d));
    const d = deps.length ? 1 + Math.max(...deps.map((x) => depthOf(x, seen))) : 0;
    depth.set(n, d);
    return d;
  };
  services.forEach((s) => depthOf(s.name));
  const columns = [];
  services.forEach((s) => { const d = depth.get(s.name); (columns[d] = columns[d] || []).push(s); });
  const colW = 200, rowH = 56, nodeW = 170, nodeH = 38;
  const pos = new Map();
  columns.forEach((col, c) => col.forEach((s, r) => pos.set(s.name, [20 + (columns.length - 1 - c) * colW, 20 + r * rowH])));
  const width = 40 + columns.length * colW, height = 40 + Math.max(1, ...columns.map((c) => c.length)) * rowH;
  const color = { ok: '#18794e', degraded: '#a35200', down: '#c42b1c', unknown: '#6b7280' };
  const edges = services.flatMap((s) => (s.depends_on || []).filter((d) => pos.has(d)).map((d) => {
    const [x1, y1] = pos.get(s.name), [x2, y2] = pos.get(d);
    return `<line x1="${x1 + nodeW}" y1="${y1 + nodeH / 2}" x2="${x2}" y2="${y2 + nodeH / 2}" stroke="#9aa3b2" marker-end="url(#arrow)"/>`;
  }));
  const nodes = services.map((s) => {
    const [x, y] = pos.get(s.name);
    return `<a href="#/service/${encodeURIComponent(s.name)}" class="node" data-service="${esc(s.name)}">
      <rect x="${x}" y="${y}" width="${nodeW}" height="${nodeH}" rx="6" fill="#fff" stroke="${color[s.health]}" stroke-width="2.5"/>
      <text x="${x + 10}" y="${y + 16}" style="font-weight:600">${esc(s.name)}</text>
      <text x="${x + 10}" y="${y + 31}" style="fill:${color[s.health]}">${esc(s.health)}</text></a>`;
  });
  return `<h1>Service map</h1><p class="muted">Each service points to the services it needs; colour is health. Click to drill down.</p>
    <div class="card table-wrap"><svg id="map" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto">
    <path d="M0,0 L10,5 L0,10 z" fill="#9aa3b2"/></marker></defs>${edges.join('')}${nodes.join('')}</svg></div>`;
};

pages.service = async (name) => {
  const enc = encodeURIComponent(name);
  const [s, qos, sla] = await Promise.all([
    api(`/api/v1/services/${enc}`), api(`/api/v1/services/${enc}/qos?period=1h`),
    api(`/api/v1/services/${enc}/sla`)]);
  const slo = sla.objective != null ? await api(`/api/v1/services/${enc}/slo`).catch(() => null) : null;
  const q = qos.summary;
  const phases = ['resolve', 'connect', 'tls', 'processing', 'transfer'];
  return `<h1>${esc(s.name)} ${badge(s.health)}</h1><p>${esc(s.reason) || '<span class="muted">all components ok</span>'}</p>
  <div class="grid">
    <div class="card"><div class="figure">${num(sla.availability * 100, 3)} %</div><div class="label">available, ${sla.lost_minutes} minutes lost (SLA period)</div></div>
    <div class="card"><div class="figure">${sla.budget_remaining == null ? '—' : num(sla.budget_remaining * 100, 0) + ' %'}</div><div class="label">error budget left${sla.objective ? ` of ${num(sla.objective * 100, 2)} %` : ' (no SLO)'}</div></div>
    <div class="card"><div class="figure">${num(q.p50_ms)} / ${num(q.p99_ms)} ms</div><div class="label">response time p50 / p99, last hour</div></div>
    <div class="card"><div class="figure">${num(q.error_rate * 100, 2)} %</div><div class="label">errors of ${q.runs} probe runs</div></div>
  </div>
  ${slo ? `<p>${slo.alerts.map((a) => `<span class="${a.firing ? 'critical' : 'muted'}">${esc(a.rule)}: ${num(a.long.rate, 1)}× / ${num(a.short.rate, 1)}×${a.firing ? ' — firing' : ''}</span>`).join(' · ')}</p>` : ''}
  <h2>Response time, last hour</h2><div class="card" id="rt">${chart([
    { name: 'p50 ms', points: qos.points.filter((p) => p.p50_ms != null).map((p) => [p.t_ms, p.p50_ms]) },
    { name: 'p99 ms', points: qos.points.filter((p) => p.p99_ms != null).map((p) => [p.t_ms, p.p99_ms]) }], { unit: ' ms' })}</div>
  <h2>Phases (mean ms)</h2><div class="card" id="phases">${chart(phases.map((ph) => ({
    name: ph, points: qos.points.filter((p) => p.phases_ms && p.phases_ms[ph] != null).map((p) => [p.t_ms, p.phases_ms[ph]]) }))
    .filter((s) => s.points.length), { unit: ' ms' })}</div>
  <h2>Components</h2>
  ${s.components.map((c) => `<div class="card"><b>${esc(c.name)}</b> ${badge(c.health)} <span class="muted">${esc(c.reason)}</span>
    <div class="table-wrap"><table class="resources"><thead><tr><th>Resource</th><th>Health</th><th>State</th><th>Polled by</th><th>Incidents</th></tr></thead><tbody>
    ${c.resources.map((r) => `<tr><td>${resourceLink(r.id)}</td><td>${badge(r.health)}</td><td>${esc(r.state)}</td>
      <td>${esc(r.owner)}</td><td>${r.incidents.map((i) => `<span class="${esc(i.severity)}">${esc(i.rule)}</span>`).join(', ')}</td></tr>`).join('')}
    ${(c.checks || []).map((k) => `<tr><td>${resourceLink(k.resource_id)} · ${esc(k.name)}</td><td>${badge(k.health)}</td>
      <td>${esc(k.state)}</td><td colspan="2">${esc(k.message)}</td></tr>`).join('')}
    </tbody></table></div></div>`).join('')}
  <p><a href="#/reports?kind=performance&service=${enc}&period=24h">performance report</a> ·
     <a href="#/reports?kind=availability&service=${enc}&period=month">last month's availability</a></p>`;
};

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

pages.resource = async (region, host) => {
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
  const pct = (series, name) => series.map((s) => ({ name, points: s.points.map((p) => [p[0], p[1] * 100]) }));
  const disk = byteRates([...busiest(read, 'device', 'read', 3), ...busiest(written, 'device', 'write', 3)]);
  const net = byteRates([...busiest(rx, 'interface', 'in', 3), ...busiest(tx, 'interface', 'out', 3)]);
  const mounts = busiest(fs, 'mountpoint', '', 6).map((s) => ({ name: s.name, points: s.points.map((p) => [p[0], p[1] * 100]) }));
  return `<h1>${esc(region)}/${esc(host)}</h1>
  <p><a href="#/compare?resources=${encodeURIComponent(`${region}/${host}`)}">compare with other hosts</a></p>
  <div class="grid charts"><div class="card"><h2>CPU %</h2>${chart(pct(cpu, 'cpu'), { unit: ' %', width: 600 })}</div>
  <div class="card"><h2>Memory %</h2>${chart(pct(mem, 'memory'), { unit: ' %', width: 600 })}</div>
  <div class="card" id="disk-chart"><h2>Disk I/O</h2>${chart(disk.series, { unit: disk.unit, width: 600 })}</div>
  <div class="card" id="net-chart"><h2>Network</h2>${chart(net.series, { unit: net.unit, width: 600 })}</div>
  <div class="card" id="fs-chart"><h2>Filesystems used %</h2>${chart(mounts, { unit: ' %', width: 600 })}</div></div>
  <h2>Top processes (live)</h2>
  ${snap.error ? `<p class="muted">${esc(snap.error)}</p>` : `<div class="table-wrap"><table id="processes"><thead><tr><th>PID</th><th>User</th><th>CPU %</th>
    <th>RSS MiB</th><th>Threads</th><th>Command</th></tr></thead><tbody>
    ${snap.processes.map((p) => `<tr><td>${p.pid}</td><td>${esc(p.user)}</td><td>${num(p.cpu_ratio * 100)}</td>
      <td>${num(p.rss_bytes / 1048576)}</td><td>${p.threads}</td><td>${esc((p.cmdline || p.name).slice(0, 160))}</td></tr>`).join('')}
    </tbody></table></div><p class="muted">${snap.process_count} processes in all</p>`}
  <h2>Events</h2>${eventTable(events, { ack: true })}`;
};

pages.events = async (_, params) => {
  const resolved = params.get('include') === 'resolved';
  const severity = params.get('severity') || '';
  const text = (params.get('q') || '').toLowerCase();
  const all = await api(`/api/v1/events${resolved ? '?include=resolved' : ''}`);
  const events = all.filter((e) => (!severity || e.severity === severity)
    && (!text || `${e.resource_id} ${e.rule} ${e.message}`.toLowerCase().includes(text)));
  const q = new URLSearchParams(params);
  resolved ? q.delete('include') : q.set('include', 'resolved');
  return `<h1>Events</h1>
  <form class="inline" id="events-form">
    <label>Severity<select name="severity"><option value="">any</option>${['critical', 'warning'].map((v) =>
      `<option${v === severity ? ' selected' : ''}>${v}</option>`).join('')}</select></label>
    <label>Search<input name="q" value="${esc(params.get('q') || '')}" placeholder="host, rule, message"></label>
    ${resolved ? '<input type="hidden" name="include" value="resolved">' : ''}
    <button>Filter</button>
    <label>Your name (for acknowledgements)<input id="operator" value="${esc(operator())}" placeholder="name"></label>
  </form>
  <p><a href="#/events?${q}">${resolved ? 'open only' : 'with resolved'}</a> · ${events.length} of ${all.length}</p>
  ${eventTable(events, { ack: true })}`;
};

// Acknowledges the incident of a button, as the operator named on the page.
async function acknowledge(button) {
  const name = operator().trim();
  if (!name) {
    $('#operator')?.focus();
    button.insertAdjacentHTML('afterend', ' <span class="critical">say who you are first</span>');
    return;
  }
  button.disabled = true;
  try {
    await api('/api/v1/events/ack', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resource_id: button.dataset.resource, rule: button.dataset.rule, by: name }),
    });
    button.outerHTML = `<span class="acked">acknowledged by ${esc(name)}</span>`;
  } catch (e) {
    button.disabled = false;
    button.insertAdjacentHTML('afterend', ` <span class="critical">${esc(e.message)}</span>`);
  }
}

// Administration: per region, the alerting rules in force and the notification channels
// (both edited through the region's validated API) and the notifications it sent; per host,
// a pushed configuration (items, intervals, checks and probes), validated by the agent.
pages.admin = async (_, params) => {
  const o = await api('/api/v1/overview');
  const regions = o.regions.map((r) => r.name);
  const region = regions.includes(params.get('region')) ? params.get('region') : regions[0];
  if (!region) return '<h1>Administration</h1><p class="muted">no region yet</p>';
  const enc = encodeURIComponent(region);
  const [rules, channels, sent, resources, polled] = await Promise.all([
    api(`/api/v1/regions/${enc}/rules`).catch((e) => ({ error: e.message })),
    api(`/api/v1/regions/${enc}/notify`).catch((e) => ({ error: e.message })),
    api(`/api/v1/regions/${enc}/notifications?limit=50`).catch((e) => ({ error: e.message })),
    api(`/api/v1/resources?region=${enc}`).catch(() => []),
    api(`/api/v1/regions/${enc}/agents`).catch(() => [])]);
  // each agent as the member reporting it last polled it (its buffer, what came), else as
  // any of its pollers: looked up by id, so that a region of thousands of agents stays quick
  const byPoller = new Map(polled.map((a) => [`${a.agent_id}\n${a.member_id}`, a]));
  const byAgent = new Map(polled.map((a) => [a.agent_id, a]));
  const seen = (r) => byPoller.get(`${r.host}\n${r.owner}`) || byAgent.get(r.host);
  const buffer = (a) => {
    if (!a?.buffer) return '<td class="muted">—</td><td class="muted">—</td>';
    const b = a.buffer, full = b.capacity ? b.len / b.capacity : 0;
    return `<td class="buffer ${full > 0.5 ? 'warning' : ''}">${b.len} / ${b.capacity}</td>
      <td class="${b.dropped_total ? 'critical' : ''}">${b.dropped_total}</td>`;
  };
  return `<h1>Administration</h1>
  <p>${regions.map((r) => r === region ? `<b>${esc(r)}</b>` : `<a href="#/admin?region=${encodeURIComponent(r)}">${esc(r)}</a>`).join(' · ')}</p>
  <h2>Alerting rules of ${esc(region)}</h2>
  ${rules.error ? `<p class="critical">${esc(rules.error)}</p>` : `<p class="muted">${rules.count} rules in force${rules.file ? `, file ${esc(rules.file)}` : ''}.
    Saving replaces the rules defined through the API with the <code>[[rules]]</code> below (the built-in thresholds and the rules file stay); the region checks them all first.</p>
    <details class="card"><summary>in force</summary><pre>${esc(rules.rules_toml)}</pre></details>
    <form id="rules-form" class="card"><textarea name="rules" rows="10" spellcheck="false">[[rules]]
name = "swap-heavy"
metric = "host_swap_used_ratio"
warning = 0.5
critical = 0.8
for = "5m"
</textarea><div><button>Check and save</button> <span id="rules-result"></span></div></form>`}
  <h2>Notification channels of ${esc(region)}</h2>
  ${channels.error ? `<p class="critical">${esc(channels.error)}</p>` : `<p class="muted"><span id="channels-summary">${channelsSummary(channels)}</span> Saving replaces them all in every member of the region, which checks them first;
    secrets show as <code>&lt;hidden&gt;</code> and are kept when left so.</p>
    <form id="notify-form" class="card"><textarea name="channels" rows="14" spellcheck="false">${esc(channels.notify_toml)}${channels.receivers ? '' : NOTIFY_EXAMPLE}</textarea>
    <div><button>Check and save</button>${channels.source === 'api' ? ' <button type="button" id="notify-file">Use the config file\'s</button>' : ''}
    <span id="notify-result"></span></div></form>`}
  <h2>Agents of ${esc(region)}</h2>
  <p class="muted">Buffer: samples the agent holds until its poller has stored them, of its capacity; dropped: samples lost to a full buffer since the agent started.</p>
  <div class="table-wrap"><table id="agents"><thead><tr><th>Host</th><th>State</th><th>Severity</th>
    <th>Last poll</th><th>Polled by</th><th>Buffer</th><th>Dropped</th><th>Samples, last poll</th><th>Series</th><th>Why</th></tr></thead><tbody>
    ${resources.map((r) => { const a = seen(r); return `<tr data-host="${esc(r.host)}"><td>${resourceLink(r.id)}</td><td class="${esc(r.state)}">${esc(r.state)}</td>
      <td class="${esc(r.severity)}">${esc(r.severity)}</td><td>${time(r.last_poll_ms)}</td>
      <td>${esc((a?.pollers?.length ? a.pollers : [r.owner]).join(', '))}</td>${buffer(a)}
      <td>${a?.polled_ms ? a.samples : '—'}</td><td>${a?.polled_ms ? a.series : '—'}</td><td>${esc(r.reason)}</td></tr>`; }).join('')}</tbody></table></div>
  <h2>Agent configuration</h2>
  <form id="agent-form" class="card"><label>Host <select name="host">${resources.map((r) =>
    `<option>${esc(r.host)}</option>`).join('')}</select></label>
    <p class="muted">Items and their intervals, checks and probes, pushed over the agent's local file (actions stay local). The agent validates everything before applying anything.</p>
    <textarea name="config" rows="8" spellcheck="false">[items.processes]
interval = "30s"

[[checks]]
name = "home-page"
kind = "http"
url = "http://127.0.0.1/"
interval = "30s"
</textarea><div><button>Validate and apply</button> <span id="agent-result"></span></div></form>
  <h2>Notifications sent by ${esc(region)}</h2>
  ${sent.error ? `<p class="critical">${esc(sent.error)}</p>` : !sent.length ? '<p class="muted">none yet</p>' :
    `<div class="table-wrap"><table id="notifications"><thead><tr><th>When</th><th>Receiver</th><th>Kind</th><th>Reason</th>
    <th>Status</th><th>Attempts</th><th>Events</th><th>Last error</th></tr></thead><tbody>
    ${sent.map((n) => `<tr><td>${time(n.created_ms)}</td><td>${esc(n.receiver)}</td><td>${esc(n.kind)}</td><td>${esc(n.reason)}</td>
      <td class="${n.status === 'sent' ? 'ok' : n.status === 'failed' ? 'critical' : 'warning'}">${esc(n.status)}</td>
      <td>${n.attempts}</td><td>${n.events.map(esc).join('<br>')}</td><td>${esc(n.last_error)}</td></tr>`).join('')}
    </tbody></table></div>`}`;
};

// What a region's notification editor starts with when it has no receivers.
const NOTIFY_EXAMPLE = `
# [[receivers]]
# name = "ops-mail"
# kind = "email"              # or webhook, alertmanager, sms
# smtp = "mail.example.com:587"
# from = "strata@example.com"
# to = ["ops@example.com"]
#
# [[routes]]
# match = { severity = "critical" }
# receivers = ["ops-mail"]
# escalate = [{ after = "15m", receivers = ["ops-mail"] }]
`;

// What a save answered, in words.
function saved(body) {
  if (body.count !== undefined) return `saved: ${body.count} rules in force`;
  if (body.receivers !== undefined) {
    return `saved: ${count(body.receivers, 'receiver')}, ${count(body.routes, 'route')}, ${count(body.silences, 'silence')} in force (from ${body.source === 'api' ? 'the API' : 'the config file'})`;
  }
  return `applied: ${(body.checks || []).length} checks running`;
}

// Sends a form's text to the API with `method`; shows what it answered, and returns it
// (nothing when refused).
async function submitText(form, url, method, text, out) {
  out.className = 'muted';
  out.textContent = 'checking…';
  try {
    const r = await fetch(url(), { method, body: text, headers: { 'content-type': 'text/plain' } });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || `${r.status}`);
    out.className = 'ok';
    out.textContent = saved(body);
    return body;
  } catch (e) {
    out.className = 'critical';
    out.textContent = e.message;
    return undefined;
  }
}

// A region's channels in force, in words.
const channelsSummary = (c) => `${count(c.receivers, 'receiver')}, ${count(c.routes, 'route')},
  ${count(c.silences, 'silence')}, from ${c.source === 'api' ? 'the API' : 'the config file'} (since ${time(c.loaded_ms)}).`;

pages.reports = async (_, params) => {
  const kinds = ['availability', 'performance', 'failure', 'operations', 'audit', 'comparison', 'capacity'];
  const kind = params.get('kind') || 'availability';
  const query = new URLSearchParams(params);
  query.delete('kind');
  if (!query.get('period')) query.set('period', 'month');
  for (const [k, v] of [...query]) if (!v) query.delete(k);
  let table = '';
  try {
    const t = await api(`/api/v1/reports/${kind}?${query}`);
    table = `<p class="muted">${time(t.from_ms)} to ${time(t.to_ms)} ·
      <a id="csv" href="/api/v1/reports/${kind}?${query}&format=csv">download CSV</a></p>
      <div class="table-wrap"><table id="report"><thead><tr>${t.columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>
      ${t.rows.map((r) => `<tr>${t.columns.map((c) => `<td>${esc(typeof r[c] === 'number' ? +r[c].toFixed(3) : r[c] ?? '')}</td>`).join('')}</tr>`).join('')}
      </tbody></table></div>`;
  } catch (e) {
    table = `<p class="critical">${esc(e.message)}</p>`;
  }
  const field = (name, label) => `<label>${label}<input name="${name}" value="${esc(query.get(name) || '')}"></label>`;
  return `<h1>Reports</h1>
  <form class="inline" id="report-form"><label>Kind<select name="kind">${kinds.map((k) =>
    `<option${k === kind ? ' selected' : ''}>${k}</option>`).join('')}</select></label>
    ${field('period', 'Period (month, 2026-10, 7d…)')}${field('service', 'Service')}${field('resources', 'Resources (comparison, capacity)')}
    <button>Show</button></form>${table}`;
};

// Several hosts side by side on one metric: their history on one chart, and the comparison
// report's figures.
const METRICS = {
  host_cpu_usage_ratio: { label: 'CPU %', extra: '&label.cpu=total', scale: 100 },
  host_memory_used_ratio: { label: 'memory %', extra: '', scale: 100 },
  host_load1: { label: 'load (1 min)', extra: '', scale: 1 },
};

pages.compare = async (_, params) => {
  const resources = (params.get('resources') || '').split(',').map((r) => r.trim()).filter(Boolean);
  const metric = METRICS[params.get('metric')] ? params.get('metric') : 'host_cpu_usage_ratio';
  const period = params.get('period') || '1h';
  const m = METRICS[metric];
  let body = '<p class="muted">name two or more hosts as region/host, separated by commas</p>';
  if (resources.length) {
    const series = await Promise.all(resources.map((id) => {
      const [region, ...host] = id.split('/');
      return api(`/api/v1/resources/${encodeURIComponent(region)}/${encodeURIComponent(host.join('/'))}/metrics?name=${metric}&step_ms=60000${m.extra}&from_ms=${Date.now() - 3600000}`)
        .then((r) => r.series.map((s) => ({ name: id, points: s.points.map((p) => [p[0], p[1] * m.scale]) })))
        .catch(() => []);
    }));
    const q = new URLSearchParams({ resources: resources.join(','), metric, period });
    if (m.extra) q.set('label.cpu', 'total');
    const t = await api(`/api/v1/reports/comparison?${q}`).catch((e) => ({ error: e.message }));
    body = `<div class="card" id="compare-chart"><h2>${esc(m.label)}, last hour</h2>${chart(series.flat(), { unit: '' })}</div>
      ${t.error ? `<p class="critical">${esc(t.error)}</p>` : `<div class="table-wrap"><table id="comparison"><thead><tr>
        <th>Host</th><th>Min</th><th>Avg</th><th>p95</th><th>Max</th><th>Last</th></tr></thead><tbody>
        ${t.rows.map((r) => `<tr><td>${resourceLink(r.resource)}</td>${['min', 'avg', 'p95', 'max', 'last']
          .map((k) => `<td>${num(r[k] * m.scale, 2)}</td>`).join('')}</tr>`).join('')}</tbody></table></div>
        <p class="muted">figures over ${esc(period)} · <a href="/api/v1/reports/comparison?${q}&format=csv">CSV</a></p>`}`;
  }
  return `<h1>Compare hosts</h1>
  <form class="inline" id="compare-form">
    <label>Hosts<input name="resources" size="40" value="${esc(resources.join(','))}"></label>
    <label>Metric<select name="metric">${Object.entries(METRICS).map(([k, v]) =>
      `<option value="${k}"${k === metric ? ' selected' : ''}>${esc(v.label)}</option>`).join('')}</select></label>
    <label>Period<input name="period" value="${esc(period)}"></label><button>Compare</button></form>${body}`;
};

function route() {
  const [path, qs] = (location.hash.slice(1) || '/').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(qs || '');
  const name = parts[0] || 'overview';
  return { name, args: parts.slice(1), params };
}

let rendering = 0;
async function render() {
  const { name, args, params } = route();
  const page = pages[name] || pages.overview;
  document.querySelectorAll('nav a').forEach((a) => a.classList.toggle('active', a.dataset.page === name));
  const mine = ++rendering;
  try {
    const html = await page(...(args.length ? args : [undefined]), params);
    if (mine !== rendering) return;
    $('#main').innerHTML = html;
    wire(name);
    for (const [id, page] of [['#report-form', 'reports'], ['#compare-form', 'compare'], ['#events-form', 'events']]) {
      const form = $(id);
      if (form) form.onsubmit = (e) => {
        e.preventDefault();
        location.hash = `#/${page}?${new URLSearchParams(new FormData(form))}`;
      };
    }
  } catch (e) {
    console.error('rendering', name, e);
    if (mine === rendering) $('#main').innerHTML = `<p class="critical">${esc(e.message)}</p>`;
  }
}
// The region the admin page shows: the one in the URL, or the first (shown in bold).
const adminRegion = () => route().params.get('region') || $('main p b')?.textContent;

// Hooks up what a page's HTML cannot do by itself: buttons and forms that call the API.
function wire(name) {
  document.querySelectorAll('button.ack').forEach((b) => { b.onclick = () => acknowledge(b); });
  const who = $('#operator');
  if (who) who.oninput = () => localStorage.setItem('strata.operator', who.value.trim());
  const rules = $('#rules-form');
  if (rules) rules.onsubmit = (e) => {
    e.preventDefault();
    submitText(rules, () => `/api/v1/regions/${encodeURIComponent(adminRegion())}/rules`, 'PUT',
      rules.rules.value, $('#rules-result'));
  };
  const channels = $('#notify-form');
  const notifyUrl = () => `/api/v1/regions/${encodeURIComponent(adminRegion())}/notify`;
  // after a save, the summary and the editor show what is in force
  const shown = (body) => {
    if (!body) return;
    $('#channels-summary').textContent = channelsSummary(body);
    channels.channels.value = body.notify_toml + (body.receivers ? '' : NOTIFY_EXAMPLE);
  };
  if (channels) channels.onsubmit = (e) => {
    e.preventDefault();
    submitText(channels, notifyUrl, 'PUT', channels.channels.value, $('#notify-result')).then(shown);
  };
  const fromFile = $('#notify-file');
  if (fromFile) fromFile.onclick = () => submitText(channels, notifyUrl, 'DELETE', '', $('#notify-result')).then(shown);
  const agent = $('#agent-form');
  if (agent) agent.onsubmit = (e) => {
    e.preventDefault();
    submitText(agent, () => `/api/v1/resources/${encodeURIComponent(adminRegion())}/${encodeURIComponent(agent.host.value)}/config`,
      'PUT', agent.config.value, $('#agent-result'));
  };
}
window.addEventListener('error', (e) => console.error('console error', e.message));
window.addEventListener('unhandledrejection', (e) => console.error('console rejection', e.reason));

// a new view starts at its top
window.addEventListener('hashchange', () => { window.scrollTo(0, 0); render(); });
fetch('/api/v1/console').then((r) => r.json()).catch(() => ({ scope: 'enterprise' })).then((s) => {
  scope = s;
  if (regional()) {
    document.querySelectorAll('nav a').forEach((a) => {
      if (['map', 'compare', 'reports'].includes(a.dataset.page)) a.remove();
    });
    $('header .brand').textContent = `Strata · ${s.region}`;
    document.title = `Strata · region ${s.region}`;
  }
  render();
});

// Live: the stream says when the state changed; the page in view is drawn again (not while a
// form is being filled in).
const live = new EventSource('/api/v1/stream');
live.addEventListener('overview', (e) => {
  const o = JSON.parse(e.data);
  $('#live').className = 'ok';
  $('#live').textContent = `live · ${new Date(o.generated_at_ms).toLocaleTimeString()}`;
  const busy = document.activeElement && ['INPUT', 'SELECT', 'TEXTAREA'].includes(document.activeElement.tagName);
  if (!busy && !['reports', 'compare', 'admin'].includes(route().name)) render();
});
live.onerror = () => { $('#live').className = 'down'; $('#live').textContent = 'reconnecting…'; };
