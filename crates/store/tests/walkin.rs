//! Walk-in tickets in the store, on SQLite and PostgreSQL: one open ticket per device, racing accepts from many
//! tasks end with one expert (and one interpreter), a ticket's life from waiting to served, the guarded changes
//! refusing the wrong state, and on-duty switches.

#[macro_use]
mod common;

use common::{on_postgres, on_sqlite, TestDb};
use vayla_store::*;

fn ticket(id: &str, device: &str, interpreter: Option<&str>, at: i64) -> NewWalkinTicket {
    NewWalkinTicket {
        id: id.into(),
        device: device.into(),
        service_point: "mikkeli".into(),
        agency: "kela".into(),
        service: Some("kela-benefits".into()),
        language: "fi".into(),
        interpreter_language: interpreter.map(String::from),
        created_by: device.into(),
        created_at: at,
    }
}

async fn session(store: &Store, id: &str, room: &str) {
    store
        .insert_session(&NewSession {
            id: id.into(),
            room: room.into(),
            opened_by: "kela-anna".into(),
            opened_at: 1_000,
            seats: vec![SeatRecord { seat: "device".into(), role: "device".into(), subject: room.into() }],
            appointment_id: None,
        })
        .await
        .unwrap();
}

mod scenarios {
    use super::*;

    pub async fn one_open_ticket_per_device(db: TestDb) -> TestDb {
        let store = db.connect().await;
        store.create_walkin_ticket(&ticket("t1", "mikkeli-1", None, 100)).await.unwrap();
        let again = store.create_walkin_ticket(&ticket("t2", "mikkeli-1", None, 200)).await;
        assert!(matches!(again, Err(StoreError::Conflict { what: "open walk-in ticket", .. })), "{again:?}");
        // Another device is independent.
        store.create_walkin_ticket(&ticket("t3", "mikkeli-2", None, 300)).await.unwrap();
        // Racing creations for one device: exactly one ticket.
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.create_walkin_ticket(&ticket(&format!("r{i}"), "mikkeli-3", None, 400 + i)).await
            }));
        }
        let mut created = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => created += 1,
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(created, 1);
        // Once closed, the device may ask again.
        let closed = store
            .close_walkin_ticket("t1", &[WalkinStatus::Waiting], WalkinStatus::Cancelled, "cancelled", "mikkeli-1", 500)
            .await
            .unwrap();
        assert_eq!(
            (closed.status, closed.close_reason.as_deref(), closed.closed_at),
            (WalkinStatus::Cancelled, Some("cancelled"), Some(500))
        );
        store.create_walkin_ticket(&ticket("t4", "mikkeli-1", None, 600)).await.unwrap();
        let open: Vec<String> =
            store.open_walkin_tickets(Some("kela")).await.unwrap().into_iter().map(|t| t.id).collect();
        assert_eq!(open.len(), 3);
        assert_eq!(open[0], "t3", "oldest first");
        assert!(store.open_walkin_tickets(Some("vero")).await.unwrap().is_empty());
        assert_eq!(store.open_walkin_ticket_for_device("mikkeli-1").await.unwrap().unwrap().id, "t4");
        db
    }

    pub async fn racing_accepts_end_with_one_expert(db: TestDb) -> TestDb {
        let store = db.connect().await;
        for round in 0..3 {
            let id = format!("t{round}");
            store.create_walkin_ticket(&ticket(&id, &format!("mikkeli-{}", round + 1), None, 100)).await.unwrap();
            let mut tasks = Vec::new();
            for i in 0..12 {
                let (store, id) = (store.clone(), id.clone());
                tasks.push(tokio::spawn(async move {
                    let who = format!("expert-{i}");
                    (who.clone(), store.accept_walkin_ticket(&id, WalkinSide::Expert, &who, 200 + i).await)
                }));
            }
            let mut winners = Vec::new();
            for t in tasks {
                match t.await.unwrap() {
                    (who, Ok(r)) => {
                        assert_eq!(r.accepted_by.as_deref(), Some(who.as_str()));
                        winners.push(who);
                    }
                    (_, Err(StoreError::TicketTaken { side: "expert", .. })) => {}
                    (_, Err(e)) => panic!("unexpected {e}"),
                }
            }
            assert_eq!(winners.len(), 1, "exactly one expert wins: {winners:?}");
            let stored = store.walkin_ticket(&id).await.unwrap().unwrap();
            assert_eq!(stored.accepted_by.as_deref(), Some(winners[0].as_str()));
            assert_eq!(stored.status, WalkinStatus::Accepted);
            assert_eq!(stored.version, 1, "one change only");
            let audit = store
                .audit(&AuditQuery { kind: Some("walkin_accepted".into()), limit: 100, ..Default::default() })
                .await
                .unwrap();
            assert_eq!(audit.iter().filter(|(_, e)| e.detail.contains(&format!("ticket={id} "))).count(), 1);
        }
        db
    }

    pub async fn with_an_interpreter_both_sides_race_separately(db: TestDb) -> TestDb {
        let store = db.connect().await;
        store.create_walkin_ticket(&ticket("t", "mikkeli-1", Some("ar"), 100)).await.unwrap();
        let plain = store.create_walkin_ticket(&ticket("p", "mikkeli-2", None, 100)).await.unwrap();
        let refused = store.accept_walkin_ticket(&plain.id, WalkinSide::Interpreter, "tulkki-aino", 150).await;
        assert!(matches!(refused, Err(StoreError::TicketWrongState { .. })), "{refused:?}");
        let mut tasks = Vec::new();
        for i in 0..6 {
            let store = store.clone();
            let (side, who) = if i % 2 == 0 {
                (WalkinSide::Expert, format!("e{i}"))
            } else {
                (WalkinSide::Interpreter, format!("i{i}"))
            };
            tasks.push(tokio::spawn(async move { store.accept_walkin_ticket("t", side, &who, 200 + i).await }));
        }
        let results: Vec<_> = futures_join(tasks).await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 2, "one expert and one interpreter: {results:?}");
        let t = store.walkin_ticket("t").await.unwrap().unwrap();
        assert_eq!(t.status, WalkinStatus::Accepted);
        assert!(t.accepted_by.as_deref().unwrap().starts_with('e'));
        assert!(t.interpreter.as_deref().unwrap().starts_with('i'));
        // Accepted when the second of the two committed: at that one's time.
        assert!([t.expert_accepted_at, t.interpreter_accepted_at].contains(&t.accepted_at), "{t:?}");
        db
    }

    async fn futures_join<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }

    pub async fn a_ticket_from_waiting_to_served(db: TestDb) -> TestDb {
        let store = db.connect().await;
        store.create_walkin_ticket(&ticket("t", "mikkeli-1", Some("fse"), 100)).await.unwrap();
        // The expert accepts first: still waiting for the interpreter.
        let t = store.accept_walkin_ticket("t", WalkinSide::Expert, "kela-anna", 200).await.unwrap();
        assert_eq!((t.status, t.accepted_at, t.expert_accepted_at), (WalkinStatus::Waiting, None, Some(200)));
        // A session cannot be linked before everyone has accepted; serving needs a session.
        assert!(matches!(
            store.link_walkin_session("t", "s1", "kela-anna", 250).await,
            Err(StoreError::TicketWrongState { .. })
        ));
        // The room was busy: the expert lets go, and someone else takes it.
        let released = store.release_walkin_ticket("t", "kela-anna", 260).await.unwrap();
        assert_eq!((released.status, released.accepted_by.as_deref()), (WalkinStatus::Waiting, None));
        assert!(store.release_walkin_ticket("t", "kela-anna", 261).await.is_err());
        store.accept_walkin_ticket("t", WalkinSide::Expert, "kela-mikko", 270).await.unwrap();
        let t = store.accept_walkin_ticket("t", WalkinSide::Interpreter, "tulkki-sami", 300).await.unwrap();
        assert_eq!((t.status, t.accepted_at), (WalkinStatus::Accepted, Some(300)));
        session(&store, "s1", "mikkeli-1").await;
        let t = store.link_walkin_session("t", "s1", "kela-mikko", 310).await.unwrap();
        assert_eq!(t.session_id.as_deref(), Some("s1"));
        assert_eq!(store.walkin_ticket_for_session("s1").await.unwrap().unwrap().id, "t");
        assert!(store.release_walkin_ticket("t", "kela-mikko", 320).await.is_err(), "not once a session is open");
        // An accepted ticket does not expire.
        let expire =
            store.close_walkin_ticket("t", &[WalkinStatus::Waiting], WalkinStatus::Expired, "x", "timeout", 400).await;
        assert!(matches!(expire, Err(StoreError::TicketWrongState { status: "accepted", .. })), "{expire:?}");
        let served = store
            .close_walkin_ticket("t", &[WalkinStatus::Accepted], WalkinStatus::Served, "ended", "walkin", 900)
            .await
            .unwrap();
        assert_eq!((served.status, served.close_reason.as_deref()), (WalkinStatus::Served, Some("ended")));
        assert!(store.open_walkin_tickets(None).await.unwrap().is_empty());
        let accept = store.accept_walkin_ticket("t", WalkinSide::Expert, "kela-anna", 901).await;
        assert!(matches!(accept, Err(StoreError::TicketWrongState { status: "served", .. })), "{accept:?}");
        assert!(matches!(
            store.accept_walkin_ticket("nope", WalkinSide::Expert, "kela-anna", 1).await,
            Err(StoreError::NotFound { .. })
        ));
        // Every step is in the audit log, under the device's room.
        let kinds: Vec<String> = store
            .audit(&AuditQuery { room: Some("mikkeli-1".into()), limit: 100, ..Default::default() })
            .await
            .unwrap()
            .into_iter()
            .map(|(_, e)| e.kind)
            .filter(|k| k.starts_with("walkin_"))
            .collect();
        assert_eq!(
            kinds,
            [
                "walkin_created",
                "walkin_accepted",
                "walkin_released",
                "walkin_accepted",
                "walkin_interpreter_accepted",
                "walkin_session_opened",
                "walkin_served"
            ]
        );
        db
    }

    pub async fn duty_switches(db: TestDb) -> TestDb {
        let store = db.connect().await;
        assert!(store.walkin_duty().await.unwrap().is_empty());
        store.set_walkin_duty("kela-anna", "expert", true, 10).await.unwrap();
        store.set_walkin_duty("tulkki-aino", "interpreter", true, 11).await.unwrap();
        store.set_walkin_duty("kela-anna", "expert", false, 12).await.unwrap();
        let duty = store.walkin_duty().await.unwrap();
        assert_eq!(duty.len(), 2);
        assert_eq!((duty[0].subject.as_str(), duty[0].on_duty, duty[0].since), ("kela-anna", false, 12));
        assert_eq!((duty[1].subject.as_str(), duty[1].on_duty), ("tulkki-aino", true));
        db
    }
}

both_backends!(
    one_open_ticket_per_device,
    racing_accepts_end_with_one_expert,
    with_an_interpreter_both_sides_race_separately,
    a_ticket_from_waiting_to_served,
    duty_switches,
);
