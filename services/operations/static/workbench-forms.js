// 兜底 doudi workbench: action forms. A form is described by its fields and the request it makes; the
// machinery here draws it, reads the yuan fields through the one conversion (money.js yuanToFen), posts,
// and puts every error beside the field it names (the API's 422 names the field, in Chinese for a Chinese
// page; a refusal without a field goes beside the form's main field).

import { t, h, api, ApiError, Unauthorized, formatFen } from './ui.js';
import { yuanToFen, fenToYuan } from './money.js';

/** An id part from any text (case ids, request ids): letters, digits, _ and - only. */
export function idPart(text) {
  return String(text).replace(/[^A-Za-z0-9_-]/g, '_');
}

/** Amounts in fen inside a message ("决定金额129999分") read in yuan too: "决定金额¥1,299.99（129999分）". */
export function withYuan(message) {
  return String(message)
    .replace(/(\d{1,19})\s*分/g, (_, n) => `${formatFen(BigInt(n))}（${n}分）`)
    .replace(/\b(\d{1,19}) fen\b/g, (_, n) => `${formatFen(BigInt(n))} (${n} fen)`);
}

function fieldLabel(spec) {
  return spec.labelText ?? t(spec.label);
}

function control(spec, id) {
  const common = { id, name: spec.name, 'data-field': spec.name, 'aria-describedby': `${id}-error` };
  if (spec.type === 'select') {
    return h('select', common, spec.options.map(([value, key]) => h('option', { value, selected: value === spec.value }, t(key))));
  }
  if (spec.type === 'textarea') {
    return h('textarea', { ...common, rows: spec.rows || 2, maxlength: spec.maxlength || 2000 }, spec.value || '');
  }
  if (spec.type === 'checkbox') {
    return h('input', { ...common, type: 'checkbox', value: spec.checkedValue ?? 'true', checked: Boolean(spec.value) });
  }
  const input = h('input', {
    ...common, type: spec.type === 'date' ? 'date' : 'text', autocomplete: 'off', spellcheck: 'false',
    inputmode: spec.type === 'yuan' ? 'decimal' : spec.inputmode, maxlength: spec.maxlength,
    placeholder: spec.placeholder ?? (spec.type === 'yuan' ? '1950.00' : null),
  });
  if (spec.value !== undefined && spec.value !== null) input.value = spec.type === 'yuan' && typeof spec.value === 'number' ? fenToYuan(spec.value) : spec.value;
  return input;
}

/** One labelled field with its error slot (and, for yuan, the amount read back in yuan and fen). */
export function fieldBlock(spec, id) {
  const input = control(spec, id);
  const error = h('p', { class: 'field-error', id: `${id}-error`, role: 'alert', hidden: true });
  const preview = spec.type === 'yuan' ? h('p', { class: 'field-preview muted', id: `${id}-preview`, 'aria-live': 'polite' }) : null;
  if (preview) {
    const show = () => {
      const read = yuanToFen(input.value);
      preview.textContent = read.ok ? t('wb.yuan.preview', { yuan: formatFen(read.fen), fen: read.fen }) : '';
    };
    input.addEventListener('input', show);
    show();
  }
  const label = h('label', { for: id }, fieldLabel(spec));
  if (spec.type === 'checkbox') {
    return h('div', { class: 'field check', 'data-field-block': spec.name }, input, label, error);
  }
  return h('div', { class: `field ${spec.wide ? 'wide' : ''}`.trim(), 'data-field-block': spec.name }, label, input, preview, error);
}

export function showFieldError(form, name, message) {
  const input = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
  if (!input) return false;
  const slot = form.querySelector(`#${CSS.escape(input.id)}-error`);
  slot.textContent = withYuan(message);
  slot.hidden = false;
  input.setAttribute('aria-invalid', 'true');
  return true;
}

function showFormError(form, message) {
  const box = form.querySelector('.form-error');
  box.textContent = withYuan(message);
  box.hidden = false;
}

export function clearErrors(form) {
  for (const slot of form.querySelectorAll('.field-error, .form-error')) {
    slot.textContent = '';
    slot.hidden = true;
  }
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
}

/** The form's values by field name; yuan fields read as fen (null when left empty and optional).
 * Returns { values, errors } with errors by field name. */
export function readFields(form, specs) {
  const values = {};
  const errors = {};
  for (const spec of specs) {
    const input = form.querySelector(`[data-field="${CSS.escape(spec.name)}"]`);
    if (!input) continue;
    if (spec.type === 'checkbox') {
      values[spec.name] = input.checked;
      continue;
    }
    const raw = input.value.trim();
    if (spec.type === 'yuan') {
      if (raw === '' && !spec.required) {
        values[spec.name] = null;
        continue;
      }
      const read = yuanToFen(raw);
      if (read.ok) values[spec.name] = read.fen;
      else errors[spec.name] = t(`wb.yuan.${read.error}`);
      continue;
    }
    if (raw === '' && spec.required) errors[spec.name] = t('wb.required', { field: fieldLabel(spec) });
    values[spec.name] = raw;
  }
  return { values, errors };
}

/** What a refusal says, beside the field it names (a 422), else beside ``primary``, else over the form. */
export function showApiError(form, err, primary) {
  const fields = err instanceof ApiError ? err.fields : {};
  if (Object.keys(fields).length) {  // each beside its field; one the form does not show, over the form
    const elsewhere = Object.entries(fields).filter(([name, message]) => !showFieldError(form, name, message));
    if (elsewhere.length) showFormError(form, elsewhere.map(([name, message]) => `${name}: ${message}`).join('；'));
    return;
  }
  const message = err instanceof ApiError ? err.message : String(err && err.message ? err.message : err);
  const detail = err instanceof ApiError ? String(err.detail) : message;
  // a refusal whose words start with the field it is about ("details.last_income_month: …") goes beside it
  const named = /^([A-Za-z_][\w.[\]]*): (.+)$/s.exec(detail);
  if (named && showFieldError(form, named[1], named[2])) return;
  if (!(primary && showFieldError(form, primary, detail))) showFormError(form, message);
}

/**
 * An action form. ``spec``: { id, label (i18n key of its legend and button), fields: [field specs],
 *   extra: a further element among the fields, readFields() -> every field spec read (fields and extra's),
 *   request(values) -> { path, method, body } (or a { errors } object to refuse before sending),
 *   done(values, answer) -> text of the success line, primary: the field a field-less refusal goes beside,
 *   onDone(answer), danger: a red button }.
 */
export function actionForm(spec, { onUnauthorized } = {}) {
  const fields = spec.fields.map((f) => fieldBlock(f, `${spec.id}-${idPart(f.name)}`));
  if (spec.extra) fields.push(spec.extra);
  const button = h('button', { class: `btn ${spec.danger ? 'btn-danger' : 'btn-primary'}`, type: 'submit', id: `${spec.id}-submit` }, t(spec.label));
  const result = h('p', { class: 'form-result', id: `${spec.id}-result`, role: 'status', 'aria-live': 'polite' });
  const form = h('form', { class: 'action-form', id: spec.id, 'aria-label': t(spec.label), novalidate: true, 'data-action': spec.action || spec.label },
    h('div', { class: 'form-error alert alert-error', role: 'alert', hidden: true }),
    h('div', { class: 'fields' }, fields),
    h('div', { class: 'actions' }, button),
    result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    result.textContent = '';
    const { values, errors } = readFields(form, spec.readFields ? spec.readFields() : spec.fields);
    const built = Object.keys(errors).length ? { errors } : spec.request(values);
    if (built.errors && Object.keys(built.errors).length) {
      for (const [name, message] of Object.entries(built.errors)) showFieldError(form, name, message);
      form.querySelector('[aria-invalid="true"]')?.focus();
      return;
    }
    button.disabled = true;
    result.textContent = t('wb.submitting');
    try {
      const answer = await api(built.path, { method: built.method || 'POST', body: built.body });
      result.textContent = spec.done ? spec.done(values, answer) : t('wb.done', { what: t(spec.label) });
      form.classList.add('done');
      if (spec.onDone) spec.onDone(answer);
    } catch (err) {
      result.textContent = '';
      if (err instanceof Unauthorized) {
        if (onUnauthorized) onUnauthorized();
        return;
      }
      showApiError(form, err, spec.primary);
      form.querySelector('[aria-invalid="true"]')?.focus();
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
