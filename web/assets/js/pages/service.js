// A service: its availability against its SLA and SLO, response times and their phases over
// the range picked (the centre's QoS rollups), and its components down to their resources
// and checks.
import { api } from '../api.js';
import { html, join } from '../html.js';
import { badge, num, resourceLink } from '../format.js';
import { plot } from '../plot.js';
import { chartWidth, rangePicker, stepFor, timeRange } from '../range.js';

const PHASES = ['resolve', 'connect', 'tls', 'processing', 'transfer'];

function figures(sla, q) {
  return html`<div class="grid">
    <div class="card"><div class="figure">${num(sla.availability * 100, 3)} %</div><div class="label">available, ${sla.lost_minutes} minutes lost (SLA period)</div></div>
    <div class="card"><div class="figure">${sla.budget_remaining == null ? '—' : `${num(sla.budget_remaining * 100, 0)} %`}</div><div class="label">error budget left${sla.objective ? ` of ${num(sla.objective * 100, 2)} %` : ' (no SLO)'}</div></div>
    <div class="card"><div class="figure">${num(q.p50_ms)} / ${num(q.p99_ms)} ms</div><div class="label">response time p50 / p99, last hour</div></div>
    <div class="card"><div class="figure">${num(q.error_rate * 100, 2)} %</div><div class="label">errors of ${q.runs} probe runs</div></div>
  </div>`;
}

// The burn-rate alerts of its SLO.
const burn = (slo) => html`<p>${join(slo.alerts.map((a) => html`<span class="${a.firing ? 'critical' : 'muted'}">${a.rule}: ${num(a.long.rate, 1)}× / ${num(a.short.rate, 1)}×${a.firing ? ' — firing' : ''}</span>`), ' · ')}</p>`;

const component = (c) => html`<div class="card"><b>${c.name}</b> ${badge(c.health)} <span class="muted">${c.reason}</span>
    <div class="table-wrap"><table class="resources"><thead><tr><th>Resource</th><th>Health</th><th>State</th><th>Polled by</th><th>Incidents</th></tr></thead><tbody>
    ${c.resources.map((r) => html`<tr><td>${resourceLink(r.id)}</td><td>${badge(r.health)}</td><td>${r.state}</td>
      <td>${r.owner}</td><td>${join(r.incidents.map((i) => html`<span class="${i.severity}">${i.rule}</span>`), ', ')}</td></tr>`)}
    ${(c.checks || []).map((k) => html`<tr><td>${resourceLink(k.resource_id)} · ${k.name}</td><td>${badge(k.health)}</td>
      <td>${k.state}</td><td colspan="2">${k.message}</td></tr>`)}
    </tbody></table></div></div>`;

export async function render([name], params) {
  const enc = encodeURIComponent(name);
  const r = timeRange(params);
  // QoS is rolled up by the minute: no finer step
  const step = Math.max(60000, stepFor(r, chartWidth()));
  const [s, qos, sla] = await Promise.all([
    api(`/api/v1/services/${enc}`), api(`/api/v1/services/${enc}/qos?from_ms=${r.from}&to_ms=${r.to}&step_ms=${step}`),
    api(`/api/v1/services/${enc}/sla`)]);
  const slo = sla.objective != null ? await api(`/api/v1/services/${enc}/slo`).catch(() => null) : null;
  const points = (field) => qos.points.filter((p) => p[field] != null).map((p) => [p.t_ms, p[field]]);
  const phases = PHASES.map((ph) => ({
    name: ph, points: qos.points.filter((p) => p.phases_ms && p.phases_ms[ph] != null).map((p) => [p.t_ms, p.phases_ms[ph]]) }))
    .filter((x) => x.points.length);
  return html`<h1>${s.name} ${badge(s.health)}</h1><p>${s.reason || html`<span class="muted">all components ok</span>`}</p>
  ${figures(sla, qos.summary)}
  ${slo ? burn(slo) : ''}
  ${rangePicker(r)}
  <h2>Response time</h2><div class="card" id="rt">${plot([
    { name: 'p50 ms', points: points('p50_ms') }, { name: 'p99 ms', points: points('p99_ms') }], { unit: ' ms', step, from: r.from, to: r.to })}</div>
  <h2>Phases (mean ms)</h2><div class="card" id="phases">${plot(phases, { unit: ' ms', step, from: r.from, to: r.to })}</div>
  <h2>Components</h2>
  ${s.components.map(component)}
  <p><a href="#/reports?kind=performance&service=${enc}&period=24h">performance report</a> ·
     <a href="#/reports?kind=availability&service=${enc}&period=month">last month's availability</a></p>`;
}
