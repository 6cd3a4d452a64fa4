// Event delegation: the pages' markup names what its elements do — data-action on what is
// clicked, data-form on a form, data-input on a field whose typing is kept — and the modules
// register those names here; one listener of each kind on a stable container dispatches.

const handlers = { click: new Map(), submit: new Map(), input: new Map() };

// `fn(element, event)` runs for a click on an element with data-action="name".
export const onClick = (name, fn) => handlers.click.set(name, fn);
// `fn(form, event)` runs when a form with data-form="name" is submitted (not sent by the browser).
export const onSubmit = (name, fn) => handlers.submit.set(name, fn);
// `fn(field, event)` runs on every change typed into a field with data-input="name".
export const onInput = (name, fn) => handlers.input.set(name, fn);

// Listens on `root` for what happens inside it.
export function delegate(root) {
  root.addEventListener('click', (e) => {
    const el = e.target.closest('[data-action]');
    if (el && root.contains(el)) handlers.click.get(el.dataset.action)?.(el, e);
  });
  root.addEventListener('submit', (e) => {
    const form = e.target.closest('form[data-form]');
    if (!form || !root.contains(form)) return;
    e.preventDefault();
    handlers.submit.get(form.dataset.form)?.(form, e);
  });
  root.addEventListener('input', (e) => {
    const el = e.target.closest('[data-input]');
    if (el && root.contains(el)) handlers.input.get(el.dataset.input)?.(el, e);
  });
}

// A form's fields as a hash route's query: `#/page?field=value&…`.
onSubmit('go', (form) => {
  location.hash = `#/${form.dataset.to}?${new URLSearchParams(new FormData(form))}`;
});
