//! Interpreter bookings against real databases, every scenario on a SQLite file and on a fresh PostgreSQL
//! database (like `tests/appointments.rs`; the PostgreSQL variants need `VAYLA_TEST_PG_URL`, or
//! `VAYLA_SKIP_PG=1` to skip them on purpose). The stories: the registry keeps contact details apart; the
//! cascade offer → decline → timeout → next → accept is persisted; cancellation from either side releases the
//! interpreter's time. The guarantees, checked with SQL after racing tasks on two pools: racing accepts of one
//! request end with exactly one interpreter, and racing accepts of one interpreter for overlapping
//! appointments never overlap their time. And the database itself refuses a second accepted offer.

use vayla_store::*;

#[macro_use]
mod common;
use common::{on_postgres, on_sqlite, TestDb};

both_backends!(
    registry_keeps_contact_details_apart,
    cascade_offer_decline_timeout_next_accept_is_persisted,
    cancellation_from_both_sides_releases_the_interpreter,
    exhausted_request_reopens_in_a_new_round,
    racing_accepts_of_one_request_end_with_one_interpreter,
    racing_accepts_of_one_interpreter_never_overlap,
    database_refuses_a_second_accepted_offer,
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

/// An appointment at `device` with `expert`, slot `[start, end)` in minutes after 08:00, that needs an
/// interpreter.
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
        customer_ref: None,
        needs: SpecialNeeds {
            language: Some("fse".into()),
            interpreter: Some(InterpreterNeed { language: "fse".into(), modality: "remote_video".into() }),
            accessibility: None,
        },
        created_by: "advisor-liisa".into(),
        created_at: at(-3 * 24 * 60),
        reservations: vec![
            res(ResourceKind::Device, device, at(start), at(end)),
            res(ResourceKind::Expert, expert, at(start), at(end)),
        ],
    }
}

fn interpreter(id: &str) -> InterpreterRecord {
    InterpreterRecord {
        id: id.into(),
        provider: "tulkkipalvelu-oy".into(),
        languages: vec![
            LanguageLevel { language: "fi".into(), level: 3 },
            LanguageLevel { language: "fse".into(), level: 2 },
        ],
        remote_video: true,
        phone: false,
        on_site: true,
        active: true,
        source: CalendarSource::Api,
        updated_by: "coordinator-maija".into(),
        updated_at: at(-10_000),
    }
}

/// A request for a Finnish Sign Language interpreter with 10-minute buffers on both sides.
fn request(id: &str, appointment: &str, group_size: i64) -> NewInterpreterRequest {
    NewInterpreterRequest {
        id: id.into(),
        appointment_id: appointment.into(),
        language: "fse".into(),
        modality: "remote_video".into(),
        min_level: 2,
        notes: Some("asiakas käyttää viittomakieltä".into()),
        group_size,
        buffer_before_ms: 10 * MIN,
        buffer_after_ms: 10 * MIN,
        created_by: "advisor-liisa".into(),
        created_at: at(-3 * 24 * 60),
    }
}

fn offer(to: &str, deadline: Millis) -> NewOffer {
    NewOffer { interpreter_id: to.into(), deadline }
}

/// The (interpreter, outcome) of every offer of the request, oldest first.
fn outcomes(r: &InterpreterRequestRecord) -> Vec<(String, OfferOutcome)> {
    r.offers.iter().map(|o| (o.interpreter_id.clone(), o.outcome)).collect()
}

/// The active interpreter reservations as (appointment, interpreter, start, end), sorted.
async fn interpreter_reservations(store: &Store) -> Vec<(String, String, Millis, Millis)> {
    let rows = sqlx::query_as::<_, (String, String, i64, i64)>(
        "SELECT appointment_id, resource_id, start_ms, end_ms FROM reservations \
         WHERE resource_kind = 'interpreter' AND active = 1 ORDER BY appointment_id, resource_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    rows
}

/// Active reservations of the same resource whose ranges overlap: must always be 0.
async fn overlapping_pairs(store: &Store) -> i64 {
    count(
        store,
        "SELECT COUNT(*) FROM reservations a JOIN reservations b \
           ON a.resource_kind = b.resource_kind AND a.resource_id = b.resource_id AND a.id < b.id \
         WHERE a.active = 1 AND b.active = 1 AND a.start_ms < b.end_ms AND b.start_ms < a.end_ms",
    )
    .await
}

async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(store.pool()).await.unwrap()
}

async fn audit_kinds(store: &Store) -> Vec<String> {
    let rows = store.audit(&AuditQuery { limit: 10_000, ..Default::default() }).await.unwrap();
    rows.into_iter().map(|(_, e)| e.kind).filter(|k| k.starts_with("interpreter")).collect()
}

fn assert_offer_closed(err: StoreError, outcome: &str) {
    match err {
        StoreError::OfferClosed { outcome: o, .. } => assert_eq!(o, outcome),
        other => panic!("expected OfferClosed({outcome}), got {other:?}"),
    }
}

mod scenarios {
    use super::*;

    pub async fn registry_keeps_contact_details_apart(db: TestDb) -> TestDb {
        let store = db.connect().await;
        store.put_interpreter(&interpreter("tulkki-aino")).await.unwrap();
        let mut changed = interpreter("tulkki-aino");
        changed.languages =
            vec![LanguageLevel { language: "fss".into(), level: 3 }, LanguageLevel { language: "sv".into(), level: 2 }];
        changed.on_site = false;
        store.put_interpreter(&changed).await.unwrap();
        store.put_interpreter(&interpreter("tulkki-bo")).await.unwrap();
        assert_eq!(store.get_interpreter("tulkki-aino").await.unwrap(), Some(changed.clone()));
        let all = store.list_interpreters().await.unwrap();
        assert_eq!(all.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["tulkki-aino", "tulkki-bo"]);

        assert_eq!(store.interpreter_contact("tulkki-aino").await.unwrap(), None);
        let contact = InterpreterContactRecord {
            interpreter_id: "tulkki-aino".into(),
            name: "Aino Tulkki".into(),
            phone: Some("+358 40 123 4567".into()),
            email: Some("aino@tulkkipalvelu.example".into()),
            updated_by: "coordinator-maija".into(),
            updated_at: at(-9_000),
        };
        store.put_interpreter_contact(&contact).await.unwrap();
        assert_eq!(store.interpreter_contact("tulkki-aino").await.unwrap(), Some(contact));

        // Nothing of the contact reaches the audit log, which other roles read.
        let entries = store.audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
        let text = format!("{entries:?}");
        for secret in ["Aino Tulkki", "123 4567", "aino@"] {
            assert!(!text.contains(secret), "the audit log leaks {secret:?}");
        }
        assert_eq!(
            audit_kinds(&store).await,
            [
                "interpreter_registered",
                "interpreter_registered",
                "interpreter_registered",
                "interpreter_contact_updated"
            ]
        );
        store.close().await;
        db
    }

    pub async fn cascade_offer_decline_timeout_next_accept_is_persisted(db: TestDb) -> TestDb {
        let store = db.connect().await;
        for i in ["tulkki-a", "tulkki-b", "tulkki-c"] {
            store.put_interpreter(&interpreter(i)).await.unwrap();
        }
        store.book_appointment(&appointment("a1", "mikkeli-1", "kela-anna", 60, 120)).await.unwrap();
        let r = store.create_interpreter_request(&request("r1", "a1", 1)).await.unwrap();
        assert_eq!((r.state, r.round, r.version), (InterpreterRequestState::Open, 1, 0));
        assert!(r.offers.is_empty());

        // Offer to A; A declines: back to open.
        let now = at(-3 * 24 * 60);
        let r = store.record_offers("r1", &[offer("tulkki-a", now + 240 * MIN)], "cascade", now).await.unwrap();
        assert_eq!(r.state, InterpreterRequestState::Offered);
        let r = store.decline_offer("r1", "tulkki-a", "tulkki-a", now + 30 * MIN).await.unwrap();
        assert_eq!(r.state, InterpreterRequestState::Open);
        assert_offer_closed(
            store.accept_offer("r1", "tulkki-a", "tulkki-a", now + 31 * MIN).await.unwrap_err(),
            "declined",
        );

        // Offer to B; B lets it run out.
        let sent = now + 30 * MIN;
        let deadline = sent + 240 * MIN;
        store.record_offers("r1", &[offer("tulkki-b", deadline)], "cascade", sent).await.unwrap();
        assert_eq!(store.next_offer_deadline().await.unwrap(), Some(deadline));
        assert!(store.requests_with_due_offers(deadline - 1).await.unwrap().is_empty());
        let before = store.expire_offers("r1", "cascade", deadline - 1).await.unwrap();
        assert_eq!(before.state, InterpreterRequestState::Offered, "nothing due yet, nothing changes");
        assert_offer_closed(store.accept_offer("r1", "tulkki-b", "tulkki-b", deadline).await.unwrap_err(), "expired");
        assert_eq!(store.requests_with_due_offers(deadline).await.unwrap(), ["r1"]);
        let r = store.expire_offers("r1", "cascade", deadline).await.unwrap();
        assert_eq!(r.state, InterpreterRequestState::Open);
        assert_eq!(r.version, before.version + 1);
        assert_eq!(store.next_offer_deadline().await.unwrap(), None);

        // A declined in this round: the database refuses offering it to A again.
        match store.record_offers("r1", &[offer("tulkki-a", deadline + MIN)], "cascade", deadline).await {
            Err(StoreError::Conflict { .. }) => {}
            other => panic!("a second offer to A in one round must be refused, got {other:?}"),
        }
        assert_eq!(store.get_interpreter_request("r1").await.unwrap().unwrap().state, InterpreterRequestState::Open);

        // Offer to C; C accepts: assigned, their time reserved with the buffers.
        store.record_offers("r1", &[offer("tulkki-c", deadline + 30 * MIN)], "cascade", deadline).await.unwrap();
        assert_eq!(store.pending_offers_for("tulkki-c").await.unwrap().len(), 1);
        let r = store.accept_offer("r1", "tulkki-c", "tulkki-c", deadline + MIN).await.unwrap();
        assert_eq!(r.state, InterpreterRequestState::Accepted);
        assert_eq!(r.assigned_interpreter.as_deref(), Some("tulkki-c"));
        assert_eq!(
            outcomes(&r),
            [
                ("tulkki-a".into(), OfferOutcome::Declined),
                ("tulkki-b".into(), OfferOutcome::Expired),
                ("tulkki-c".into(), OfferOutcome::Accepted),
            ]
        );
        assert!(store.pending_offers_for("tulkki-c").await.unwrap().is_empty());
        assert_eq!(
            interpreter_reservations(&store).await,
            [("a1".into(), "tulkki-c".into(), at(50), at(130))],
            "the slot 09:00–10:00 widened by 10 minutes on both sides"
        );
        let a = store.get_appointment("a1").await.unwrap().unwrap();
        assert_eq!(a.active().count(), 3);
        assert_eq!(a.sequence, 1, "the interpreter's reservation changes the appointment");
        let load = store.interpreter_load(&["tulkki-a".into(), "tulkki-z".into()], now).await.unwrap();
        assert_eq!(load, [("tulkki-a".to_owned(), 1)], "one offer since `now`; no offers, no row");
        assert_eq!(
            audit_kinds(&store).await[3..],
            [
                "interpreter_requested",
                "interpreter_offered",
                "interpreter_offer_declined",
                "interpreter_offered",
                "interpreter_offers_expired",
                "interpreter_offered",
                "interpreter_offer_accepted",
            ]
        );
        store.close().await;
        db
    }

    pub async fn cancellation_from_both_sides_releases_the_interpreter(db: TestDb) -> TestDb {
        let store = db.connect().await;
        for i in ["tulkki-a", "tulkki-b", "tulkki-c"] {
            store.put_interpreter(&interpreter(i)).await.unwrap();
        }
        store.book_appointment(&appointment("a1", "mikkeli-1", "kela-anna", 60, 120)).await.unwrap();
        store.create_interpreter_request(&request("r1", "a1", 2)).await.unwrap();
        let now = at(-60);
        let deadline = now + 30 * MIN;
        store
            .record_offers("r1", &[offer("tulkki-a", deadline), offer("tulkki-b", deadline)], "cascade", now)
            .await
            .unwrap();
        let r = store.accept_offer("r1", "tulkki-a", "tulkki-a", now + MIN).await.unwrap();
        assert_eq!(
            outcomes(&r),
            [("tulkki-a".into(), OfferOutcome::Accepted), ("tulkki-b".into(), OfferOutcome::Withdrawn)]
        );

        // The interpreter cancels: released, back to open, not offered again in this round.
        match store.cancel_by_interpreter("r1", "tulkki-b", "tulkki-b", now + 2 * MIN).await {
            Err(StoreError::InterpreterRequestWrongState { .. }) => {}
            other => panic!("only the assigned interpreter can cancel, got {other:?}"),
        }
        let r = store.cancel_by_interpreter("r1", "tulkki-a", "tulkki-a", now + 2 * MIN).await.unwrap();
        assert_eq!((r.state, r.assigned_interpreter.as_deref()), (InterpreterRequestState::Open, None));
        assert_eq!(r.offers[0].outcome, OfferOutcome::Cancelled);
        assert!(interpreter_reservations(&store).await.is_empty(), "their time is free again");
        let a = store.get_appointment("a1").await.unwrap().unwrap();
        assert_eq!(a.active().count(), 2, "the device and the expert stay booked");
        assert!(store.record_offers("r1", &[offer("tulkki-a", deadline)], "cascade", now).await.is_err());

        // The next one accepts; then the appointment is cancelled: released, request cancelled.
        store.record_offers("r1", &[offer("tulkki-c", deadline)], "cascade", now + 3 * MIN).await.unwrap();
        store.accept_offer("r1", "tulkki-c", "tulkki-c", now + 4 * MIN).await.unwrap();
        assert_eq!(interpreter_reservations(&store).await.len(), 1);
        // A second request of the same appointment, still being offered, is cancelled with it.
        store.create_interpreter_request(&request("r2", "a1", 1)).await.unwrap();
        store.record_offers("r2", &[offer("tulkki-b", deadline)], "cascade", now + 4 * MIN).await.unwrap();
        let cancelled = store
            .cancel_interpreter_requests_for_appointment(
                "a1",
                RequestCancelReason::AppointmentCancelled,
                "advisor-liisa",
                now + 5 * MIN,
            )
            .await
            .unwrap();
        assert_eq!(cancelled.len(), 2);
        assert!(cancelled.iter().all(|r| r.state == InterpreterRequestState::Cancelled
            && r.cancel_reason == Some(RequestCancelReason::AppointmentCancelled)
            && r.assigned_interpreter.is_none()));
        assert_eq!(cancelled[0].offers.last().unwrap().outcome, OfferOutcome::Released);
        assert_eq!(cancelled[1].offers[0].outcome, OfferOutcome::Withdrawn);
        assert!(interpreter_reservations(&store).await.is_empty());
        assert_eq!(count(&store, "SELECT COUNT(*) FROM interpreter_offers WHERE outcome = 'pending'").await, 0);
        // Idempotent; and the appointment itself can still be cancelled (or already was).
        let again = store
            .cancel_interpreter_requests_for_appointment("a1", RequestCancelReason::AppointmentCancelled, "x", now)
            .await
            .unwrap();
        assert!(again.is_empty());
        store.cancel_appointment("a1", "customer", "advisor-liisa", now + 6 * MIN).await.unwrap();

        // The other order: the appointment is cancelled first (releasing everything), then its requests.
        store.book_appointment(&appointment("a2", "mikkeli-1", "kela-anna", 60, 120)).await.unwrap();
        store.create_interpreter_request(&request("r3", "a2", 1)).await.unwrap();
        store.record_offers("r3", &[offer("tulkki-b", deadline)], "cascade", now + 7 * MIN).await.unwrap();
        store.accept_offer("r3", "tulkki-b", "tulkki-b", now + 8 * MIN).await.unwrap();
        store.cancel_appointment("a2", "customer", "advisor-liisa", now + 9 * MIN).await.unwrap();
        assert!(interpreter_reservations(&store).await.is_empty());
        match store.cancel_by_interpreter("r3", "tulkki-b", "tulkki-b", now + 10 * MIN).await {
            Err(StoreError::AppointmentClosed { .. }) => {}
            other => panic!("the appointment is gone, got {other:?}"),
        }
        let r = store
            .cancel_interpreter_request(
                "r3",
                RequestCancelReason::AppointmentCancelled,
                "advisor-liisa",
                now + 10 * MIN,
            )
            .await
            .unwrap();
        assert_eq!(r.offers[0].outcome, OfferOutcome::Released);
        match store.create_interpreter_request(&request("r4", "a2", 1)).await {
            Err(StoreError::AppointmentClosed { .. }) => {}
            other => panic!("no requests for a cancelled appointment, got {other:?}"),
        }
        assert_eq!(overlapping_pairs(&store).await, 0);
        store.close().await;
        db
    }

    pub async fn exhausted_request_reopens_in_a_new_round(db: TestDb) -> TestDb {
        let store = db.connect().await;
        store.put_interpreter(&interpreter("tulkki-a")).await.unwrap();
        store.book_appointment(&appointment("a1", "mikkeli-1", "kela-anna", 60, 120)).await.unwrap();
        store.create_interpreter_request(&request("r1", "a1", 1)).await.unwrap();
        let now = at(-600);
        store.record_offers("r1", &[offer("tulkki-a", now + 30 * MIN)], "cascade", now).await.unwrap();
        match store.mark_interpreter_request_exhausted("r1", "cascade", now).await {
            Err(StoreError::InterpreterRequestWrongState { state: "offered", .. }) => {}
            other => panic!("an offered request is not exhausted, got {other:?}"),
        }
        store.decline_offer("r1", "tulkki-a", "tulkki-a", now + MIN).await.unwrap();
        let r = store.mark_interpreter_request_exhausted("r1", "cascade", now + MIN).await.unwrap();
        assert_eq!(r.state, InterpreterRequestState::Exhausted);
        let r = store.reopen_interpreter_request("r1", "advisor-liisa", now + 2 * MIN).await.unwrap();
        assert_eq!((r.state, r.round), (InterpreterRequestState::Open, 2));
        let r =
            store.record_offers("r1", &[offer("tulkki-a", now + 30 * MIN)], "cascade", now + 2 * MIN).await.unwrap();
        assert_eq!(r.current_offers().count(), 1);
        let r = store.accept_offer("r1", "tulkki-a", "tulkki-a", now + 3 * MIN).await.unwrap();
        assert_eq!(r.assigned_interpreter.as_deref(), Some("tulkki-a"));
        store.close().await;
        db
    }

    /// Many tasks on two pools accept the same requests at once, each offered to a group of five (every group
    /// member tried by two tasks). Exactly one accept per request wins; the rest are told their offer is closed.
    pub async fn racing_accepts_of_one_request_end_with_one_interpreter(db: TestDb) -> TestDb {
        const REQUESTS: usize = 12;
        const GROUP: usize = 5;
        let store = db.connect().await;
        let other = db.connect().await;
        let people: Vec<String> = (0..GROUP).map(|i| format!("tulkki-{i}")).collect();
        for p in &people {
            store.put_interpreter(&interpreter(p)).await.unwrap();
        }
        let now = at(-24 * 60);
        for n in 0..REQUESTS {
            // Appointments far apart, so the interpreters' time never stands in the way here.
            let start = (n as i64) * 24 * 60;
            let (a, r) = (format!("a{n}"), format!("r{n}"));
            store.book_appointment(&appointment(&a, "mikkeli-1", "kela-anna", start, start + 60)).await.unwrap();
            store.create_interpreter_request(&request(&r, &a, GROUP as i64)).await.unwrap();
            let offers: Vec<NewOffer> = people.iter().map(|p| offer(p, now + 60 * MIN)).collect();
            store.record_offers(&r, &offers, "cascade", now).await.unwrap();
        }
        let mut tasks = Vec::new();
        for t in 0..2 * GROUP {
            let s = if t % 2 == 0 { store.clone() } else { other.clone() };
            let who = people[t % GROUP].clone();
            tasks.push(tokio::spawn(async move {
                let mut won = Vec::new();
                for n in 0..REQUESTS {
                    // Half the tasks walk the requests backwards, so the races meet everywhere.
                    let n = if t % 4 < 2 { n } else { REQUESTS - 1 - n };
                    match s.accept_offer(&format!("r{n}"), &who, &who, now + MIN).await {
                        Ok(r) => {
                            assert_eq!(r.assigned_interpreter.as_deref(), Some(who.as_str()));
                            won.push(n);
                        }
                        Err(StoreError::OfferClosed { outcome, .. }) => {
                            assert!(matches!(outcome, "withdrawn" | "accepted"), "unexpected {outcome}")
                        }
                        Err(e) => panic!("accept failed for a reason other than a closed offer: {e:?}"),
                    }
                }
                won
            }));
        }
        let mut wins = vec![0; REQUESTS];
        for t in tasks {
            for n in t.await.expect("task panicked") {
                wins[n] += 1;
            }
        }
        assert_eq!(wins, vec![1; REQUESTS], "exactly one accept per request succeeded");
        let accepted_per_request = sqlx::query_as::<_, (String, i64)>(
            "SELECT r.id, (SELECT COUNT(*) FROM interpreter_offers o WHERE o.request_id = r.id AND o.outcome = 'accepted') \
             FROM interpreter_requests r ORDER BY r.id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert!(accepted_per_request.iter().all(|(_, n)| *n == 1), "{accepted_per_request:?}");
        let consistent = count(
            &store,
            "SELECT COUNT(*) FROM interpreter_requests r JOIN interpreter_offers o \
               ON o.request_id = r.id AND o.outcome = 'accepted' AND o.interpreter_id = r.assigned_interpreter \
             JOIN reservations v ON v.appointment_id = r.appointment_id AND v.resource_kind = 'interpreter' \
               AND v.resource_id = r.assigned_interpreter AND v.active = 1 \
             WHERE r.state = 'accepted'",
        )
        .await;
        assert_eq!(consistent, REQUESTS as i64, "each request: accepted, its offer accepted, its interpreter reserved");
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM reservations WHERE resource_kind = 'interpreter' AND active = 1").await,
            REQUESTS as i64
        );
        assert_eq!(count(&store, "SELECT COUNT(*) FROM interpreter_offers WHERE outcome = 'pending'").await, 0);
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM audit_log WHERE kind = 'interpreter_offer_accepted'").await,
            REQUESTS as i64,
            "no audit entry for a lost race"
        );
        other.close().await;
        store.close().await;
        db
    }

    /// Two interpreters, many overlapping appointments each with a request offered to both; tasks on two pools
    /// accept on their behalf at once. Whatever wins, an interpreter's reserved time never overlaps, and every
    /// refused accept left its request offered and its offer pending.
    pub async fn racing_accepts_of_one_interpreter_never_overlap(db: TestDb) -> TestDb {
        const APPOINTMENTS: i64 = 16;
        let store = db.connect().await;
        let other = db.connect().await;
        let people = ["tulkki-x", "tulkki-y"];
        for p in people {
            store.put_interpreter(&interpreter(p)).await.unwrap();
        }
        let now = at(-24 * 60);
        for n in 0..APPOINTMENTS {
            // One-hour appointments every 20 minutes on separate devices and experts: each overlaps its
            // neighbours (and with the 10-minute buffers, the ones after those too).
            let start = n * 20;
            let (a, r) = (format!("a{n:02}"), format!("r{n:02}"));
            let (device, expert) = (format!("device-{n}"), format!("expert-{n}"));
            store.book_appointment(&appointment(&a, &device, &expert, start, start + 60)).await.unwrap();
            store.create_interpreter_request(&request(&r, &a, 2)).await.unwrap();
            let offers: Vec<NewOffer> = people.iter().map(|p| offer(p, now + 60 * MIN)).collect();
            store.record_offers(&r, &offers, "cascade", now).await.unwrap();
        }
        let mut tasks = Vec::new();
        for t in 0..8usize {
            let s = if t % 2 == 0 { store.clone() } else { other.clone() };
            let who = people[t % 2];
            tasks.push(tokio::spawn(async move {
                let (mut won, mut busy) = (Vec::new(), 0);
                for i in 0..APPOINTMENTS {
                    let n = if t % 4 < 2 { i } else { APPOINTMENTS - 1 - i };
                    match s.accept_offer(&format!("r{n:02}"), who, who, now + MIN).await {
                        Ok(_) => won.push(n),
                        Err(StoreError::ResourceBusy { kind: "interpreter", resource }) => {
                            assert_eq!(resource, who);
                            busy += 1;
                        }
                        Err(StoreError::OfferClosed { .. }) => {}
                        Err(e) => panic!("unexpected refusal: {e:?}"),
                    }
                }
                (won, busy)
            }));
        }
        let (mut won, mut busy) = (0, 0);
        for t in tasks {
            let (w, b) = t.await.expect("task panicked");
            won += w.len();
            busy += b;
        }
        eprintln!("{:?}: {won} accepts won, {busy} refused as busy", db.backend);
        assert_eq!(overlapping_pairs(&store).await, 0, "no interpreter is double-booked");
        let reserved = interpreter_reservations(&store).await;
        assert_eq!(reserved.len(), won, "every won accept holds one reservation, no more");
        assert!(won >= 2 && busy > 0, "the test must actually race: {won} won, {busy} busy");
        let accepted = count(&store, "SELECT COUNT(*) FROM interpreter_requests WHERE state = 'accepted'").await;
        assert_eq!(accepted as usize, won);
        // A request nobody got stays offered with both offers pending: a refused accept wrote nothing.
        let untouched = count(
            &store,
            "SELECT COUNT(*) FROM interpreter_requests r WHERE r.state = 'offered' AND r.version = 1 \
               AND (SELECT COUNT(*) FROM interpreter_offers o WHERE o.request_id = r.id AND o.outcome = 'pending') = 2",
        )
        .await;
        assert_eq!(untouched as usize + won, APPOINTMENTS as usize);
        other.close().await;
        store.close().await;
        db
    }

    /// SQL written past the store cannot make a second accepted offer of a request, nor offer it twice to one
    /// interpreter in a round.
    pub async fn database_refuses_a_second_accepted_offer(db: TestDb) -> TestDb {
        let store = db.connect().await;
        for i in ["tulkki-a", "tulkki-b"] {
            store.put_interpreter(&interpreter(i)).await.unwrap();
        }
        store.book_appointment(&appointment("a1", "mikkeli-1", "kela-anna", 60, 120)).await.unwrap();
        store.create_interpreter_request(&request("r1", "a1", 2)).await.unwrap();
        let now = at(-60);
        store
            .record_offers("r1", &[offer("tulkki-a", now + 30 * MIN), offer("tulkki-b", now + 30 * MIN)], "c", now)
            .await
            .unwrap();
        store.accept_offer("r1", "tulkki-a", "tulkki-a", now + MIN).await.unwrap();
        let second = sqlx::query(
            "UPDATE interpreter_offers SET outcome = 'accepted', responded_at = $1 \
             WHERE request_id = 'r1' AND interpreter_id = 'tulkki-b'",
        )
        .bind(now)
        .execute(store.pool())
        .await;
        assert!(second.is_err(), "a second accepted offer must be refused by the database");
        let twice = sqlx::query(
            "INSERT INTO interpreter_offers (request_id, interpreter_id, round, sent_at, deadline, outcome) \
             VALUES ('r1', 'tulkki-a', 1, $1, $2, 'pending')",
        )
        .bind(now)
        .bind(now + MIN)
        .execute(store.pool())
        .await;
        assert!(twice.is_err(), "a second offer to one interpreter in one round must be refused");
        assert_eq!(count(&store, "SELECT COUNT(*) FROM interpreter_offers WHERE outcome = 'accepted'").await, 1);
        store.close().await;
        db
    }
}
