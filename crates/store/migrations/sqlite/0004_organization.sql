-- The organization's public profile (one row), where the server records the
-- public URL its links use, and a coarse device label on each session.

CREATE TABLE org_profile (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    -- Empty: the configured KITELINE_SITE_NAME.
    name           TEXT NOT NULL DEFAULT '',
    description_en TEXT NOT NULL DEFAULT '',
    description_es TEXT NOT NULL DEFAULT '',
    contact_email  TEXT NOT NULL DEFAULT '',
    postal_address TEXT NOT NULL DEFAULT '',
    -- A sanitized PNG or SVG, served from /logo.
    logo           BLOB,
    logo_type      TEXT CHECK (logo_type IN ('image/png', 'image/svg+xml')),
    logo_version   INTEGER NOT NULL DEFAULT 0,
    -- The public URL the running server builds links with, for the CLI.
    public_url     TEXT NOT NULL DEFAULT '',
    updated_at     INTEGER NOT NULL
) STRICT;

-- "Firefox on Android": a browser family and system, never the user agent.
ALTER TABLE sessions ADD COLUMN device_label TEXT NOT NULL DEFAULT '';

-- Chapter names are unique whatever their case ("Bay Area", "bay area").
CREATE UNIQUE INDEX chapters_name_folded ON chapters (lower(name));
