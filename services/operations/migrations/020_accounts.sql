-- Sign-in (issue 16): local accounts of the embedded default, their browser sessions, failed sign-ins
-- (the lockout) and OIDC sign-ins in flight. services/operations/store_accounts.py holds the SQL.

-- A person who signs in at the front door. role and jurisdiction are what the session's principal
-- carries (shared/auth.py); an official's person id lives in approval's officials registry, not here.
CREATE TABLE accounts (
    username       text PRIMARY KEY,                 -- the principal's subject
    display_name   text NOT NULL,
    role           text NOT NULL,
    jurisdiction   text NOT NULL,                    -- region-code prefix; '' = every region ('*')
    password_hash  text,                             -- argon2id; NULL = signs in through OIDC only
    disabled       boolean NOT NULL DEFAULT false,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- A signed-in browser: the cookie holds a random token, only its SHA-256 is kept (a copy of this table
-- signs nobody in). Ended by sign-out, by expiry, and by disabling the account (joined on every request).
CREATE TABLE sessions (
    token_sha256  text PRIMARY KEY,
    username      text NOT NULL REFERENCES accounts (username),
    csrf_token    text NOT NULL,
    via           text NOT NULL,                     -- password | oidc
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    ended_at      timestamptz
);
CREATE INDEX sessions_by_account ON sessions (username) WHERE ended_at IS NULL;

-- Failed password sign-ins per name typed (whether or not such an account exists, so the lockout tells
-- nobody which names are accounts); cleared by a successful sign-in.
CREATE TABLE sign_in_failures (
    username      text PRIMARY KEY,
    failures      integer NOT NULL DEFAULT 0,
    last_failed   timestamptz NOT NULL DEFAULT now(),
    locked_until  timestamptz
);

-- An OIDC sign-in between the redirect to the provider and its callback: single use, bound to the
-- browser that started it (the SHA-256 of a cookie), a few minutes long.
CREATE TABLE oidc_flows (
    state          text PRIMARY KEY,
    browser_sha256 text NOT NULL,
    nonce          text NOT NULL,
    code_verifier  text NOT NULL,
    expires_at     timestamptz NOT NULL
);
