-- Hardening after the red-team review: API tokens expire; user rows carry a
-- keyed MAC over their security-relevant columns (filled in by the same
-- transaction that applies this migration); attempts for rate limits are
-- kept one row each, so windows slide; jobs may carry a sealed payload.

ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
UPDATE api_tokens SET expires_at = created_at + 90 * 86400 * 1000000;

ALTER TABLE users ADD COLUMN row_mac TEXT;

-- A session kept on its device ("keep me signed in"); otherwise its cookie
-- lasts only as long as the browser session.
ALTER TABLE sessions ADD COLUMN persistent INTEGER NOT NULL DEFAULT 0;

-- One row per counted attempt; `key` is a rule and a keyed digest (never an
-- address). Old rows are pruned hourly.
CREATE TABLE rate_attempts (
    id  TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    at  INTEGER NOT NULL
) STRICT;
CREATE INDEX rate_attempts_key_at ON rate_attempts (key, at);
DROP TABLE rate_counters;

-- Sealed (jobs.sealed_payload, row id): what a job needs that is personal
-- data, dropped when the job ends.
ALTER TABLE jobs ADD COLUMN sealed_payload BLOB;
