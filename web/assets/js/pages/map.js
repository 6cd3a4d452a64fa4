// The service map: services in columns by dependency depth, edges to what they need.
import { api } from '../api.js';
import { html } from '../html.js';

const COLOR = { ok: '#18794e', degraded: '#a35200', down: '#c42b1c', unknown: '#6b7280' };
const colW = 200, rowH = 56, nodeW = 170, nodeH = 38;

// Each service's column: 0 for what needs nothing, else one more than the deepest it needs.
function depths(services) {
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
  return depth;
}

export async function render() {
  const services = await api('/api/v1/services');
  const depth = depths(services);
  const columns = [];
  services.forEach((s) => { const d = depth.get(s.name); (columns[d] = columns[d] || []).push(s); });
  const pos = new Map();
  columns.forEach((col, c) => col.forEach((s, r) => pos.set(s.name, [20 + (columns.length - 1 - c) * colW, 20 + r * rowH])));
  const width = 40 + columns.length * colW, height = 40 + Math.max(1, ...columns.map((c) => c.length)) * rowH;
  const edges = services.flatMap((s) => (s.depends_on || []).filter((d) => pos.has(d)).map((d) => {
    const [x1, y1] = pos.get(s.name), [x2, y2] = pos.get(d);
    return html`<line x1="${x1 + nodeW}" y1="${y1 + nodeH / 2}" x2="${x2}" y2="${y2 + nodeH / 2}" stroke="#9aa3b2" marker-end="url(#arrow)"/>`;
  }));
  const nodes = services.map((s) => {
    const [x, y] = pos.get(s.name);
    return html`<a href="#/service/${encodeURIComponent(s.name)}" class="node" data-service="${s.name}">
      <rect x="${x}" y="${y}" width="${nodeW}" height="${nodeH}" rx="6" fill="#fff" stroke="${COLOR[s.health]}" stroke-width="2.5"/>
      <text x="${x + 10}" y="${y + 16}" style="font-weight:600">${s.name}</text>
      <text x="${x + 10}" y="${y + 31}" style="fill:${COLOR[s.health]}">${s.health}</text></a>`;
  });
  return html`<h1>Service map</h1><p class="muted">Each service points to the services it needs; colour is health. Click to drill down.</p>
    <div class="card table-wrap"><svg id="map" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto">
    <path d="M0,0 L10,5 L0,10 z" fill="#9aa3b2"/></marker></defs>${edges}${nodes}</svg></div>`;
}
