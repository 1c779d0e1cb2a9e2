// 兜底 doudi: the operations dashboard (运营工作台). Plain ES module, no build, no third-party code.
// Every data call carries the bearer token the person entered once (kept in sessionStorage).
// Money arrives as integer fen and is formatted with integer (BigInt) arithmetic only.

const TOKEN_KEY = 'doudi.token';
const LANG_KEY = 'doudi.lang';
const PAGE_SIZE = 25;
const TIME_ZONE = 'Asia/Shanghai';
const REFRESH_MS = 60_000;

// -- dictionary -----------------------------------------------------------------------------------

const I18N = {
  zh: {
    'app.skip': '跳到主要内容',
    'app.product': '兜底 doudi',
    'app.title': '运营工作台',
    'app.doctitle': '兜底 · 运营工作台',
    'app.footer': '金额以分为单位存储与计算，按元显示。时间按北京时间（UTC+8）显示。',
    'nav.label': '主导航',
    'nav.overview': '概览',
    'nav.attention': '待处理',
    'nav.cases': '案件查询',
    'nav.reserves': '备用金',
    'token.title': '输入访问令牌',
    'token.help': '数据接口需要访问令牌（Bearer）。令牌只保存在本标签页的会话中，关闭标签页即清除。',
    'token.devHint': '开发环境获取令牌：',
    'token.label': '访问令牌',
    'token.submit': '进入工作台',
    'token.change': '更换令牌',
    'token.signOut': '退出',
    'token.invalid': '令牌无效或已过期，请重新输入。',
    'token.expired': '登录已失效（HTTP 401），请重新输入访问令牌。',
    'token.empty': '请输入访问令牌。',
    'who.jurisdiction': '辖区',
    'who.everywhere': '全部辖区',
    'common.refresh': '刷新',
    'common.loading': '加载中…',
    'common.none': '暂无数据',
    'common.prev': '上一页',
    'common.next': '下一页',
    'common.page': '第 {from}–{to} 条，共 {total} 条',
    'common.pager': '分页',
    'common.updated': '更新于 {time}',
    'common.error': '请求失败：{msg}',
    'common.retry': '重试',
    'common.search': '查询',
    'common.reset': '重置',
    'common.all': '全部',
    'common.yes': '是',
    'common.no': '否',
    'common.forbidden': '当前角色无权查看（HTTP 403）',
    'common.network': '无法连接服务',
    'overview.title': '概览',
    'overview.total': '案件总数',
    'overview.open': '办理中',
    'overview.stalled': '停滞案件',
    'overview.attention': '需关注（停滞/超时）',
    'overview.paidAmount': '近 {days} 日发放金额',
    'overview.paidCount': '近 {days} 日发放笔数',
    'overview.chart': '近 {days} 日每日发放金额',
    'overview.chartSummary': '{since} 至 {until} 共发放 {count} 笔，合计 {amount}',
    'overview.chartTable': '查看每日数据',
    'overview.byPathway': '按救助路径',
    'overview.byStatus': '按办理状态',
    'overview.byCounty': '按区县',
    'overview.byOutcome': '按办结结果',
    'overview.day': '日期',
    'overview.county': '区县代码',
    'overview.amount': '金额',
    'overview.payments': '笔数',
    'overview.cases': '案件数',
    'overview.share': '占比',
    'overview.noPayments': '近 {days} 日没有发放记录。',
    'attention.title': '待处理：停滞与超时案件',
    'attention.help': '已停滞的案件，以及办理中且期限已过（补充材料、县级审批、一事一议委员意见）的案件；超时最久的排在前面。',
    'attention.empty': '没有需要关注的案件。',
    'attention.reasons': '原因',
    'attention.oldestDue': '最早到期',
    'reason.stalled': '已停滞',
    'cases.title': '案件查询',
    'cases.empty': '没有符合条件的案件。',
    'cases.results': '查询结果',
    'field.caseId': '案件编号',
    'field.pathway': '救助路径',
    'field.status': '状态',
    'field.stage': '办理环节',
    'field.outcome': '办结结果',
    'field.reason': '说明',
    'field.region': '区划',
    'field.regionPrefix': '区划代码（前缀）',
    'field.regionPlaceholder': '如 6401',
    'field.personId': '身份证号',
    'field.personPlaceholder': '18 位身份证号码',
    'field.household': '户编号',
    'field.stalledOnly': '仅看停滞案件',
    'field.stalled': '停滞',
    'field.approved': '核准金额',
    'field.paid': '已发放',
    'field.updated': '更新时间',
    'field.opened': '受理时间',
    'field.policy': '适用政策',
    'field.escalatedTo': '已上报至',
    'field.cause': '触发事件',
    'case.back': '← 返回案件列表',
    'case.title': '案件 {id}',
    'case.summary': '案件信息',
    'case.payments': '发放记录',
    'case.noPayments': '尚无发放记录。',
    'case.deadlines': '办理期限',
    'case.noDeadlines': '没有未到期的期限。',
    'case.flags': '标记',
    'case.timeline': '办理时间线',
    'case.noTimeline': '尚无时间线记录。',
    'case.workflow': '在 Temporal 中查看工作流',
    'case.overdue': '已超时',
    'case.dueOn': '到期 {due}',
    'case.stalledNote': '该案件已停滞，需要人工跟进。',
    'policy.pack': '政策包',
    'policy.version': '版本',
    'policy.measure': '救助措施',
    'policy.region': '适用地区',
    'payment.id': '发放编号',
    'payment.installment': '期次',
    'payment.amount': '金额',
    'payment.status': '状态',
    'payment.paidAt': '发放时间',
    'payment.total': '合计',
    'timeline.at': '时间',
    'timeline.event': '事件',
    'timeline.stage': '环节',
    'timeline.note': '说明',
    'reserves.title': '乡镇临时救助备用金',
    'reserves.help': '乡镇先行救助从备用金支付；余额低于阈值时由乡镇申请、县级补充。',
    'reserves.unavailable': '备用金余额暂不可用',
    'reserves.empty': '辖区内尚未设立备用金。',
    'reserves.township': '乡镇（街道）代码',
    'reserves.county': '县级代码',
    'reserves.balance': '余额',
    'reserves.threshold': '补充阈值',
    'reserves.target': '补充目标',
    'reserves.waiting': '等待支付',
    'reserves.request': '补充申请',
    'reserves.low': '低于阈值',
    'reserves.requestOpen': '待审批 {amount}',
  },
  en: {
    'app.skip': 'Skip to main content',
    'app.product': 'doudi 兜底',
    'app.title': 'Operations console',
    'app.doctitle': 'doudi · Operations console',
    'app.footer': 'Amounts are stored and computed in integer fen and shown in yuan. Times are China Standard Time (UTC+8).',
    'nav.label': 'Main navigation',
    'nav.overview': 'Overview',
    'nav.attention': 'Needs attention',
    'nav.cases': 'Cases',
    'nav.reserves': 'Reserve funds',
    'token.title': 'Enter your access token',
    'token.help': 'The data routes need a bearer token. It is kept only in this tab\'s session storage and cleared when the tab closes.',
    'token.devHint': 'In development:',
    'token.label': 'Access token',
    'token.submit': 'Open the console',
    'token.change': 'Change token',
    'token.signOut': 'Sign out',
    'token.invalid': 'The token is invalid or has expired; please enter it again.',
    'token.expired': 'Your session expired (HTTP 401); please enter your access token again.',
    'token.empty': 'Please enter an access token.',
    'who.jurisdiction': 'jurisdiction',
    'who.everywhere': 'everywhere',
    'common.refresh': 'Refresh',
    'common.loading': 'Loading…',
    'common.none': 'No data',
    'common.prev': 'Previous',
    'common.next': 'Next',
    'common.page': '{from}–{to} of {total}',
    'common.pager': 'Pages',
    'common.updated': 'Updated {time}',
    'common.error': 'Request failed: {msg}',
    'common.retry': 'Retry',
    'common.search': 'Search',
    'common.reset': 'Reset',
    'common.all': 'All',
    'common.yes': 'yes',
    'common.no': 'no',
    'common.forbidden': 'your role may not see this (HTTP 403)',
    'common.network': 'the service cannot be reached',
    'overview.title': 'Overview',
    'overview.total': 'Cases',
    'overview.open': 'Open',
    'overview.stalled': 'Stalled',
    'overview.attention': 'Need attention',
    'overview.paidAmount': 'Paid, last {days} days',
    'overview.paidCount': 'Payments, last {days} days',
    'overview.chart': 'Paid per day, last {days} days',
    'overview.chartSummary': '{count} payments from {since} to {until}, {amount} in all',
    'overview.chartTable': 'Show the daily figures',
    'overview.byPathway': 'By pathway',
    'overview.byStatus': 'By status',
    'overview.byCounty': 'By county',
    'overview.byOutcome': 'By outcome (closed)',
    'overview.day': 'Day',
    'overview.county': 'County code',
    'overview.amount': 'Amount',
    'overview.payments': 'Payments',
    'overview.cases': 'Cases',
    'overview.share': 'Share',
    'overview.noPayments': 'No payments in the last {days} days.',
    'attention.title': 'Needs attention: stalled and overdue cases',
    'attention.help': 'Stalled cases, and open cases past a deadline (supplementary documents, county decision, committee opinions); the longest overdue first.',
    'attention.empty': 'No case needs attention.',
    'attention.reasons': 'Why',
    'attention.oldestDue': 'Earliest due',
    'reason.stalled': 'Stalled',
    'cases.title': 'Cases',
    'cases.empty': 'No case matches.',
    'cases.results': 'Results',
    'field.caseId': 'Case',
    'field.pathway': 'Pathway',
    'field.status': 'Status',
    'field.stage': 'Stage',
    'field.outcome': 'Outcome',
    'field.reason': 'Reason',
    'field.region': 'Region',
    'field.regionPrefix': 'Region code (prefix)',
    'field.regionPlaceholder': 'e.g. 6401',
    'field.personId': 'National ID',
    'field.personPlaceholder': '18-character national ID',
    'field.household': 'Household',
    'field.stalledOnly': 'Stalled cases only',
    'field.stalled': 'Stalled',
    'field.approved': 'Approved amount',
    'field.paid': 'Paid',
    'field.updated': 'Updated',
    'field.opened': 'Opened',
    'field.policy': 'Policy applied',
    'field.escalatedTo': 'Escalated to',
    'field.cause': 'Triggering event',
    'case.back': '← Back to the case list',
    'case.title': 'Case {id}',
    'case.summary': 'Case details',
    'case.payments': 'Payments',
    'case.noPayments': 'No payment yet.',
    'case.deadlines': 'Deadlines',
    'case.noDeadlines': 'No open deadline.',
    'case.flags': 'Flags',
    'case.timeline': 'Timeline',
    'case.noTimeline': 'No timeline entry yet.',
    'case.workflow': 'Open the workflow in the Temporal UI',
    'case.overdue': 'overdue',
    'case.dueOn': 'due {due}',
    'case.stalledNote': 'This case is stalled and needs a person to follow it up.',
    'policy.pack': 'Policy pack',
    'policy.version': 'version',
    'policy.measure': 'Measure',
    'policy.region': 'Region',
    'payment.id': 'Payment',
    'payment.installment': 'Installment',
    'payment.amount': 'Amount',
    'payment.status': 'Status',
    'payment.paidAt': 'Paid at',
    'payment.total': 'Total',
    'timeline.at': 'Time',
    'timeline.event': 'Event',
    'timeline.stage': 'Stage',
    'timeline.note': 'Note',
    'reserves.title': 'Township reserve funds',
    'reserves.help': 'Townships pay assist-first aid from their reserve; below the threshold the township asks the county to replenish it.',
    'reserves.unavailable': 'Reserve balances unavailable',
    'reserves.empty': 'No reserve fund in your jurisdiction yet.',
    'reserves.township': 'Township code',
    'reserves.county': 'County code',
    'reserves.balance': 'Balance',
    'reserves.threshold': 'Threshold',
    'reserves.target': 'Target',
    'reserves.waiting': 'Waiting payments',
    'reserves.request': 'Replenishment',
    'reserves.low': 'below threshold',
    'reserves.requestOpen': 'open: {amount}',
  },
};

// Domain vocabularies: the glossary's Chinese terms first, English in code and in the English UI.
// Pathway labels come from the registry (GET /api/pathways, shared/contracts/pathways.py), loaded once.
const TERMS = {
  pathway: {},
  status: {
    open: ['办理中', 'Open'],
    awaiting_decision: ['待审批', 'Awaiting decision'],
    paid: ['已发放', 'Paid'],
    closed: ['已办结', 'Closed'],
    waiting_for_reserve: ['等待备用金补充', 'Waiting for the reserve'],
  },
  stage: {
    opened: ['已受理', 'Opened'],
    looking_up_recipient: ['核对救助对象', 'Looking up the recipient'],
    assessing: ['测算救助金额', 'Assessing'],
    assessed: ['已测算', 'Assessed'],
    checking: ['家庭经济状况核对中', 'Economic status check'],
    checked: ['已核对', 'Checked'],
    check_waived: ['免于核对', 'Check waived'],
    approving: ['乡镇审批中', 'Township approval'],
    awaiting_approval: ['待审批', 'Awaiting approval'],
    approved: ['已批准', 'Approved'],
    awaiting_county_decision: ['待县级审批', 'Awaiting county decision'],
    referred_to_committee: ['已提请一事一议', 'Referred to the committee'],
    dossier_assembled: ['案卷已汇总', 'Dossier assembled'],
    collecting_opinions: ['征求协调机制成员意见', 'Collecting members\' opinions'],
    escalated: ['已上报', 'Escalated'],
    waiting_for_reserve: ['等待备用金补充', 'Waiting for the reserve'],
    paying: ['发放中', 'Paying'],
    paid: ['已发放', 'Paid'],
    awaiting_documents: ['待补齐说明材料', 'Awaiting documents'],
    documents_received: ['说明材料已补齐', 'Documents received'],
    documents_overdue: ['补充材料逾期', 'Documents overdue'],
    verifying: ['事后核查', 'Verifying'],
    found_ineligible: ['核查不符合条件', 'Found ineligible'],
    staged_plan: ['分阶段救助计划', 'Staged plan'],
    planned: ['已制定发放计划', 'Planned'],
    installment_paid: ['分期已发放', 'Installment paid'],
    paused: ['已暂停', 'Paused'],
    waiting: ['等待中', 'Waiting'],
    outreach: ['主动告知，待申请', 'Outreach'],
    application_received: ['已收到申请', 'Application received'],
    closed: ['已办结', 'Closed'],
  },
  outcome: {
    paid: ['已发放', 'Paid'],
    not_payable: ['不予发放', 'Not payable'],
    rejected: ['不予批准', 'Rejected'],
    confirmed: ['核查确认', 'Confirmed'],
    recovery_opened: ['启动追回', 'Recovery opened'],
    corrected_in_good_faith: ['容错纠错', 'Corrected in good faith'],
    staged_plan: ['转分阶段救助', 'Staged plan'],
    completed: ['已全部发放', 'Completed'],
    cancelled: ['已取消', 'Cancelled'],
    stopped_ineligible: ['因不符合条件停发', 'Stopped: ineligible'],
    no_application: ['未提出申请', 'No application'],
  },
  flag: {
    documents_overdue: ['补充材料逾期', 'Documents overdue'],
    county_decision_overdue: ['县级审批逾期', 'County decision overdue'],
    committee_overdue: ['一事一议逾期', 'Committee overdue'],
    found_ineligible: ['核查不符合条件', 'Found ineligible'],
  },
  deadline: {
    documents: ['补齐说明材料', 'Supplementary documents'],
    county_decision: ['县级审批', 'County decision'],
    committee_opinions: ['协调机制成员意见', 'Committee opinions'],
    application: ['提出申请', 'Application'],
  },
  event: {
    'case.opened': ['案件受理', 'Case opened'],
    'case.updated': ['办理进展', 'Case updated'],
    'case.escalated': ['上报', 'Escalated'],
    'case.stalled': ['停滞', 'Stalled'],
    'case.closed': ['办结', 'Closed'],
    'payment.disbursed': ['资金发放', 'Payment disbursed'],
    'payment.recovery_opened': ['启动追回', 'Recovery opened'],
  },
  measure: {
    quarantine: ['隔离收治家庭救助', 'Quarantined household aid'],
    covid_diagnosis: ['新冠确诊一次性补贴', 'COVID diagnosis subsidy'],
    job_loss: ['未参保失业人员临时救助', 'Uninsured job-loss aid'],
    graduate: ['未就业大学生临时救助', 'Unemployed graduate aid'],
    medical_self_pay: ['因病支出型救助', 'Medical expenditure aid'],
    temporary_assistance_individual: ['临时救助（个人）', 'Temporary assistance (individual)'],
    temporary_assistance_emergency_household: ['临时救助（急难型家庭）', 'Temporary assistance (emergency household)'],
    temporary_assistance_expenditure_household: ['临时救助（支出型家庭）', 'Temporary assistance (expenditure household)'],
    temporary_assistance_emergency: ['急难型临时救助', 'Emergency-type temporary assistance'],
    temporary_assistance_expenditure: ['支出型临时救助', 'Expenditure-type temporary assistance'],
    temporary_hardship_high_risk_area: ['疫情中高风险地区临时救助', 'High-risk area aid'],
    one_time_living_subsidy: ['一次性生活补贴', 'One-time living subsidy'],
    price_linkage: ['价格临时补贴', 'Price-linkage subsidy'],
    disaster_assistance: ['受灾群众先行救助', 'Disaster assistance (assist first)'],
    dibao: ['低保（差额发放）', 'Dibao (difference to the standard)'],
    extreme_poverty: ['特困人员救助供养', 'Extreme-poverty support'],
    gradual_exit: ['渐退期', 'Gradual exit'],
  },
  payment: {
    disbursed: ['已发放', 'Disbursed'],
    waiting_for_reserve: ['等待备用金', 'Waiting for the reserve'],
  },
  role: {
    clerk: ['经办人员', 'Clerk'],
    township_approver: ['乡镇审批人', 'Township approver'],
    county_approver: ['县级审批人', 'County approver'],
    committee: ['协调机制成员', 'Committee member'],
    finance: ['财务', 'Finance'],
    auditor: ['审计', 'Auditor'],
    admin: ['管理员', 'Administrator'],
    service: ['服务账号', 'Service account'],
  },
};

// -- state ----------------------------------------------------------------------------------------

const state = {
  lang: localStorage.getItem(LANG_KEY) === 'en' ? 'en' : 'zh',
  me: null,
  renderSeq: 0,
  inFlight: false,
  view: null,
  pathways: null,       // GET /api/pathways, once signed in
  pathwayAliases: {},   // older pathway name -> its key
};

function t(key, vars = {}) {
  const text = I18N[state.lang][key] ?? I18N.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

function term(kind, code) {
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

function locale() {
  return state.lang === 'en' ? 'en-GB' : 'zh-CN';
}

function formatTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return new Intl.DateTimeFormat(locale(), {
    timeZone: TIME_ZONE, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    hour12: false,
  }).format(d);
}

function formatClock(iso) {
  const d = iso ? new Date(iso) : new Date();
  return new Intl.DateTimeFormat(locale(), {
    timeZone: TIME_ZONE, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
  }).format(d);
}

function formatNumber(n) {
  return new Intl.NumberFormat(locale()).format(n);
}

// -- DOM helpers (text only: data never becomes markup) -------------------------------------------

const SVG_NS = 'http://www.w3.org/2000/svg';

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function $(id) {
  return document.getElementById(id);
}

function badge(text, kind = '') {
  return h('span', { class: `badge ${kind}`.trim() }, text);
}

function statusBadge(status) {
  return badge(term('status', status), `status-${status}`);
}

function caseLink(caseId) {
  return h('a', { href: `#/case/${encodeURIComponent(caseId)}`, class: 'mono' }, caseId);
}

function table(caption, headers, rows, { numeric = [] } = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, headers.map((x, i) => h('th', { scope: 'col', class: numeric.includes(i) ? 'num' : null }, x)))),
      h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c, i) => h('td', { class: numeric.includes(i) ? 'num' : null }, c)))))));
}

function empty(text) {
  return h('p', { class: 'empty' }, text);
}

function loading(container) {
  container.replaceChildren(h('p', { class: 'loading', role: 'status' }, t('common.loading')));
}

// -- the API --------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

class Unauthorized extends Error {}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path) {
  const tok = token();
  if (!tok) throw new Unauthorized('no token');
  let response;
  try {
    response = await fetch(path, { headers: { Authorization: `Bearer ${tok}`, Accept: 'application/json' } });
  } catch (err) {
    throw new ApiError(0, t('common.network'));
  }
  if (response.status === 401) {
    throw new Unauthorized('401');
  }
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const body = await response.json();
      if (typeof body.detail === 'string') detail = body.detail;
      else if (Array.isArray(body.detail)) detail = body.detail.map((d) => `${(d.loc || []).join('.')}: ${d.msg}`).join('; ');
    } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, response.status === 403 ? t('common.forbidden') : `HTTP ${response.status}: ${detail}`);
  }
  return response.json();
}

function errorBox(err, retry) {
  const message = err instanceof ApiError ? err.message : String(err && err.message ? err.message : err);
  return h('div', { class: 'alert alert-error', role: 'alert' },
    h('span', {}, t('common.error', { msg: message })),
    retry ? h('button', { class: 'btn btn-small', type: 'button', onclick: retry }, t('common.retry')) : null);
}

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

// -- routing --------------------------------------------------------------------------------------

const VIEWS = ['token', 'overview', 'attention', 'cases', 'case', 'reserves'];

function showView(name) {
  state.view = name;
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== name;
  const navView = name === 'case' ? 'cases' : name;
  for (const a of document.querySelectorAll('#tabs a[data-view]')) {
    if (a.dataset.view === navView) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

/** Render what the hash names; ``quiet`` (the periodic refresh) keeps the old content until the new arrives. */
async function route({ quiet = false } = {}) {
  if (!token()) {
    askForToken('');
    return;
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

function current(seq) {
  return seq === state.renderSeq;
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

function breakdown(titleKey, columnKey, counts, label, link, total) {
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

function paymentsChart(pay) {
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
    formatFen(c.approved_amount_fen),
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
    ['field.approved', h('span', { class: 'money' }, formatFen(c.approved_amount_fen))],
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
      e.note ? h('p', { class: 'tl-note' }, e.note) : null)));

  body.replaceChildren(
    h('div', { class: 'case-head' },
      h('h2', { id: 'case-heading' }, t('case.title', { id: c.case_id })),
      h('span', { class: 'badges' }, statusBadge(c.status), c.stalled ? badge(t('reason.stalled'), 'b-alert') : null),
      c.workflow_url ? h('a', { class: 'btn', href: c.workflow_url, target: '_blank', rel: 'noopener noreferrer' },
        t('case.workflow'), h('span', { 'aria-hidden': 'true' }, ' ↗')) : null),
    c.stalled ? h('p', { class: 'alert alert-warn' }, t('case.stalledNote')) : null,
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
  $('sign-out').addEventListener('click', () => {
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
    if (document.visibilityState !== 'visible' || !token() || state.inFlight) return;
    if (state.view === 'overview' || state.view === 'attention') route({ quiet: true });
  }, REFRESH_MS);
  route();
}

start();
