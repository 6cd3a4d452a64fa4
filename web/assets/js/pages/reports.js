// Reports: one kind over a period (for a service, or hosts), as a table and as CSV.
import { api } from '../api.js';
import { html } from '../html.js';
import { time } from '../format.js';

const KINDS = ['availability', 'performance', 'failure', 'operations', 'audit', 'comparison', 'capacity', 'recovery'];

// Not drawn again on every live update: a report is read, not watched.
export const live = false;

const cell = (v) => (typeof v === 'number' ? +v.toFixed(3) : v ?? '');

async function table(kind, query) {
  try {
    const t = await api(`/api/v1/reports/${kind}?${query}`);
    return html`<p class="muted">${time(t.from_ms)} to ${time(t.to_ms)} ·
      <a id="csv" href="/api/v1/reports/${kind}?${query}&format=csv">download CSV</a></p>
      <div class="table-wrap"><table id="report"><thead><tr>${t.columns.map((c) => html`<th>${c}</th>`)}</tr></thead><tbody>
      ${t.rows.map((r) => html`<tr>${t.columns.map((c) => html`<td>${cell(r[c])}</td>`)}</tr>`)}
      </tbody></table></div>`;
  } catch (e) {
    return html`<p class="critical">${e.message}</p>`;
  }
}

// The scheduled reports: when each is next due and what was last sent.
async function schedules() {
  try {
    const list = await api('/api/v1/reports/schedules');
    if (!list.length) return '';
    return html`<h2>Scheduled</h2><div class="table-wrap"><table id="schedules"><thead><tr>
      <th>schedule</th><th>report</th><th>every</th><th>at</th><th>next</th><th>last sent</th><th>receivers</th><th>error</th></tr></thead><tbody>
      ${list.map((s) => html`<tr><td>${s.name}</td><td>${s.report}</td><td>${s.every}</td><td>${s.at} ${s.time_zone}</td>
        <td>${time(s.next_due_ms)}</td><td>${s.last && s.last.sent_ms ? html`${time(s.last.sent_ms)}${s.last.late ? ' (late)' : ''}` : '—'}</td>
        <td>${s.receivers.join(', ')}</td><td class="${s.last && s.last.error ? 'critical' : ''}">${(s.last && s.last.error) || ''}</td></tr>`)}
      </tbody></table></div>`;
  } catch (e) {
    return html`<p class="critical">${e.message}</p>`;
  }
}

export async function render(_, params) {
  const kind = params.get('kind') || 'availability';
  const query = new URLSearchParams(params);
  query.delete('kind');
  if (!query.get('period')) query.set('period', 'month');
  for (const [k, v] of [...query]) if (!v) query.delete(k);
  const field = (name, label) => html`<label>${label}<input name="${name}" value="${query.get(name) || ''}"></label>`;
  return html`<h1>Reports</h1>
  <form class="inline" id="report-form" data-form="go" data-to="reports"><label>Kind<select name="kind">${KINDS.map((k) =>
    html`<option${k === kind ? ' selected' : ''}>${k}</option>`)}</select></label>
    ${field('period', 'Period (month, 2026-10, 7d…)')}${field('service', 'Service')}${field('resources', 'Resources (comparison, capacity)')}
    <button>Show</button></form>${await table(kind, query)}${await schedules()}`;
}
