// 兜底 doudi: the operations dashboard (运营工作台). Plain ES module, no build, no third-party code.
// Every data call carries the bearer token the person entered once (kept in sessionStorage).
// Money arrives as integer fen and is formatted with integer (BigInt) arithmetic only.
// Split by concern: i18n.js (dictionary and glossary), ui.js (state, formatting, DOM, API, charts).

import { TERMS } from './i18n.js';
import {
  LANG_KEY, TOKEN_KEY, state, t, term, formatFen, formatTime, formatClock, formatNumber,
  h, s, $, badge, statusBadge, caseLink, table, empty,
  loading, Unauthorized, token, api, errorBox, showView, parseHash, current,
  breakdown, paymentsChart, fill, approvedFen, proposedFen, authHeaders, committeeWarning, timelineText,
} from './ui.js';

const PAGE_SIZE = 25;
const REFRESH_MS = 60_000;

// -- token ----------------------------------------------------------------------------------------

function askForToken(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.me = null;
  renderWho();
  const box = $('token-error');
  box.hidden = !message;
  box.textContent = message || '';
  showView('token');
  $('token-input').value = '';
  $('token-input').focus();
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
  try {
    state.me = await api('/api/me');
  } catch (err) {
    if (err instanceof Unauthorized) {
      askForToken(t('token.invalid'));
    } else {
      sessionStorage.removeItem(TOKEN_KEY);
      $('token-error').hidden = false;
      $('token-error').textContent = t('common.error', { msg: err.message });
    }
    return;
  }
  renderWho();
  if (!location.hash || location.hash === '#/token') location.hash = '#/overview';
  else route();
}

function renderWho() {
  const who = $('whoami');
  const signedIn = Boolean(state.me);
  $('change-token').hidden = !signedIn;
  $('sign-out').hidden = !signedIn;
  $('tabs').hidden = !signedIn;
  if (!signedIn) {
    who.textContent = '';
    return;
  }
  const me = state.me;
  who.replaceChildren(
    h('span', { class: 'who-name' }, me.subject), ' · ', term('role', me.role), ' · ',
    `${t('who.jurisdiction')} ${me.region || t('who.everywhere')}`);
}

// -- routing ---------------------------------------------------------------------------------------

/** Render what the hash names; ``quiet`` (the periodic refresh) keeps the old content until the new arrives. */
async function route({ quiet = false } = {}) {
  if (!token() && !state.me) {
    // no pasted token: a signed-in browser's session cookie may answer (the sign-in page, /login)
    try {
      state.me = await api('/api/me');
    } catch (err) {
      askForToken('');
      return;
    }
    renderWho();
  }
  const { parts, params } = parseHash();
  const [view = 'overview', arg] = parts;
  const seq = ++state.renderSeq;
  state.inFlight = true;
  try {
    if (!state.me) {
      state.me = await api('/api/me');
      renderWho();
    }
    if (!state.pathways) await loadPathways();
    if (view === 'attention') await renderAttention(seq, params, { quiet });
    else if (view === 'cases') await renderCases(seq, params);
    else if (view === 'case' && arg) await renderCase(seq, arg);
    else if (view === 'reserves') await renderReserves(seq);
    else await renderOverview(seq, { quiet });
    $('global-alert').hidden = true;
  } catch (err) {
    if (err instanceof Unauthorized) {
      askForToken(t('token.expired'));
      return;
    }
    const alert = $('global-alert');
    alert.replaceChildren(...errorBox(err, () => route()).childNodes);
    alert.hidden = false;
  } finally {
    if (current(seq)) state.inFlight = false;
  }
}

/** The pathways' labels from the registry; an older name a record carries reads as its pathway's label. */
async function loadPathways() {
  const items = await api('/api/pathways');
  const labels = {};
  for (const p of items) labels[p.key] = [p.label_zh, p.label_en];
  TERMS.pathway = labels;
  state.pathwayAliases = Object.fromEntries(items.flatMap((p) => p.older_names.map((n) => [n, p.key])));
  state.pathways = items;
}

// -- (1) overview ---------------------------------------------------------------------------------

async function renderOverview(seq, { quiet = false } = {}) {
  showView('overview');
  const body = $('overview-body');
  if (!quiet) loading(body);
  let stats;
  try {
    stats = await api('/api/stats?days=30');
  } catch (err) {
    if (err instanceof Unauthorized) throw err;
    if (current(seq)) body.replaceChildren(errorBox(err, () => route()));
    return;
  }
  if (!current(seq)) return;
  updateAttentionBadge(stats.attention);
  const pay = stats.payments;
  const kpis = [
    ['overview.total', formatNumber(stats.total), '#/cases', ''],
    ['overview.open', formatNumber(stats.open), null, ''],
    ['overview.attention', formatNumber(stats.attention), '#/attention', stats.attention ? 'kpi-warn' : ''],
    ['overview.stalled', formatNumber(stats.stalled), '#/cases?stalled=true', stats.stalled ? 'kpi-alert' : ''],
    ['overview.paidAmount', formatFen(pay.amount_fen), null, 'kpi-money'],
    ['overview.paidCount', formatNumber(pay.count), null, ''],
  ];
  body.replaceChildren(
    h('ul', { class: 'kpis', 'aria-label': t('overview.title') },
      kpis.map(([key, value, href, kind]) => h('li', { class: `kpi ${kind}`.trim() },
        h('span', { class: 'kpi-label' }, t(key, { days: pay.days })),
        href ? h('a', { class: 'kpi-value', href }, value) : h('span', { class: 'kpi-value' }, value)))),
    paymentsChart(pay),
    h('div', { class: 'grid' },
      breakdown('overview.byPathway', 'field.pathway', stats.by_pathway, (k) => term('pathway', k), (k) => `#/cases?pathway=${encodeURIComponent(k)}`, stats.total),
      breakdown('overview.byStatus', 'field.status', stats.by_status, (k) => term('status', k), (k) => `#/cases?status=${encodeURIComponent(k)}`, stats.total),
      breakdown('overview.byCounty', 'overview.county', stats.by_county, (k) => k || '—', (k) => (k ? `#/cases?region_code=${encodeURIComponent(k)}` : null), stats.total),
      breakdown('overview.byOutcome', 'field.outcome', stats.by_outcome, (k) => term('outcome', k), null,
        stats.by_outcome.reduce((a, c) => a + c.count, 0))),
  );
  $('overview-updated').textContent = t('common.updated', { time: formatClock(stats.as_of) });
}

function updateAttentionBadge(n) {
  const el = $('attention-badge');
  el.hidden = !n;
  el.textContent = n ? formatNumber(n) : '';
}

// -- (2) stalled and overdue ----------------------------------------------------------------------

async function renderAttention(seq, params, { quiet = false } = {}) {
  showView('attention');
  const body = $('attention-body');
  if (!quiet) loading(body);
  const offset = Math.max(0, parseInt(params.get('offset') || '0', 10) || 0);
  let page;
  try {
    page = await api(`/api/stats/attention?limit=${PAGE_SIZE}&offset=${offset}`);
  } catch (err) {
    if (err instanceof Unauthorized) throw err;
    if (current(seq)) body.replaceChildren(errorBox(err, () => route()));
    return;
  }
  if (!current(seq)) return;
  if (offset === 0) updateAttentionBadge(page.total);
  $('attention-updated').textContent = t('common.updated', { time: formatClock(page.as_of) });
  if (!page.items.length) {
    body.replaceChildren(empty(t('attention.empty')));
    return;
  }
  const rows = page.items.map((c) => [
    caseLink(c.case_id),
    term('pathway', c.pathway),
    statusBadge(c.status),
    term('stage', c.stage),
    c.region_code || '—',
    h('span', { class: 'badges' }, c.reasons.map((r) => {
      if (r === 'stalled') return badge(t('reason.stalled'), 'b-alert');
      if (r.startsWith('overdue:')) return badge(`${term('deadline', r.slice(8))} · ${t('case.overdue')}`, 'b-warn');
      return badge(term('flag', r), 'b-warn');
    })),
    formatTime(c.oldest_due),
    formatTime(c.updated_at),
  ]);
  body.replaceChildren(h('div', { class: 'panel' },
    table(null, [t('field.caseId'), t('field.pathway'), t('field.status'), t('field.stage'), t('field.region'),
      t('attention.reasons'), t('attention.oldestDue'), t('field.updated')], rows),
    pager(offset, page.items.length, page.total, (o) => `#/attention?offset=${o}`)));
}

function pager(offset, shown, total, hrefFor) {
  const prev = offset > 0 ? hrefFor(Math.max(0, offset - PAGE_SIZE)) : null;
  const next = offset + shown < total ? hrefFor(offset + PAGE_SIZE) : null;
  return h('nav', { class: 'pager', 'aria-label': t('common.pager') },
    prev ? h('a', { class: 'btn', href: prev, rel: 'prev' }, t('common.prev')) : h('span', { class: 'btn disabled', 'aria-disabled': 'true' }, t('common.prev')),
    h('span', { class: 'muted' }, t('common.page', { from: total ? offset + 1 : 0, to: offset + shown, total: formatNumber(total) })),
    next ? h('a', { class: 'btn', href: next, rel: 'next' }, t('common.next')) : h('span', { class: 'btn disabled', 'aria-disabled': 'true' }, t('common.next')));
}

// -- (3) the case list ----------------------------------------------------------------------------

const FILTERS = ['pathway', 'status', 'region_code', 'person_id', 'stalled'];

function fillSelect(select, kind, value) {
  select.replaceChildren(
    h('option', { value: '' }, t('common.all')),
    Object.keys(TERMS[kind]).filter((k) => kind !== 'status' || k !== 'waiting_for_reserve')
      .map((k) => h('option', { value: k, selected: k === value }, term(kind, k))));
  select.value = value || '';
}

async function renderCases(seq, params) {
  showView('cases');
  fillSelect($('f-pathway'), 'pathway', params.get('pathway'));
  fillSelect($('f-status'), 'status', params.get('status'));
  $('f-region').value = params.get('region_code') || '';
  $('f-person').value = params.get('person_id') || '';
  $('f-stalled').checked = params.get('stalled') === 'true';
  const body = $('cases-body');
  loading(body);
  const offset = Math.max(0, parseInt(params.get('offset') || '0', 10) || 0);
  const query = new URLSearchParams();
  for (const name of FILTERS) {
    const v = params.get(name);
    if (v) query.set(name, v);
  }
  query.set('limit', String(PAGE_SIZE));
  query.set('offset', String(offset));
  let page;
  try {
    page = await api(`/api/cases?${query}`);
  } catch (err) {
    if (err instanceof Unauthorized) throw err;
    if (current(seq)) body.replaceChildren(errorBox(err, () => route()));
    return;
  }
  if (!current(seq)) return;
  if (!page.items.length) {
    body.replaceChildren(empty(t('cases.empty')));
    return;
  }
  const rows = page.items.map((c) => [
    caseLink(c.case_id),
    term('pathway', c.pathway),
    h('span', { class: 'badges' }, statusBadge(c.status), c.stalled ? badge(t('reason.stalled'), 'b-alert') : null),
    term('stage', c.stage),
    c.outcome ? term('outcome', c.outcome) : '—',
    c.region_code || '—',
    h('span', { class: 'mono' }, c.person_id || '—'),
    formatFen(approvedFen(c)),
    formatFen(c.payments.reduce((sum, p) => sum + p.amount_fen, 0)),
    formatTime(c.updated_at),
  ]);
  const keep = new URLSearchParams(params);
  body.replaceChildren(h('section', { class: 'panel', 'aria-label': t('cases.results') },
    table(null, [t('field.caseId'), t('field.pathway'), t('field.status'), t('field.stage'), t('field.outcome'),
      t('field.region'), t('field.personId'), t('field.approved'), t('field.paid'), t('field.updated')], rows,
    { numeric: [7, 8] }),
    pager(offset, page.items.length, page.total, (o) => {
      keep.set('offset', String(o));
      return `#/cases?${keep}`;
    })));
}

function submitFilters(event) {
  event.preventDefault();
  if (!event.target.reportValidity()) return;
  const params = new URLSearchParams();
  const region = $('f-region').value.trim();
  const person = $('f-person').value.trim().toUpperCase();
  if ($('f-pathway').value) params.set('pathway', $('f-pathway').value);
  if ($('f-status').value) params.set('status', $('f-status').value);
  if (region) params.set('region_code', region);
  if (person) params.set('person_id', person);
  if ($('f-stalled').checked) params.set('stalled', 'true');
  const next = `#/cases${params.toString() ? `?${params}` : ''}`;
  if (location.hash === next) route();
  else location.hash = next;
}

function resetFilters(event) {
  event.preventDefault();
  if (location.hash === '#/cases') route();
  else location.hash = '#/cases';
}

// -- (4) one case ---------------------------------------------------------------------------------

async function renderCase(seq, caseId) {
  showView('case');
  const body = $('case-body');
  loading(body);
  let c;
  try {
    c = await api(`/api/cases/${encodeURIComponent(caseId)}`);
  } catch (err) {
    if (err instanceof Unauthorized) throw err;
    if (current(seq)) {
      body.replaceChildren(h('h2', { id: 'case-heading' }, t('case.title', { id: caseId })), errorBox(err, () => route()));
    }
    return;
  }
  if (!current(seq)) return;
  const warning = await committeeWarning(c);
  if (!current(seq)) return;
  const now = Date.now();
  const policy = c.policy || {};
  const paidTotal = c.payments.reduce((sum, p) => sum + p.amount_fen, 0);
  const facts = [
    ['field.pathway', term('pathway', c.pathway)],
    ['field.status', statusBadge(c.status)],
    ['field.stage', term('stage', c.stage)],
    ['field.outcome', c.outcome ? term('outcome', c.outcome) : '—'],
    ['field.reason', c.reason || '—'],
    ['field.personId', h('span', { class: 'mono' }, c.person_id || '—')],
    ['field.household', h('span', { class: 'mono' }, c.household_id || '—')],
    ['field.region', c.region_code || '—'],
    ['field.policy', c.policy
      ? h('span', {}, term('measure', policy.measure), ' · ', `${t('policy.pack')} ${policy.pack_id || '—'}`,
        policy.pack_version ? ` (${t('policy.version')} ${policy.pack_version})` : '',
        policy.region_prefix ? ` · ${t('policy.region')} ${policy.region_prefix}` : '')
      : '—'],
    ['field.approved', h('span', { class: 'money', id: 'case-approved' }, approvedFen(c) === null ? '' : formatFen(approvedFen(c)))],
    ['field.proposed', proposedFen(c) === null ? null : h('span', { class: 'money' }, formatFen(proposedFen(c)))],
    ['field.paid', h('span', { class: 'money' }, formatFen(paidTotal))],
    ['field.escalatedTo', c.escalated_to || null],
    ['field.cause', c.cause_event_id ? h('span', { class: 'mono' }, c.cause_event_id) : null],
    ['field.opened', formatTime(c.opened_at)],
    ['field.updated', formatTime(c.updated_at)],
  ].filter(([, v]) => v !== null);

  const deadlines = (c.deadlines || []).map((d) => {
    const due = d && d.due ? new Date(d.due) : null;
    const overdue = due && !Number.isNaN(due.getTime()) && due.getTime() < now && c.status !== 'closed';
    return h('li', { class: overdue ? 'overdue' : null },
      h('strong', {}, term('deadline', d && d.kind)), ' · ', t('case.dueOn', { due: formatTime(d && d.due) }),
      overdue ? [' ', badge(t('case.overdue'), 'b-warn')] : null);
  });

  const timeline = c.timeline.map((e) => h('li', {},
    h('time', { datetime: e.at }, formatTime(e.at)),
    h('div', { class: 'tl-body' },
      h('p', { class: 'tl-head' }, h('strong', {}, term('event', e.event)),
        e.stage ? [' · ', term('stage', e.stage)] : null,
        e.status ? [' ', statusBadge(e.status)] : null),
      timelineText(e) ? h('p', { class: 'tl-note' }, timelineText(e)) : null)));

  fill(body,
    h('div', { class: 'case-head' },
      h('h2', { id: 'case-heading' }, t('case.title', { id: c.case_id })),
      h('span', { class: 'badges' }, statusBadge(c.status), c.stalled ? badge(t('reason.stalled'), 'b-alert') : null),
      c.workflow_url ? h('a', { class: 'btn', href: c.workflow_url, target: '_blank', rel: 'noopener noreferrer' },
        t('case.workflow'), h('span', { 'aria-hidden': 'true' }, ' ↗')) : null),
    c.stalled ? h('p', { class: 'alert alert-warn' }, t('case.stalledNote')) : null,
    warning,
    h('div', { class: 'case-grid' },
      h('section', { class: 'panel', 'aria-labelledby': 'case-summary' },
        h('h3', { id: 'case-summary' }, t('case.summary')),
        h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', {}, t(k)), h('dd', {}, v)]))),
      h('div', { class: 'stack' },
        h('section', { class: 'panel', 'aria-labelledby': 'case-payments' },
          h('h3', { id: 'case-payments' }, t('case.payments')),
          c.payments.length
            ? table(null, [t('payment.installment'), t('payment.amount'), t('payment.status'), t('payment.paidAt'), t('payment.id')],
              c.payments.map((p) => [String(p.installment), h('span', { class: 'money' }, formatFen(p.amount_fen)),
                term('payment', p.status), formatTime(p.paid_at), h('span', { class: 'mono small' }, p.payment_id)]),
              { numeric: [0, 1] })
            : empty(t('case.noPayments'))),
        h('section', { class: 'panel', 'aria-labelledby': 'case-deadlines' },
          h('h3', { id: 'case-deadlines' }, t('case.deadlines')),
          deadlines.length ? h('ul', { class: 'deadlines' }, deadlines) : empty(t('case.noDeadlines')),
          c.flags && c.flags.length
            ? [h('h4', {}, t('case.flags')), h('p', { class: 'badges' }, c.flags.map((f) => badge(term('flag', f), 'b-warn')))]
            : null))),
    h('section', { class: 'panel', 'aria-labelledby': 'case-timeline' },
      h('h3', { id: 'case-timeline' }, t('case.timeline')),
      timeline.length ? h('ol', { class: 'timeline' }, timeline) : empty(t('case.noTimeline'))));
  $('main').focus({ preventScroll: true });
}

// -- (5) township reserve funds -------------------------------------------------------------------

async function renderReserves(seq) {
  showView('reserves');
  const body = $('reserves-body');
  loading(body);
  let data;
  try {
    data = await api('/api/reserves');
  } catch (err) {
    if (err instanceof Unauthorized) throw err;
    if (current(seq)) {
      body.replaceChildren(h('div', { class: 'alert alert-warn', role: 'status' },
        h('strong', {}, t('reserves.unavailable')), ` (${err.message})`,
        h('button', { class: 'btn btn-small', type: 'button', onclick: () => route() }, t('common.retry'))));
    }
    return;
  }
  if (!current(seq)) return;
  const items = Array.isArray(data && data.items) ? data.items : [];
  if (!items.length) {
    body.replaceChildren(h('p', { class: 'muted' }, t('reserves.help')), empty(t('reserves.empty')));
    return;
  }
  const rows = items.map((r) => {
    const low = Number.isInteger(r.balance_fen) && Number.isInteger(r.threshold_fen) && r.balance_fen < r.threshold_fen;
    return [
      h('span', { class: 'mono' }, r.township_code),
      h('span', { class: 'mono' }, r.county_code || '—'),
      h('span', { class: low ? 'money low' : 'money' }, formatFen(r.balance_fen), low ? [' ', badge(t('reserves.low'), 'b-warn')] : null),
      formatFen(r.threshold_fen),
      formatFen(r.target_fen),
      r.waiting_count ? `${formatNumber(r.waiting_count)} · ${formatFen(r.waiting_fen)}` : '0',
      r.open_request ? badge(t('reserves.requestOpen', { amount: formatFen(r.open_request.amount_fen) }), 'b-warn') : '—',
      formatTime(r.updated_at),
    ];
  });
  body.replaceChildren(
    h('p', { class: 'muted' }, t('reserves.help')),
    h('div', { class: 'panel' }, table(null, [t('reserves.township'), t('reserves.county'), t('reserves.balance'), t('reserves.threshold'),
      t('reserves.target'), t('reserves.waiting'), t('reserves.request'), t('field.updated')], rows, { numeric: [2, 3, 4, 5] })));
}

// -- language -------------------------------------------------------------------------------------

function applyLanguage() {
  const html = document.documentElement;
  html.lang = state.lang === 'en' ? 'en' : 'zh-CN';
  document.title = t('app.doctitle');
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of document.querySelectorAll('[data-i18n-aria-label]')) el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
  const toggle = $('lang-toggle');
  toggle.textContent = state.lang === 'en' ? '中文' : 'English';
  toggle.lang = state.lang === 'en' ? 'zh-CN' : 'en';
  toggle.setAttribute('aria-label', state.lang === 'en' ? '切换到中文' : 'Switch to English');
  renderWho();
}

function toggleLanguage() {
  state.lang = state.lang === 'en' ? 'zh' : 'en';
  localStorage.setItem(LANG_KEY, state.lang);
  applyLanguage();
  if (state.view && state.view !== 'token') route();
}

// -- start ----------------------------------------------------------------------------------------

function start() {
  applyLanguage();
  $('token-form').addEventListener('submit', submitToken);
  $('change-token').addEventListener('click', () => askForToken(''));
  $('sign-out').addEventListener('click', async () => {
    if (!token()) {  // a signed-in session ends at the sign-in's /logout
      try {
        await fetch('/logout', { method: 'POST', credentials: 'same-origin', headers: authHeaders('POST') });
      } catch (_) { /* signed out locally all the same */ }
    }
    askForToken('');
    location.hash = '';
  });
  $('lang-toggle').addEventListener('click', toggleLanguage);
  $('case-filters').addEventListener('submit', submitFilters);
  $('case-filters').addEventListener('reset', resetFilters);
  for (const btn of document.querySelectorAll('[data-refresh]')) btn.addEventListener('click', () => route());
  window.addEventListener('hashchange', () => route());
  // Keep the overview and the attention list current while the tab is visible.
  setInterval(() => {
    if (document.visibilityState !== 'visible' || !state.me || state.inFlight) return;
    if (state.view === 'overview' || state.view === 'attention') route({ quiet: true });
  }, REFRESH_MS);
  route();
}

start();
