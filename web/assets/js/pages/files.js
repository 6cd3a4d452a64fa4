// Files: the bundles published to hosts, and one bundle's files and hosts (applied, refused
// with the host's reason, or pending while the host is away). Publishing is done with
// `strata files publish` or the API; this page follows it.
import { api } from '../api.js';
import { html } from '../html.js';
import { resourceLink, time } from '../format.js';

// Drawn again on live updates: hosts answer as they come back.
export const live = true;

// A host's state as the overview colours states.
const shade = { applied: 'ok', refused: 'critical', pending: 'warning' };

async function list() {
  const bundles = await api('/api/v1/files');
  if (!bundles.length) {
    return html`<h1>Files</h1><p class="muted">No bundle published yet: <code>strata files publish</code>.</p>`;
  }
  return html`<h1>Files</h1><div class="table-wrap"><table id="bundles"><thead><tr>
    <th>bundle</th><th>version</th><th>published</th><th>by</th><th>files</th>
    <th>applied</th><th>refused</th><th>pending</th></tr></thead><tbody>
    ${bundles.map((b) => html`<tr><td><a href="#/files/${encodeURIComponent(b.name)}">${b.name}</a></td>
      <td>${b.version}${b.rollback_to ? html` <span class="muted">(restores ${b.rollback_to})</span>` : ''}</td>
      <td>${time(b.published_ms)}</td><td>${b.published_by}</td><td>${b.files}</td>
      <td class="ok">${b.applied}</td><td class="${b.refused ? 'critical' : ''}">${b.refused}</td>
      <td class="${b.pending ? 'warning' : ''}">${b.pending}</td></tr>`)}
    </tbody></table></div>`;
}

async function detail(name) {
  const b = await api(`/api/v1/files/${encodeURIComponent(name)}`);
  const hosts = Object.entries(b.hosts);
  return html`<h1>Files · ${b.name}</h1>
    <p class="muted">version ${b.version}${b.rollback_to ? ` (restores ${b.rollback_to})` : ''}
      by ${b.published_by}, ${time(b.published_ms)} · <a href="#/files">all bundles</a></p>
    <h2>Files</h2><div class="table-wrap"><table id="bundle-files"><thead><tr><th>path</th><th>mode</th><th>bytes</th></tr></thead><tbody>
    ${b.files.map((f) => html`<tr><td><code>${f.path}</code></td><td>${f.mode}</td><td>${f.bytes}</td></tr>`)}
    </tbody></table></div>
    <h2>Hosts</h2><div class="table-wrap"><table id="bundle-hosts"><thead><tr>
      <th>host</th><th>state</th><th>version there</th><th>tries</th><th>when</th><th>reason</th></tr></thead><tbody>
    ${hosts.map(([id, h]) => html`<tr><td>${resourceLink(id)}</td><td class="${shade[h.state] || ''}">${h.state}</td>
      <td>${h.version || '—'}</td><td>${h.attempts}</td><td>${time(h.at_ms)}</td><td>${h.reason}</td></tr>`)}
    </tbody></table></div>`;
}

export async function render(args) {
  try {
    return args.length ? await detail(args[0]) : await list();
  } catch (e) {
    return html`<p class="critical">${e.message}</p>`;
  }
}
