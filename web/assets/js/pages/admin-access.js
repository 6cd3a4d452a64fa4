// Who may use Strata, on the centre's administration page: the accounts and the API tokens
// (never their text, shown once when made), each with its role and regions; adding an
// account, making and revoking a token. The API checks everything and audits each change.
import { api } from '../api.js';
import { onClick, onSubmit } from '../actions.js';
import { html } from '../html.js';
import { time } from '../format.js';

const post = (path, body) => api(path, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});

const roles = html`<select name="role"><option>viewer</option><option>operator</option><option>admin</option></select>`;

export async function section() {
  const [users, tokens] = await Promise.all([api('/api/v1/users'), api('/api/v1/tokens')]);
  return html`<h2>Users and API tokens</h2>
  <div class="table-wrap"><table id="users"><thead><tr><th>User</th><th>Role</th><th>Regions</th><th>Changed</th></tr></thead><tbody>
    ${users.map((u) => html`<tr><td>${u.name}</td><td>${u.role}</td><td>${u.regions}</td><td>${time(u.changed_ms)}</td></tr>`)}
  </tbody></table></div>
  <form id="user-form" class="card inline" data-form="add-user"><label>Name<input name="name" required></label>
    <label>Password<input name="password" type="password" autocomplete="new-password" required></label>
    <label>Role ${roles}</label><label>Regions<input name="regions" value="all"></label>
    <button>Add user</button> <span id="user-result"></span></form>
  <div class="table-wrap"><table id="tokens"><thead><tr><th>Token</th><th>Name</th><th>Role</th><th>Regions</th><th>Expires</th><th></th></tr></thead><tbody>
    ${tokens.map((t) => html`<tr data-token="${t.id}"><td>${t.id}</td><td>${t.name}</td><td>${t.role}</td><td>${t.regions}</td>
      <td>${t.expires_ms ? time(t.expires_ms) : 'never'}</td>
      <td>${t.revoked_ms ? html`revoked ${time(t.revoked_ms)}` : html`<button data-action="revoke-token" data-token="${t.id}">Revoke</button>`}</td></tr>`)}
  </tbody></table></div>
  <form id="token-form" class="card inline" data-form="create-token"><label>Name<input name="name" required></label>
    <label>Role ${roles}</label><label>Regions<input name="regions" value="all"></label>
    <label>Expires<input name="expires" value="90d"></label>
    <button>Make token</button> <span id="token-result"></span></form>`;
}

// What a form answered, in its result span.
async function submit(form, out, call) {
  const span = form.querySelector(out);
  span.className = 'muted';
  span.textContent = '…';
  try {
    span.textContent = await call(Object.fromEntries(new FormData(form)));
    span.className = 'ok';
  } catch (e) {
    span.className = 'critical';
    span.textContent = e.message;
  }
}

onSubmit('add-user', (form) => submit(form, '#user-result', async (f) => {
  const u = await post('/api/v1/users', f);
  return `added ${u.name} (${u.role}, regions ${u.regions})`;
}));

// the token's text is shown this once
onSubmit('create-token', (form) => submit(form, '#token-result', async (f) => {
  const t = await post('/api/v1/tokens', f);
  return `token ${t.id}: ${t.token} (shown this once)`;
}));

onClick('revoke-token', async (button) => {
  button.disabled = true;
  try {
    await api(`/api/v1/tokens/${encodeURIComponent(button.dataset.token)}`, { method: 'DELETE' });
    button.outerHTML = 'revoked';
  } catch (e) {
    button.disabled = false;
    button.insertAdjacentHTML('afterend', String(html` <span class="critical">${e.message}</span>`));
  }
});
