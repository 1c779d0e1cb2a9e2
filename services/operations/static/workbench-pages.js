// 兜底 doudi workbench: intake (register a household, file an application) and the household files
// (家庭档案: search, one household's file, the decision letters and the exports to download).

import {
  state, t, term, formatFen, formatTime, h, $, badge, statusBadge, empty, fill, loading, table,
  Unauthorized, token, api, authHeaders, errorBox, current, approvedFen,
} from './ui.js';
import { actionForm, fieldBlock, idPart } from './workbench-forms.js';

const enc = encodeURIComponent;

/** A fresh idempotency key for one filled-in form (a double submit is the same household or case). */
function freshId(prefix) {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return `${prefix}-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** ``{"details.reason": "x"}`` -> ``{details: {reason: "x"}}``; empty strings and nulls are left out. */
function nested(values) {
  const out = {};
  for (const [name, value] of Object.entries(values)) {
    if (value === '' || value === null || value === undefined) continue;
    const path = name.split('.');
    let at = out;
    for (const part of path.slice(0, -1)) at = (at[part] ??= {});
    at[path[path.length - 1]] = value;
  }
  return out;
}

function defaultRegion() {
  const region = state.me?.region || '';
  return region.length >= 6 ? region : '';
}

// -- 登记家庭 ----------------------------------------------------------------------------------------------

const RELATIONS = ['head', 'spouse', 'child', 'parent', 'other'];
const CATEGORIES = ['dibao', 'extreme_poverty', 'marginal', 'low_income_db', 'orphan', 'street_person',
  'old_age_allowance', 'rural_revitalisation_certified', 'de_facto_unsupported_child', 'poverty_alleviated'];

function memberSpecs(i) {
  return [
    { name: `members[${i}].person_id`, label: 'wb.m.personId', type: 'text', required: true, maxlength: 18 },
    { name: `members[${i}].name`, label: 'wb.m.name', type: 'text', required: true, maxlength: 100 },
    { name: `members[${i}].relation`, label: 'wb.m.relation', type: 'select', value: i === 0 ? 'head' : 'child',
      options: RELATIONS.map((r) => [r, `wb.rel.${r}`]) },
    { name: `members[${i}].birth_date`, label: 'wb.m.birth', type: 'date', required: true },
  ];
}

function registerForm(ctx, onRegistered) {
  const roster = state.me.role === 'county_approver';  // money categories: the authorised roster registration
  const members = h('fieldset', { id: 'register-members' }, h('legend', {}, t('wb.hh.members')));
  let count = 0;
  const addMember = () => {
    const i = count++;
    const row = h('div', { class: 'member-row', id: `register-member-${i}` },
      memberSpecs(i).map((f) => fieldBlock(f, `register-${idPart(f.name)}`)));
    members.insertBefore(row, addButton);
  };
  const addButton = h('button', { class: 'btn', type: 'button', id: 'register-add-member', onclick: addMember }, t('wb.hh.addMember'));
  members.append(addButton);
  const categories = roster ? h('fieldset', { id: 'register-categories' }, h('legend', {}, t('wb.hh.categories')),
    h('div', { class: 'categories' }, CATEGORIES.map((c) => fieldBlock(
      { name: `category.${c}`, labelText: term('category', c), type: 'checkbox' }, `register-category-${c}`)))) : null;
  const fields = [
    { name: 'household_id', label: 'wb.hh.id', type: 'text', required: true, value: freshId('hh'), maxlength: 64 },
    { name: 'region_code', label: 'wb.hh.region', type: 'text', required: true, value: defaultRegion(), inputmode: 'numeric', maxlength: 12 },
    { name: 'urban', label: 'wb.hh.urban', type: 'select', value: 'true', options: [['true', 'wb.hh.urbanYes'], ['false', 'wb.hh.urbanNo']] },
    { name: 'monthly_income_fen', label: 'wb.hh.income', type: 'yuan', required: true, value: 0 },
  ];
  const form = actionForm({
    id: 'register-form', action: 'register', label: 'wb.act.register', primary: 'household_id',
    fields, extra: h('div', { class: 'stack', style: null }, categories, members),
    readFields: () => [...fields, ...Array.from({ length: count }, (_, i) => memberSpecs(i)).flat(),
      ...(roster ? CATEGORIES.map((c) => ({ name: `category.${c}`, type: 'checkbox' })) : [])],
    request: (v) => ({
      path: roster ? '/api/households/roster' : '/api/households',
      body: {
        household_id: v.household_id, region_code: v.region_code, urban: v.urban === 'true',
        monthly_income_fen: v.monthly_income_fen,
        categories: roster ? CATEGORIES.filter((c) => v[`category.${c}`]) : [],
        members: Array.from({ length: count }, (_, i) => ({
          person_id: v[`members[${i}].person_id`].toUpperCase(), name: v[`members[${i}].name`],
          relation: v[`members[${i}].relation`], birth_date: v[`members[${i}].birth_date`], flags: [] })),
      },
    }),
    done: (v, answer) => t('wb.intake.registered', { id: answer.household_id, version: answer.version }),
    onDone: (answer) => onRegistered(answer),
  }, ctx);
  addMember();
  return form;
}

// -- 受理申请 ----------------------------------------------------------------------------------------------

const KINDS = ['emergency', 'temporary_assistance', 'dibao', 'job_loss', 'graduate', 'medical'];
const HOUSEHOLD_TYPES = ['emergency_household', 'expenditure_household', 'individual'];

function applicationForm(ctx) {
  let applicationId = freshId('app');
  return actionForm({
    id: 'apply-form', action: 'apply', label: 'wb.act.apply', primary: 'person_id',
    fields: [
      { name: 'person_id', label: 'wb.app.personId', type: 'text', required: true, maxlength: 18 },
      { name: 'region_code', label: 'wb.app.region', type: 'text', required: true, value: defaultRegion(), maxlength: 12 },
      { name: 'kind', label: 'wb.app.kind', type: 'select', value: 'emergency', options: KINDS.map((k) => [k, `wb.appkind.${k}`]) },
      { name: 'details.household_type', label: 'wb.app.householdType', type: 'select', value: 'emergency_household',
        options: HOUSEHOLD_TYPES.map((k) => [k, `wb.ht.${k}`]) },
      { name: 'details.incident_date', label: 'wb.app.incident', type: 'date' },
      { name: 'details.requested_amount_fen', label: 'wb.app.requestedYuan', type: 'yuan' },
      { name: 'details.unemployment_insured', label: 'wb.app.insured', type: 'select', value: '',
        options: [['', 'wb.app.notApplicable'], ['false', 'wb.app.insuredNo'], ['true', 'wb.app.insuredYes']] },
      { name: 'details.last_income_month', label: 'wb.app.lastIncome', type: 'text', placeholder: '2022-06', maxlength: 7 },
      { name: 'details.annual_medical_self_pay_fen', label: 'wb.app.medicalYuan', type: 'yuan', placeholder: '' },
      { name: 'details.monthly_rigid_expenditure_fen', label: 'wb.app.rigidYuan', type: 'yuan', placeholder: '' },
      { name: 'details.reason', label: 'wb.app.reason', type: 'textarea', wide: true },
      { name: 'consent', label: 'wb.app.consent', type: 'checkbox' },
    ],
    request: (v) => {
      const insured = v['details.unemployment_insured'];
      const body = nested({ ...v, consent: null, 'details.unemployment_insured': null, person_id: v.person_id.toUpperCase() });
      if (insured) (body.details ??= {}).unemployment_insured = insured === 'true';
      return { path: '/api/applications', body: { application_id: applicationId, ...body, consent: v.consent } };
    },
    done: (v, answer) => t('wb.intake.filed', { id: answer.case_id }),
    onDone: (answer) => {
      applicationId = freshId('app');  // the next application is another case
      $('apply-form-result').append(' ', h('a', { href: `/#/case/${enc(answer.case_id)}`, id: 'apply-case-link', class: 'mono' }, answer.case_id));
    },
  }, ctx);
}

export function renderIntake(container, ctx) {
  const apply = applicationForm(ctx);
  const register = registerForm(ctx, (answer) => {
    const head = answer.members?.[0];
    if (head) apply.querySelector('[data-field="person_id"]').value = head.person_id;
    apply.querySelector('[data-field="region_code"]').value = answer.region_code;
  });
  fill(container,
    h('section', { class: 'panel form-panel', 'aria-labelledby': 'register-heading' }, h('h3', { id: 'register-heading' }, t('wb.intake.register')), register),
    h('section', { class: 'panel form-panel', 'aria-labelledby': 'apply-heading' }, h('h3', { id: 'apply-heading' }, t('wb.intake.apply')), apply));
}

// -- downloads (the decision letter, the exports) ------------------------------------------------------------

/** A link that downloads: the browser's own download with the session cookie; with a pasted token (no
 * cookie to send) the file is fetched with the token and saved from memory. */
/** The file name a Content-Disposition gives: ``filename*=UTF-8''…`` (RFC 6266, any script) or ``filename="…"``. */
function fileName(disposition) {
  const encoded = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  if (encoded) {
    try {
      return decodeURIComponent(encoded[1]);
    } catch (_) { /* not percent-encoded after all */ }
  }
  return /filename="?([^";]+)"?/i.exec(disposition)?.[1] || '';
}

export function downloadLink(href, text, attrs = {}) {
  return h('a', { ...attrs, href, download: '', class: 'btn btn-small', onclick: async (event) => {
    if (!token()) return;
    event.preventDefault();
    const response = await fetch(href, { headers: authHeaders('GET'), credentials: 'same-origin' });
    if (!response.ok) {
      event.target.after(h('span', { class: 'field-error', role: 'alert' }, ` HTTP ${response.status}`));
      return;
    }
    const name = fileName(response.headers.get('content-disposition') || '') || href.split('?')[0].split('/').pop();
    const url = URL.createObjectURL(await response.blob());
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } }, text);
}

const EXPORTS = ['tasks', 'roster', 'payments', 'statistics'];

function exportsPanel() {
  const month = h('input', { id: 'export-month', type: 'month', value: new Date().toISOString().slice(0, 7) });
  const links = h('div', { class: 'downloads' });
  const draw = () => fill(links, EXPORTS.map((kind) => {
    const query = new URLSearchParams();
    if (kind !== 'tasks' && month.value) query.set('month', month.value);
    return downloadLink(`/api/exports/${kind}.xlsx${query.toString() ? `?${query}` : ''}`, t(`wb.export.${kind}`), { id: `export-${kind}` });
  }));
  month.addEventListener('input', draw);
  month.addEventListener('change', draw);
  draw();
  return h('section', { class: 'panel', id: 'exports', 'aria-labelledby': 'exports-heading' },
    h('h3', { id: 'exports-heading' }, t('wb.exports')),
    h('div', { class: 'filters' }, h('div', { class: 'field' }, h('label', { for: 'export-month' }, t('wb.export.month')), month), links));
}

// -- 家庭档案 ------------------------------------------------------------------------------------------------

export async function renderFiles(seq, container, params, ctx) {
  const q = params.get('q') || '';
  $('file-q').value = q;
  if (!q) {
    fill(container, exportsPanel());
    return;
  }
  loading(container);
  let found;
  try {
    found = await api(`/api/household-files?q=${enc(q)}`);
  } catch (err) {
    if (err instanceof Unauthorized) throw err;
    if (current(seq)) fill(container, h('div', { class: 'alert alert-warn', role: 'status' }, h('strong', {}, t('wb.files.unavailable')), ` (${err.message})`));
    return;
  }
  if (!current(seq)) return;
  const items = Array.isArray(found) ? found : (found.items || []);
  fill(container, items.length
    ? h('section', { class: 'panel', id: 'file-results' }, table(null,
      [t('field.household'), t('field.region'), t('wb.file.members'), t('wb.hh.categories')],
      items.map((x) => [
        h('a', { href: `#/file/${enc(x.household_id)}`, class: 'mono', id: `file-hit-${idPart(x.household_id)}` }, x.household_id),
        x.region_name ? `${x.region_name}（${x.region_code}）` : x.region_code,
        (x.members || []).map((m) => `${m.name}（${term('relation', m.relation)}）`).join('、') || '—',
        h('span', { class: 'badges' }, (x.categories || []).map((c) => badge(term('category', c)))),
      ])))
    : empty(t('wb.files.empty')), exportsPanel());
}

/** The case's documents (决定书, 审批表) once it was decided: paid or closed. */
function letterLinks(c) {
  if (c.status !== 'closed' && !(c.payments || []).length) return '—';
  return h('span', { class: 'downloads' },
    downloadLink(`/api/cases/${enc(c.case_id)}/decision-letter.pdf`, t('wb.file.letter'), { id: `letter-${idPart(c.case_id)}` }),
    downloadLink(`/api/cases/${enc(c.case_id)}/approval-form.pdf`, t('wb.file.approvalForm'), { id: `approval-form-${idPart(c.case_id)}` }));
}

function part(id, titleKey, rows, headers, cells, numeric = []) {
  return h('section', { class: 'panel', id, 'aria-labelledby': `${id}-h` }, h('h3', { id: `${id}-h` }, t(titleKey)),
    rows && rows.length ? table(null, headers, rows.map(cells), { numeric }) : empty(t('common.none')));
}

export async function renderFile(seq, container, householdId, ctx) {
  loading(container);
  let f;
  try {
    f = await api(`/api/household-files/${enc(householdId)}`);
  } catch (err) {
    if (err instanceof Unauthorized) throw err;
    if (current(seq)) fill(container, h('h2', { id: 'file-heading' }, householdId), errorBox(err, null));
    return;
  }
  if (!current(seq)) return;
  const totals = f.totals || {};
  fill(container,
    h('h2', { id: 'file-heading' }, `${t('wb.files.title')} · ${f.household_id}`),
    h('section', { class: 'panel', id: 'file-summary' },
      h('dl', { class: 'facts' },
        h('dt', {}, t('field.region')), h('dd', {}, f.region_name ? `${f.region_name}（${f.region_code}）` : f.region_code),
        h('dt', {}, t('wb.hh.urban')), h('dd', {}, t(f.urban ? 'wb.hh.urbanYes' : 'wb.hh.urbanNo')),
        h('dt', {}, t('wb.hh.categories')), h('dd', {}, h('span', { class: 'badges' }, (f.categories || []).map((c) => badge(term('category', c))))),
        h('dt', {}, t('wb.hh.income')), h('dd', { class: 'money' }, formatFen(f.monthly_income_fen)),
        h('dt', {}, t('field.paid')), h('dd', { class: 'money', id: 'file-disbursed' }, formatFen(totals.disbursed_fen ?? 0)),
        f.enrolment ? [h('dt', {}, term('measure', f.enrolment.kind)), h('dd', {}, `${formatFen(f.enrolment.level_fen)} · ${f.enrolment.status}`)] : null)),
    part('file-members', 'wb.file.members', f.members, [t('wb.m.name'), t('wb.m.relation'), t('wb.m.personId'), t('wb.m.birth')],
      (m) => [m.name, term('relation', m.relation), h('span', { class: 'mono' }, m.person_id), m.birth_date]),
    part('file-cases', 'wb.file.cases', f.cases,
      [t('field.caseId'), t('field.pathway'), t('field.status'), t('field.outcome'), t('field.approved'), t('field.paid'), t('wb.file.letter')],
      (c) => [h('span', {}, h('a', { href: `/#/case/${enc(c.case_id)}`, class: 'mono' }, c.case_id), ' ',
        h('a', { href: `#/case/${enc(c.case_id)}`, class: 'btn btn-small', id: `file-case-${idPart(c.case_id)}` }, t('wb.case.open'))),
      c.pathway_zh || term('pathway', c.pathway),
        statusBadge(c.status), c.outcome ? term('outcome', c.outcome) : '—',
        approvedFen(c) === null ? '' : formatFen(approvedFen(c)), formatFen(c.paid_fen ?? 0), letterLinks(c)], [4, 5]),
    part('file-payments', 'wb.file.payments', f.payments,
      [t('payment.paidAt'), t('payment.status'), t('policy.measure'), t('payment.amount'), t('payment.installment'), t('field.caseId')],
      (p) => [formatTime(p.created_at), p.kind_zh || p.kind, p.measure_zh || term('measure', p.measure),
        h('span', { class: 'money' }, formatFen(p.amount_fen)), String(p.installment ?? ''), h('span', { class: 'mono small' }, p.case_id || '—')], [3]),
    part('file-reviews', 'wb.file.reviews', f.reviews, [t('overview.day'), t('field.stage'), t('field.outcome'), t('payment.amount')],
      (r) => [r.period, r.kind, r.outcome, formatFen(r.level_fen)], [3]),
    part('file-levels', 'wb.file.levels', f.level_history, [t('overview.day'), t('payment.amount'), '±', t('field.reason')],
      (l) => [l.period, formatFen(l.level_fen), formatFen(l.change_fen), l.why], [1, 2]));
}

