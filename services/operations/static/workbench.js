// 兜底 doudi: the caseworker's workbench (待办工作台). Plain ES module, no build, no third-party code.
// Signed in by the session cookie (the sign-in page, /login; CSRF header on unsafe methods), or, as a
// fallback, by a pasted bearer token (sessionStorage, shared with the dashboard at /).
// Split by concern: workbench-forms.js (the form machinery), workbench-actions.js (each step's forms),
// workbench-pages.js (intake and the household files), money.js (yuan -> fen, the one conversion).

import './workbench-i18n.js';
import { TERMS } from './i18n.js';
import {
  LANG_KEY, TOKEN_KEY, state, t, term, formatFen, formatTime, formatClock,
  h, $, badge, statusBadge, empty, fill, loading, Unauthorized, token, api, errorBox, parseHash, current, authHeaders,
} from './ui.js';
import { idPart, withYuan } from './workbench-forms.js';
import {
  taskForms, countyPaysForm, replenishmentForms, batchApproveForm, deadLetterForms, replayForm,
} from './workbench-actions.js';
import { renderIntake, renderFiles, renderFile, downloadLink } from './workbench-pages.js';
import { dutyTaskForms, taskSummary, renderCase, renderDuties } from './workbench-duties.js';

const VIEWS = ['signin', 'todo', 'intake', 'files', 'file', 'case', 'duties', 'ops'];
const REFRESH_LIMIT = 200;

function showView(name) {
  state.view = name;
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== name;
  const navView = name === 'file' ? 'files' : name;
  for (const a of document.querySelectorAll('#tabs a[data-view]')) {
    if (a.dataset.view === navView) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// -- who is signed in ---------------------------------------------------------------------------------

function renderWho() {
  const signedIn = Boolean(state.me);
  $('tabs').hidden = !signedIn;
  $('sign-out').hidden = !signedIn;
  $('nav-ops').parentElement.hidden = !signedIn || state.me.role !== 'admin';
  if (!signedIn) {
    $('whoami').textContent = '';
    return;
  }
  const me = state.me;
  fill($('whoami'), h('span', { class: 'who-name' }, me.subject), ' · ', term('role', me.role), ' · ',
    `${t('who.jurisdiction')} ${me.region || t('who.everywhere')}`);
}

/** The sign-in page answers (the front door serves /login once sign-in is installed). */
async function signInPageExists() {
  try {
    const r = await fetch('/login', { credentials: 'same-origin', redirect: 'manual', headers: { Accept: 'text/html' } });
    return r.ok || r.type === 'opaqueredirect';
  } catch (_) {
    return false;
  }
}

/** Not signed in (GET /api/me answered 401): to the sign-in page, or the pasted-token fallback without it. */
async function toSignIn(message = '') {
  sessionStorage.removeItem(TOKEN_KEY);
  state.me = null;
  renderWho();
  const next = `/workbench/${location.hash}`;
  if (await signInPageExists()) {
    location.assign(`/login?next=${encodeURIComponent(next)}`);
    return;
  }
  $('signin-link').href = `/login?next=${encodeURIComponent(next)}`;
  $('token-error').hidden = !message;
  $('token-error').textContent = message;
  showView('signin');
}

async function submitToken(event) {
  event.preventDefault();
  const value = $('token-input').value.trim().replace(/^Bearer\s+/i, '');
  if (!value) {
    $('token-error').hidden = false;
    $('token-error').textContent = t('token.empty');
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, value);
  $('token-input').value = '';
  state.me = null;
  route();
}

async function signOut() {
  if (!token()) {
    try {
      await fetch('/logout', { method: 'POST', credentials: 'same-origin', headers: authHeaders('POST') });
    } catch (_) { /* signed out here all the same */ }
  }
  sessionStorage.removeItem(TOKEN_KEY);
  state.me = null;
  location.hash = '#/todo';
  toSignIn();
}

// -- routing --------------------------------------------------------------------------------------------

const ctx = { onUnauthorized: () => toSignIn(t('token.expired')), onDone: () => {} };

async function route() {
  const seq = ++state.renderSeq;
  const { parts, params } = parseHash();
  const [view = 'todo', arg] = parts;
  try {
    if (!state.me) {
      state.me = await api('/api/me');
      renderWho();
    }
    if (!state.pathways) await loadPathways();
    if (view === 'intake') {
      showView('intake');
      renderIntake($('intake-body'), ctx);
    } else if (view === 'files') {
      showView('files');
      await renderFiles(seq, $('files-body'), params, ctx);
    } else if (view === 'file' && arg) {
      showView('file');
      await renderFile(seq, $('file-body'), arg, ctx);
    } else if (view === 'case' && arg) {
      showView('case');
      await renderCase(seq, $('case-body'), arg, ctx);
    } else if (view === 'duties') {
      showView('duties');
      await renderDuties(seq, $('duties-body'), params, ctx);
    } else if (view === 'ops') {
      showView('ops');
      await renderOps(seq);
    } else {
      showView('todo');
      await renderTodo(seq);
    }
    $('global-alert').hidden = true;
  } catch (err) {
    if (err instanceof Unauthorized) {
      await toSignIn(token() ? t('token.invalid') : '');
      return;
    }
    fill($('global-alert'), ...errorBox(err, () => route()).childNodes);
    $('global-alert').hidden = false;
  }
}

async function loadPathways() {
  const items = await api('/api/pathways');
  TERMS.pathway = Object.fromEntries(items.map((p) => [p.key, [p.label_zh, p.label_en]]));
  state.pathwayAliases = Object.fromEntries(items.flatMap((p) => p.older_names.map((n) => [n, p.key])));
  state.pathways = items;
}

/** A section of the to-do list whose data may fail alone (a role that may not read it, a service away). */
async function section(titleKey, id, load, draw) {
  let data;
  try {
    data = await load();
  } catch (err) {
    if (err instanceof Unauthorized) throw err;
    return h('section', { class: 'panel', id, 'aria-label': t(titleKey) }, h('h3', {}, t(titleKey)), errorBox(err, () => route()));
  }
  const body = draw(data);
  return body === null ? null : h('section', { class: 'todo-section', id, 'aria-label': t(titleKey) }, h('h3', {}, t(titleKey)), body);
}

// -- 待办 ------------------------------------------------------------------------------------------------

const AMOUNT_KINDS = new Set(['county_decision', 'approval', 'committee']);

/** A task kind's name on screen; a kind this page does not know yet shows as the API names it. */
function kindLabel(kind) {
  const key = `wb.kind.${kind}`;
  const text = t(key);
  return text === key ? kind : text;
}

function taskCard(task, committees) {
  const headingId = `task-${idPart(task.case_id)}-${idPart(task.kind)}-h`;
  const county = (task.region_code || '').slice(0, 6);
  const roster = committees[county];
  const noMembers = task.kind === 'committee' && roster && !roster.filter((m) => m.active !== false).length;
  return h('article', {
    class: `panel task ${task.overdue ? 'overdue' : ''}`.trim(), id: `task-${idPart(task.case_id)}-${idPart(task.kind)}`,
    'data-case-id': task.case_id, 'data-kind': task.kind, 'aria-labelledby': headingId,
  },
  h('div', { class: 'task-head' },
    h('h3', { id: headingId }, kindLabel(task.kind), ' · ', term('pathway', task.pathway)),
    h('span', { class: 'badges' }, task.overdue ? badge(t('case.overdue'), 'b-alert') : null,
      h('a', { href: `/#/case/${encodeURIComponent(task.case_id)}`, class: 'mono' }, task.case_id))),
  h('ul', { class: 'task-facts' },
    h('li', {}, h('span', {}, t('field.region')), task.region_code || '—'),
    task.amount_fen !== null && task.amount_fen !== undefined
      ? h('li', {}, h('span', {}, t('wb.task.amount')), h('strong', { class: 'money' }, formatFen(task.amount_fen))) : null,
    h('li', {}, h('span', {}, t('wb.task.due')), formatTime(task.due_at)),
    h('li', {}, h('span', {}, t('field.opened')), formatTime(task.opened_at)),
    task.summary ? h('li', { class: 'muted', id: `task-${idPart(task.case_id)}-${idPart(task.kind)}-summary` },
      h('span', {}, t('wb.task.summary')), withYuan(taskSummary(task))) : null),
  noMembers ? h('p', { class: 'alert alert-warn', role: 'status' }, t('committee.empty', { county })) : null,
  AMOUNT_KINDS.has(task.kind) ? h('p', { class: 'section-note' }, t('wb.limitNote')) : null,
  h('div', { class: 'task-forms' }, taskForms(task, ctx), dutyTaskForms(task, ctx)),
  // 主动告知: the person was told; the application itself is filed at the one window
  task.kind === 'outreach' ? h('a', { class: 'btn', href: '#/intake', id: `outreach-${idPart(task.case_id)}-apply` }, t('wb.act.apply')) : null);
}

async function committeeRosters(tasks) {
  const counties = [...new Set(tasks.filter((x) => x.kind === 'committee').map((x) => (x.region_code || '').slice(0, 6)))];
  const out = {};
  for (const county of counties.filter((c) => c.length === 6)) {
    try {
      out[county] = (await api(`/api/committees/${county}`)).members || [];
    } catch (err) {
      if (err instanceof Unauthorized) throw err;  // a role that may not read the roster sees no warning
    }
  }
  return out;
}

function isOpen(reserve) {
  return reserve.open_request && (reserve.open_request.status || 'open') === 'open';
}

async function renderTodo(seq) {
  const body = $('todo-body');
  loading(body);
  const role = state.me.role;
  const sections = [];
  sections.push(await section('wb.todo.tasks', 'todo-tasks', async () => {
    const tasks = await api('/api/tasks');
    return { tasks, committees: await committeeRosters(tasks) };
  }, ({ tasks, committees }) => (tasks.length
    ? h('div', { class: 'stack' }, tasks.map((task) => taskCard(task, committees)))
    : empty(t('wb.todo.empty')))));
  if (role === 'committee' && (state.me.region || '').length >= 6) {
    const county = state.me.region.slice(0, 6);
    sections.push(await section('wb.todo.committee', 'todo-committee', () => api(`/api/committees/${county}`), (c) => {
      const active = (c.members || []).filter((m) => m.active !== false).length;
      return active
        ? h('p', { class: 'muted' }, t('wb.committee.members', { county, n: active }))
        : h('p', { class: 'alert alert-warn', role: 'status', id: 'committee-empty-warning' }, t('committee.empty', { county }));
    }));
  }
  if (role === 'finance' || role === 'county_approver') {
    sections.push(await section('wb.todo.reserves', 'todo-reserves', () => api('/api/reserves'), (data) => {
      const open = (data.items || []).filter(isOpen);
      return open.length ? h('div', { class: 'stack' }, open.map((r) => h('article', {
        class: 'panel task', id: `reserve-${idPart(r.township_code)}`, 'data-township': r.township_code },
      h('h4', {}, r.township_code, ' · ', t('reserves.requestOpen', { amount: formatFen(r.open_request.amount_fen) })),
      h('p', { class: 'muted' }, `${t('reserves.balance')} ${formatFen(r.balance_fen)} · ${t('reserves.threshold')} ${formatFen(r.threshold_fen)}`),
      h('div', { class: 'task-forms' }, replenishmentForms(r, ctx, { mayApprove: role === 'finance' }))))) : null;
    }));
    sections.push(await section('wb.todo.waiting', 'todo-waiting',
      () => api(`/api/cases?status=open&limit=${REFRESH_LIMIT}`),
      (page) => {
        const waiting = page.items.filter((c) => c.stage === 'waiting_for_reserve');
        return waiting.length ? h('div', { class: 'stack' }, waiting.map((c) => h('article', {
          class: 'panel task', id: `waiting-${idPart(c.case_id)}`, 'data-case-id': c.case_id },
        h('h4', {}, h('a', { href: `/#/case/${encodeURIComponent(c.case_id)}`, class: 'mono' }, c.case_id), ' ',
          statusBadge(c.status), ' ', term('stage', c.stage)),
        h('div', { class: 'task-forms' }, countyPaysForm(c, ctx))))) : null;
      }));
  }
  if (role === 'finance') {
    sections.push(await section('wb.todo.batches', 'todo-batches', () => api('/api/batches?status=awaiting_second_approval'),
      (data) => ((data.items || []).length ? h('div', { class: 'stack' }, data.items.map((b) => h('article', {
        class: 'panel task', id: `batch-${idPart(b.batch_id)}`, 'data-batch-id': b.batch_id },
      h('h4', {}, term('measure', b.measure), ' · ', b.region_prefix, ' · ', b.month || b.snapshot_on),
      h('p', { class: 'muted' }, b.requested_amount_fen ? formatFen(b.requested_amount_fen) : '', ' ', b.amount_note || ''),
      h('div', { class: 'task-forms' }, batchApproveForm(b, ctx))))) : null)));
  }
  if (!current(seq)) return;
  fill(body, sections, h('p', { class: 'downloads' },
    downloadLink('/api/exports/tasks.xlsx', t('wb.export.tasks'), { id: 'todo-export' })));
  $('todo-updated').textContent = t('common.updated', { time: formatClock() });
}

// -- 运维 (administrators: dead letters, stalled cases) ------------------------------------------------

async function renderOps(seq) {
  const body = $('ops-body');
  if (state.me.role !== 'admin') {
    fill(body, h('p', { class: 'muted' }, t('wb.ops.adminOnly')));
    return;
  }
  loading(body);
  const letters = await section('wb.ops.dlq', 'ops-dlq', () => api('/api/admin/dlq?limit=50'), (items) => {
    const open = items.filter((d) => !d.redelivered || d.redelivery === 'awaiting_second_official');
    return open.length ? h('div', { class: 'stack' }, open.map((d) => h('article', { class: 'panel task', id: `dlq-${d.seq}`, 'data-seq': d.seq },
      h('h4', {}, `#${d.seq} · ${d.original_subject || d.subject}`),
      h('p', { class: 'muted' }, d.reason || '', ' · ', formatTime(d.received_at)),
      h('div', { class: 'task-forms' }, deadLetterForms(d, ctx))))) : empty(t('wb.ops.empty'));
  });
  const stalled = await section('wb.ops.stalled', 'ops-stalled', () => api('/api/admin/stalled?limit=100'), (items) => (items.length
    ? h('div', { class: 'stack' }, items.map((c) => h('article', { class: 'panel task', id: `stalled-${idPart(c.case_id)}`, 'data-case-id': c.case_id },
      h('h4', {}, h('a', { href: `/#/case/${encodeURIComponent(c.case_id)}`, class: 'mono' }, c.case_id), ' · ', term('stage', c.stage)),
      h('p', { class: 'muted' }, c.stalled_reason || '', ' · ', formatTime(c.stalled_at)),
      h('div', { class: 'task-forms' }, replayForm(c, ctx)))))
    : empty(t('wb.ops.empty'))));
  if (current(seq)) fill(body, letters, stalled);
}

// -- language, start -------------------------------------------------------------------------------------

function applyLanguage() {
  document.documentElement.lang = state.lang === 'en' ? 'en' : 'zh-CN';
  document.title = t('wb.doctitle');
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-aria-label]')) el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
  const toggle = $('lang-toggle');
  toggle.textContent = state.lang === 'en' ? '中文' : 'English';
  toggle.lang = state.lang === 'en' ? 'zh-CN' : 'en';
  renderWho();
}

function start() {
  applyLanguage();
  $('token-form').addEventListener('submit', submitToken);
  $('sign-out').addEventListener('click', signOut);
  $('lang-toggle').addEventListener('click', () => {
    state.lang = state.lang === 'en' ? 'zh' : 'en';
    localStorage.setItem(LANG_KEY, state.lang);
    applyLanguage();
    if (state.me) route();
  });
  $('file-search').addEventListener('submit', (event) => {
    event.preventDefault();
    const q = $('file-q').value.trim();
    const next = q ? `#/files?q=${encodeURIComponent(q)}` : '#/files';
    if (location.hash === next) route();
    else location.hash = next;
  });
  for (const btn of document.querySelectorAll('[data-refresh]')) btn.addEventListener('click', () => route());
  window.addEventListener('hashchange', () => route());
  route();
}

start();
