-- The interpreter registry's extras, for PostgreSQL. The twin is migrations/sqlite/0009_interpreter_registry.sql:
-- keep the two in step.
--
-- - `interpreters.source`: who the entry in force comes from, as in the calendar model (0003): 'seed' follows
--   the rooms-config at every load; 'api' was edited through the registry API and wins over the rooms-config
--   until reverted. Entries written by anyone but the seed before this migration count as edits.
-- - `interpreter_providers`: the organisations that employ or dispatch interpreters (an interpreting agency, a
--   wellbeing services county's interpreting centre), for invoicing. `interpreters.provider` names one by id;
--   the rooms-config's placeholder provider is a row too, so every interpreter's provider resolves. A
--   provider's phone and e-mail are the organisation's dispatch contact, not a person's.

ALTER TABLE interpreters ADD COLUMN source TEXT NOT NULL DEFAULT 'seed' CHECK (source IN ('seed', 'api'));
UPDATE interpreters SET source = 'api' WHERE updated_by <> 'rooms-config';

CREATE TABLE interpreter_providers (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    business_id  TEXT CHECK (length(business_id) <= 20),
    phone        TEXT CHECK (length(phone) <= 50),
    email        TEXT CHECK (length(email) <= 254),
    updated_by   TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);
INSERT INTO interpreter_providers (id, name, updated_by, updated_at)
VALUES ('rooms-config', 'No provider set (rooms-config)', 'rooms-config', 0);
