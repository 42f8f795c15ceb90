-- The calendar model for appointment booking, for PostgreSQL. The SQLite twin is
-- migrations/sqlite/0003_calendar.sql: keep the two in step. Portable types only, as in 0001.
--
-- One row per (kind, id): an agency's booking rule and services, an expert's services and stand-ins, an
-- expert's or interpreter's weekly availability, a service point's opening hours. The body is JSON (the
-- server's types; the store treats it as text), so that a new field needs no migration.
--
-- Two sources, one rule: the rooms-config seeds every row (`seed_body`, refreshed at every load of the
-- config), and an edit through the API replaces `body` and sets `source = 'api'`. A seeded row's `body`
-- follows the seed; an edited row keeps its edit, whatever the config says later, until someone reverts
-- it to the seed (`body = seed_body`, `source = 'seed'`). Edits are in the audit log.

CREATE TABLE calendar_entries (
    kind        TEXT NOT NULL CHECK (kind IN ('agency', 'expert', 'expert_availability',
                                              'interpreter_availability', 'opening_hours')),
    id          TEXT NOT NULL,
    body        TEXT NOT NULL,
    -- The rooms-config's version; NULL for an entity the config does not describe.
    seed_body   TEXT,
    source      TEXT NOT NULL CHECK (source IN ('seed', 'api')),
    updated_by  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (kind, id),
    CHECK (source = 'api' OR seed_body IS NOT NULL)
);
