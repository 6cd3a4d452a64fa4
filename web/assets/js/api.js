// The REST API, who is at the console, and what this console covers.

// The body of a call to the API; an answer other than 2xx is thrown as its error.
export async function api(path, init) {
  const r = await fetch(path, init);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || `${r.status} on ${path}`);
  return body;
}

// Who is at the console: asked once on the events page, kept in the browser.
export const operator = () => localStorage.getItem('strata.operator') || '';
export const setOperator = (name) => localStorage.setItem('strata.operator', name);

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
