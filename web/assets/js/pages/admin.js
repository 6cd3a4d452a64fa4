// Administration: per region, the alerting rules in force and the notification channels
// (both edited through the region's validated API), its agents and the notifications it
// sent; per host, a pushed configuration (items, intervals, checks and probes), validated by
// the agent; the remote-write destinations its members forward to. The editors' behaviour is
// in admin-forms.js.
import { api, regional } from '../api.js';
import { html, join } from '../html.js';
import { resourceLink, time } from '../format.js';
import { NOTIFY_EXAMPLE, channelsSummary } from './admin-forms.js';
import { section as access } from './admin-access.js';

// Not drawn again on every live update: the editors would lose what is being typed.
export const live = false;

const RULES_EXAMPLE = `[[rules]]
name = "swap-heavy"
metric = "host_swap_used_ratio"
warning = 0.5
critical = 0.8
for = "5m"
`;

const AGENT_EXAMPLE = `[items.processes]
interval = "30s"

[[checks]]
name = "home-page"
kind = "http"
url = "http://127.0.0.1/"
interval = "30s"
`;

const rulesEditor = (region, rules) => (rules.error ? html`<p class="critical">${rules.error}</p>` : html`<p class="muted">${rules.count} rules in force${rules.file ? html`, file ${rules.file}` : ''}.
    Saving replaces the rules defined through the API with the <code>[[rules]]</code> below (the built-in thresholds and the rules file stay); the region checks them all first.</p>
    <details class="card"><summary>in force</summary><pre>${rules.rules_toml}</pre></details>
    <form id="rules-form" class="card" data-form="rules" data-region="${region}"><textarea name="rules" rows="10" spellcheck="false">${RULES_EXAMPLE}</textarea><div><button>Check and save</button> <span id="rules-result"></span></div></form>`);

const channelsEditor = (region, channels) => (channels.error ? html`<p class="critical">${channels.error}</p>` : html`<p class="muted"><span id="channels-summary">${channelsSummary(channels)}</span> Saving replaces them all in every member of the region, which checks them first;
    secrets show as <code>&lt;hidden&gt;</code> and are kept when left so.</p>
    <form id="notify-form" class="card" data-form="notify" data-region="${region}"><textarea name="channels" rows="14" spellcheck="false">${channels.notify_toml}${channels.receivers ? '' : NOTIFY_EXAMPLE}</textarea>
    <div><button>Check and save</button>${channels.source === 'api' ? html` <button type="button" id="notify-file" data-action="notify-file">Use the config file's</button>` : ''}
    <span id="notify-result"></span></div></form>`);

// Each agent as the member reporting it last polled it (its buffer, what came), else as any
// of its pollers: looked up by id, so that a region of thousands of agents stays quick.
function agentsTable(resources, polled) {
  const byPoller = new Map(polled.map((a) => [`${a.agent_id}\n${a.member_id}`, a]));
  const byAgent = new Map(polled.map((a) => [a.agent_id, a]));
  const seen = (r) => byPoller.get(`${r.host}\n${r.owner}`) || byAgent.get(r.host);
  const buffer = (a) => {
    if (!a?.buffer) return html`<td class="muted">—</td><td class="muted">—</td>`;
    const b = a.buffer, full = b.capacity ? b.len / b.capacity : 0;
    return html`<td class="buffer ${full > 0.5 ? 'warning' : ''}">${b.len} / ${b.capacity}</td>
      <td class="${b.dropped_total ? 'critical' : ''}">${b.dropped_total}</td>`;
  };
  // from the collection of the last poll's oldest sample to its storage: past the poll
  // interval, the member is not keeping up (strata_sub_manager_polls_late_total counts it)
  const lag = (a) => (a?.polled_ms ? html`<td class="lag ${a.lag_ms > a.poll_interval_ms ? 'warning' : ''}">${(a.lag_ms / 1000).toFixed(1)} s</td>`
    : html`<td class="muted">—</td>`);
  // what the limits left out: series the region does not store (per-agent series, label
  // and hourly limits) and new series the agent refused itself (its max_series); docs/limits.md
  const limited = (a) => {
    if (!a?.polled_ms) return html`<td class="muted">—</td>`;
    const parts = [[a.series_over_limit, 'over the series limit'], [a.series_over_label_limit, 'over the label limit'],
      [a.series_over_hourly_limit, 'over the hourly limit'],
      [a.buffer?.series_refused_total || 0, 'refused by the agent']].filter(([n]) => n > 0);
    return parts.length ? html`<td class="limits critical" title="${a.samples_dropped_total} samples not stored">${join(parts.map(([n, why]) => `${n} ${why}`), html`<br>`)}</td>`
      : html`<td class="limits">none</td>`;
  };
  return html`<div class="table-wrap"><table id="agents"><thead><tr><th>Host</th><th>State</th><th>Severity</th>
    <th>Last poll</th><th>Polled by</th><th>Lag</th><th>Buffer</th><th>Dropped</th><th>Samples, last poll</th><th>Series</th><th>Over limits</th><th>Why</th></tr></thead><tbody>
    ${resources.map((r) => { const a = seen(r); return html`<tr data-host="${r.host}"><td>${resourceLink(r.id)}</td><td class="${r.state}">${r.state}</td>
      <td class="${r.severity}">${r.severity}</td><td>${time(r.last_poll_ms)}</td>
      <td>${(a?.pollers?.length ? a.pollers : [r.owner]).join(', ')}</td>${lag(a)}${buffer(a)}
      <td>${a?.polled_ms ? a.samples : '—'}</td><td>${a?.polled_ms ? a.series : '—'}</td>${limited(a)}<td>${r.reason}</td></tr>`; })}</tbody></table></div>`;
}

const agentEditor = (region, resources) => html`<form id="agent-form" class="card" data-form="agent" data-region="${region}"><label>Host <select name="host">${resources.map((r) =>
    html`<option>${r.host}</option>`)}</select></label>
    <p class="muted">Items and their intervals, checks and probes, pushed over the agent's local file (actions stay local). The agent validates everything before applying anything.</p>
    <textarea name="config" rows="8" spellcheck="false">${AGENT_EXAMPLE}</textarea><div><button>Validate and apply</button> <span id="agent-result"></span></div></form>`;

const sentTable = (sent) => (sent.error ? html`<p class="critical">${sent.error}</p>` : !sent.length ? html`<p class="muted">none yet</p>` :
  html`<div class="table-wrap"><table id="notifications"><thead><tr><th>When</th><th>Receiver</th><th>Kind</th><th>Reason</th>
    <th>Status</th><th>Attempts</th><th>Events</th><th>Last error</th></tr></thead><tbody>
    ${sent.map((n) => html`<tr><td>${time(n.created_ms)}</td><td>${n.receiver}</td><td>${n.kind}</td><td>${n.reason}</td>
      <td class="${n.status === 'sent' ? 'ok' : n.status === 'failed' ? 'critical' : 'warning'}">${n.status}</td>
      <td>${n.attempts}</td><td>${join(n.events, html`<br>`)}</td><td>${n.last_error}</td></tr>`)}
    </tbody></table></div>`);

// Remote write out: what each destination received from each member, is behind by and lost.
const forwardingTable = (f) => (f.error ? html`<p class="critical">${f.error}</p>` :
  !f.length ? html`<p class="muted">no [[remote_write]] destination configured</p>` :
    html`<div class="table-wrap"><table id="forwarding"><thead><tr><th>Destination</th><th>Member</th><th>URL</th><th>Sent</th><th>Lag</th>
    <th>Pending writes</th><th>Failed requests</th><th>Retried</th><th>Dropped</th><th>Filtered</th><th>Last success</th></tr></thead><tbody>
    ${f.map((d) => html`<tr><td>${d.name}</td><td>${d.member_id}</td><td>${d.url}</td><td>${d.sent}</td>
      <td class="${d.lag_seconds > 60 ? 'warning' : ''}">${d.lag_seconds.toFixed(1)} s</td><td>${d.pending_records}</td>
      <td class="${d.failed ? 'warning' : ''}">${d.failed}</td><td>${d.retried}</td>
      <td class="${d.dropped ? 'critical' : ''}">${d.dropped}</td><td>${d.filtered}</td><td>${time(d.last_success_ms)}</td></tr>`)}
    </tbody></table></div>`);

export async function render(_, params) {
  const o = await api('/api/v1/overview');
  const regions = o.regions.map((r) => r.name);
  const region = regions.includes(params.get('region')) ? params.get('region') : regions[0];
  if (!region) return html`<h1>Administration</h1><p class="muted">no region yet</p>`;
  const enc = encodeURIComponent(region);
  const [rules, channels, sent, resources, polled, forwarding] = await Promise.all([
    api(`/api/v1/regions/${enc}/rules`).catch((e) => ({ error: e.message })),
    api(`/api/v1/regions/${enc}/notify`).catch((e) => ({ error: e.message })),
    api(`/api/v1/regions/${enc}/notifications?limit=50`).catch((e) => ({ error: e.message })),
    api(`/api/v1/resources?region=${enc}`).catch(() => []),
    api(`/api/v1/regions/${enc}/agents`).catch(() => []),
    api(`/api/v1/regions/${enc}/forwarding`).catch((e) => ({ error: e.message }))]);
  return html`<h1>Administration</h1>
  <p>${join(regions.map((r) => (r === region ? html`<b>${r}</b>` : html`<a href="#/admin?region=${encodeURIComponent(r)}">${r}</a>`)), ' · ')}</p>
  <h2>Alerting rules of ${region}</h2>
  ${rulesEditor(region, rules)}
  <h2>Notification channels of ${region}</h2>
  ${channelsEditor(region, channels)}
  <h2>Agents of ${region}</h2>
  <p class="muted">Buffer: samples the agent holds until its poller has stored them, of its capacity; dropped: samples lost to a full buffer since the agent started.</p>
  ${agentsTable(resources, polled)}
  <h2>Agent configuration</h2>
  ${agentEditor(region, resources)}
  <h2>Notifications sent by ${region}</h2>
  ${sentTable(sent)}
  <h2>Remote write from ${region}</h2>
  ${forwardingTable(forwarding)}
  ${regional() ? '' : await access().catch((e) => html`<p class="critical">${e.message}</p>`)}`;
}
