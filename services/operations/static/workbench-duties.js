// 兜底 doudi workbench: the duties of the office (issue 17) as forms on the services' own routes — 复核
// (reconsideration) and 监督投诉 (complaints), objections during 公示 and the public notice list, 转介
// (referrals) to an outcome, visits to dispersed 特困 persons and the caregiver's replacement. Built with
// the form machinery (workbench-forms.js); every id stable: "<action>-<case, referral or person>".
// Also: each task kind's 说明 in Chinese, drawn from the task's kind and fields (the workflows' own
// summary text is English for the record; the page does not show it).

import { I18N, TERMS } from './i18n.js';
import {
  state, t, term, h, api, fill, empty, loading, table, badge, statusBadge, formatFen, formatTime, current, errorBox,
  Unauthorized,
} from './ui.js';
import { actionForm, idPart } from './workbench-forms.js';
import { downloadLink } from './workbench-pages.js';

const enc = encodeURIComponent;

Object.assign(I18N.zh, {
  'wb.nav.duties': '公示·转介·探访',
  'wb.case.title': '案件办理 {id}',
  'wb.case.decision': '决定',
  'wb.case.noDecision': '尚未作出决定。',
  'wb.case.deadline': '复核申请期限',
  'wb.case.appeal': '复核',
  'wb.case.appealState': '复核办理环节：{stage}',
  'wb.case.referrals': '转介',
  'wb.case.complaint': '监督投诉',
  'wb.case.notice': '公示期异议',
  'wb.case.noticeClosed': '本案件当前不在公示期，不能登记异议。',
  'wb.case.open': '办理',
  'wb.act.appeal': '申请复核',
  'wb.act.appealDecide': '作出复核决定',
  'wb.act.complaint': '投诉登记',
  'wb.act.complaintAnswer': '答复投诉',
  'wb.act.objection': '登记异议',
  'wb.act.referral': '转介',
  'wb.act.referralOutcome': '登记转介结果',
  'wb.act.careVisit': '登记探访',
  'wb.act.caregiver': '更换照料服务人',
  'wb.act.careRecipient': '登记分散供养特困人员',
  'wb.field.appealReason': '复核理由',
  'wb.field.appealOutcome': '复核决定',
  'wb.appeal.upheld': '维持原决定',
  'wb.appeal.reversed': '撤销原决定',
  'wb.field.channel': '投诉渠道',
  'wb.channel.hotline': '服务热线',
  'wb.channel.window': '窗口',
  'wb.channel.letter': '来信',
  'wb.channel.online': '网上',
  'wb.field.complaintText': '投诉内容',
  'wb.field.complaintRegion': '被投诉单位区划代码（6 位）',
  'wb.field.answer': '答复内容',
  'wb.field.receivedOn': '收到日期',
  'wb.field.objector': '异议人（可匿名）',
  'wb.field.grounds': '异议理由',
  'wb.field.toKind': '转介对象类型',
  'wb.toKind.department': '政府部门',
  'wb.toKind.charity_organisation': '慈善组织',
  'wb.toKind.social_worker': '社会工作者',
  'wb.toKind.volunteer': '志愿者',
  'wb.field.toName': '接收单位或个人',
  'wb.field.service': '转介事项',
  'wb.service.charity_aid': '慈善救助',
  'wb.service.social_work': '社会工作服务',
  'wb.service.volunteer_service': '志愿服务',
  'wb.service.identity_and_family_tracing': '身份查询和寻亲',
  'wb.service.medical_aid': '医疗救助',
  'wb.service.education_aid': '教育救助',
  'wb.service.housing_aid': '住房救助',
  'wb.service.employment_service': '就业服务',
  'wb.service.other': '其他',
  'wb.field.referralReason': '转介原因（仍存在的困难）',
  'wb.field.referralOutcome': '转介结果',
  'wb.refOutcome.helped': '已帮扶',
  'wb.refOutcome.declined': '对方未接收',
  'wb.refOutcome.unreachable': '无法联系',
  'wb.refOutcome.family_found': '寻亲成功',
  'wb.refOutcome.transferred': '已转其他机构',
  'wb.field.outcomeNote': '结果说明',
  'wb.ref.status.open': '办理中',
  'wb.ref.status.overdue': '已超期',
  'wb.ref.status.closed': '已办结',
  'wb.ref.due': '应于 {due} 前反馈',
  'wb.field.visitedAt': '探访时间',
  'wb.field.performing': '照料服务人履职情况',
  'wb.performing.yes': '履职到位',
  'wb.performing.no': '履职不到位',
  'wb.field.visitFindings': '探访情况',
  'wb.field.newCaregiver': '新照料服务人',
  'wb.field.caregiverPhone': '联系电话（可不填）',
  'wb.field.caregiverReason': '更换理由',
  'wb.field.careLevel': '护理等级',
  'wb.care.full_care': '全护理',
  'wb.care.partial_care': '半护理',
  'wb.care.self_care': '全自理',
  'wb.field.caregiver': '照料服务人',
  'wb.field.carePerson': '身份证号',
  'wb.field.careRegion': '居住地区划代码（6–9 位）',
  'wb.duties.notices': '公示名单',
  'wb.duties.noticeRegion': '区划代码（前缀）',
  'wb.duties.noticeShow': '查看',
  'wb.duties.csv': '下载 CSV',
  'wb.duties.xlsx': '下载 Excel',
  'wb.duties.referrals': '未办结的转介',
  'wb.duties.care': '探访逾期的分散供养特困人员',
  'wb.duties.careRegister': '登记探访对象',
  'wb.duties.complaint': '对单位的投诉登记',
  'wb.notice.kind.dibao': '最低生活保障',
  'wb.notice.kind.extreme_poverty': '特困人员救助供养',
  'wb.notice.up': '公示中',
  'wb.notice.clean': '期满无异议',
  'wb.notice.objected': '有异议，重新核查',
  'wb.notice.name': '姓名',
  'wb.notice.size': '家庭人口',
  'wb.notice.amount': '月救助金额',
  'wb.notice.posted': '公示日期',
  'wb.notice.ends': '公示截止',
  'wb.care.last': '上次探访',
  'wb.care.every': '每 {n} 天探访一次',
  'wb.care.never': '尚未探访',
  'wb.sum.county_decision': '急难型临时救助金额 {amount} 超出乡镇审批权限，请县级审批。',
  'wb.sum.approval': '{pathway}：请审批 {amount}。',
  'wb.sum.approvalMonthly': '{pathway}：每月 {amount}，请确认纳入。',
  'wb.sum.committee': '一事一议：申请金额 {amount}，请协调机制成员提出意见。',
  'wb.sum.documents': '先行救助、事后补证：请收集情况说明和证明材料。',
  'wb.sum.resolve_ineligible': '发放后核查不符合条件：请决定追回，或按容错纠错处理。',
  'wb.sum.assessment': '政策给予救助但未定金额：请核定救助金额。',
  'wb.sum.outreach': '主动发现：请告知当事人申请{pathway}。',
  'wb.sum.home_visit': '入户调查：请入户核查家庭情况{again}。',
  'wb.sum.again': '（第 {round} 轮）',
  'wb.sum.democratic_appraisal': '民主评议：入户调查有争议，请组织评议{again}。',
  'wb.sum.reconsideration': '案件 {case} 的复核申请：{reason}（须由原决定人以外的工作人员决定）',
  'wb.sum.complaint': '监督投诉：{text}',
});

Object.assign(I18N.en, {
  'wb.nav.duties': 'Notices · referrals · visits',
  'wb.case.title': 'Case {id}',
  'wb.case.decision': 'Decision',
  'wb.case.noDecision': 'No decision yet.',
  'wb.case.deadline': 'Reconsideration until',
  'wb.case.appeal': 'Reconsideration',
  'wb.case.appealState': 'Reconsideration stage: {stage}',
  'wb.case.referrals': 'Referrals',
  'wb.case.complaint': 'Complaint',
  'wb.case.notice': 'Objection during the notice',
  'wb.case.noticeClosed': 'The case is not on public notice now: no objection can be recorded.',
  'wb.case.open': 'Act',
  'wb.act.appeal': 'Request reconsideration',
  'wb.act.appealDecide': 'Decide the reconsideration',
  'wb.act.complaint': 'Record the complaint',
  'wb.act.complaintAnswer': 'Answer the complaint',
  'wb.act.objection': 'Record the objection',
  'wb.act.referral': 'Refer',
  'wb.act.referralOutcome': 'Record the outcome',
  'wb.act.careVisit': 'Record the visit',
  'wb.act.caregiver': 'Replace the caregiver',
  'wb.act.careRecipient': 'Register the person',
  'wb.field.appealReason': 'Grounds',
  'wb.field.appealOutcome': 'Outcome',
  'wb.appeal.upheld': 'Uphold',
  'wb.appeal.reversed': 'Reverse',
  'wb.field.channel': 'Channel',
  'wb.field.complaintText': 'Complaint',
  'wb.field.complaintRegion': 'Office complained about (6-digit code)',
  'wb.field.answer': 'Answer',
  'wb.field.receivedOn': 'Received on',
  'wb.field.objector': 'Objector (may be anonymous)',
  'wb.field.grounds': 'Grounds',
  'wb.field.toKind': 'Refer to',
  'wb.field.toName': 'Receiving body',
  'wb.field.service': 'Service asked',
  'wb.field.referralReason': 'Hardship left',
  'wb.field.referralOutcome': 'Outcome',
  'wb.field.outcomeNote': 'Note',
  'wb.field.visitedAt': 'Visited at',
  'wb.field.performing': 'Caregiver performing',
  'wb.field.visitFindings': 'Findings',
  'wb.field.newCaregiver': 'New caregiver',
  'wb.field.caregiverPhone': 'Phone (optional)',
  'wb.field.caregiverReason': 'Why',
  'wb.field.careLevel': 'Care level',
  'wb.field.caregiver': 'Caregiver',
  'wb.field.carePerson': 'National ID',
  'wb.field.careRegion': 'Region code (6–9 digits)',
  'wb.duties.notices': 'Public notice list',
  'wb.duties.noticeRegion': 'Region prefix',
  'wb.duties.noticeShow': 'Show',
  'wb.duties.csv': 'CSV',
  'wb.duties.xlsx': 'Excel',
  'wb.duties.referrals': 'Open referrals',
  'wb.duties.care': 'Overdue visits to dispersed 特困 persons',
  'wb.duties.careRegister': 'Register a person to visit',
  'wb.duties.complaint': 'Complaint about an office',
});

/** The task's 说明 in Chinese (English on the English page: the kind's name), from its kind and fields. */
export function taskSummary(task) {
  if (state.lang === 'en') return task.summary || '';
  const amount = task.amount_fen === null || task.amount_fen === undefined ? '' : formatFen(task.amount_fen);
  const pathway = term('pathway', task.pathway);
  const again = task.round ? t('wb.sum.again', { round: task.round }) : '';
  const after = (text) => String(text || '').replace(/^[^:：]*[:：]\s*/, '');  // the person's words after "复核 x: "
  switch (task.kind) {
    case 'approval':
      return t(/fen\/month/.test(task.summary || '') ? 'wb.sum.approvalMonthly' : 'wb.sum.approval', { pathway, amount });
    case 'county_decision':
    case 'committee':
      return t(`wb.sum.${task.kind}`, { amount });
    case 'outreach':
      return t('wb.sum.outreach', { pathway });
    case 'home_visit':
    case 'democratic_appraisal':
      return t(`wb.sum.${task.kind}`, { again });
    case 'reconsideration':
      return t('wb.sum.reconsideration', { case: originalCase(task.case_id), reason: after(task.summary) });
    case 'complaint':
      return t('wb.sum.complaint', { text: after(task.summary) });
    default: {
      const key = `wb.sum.${task.kind}`;
      return t(key) === key ? (task.summary || '') : t(key);
    }
  }
}

/** A reconsideration's own case is "rc-<the case reconsidered>" (workflows/reconsideration/inputs.py). */
function originalCase(appealCaseId) {
  return String(appealCaseId).replace(/^rc-/, '');
}

function today() {
  // the Beijing date (the office's day), as the date fields want it
  return new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
}

function requestId() {
  return `wb-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

const REASON = (label) => ({ name: 'reason', label, type: 'textarea', required: true, wide: true });

// -- 复核 and 监督投诉 ----------------------------------------------------------------------------------------

export function appealForm(caseId, ctx) {
  return actionForm({
    id: `appeal-${idPart(caseId)}`, action: 'appeal', label: 'wb.act.appeal', primary: 'reason',
    fields: [REASON('wb.field.appealReason')],
    request: (v) => ({ path: `/api/cases/${enc(caseId)}/appeals`, body: { reason: v.reason } }), onDone: ctx.onDone,
  }, ctx);
}

function appealDecisionForm(task, ctx) {
  const caseId = originalCase(task.case_id);
  return actionForm({
    id: `appeal-decision-${idPart(caseId)}`, action: 'appeal_decision', label: 'wb.act.appealDecide', primary: 'reason',
    fields: [{ name: 'outcome', label: 'wb.field.appealOutcome', type: 'select', value: 'upheld',
      options: [['upheld', 'wb.appeal.upheld'], ['reversed', 'wb.appeal.reversed']] }, REASON('wb.field.reason')],
    request: (v) => ({ path: `/api/cases/${enc(caseId)}/appeals/decision`, body: { outcome: v.outcome, reason: v.reason } }),
    done: (v) => t('wb.done', { what: t(`wb.appeal.${v.outcome}`) }), onDone: ctx.onDone,
  }, ctx);
}

/** A complaint about a case (``caseId``) or, without one, about an office (its region code typed). */
export function complaintForm(caseId, ctx) {
  let id = requestId();
  const fields = [
    { name: 'channel', label: 'wb.field.channel', type: 'select', value: 'hotline',
      options: ['hotline', 'window', 'letter', 'online'].map((c) => [c, `wb.channel.${c}`]) },
    ...(caseId ? [] : [{ name: 'region_code', label: 'wb.field.complaintRegion', type: 'text', required: true, maxlength: 6,
      inputmode: 'numeric', value: (state.me?.region || '').slice(0, 6) }]),
    { name: 'text', label: 'wb.field.complaintText', type: 'textarea', required: true, wide: true, maxlength: 4000 },
  ];
  return actionForm({
    id: caseId ? `complaint-${idPart(caseId)}` : 'complaint-office', action: 'complaint', label: 'wb.act.complaint',
    primary: 'text', fields,
    request: (v) => ({ path: '/api/complaints', body: {
      ...(caseId ? { case_id: caseId } : { region_code: v.region_code }), channel: v.channel, text: v.text, request_id: id } }),
    done: (v, answer) => `${t('wb.done', { what: t('wb.act.complaint') })} ${answer.complaint_id}（${answer.due_on}）`,
    onDone: (answer) => {
      id = requestId();  // the next complaint is another one; a retried click before this answer is the same
      if (ctx.onDone) ctx.onDone(answer);
    },
  }, ctx);
}

function complaintAnswerForm(task, ctx) {
  return actionForm({
    id: `complaint-answer-${idPart(task.case_id)}`, action: 'complaint_answer', label: 'wb.act.complaintAnswer',
    primary: 'answer', fields: [{ name: 'answer', label: 'wb.field.answer', type: 'textarea', required: true, wide: true, maxlength: 4000 }],
    request: (v) => ({ path: `/api/complaints/${enc(task.case_id)}/answer`, body: { answer: v.answer } }), onDone: ctx.onDone,
  }, ctx);
}

/** The forms of a duty's task in 待办 (GET /api/tasks), by its kind; [] for a kind that is not a duty. */
export function dutyTaskForms(task, ctx) {
  if (task.kind === 'reconsideration') return [appealDecisionForm(task, ctx)];
  if (task.kind === 'complaint') return [complaintAnswerForm(task, ctx)];
  return [];
}

// -- 公示 objections, 转介 ----------------------------------------------------------------------------------

export function objectionForm(caseId, ctx) {
  return actionForm({
    id: `objection-${idPart(caseId)}`, action: 'objection', label: 'wb.act.objection', primary: 'grounds',
    fields: [{ name: 'received_on', label: 'wb.field.receivedOn', type: 'date', required: true, value: today() },
      { name: 'objector', label: 'wb.field.objector', type: 'text', maxlength: 200, value: '匿名' },
      { name: 'grounds', label: 'wb.field.grounds', type: 'textarea', required: true, wide: true, maxlength: 4000 }],
    request: (v) => ({ path: `/api/cases/${enc(caseId)}/objections`,
      body: { received_on: v.received_on, objector: v.objector || '匿名', grounds: v.grounds } }),
    onDone: ctx.onDone,
  }, ctx);
}

const TO_KINDS = ['charity_organisation', 'department', 'social_worker', 'volunteer'];
const SERVICES = ['charity_aid', 'social_work', 'volunteer_service', 'identity_and_family_tracing', 'medical_aid',
  'education_aid', 'housing_aid', 'employment_service', 'other'];
const REF_OUTCOMES = ['helped', 'declined', 'unreachable', 'family_found', 'transferred'];

export function referralForm(caseId, ctx) {
  return actionForm({
    id: `referral-${idPart(caseId)}`, action: 'referral', label: 'wb.act.referral', primary: 'to_name',
    fields: [{ name: 'to_kind', label: 'wb.field.toKind', type: 'select', value: 'charity_organisation',
      options: TO_KINDS.map((k) => [k, `wb.toKind.${k}`]) },
    { name: 'to_name', label: 'wb.field.toName', type: 'text', required: true, maxlength: 200 },
    { name: 'service', label: 'wb.field.service', type: 'select', value: 'charity_aid',
      options: SERVICES.map((k) => [k, `wb.service.${k}`]) },
    REASON('wb.field.referralReason')],
    request: (v) => ({ path: `/api/cases/${enc(caseId)}/referrals`,
      body: { to_kind: v.to_kind, to_name: v.to_name, service: v.service, reason: v.reason } }),
    done: (v, answer) => `${t('wb.done', { what: t('wb.act.referral') })} ${answer.referral_id}`, onDone: ctx.onDone,
  }, ctx);
}

function referralOutcomeForm(ref, ctx) {
  return actionForm({
    id: `referral-outcome-${idPart(ref.referral_id)}`, action: 'referral_outcome', label: 'wb.act.referralOutcome',
    primary: 'note',
    fields: [{ name: 'outcome', label: 'wb.field.referralOutcome', type: 'select', value: 'helped',
      options: REF_OUTCOMES.map((k) => [k, `wb.refOutcome.${k}`]) },
    { name: 'note', label: 'wb.field.outcomeNote', type: 'textarea', required: true, wide: true, maxlength: 2000 }],
    request: (v) => ({ path: `/api/referrals/${enc(ref.referral_id)}/outcome`, body: { outcome: v.outcome, note: v.note } }),
    onDone: ctx.onDone,
  }, ctx);
}

/** One referral: to whom, why, its due date or outcome, and (while open) the outcome form. */
function referralCard(ref, ctx) {
  const kind = ref.status === 'overdue' ? 'b-alert' : ref.status === 'closed' ? 'b-ok' : '';
  return h('article', { class: `panel task ${ref.status === 'overdue' ? 'overdue' : ''}`.trim(), id: `referral-${idPart(ref.referral_id)}`,
    'data-referral-id': ref.referral_id, 'data-case-id': ref.case_id },
  h('h4', {}, t(`wb.toKind.${ref.to_kind}`), ' · ', ref.to_name, ' · ', t(`wb.service.${ref.service}`), ' ',
    badge(t(`wb.ref.status.${ref.status}`), kind)),
  h('p', { class: 'muted' }, h('a', { href: `#/case/${enc(ref.case_id)}`, class: 'mono' }, ref.case_id), ' · ', ref.reason, ' · ',
    ref.outcome ? `${t(`wb.refOutcome.${ref.outcome}`)}：${ref.outcome_note || ''}` : t('wb.ref.due', { due: formatTime(ref.due_at) })),
  ref.outcome ? null : h('div', { class: 'task-forms' }, referralOutcomeForm(ref, ctx)));
}

// -- 探访 (dispersed 特困 persons) ------------------------------------------------------------------------------

function careVisitForm(person, ctx) {
  return actionForm({
    id: `care-visit-${idPart(person.person_id)}`, action: 'care_visit', label: 'wb.act.careVisit', primary: 'findings',
    fields: [{ name: 'visited_on', label: 'wb.field.visitedAt', type: 'date', required: true, value: today() },
      { name: 'caregiver_performing', label: 'wb.field.performing', type: 'select', value: 'true',
        options: [['true', 'wb.performing.yes'], ['false', 'wb.performing.no']] },
      { name: 'findings', label: 'wb.field.visitFindings', type: 'textarea', required: true, wide: true, maxlength: 4000 }],
    // the day in Beijing time; noon, so that a visit today is never "in the future"
    request: (v) => ({ path: '/api/care-visits', body: { person_id: person.person_id,
      visited_at: v.visited_on === today() ? new Date().toISOString() : `${v.visited_on}T12:00:00+08:00`,
      caregiver_performing: v.caregiver_performing === 'true', findings: v.findings } }),
    onDone: ctx.onDone,
  }, ctx);
}

function caregiverForm(person, ctx) {
  return actionForm({
    id: `caregiver-${idPart(person.person_id)}`, action: 'caregiver', label: 'wb.act.caregiver', primary: 'caregiver',
    fields: [{ name: 'caregiver', label: 'wb.field.newCaregiver', type: 'text', required: true, maxlength: 100 },
      { name: 'caregiver_phone', label: 'wb.field.caregiverPhone', type: 'text', maxlength: 30 },
      REASON('wb.field.caregiverReason')],
    request: (v) => ({ path: `/api/care-recipients/${enc(person.person_id)}/caregiver`, body: {
      caregiver: v.caregiver, caregiver_phone: v.caregiver_phone || null, reason: v.reason } }),
    onDone: ctx.onDone,
  }, ctx);
}

function careRecipientForm(ctx) {
  return actionForm({
    id: 'care-recipient-form', action: 'care_recipient', label: 'wb.act.careRecipient', primary: 'person_id',
    fields: [{ name: 'person_id', label: 'wb.field.carePerson', type: 'text', required: true, maxlength: 18 },
      { name: 'region_code', label: 'wb.field.careRegion', type: 'text', required: true, maxlength: 9, value: state.me?.region || '' },
      { name: 'care_level', label: 'wb.field.careLevel', type: 'select', value: 'full_care',
        options: ['full_care', 'partial_care', 'self_care'].map((k) => [k, `wb.care.${k}`]) },
      { name: 'caregiver', label: 'wb.field.caregiver', type: 'text', required: true, maxlength: 100 },
      { name: 'caregiver_phone', label: 'wb.field.caregiverPhone', type: 'text', maxlength: 30 }],
    request: (v) => ({ path: `/api/care-recipients/${enc(v.person_id.toUpperCase())}`, method: 'PUT', body: {
      region_code: v.region_code, care_level: v.care_level, caregiver: v.caregiver, caregiver_phone: v.caregiver_phone || null } }),
    onDone: ctx.onDone,
  }, ctx);
}

function careCard(person, ctx) {
  return h('article', { class: 'panel task overdue', id: `care-${idPart(person.person_id)}`, 'data-person-id': person.person_id },
    h('h4', {}, person.name || '—', ' · ', h('span', { class: 'mono' }, person.person_id), ' · ', t(`wb.care.${person.care_level}`),
      ' ', badge(t('case.overdue'), 'b-alert')),
    h('p', { class: 'muted' }, `${t('wb.field.caregiver')}：${person.caregiver} · `, t('wb.care.every', { n: person.visit_every_days }), ' · ',
      `${t('wb.care.last')}：`, person.last_visited_at ? formatTime(person.last_visited_at) : t('wb.care.never')),
    h('div', { class: 'task-forms' }, careVisitForm(person, ctx), caregiverForm(person, ctx)));
}

// -- the pages -----------------------------------------------------------------------------------------------

async function maybe(load) {
  try {
    return await load();
  } catch (err) {
    if (err instanceof Unauthorized) throw err;
    return { error: err };
  }
}

function block(id, titleKey, ...children) {
  return h('section', { class: 'panel', id, 'aria-labelledby': `${id}-h` }, h('h3', { id: `${id}-h` }, t(titleKey)), ...children);
}

/** 案件办理 (#/case/<id>): the decision and its 复核, an objection while on 公示, referrals, a complaint. */
export async function renderCase(seq, container, caseId, ctx) {
  loading(container);
  const c = await api(`/api/cases/${enc(caseId)}`);
  const [decision, appeal, referrals] = await Promise.all([
    maybe(() => api(`/api/cases/${enc(caseId)}/decision`)),
    maybe(() => api(`/api/cases/${enc(caseId)}/appeals`)),
    maybe(() => api(`/api/cases/${enc(caseId)}/referrals`)),
  ]);
  if (!current(seq)) return;
  // a form done stays as it is (its result line): the page is drawn again by 刷新 or on the next visit,
  // never under a person's hands while they fill the next form
  const redraw = ctx;
  const decided = decision && !decision.error;
  const appealed = appeal && !appeal.error;
  fill(container,
    h('h2', { id: 'case-heading' }, t('wb.case.title', { id: caseId })),
    h('section', { class: 'panel', id: 'case-summary' }, h('dl', { class: 'facts' },
      h('dt', {}, t('field.pathway')), h('dd', {}, term('pathway', c.pathway)),
      h('dt', {}, t('field.status')), h('dd', {}, statusBadge(c.status)),
      h('dt', {}, t('field.stage')), h('dd', { id: 'case-stage' }, term('stage', c.stage)),
      h('dt', {}, t('field.region')), h('dd', {}, c.region_name ? `${c.region_name}（${c.region_code}）` : (c.region_code || '—')))),
    block('case-decision', 'wb.case.decision', decided
      ? [h('p', { id: 'case-decision-outcome' }, h('strong', {}, decision.outcome_zh || decision.outcome), ' · ',
        formatFen(decision.amount_fen ?? 0), ' · ', decision.reason || ''),
      decision.remedies ? h('p', { class: 'muted' }, `${t('wb.case.deadline')}：${decision.remedies.reconsideration_deadline}`) : null,
      h('p', { class: 'downloads' },
        downloadLink(`/api/cases/${enc(caseId)}/decision-letter.pdf`, t('wb.file.letter'), { id: `case-letter-${idPart(caseId)}` })),
      appealed
        ? h('p', { id: `appeal-state-${idPart(caseId)}` }, t('wb.case.appealState', { stage: term('stage', appeal.stage) }))
        : h('div', { class: 'task-forms' }, appealForm(caseId, redraw))]
      : empty(t('wb.case.noDecision'))),
    block('case-notice', 'wb.case.notice', c.stage === 'public_notice'
      ? h('div', { class: 'task-forms' }, objectionForm(caseId, redraw))
      : h('p', { class: 'muted' }, t('wb.case.noticeClosed'))),
    block('case-referrals', 'wb.case.referrals',
      referrals && !referrals.error && referrals.items.length
        ? h('div', { class: 'stack' }, referrals.items.map((r) => referralCard(r, redraw))) : null,
      h('div', { class: 'task-forms' }, referralForm(caseId, redraw))),
    block('case-complaint', 'wb.case.complaint', h('div', { class: 'task-forms' }, complaintForm(caseId, ctx))));
}

function noticeList(region) {
  const query = `region=${enc(region)}`;
  return maybe(() => api(`/api/public-notices?${query}`)).then((list) => h('div', { id: 'notice-list' },
    list.error ? errorBox(list.error, null) : list.items.length ? table(null,
      [t('wb.notice.name'), t('field.personId'), t('field.region'), t('policy.measure'), t('wb.notice.size'),
        t('wb.notice.amount'), t('wb.notice.posted'), t('wb.notice.ends'), t('field.status'), t('field.caseId')],
      list.items.map((n) => [n.name || '—', h('span', { class: 'mono' }, n.person_id_masked), n.region_code,
        t(`wb.notice.kind.${n.kind}`), String(n.household_size), formatFen(n.monthly_amount_fen), n.posted_on,
        formatTime(n.ends_at), t(`wb.notice.${n.outcome || 'up'}`),
        h('a', { href: `#/case/${enc(n.case_id)}`, class: 'mono', id: `notice-case-${idPart(n.case_id)}` }, n.case_id)]),
      { numeric: [4, 5] }) : empty(t('common.none')),
    h('p', { class: 'downloads' },
      downloadLink(`/api/public-notices.csv?${query}`, t('wb.duties.csv'), { id: 'notices-csv' }),
      downloadLink(`/api/public-notices.xlsx?${query}`, t('wb.duties.xlsx'), { id: 'notices-xlsx' }))));
}

function noticesPanel(params) {
  const region = params.get('region') || state.me?.region || '';
  const input = h('input', { id: 'notice-region', name: 'region', value: region, maxlength: 9, inputmode: 'numeric' });
  const slot = h('div', {});
  const show = async () => {
    if (!/^\d{2,9}$/.test(input.value.trim())) return;
    fill(slot, await noticeList(input.value.trim()));
  };
  const form = h('form', { class: 'filters', id: 'notice-search', onsubmit: (e) => { e.preventDefault(); show(); } },
    h('div', { class: 'field' }, h('label', { for: 'notice-region' }, t('wb.duties.noticeRegion')), input),
    h('div', { class: 'actions' }, h('button', { class: 'btn', type: 'submit', id: 'notice-show' }, t('wb.duties.noticeShow'))));
  show();
  return block('duties-notices', 'wb.duties.notices', form, slot);
}

/** 公示·转介·探访 (#/duties): the notice list, open and overdue referrals, overdue visits. */
export async function renderDuties(seq, container, params, ctx) {
  loading(container);
  const redraw = ctx;  // as on the case page: redrawn by 刷新
  const [open, overdue, attention] = await Promise.all([
    maybe(() => api('/api/referrals?status=open&limit=100')),
    maybe(() => api('/api/referrals?status=overdue&limit=100')),
    maybe(() => api('/api/stats/attention?limit=100')),
  ]);
  if (!current(seq)) return;
  const refs = [...(overdue.items || []), ...(open.items || [])];
  const visits = attention.error ? null : attention.care_visits || [];
  fill(container,
    noticesPanel(params),
    block('duties-referrals', 'wb.duties.referrals', open.error ? errorBox(open.error, null)
      : refs.length ? h('div', { class: 'stack' }, refs.map((r) => referralCard(r, redraw))) : empty(t('common.none'))),
    block('duties-care', 'wb.duties.care', visits === null ? errorBox(attention.error, null)
      : visits.length ? h('div', { class: 'stack' }, visits.map((p) => careCard(p, redraw))) : empty(t('common.none')),
    h('h4', {}, t('wb.duties.careRegister')), careRecipientForm(redraw)),
    block('duties-complaint', 'wb.duties.complaint', complaintForm(null, ctx)));
}

// a pathway or stage this page shows that the dashboard's terms do not have yet
TERMS.stage ??= {};
TERMS.stage.awaiting_reconsideration ??= ['待复核', 'Awaiting reconsideration'];
TERMS.stage.public_notice ??= ['公示中', 'On public notice'];
