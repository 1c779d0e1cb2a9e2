// 兜底 doudi dashboard: state, text, formatting, DOM helpers, the API client, views and charts shared
// by the pages (dashboard.js). Money arrives as integer fen and is formatted with BigInt only.

import { I18N, TERMS } from './i18n.js';

export const TOKEN_KEY = 'doudi.token';
export const LANG_KEY = 'doudi.lang';
export const TIME_ZONE = 'Asia/Shanghai';

// -- state ----------------------------------------------------------------------------------------

export const state = {
  lang: localStorage.getItem(LANG_KEY) === 'en' ? 'en' : 'zh',
  me: null,
  renderSeq: 0,
  inFlight: false,
  view: null,
  pathways: null,       // GET /api/pathways, once signed in
  pathwayAliases: {},   // older pathway name -> its key
};

export function t(key, vars = {}) {
  const text = I18N[state.lang][key] ?? I18N.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

export function term(kind, code) {
  if (code === null || code === undefined || code === '') return '—';
  const entry = TERMS[kind]?.[code] ?? (kind === 'pathway' ? TERMS.pathway[state.pathwayAliases[code]] : undefined);
  return entry ? entry[state.lang === 'en' ? 1 : 0] : code;
}

// -- formatting -----------------------------------------------------------------------------------

/** Integer fen -> "¥1,950.00"; integer arithmetic only (BigInt), never a float in the computation. */
export function formatFen(fen) {
  if (fen === null || fen === undefined) return '—';
  if (!Number.isInteger(fen) && typeof fen !== 'bigint') return '?';
  let v = BigInt(fen);
  const negative = v < 0n;
  if (negative) v = -v;
  const yuan = (v / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const cents = (v % 100n).toString().padStart(2, '0');
  return `${negative ? '-' : ''}¥${yuan}.${cents}`;
}

// Stages before anyone decided the amount: the case carries the requested or assessed amount then, which
// is not an approved one (核准金额 stays empty until a decision).
const UNDECIDED_STAGES = new Set([
  'opened', 'looking_up_recipient', 'assessing', 'assessed', 'awaiting_assessment', 'checking', 'checked', 'check_waived', 'approving',
  'awaiting_approval', 'awaiting_county_decision', 'referred_to_committee', 'dossier_assembled',
  'collecting_opinions', 'escalated', 'outreach', 'application_received', 'waiting', 'assessed_by_caseworker',
  'home_visited', 'appraisal_skipped', 'appraised', 'public_notice', 'notice_clean', 'notice_objected',
  'waiting_for_condition', 'awaiting_home_visit', 'awaiting_democratic_appraisal']);
const REFUSED_OUTCOMES = new Set(['not_payable', 'rejected', 'no_application', 'cancelled']);

/** The approved amount (fen) of a case, or null while nobody has decided it (or it was refused). */
export function approvedFen(c) {
  if (c.approved_amount_fen === null || c.approved_amount_fen === undefined) return null;
  if ((c.payments || []).length) return c.approved_amount_fen;
  if (c.status === 'closed') return REFUSED_OUTCOMES.has(c.outcome) ? null : c.approved_amount_fen;
  if (c.status === 'awaiting_decision' || UNDECIDED_STAGES.has(c.stage)) return null;
  return c.approved_amount_fen;
}

/** The amount a case carries while it waits for a decision (requested or assessed), else null. */
export function proposedFen(c) {
  if (c.approved_amount_fen === null || c.approved_amount_fen === undefined) return null;
  return approvedFen(c) === null && c.status !== 'closed' ? c.approved_amount_fen : null;
}

export function locale() {
  return state.lang === 'en' ? 'en-GB' : 'zh-CN';
}

export function formatTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return new Intl.DateTimeFormat(locale(), {
    timeZone: TIME_ZONE, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    hour12: false,
  }).format(d);
}

export function formatClock(iso) {
  const d = iso ? new Date(iso) : new Date();
  return new Intl.DateTimeFormat(locale(), {
    timeZone: TIME_ZONE, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
  }).format(d);
}

export function formatNumber(n) {
  return new Intl.NumberFormat(locale()).format(n);
}

// -- DOM helpers (text only: data never becomes markup) -------------------------------------------

export const SVG_NS = 'http://www.w3.org/2000/svg';

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** ``el``'s children replaced by ``children``: null, undefined and false are left out (replaceChildren
 * itself would print them as the text "null"). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function $(id) {
  return document.getElementById(id);
}

export function badge(text, kind = '') {
  return h('span', { class: `badge ${kind}`.trim() }, text);
}

export function statusBadge(status) {
  return badge(term('status', status), `status-${status}`);
}

export function caseLink(caseId) {
  return h('a', { href: `#/case/${encodeURIComponent(caseId)}`, class: 'mono' }, caseId);
}

export function table(caption, headers, rows, { numeric = [] } = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, headers.map((x, i) => h('th', { scope: 'col', class: numeric.includes(i) ? 'num' : null }, x)))),
      h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c, i) => h('td', { class: numeric.includes(i) ? 'num' : null }, c)))))));
}

export function empty(text) {
  return h('p', { class: 'empty' }, text);
}

export function loading(container) {
  container.replaceChildren(h('p', { class: 'loading', role: 'status' }, t('common.loading')));
}

// -- the API --------------------------------------------------------------------------------------

export class ApiError extends Error {
  /** ``fields``: the 422's messages by field name (``amount_fen``, ``members[0].person_id``), as the API
   * gives them (Chinese for a Chinese page: the request says Accept-Language zh-CN). */
  constructor(status, message, fields = {}, detail = message) {
    super(message);
    this.status = status;
    this.fields = fields;
    this.detail = detail;  // the API's own words, without "HTTP 409: "
  }
}

export class Unauthorized extends Error {}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The sign-in's CSRF cookie (readable by the page), sent back as X-CSRF-Token on unsafe methods. */
export function csrfToken() {
  const found = document.cookie.split(';').map((c) => c.trim()).find((c) => c.startsWith('doudi_csrf='));
  return found ? decodeURIComponent(found.slice('doudi_csrf='.length)) : '';
}

/** The headers of a call: a pasted bearer token where there is one (the fallback), else the session cookie
 * the browser sends itself (credentials: 'same-origin') with the CSRF header on unsafe methods. */
export function authHeaders(method = 'GET') {
  const headers = { Accept: 'application/json', 'Accept-Language': state.lang === 'en' ? 'en' : 'zh-CN' };
  const tok = token();
  if (tok) headers.Authorization = `Bearer ${tok}`;
  else if (UNSAFE.has(method)) headers['X-CSRF-Token'] = csrfToken();
  return headers;
}

/** The loc of a 422 item as a field name: ``["body", "members", 0, "name"]`` -> ``members[0].name``. */
export function fieldName(loc) {
  const parts = Array.isArray(loc) && loc.length > 1 && ['body', 'query', 'path', 'header', 'cookie'].includes(loc[0])
    ? loc.slice(1) : (loc || []);
  return parts.reduce((name, part) => (typeof part === 'number' ? `${name}[${part}]` : (name ? `${name}.${part}` : String(part))), '');
}

export async function api(path, { method = 'GET', body } = {}) {
  const headers = authHeaders(method);
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, t('common.network'));
  }
  if (response.status === 401) {
    throw new Unauthorized('401');
  }
  if (!response.ok) {
    let detail = response.statusText;
    const fields = {};
    try {
      const payload = await response.json();
      if (typeof payload.detail === 'string') detail = payload.detail;
      else if (Array.isArray(payload.detail)) {
        for (const d of payload.detail) {
          const name = fieldName(d.loc);
          fields[name] = fields[name] ? `${fields[name]}；${d.msg}` : d.msg;
        }
        detail = payload.detail.map((d) => `${fieldName(d.loc)}: ${d.msg}`).join('; ');
      }
    } catch (_) { /* not JSON */ }
    const text = response.status === 403 && method === 'GET' ? t('common.forbidden') : `HTTP ${response.status}: ${detail}`;
    throw new ApiError(response.status, text, fields, detail);
  }
  return response.status === 204 ? null : response.json();
}

export function errorBox(err, retry) {
  const message = err instanceof ApiError ? err.message : String(err && err.message ? err.message : err);
  return h('div', { class: 'alert alert-error', role: 'alert' },
    h('span', {}, t('common.error', { msg: message })),
    retry ? h('button', { class: 'btn btn-small', type: 'button', onclick: retry }, t('common.retry')) : null);
}

// -- a case's page: its timeline's words, the committee it waits for ----------------------------------

/** A timeline entry's words in the page's language (text_zh/text_en: yuan, Beijing time), else its note. */
export function timelineText(e) {
  return (state.lang === 'en' ? e.text_en : e.text_zh) || e.note || '';
}

// A case before the county's coordination committee (一事一议) whose committee has no active member: nobody
// can give an opinion, so the page says so (the committee's roster: GET /api/committees/{county}).
const COMMITTEE_STAGES = new Set(['referred_to_committee', 'dossier_assembled', 'collecting_opinions']);

export async function committeeWarning(c) {
  if (!COMMITTEE_STAGES.has(c.stage) || !c.region_code || c.status === 'closed') return null;
  let committee;
  try {
    committee = await api(`/api/committees/${encodeURIComponent(c.region_code.slice(0, 6))}`);
  } catch (err) {
    if (err instanceof Unauthorized) throw err;
    return null;  // a role that may not read the roster (403) sees the case without the warning
  }
  const active = (committee.members || []).filter((m) => m.active !== false).length;
  return active ? null : h('p', { class: 'alert alert-warn', role: 'status', id: 'committee-empty-warning' },
    t('committee.empty', { county: committee.county_code }));
}

// -- views -----------------------------------------------------------------------------------------

// -- routing --------------------------------------------------------------------------------------

export const VIEWS = ['token', 'overview', 'attention', 'cases', 'case', 'reserves'];

export function showView(name) {
  state.view = name;
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== name;
  const navView = name === 'case' ? 'cases' : name;
  for (const a of document.querySelectorAll('#tabs a[data-view]')) {
    if (a.dataset.view === navView) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

export function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

export function current(seq) {
  return seq === state.renderSeq;
}

// -- charts ----------------------------------------------------------------------------------------

export function breakdown(titleKey, columnKey, counts, label, link, total) {
  const max = Math.max(1, ...counts.map((c) => c.count));
  const rows = counts.map((c) => {
    const href = link ? link(c.key) : null;
    const name = href ? h('a', { href }, label(c.key)) : label(c.key);
    const width = Math.round((c.count / max) * 100);
    const bar = s('svg', { class: 'minibar', viewBox: '0 0 100 10', preserveAspectRatio: 'none', 'aria-hidden': 'true', focusable: 'false' },
      s('rect', { x: 0, y: 0, width: 100, height: 10, class: 'minibar-track' }),
      s('rect', { x: 0, y: 0, width, height: 10, class: 'minibar-fill' }));
    const share = total ? `${Math.round((c.count * 100) / total)}%` : '—';
    return [name, formatNumber(c.count), h('span', { class: 'share' }, bar, h('span', {}, share))];
  });
  return h('section', { class: 'panel', 'aria-label': t(titleKey) },
    h('h3', {}, t(titleKey)),
    rows.length
      ? h('div', { class: 'breakdown' }, table(null, [t(columnKey), t('overview.cases'), t('overview.share')], rows, { numeric: [1] }))
      : empty(t('common.none')));
}

export function paymentsChart(pay) {
  const series = pay.series;
  const W = 900;
  const H = 240;
  const left = 84;
  const bottom = 28;
  const top = 14;
  const right = 10;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const max = series.reduce((m, d) => (d.amount_fen > m ? d.amount_fen : m), 0);
  const slot = plotW / Math.max(1, series.length);
  const barW = Math.max(2, slot * 0.7);
  const title = t('overview.chart', { days: pay.days });
  const summary = t('overview.chartSummary', {
    since: pay.since, until: pay.until, count: formatNumber(pay.count), amount: formatFen(pay.amount_fen),
  });

  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}. ${summary}` });
  // horizontal grid lines with yuan labels at 0, 1/2 and the maximum (labels computed from integer fen)
  const ticks = max > 0 ? [0, Math.floor(max / 2), max] : [0];
  for (const v of ticks) {
    const y = top + plotH - (max > 0 ? (v / max) * plotH : 0);
    svg.append(s('line', { x1: left, x2: W - right, y1: y, y2: y, class: 'grid-line' }));
    svg.append(s('text', { x: left - 6, y: y + 4, class: 'axis-label', 'text-anchor': 'end' }, formatFen(v)));
  }
  series.forEach((d, i) => {
    const x = left + i * slot + (slot - barW) / 2;
    const bh = max > 0 ? (d.amount_fen / max) * plotH : 0;
    const y = top + plotH - bh;
    const label = `${d.day}: ${formatFen(d.amount_fen)} (${formatNumber(d.count)} ${t('overview.payments')})`;
    const bar = s('rect', {
      x: x.toFixed(1), y: y.toFixed(1), width: barW.toFixed(1), height: Math.max(0, bh).toFixed(1),
      class: d.amount_fen > 0 ? 'bar' : 'bar bar-zero', 'data-day': d.day, 'data-amount-fen': d.amount_fen,
    }, s('title', {}, label));
    svg.append(bar);
    if (i % 5 === 0 || i === series.length - 1) {
      svg.append(s('text', { x: (left + i * slot + slot / 2).toFixed(1), y: H - 8, class: 'axis-label', 'text-anchor': 'middle' },
        d.day.slice(5)));
    }
  });
  const paidDays = series.filter((d) => d.count > 0);
  return h('section', { class: 'panel chart-panel', 'aria-labelledby': 'chart-title' },
    h('h3', { id: 'chart-title' }, title),
    h('p', { class: 'muted' }, summary),
    svg,
    h('details', {},
      h('summary', {}, t('overview.chartTable')),
      paidDays.length
        ? table(null, [t('overview.day'), t('overview.payments'), t('overview.amount')],
          paidDays.slice().reverse().map((d) => [d.day, formatNumber(d.count), formatFen(d.amount_fen)]), { numeric: [1, 2] })
        : empty(t('overview.noPayments', { days: pay.days }))));
}
