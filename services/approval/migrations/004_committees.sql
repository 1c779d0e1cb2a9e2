-- County coordination committees (县级困难群众基本生活保障工作协调机制; XPCC: the regiment's) and the
-- minutes of every matter they discussed (一事一议).
CREATE TABLE committee_members (
    county_code  text NOT NULL,
    member_id    text NOT NULL,
    name         text NOT NULL,
    department   text NOT NULL,
    chair        boolean NOT NULL DEFAULT false,
    active       boolean NOT NULL DEFAULT true,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (county_code, member_id)
);
CREATE UNIQUE INDEX one_chair_per_committee ON committee_members (county_code) WHERE chair AND active;

CREATE TABLE minutes (
    case_id         text PRIMARY KEY,
    parent_case_id  text,
    county_code     text NOT NULL,
    opinions        jsonb NOT NULL,
    decision        jsonb NOT NULL,
    quorum          integer NOT NULL,
    recorded_at     timestamptz NOT NULL
);
