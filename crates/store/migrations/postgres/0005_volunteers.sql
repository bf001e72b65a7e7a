-- The volunteer program: applications and their decisions, the training
-- series (modules, sessions, sign-ups), qualifications, a volunteer's
-- standing, and the program's public page.

-- One per e-mail address: a second application is merged into the first.
CREATE TABLE applications (
    id           TEXT PRIMARY KEY,
    -- Lower-cased; personal, access-controlled.
    email        TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    pronouns     TEXT NOT NULL DEFAULT '',
    -- Sealed (applications.phone, row id).
    phone        BYTEA,
    time_zone    TEXT NOT NULL,
    languages    TEXT NOT NULL DEFAULT '',
    chapter_id   TEXT REFERENCES chapters (id),
    heard_from   TEXT NOT NULL DEFAULT '',
    -- Sealed (applications.why, row id): people often tell their own story.
    why          BYTEA,
    availability TEXT NOT NULL DEFAULT '',
    locale       TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('new', 'waitlisted', 'accepted', 'declined')),
    submissions  BIGINT NOT NULL DEFAULT 1,
    user_id      TEXT REFERENCES users (id),
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX applications_status ON applications (status, created_at);

-- Who decided what, when: kept as history.
CREATE TABLE application_decisions (
    id             TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id),
    decided_by     TEXT NOT NULL REFERENCES users (id),
    decision       TEXT NOT NULL CHECK (decision IN ('waitlisted', 'accepted', 'declined')),
    -- Sealed (application_decisions.note, row id): internal.
    note           BYTEA,
    at             TIMESTAMPTZ NOT NULL
);
CREATE INDEX application_decisions_application ON application_decisions (application_id, at);

CREATE TABLE training_modules (
    id                  TEXT PRIMARY KEY,
    title_en            TEXT NOT NULL,
    title_es            TEXT NOT NULL DEFAULT '',
    description_en      TEXT NOT NULL DEFAULT '',
    description_es      TEXT NOT NULL DEFAULT '',
    position            BIGINT NOT NULL,
    required            BOOLEAN NOT NULL,
    completion          TEXT NOT NULL CHECK (completion IN ('session', 'shadow_shift', 'sign_off')),
    -- NULL: valid forever.
    validity_months     BIGINT CHECK (validity_months IS NULL OR validity_months > 0),
    renewal_window_days BIGINT NOT NULL DEFAULT 30 CHECK (renewal_window_days >= 0),
    retired             BOOLEAN NOT NULL DEFAULT FALSE,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);

CREATE TABLE training_sessions (
    id         TEXT PRIMARY KEY,
    module_id  TEXT NOT NULL REFERENCES training_modules (id),
    starts_at  TIMESTAMPTZ NOT NULL,
    ends_at    TIMESTAMPTZ NOT NULL,
    time_zone  TEXT NOT NULL,
    capacity   BIGINT NOT NULL CHECK (capacity > 0),
    -- Sealed (training_sessions.video_link, row id): shown only to those signed up.
    video_link BYTEA,
    trainer_id TEXT REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX training_sessions_starts ON training_sessions (starts_at);

CREATE TABLE session_signups (
    session_id   TEXT NOT NULL REFERENCES training_sessions (id),
    user_id      TEXT NOT NULL REFERENCES users (id),
    signed_up_at TIMESTAMPTZ NOT NULL,
    -- NULL: not marked yet.
    attended     BOOLEAN,
    marked_by    TEXT REFERENCES users (id),
    marked_at    TIMESTAMPTZ,
    PRIMARY KEY (session_id, user_id)
);
CREATE INDEX session_signups_user ON session_signups (user_id);

-- Each completion is a row; a renewal adds one (history is kept).
CREATE TABLE qualifications (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    module_id  TEXT NOT NULL REFERENCES training_modules (id),
    -- Civil dates (YYYY-MM-DD); valid from starts_on until the day before expires_on.
    starts_on  TEXT NOT NULL,
    expires_on TEXT,
    source     TEXT NOT NULL CHECK (source IN ('session', 'shadow_shift', 'sign_off')),
    session_id TEXT REFERENCES training_sessions (id),
    granted_by TEXT REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX qualifications_user ON qualifications (user_id, module_id);
CREATE INDEX qualifications_expiry ON qualifications (expires_on);

-- Reminders already sent, so each goes once.
CREATE TABLE qualification_reminders (
    qualification_id TEXT NOT NULL REFERENCES qualifications (id),
    days_ahead       BIGINT NOT NULL,
    sent_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (qualification_id, days_ahead)
);

ALTER TABLE users ADD COLUMN standing TEXT NOT NULL DEFAULT 'active' CHECK (standing IN ('active', 'paused', 'alumni'));
-- The last day of a pause (a civil date); NULL unless paused.
ALTER TABLE users ADD COLUMN paused_until TEXT;

ALTER TABLE org_profile ADD COLUMN program_en TEXT NOT NULL DEFAULT '';
ALTER TABLE org_profile ADD COLUMN program_es TEXT NOT NULL DEFAULT '';
ALTER TABLE org_profile ADD COLUMN coordination_email TEXT NOT NULL DEFAULT '';
ALTER TABLE org_profile ADD COLUMN decline_en TEXT NOT NULL DEFAULT '';
ALTER TABLE org_profile ADD COLUMN decline_es TEXT NOT NULL DEFAULT '';
