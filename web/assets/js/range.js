// The time range a page shows, kept in the URL (`range=6h`, or `from` and `to` in ms for a
// custom range or a zoom), the picker that changes it, and the queries it makes: PromQL
// through the Prometheus HTTP API's `query_range`, with the step chosen from the chart's
// width.
import { api } from './api.js';
import { html } from './html.js';
import { onZoom } from './plot.js';
import { onSubmit } from './actions.js';

// The ranges offered, by name, in ms.
export const RANGES = { '15m': 9e5, '1h': 36e5, '6h': 216e5, '24h': 864e5, '7d': 6048e5, '30d': 2592e6 };

// The range of `params`: `{ from, to, key }` (key: a name of RANGES, or 'custom').
export function timeRange(params, fallback = '1h') {
  const from = Number(params.get('from')), to = Number(params.get('to'));
  if (from > 0 && to > from) return { from, to, key: 'custom' };
  const key = Object.hasOwn(RANGES, params.get('range')) ? params.get('range') : fallback;
  const now = Date.now();
  return { from: now - RANGES[key], to: now, key };
}

// The hash of the page in view with `changes` made to its query (null removes a field).
function withParams(changes) {
  const [path, qs] = location.hash.slice(1).split('?');
  const p = new URLSearchParams(qs || '');
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) p.delete(k); else p.set(k, v);
  }
  return `#${path || '/'}?${p}`;
}

// Dragging across a chart shows that span.
onZoom((from, to) => { location.hash = withParams({ from, to, range: null }); });

// A custom range typed into the picker.
onSubmit('range', (form) => {
  const f = Date.parse(form.elements.from.value), t = Date.parse(form.elements.to.value);
  if (f > 0 && t > f) location.hash = withParams({ from: f, to: t, range: null });
});

// `datetime-local`'s value for `ms`, in local time.
const local = (ms) => new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 16);

// The picker: a link per range, the custom range's fields.
export function rangePicker(r) {
  const links = Object.keys(RANGES).map((k) => html`<a class="range${k === r.key ? ' active' : ''}"
    data-range="${k}" href="${withParams({ range: k, from: null, to: null })}">${k}</a>`);
  return html`<form class="inline range-picker" data-form="range">${links}
    <label>from<input type="datetime-local" name="from" value="${local(r.from)}"></label>
    <label>to<input type="datetime-local" name="to" value="${local(r.to)}"></label>
    <button>Show</button>${r.key === 'custom' ? html` <span class="muted">zoomed: pick a range to leave</span>` : ''}</form>`;
}

// A step (ms) giving about one point per two pixels of a chart `width` px wide, at least
// 5 s, rounded to whole seconds.
export function stepFor(r, width = 1000) {
  return Math.max(5000, Math.ceil((r.to - r.from) / Math.max(100, width / 2) / 1000) * 1000);
}

// The width a chart will have: the main area's (a half-width card is about half of it).
export const chartWidth = (half = false) => {
  const w = document.querySelector('#main')?.clientWidth || 1200;
  return half ? w / 2 : w;
};

// The window of a `rate()` at this step: at least four samples of a 15 s interval.
export const rateWindow = (step) => `${Math.max(60, Math.round((2 * step) / 1000))}s`;

// `query` over `r` at `step`: `[{ labels, points: [[ms, value]] }]`; an error is thrown with
// Prometheus's message.
export async function queryRange(query, r, step) {
  const q = new URLSearchParams({ query, start: r.from / 1000, end: r.to / 1000, step: step / 1000 });
  const body = await api('/api/v1/query_range', {
    method: 'POST', body: q, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  return body.data.result.map((s) => ({
    labels: s.metric, points: s.values.map(([t, v]) => [t * 1000, Number(v)]) }));
}

// A series' name for a legend: `__name__{a="b",...}` without what every series shares.
export function seriesName(labels, shared = {}) {
  const rest = Object.entries(labels).filter(([k, v]) => k !== '__name__' && shared[k] !== v)
    .map(([k, v]) => `${k}="${v}"`).join(', ');
  return `${labels.__name__ || ''}${rest ? `{${rest}}` : ''}` || '{}';
}
