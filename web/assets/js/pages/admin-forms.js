// The administration page's editors: a region's rules and notification channels, a host's
// agent configuration, each sent as text to the API, which checks it before anything changes.
import { onClick, onSubmit } from '../actions.js';
import { withCsrf } from '../api.js';
import { count, time } from '../format.js';

// What a region's notification editor starts with when it has no receivers.
export const NOTIFY_EXAMPLE = `
# [[receivers]]
# name = "ops-mail"
# kind = "email"              # or webhook, alertmanager, sms
# smtp = "mail.example.com:587"
# from = "strata@example.com"
# to = ["ops@example.com"]
#
# [[routes]]
# match = { severity = "critical" }
# receivers = ["ops-mail"]
# escalate = [{ after = "15m", receivers = ["ops-mail"] }]
`;

// A region's channels in force, in words.
export const channelsSummary = (c) => `${count(c.receivers, 'receiver')}, ${count(c.routes, 'route')},
  ${count(c.silences, 'silence')}, from ${c.source === 'api' ? 'the API' : 'the config file'} (since ${time(c.loaded_ms)}).`;

// What a save answered, in words.
function saved(body) {
  if (body.count !== undefined) return `saved: ${body.count} rules in force`;
  if (body.receivers !== undefined) {
    return `saved: ${count(body.receivers, 'receiver')}, ${count(body.routes, 'route')}, ${count(body.silences, 'silence')} in force (from ${body.source === 'api' ? 'the API' : 'the config file'})`;
  }
  return `applied: ${(body.checks || []).length} checks running`;
}

// Sends `text` to `url` with `method`; shows what it answered in `out`, and returns it
// (nothing when refused).
async function submitText(url, method, text, out) {
  out.className = 'muted';
  out.textContent = 'checking…';
  try {
    const r = await fetch(url, withCsrf({ method, body: text, headers: { 'content-type': 'text/plain' } }));
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || `${r.status}`);
    out.className = 'ok';
    out.textContent = saved(body);
    return body;
  } catch (e) {
    out.className = 'critical';
    out.textContent = e.message;
    return undefined;
  }
}

const region = (form) => encodeURIComponent(form.dataset.region);

onSubmit('rules', (form) => submitText(`/api/v1/regions/${region(form)}/rules`, 'PUT',
  form.rules.value, form.querySelector('#rules-result')));

// after a save, the summary and the editor show what is in force
async function channels(form, method, text) {
  const body = await submitText(`/api/v1/regions/${region(form)}/notify`, method, text,
    form.querySelector('#notify-result'));
  if (!body) return;
  document.querySelector('#channels-summary').textContent = channelsSummary(body);
  form.channels.value = body.notify_toml + (body.receivers ? '' : NOTIFY_EXAMPLE);
}
onSubmit('notify', (form) => channels(form, 'PUT', form.channels.value));
onClick('notify-file', (button) => channels(button.form, 'DELETE', ''));

onSubmit('agent', (form) => submitText(
  `/api/v1/resources/${region(form)}/${encodeURIComponent(form.host.value)}/config`,
  'PUT', form.config.value, form.querySelector('#agent-result')));
