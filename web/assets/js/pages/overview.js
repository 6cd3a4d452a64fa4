// The overview: the enterprise's services, regions and open events; on a regional console,
// the region, its hosts and its open events.
import { api, regional, scope } from '../api.js';
import { html, join } from '../html.js';
import { badge, resourceLink } from '../format.js';
import { eventTable } from '../events-table.js';

// The regions of an overview, with their members, resources and open events.
function regionTable(o) {
  return html`<div class="table-wrap"><table id="regions"><thead><tr><th>Region</th><th>Sub-managers</th>
    <th>Resources</th><th>Up</th><th>Down</th><th>Warning</th><th>Critical</th><th>Acknowledged</th></tr></thead><tbody>
  ${o.regions.map((r) => html`<tr><td>${r.name}</td>
    <td>${join(r.sub_managers.map((s) => html`<span class="${s.healthy ? 'up' : 'down'}">${s.id}</span>`), ', ')}</td>
    <td>${r.resources.total}</td><td class="up">${r.resources.up}</td><td class="down">${r.resources.down}</td>
    <td class="warning">${r.events.warning}</td><td class="critical">${r.events.critical}</td>
    <td class="acked">${r.events.acknowledged ?? 0}</td></tr>`)}
  </tbody></table></div>`;
}

async function region(o, events) {
  const resources = await api('/api/v1/resources');
  return html`<h1>Region ${scope.region}</h1>
    <p class="muted">The regional console of sub-manager ${scope.member}: this region alone, even with the centre unreachable.</p>
    ${regionTable(o)}
    <h2>Hosts</h2><div class="table-wrap"><table id="hosts"><thead><tr><th>Host</th><th>State</th><th>Severity</th><th>Why</th></tr></thead><tbody>
    ${resources.map((r) => html`<tr><td>${resourceLink(r.id)}</td><td class="${r.state}">${r.state}</td>
      <td class="${r.severity}">${r.severity}</td><td>${r.reason}</td></tr>`)}</tbody></table></div>
    <h2>Active events</h2>${eventTable(events, { ack: true })}`;
}

export async function render() {
  const [o, services, events] = await Promise.all([
    api('/api/v1/overview'), api('/api/v1/services'), api('/api/v1/events')]);
  if (regional()) return region(o, events);
  return html`<h1>Enterprise overview</h1>
  <div class="grid">
    ${['ok', 'degraded', 'down', 'unknown'].map((h) => html`<div class="card"><div class="figure ${h}">
      ${services.filter((s) => s.health === h).length}</div><div class="label">services ${h}</div></div>`)}
  </div>
  <h2>Services</h2><div class="table-wrap"><table id="services"><thead><tr><th>Service</th><th>Health</th><th>Why</th></tr></thead><tbody>
  ${services.map((s) => html`<tr><td><a href="#/service/${encodeURIComponent(s.name)}">${s.name}</a></td>
    <td>${badge(s.health)}</td><td>${s.reason}</td></tr>`)}</tbody></table></div>
  <h2>Regions</h2>${regionTable(o)}
  <h2>Active events</h2>${eventTable(events)}`;
}
