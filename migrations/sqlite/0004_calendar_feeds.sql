-- Calendar feeds and external busy time, for SQLite. The PostgreSQL twin is
-- migrations/postgres/0004_calendar_feeds.sql: keep the two in step (same tables, columns, constraints and
-- indexes). Portable types only, as in 0001 (TEXT, INTEGER milliseconds UTC).
--
-- Two halves of "the booking reaches the experts' own calendars" (issue 4):
-- - outwards, a secret iCalendar feed URL per expert and per device (calendar_feeds);
-- - inwards, an expert's own calendar (an ICS URL or a CalDAV collection) read periodically, its busy time
--   kept here (external_calendars, external_busy) so that slot search and booking avoid it.

-- ---------------------------------------------------------------------------------------------------
-- One feed per resource. The URL's token is a random 256-bit secret that is shown once; only its SHA-256
-- (hex) is stored, so a copy of the database does not hand out working feed URLs. A fast hash is enough:
-- the token is random, so there is nothing to guess from a dictionary. Rotating replaces the row, which
-- kills the old URL at once.

CREATE TABLE calendar_feeds (
    resource_kind  TEXT NOT NULL CHECK (resource_kind IN ('device', 'expert')),
    resource_id    TEXT NOT NULL,
    token_sha256   TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64),
    created_by     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (resource_kind, resource_id)
);

-- ---------------------------------------------------------------------------------------------------
-- An expert's own calendar, at most one per expert. `url` may itself be a secret (private ICS links carry a
-- token in the path, CalDAV URLs may carry credentials): it is never logged and never returned by the API.
-- The last sync's outcome is kept for the API and operators; a failed sync keeps the last good busy time.

CREATE TABLE external_calendars (
    expert          TEXT PRIMARY KEY NOT NULL,
    url             TEXT NOT NULL CHECK (length(url) <= 2000),
    kind            TEXT NOT NULL CHECK (kind IN ('ics', 'caldav')),
    created_by      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    -- When the last sync ended, good or bad; when it last succeeded; why it last failed (no URL in it).
    last_sync_at    INTEGER,
    last_ok_at      INTEGER,
    last_error      TEXT CHECK (length(last_error) <= 500)
);

-- The busy intervals [start_ms, end_ms) read from the expert's calendar by the last good sync. Replaced
-- whole by every sync; deleted with the registration.

CREATE TABLE external_busy (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    expert    TEXT NOT NULL REFERENCES external_calendars (expert) ON DELETE CASCADE,
    start_ms  INTEGER NOT NULL,
    end_ms    INTEGER NOT NULL,
    CHECK (end_ms > start_ms)
);
CREATE INDEX external_busy_by_expert ON external_busy (expert, end_ms);
