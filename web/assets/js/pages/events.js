// Events: open (or also resolved) incidents, filtered by severity and text, acknowledged
// (by an operator or an admin) in the name of whoever is logged in.
import { api, can } from '../api.js';
import { html } from '../html.js';
import { eventTable } from '../events-table.js';

export async function render(_, params) {
  const resolved = params.get('include') === 'resolved';
  const severity = params.get('severity') || '';
  const text = (params.get('q') || '').toLowerCase();
  const all = await api(`/api/v1/events${resolved ? '?include=resolved' : ''}`);
  const events = all.filter((e) => (!severity || e.severity === severity)
    && (!text || `${e.resource_id} ${e.rule} ${e.message}`.toLowerCase().includes(text)));
  const q = new URLSearchParams(params);
  resolved ? q.delete('include') : q.set('include', 'resolved');
  return html`<h1>Events</h1>
  <form class="inline" id="events-form" data-form="go" data-to="events">
    <label>Severity<select name="severity"><option value="">any</option>${['critical', 'warning'].map((v) =>
      html`<option${v === severity ? ' selected' : ''}>${v}</option>`)}</select></label>
    <label>Search<input name="q" value="${params.get('q') || ''}" placeholder="host, rule, message"></label>
    ${resolved ? html`<input type="hidden" name="include" value="resolved">` : ''}
    <button>Filter</button>
  </form>
  <p><a href="#/events?${q}">${resolved ? 'open only' : 'with resolved'}</a> · ${events.length} of ${all.length}</p>
  ${eventTable(events, { ack: can('operate') })}`;
}
