// The login form, shown instead of the pages while nobody is logged in, and logging out.
// The session lives in an HttpOnly cookie the page never reads; what the page keeps is who
// logged in and the token its changes carry against cross-site request forgery.
import { onClick, onSubmit } from './actions.js';
import { html } from './html.js';

export const form = (message = '') => html`<h1>Log in</h1>
  <form id="login-form" class="card login" data-form="login">
    <label>Name<input name="name" autocomplete="username" required></label>
    <label>Password<input name="password" type="password" autocomplete="current-password" required></label>
    <div><button>Log in</button> <span id="login-result" class="critical">${message}</span></div>
  </form>`;

onSubmit('login', async (form) => {
  const out = form.querySelector('#login-result');
  out.textContent = '';
  const r = await fetch('/api/v1/login', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: form.name.value, password: form.password.value }),
  });
  if (r.ok) {
    location.reload();
    return;
  }
  const body = await r.json().catch(() => ({}));
  out.textContent = body.error || `${r.status}`;
});

onClick('logout', async () => {
  const { withCsrf } = await import('./api.js');
  await fetch('/api/v1/logout', withCsrf({ method: 'POST' })).catch(() => {});
  location.reload();
});
