// Time-series charts on a canvas, Strata's own (no library to vendor or build): lines broken
// where samples are missing, values of every series under the cursor, zoom by dragging
// across a time span (the page's range then becomes that span, kept in the URL), axes with
// round ticks. A page writes `plot(series, options)` into its markup; the router calls
// `drawPlots(root)` once the markup is in the document.
import { html } from './html.js';

const COLORS = ['#2456c9', '#c42b1c', '#18794e', '#a35200', '#7c3aed', '#0891b2', '#be185d', '#4d7c0f'];
const PAD = { left: 64, right: 12, top: 10, bottom: 24 };

// Charts written but not drawn yet, by id.
const pending = new Map();
let nextId = 0;

// `onZoom(from_ms, to_ms)` for every chart: set once by the page that owns the range.
let zoomTo = null;
export const onZoom = (fn) => { zoomTo = fn; };

// A chart of `series` ([{ name, points: [[t_ms, value], ...] }]): `unit` after values,
// `step` (ms) between points (a longer gap is drawn as a gap), `from`/`to` (ms) for the axis.
export function plot(series, { height = 220, unit = '', step = 0, from, to } = {}) {
  const id = `plot-${++nextId}`;
  const points = series.reduce((n, s) => n + s.points.length, 0);
  if (!points) return html`<p class="muted">no data in this period</p>`;
  pending.set(id, { series, unit, step, from, to, height });
  const legend = series.map((s, i) => html`<span style="color:${COLORS[i % COLORS.length]}">● ${s.name}</span>`);
  return html`<div class="plot" id="${id}" data-series="${series.length}" data-points="${points}">
    <canvas height="${height}" role="img" aria-label="chart of ${series.length} series"></canvas>
    <div class="plot-tip" hidden></div><div class="plot-drag" hidden></div>
    <div class="legend">${legend}</div></div>`;
}

// A round step for ticks over `span` aiming at about `n` of them.
function niceStep(span, n) {
  const raw = span / n, mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || mag * 10;
}

const TIME_STEPS = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 10800, 21600, 43200, 86400, 604800].map((s) => s * 1000);

// A value as the axis and the cursor write it (k, M, G for large ones).
export function short(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(a >= 100 ? 0 : a >= 1 ? 2 : 4)}`;
}

const timeLabel = (t, span) => {
  const d = new Date(t);
  if (span > 3 * 86400000) return d.toLocaleDateString([], { month: 'short', day: 'numeric' });
  const hm = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: span < 600000 ? '2-digit' : undefined });
  return span > 86400000 ? `${d.toLocaleDateString([], { day: 'numeric', month: 'short' })} ${hm}` : hm;
};

// The scales of a chart `w` × `h` pixels over its data.
function scales(c, w, h) {
  // (loops, not spreads: a chart may hold tens of thousands of points)
  let t0 = Infinity, t1 = -Infinity, y0 = 0, y1 = 0;
  for (const s of c.series) {
    for (const [t, v] of s.points) {
      if (t < t0) t0 = t;
      if (t > t1) t1 = t;
      if (Number.isFinite(v)) { if (v < y0) y0 = v; if (v > y1) y1 = v; }
    }
  }
  const x0 = c.from ?? t0, x1 = Math.max(c.to ?? t1, x0 + 1);
  if (y1 === y0) y1 = y0 + 1;
  const yStep = niceStep(y1 - y0, 4);
  y0 = Math.floor(y0 / yStep) * yStep;
  y1 = Math.ceil(y1 / yStep) * yStep;
  const X = (t) => PAD.left + ((t - x0) / (x1 - x0)) * (w - PAD.left - PAD.right);
  const Y = (v) => h - PAD.bottom - ((v - y0) / (y1 - y0)) * (h - PAD.top - PAD.bottom);
  const T = (px) => x0 + ((px - PAD.left) / (w - PAD.left - PAD.right)) * (x1 - x0);
  return { x0, x1, y0, y1, yStep, X, Y, T };
}

function draw(el, c) {
  const canvas = el.querySelector('canvas');
  const w = Math.max(200, el.clientWidth), h = c.height, dpr = window.devicePixelRatio || 1;
  canvas.width = w * dpr;
  canvas.height = h * dpr;
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  const g = canvas.getContext('2d');
  g.scale(dpr, dpr);
  const s = scales(c, w, h);
  g.font = '11px system-ui, sans-serif';
  g.strokeStyle = '#e3e6ec';
  g.fillStyle = '#6b7280';
  g.lineWidth = 1;
  for (let v = s.y0; v <= s.y1 + s.yStep / 2; v += s.yStep) {
    const y = Math.round(s.Y(v)) + 0.5;
    g.beginPath(); g.moveTo(PAD.left, y); g.lineTo(w - PAD.right, y); g.stroke();
    g.fillText(`${short(v)}${c.unit}`, 4, y + 4);
  }
  const span = s.x1 - s.x0;
  const tStep = TIME_STEPS.find((t) => span / t <= Math.max(2, (w - PAD.left) / 110)) || 2592000000;
  const offset = new Date().getTimezoneOffset() * 60000;
  for (let t = Math.ceil((s.x0 - offset) / tStep) * tStep + offset; t <= s.x1; t += tStep) {
    const x = Math.round(s.X(t)) + 0.5;
    g.beginPath(); g.moveTo(x, PAD.top); g.lineTo(x, h - PAD.bottom); g.stroke();
    g.fillText(timeLabel(t, span), x - 20, h - 6);
  }
  // lines, broken where the next point is further than 1.5 steps away (or not a number)
  const gap = c.step ? c.step * 1.5 : Infinity;
  c.series.forEach((ser, i) => {
    g.strokeStyle = COLORS[i % COLORS.length];
    g.fillStyle = g.strokeStyle;
    g.lineWidth = 1.6;
    g.beginPath();
    let prev = null;
    for (const [t, v] of ser.points) {
      if (!Number.isFinite(v)) { prev = null; continue; }
      const x = s.X(t), y = s.Y(v);
      if (prev === null || t - prev > gap) g.moveTo(x, y); else g.lineTo(x, y);
      prev = t;
    }
    g.stroke();
    if (ser.points.length === 1) { g.beginPath(); g.arc(s.X(ser.points[0][0]), s.Y(ser.points[0][1]), 3, 0, 7); g.fill(); }
  });
  el.scales = s;
}

// The value of each series nearest `t` (within a step, or 8 pixels when that is wider), for
// the cursor; `perPixel` is the time one pixel spans.
function valuesAt(c, t, perPixel) {
  const within = c.step ? Math.max(c.step, 8 * perPixel) : Infinity;
  return c.series.map((ser, i) => {
    let best = null;
    for (const p of ser.points) if (best === null || Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
    return best && Math.abs(best[0] - t) <= within ? { i, name: ser.name, t: best[0], v: best[1] } : null;
  }).filter(Boolean);
}

function follow(el, c) {
  const canvas = el.querySelector('canvas'), tip = el.querySelector('.plot-tip'), drag = el.querySelector('.plot-drag');
  let start = null;
  const xOf = (e) => e.clientX - canvas.getBoundingClientRect().left;
  canvas.addEventListener('mousemove', (e) => {
    const x = xOf(e), t = el.scales.T(x);
    const found = valuesAt(c, t, el.scales.T(x + 1) - t);
    if (start !== null) {
      drag.hidden = false;
      drag.style.left = `${Math.min(start, x)}px`;
      drag.style.width = `${Math.abs(x - start)}px`;
    }
    if (!found.length) { tip.hidden = true; return; }
    tip.hidden = false;
    tip.replaceChildren();
    const head = document.createElement('div');
    head.textContent = new Date(found[0].t).toLocaleString();
    tip.append(head);
    for (const f of found) {
      const row = document.createElement('div');
      row.style.color = COLORS[f.i % COLORS.length];
      row.textContent = `${f.name}: ${short(f.v)}${c.unit}`;
      tip.append(row);
    }
    tip.style.left = `${Math.min(x + 12, el.clientWidth - tip.offsetWidth - 4)}px`;
  });
  canvas.addEventListener('mouseleave', () => { tip.hidden = true; start = null; drag.hidden = true; });
  canvas.addEventListener('mousedown', (e) => { start = xOf(e); e.preventDefault(); });
  canvas.addEventListener('mouseup', (e) => {
    if (start === null) return;
    const end = xOf(e);
    const [a, b] = [Math.min(start, end), Math.max(start, end)];
    start = null;
    drag.hidden = true;
    if (b - a >= 5 && zoomTo) zoomTo(Math.round(el.scales.T(a)), Math.round(el.scales.T(b)));
  });
}

// Draws the charts written into `root` since the last call.
export function drawPlots(root) {
  for (const el of root.querySelectorAll('.plot')) {
    const c = pending.get(el.id);
    if (!c) continue;
    pending.delete(el.id);
    draw(el, c);
    follow(el, c);
  }
  pending.clear();
}
