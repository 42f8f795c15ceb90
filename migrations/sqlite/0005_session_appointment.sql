-- Sessions opened by an appointment name it, for SQLite. The PostgreSQL twin is
-- migrations/postgres/0005_session_appointment.sql: keep the two in step.
--
-- A session opens either as a walk-in (POST /api/rooms/{room}/session; appointment_id NULL) or when a booked
-- participant joins the device's room at the appointment's time (appointment_id set). The room reads it back
-- after a restart, so that a restored appointment session still refuses experts who are not booked for it.
ALTER TABLE sessions ADD COLUMN appointment_id TEXT REFERENCES appointments (id);
CREATE INDEX sessions_by_appointment ON sessions (appointment_id) WHERE appointment_id IS NOT NULL;
