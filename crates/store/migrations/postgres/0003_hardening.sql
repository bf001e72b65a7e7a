-- Hardening after the red-team review: API tokens expire; user rows carry a
-- keyed MAC over their security-relevant columns (filled in by the same
-- transaction that applies this migration); attempts for rate limits are
-- kept one row each, so windows slide; jobs may carry a sealed payload.

ALTER TABLE api_tokens ADD COLUMN expires_at TIMESTAMPTZ;
UPDATE api_tokens SET expires_at = created_at + interval '90 days';

ALTER TABLE users ADD COLUMN row_mac TEXT;

-- A session kept on its device ("keep me signed in"); otherwise its cookie
-- lasts only as long as the browser session.
ALTER TABLE sessions ADD COLUMN persistent BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE rate_attempts (
    id  TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX rate_attempts_key_at ON rate_attempts (key, at);
DROP TABLE rate_counters;

ALTER TABLE jobs ADD COLUMN sealed_payload BYTEA;
