// A line chart of one or more series of [t_ms, value] as an SVG, sized to its box (`width`
// is its drawing width: smaller for a chart in half a page, so that its text stays legible),
// with the series named under it.
import { html, join } from './html.js';
import { num } from './format.js';

const COLORS = ['#2456c9', '#c42b1c', '#18794e', '#a35200', '#7c3aed', '#0891b2'];

export function chart(series, { height = 200, unit = '', width = 1200 } = {}) {
  const all = series.flatMap((s) => s.points);
  if (!all.length) return html`<p class="muted">no data in this period</p>`;
  const w = width, h = height, pad = 84;
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || x0 + 1;
  const y1 = Math.max(...ys, 0) * 1.1 || 1;
  const X = (t) => pad + ((t - x0) / (x1 - x0 || 1)) * (w - pad - 8);
  const Y = (v) => h - 18 - (v / y1) * (h - 28);
  const xy = (p) => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`;
  const color = (i) => COLORS[i % COLORS.length];
  // a series of one point is a dot (a line needs two)
  const lines = series.map((s, i) => s.points.length === 1
    ? html`<circle cx="${X(s.points[0][0]).toFixed(1)}" cy="${Y(s.points[0][1]).toFixed(1)}" r="3" fill="${color(i)}"/>`
    : html`<polyline fill="none" stroke="${color(i)}"
      stroke-width="1.6" points="${s.points.map(xy).join(' ')}"/>`);
  const legend = series.map((s, i) => html`<span style="color:${color(i)}">● ${s.name}</span>`);
  return html`<svg class="chart" viewBox="0 0 ${w} ${h}" width="100%" role="img">
    <line x1="${pad}" y1="${h - 18}" x2="${w}" y2="${h - 18}" stroke="#e3e6ec"/>
    <text x="2" y="${Y(y1 / 1.1) + 4}">${num(y1 / 1.1, 1)}${unit}</text><text x="2" y="${h - 18}">0</text>
    <text x="${pad}" y="${h - 4}">${new Date(x0).toLocaleTimeString()}</text>
    <text x="${w - 90}" y="${h - 4}">${new Date(x1).toLocaleTimeString()}</text>
    ${lines}</svg><div class="legend">${join(legend, ' ')}</div>`;
}
