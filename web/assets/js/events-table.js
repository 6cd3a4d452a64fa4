// Incidents as a table, and their acknowledgement: open ones not yet acknowledged get a
// button (when `ack`), which acknowledges in the name of whoever is logged in.
import { api, session } from './api.js';
import { onClick } from './actions.js';
import { html, join } from './html.js';
import { resourceLink, time } from './format.js';

function state(e, ack) {
  if (e.resolved_ms) return `resolved ${time(e.resolved_ms)}`;
  if (e.acknowledged_ms) {
    return html`<span class="acked">acknowledged by ${e.acknowledged_by}</span>${e.ack_comment
      ? html` <span class="muted">“${e.ack_comment}”</span>` : ''}`;
  }
  return ack
    ? html`<button class="ack" data-action="ack" data-resource="${e.resource_id}" data-rule="${e.rule}">Acknowledge</button>`
    : 'open';
}

// What else is known of an incident: its changes of severity, flapping, silences, actions run.
const notes = (e) => join([
  (e.changes || []).length > 1 ? html`<span class="muted">${join(e.changes.map((c) => c[1]), ' → ')}</span>` : '',
  e.flapping ? html`<span class="tag">flapping</span>` : '',
  (e.silenced_by || []).length ? html`<span class="tag">silenced: ${e.silenced_by.join(', ')}</span>` : '',
  ...(e.actions || []).map((a) => html`<span class="tag ${a.ok ? 'ok' : 'critical'}">${a.ok ? '✓' : '✗'} ${a.action}</span>`),
].filter((n) => String(n)), ' ');

export function eventTable(events, { ack = false } = {}) {
  if (!events.length) return html`<p class="muted">no event</p>`;
  return html`<div class="table-wrap"><table class="events"><thead><tr><th>Severity</th><th>Resource</th><th>Rule</th>
    <th>Message</th><th>Opened</th><th>State</th></tr></thead><tbody>
    ${events.map((e) => html`<tr data-rule="${e.rule}" data-resource="${e.resource_id}"><td class="${e.severity}">${e.severity}</td>
      <td>${resourceLink(e.resource_id)}</td><td>${e.rule}</td><td>${e.message} ${notes(e)}</td>
      <td>${time(e.opened_ms)}</td><td class="state">${state(e, ack)}</td></tr>`)}
    </tbody></table></div>`;
}

// Acknowledges the incident of a button; the server signs it with the session's name.
onClick('ack', async (button) => {
  button.disabled = true;
  try {
    await api('/api/v1/events/ack', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resource_id: button.dataset.resource, rule: button.dataset.rule }),
    });
    button.outerHTML = String(html`<span class="acked">acknowledged by ${session.name}</span>`);
  } catch (e) {
    button.disabled = false;
    button.insertAdjacentHTML('afterend', String(html` <span class="critical">${e.message}</span>`));
  }
});
