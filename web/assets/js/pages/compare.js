// Several hosts side by side on one metric: their history over the range picked on one
// chart (PromQL), and the comparison report's figures.
import { api } from '../api.js';
import { html } from '../html.js';
import { num, resourceLink } from '../format.js';
import { plot } from '../plot.js';
import { chartWidth, queryRange, rangePicker, stepFor, timeRange } from '../range.js';

const METRICS = {
  host_cpu_usage_ratio: { label: 'CPU %', matcher: ',cpu="total"', scale: 100 },
  host_memory_used_ratio: { label: 'memory %', matcher: '', scale: 100 },
  host_load1: { label: 'load (1 min)', matcher: '', scale: 1 },
};

// Not drawn again on every live update: the form would lose what is being typed.
export const live = false;

// Each host's history of `metric` over `r` at `step`, scaled.
function history(resources, metric, m, r, step) {
  return Promise.all(resources.map((id) => {
    const [region, ...host] = id.split('/');
    const q = `${m.scale} * ${metric}{region=${JSON.stringify(region)},agent=${JSON.stringify(host.join('/'))}${m.matcher}}`;
    return queryRange(q, r, step).then((all) => all.map((s) => ({ name: id, points: s.points }))).catch(() => []);
  }));
}

async function comparison(resources, metric, period, r) {
  const m = METRICS[metric];
  const step = stepFor(r, chartWidth());
  const series = await history(resources, metric, m, r, step);
  const q = new URLSearchParams({ resources: resources.join(','), metric, period });
  if (m.matcher) q.set('label.cpu', 'total');
  const t = await api(`/api/v1/reports/comparison?${q}`).catch((e) => ({ error: e.message }));
  return html`<div class="card" id="compare-chart"><h2>${m.label}</h2>${plot(series.flat(), { step, from: r.from, to: r.to })}</div>
      ${t.error ? html`<p class="critical">${t.error}</p>` : html`<div class="table-wrap"><table id="comparison"><thead><tr>
        <th>Host</th><th>Min</th><th>Avg</th><th>p95</th><th>Max</th><th>Last</th></tr></thead><tbody>
        ${t.rows.map((r) => html`<tr><td>${resourceLink(r.resource)}</td>${['min', 'avg', 'p95', 'max', 'last']
          .map((k) => html`<td>${num(r[k] * m.scale, 2)}</td>`)}</tr>`)}</tbody></table></div>
        <p class="muted">figures over ${period} · <a href="/api/v1/reports/comparison?${q}&format=csv">CSV</a></p>`}`;
}

export async function render(_, params) {
  const resources = (params.get('resources') || '').split(',').map((r) => r.trim()).filter(Boolean);
  const metric = METRICS[params.get('metric')] ? params.get('metric') : 'host_cpu_usage_ratio';
  const period = params.get('period') || '1h';
  const r = timeRange(params);
  const body = resources.length ? await comparison(resources, metric, period, r)
    : html`<p class="muted">name two or more hosts as region/host, separated by commas</p>`;
  return html`<h1>Compare hosts</h1>
  <form class="inline" id="compare-form" data-form="go" data-to="compare">
    <label>Hosts<input name="resources" size="40" value="${resources.join(',')}"></label>
    <label>Metric<select name="metric">${Object.entries(METRICS).map(([k, v]) =>
      html`<option value="${k}"${k === metric ? ' selected' : ''}>${v.label}</option>`)}</select></label>
    <label>Report period<input name="period" value="${period}"></label>
    ${r.key === 'custom' ? '' : html`<input type="hidden" name="range" value="${r.key}">`}<button>Compare</button></form>
    ${resources.length ? rangePicker(r) : ''}${body}`;
}
