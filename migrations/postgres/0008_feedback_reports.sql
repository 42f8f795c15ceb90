-- Customer feedback after a session, for PostgreSQL. The SQLite twin is
-- migrations/sqlite/0008_feedback_reports.sql: keep the two in step (same tables, columns, constraints and
-- indexes). Portable types only, as in 0001 (TEXT, BIGINT milliseconds UTC).
--
-- The short anonymous survey the device shows when a session ends. The rules this file holds, whatever the
-- caller:
-- - an answer belongs to a session and to nothing else: there is no column for a person, a device or a
--   connection, so no query can tie an answer to who gave it;
-- - one answer per session: the session is the primary key, so a second answer (a double tap, a retry, a
--   second tab) is refused by the database itself;
-- - the rating is 1–5, the outcome one of three words, the language one of the device's UI languages, and the
--   free text is short (the survey is anonymous; a long text invites personal details).
-- The reports (docs/reports.md) read this table together with sessions; nothing else is stored for them.

CREATE TABLE session_feedback (
    session     TEXT PRIMARY KEY NOT NULL REFERENCES sessions (id),
    rating      BIGINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    outcome     TEXT NOT NULL CHECK (outcome IN ('done', 'initiated', 'neither')),
    comment     TEXT CHECK (length(comment) BETWEEN 1 AND 500),
    language    TEXT NOT NULL CHECK (language IN ('fi', 'sv', 'en')),
    answered_at BIGINT NOT NULL
);
-- Reports select sessions by the time they opened.
CREATE INDEX sessions_by_opened ON sessions (opened_at);
