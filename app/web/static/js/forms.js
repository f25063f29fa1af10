// Forms whose only validation is the API's: the answer's {"field"} puts the message next to that field.
import { h, fill } from './dom.js';
import { bi, text } from './i18n.js';

let serial = 0;

/** The value to send for a field: numbers stay as typed when they are not numbers, so the API says why. */
function read(spec, input) {
  if (spec.type === 'checkbox') return input.checked;
  const raw = input.value.trim();
  if (spec.parse) return spec.parse(raw);
  if (spec.type === 'number') return raw === '' ? null : (/^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw);
  if (spec.type === 'list') return raw === '' ? [] : raw.split(/[\s,，、]+/).filter(Boolean);
  return raw === '' ? null : raw;
}

function write(spec, input, value) {
  if (spec.type === 'checkbox') input.checked = Boolean(value);
  else if (spec.type === 'list') input.value = (value || []).join(', ');
  else input.value = value === null || value === undefined ? '' : String(value);
}

/** Which field an API error names: exact, dotted ("thresholds.waiting" -> "waiting"), or an alias. */
function fieldFor(specs, apiField) {
  if (!apiField) return null;
  const parts = String(apiField).split(/[.[\]]+/).filter(Boolean);
  return specs.find((s) => s.name === apiField)
    || specs.find((s) => (s.aliases || []).includes(apiField))
    || specs.find((s) => parts.includes(s.name))
    || null;
}

/**
 * form({id, fields: [{name, label: [zh, en], type, options, hint, readonly}], submit: pair, onSubmit})
 * onSubmit(values) may throw ApiError; its field decides where the message goes.
 */
export function form({ id, fields, submit, onSubmit, extraButtons = [] }) {
  const formId = id || `form${++serial}`;
  const inputs = new Map();
  const errors = new Map();
  const formError = h('p', { class: 'form-error', role: 'alert', 'data-error-for': '' });
  const message = h('p', { class: 'form-message', role: 'status' });

  const rows = fields.map((spec) => {
    const inputId = `${formId}-${spec.name}`;
    const errId = `${inputId}-error`;
    let input;
    if (spec.type === 'select') {
      input = h('select', { id: inputId, name: spec.name },
        (spec.options || []).map(([value, pair]) => h('option', { value }, text(pair))));
    } else if (spec.type === 'textarea') {
      input = h('textarea', { id: inputId, name: spec.name, rows: spec.rows || 3 });
    } else {
      input = h('input', { id: inputId, name: spec.name, autocomplete: 'off',
        type: spec.type === 'checkbox' ? 'checkbox' : (spec.type === 'password' ? 'password' : 'text'),
        inputmode: spec.type === 'number' ? 'numeric' : null, placeholder: spec.placeholder || null });
    }
    input.setAttribute('aria-describedby', errId);
    if (spec.readonly) input.readOnly = true;
    if (spec.value !== undefined) write(spec, input, spec.value);
    const err = h('p', { class: 'field-error', id: errId, role: 'alert', 'data-error-for': spec.name });
    inputs.set(spec.name, input);
    errors.set(spec.name, err);
    return h('div', { class: `field field-${spec.type || 'text'}`, dataset: { field: spec.name } },
      h('label', { for: inputId }, bi(spec.label)), input,
      spec.hint ? h('p', { class: 'hint' }, bi(spec.hint)) : null, err);
  });

  const button = h('button', { type: 'submit', class: 'primary' }, bi(submit || 'save'));
  const el = h('form', { id: formId, class: 'api-form', novalidate: true },
    h('div', { class: 'fields' }, rows), formError,
    h('div', { class: 'buttons' }, button, extraButtons), message);

  const api = {
    el,
    input: (name) => inputs.get(name),
    values() {
      const out = {};
      for (const spec of fields) if (!spec.readonly || spec.send) out[spec.name] = read(spec, inputs.get(spec.name));
      return out;
    },
    setValues(values) {
      for (const spec of fields) if (spec.name in values) write(spec, inputs.get(spec.name), values[spec.name]);
    },
    setReadonly(name, readonly) { inputs.get(name).readOnly = readonly; },
    clearErrors() {
      for (const [name, err] of errors) { fill(err); inputs.get(name).removeAttribute('aria-invalid'); }
      fill(formError);
      fill(message);
    },
    showError(err) {
      const spec = fieldFor(fields, err.field);
      const reason = err.body && err.body.error ? err.body.error : err.message;
      if (spec) {
        fill(errors.get(spec.name), reason);
        inputs.get(spec.name).setAttribute('aria-invalid', 'true');
        inputs.get(spec.name).focus();
      } else {
        fill(formError, err.field ? `${err.field}: ${reason}` : reason);
      }
    },
    say(pairOrText) { fill(message, Array.isArray(pairOrText) ? bi(pairOrText) : pairOrText); },
  };

  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    api.clearErrors();
    button.disabled = true;
    try {
      await onSubmit(api.values(), api);
    } catch (err) {
      if (err && err.status) api.showError(err);
      else { console.error(err); fill(formError, String(err && err.message ? err.message : err)); }
    } finally {
      button.disabled = false;
    }
  });
  return api;
}
