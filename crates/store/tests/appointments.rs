//! Appointments and reservations against real databases, every scenario on a SQLite file and on a fresh
//! PostgreSQL database (like `tests/store.rs`; the PostgreSQL variants need `VAYLA_TEST_PG_URL`, or
//! `VAYLA_SKIP_PG=1` to skip them on purpose). The point of it all is the no-double-booking rule, so
//! besides the stories of booking, rescheduling and cancelling there is a stress test of racing bookings
//! whose result is checked with SQL over the reservations table, and a check that the database itself
//! refuses an overlapping row written past the API.

use std::time::Instant;
use vayla_store::*;

#[macro_use]
mod common;
use common::{on_postgres, on_sqlite, TestDb};

both_backends!(
    book_reschedule_cancel_round_trip,
    no_show_completed_and_closed_appointments,
    conflict_leaves_no_partial_booking,
    back_to_back_and_rebooking_cancelled_time,
    refused_reschedule_keeps_the_old_booking,
    interpreter_reserved_later_under_the_same_rule,
    queries_for_calendars_and_slot_search,
    database_refuses_overlap_written_past_the_api,
    racing_bookings_never_overlap,
    racing_raw_inserts_never_overlap,
);

const MIN: Millis = 60_000;
/// Monday 2025-03-03 08:00 Europe/Helsinki (06:00 UTC); any fixed instant would do.
const DAY: Millis = 1_740_981_600_000;

fn at(minutes: i64) -> Millis {
    DAY + minutes * MIN
}

fn res(kind: ResourceKind, id: &str, start: Millis, end: Millis) -> NewReservation {
    NewReservation { kind, resource_id: id.into(), start_ms: start, end_ms: end }
}

/// A Kela appointment at `device` with `expert`, slot `[start, end)` in minutes after 08:00; the
/// expert's time has 5 minute buffers on both sides, the device's none.
fn appointment(id: &str, device: &str, expert: &str, start: i64, end: i64) -> NewAppointment {
    NewAppointment {
        id: id.into(),
        uid: format!("{id}@vayla.test"),
        agency: "kela".into(),
        service: "kela-general".into(),
        service_point: "mikkeli".into(),
        device: device.into(),
        start_ms: at(start),
        end_ms: at(end),
        customer_ref: Some(format!("case-{id}")),
        needs: SpecialNeeds::default(),
        created_by: "advisor-liisa".into(),
        created_at: at(-600),
        reservations: vec![
            res(ResourceKind::Device, device, at(start), at(end)),
            res(ResourceKind::Expert, expert, at(start - 5), at(end + 5)),
        ],
    }
}

fn moved(device: &str, expert: &str, start: i64, end: i64) -> Reschedule {
    Reschedule {
        start_ms: at(start),
        end_ms: at(end),
        reservations: vec![
            res(ResourceKind::Device, device, at(start), at(end)),
            res(ResourceKind::Expert, expert, at(start - 5), at(end + 5)),
        ],
    }
}

fn assert_busy(err: StoreError, kind: &str, resource: &str) {
    match err {
        StoreError::ResourceBusy { kind: k, resource: r } => {
            assert_eq!((k, r.as_str()), (kind, resource), "busy names the resource")
        }
        other => panic!("expected ResourceBusy for {kind} {resource}, got {other:?}"),
    }
}

/// Appointment audit entries (kind, detail) in order.
async fn audit_trail(store: &Store) -> Vec<(String, String)> {
    let rows = store.audit(&AuditQuery { limit: 10_000, ..Default::default() }).await.unwrap();
    rows.into_iter().map(|(_, e)| (e.kind, e.detail)).collect()
}

/// Active reservations of the same resource whose ranges overlap: must always be 0.
async fn overlapping_pairs(store: &Store) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM reservations a JOIN reservations b \
           ON a.resource_kind = b.resource_kind AND a.resource_id = b.resource_id AND a.id < b.id \
         WHERE a.active = 1 AND b.active = 1 AND a.start_ms < b.end_ms AND b.start_ms < a.end_ms",
    )
    .fetch_one(store.pool())
    .await
    .unwrap()
}

async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(store.pool()).await.unwrap()
}

/// A small deterministic PRNG (splitmix64), so the stress test needs no extra dependency and a failing
/// run can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

mod scenarios {
    use super::*;

    pub async fn book_reschedule_cancel_round_trip(db: TestDb) -> TestDb {
        let store = db.connect().await;
        let mut new = appointment("a1", "mikkeli-1", "kela-anna", 60, 90);
        new.needs = SpecialNeeds {
            language: Some("sv".into()),
            interpreter: Some(InterpreterNeed { language: "fse".into(), modality: "remote".into() }),
            accessibility: Some("wheelchair; hearing loop".into()),
        };
        let booked = store.book_appointment(&new).await.unwrap();
        assert_eq!(booked.status, AppointmentStatus::Booked);
        assert_eq!(booked.sequence, 0);
        assert_eq!(booked.uid, "a1@vayla.test");
        assert_eq!((booked.start_ms, booked.end_ms), (at(60), at(90)));
        assert_eq!(booked.needs, new.needs);
        assert_eq!(booked.customer_ref.as_deref(), Some("case-a1"));
        assert_eq!((booked.created_by.as_str(), booked.updated_by.as_str()), ("advisor-liisa", "advisor-liisa"));
        assert_eq!((booked.closed_by.clone(), booked.closed_at, booked.cancel_reason.clone()), (None, None, None));
        let held: Vec<_> = booked.active().map(|r| (r.kind, r.resource_id.as_str(), r.start_ms, r.end_ms)).collect();
        assert_eq!(
            held,
            vec![
                (ResourceKind::Device, "mikkeli-1", at(60), at(90)),
                (ResourceKind::Expert, "kela-anna", at(55), at(95)),
            ]
        );
        assert_eq!(store.get_appointment("a1").await.unwrap().as_ref(), Some(&booked));
        assert_eq!(store.get_appointment("nope").await.unwrap(), None);

        // The same id or uid again is a conflict, and changes nothing.
        let mut dup = appointment("a1", "mikkeli-2", "kela-ben", 300, 330);
        let err = store.book_appointment(&dup).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { what: "appointment", .. }), "{err:?}");
        dup.id = "a1-other".into();
        dup.uid = "a1@vayla.test".into();
        let err = store.book_appointment(&dup).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
        assert_eq!(store.get_appointment("a1-other").await.unwrap(), None);

        // Reschedule to an overlapping later time: the old reservations do not stand in the way.
        let later = store
            .reschedule_appointment("a1", &moved("mikkeli-1", "kela-anna", 75, 105), "kela-anna", at(-500))
            .await
            .unwrap();
        assert_eq!(later.sequence, 1);
        assert_eq!((later.start_ms, later.end_ms), (at(75), at(105)));
        assert_eq!((later.updated_by.as_str(), later.updated_at), ("kela-anna", at(-500)));
        assert_eq!(later.created_at, at(-600), "creation is kept");
        assert_eq!(later.uid, booked.uid, "the UID never changes");
        assert_eq!(later.reservations.len(), 4, "history kept");
        assert!(later.reservations[..2].iter().all(|r| !r.active && r.released_at == Some(at(-500))));
        assert_eq!(later.active().count(), 2);
        assert_eq!(later.active().map(|r| r.start_ms).min(), Some(at(70)));

        let cancelled = store.cancel_appointment("a1", "customer called", "advisor-liisa", at(-400)).await.unwrap();
        assert_eq!(cancelled.status, AppointmentStatus::Cancelled);
        assert_eq!(cancelled.sequence, 2);
        assert_eq!(cancelled.cancel_reason.as_deref(), Some("customer called"));
        assert_eq!((cancelled.closed_by.as_deref(), cancelled.closed_at), (Some("advisor-liisa"), Some(at(-400))));
        assert_eq!(cancelled.active().count(), 0);
        assert_eq!(store.get_appointment("a1").await.unwrap().as_ref(), Some(&cancelled));

        let trail = audit_trail(&store).await;
        let kinds: Vec<&str> = trail.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["appointment_booked", "appointment_rescheduled", "appointment_cancelled"]);
        assert!(trail[0].1.starts_with("appointment=a1 sequence=0 "), "{}", trail[0].1);
        assert!(trail[0].1.contains("expert:kela-anna@"), "{}", trail[0].1);
        assert!(trail[1].1.starts_with("appointment=a1 sequence=1 "), "{}", trail[1].1);
        assert!(trail[2].1.starts_with("appointment=a1 sequence=2 "), "{}", trail[2].1);
        assert!(trail[2].1.ends_with("reason=customer called"), "{}", trail[2].1);
        assert!(trail.iter().all(|(_, d)| !d.contains("case-a1")), "the customer reference is never logged");
        let by_room = AuditQuery { room: Some("mikkeli-1".into()), limit: 10, ..Default::default() };
        let entries = store.audit(&by_room).await.unwrap();
        assert_eq!(entries.len(), 3, "filed under the device's room");
        assert_eq!(entries[1].1.subject.as_deref(), Some("kela-anna"), "the subject is who changed it");
        store.close().await;
        db
    }

    pub async fn no_show_completed_and_closed_appointments(db: TestDb) -> TestDb {
        let store = db.connect().await;
        store.book_appointment(&appointment("n1", "mikkeli-1", "kela-anna", 0, 30)).await.unwrap();
        store.book_appointment(&appointment("c1", "mikkeli-1", "kela-anna", 60, 90)).await.unwrap();

        let no_show = store.mark_no_show("n1", "kela-anna", at(15)).await.unwrap();
        assert_eq!(no_show.status, AppointmentStatus::NoShow);
        assert_eq!(no_show.sequence, 1);
        assert_eq!((no_show.closed_by.as_deref(), no_show.cancel_reason.as_deref()), (Some("kela-anna"), None));
        assert_eq!(no_show.active().count(), 2, "a no-show keeps its reservations");
        let done = store.mark_completed("c1", "kela-anna", at(90)).await.unwrap();
        assert_eq!((done.status, done.sequence), (AppointmentStatus::Completed, 1));

        // Closed is final: nothing more can happen to it, and nothing is written trying.
        let err = store.cancel_appointment("n1", "late", "advisor-liisa", at(20)).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::AppointmentClosed { id, status } if id == "n1" && status == "no_show"),
            "{err:?}"
        );
        let err = store.reschedule_appointment("c1", &moved("mikkeli-1", "kela-anna", 200, 230), "x", at(1)).await;
        assert!(matches!(err, Err(StoreError::AppointmentClosed { .. })), "{err:?}");
        let err = store.mark_no_show("c1", "x", at(1)).await.unwrap_err();
        assert!(matches!(err, StoreError::AppointmentClosed { .. }), "{err:?}");
        store.cancel_appointment("c1-not-there", "r", "x", at(1)).await.map(|_| ()).unwrap_err();
        let err = store.mark_completed("nope", "x", at(1)).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { what: "appointment", .. }), "{err:?}");
        assert_eq!(store.get_appointment("n1").await.unwrap().unwrap(), no_show, "unchanged by the refusals");
        assert_eq!(store.get_appointment("c1").await.unwrap().unwrap(), done);

        let kinds: Vec<String> = audit_trail(&store).await.into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, ["appointment_booked", "appointment_booked", "appointment_no_show", "appointment_completed"]);
        store.close().await;
        db
    }

    pub async fn conflict_leaves_no_partial_booking(db: TestDb) -> TestDb {
        let store = db.connect().await;
        store.book_appointment(&appointment("a", "mikkeli-1", "kela-anna", 60, 90)).await.unwrap();
        // Another device is free, but the expert's buffer overlaps: the whole booking is refused.
        let err = store.book_appointment(&appointment("b", "mikkeli-2", "kela-anna", 95, 125)).await.unwrap_err();
        assert_busy(err, "expert", "kela-anna");
        assert_eq!(store.get_appointment("b").await.unwrap(), None);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM reservations WHERE appointment_id = 'b'").await, 0);
        let device_busy =
            store.busy_for_resources(ResourceKind::Device, &["mikkeli-2".into()], at(0), at(600)).await.unwrap();
        assert!(device_busy.is_empty(), "the free device was not left reserved: {device_busy:?}");
        // The same resource twice in one request, overlapping itself, is refused too.
        let mut twice = appointment("c", "mikkeli-2", "kela-ben", 200, 230);
        twice.reservations.push(res(ResourceKind::Expert, "kela-ben", at(220), at(250)));
        assert_busy(store.book_appointment(&twice).await.unwrap_err(), "expert", "kela-ben");
        assert_eq!(store.get_appointment("c").await.unwrap(), None);
        let kinds: Vec<String> = audit_trail(&store).await.into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, ["appointment_booked"], "refusals write nothing");
        // With a different expert the second booking goes through.
        store.book_appointment(&appointment("b", "mikkeli-2", "kela-ben", 95, 125)).await.unwrap();
        store.close().await;
        db
    }

    pub async fn back_to_back_and_rebooking_cancelled_time(db: TestDb) -> TestDb {
        let store = db.connect().await;
        let mut first = appointment("a", "mikkeli-1", "kela-anna", 60, 90);
        first.reservations[1] = res(ResourceKind::Expert, "kela-anna", at(60), at(90));
        let mut second = appointment("b", "mikkeli-1", "kela-anna", 90, 120);
        second.reservations[1] = res(ResourceKind::Expert, "kela-anna", at(90), at(120));
        store.book_appointment(&first).await.unwrap();
        store.book_appointment(&second).await.unwrap();
        // …but one minute into the first is not back to back.
        let mut third = appointment("c", "mikkeli-1", "kela-ben", 89, 119);
        third.reservations.reverse();
        assert_busy(store.book_appointment(&third).await.unwrap_err(), "device", "mikkeli-1");

        store.cancel_appointment("a", "expert ill", "kela-anna", at(0)).await.unwrap();
        let mut again = appointment("a2", "mikkeli-1", "kela-anna", 60, 90);
        again.reservations[1] = res(ResourceKind::Expert, "kela-anna", at(60), at(90));
        store.book_appointment(&again).await.unwrap();
        assert_eq!(overlapping_pairs(&store).await, 0);
        store.close().await;
        db
    }

    pub async fn refused_reschedule_keeps_the_old_booking(db: TestDb) -> TestDb {
        let store = db.connect().await;
        let a = store.book_appointment(&appointment("a", "mikkeli-1", "kela-anna", 60, 90)).await.unwrap();
        store.book_appointment(&appointment("b", "mikkeli-2", "kela-ben", 120, 150)).await.unwrap();
        // Device free then, expert kela-ben not: refused, and "a" is untouched, reservations included.
        let err = store.reschedule_appointment("a", &moved("mikkeli-1", "kela-ben", 130, 160), "x", at(1)).await;
        assert_busy(err.unwrap_err(), "expert", "kela-ben");
        assert_eq!(store.get_appointment("a").await.unwrap().unwrap(), a);
        let busy = store.busy_for_resources(ResourceKind::Expert, &["kela-anna".into()], at(0), at(600)).await.unwrap();
        assert_eq!(busy, vec![("kela-anna".to_string(), at(55), at(95))]);
        let kinds: Vec<String> = audit_trail(&store).await.into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, ["appointment_booked", "appointment_booked"]);
        // A reschedule may also swap the expert and the device.
        let swapped = store.reschedule_appointment("a", &moved("mikkeli-2", "kela-anna", 150, 180), "x", at(2)).await;
        let swapped = swapped.unwrap();
        assert_eq!(swapped.sequence, 1);
        assert_eq!(
            swapped.device, "mikkeli-1",
            "the appointment's device (room) is part of the booking, not of the time"
        );
        assert_eq!(overlapping_pairs(&store).await, 0);
        store.close().await;
        db
    }

    pub async fn interpreter_reserved_later_under_the_same_rule(db: TestDb) -> TestDb {
        let store = db.connect().await;
        let mut a = appointment("a", "mikkeli-1", "kela-anna", 60, 90);
        a.needs.interpreter = Some(InterpreterNeed { language: "fse".into(), modality: "remote".into() });
        store.book_appointment(&a).await.unwrap();
        store.book_appointment(&appointment("b", "mikkeli-2", "kela-ben", 80, 110)).await.unwrap();

        let with = store.reserve_interpreter("a", "tulkki-1", None, "kela-anna", at(1)).await.unwrap();
        assert_eq!(with.sequence, 1);
        let interpreters: Vec<_> =
            with.active().filter(|r| r.kind == ResourceKind::Interpreter).map(|r| (r.start_ms, r.end_ms)).collect();
        assert_eq!(interpreters, vec![(at(60), at(90))], "defaults to the customer's slot");
        // The same interpreter cannot be in "b" at an overlapping time; another one can.
        let err = store.reserve_interpreter("b", "tulkki-1", Some((at(75), at(115))), "x", at(2)).await;
        assert_busy(err.unwrap_err(), "interpreter", "tulkki-1");
        assert_eq!(store.get_appointment("b").await.unwrap().unwrap().sequence, 0, "refusal changed nothing");
        store.reserve_interpreter("b", "tulkki-2", Some((at(75), at(115))), "x", at(2)).await.unwrap();
        // Released, the first interpreter is free for "b" too.
        let without = store.release_interpreter("a", "tulkki-1", "kela-anna", at(3)).await.unwrap();
        assert_eq!((without.sequence, without.active().count()), (2, 2));
        let err = store.release_interpreter("a", "tulkki-1", "kela-anna", at(3)).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
        assert_eq!(store.get_appointment("a").await.unwrap().unwrap().sequence, 2, "failed release changed nothing");
        store.reserve_interpreter("b", "tulkki-1", Some((at(75), at(115))), "x", at(4)).await.unwrap();
        // Cancelling frees interpreters with everything else; closed appointments take no new ones.
        let cancelled = store.cancel_appointment("b", "moved to phone", "x", at(5)).await.unwrap();
        assert_eq!(cancelled.active().count(), 0);
        let err = store.reserve_interpreter("b", "tulkki-3", None, "x", at(6)).await.unwrap_err();
        assert!(matches!(err, StoreError::AppointmentClosed { .. }), "{err:?}");
        let err = store.reserve_interpreter("zz", "tulkki-3", None, "x", at(6)).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { what: "appointment", .. }), "{err:?}");
        let kinds: Vec<String> = audit_trail(&store).await.into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            kinds,
            [
                "appointment_booked",
                "appointment_booked",
                "interpreter_reserved",
                "interpreter_reserved",
                "interpreter_released",
                "interpreter_reserved",
                "appointment_cancelled"
            ]
        );
        store.close().await;
        db
    }

    pub async fn queries_for_calendars_and_slot_search(db: TestDb) -> TestDb {
        let store = db.connect().await;
        store.book_appointment(&appointment("a", "mikkeli-1", "kela-anna", 60, 90)).await.unwrap();
        store.book_appointment(&appointment("b", "mikkeli-2", "kela-anna", 120, 150)).await.unwrap();
        store.book_appointment(&appointment("c", "mikkeli-1", "kela-ben", 120, 150)).await.unwrap();
        store.book_appointment(&appointment("d", "mikkeli-1", "kela-ben", 24 * 60, 24 * 60 + 30)).await.unwrap();
        store.cancel_appointment("b", "no longer needed", "x", at(0)).await.unwrap();

        let ids = |v: Vec<AppointmentRecord>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
        // Ranges are half-open and match by overlap.
        assert_eq!(ids(store.appointments_in_range(at(0), at(600)).await.unwrap()), ["a", "b", "c"]);
        assert_eq!(ids(store.appointments_in_range(at(90), at(121)).await.unwrap()), ["b", "c"]);
        assert_eq!(ids(store.appointments_in_range(at(150), at(24 * 60)).await.unwrap()), Vec::<String>::new());
        // A resource's calendar includes the cancelled appointment (for the feed's CANCELLED), matched on the
        // reserved time: kela-anna's buffer starts at 55.
        let anna = store.appointments_for_resource(ResourceKind::Expert, "kela-anna", at(0), at(56)).await.unwrap();
        assert_eq!(ids(anna), ["a"]);
        let anna = store.appointments_for_resource(ResourceKind::Expert, "kela-anna", at(0), at(2000)).await.unwrap();
        assert_eq!(
            anna.iter().map(|a| (a.id.as_str(), a.status)).collect::<Vec<_>>(),
            [("a", AppointmentStatus::Booked), ("b", AppointmentStatus::Cancelled)]
        );
        let device = store.appointments_for_resource(ResourceKind::Device, "mikkeli-1", at(0), at(2000)).await.unwrap();
        assert_eq!(ids(device), ["a", "c", "d"]);
        assert!(store
            .appointments_for_resource(ResourceKind::Interpreter, "kela-anna", 0, i64::MAX)
            .await
            .unwrap()
            .is_empty());

        // Busy time: active reservations only, per resource and by start, buffers included.
        let experts = ["kela-anna".to_string(), "kela-ben".to_string(), "kela-cecilia".to_string()];
        let busy = store.busy_for_resources(ResourceKind::Expert, &experts, at(0), at(600)).await.unwrap();
        assert_eq!(busy, vec![("kela-anna".to_string(), at(55), at(95)), ("kela-ben".to_string(), at(115), at(155))]);
        assert!(store.busy_for_resources(ResourceKind::Device, &[], 0, i64::MAX).await.unwrap().is_empty());
        store.close().await;
        db
    }

    pub async fn database_refuses_overlap_written_past_the_api(db: TestDb) -> TestDb {
        let store = db.connect().await;
        store.book_appointment(&appointment("a", "mikkeli-1", "kela-anna", 60, 90)).await.unwrap();
        store.book_appointment(&appointment("b", "mikkeli-1", "kela-anna", 120, 150)).await.unwrap();
        let insert = |start: i64, end: i64| {
            sqlx::query(
                "INSERT INTO reservations (appointment_id, resource_kind, resource_id, start_ms, end_ms, active, created_at) \
                 VALUES ('b', 'device', 'mikkeli-1', $1, $2, 1, 0)",
            )
            .bind(at(start))
            .bind(at(end))
            .execute(store.pool())
        };
        let err = insert(80, 100).await.expect_err("an overlapping insert must be refused by the database");
        let message = err.as_database_error().map(|d| d.message().to_owned()).unwrap_or_default();
        match db.backend {
            Backend::Postgres => {
                assert_eq!(err.as_database_error().and_then(|d| d.code()).as_deref(), Some("23P01"), "{err}");
            }
            Backend::Sqlite => assert!(message.starts_with("reservation_overlap"), "{err}"),
        }
        // Back to back and released rows are fine, even past the API.
        insert(90, 120).await.expect("back to back is not an overlap");
        sqlx::query(
            "INSERT INTO reservations (appointment_id, resource_kind, resource_id, start_ms, end_ms, active, created_at, released_at) \
             VALUES ('b', 'device', 'mikkeli-1', $1, $2, 0, 0, 0)",
        )
        .bind(at(60))
        .bind(at(90))
        .execute(store.pool())
        .await
        .expect("an inactive row blocks nothing");
        // Updates are checked too: widening a reservation into its neighbour, or reviving a released one.
        let widen =
            sqlx::query("UPDATE reservations SET end_ms = $1 WHERE appointment_id = 'a' AND resource_kind = 'device'")
                .bind(at(95))
                .execute(store.pool())
                .await;
        assert!(widen.is_err(), "widening into the next reservation must be refused");
        store.cancel_appointment("b", "r", "x", at(0)).await.unwrap();
        store.book_appointment(&appointment("c", "mikkeli-1", "kela-anna", 120, 150)).await.unwrap();
        let revive = sqlx::query(
            "UPDATE reservations SET active = 1, released_at = NULL WHERE appointment_id = 'b' AND resource_kind = 'device' \
               AND start_ms = $1",
        )
        .bind(at(120))
        .execute(store.pool())
        .await;
        assert!(revive.is_err(), "reviving a released reservation into taken time must be refused");
        assert_eq!(overlapping_pairs(&store).await, 0);
        store.close().await;
        db
    }

    /// The issue's stress test: many tasks, on two pools (like two server nodes), race to book random
    /// overlapping slots of a few devices and experts, and sometimes cancel or reschedule what they got.
    /// Afterwards a self-join over the reservations finds no overlap, and what the tasks were told
    /// matches the rows exactly.
    pub async fn racing_bookings_never_overlap(db: TestDb) -> TestDb {
        const TASKS: u64 = 32;
        const PER_TASK: u64 = 64;
        const ATTEMPTS: u64 = TASKS * PER_TASK;
        const DEVICES: u64 = 3;
        const EXPERTS: u64 = 4;
        // Five working days of 10 hours, starts on 5 minute steps: crowded enough that most attempts
        // collide with something, roomy enough that a few hundred succeed.
        const DAYS: u64 = 5;
        const STARTS_PER_DAY: u64 = 10 * 12;

        let store = db.connect().await;
        let other = db.connect().await;
        let started = Instant::now();
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let s = if t % 2 == 0 { store.clone() } else { other.clone() };
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng(0x5eed_0000 + t);
                let (mut booked, mut refused, mut cancelled, mut moved_ok) = (Vec::new(), 0u64, 0u64, 0u64);
                for i in 0..PER_TASK {
                    let id = format!("t{t}-{i}");
                    let start = (rng.below(DAYS) * 24 * 60 + rng.below(STARTS_PER_DAY) * 5) as i64;
                    let end = start + 15 * (1 + rng.below(4)) as i64;
                    let device = format!("device-{}", rng.below(DEVICES));
                    let expert = format!("expert-{}", rng.below(EXPERTS));
                    match s.book_appointment(&appointment(&id, &device, &expert, start, end)).await {
                        Ok(a) => {
                            assert_eq!(a.active().count(), 2);
                            booked.push(id.clone());
                        }
                        Err(StoreError::ResourceBusy { .. }) => refused += 1,
                        Err(e) => panic!("booking {id} failed for a reason other than busy time: {e:?}"),
                    }
                    // Now and then, cancel or reschedule an earlier success: frees and retakes time in the race.
                    if booked.len() > 1 && rng.below(10) == 0 {
                        let victim = booked.swap_remove(rng.below(booked.len() as u64) as usize);
                        s.cancel_appointment(&victim, "stress", "tester", at(0)).await.expect("cancel");
                        cancelled += 1;
                    } else if !booked.is_empty() && rng.below(10) == 0 {
                        let which = &booked[rng.below(booked.len() as u64) as usize];
                        let shift = (rng.below(7) as i64 - 3) * 15;
                        let change = moved(&device, &expert, start + shift, end + shift);
                        match s.reschedule_appointment(which, &change, "tester", at(0)).await {
                            Ok(_) => moved_ok += 1,
                            Err(StoreError::ResourceBusy { .. }) => {}
                            Err(e) => panic!("reschedule of {which} failed for a reason other than busy time: {e:?}"),
                        }
                    }
                }
                (booked, refused, cancelled, moved_ok)
            }));
        }
        let (mut still_booked, mut refused, mut cancelled, mut moved_ok) = (Vec::new(), 0, 0, 0);
        for t in tasks {
            let (b, r, c, m) = t.await.expect("task panicked");
            still_booked.extend(b);
            refused += r;
            cancelled += c;
            moved_ok += m;
        }
        let elapsed = started.elapsed();
        let succeeded = still_booked.len() as u64 + cancelled;
        assert_eq!(succeeded + refused, ATTEMPTS);
        eprintln!(
            "{:?}: {ATTEMPTS} racing bookings from {TASKS} tasks: {succeeded} booked ({cancelled} later cancelled, \
             {moved_ok} rescheduled), {refused} refused as busy, in {:.2} s",
            db.backend,
            elapsed.as_secs_f64()
        );

        assert_eq!(overlapping_pairs(&store).await, 0, "no resource is double-booked");
        let booked_rows = count(&store, "SELECT COUNT(*) FROM appointments WHERE status = 'booked'").await;
        assert_eq!(booked_rows as usize, still_booked.len(), "every success told is a row, and no more");
        assert_eq!(count(&store, "SELECT COUNT(*) FROM appointments").await as u64, succeeded);
        let active = count(&store, "SELECT COUNT(*) FROM reservations WHERE active = 1").await;
        assert_eq!(active as usize, 2 * still_booked.len(), "each live booking holds its device and its expert");
        let stray = count(
            &store,
            "SELECT COUNT(*) FROM reservations r JOIN appointments a ON a.id = r.appointment_id \
             WHERE r.active = 1 AND a.status <> 'booked'",
        )
        .await;
        assert_eq!(stray, 0, "cancelled appointments hold nothing");
        let audited = count(&store, "SELECT COUNT(*) FROM audit_log WHERE kind = 'appointment_booked'").await;
        assert_eq!(audited as u64, succeeded, "one audit entry per booking, none for refusals");
        assert!(succeeded > 100 && refused > 100, "the test must actually race: {succeeded} ok, {refused} refused");
        other.close().await;
        store.close().await;
        db
    }

    /// The same race without the API: many connections insert overlapping reservations of one device with
    /// plain SQL, no check, no lock. Only the database's own rule stands between them and a double booking.
    /// On PostgreSQL two simultaneous conflicting inserts may also end in a deadlock error (the exclusion
    /// check waits on both sides); that is a refusal too.
    pub async fn racing_raw_inserts_never_overlap(db: TestDb) -> TestDb {
        const TASKS: u64 = 16;
        const PER_TASK: u64 = 25;
        let store = db.connect().await;
        store.book_appointment(&appointment("holder", "other-device", "other-expert", 0, 30)).await.unwrap();
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng(0xbad_c0de + t);
                let mut inserted = 0u64;
                for _ in 0..PER_TASK {
                    let start = (rng.below(96) * 5) as i64;
                    let done = sqlx::query(
                        "INSERT INTO reservations \
                             (appointment_id, resource_kind, resource_id, start_ms, end_ms, active, created_at) \
                         VALUES ('holder', 'device', 'raced', $1, $2, 1, 0)",
                    )
                    .bind(at(start))
                    .bind(at(start + 30))
                    .execute(s.pool())
                    .await;
                    match done {
                        Ok(_) => inserted += 1,
                        Err(e) => {
                            let d = e.as_database_error().unwrap_or_else(|| panic!("not a refusal: {e:?}"));
                            let code = d.code().unwrap_or_default().into_owned();
                            let refused =
                                d.message().starts_with("reservation_overlap") || code == "23P01" || code == "40P01";
                            assert!(refused, "not a refusal: {e:?}");
                        }
                    }
                }
                inserted
            }));
        }
        let mut inserted = 0;
        for t in tasks {
            inserted += t.await.expect("task panicked");
        }
        eprintln!("{:?}: {} raw inserts racing for one device: {inserted} stored", db.backend, TASKS * PER_TASK);
        assert_eq!(overlapping_pairs(&store).await, 0, "the database alone kept the device single-booked");
        let rows = count(&store, "SELECT COUNT(*) FROM reservations WHERE resource_id = 'raced'").await;
        assert_eq!(rows as u64, inserted);
        assert!(inserted >= 4, "some inserts must get through: {inserted}");
        store.close().await;
        db
    }
}
