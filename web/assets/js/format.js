// Small formatters shared by the pages: times, numbers, counted nouns, health badges and
// links to a resource's page.
import { html } from './html.js';

export const time = (ms) => (ms ? new Date(ms).toLocaleString() : '—');
export const count = (n, what) => `${n} ${what}${n === 1 ? '' : 's'}`;
export const num = (v, d = 1) => (v === null || v === undefined ? '—' : Number(v).toFixed(d));
export const badge = (h) => html`<span class="badge ${h}">${h}</span>`;

// A resource's page: a service's (`services/NAME`) or a host's (`REGION/HOST`).
export function resourceLink(id) {
  if (id.startsWith('services/')) return html`<a href="#/service/${encodeURIComponent(id.slice(9))}">${id}</a>`;
  return html`<a href="#/resource/${id.split('/').map(encodeURIComponent).join('/')}">${id}</a>`;
}
