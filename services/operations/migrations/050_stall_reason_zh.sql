-- Why a case is stalled, in Chinese beside the English (the attention list and 待办 show it to officials):
-- e.g. 「支付第 5/6 次尝试（payment.disburse）：…」 from the sweep's reading of Temporal's pending activities.
ALTER TABLE cases ADD COLUMN stalled_reason_zh text;
