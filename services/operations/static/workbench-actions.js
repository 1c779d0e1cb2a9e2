// 兜底 doudi workbench: what each open step offers, as forms on the services' own routes.
// Every id is stable for a given case and action ("<action>-<case id>"), for people's bookmarks and tests.

import { t, formatFen } from './ui.js';
import { actionForm, idPart } from './workbench-forms.js';

const enc = encodeURIComponent;
const REASON = { name: 'reason', label: 'wb.field.reason', type: 'textarea', required: true, wide: true };
const OPTIONAL_REASON = { ...REASON, required: false };

function decision(caseId, body) {
  return { path: `/api/cases/${enc(caseId)}/decisions`, body };
}

function approveForm(task, ctx) {
  return actionForm({
    id: `approve-${idPart(task.case_id)}`, action: 'approve', label: 'wb.act.approve', primary: 'amount_fen',
    fields: [{ name: 'amount_fen', label: 'wb.field.amountYuan', type: 'yuan', required: true, value: task.amount_fen },
      OPTIONAL_REASON],
    request: (v) => decision(task.case_id, { decision: 'approve', amount_fen: v.amount_fen, reason: v.reason }),
    done: (v) => t('wb.done', { what: `${t('wb.act.approve')} ${formatFen(v.amount_fen)}` }), onDone: ctx.onDone,
  }, ctx);
}

function rejectForm(task, ctx) {
  return actionForm({
    id: `reject-${idPart(task.case_id)}`, action: 'reject', label: 'wb.act.reject', danger: true,
    fields: [REASON],
    request: (v) => decision(task.case_id, { decision: 'reject', reason: v.reason }), onDone: ctx.onDone,
  }, ctx);
}

function escalateForm(task, ctx) {
  return actionForm({
    id: `escalate-${idPart(task.case_id)}`, action: 'escalate', label: 'wb.act.escalate', fields: [REASON],
    request: (v) => ({ path: `/api/cases/${enc(task.case_id)}/escalate`, body: { reason: v.reason } }), onDone: ctx.onDone,
  }, ctx);
}

function opinionForm(task, ctx) {
  return actionForm({
    id: `opinion-${idPart(task.case_id)}`, action: 'opinion', label: 'wb.act.opinion', primary: 'amount_fen',
    fields: [{ name: 'vote', label: 'wb.field.vote', type: 'select', value: 'approve',
      options: [['approve', 'wb.vote.approve'], ['reject', 'wb.vote.reject']] },
    { name: 'amount_fen', label: 'wb.field.opinionYuan', type: 'yuan', value: task.amount_fen }, REASON],
    request: (v) => decision(task.case_id, { decision: 'opinion', vote: v.vote, amount_fen: v.amount_fen, reason: v.reason }),
    onDone: ctx.onDone,
  }, ctx);
}

function chairForm(task, ctx) {
  return actionForm({
    id: `chair-${idPart(task.case_id)}`, action: 'committee_decision', label: 'wb.act.chair', primary: 'amount_fen',
    fields: [{ name: 'approve', label: 'wb.field.outcome', type: 'select', value: 'true',
      options: [['true', 'wb.act.approve'], ['false', 'wb.act.reject']] },
    { name: 'amount_fen', label: 'wb.field.chairYuan', type: 'yuan', value: task.amount_fen }, REASON],
    request: (v) => decision(task.case_id, {
      decision: 'committee_decision', approve: v.approve === 'true', amount_fen: v.amount_fen, reason: v.reason }),
    onDone: ctx.onDone,
  }, ctx);
}

function ineligibleForms(task, ctx) {
  return [['recover', 'wb.act.recover', true], ['good_faith_correction', 'wb.act.goodFaith', false]].map(([what, label, danger]) => actionForm({
    id: `${what}-${idPart(task.case_id)}`, action: what, label, danger, fields: [REASON],
    request: (v) => decision(task.case_id, { decision: what, reason: v.reason }), onDone: ctx.onDone,
  }, ctx));
}

function assessmentForm(task, ctx) {
  return actionForm({
    id: `assess-${idPart(task.case_id)}`, action: 'assessment', label: 'wb.act.assess', primary: 'amount_fen',
    fields: [{ name: 'amount_fen', label: 'wb.field.assessedYuan', type: 'yuan', required: true }, REASON],
    request: (v) => ({ path: `/api/cases/${enc(task.case_id)}/assessment`, body: { amount_fen: v.amount_fen, reason: v.reason } }),
    done: (v) => t('wb.done', { what: `${t('wb.act.assess')} ${formatFen(v.amount_fen)}` }), onDone: ctx.onDone,
  }, ctx);
}

const DOCUMENT_KINDS = ['explanation', 'id_card', 'authorisation', 'hospital_record', 'quarantine_notice',
  'disaster_certificate', 'other'];

function documentsForm(task, ctx) {
  // the field names are the API's own paths, so a 422 on documents[0].reference lands beside that field;
  // one submission id per form drawn: a second click records the documents once
  const submissionId = `docs-${idPart(task.case_id).slice(-24)}-${Date.now().toString(36)}`;
  return actionForm({
    id: `documents-${idPart(task.case_id)}`, action: 'documents', label: 'wb.act.documents', primary: 'documents[0].reference',
    fields: [{ name: 'documents[0].kind', label: 'wb.field.docKind', type: 'select', value: 'explanation',
      options: DOCUMENT_KINDS.map((k) => [k, `doc.${k}`]) },
    { name: 'documents[0].reference', label: 'wb.field.docRef', type: 'text', required: true, maxlength: 500 },
    { name: 'note', label: 'wb.field.note', type: 'textarea', wide: true }],
    request: (v) => ({ path: `/api/cases/${enc(task.case_id)}/documents`, body: {
      documents: [{ kind: v['documents[0].kind'], reference: v['documents[0].reference'] }], note: v.note,
      submission_id: submissionId } }),
    onDone: ctx.onDone,
  }, ctx);
}

function homeVisitForm(task, ctx) {
  return actionForm({
    id: `home-visit-${idPart(task.case_id)}`, action: 'home_visit', label: 'wb.act.homeVisit', primary: 'notes',
    fields: [{ name: 'visited_on', label: 'wb.field.visitedOn', type: 'date', required: true },
      { name: 'disputed', label: 'wb.field.disputed', type: 'select', value: 'false',
        options: [['false', 'wb.disputed.no'], ['true', 'wb.disputed.yes']] },
      { name: 'notes', label: 'wb.field.findings', type: 'textarea', required: true, wide: true, maxlength: 4000 }],
    request: (v) => ({ path: `/api/cases/${enc(task.case_id)}/home-visit`,
      body: { visited_on: v.visited_on, disputed: v.disputed === 'true', notes: v.notes } }),
    onDone: ctx.onDone,
  }, ctx);
}

function appraisalForm(task, ctx) {
  return actionForm({
    id: `appraisal-${idPart(task.case_id)}`, action: 'democratic_appraisal', label: 'wb.act.appraisal', primary: 'minutes',
    fields: [{ name: 'held_on', label: 'wb.field.heldOn', type: 'date', required: true },
      { name: 'outcome', label: 'wb.field.outcome', type: 'select', value: 'supported',
        options: [['supported', 'wb.appraisal.supported'], ['not_supported', 'wb.appraisal.notSupported']] },
      { name: 'participants', label: 'wb.field.participants', type: 'textarea', required: true, wide: true },
      { name: 'minutes', label: 'wb.field.minutes', type: 'textarea', required: true, wide: true, maxlength: 20000 }],
    request: (v) => ({ path: `/api/cases/${enc(task.case_id)}/appraisal`, body: {
      held_on: v.held_on, outcome: v.outcome, minutes: v.minutes,
      participants: v.participants.split(/[\n、,，;；]+/).map((x) => x.trim()).filter(Boolean) } }),
    onDone: ctx.onDone,
  }, ctx);
}

/** The forms an open step (GET /api/tasks) offers, by its kind. */
export function taskForms(task, ctx) {
  switch (task.kind) {
    case 'county_decision':
    case 'approval':
      return [approveForm(task, ctx), rejectForm(task, ctx), escalateForm(task, ctx)];
    case 'committee':
      return [opinionForm(task, ctx), chairForm(task, ctx)];
    case 'resolve_ineligible':
      return ineligibleForms(task, ctx);
    case 'assessment':
      return [assessmentForm(task, ctx)];
    case 'documents':
      return [documentsForm(task, ctx)];
    case 'home_visit':
      return [homeVisitForm(task, ctx)];
    case 'democratic_appraisal':
      return [appraisalForm(task, ctx)];
    default:
      return [];
  }
}

/** A case waiting on an empty township reserve: the county pays it from its own fund. */
export function countyPaysForm(c, ctx) {
  return actionForm({
    id: `county-pays-${idPart(c.case_id)}`, action: 'county_pays_directly', label: 'wb.act.countyPays', fields: [REASON],
    request: (v) => decision(c.case_id, { decision: 'county_pays_directly', reason: v.reason }), onDone: ctx.onDone,
  }, ctx);
}

/** A township's open replenishment request (GET /api/reserves): finance approves (a credit), the county may refuse. */
export function replenishmentForms(reserve, ctx, { mayApprove }) {
  const req = reserve.open_request;
  const path = `/api/reserves/${enc(reserve.township_code)}/replenishments/${enc(req.request_id)}/decision`;
  const base = `replenish-${idPart(reserve.township_code)}`;
  const forms = [];
  if (mayApprove) {
    forms.push(actionForm({
      id: `${base}-approve`, action: 'replenish_approve', label: 'wb.act.replenishApprove', primary: 'amount_fen',
      fields: [{ name: 'amount_fen', label: 'wb.field.replenishYuan', type: 'yuan', value: req.amount_fen }, REASON],
      request: (v) => ({ path, body: { approve: true, amount_fen: v.amount_fen ?? undefined, reason: v.reason } }),
      done: (v) => t('wb.done', { what: `${t('wb.act.replenishApprove')} ${formatFen(v.amount_fen ?? req.amount_fen)}` }), onDone: ctx.onDone,
    }, ctx));
  }
  forms.push(actionForm({
    id: `${base}-reject`, action: 'replenish_reject', label: 'wb.act.replenishReject', danger: true, fields: [REASON],
    request: (v) => ({ path, body: { approve: false, reason: v.reason } }), onDone: ctx.onDone,
  }, ctx));
  return forms;
}

/** A batch whose amount a person set waits for a second official (four eyes). */
export function batchApproveForm(batch, ctx) {
  return actionForm({
    id: `batch-approve-${idPart(batch.batch_id)}`, action: 'batch_approve', label: 'wb.act.batchApprove', fields: [REASON],
    request: (v) => ({ path: `/api/batches/${enc(batch.batch_id)}/approve`, body: { reason: v.reason } }), onDone: ctx.onDone,
  }, ctx);
}

// Indented, a poison letter nested thousands deep grows to megabytes per letter (2 spaces a level a line) and
// fifty of them hung the page: a letter over this size is shown as it came, not indented
const PRETTY_MAX = 20000;

function prettyJson(text) {
  if (typeof text !== 'string' || text.length > PRETTY_MAX) return typeof text === 'string' ? text.slice(0, 100000) : '';
  try {
    const pretty = JSON.stringify(JSON.parse(text), null, 2);
    return pretty.length > 5 * PRETTY_MAX ? text : pretty;
  } catch (_) {
    return '';  // not JSON: nothing to edit; a correction is typed whole
  }
}

/** A dead letter: correct and redeliver once; a correction changing a person or an amount needs a second official. */
export function deadLetterForms(letter, ctx) {
  const base = `dlq-${letter.seq}`;
  if (letter.redelivery === 'awaiting_second_official') {
    return [actionForm({
      id: `${base}-approve`, action: 'dlq_approve', label: 'wb.act.approveRedelivery', fields: [REASON],
      request: (v) => ({ path: `/api/admin/dlq/${letter.seq}/approve`, body: { reason: v.reason } }), onDone: ctx.onDone,
    }, ctx)];
  }
  if (letter.redelivered) return [];
  return [actionForm({
    id: `${base}-redeliver`, action: 'dlq_redeliver', label: 'wb.act.redeliver', primary: 'corrected',
    // the event as it was dead-lettered, to edit in place (left as it is: redelivered unchanged)
    fields: [REASON, { name: 'corrected', label: 'wb.field.corrected', type: 'textarea', rows: 8, wide: true, maxlength: 100000,
      value: prettyJson(letter.body) }],
    request: (v) => {
      if (!v.corrected) return { path: `/api/admin/dlq/${letter.seq}/redeliver`, body: { reason: v.reason } };
      try {
        return { path: `/api/admin/dlq/${letter.seq}/redeliver`, body: { reason: v.reason, corrected: JSON.parse(v.corrected) } };
      } catch (err) {
        return { errors: { corrected: `JSON: ${err.message}` } };
      }
    },
    onDone: ctx.onDone,
  }, ctx)];
}

/** A stalled case: retry the failed step, or reset to the last good workflow task. */
export function replayForm(c, ctx) {
  return actionForm({
    id: `replay-${idPart(c.case_id)}`, action: 'replay', label: 'wb.act.replay',
    fields: [{ name: 'mode', label: 'wb.field.mode', type: 'select', value: 'retry',
      options: [['retry', 'wb.mode.retry'], ['reset', 'wb.mode.reset']] }, REASON],
    request: (v) => ({ path: `/api/cases/${enc(c.case_id)}/replay`, body: { mode: v.mode, reason: v.reason } }), onDone: ctx.onDone,
  }, ctx);
}
