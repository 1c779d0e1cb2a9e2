-- A dispersed 特困 person's visit past due is announced on the bus once per due date (doudi.case.care_visit.
-- overdue, duty_events.py): the due date last announced. A visit moves next_visit_due, so the next lapse is new.
ALTER TABLE care_recipients ADD COLUMN overdue_noted_for timestamptz;
