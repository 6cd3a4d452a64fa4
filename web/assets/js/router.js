// Routing by the URL's hash (so every view is deep-linkable): `#/page/arg/…?query` draws the
// page into <main>, highlights its link in the navigation, and draws it again on every live
// update of the stream (not while a form is being filled in or a chart is under the mouse,
// nor over a fixed time span, nor for pages that say `live = false`).
import { can, loadScope, loadSession, regional, session } from './api.js';
import { delegate } from './actions.js';
import { html } from './html.js';
import { drawPlots } from './plot.js';
import * as login from './login.js';

const $ = (sel) => document.querySelector(sel);

// The page, its arguments and its query, from the hash.
function route() {
  const [path, qs] = (location.hash.slice(1) || '/').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(qs || '');
  const name = parts[0] || 'overview';
  return { name, args: parts.slice(1), params };
}

let pages = {};
let rendering = 0;
let started = false;

// The module of the page `name` (the overview for a name it does not know).
const pageOf = (name) => (Object.hasOwn(pages, name) ? pages[name] : pages.overview);

// Draws the page in view; a slower drawing started before it is dropped.
async function render() {
  const { name, args, params } = route();
  const page = pageOf(name);
  document.querySelectorAll('nav a').forEach((a) => a.classList.toggle('active', a.dataset.page === name));
  const mine = ++rendering;
  try {
    const markup = await page.render(args, params);
    // only html`…` results go in as markup (a plain string would be shown as text)
    if (mine === rendering) {
      $('#main').innerHTML = String(html`${markup}`);
      drawPlots($('#main'));
    }
  } catch (e) {
    console.error('rendering', name, e);
    if (mine === rendering) $('#main').innerHTML = String(html`<p class="critical">${e.message}</p>`);
  }
}

// Live: the stream says when the state changed; the page in view is drawn again.
function follow(stream) {
  const live = $('#live');
  stream.addEventListener('overview', (e) => {
    const o = JSON.parse(e.data);
    live.className = 'ok';
    live.textContent = `live · ${new Date(o.generated_at_ms).toLocaleTimeString()}`;
    const busy = document.activeElement && ['INPUT', 'SELECT', 'TEXTAREA'].includes(document.activeElement.tagName);
    // nor under the mouse reading or zooming a chart, nor over a fixed (zoomed) span
    const still = document.querySelector('.plot:hover') || route().params.has('from');
    if (started && !busy && !still && pageOf(route().name).live !== false) render();
  });
  stream.addEventListener('error', () => { live.className = 'down'; live.textContent = 'reconnecting…'; });
}

// Who is logged in, in the header, with the button to log out.
function showSession() {
  $('#live').insertAdjacentHTML('afterend', String(html`<span id="who">${session.name} · ${session.role}${
    session.regions === 'all' ? '' : html` · ${session.regions}`}</span>${session.csrf
    ? html` <button id="logout" class="link" data-action="logout">Log out</button>` : ''}`));
}

// Starts the console: `routes` maps a page's name to its module (`render(args, params)`, and
// `live`), `openStream` opens the server's event stream. Nobody logged in: the login form.
export async function start(routes, openStream) {
  pages = routes;
  delegate($('#main'));
  delegate($('header'));
  window.addEventListener('error', (e) => console.error('console error', e.message));
  window.addEventListener('unhandledrejection', (e) => console.error('console rejection', e.reason));
  if (!(await loadSession())) {
    $('nav').replaceChildren();
    $('#live').textContent = '';
    $('#main').innerHTML = String(login.form());
    $('#login-form input[name=name]').focus();
    return;
  }
  window.addEventListener('strata-logged-out', () => location.reload());
  showSession();
  // a role's pages only: the API refuses the others anyway
  if (!can('admin')) document.querySelectorAll('nav a[data-page=admin]').forEach((a) => a.remove());
  // a new view starts at its top
  window.addEventListener('hashchange', () => { window.scrollTo(0, 0); render(); });
  follow(openStream());
  const scope = await loadScope();
  if (regional()) {
    // a region knows no services, reports, files or other regions
    document.querySelectorAll('nav a').forEach((a) => {
      if (['map', 'compare', 'reports', 'files'].includes(a.dataset.page)) a.remove();
    });
    $('header .brand').textContent = `Strata · ${scope.region}`;
    document.title = `Strata · region ${scope.region}`;
  }
  started = true;
  render();
}
