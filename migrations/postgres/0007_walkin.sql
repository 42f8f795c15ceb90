-- The walk-in queue, for PostgreSQL. The SQLite twin is migrations/sqlite/0007_walkin.sql: keep the two in
-- step (same tables, columns, constraints and indexes). Portable types only, as in 0001 (BIGINT milliseconds
-- UTC, 0/1 booleans).
--
-- A ticket (vuoronumero) is a service point's request for the next free expert of an agency, from one device.
-- The rules this file holds, whatever the caller:
-- - a device has at most ONE open ticket ('waiting' or 'accepted') at a time (a partial unique index);
-- - a closed ticket has its closing time and reason, an open one neither;
-- - 'accepted' means everyone the ticket needs has accepted: the expert, and the interpreter when one was asked.
-- Racing accepts are settled by guarded updates (`WHERE accepted_by IS NULL AND status = 'waiting'`), each
-- bumping `version`; see vayla-store's walkin.rs.
--
-- Columns: `accepted_at` is when the ticket became 'accepted' (walk-in waiting time = accepted_at - created_at);
-- `accepted_by` the expert, `expert_accepted_at` when they accepted; `interpreter` and `interpreter_accepted_at`
-- likewise; `close_reason` is the session's end reason for 'served' tickets, else one of vayla-domain's
-- `walkin::CloseReason` words. The customer is never named: the device stands for them.

CREATE TABLE walkin_tickets (
    id                       TEXT PRIMARY KEY NOT NULL,
    device                   TEXT NOT NULL,
    service_point            TEXT NOT NULL,
    agency                   TEXT NOT NULL,
    service                  TEXT,
    language                 TEXT NOT NULL CHECK (length(language) BETWEEN 2 AND 35),
    interpreter_language     TEXT CHECK (length(interpreter_language) BETWEEN 2 AND 35),
    status                   TEXT NOT NULL DEFAULT 'waiting'
                             CHECK (status IN ('waiting', 'accepted', 'served', 'cancelled', 'abandoned', 'expired')),
    created_at               BIGINT NOT NULL,
    created_by               TEXT NOT NULL,
    accepted_at              BIGINT,
    accepted_by              TEXT,
    expert_accepted_at       BIGINT,
    interpreter              TEXT,
    interpreter_accepted_at  BIGINT,
    session_id               TEXT REFERENCES sessions (id),
    closed_at                BIGINT,
    close_reason             TEXT,
    closed_by                TEXT,
    version                  BIGINT NOT NULL DEFAULT 0 CHECK (version >= 0),
    CHECK ((closed_at IS NULL) = (status IN ('waiting', 'accepted'))),
    CHECK ((closed_at IS NULL) = (close_reason IS NULL)),
    CHECK ((accepted_by IS NULL) = (expert_accepted_at IS NULL)),
    CHECK ((interpreter IS NULL) = (interpreter_accepted_at IS NULL)),
    CHECK (interpreter IS NULL OR interpreter_language IS NOT NULL),
    CHECK (status <> 'accepted' OR (accepted_by IS NOT NULL AND accepted_at IS NOT NULL
                                    AND (interpreter_language IS NULL OR interpreter IS NOT NULL))),
    CHECK (status <> 'served' OR session_id IS NOT NULL)
);
-- One open ticket per device.
CREATE UNIQUE INDEX walkin_tickets_one_open_per_device ON walkin_tickets (device) WHERE status IN ('waiting', 'accepted');
-- The queues (open tickets by agency, oldest first) and the timeout task.
CREATE INDEX walkin_tickets_open_by_agency ON walkin_tickets (agency, created_at) WHERE status IN ('waiting', 'accepted');
-- Reports: tickets by time, and the ticket of a session.
CREATE INDEX walkin_tickets_by_created ON walkin_tickets (created_at);
CREATE INDEX walkin_tickets_by_session ON walkin_tickets (session_id) WHERE session_id IS NOT NULL;

-- Who takes walk-in customers now: experts and interpreters switch themselves on and off duty. A missing row
-- is off duty. `since` is the last change.
CREATE TABLE walkin_duty (
    subject  TEXT PRIMARY KEY NOT NULL,
    role     TEXT NOT NULL CHECK (role IN ('expert', 'interpreter')),
    on_duty  BIGINT NOT NULL CHECK (on_duty IN (0, 1)),
    since    BIGINT NOT NULL
);
