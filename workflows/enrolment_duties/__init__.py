"""The duties before a dibao / 特困 enrolment is confirmed: home visit (入户调查), democratic appraisal
(民主评议) where the application is disputed, public notice (张榜公示) with objections. A mixin of the
renewal workflow (workflows/renewal/enrolment.py runs it before the county's confirmation)."""
