// The one way the console writes markup: html`...` escapes every value put into it, except
// what is already markup (the result of another html`...`, or text passed through raw());
// an array puts its items one after the other, each under the same rule.

class Markup {
  constructor(text) { this.text = text; }
  toString() { return this.text; }
}

const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escape = (s) => s.replace(/[&<>"']/g, (c) => ENTITIES[c]);

// A value as markup: nothing for null, undefined and false; markup as it is; anything else
// as escaped text.
function part(value) {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Markup) return value.text;
  if (Array.isArray(value)) return value.map(part).join('');
  return escape(String(value));
}

export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => { out += part(v) + strings[i + 1]; });
  return new Markup(out);
}

// Text the caller vouches for as markup (constant strings only, never data).
export const raw = (text) => new Markup(String(text));

// Items with `separator` between them (escaped like any value unless it is markup).
export const join = (items, separator) => new Markup(items.map(part).join(part(separator)));
