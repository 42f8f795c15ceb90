-- Appointments and the resource reservations they hold, for SQLite. The PostgreSQL twin is
-- migrations/postgres/0002_appointments.sql: keep the two in step (same tables, columns, constraints and
-- indexes). Portable types only, as in 0001 (TEXT, INTEGER milliseconds UTC, 0/1 booleans).
--
-- The rule this file exists for: no resource (device, expert, interpreter) is ever reserved twice for
-- overlapping time. The store checks before it writes, inside a BEGIN IMMEDIATE transaction (SQLite has
-- one writer at a time, so the check and the insert cannot be interleaved with another booking); the
-- triggers below check again on every insert and update, so hand-typed SQL or a buggy caller cannot
-- double-book either.

-- ---------------------------------------------------------------------------------------------------
-- One appointment: the customer's slot [start_ms, end_ms) at a device of a service point with an agency's
-- service. Rows are never deleted; cancellations, no-shows and completions are statuses. `sequence` grows by
-- one on every change (it is the iCalendar SEQUENCE) and `uid` never changes (the iCalendar UID).
-- Personal data is kept minimal on purpose: `customer_ref` is an opaque reference, never a name, and the
-- special needs are a language tag, an interpreter request and a short accessibility note.
-- agency / service / service_point / device are not foreign keys, for the same reason as in sessions: the
-- booking must not depend on the directory mirror being up to date.

CREATE TABLE appointments (
    id                    TEXT PRIMARY KEY NOT NULL,
    uid                   TEXT NOT NULL UNIQUE,
    agency                TEXT NOT NULL,
    service               TEXT NOT NULL,
    service_point         TEXT NOT NULL,
    device                TEXT NOT NULL,
    start_ms              INTEGER NOT NULL,
    end_ms                INTEGER NOT NULL,
    status                TEXT NOT NULL DEFAULT 'booked'
                          CHECK (status IN ('booked', 'cancelled', 'no_show', 'completed')),
    -- Who closed it (cancelled, no-show or completed) and when; NULL while booked.
    closed_by             TEXT,
    closed_at             INTEGER,
    cancel_reason         TEXT,
    customer_ref          TEXT CHECK (length(customer_ref) <= 200),
    language              TEXT CHECK (length(language) <= 35),
    interpreter_needed    INTEGER NOT NULL DEFAULT 0 CHECK (interpreter_needed IN (0, 1)),
    interpreter_language  TEXT CHECK (length(interpreter_language) <= 35),
    interpreter_modality  TEXT CHECK (length(interpreter_modality) <= 35),
    accessibility         TEXT CHECK (length(accessibility) <= 500),
    created_by            TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    updated_by            TEXT NOT NULL,
    updated_at            INTEGER NOT NULL,
    sequence              INTEGER NOT NULL DEFAULT 0 CHECK (sequence >= 0),
    CHECK (end_ms > start_ms),
    CHECK ((status = 'booked') = (closed_at IS NULL)),
    CHECK ((closed_at IS NULL) = (closed_by IS NULL)),
    CHECK ((status = 'cancelled') = (cancel_reason IS NOT NULL)),
    CHECK ((interpreter_needed = 1) = (interpreter_language IS NOT NULL AND interpreter_modality IS NOT NULL))
);
-- Range queries look for end_ms > from: that scans the future, not the whole history.
CREATE INDEX appointments_by_end ON appointments (end_ms);

-- ---------------------------------------------------------------------------------------------------
-- The time an appointment blocks for one resource, buffers included, so it may differ per resource and
-- from the customer's slot. `active = 0` once released (cancelled, or replaced by a reschedule); released
-- rows stay as history, with released_at set. An interpreter reservation is added after the booking,
-- when an interpreter is assigned, under the same rule.

CREATE TABLE reservations (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    appointment_id  TEXT NOT NULL REFERENCES appointments (id),
    resource_kind   TEXT NOT NULL CHECK (resource_kind IN ('device', 'expert', 'interpreter')),
    resource_id     TEXT NOT NULL,
    start_ms        INTEGER NOT NULL,
    end_ms          INTEGER NOT NULL,
    active          INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at      INTEGER NOT NULL,
    released_at     INTEGER,
    CHECK (end_ms > start_ms),
    CHECK ((active = 1) = (released_at IS NULL))
);
CREATE INDEX reservations_by_resource ON reservations (resource_kind, resource_id, end_ms);
CREATE INDEX reservations_by_appointment ON reservations (appointment_id, id);

-- The no-double-booking rule. Ranges are half-open, so back-to-back reservations (end = next start) are
-- fine. The message starts with a fixed word the store recognises ('reservation_overlap').
CREATE TRIGGER reservations_no_overlap_insert BEFORE INSERT ON reservations
WHEN NEW.active = 1
BEGIN
    SELECT RAISE(ABORT, 'reservation_overlap: the resource is already reserved for an overlapping time')
    WHERE EXISTS (
        SELECT 1 FROM reservations r
        WHERE r.resource_kind = NEW.resource_kind AND r.resource_id = NEW.resource_id AND r.active = 1
          AND r.start_ms < NEW.end_ms AND r.end_ms > NEW.start_ms
    );
END;

CREATE TRIGGER reservations_no_overlap_update
BEFORE UPDATE OF resource_kind, resource_id, start_ms, end_ms, active ON reservations
WHEN NEW.active = 1
BEGIN
    SELECT RAISE(ABORT, 'reservation_overlap: the resource is already reserved for an overlapping time')
    WHERE EXISTS (
        SELECT 1 FROM reservations r
        WHERE r.id <> NEW.id
          AND r.resource_kind = NEW.resource_kind AND r.resource_id = NEW.resource_id AND r.active = 1
          AND r.start_ms < NEW.end_ms AND r.end_ms > NEW.start_ms
    );
END;
