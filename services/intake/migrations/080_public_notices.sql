-- 张榜公示 (issue 17 item 2; seed 001 「全面落实社会救助对象信息公示制度」): every dibao / 特困 application on the
-- public notice, one row per case and round (an objection reopens the check; the next round posts again).
--   name: the applicant's name as the registry held it when the notice was posted (what the board showed)
--   outcome: NULL while the notice is up; 'clean' (the period ended without objection) or 'objected'
CREATE TABLE public_notices (
    case_id            text NOT NULL,
    round              integer NOT NULL CHECK (round >= 1),
    person_id          text NOT NULL,
    household_id       text,
    region_code        text NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('dibao', 'extreme_poverty')),
    name               text,
    household_size     integer NOT NULL CHECK (household_size >= 1),
    monthly_amount_fen bigint NOT NULL CHECK (monthly_amount_fen >= 0),
    posted_on          date NOT NULL,
    ends_at            timestamptz NOT NULL,
    outcome            text CHECK (outcome IN ('clean', 'objected')),
    closed_at          timestamptz,
    PRIMARY KEY (case_id, round)
);
CREATE INDEX public_notices_region ON public_notices (region_code text_pattern_ops, posted_on);
