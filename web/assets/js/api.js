// The REST API, who is at the console, and what this console covers.

// Who is logged in: `{ name, role, regions, csrf }` from /api/v1/session (empty before).
export const session = {};

// Whether the one logged in may do `action`: 'operate' (acknowledge) or 'admin'.
export function can(action) {
  const rank = { viewer: 0, operator: 1, admin: 2 }[session.role] ?? -1;
  return rank >= ({ operate: 1, admin: 2 }[action] ?? 0);
}

// `init` with the session's token against cross-site request forgery, on a change.
export function withCsrf(init = {}) {
  const method = (init.method || 'GET').toUpperCase();
  if (method === 'GET' || method === 'HEAD' || !session.csrf) return init;
  return { ...init, headers: { ...(init.headers || {}), 'x-csrf-token': session.csrf } };
}

// The body of a call to the API; an answer other than 2xx is thrown as its error. A 401
// means the session ended: the login form comes back.
export async function api(path, init) {
  const r = await fetch(path, withCsrf(init));
  const body = await r.json().catch(() => ({}));
  if (r.status === 401) window.dispatchEvent(new Event('strata-logged-out'));
  if (!r.ok) throw new Error(body.error || `${r.status} on ${path}`);
  return body;
}

// Asks who is logged in; false when nobody is.
export async function loadSession() {
  const r = await fetch('/api/v1/session');
  if (!r.ok) return false;
  Object.assign(session, await r.json());
  return true;
}

// What this console covers: the enterprise (the super-manager), or one region (a
// sub-manager's regional console, which knows no services, reports or other regions).
export const scope = { scope: 'enterprise' };
export const regional = () => scope.scope === 'region';

// Asks the server once, at start.
export async function loadScope() {
  const s = await fetch('/api/v1/console').then((r) => r.json()).catch(() => ({ scope: 'enterprise' }));
  for (const k of Object.keys(scope)) delete scope[k];
  Object.assign(scope, s);
  return scope;
}
