-- Phone line shifts: schedules (a line for the organization, or a
-- chapter's), their versions and exceptions, the shifts generated from
-- them, sign-ups, cover requests, waitlists, reminders sent, calendar feeds.

CREATE TABLE shift_schedules (
    id            TEXT PRIMARY KEY,
    -- NULL: the organization's line.
    chapter_id    TEXT UNIQUE REFERENCES chapters (id),
    horizon_weeks INTEGER NOT NULL DEFAULT 12 CHECK (horizon_weeks BETWEEN 1 AND 52),
    cutoff_hours  INTEGER NOT NULL DEFAULT 48 CHECK (cutoff_hours >= 0),
    monthly_cap   INTEGER NOT NULL DEFAULT 2 CHECK (monthly_cap >= 1),
    -- Sign-ups open this many days before a shift; NULL: always.
    window_days   INTEGER CHECK (window_days IS NULL OR window_days >= 1),
    -- No-shows that lock sign-up; 0: never.
    lock_after    INTEGER NOT NULL DEFAULT 2 CHECK (lock_after >= 0),
    offer_hours   INTEGER NOT NULL DEFAULT 12 CHECK (offer_hours >= 1),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE schedule_versions (
    id             TEXT PRIMARY KEY,
    schedule_id    TEXT NOT NULL REFERENCES shift_schedules (id),
    -- A civil date (YYYY-MM-DD) in the version's zone.
    effective_from TEXT NOT NULL,
    -- Open weekdays, "fri,sat,sun,mon".
    days           TEXT NOT NULL,
    opens          TEXT NOT NULL,
    closes         TEXT NOT NULL,
    block_minutes  INTEGER NOT NULL,
    capacity       INTEGER NOT NULL,
    time_zone      TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    UNIQUE (schedule_id, effective_from)
) STRICT;

CREATE TABLE schedule_exceptions (
    id          TEXT PRIMARY KEY,
    schedule_id TEXT NOT NULL REFERENCES shift_schedules (id),
    kind        TEXT NOT NULL CHECK (kind IN ('close_day', 'close_block', 'extra_block')),
    date        TEXT NOT NULL,
    start_time  TEXT,
    end_time    TEXT,
    capacity    INTEGER,
    note        TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX schedule_exceptions_date ON schedule_exceptions (schedule_id, date);

CREATE TABLE shifts (
    id          TEXT PRIMARY KEY,
    schedule_id TEXT NOT NULL REFERENCES shift_schedules (id),
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    capacity    INTEGER NOT NULL CHECK (capacity >= 1),
    -- A shift the schedule no longer has, kept because people were on it.
    cancelled   INTEGER NOT NULL DEFAULT 0,
    -- Bumped at every change, for calendar feeds.
    sequence    INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL,
    UNIQUE (schedule_id, starts_at),
    CHECK (ends_at > starts_at)
) STRICT;
CREATE INDEX shifts_starts ON shifts (starts_at);

CREATE TABLE shift_signups (
    shift_id      TEXT NOT NULL REFERENCES shifts (id),
    user_id       TEXT NOT NULL REFERENCES users (id),
    signed_up_at  INTEGER NOT NULL,
    -- A coordinator's assignment, and the note for an override of the rules.
    assigned_by   TEXT REFERENCES users (id),
    override_note TEXT NOT NULL DEFAULT '',
    -- NULL: not marked; 1 present; 0 no-show.
    attended      INTEGER,
    marked_by     TEXT REFERENCES users (id),
    PRIMARY KEY (shift_id, user_id)
) STRICT;
CREATE INDEX shift_signups_user ON shift_signups (user_id);

-- After the cutoff a volunteer asks for cover; the shift stays theirs until
-- someone takes it.
CREATE TABLE cover_requests (
    id           TEXT PRIMARY KEY,
    shift_id     TEXT NOT NULL REFERENCES shifts (id),
    user_id      TEXT NOT NULL REFERENCES users (id),
    requested_at INTEGER NOT NULL,
    taken_by     TEXT REFERENCES users (id),
    taken_at     INTEGER,
    withdrawn_at INTEGER
) STRICT;
CREATE INDEX cover_requests_shift ON cover_requests (shift_id);

CREATE TABLE shift_waitlist (
    shift_id         TEXT NOT NULL REFERENCES shifts (id),
    user_id          TEXT NOT NULL REFERENCES users (id),
    joined_at        INTEGER NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('waiting', 'offered', 'confirmed', 'lapsed', 'left')),
    offered_at       INTEGER,
    offer_expires_at INTEGER,
    PRIMARY KEY (shift_id, user_id)
) STRICT;

CREATE TABLE shift_reminders (
    shift_id TEXT NOT NULL REFERENCES shifts (id),
    user_id  TEXT NOT NULL REFERENCES users (id),
    kind     TEXT NOT NULL,
    sent_at  INTEGER NOT NULL,
    PRIMARY KEY (shift_id, user_id, kind)
) STRICT;

-- A gap's "ask cleared volunteers" message, at most one per volunteer per shift.
CREATE TABLE shift_asks (
    shift_id TEXT NOT NULL REFERENCES shifts (id),
    user_id  TEXT NOT NULL REFERENCES users (id),
    asked_at INTEGER NOT NULL,
    PRIMARY KEY (shift_id, user_id)
) STRICT;

-- A secret calendar feed per person (only its digest); coordinators' feeds
-- list everyone on every shift.
CREATE TABLE calendar_feeds (
    user_id    TEXT PRIMARY KEY REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;

-- Reminder kinds a volunteer switched off ("day_before,after").
ALTER TABLE users ADD COLUMN reminders_off TEXT NOT NULL DEFAULT '';
-- No-shows a coordinator forgave (lifting the lock).
ALTER TABLE users ADD COLUMN no_shows_forgiven INTEGER NOT NULL DEFAULT 0;
