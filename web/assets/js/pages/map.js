// The service map: a layered graph layout of Strata's own (no library to vendor). Services
// sit in columns by dependency depth (what needs nothing on the right), each column ordered
// to put a service near those it is joined to (barycentre sweeps, the heuristic of Sugiyama's
// method), which removes most edge crossings; a column taller than MAX_ROWS wraps into
// several, so that two hundred services still read; edges are curves to what a service needs.
import { api } from '../api.js';
import { html } from '../html.js';

const COLOR = { ok: '#18794e', degraded: '#a35200', down: '#c42b1c', unknown: '#6b7280' };
const colW = 210, rowH = 50, nodeW = 170, nodeH = 38, MAX_ROWS = 18, SWEEPS = 8;

// Each service's layer: 0 for what needs nothing, else one more than the deepest it needs.
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

// The crossings of the edges between each pair of neighbouring layers, for `order` (each
// name's index in its layer) and `layer` (each name's layer).
export function crossings(edges, layer, order) {
  let n = 0;
  const between = new Map();
  for (const [a, b] of edges) {
    const [l, r] = layer.get(a) > layer.get(b) ? [a, b] : [b, a];
    const key = layer.get(l);
    if (layer.get(l) - layer.get(r) !== 1) continue; // a long edge is not counted
    (between.get(key) || between.set(key, []).get(key)).push([order.get(l), order.get(r)]);
  }
  for (const list of between.values()) {
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const [a, b] = list[i], [c, d] = list[j];
        if ((a - c) * (b - d) < 0) n++;
      }
    }
  }
  return n;
}

// Orders each layer by the mean position of its neighbours in the layer swept from, back
// and forth; keeps the best order seen.
function order(layers, edges, layer) {
  const neighbours = new Map();
  for (const [a, b] of edges) {
    (neighbours.get(a) || neighbours.set(a, []).get(a)).push(b);
    (neighbours.get(b) || neighbours.set(b, []).get(b)).push(a);
  }
  const index = (ls) => new Map(ls.flatMap((names) => names.map((n, i) => [n, i])));
  let pos = index(layers);
  let best = { layers: layers.map((l) => [...l]), crossings: crossings(edges, layer, pos) };
  for (let sweep = 0; sweep < SWEEPS; sweep++) {
    const down = sweep % 2 === 0;
    const seq = down ? layers.map((_, i) => i) : layers.map((_, i) => layers.length - 1 - i);
    for (const l of seq.slice(1)) {
      const from = down ? l - 1 : l + 1;
      const centre = (n) => {
        const near = (neighbours.get(n) || []).filter((m) => layer.get(m) === from);
        return near.length ? near.reduce((s, m) => s + pos.get(m), 0) / near.length : pos.get(n);
      };
      const keyed = layers[l].map((n) => [centre(n), pos.get(n), n]);
      keyed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      layers[l] = keyed.map((k) => k[2]);
      layers[l].forEach((n, i) => pos.set(n, i));
    }
    const c = crossings(edges, layer, pos);
    if (c < best.crossings) best = { layers: layers.map((x) => [...x]), crossings: c };
  }
  return best;
}

// Where each service goes: `{ pos, edges, width, height, crossings, unordered }` (the
// crossings between neighbouring columns after ordering, and before).
export function layout(services) {
  const depth = depths(services);
  const names = new Set(services.map((s) => s.name));
  const edges = services.flatMap((s) => (s.depends_on || []).filter((d) => names.has(d)).map((d) => [s.name, d]));
  const layerCount = 1 + Math.max(0, ...depth.values());
  const layers = Array.from({ length: layerCount }, () => []);
  services.forEach((s) => layers[depth.get(s.name)].push(s.name));
  const unordered = crossings(edges, depth, new Map(layers.flatMap((l) => l.map((n, i) => [n, i]))));
  const best = order(layers, edges, depth);
  // columns from the deepest layer (left) to what needs nothing (right), tall ones wrapped
  const pos = new Map();
  let col = 0, rows = 1;
  for (let l = layerCount - 1; l >= 0; l--) {
    const column = best.layers[l];
    const wraps = Math.max(1, Math.ceil(column.length / MAX_ROWS));
    const per = Math.ceil(column.length / wraps);
    rows = Math.max(rows, per);
    column.forEach((n, i) => pos.set(n, [20 + (col + Math.floor(i / per)) * colW, 20 + (i % per) * rowH]));
    col += wraps;
  }
  return { pos, edges, width: 40 + col * colW, height: 40 + rows * rowH, crossings: best.crossings, unordered };
}

export async function render() {
  const services = await api('/api/v1/services');
  const { pos, edges, width, height, crossings: crossed, unordered } = layout(services);
  const edgeMarks = edges.map(([from, to]) => {
    const [x1, y1] = pos.get(from), [x2, y2] = pos.get(to);
    const [ax, ay, bx, by] = [x1 + nodeW, y1 + nodeH / 2, x2, y2 + nodeH / 2];
    const bend = Math.max(30, (bx - ax) / 2);
    return html`<path d="M${ax},${ay} C${ax + bend},${ay} ${bx - bend},${by} ${bx},${by}" fill="none"
      stroke="#9aa3b2" marker-end="url(#arrow)"/>`;
  });
  const nodes = services.map((s) => {
    const [x, y] = pos.get(s.name);
    const label = s.name.length > 22 ? `${s.name.slice(0, 21)}…` : s.name;
    return html`<a href="#/service/${encodeURIComponent(s.name)}" class="node" data-service="${s.name}">
      <title>${s.name}: ${s.health}</title>
      <rect x="${x}" y="${y}" width="${nodeW}" height="${nodeH}" rx="6" fill="#fff" stroke="${COLOR[s.health]}" stroke-width="2.5"/>
      <text x="${x + 10}" y="${y + 16}" style="font-weight:600">${label}</text>
      <text x="${x + 10}" y="${y + 31}" style="fill:${COLOR[s.health]}">${s.health}</text></a>`;
  });
  return html`<h1>Service map</h1><p class="muted">Each service points to the services it needs; colour is health. Click to drill down.
    ${services.length} services, ${edges.length} dependencies.</p>
    <div class="card table-wrap"><svg id="map" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}"
      data-crossings="${crossed}" data-crossings-unordered="${unordered}">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto">
    <path d="M0,0 L10,5 L0,10 z" fill="#9aa3b2"/></marker></defs>${edgeMarks}${nodes}</svg></div>`;
}
