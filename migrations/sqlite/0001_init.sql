-- Väylä store, initial schema for SQLite. The PostgreSQL twin is migrations/postgres/0001_init.sql: keep
-- the two in step (same tables, columns, constraints and indexes). Only portable column types are used so
-- that one set of SQL statements in crates/store serves both backends through sqlx's Any driver:
-- TEXT, INTEGER (64-bit; times are milliseconds since the Unix epoch UTC, booleans are 0/1) and BLOB.
-- BOOLEAN and timestamp types are avoided on purpose: the Any driver cannot decode SQLite's BOOLEAN.

-- ---------------------------------------------------------------------------------------------------
-- Directory mirror of the rooms-config. Rows are never deleted (sessions and the audit log name them);
-- an entity that leaves the config is kept with active = 0 and comes back to active = 1 if it returns.
-- Every sync inserts one directory_syncs row first, and each entity records the sync that last saw it,
-- so "not in this snapshot" is decided by generation, never by comparing possibly equal clock values.

CREATE TABLE directory_syncs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    agencies      INTEGER NOT NULL,
    service_points INTEGER NOT NULL,
    devices       INTEGER NOT NULL,
    people        INTEGER NOT NULL
);

CREATE TABLE agencies (
    id             TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL,
    active         INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    first_seen_at  INTEGER NOT NULL,
    deactivated_at INTEGER,
    last_sync      INTEGER NOT NULL REFERENCES directory_syncs (id)
);

CREATE TABLE service_points (
    id             TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL,
    municipality   TEXT NOT NULL,
    active         INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    first_seen_at  INTEGER NOT NULL,
    deactivated_at INTEGER,
    last_sync      INTEGER NOT NULL REFERENCES directory_syncs (id)
);

CREATE TABLE devices (
    id             TEXT PRIMARY KEY NOT NULL,
    service_point  TEXT NOT NULL REFERENCES service_points (id),
    name           TEXT NOT NULL,
    active         INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    first_seen_at  INTEGER NOT NULL,
    deactivated_at INTEGER,
    last_sync      INTEGER NOT NULL REFERENCES directory_syncs (id)
);

CREATE TABLE people (
    id             TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL,
    role           TEXT NOT NULL,
    agency         TEXT REFERENCES agencies (id),
    service_point  TEXT REFERENCES service_points (id),
    active         INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    first_seen_at  INTEGER NOT NULL,
    deactivated_at INTEGER,
    last_sync      INTEGER NOT NULL REFERENCES directory_syncs (id)
);

-- ---------------------------------------------------------------------------------------------------
-- Sessions in rooms. room / opened_by / subject are deliberately NOT foreign keys into the directory:
-- a session must be recordable even if the directory mirror lags behind the config, and a subject may
-- be a person or a device. Child rows carry a surrogate id only to keep their insertion order.

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY NOT NULL,
    room        TEXT NOT NULL,
    opened_by   TEXT NOT NULL,
    opened_at   INTEGER NOT NULL,
    ended_at    INTEGER,
    end_reason  TEXT,
    CHECK ((ended_at IS NULL) = (end_reason IS NULL))
);
CREATE INDEX sessions_by_room ON sessions (room, opened_at);
CREATE INDEX sessions_open ON sessions (opened_at) WHERE ended_at IS NULL;

CREATE TABLE session_seats (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    session  TEXT NOT NULL REFERENCES sessions (id),
    seat     TEXT NOT NULL,
    role     TEXT NOT NULL,
    subject  TEXT NOT NULL,
    UNIQUE (session, seat)
);

CREATE TABLE participations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    session       TEXT NOT NULL REFERENCES sessions (id),
    participant   TEXT NOT NULL,
    subject       TEXT NOT NULL,
    role          TEXT NOT NULL,
    seat          TEXT,
    joined_at     INTEGER NOT NULL,
    left_at       INTEGER,
    leave_reason  TEXT,
    CHECK ((left_at IS NULL) = (leave_reason IS NULL))
);
CREATE INDEX participations_by_session ON participations (session, id);
-- A participant (one signalling connection) is in a session at most once at a time.
CREATE UNIQUE INDEX participations_one_open ON participations (session, participant) WHERE left_at IS NULL;

CREATE TABLE session_locks (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    session   TEXT NOT NULL REFERENCES sessions (id),
    at        INTEGER NOT NULL,
    locked    INTEGER NOT NULL CHECK (locked IN (0, 1)),
    locked_by TEXT
);
CREATE INDEX session_locks_by_session ON session_locks (session, id);

-- ---------------------------------------------------------------------------------------------------
-- Append-only audit log. No foreign keys: an audit append must never fail because some other row is
-- missing (a refusal may name a room or subject that does not exist at all). AUTOINCREMENT keeps ids
-- strictly increasing and never reused, which is what after_id paging relies on.

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    room     TEXT,
    session  TEXT,
    subject  TEXT,
    role     TEXT,
    seat     TEXT,
    detail   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_room ON audit_log (room, id);
CREATE INDEX audit_log_by_session ON audit_log (session, id);
CREATE INDEX audit_log_by_kind ON audit_log (kind, id);

-- The append-only rule lives in the database so that no code path (or hand-typed SQL) can rewrite history.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused');
END;

-- ---------------------------------------------------------------------------------------------------
-- JWT signing keys, shared by every server node on this database. Retired keys stay (to verify tokens
-- issued before the rotation) until they are purged.

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY NOT NULL,
    secret      BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
);
