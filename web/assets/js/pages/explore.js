// Explore: any PromQL expression charted over the range picked (the Prometheus HTTP API's
// `query_range`, the step chosen from the chart's width), its series listed with their last
// values. The expression is kept in the URL, so a chart can be shared as a link.
import { html } from '../html.js';
import { plot, short } from '../plot.js';
import { chartWidth, queryRange, rangePicker, seriesName, stepFor, timeRange } from '../range.js';
import { onSubmit } from '../actions.js';

// Not drawn again on every live update: the expression being typed would be lost.
export const live = false;

// The form keeps the range in view.
onSubmit('explore', (form) => {
  const p = new URLSearchParams(location.hash.split('?')[1] || '');
  p.set('query', form.elements.query.value);
  location.hash = `#/explore?${p}`;
});

// Labels every series of `series` shares (left out of their names).
function shared(series) {
  if (!series.length) return {};
  return Object.fromEntries(Object.entries(series[0].labels)
    .filter(([k, v]) => series.every((s) => s.labels[k] === v)));
}

async function result(query, r) {
  const step = stepFor(r, chartWidth());
  let series;
  try {
    series = await queryRange(query, r, step);
  } catch (e) {
    return html`<p class="critical" id="explore-error">${e.message}</p>`;
  }
  const common = series.length > 1 ? shared(series) : {};
  const named = series.map((s) => ({ name: seriesName(s.labels, common), points: s.points }));
  return html`<div class="card" id="explore-chart">${plot(named.slice(0, 40), { step, from: r.from, to: r.to })}</div>
    <p class="muted" id="explore-summary">${series.length} series${series.length > 40 ? ', the first 40 drawn' : ''},
    a point every ${step / 1000} s${Object.keys(common).length ? html`; every series has ${seriesName(common)}` : ''}</p>
    <div class="table-wrap"><table id="explore-series"><thead><tr><th>Series</th><th>Last value</th></tr></thead><tbody>
    ${named.map((s) => html`<tr><td>${s.name}</td><td>${s.points.length ? short(s.points[s.points.length - 1][1]) : '—'}</td></tr>`)}
    </tbody></table></div>`;
}

export async function render(_, params) {
  const query = params.get('query') || '';
  const r = timeRange(params);
  return html`<h1>Explore</h1>
  <form id="explore-form" data-form="explore"><textarea name="query" rows="3"
    placeholder="PromQL, e.g. rate(host_network_receive_bytes_total[5m])">${query}</textarea>
  <p><button>Run</button> <span class="muted">PromQL, as Prometheus evaluates it; node_exporter's names
  work too (<code>node_load1</code>)</span></p></form>
  ${rangePicker(r)}
  ${query ? await result(query, r) : html`<p class="muted">type an expression and run it</p>`}`;
}
