-- Interpreter bookings (issue 5), for SQLite. The PostgreSQL twin is
-- migrations/postgres/0006_interpreting.sql: keep the two in step (same tables, columns, constraints and
-- indexes). Portable types only, as in 0001 (INTEGER milliseconds UTC, 0/1 booleans).
--
-- The registry (interpreters, their languages and contacts), the requests an appointment makes for an
-- interpreter, and the offers each request's cascade sends. The rules this file holds, whatever the caller:
-- - a request has at most ONE accepted offer at a time (a partial unique index): racing accepts of the same
--   request end with exactly one interpreter;
-- - an interpreter is offered a request at most once per round (a unique key);
-- - the accepted interpreter's time is a row in `reservations` (0002), under the same no-double-booking rule
--   as devices and experts;
-- - contact details live in their own table, so that no query for the registry can leak them by accident.

-- ---------------------------------------------------------------------------------------------------
-- An interpreter as everyone may see them. `id` is the subject id they sign in with (and that their
-- reservations carry); `provider` is the organisation that dispatches them, for invoicing. The modalities
-- are three flags. `active = 0` takes them out of matching without losing their history.

CREATE TABLE interpreters (
    id            TEXT PRIMARY KEY NOT NULL,
    provider      TEXT NOT NULL,
    remote_video  INTEGER NOT NULL DEFAULT 0 CHECK (remote_video IN (0, 1)),
    phone         INTEGER NOT NULL DEFAULT 0 CHECK (phone IN (0, 1)),
    on_site       INTEGER NOT NULL DEFAULT 0 CHECK (on_site IN (0, 1)),
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    updated_by    TEXT NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- One language an interpreter works in: a BCP 47 tag in canonical case (`fi`, `sv-FI`, `fse`, `fss`) and the
-- competence level, 1 basic, 2 professional, 3 certified (see vayla-domain's `Competence`).
CREATE TABLE interpreter_languages (
    interpreter_id  TEXT NOT NULL REFERENCES interpreters (id),
    language        TEXT NOT NULL CHECK (length(language) BETWEEN 2 AND 35),
    level           INTEGER NOT NULL CHECK (level BETWEEN 1 AND 3),
    PRIMARY KEY (interpreter_id, language)
);
CREATE INDEX interpreter_languages_by_language ON interpreter_languages (language, level);

-- How to reach an interpreter. Only returned by its own store function, for the roles that need it; never
-- in the audit log.
CREATE TABLE interpreter_contacts (
    interpreter_id  TEXT PRIMARY KEY NOT NULL REFERENCES interpreters (id),
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    phone           TEXT CHECK (length(phone) <= 50),
    email           TEXT CHECK (length(email) <= 254),
    updated_by      TEXT NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- ---------------------------------------------------------------------------------------------------
-- A request for an interpreter for an appointment. An appointment may have several (long sign-language
-- sessions often need two interpreters). The state follows the domain's cascade, with one store rule:
-- 'offered' exactly while some offer of the current round is pending; between a decline or an expiry and
-- the next offers it is 'open'. `version` grows by one on every change (guarded updates), `round` when the
-- scheduler restarts an exhausted request. The interpreter's reservation is the appointment's slot widened
-- by the buffers.

CREATE TABLE interpreter_requests (
    id                    TEXT PRIMARY KEY NOT NULL,
    appointment_id        TEXT NOT NULL REFERENCES appointments (id),
    language              TEXT NOT NULL CHECK (length(language) BETWEEN 2 AND 35),
    modality              TEXT NOT NULL CHECK (modality IN ('remote_video', 'phone', 'on_site')),
    min_level             INTEGER NOT NULL CHECK (min_level BETWEEN 1 AND 3),
    notes                 TEXT CHECK (length(notes) <= 500),
    group_size            INTEGER NOT NULL DEFAULT 1 CHECK (group_size BETWEEN 1 AND 5),
    buffer_before_ms      INTEGER NOT NULL DEFAULT 0 CHECK (buffer_before_ms >= 0),
    buffer_after_ms       INTEGER NOT NULL DEFAULT 0 CHECK (buffer_after_ms >= 0),
    state                 TEXT NOT NULL DEFAULT 'open'
                          CHECK (state IN ('open', 'offered', 'accepted', 'exhausted', 'cancelled')),
    round                 INTEGER NOT NULL DEFAULT 1 CHECK (round >= 1),
    assigned_interpreter  TEXT REFERENCES interpreters (id),
    cancel_reason         TEXT CHECK (cancel_reason IN ('appointment_cancelled', 'no_longer_needed')),
    created_by            TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    updated_by            TEXT NOT NULL,
    updated_at            INTEGER NOT NULL,
    version               INTEGER NOT NULL DEFAULT 0 CHECK (version >= 0),
    CHECK ((state = 'accepted') = (assigned_interpreter IS NOT NULL)),
    CHECK ((state = 'cancelled') = (cancel_reason IS NOT NULL))
);
CREATE INDEX interpreter_requests_by_appointment ON interpreter_requests (appointment_id);

-- One offer of a request to one interpreter in one round. `outcome`: pending until answered; accepted;
-- declined; expired (the deadline passed); withdrawn (someone else accepted, or the request was cancelled
-- before an answer); cancelled (accepted, then the interpreter cancelled); released (accepted, then the
-- request was cancelled).
CREATE TABLE interpreter_offers (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id      TEXT NOT NULL REFERENCES interpreter_requests (id),
    interpreter_id  TEXT NOT NULL REFERENCES interpreters (id),
    round           INTEGER NOT NULL CHECK (round >= 1),
    sent_at         INTEGER NOT NULL,
    deadline        INTEGER NOT NULL,
    outcome         TEXT NOT NULL DEFAULT 'pending'
                    CHECK (outcome IN ('pending', 'accepted', 'declined', 'expired', 'withdrawn', 'cancelled',
                                       'released')),
    responded_at    INTEGER,
    CHECK (deadline > sent_at),
    CHECK ((outcome = 'pending') = (responded_at IS NULL)),
    CONSTRAINT interpreter_offers_once_per_round UNIQUE (request_id, interpreter_id, round)
);
-- Exactly one interpreter per request: a second accepted offer of the same request cannot exist.
CREATE UNIQUE INDEX interpreter_offers_one_accepted ON interpreter_offers (request_id) WHERE outcome = 'accepted';
-- The interpreter's page (their pending offers) and the deadline timer (the next pending deadline).
CREATE INDEX interpreter_offers_pending_by_interpreter ON interpreter_offers (interpreter_id) WHERE outcome = 'pending';
CREATE INDEX interpreter_offers_pending_by_deadline ON interpreter_offers (deadline) WHERE outcome = 'pending';
CREATE INDEX interpreter_offers_by_interpreter_sent ON interpreter_offers (interpreter_id, sent_at);
