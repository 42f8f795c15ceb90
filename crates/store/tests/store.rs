//! Integration tests of the store against real databases. Every scenario runs twice: on a SQLite file
//! in a temporary directory and on a fresh PostgreSQL database (see `vayla_store::fresh_postgres_database`).
//! The PostgreSQL variants need `VAYLA_TEST_PG_URL` (start a server with `scripts/pg-test-server.sh
//! start`); without it they fail on purpose, unless `VAYLA_SKIP_PG=1`.

use vayla_store::*;

#[macro_use]
mod common;
use common::{on_postgres, on_sqlite, TestDb};

both_backends!(
    migrations_are_idempotent,
    session_lifecycle,
    session_errors,
    open_sessions_and_room_history,
    directory_sync,
    audit_append_and_query,
    audit_is_append_only,
    signing_keys,
    concurrent_audit_appends,
);

#[tokio::test]
async fn in_memory_sqlite_works() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    store.ping().await.unwrap();
    let id = store.append_audit(&audit("admitted", "r1", None, 1)).await.unwrap();
    let got = store.audit(&AuditQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, id);
    store.close().await;
}

#[tokio::test]
async fn unsupported_url_is_refused() {
    let err = Store::connect("mysql://u:secret@h/db").await.unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{err:?}");
    assert!(!err.to_string().contains("secret"), "password leaked: {err}");
}

fn seat(seat: &str, role: &str, subject: &str) -> SeatRecord {
    SeatRecord { seat: seat.into(), role: role.into(), subject: subject.into() }
}

fn new_session(id: &str, room: &str, opened_at: Millis) -> NewSession {
    NewSession {
        id: id.into(),
        room: room.into(),
        opened_by: "kela-anna".into(),
        opened_at,
        seats: vec![seat("device", "device", room), seat("expert-1", "expert", "kela-anna")],
        appointment_id: None,
    }
}

fn audit(kind: &str, room: &str, session: Option<&str>, at: Millis) -> AuditEntry {
    AuditEntry {
        at,
        kind: kind.into(),
        room: Some(room.into()),
        session: session.map(Into::into),
        subject: Some("kela-anna".into()),
        role: Some("expert".into()),
        seat: None,
        detail: String::new(),
    }
}

mod scenarios {
    use super::*;

    pub async fn migrations_are_idempotent(db: TestDb) -> TestDb {
        let first = db.connect().await;
        first.ping().await.unwrap();
        if db.backend == Backend::Sqlite {
            // The file store runs in WAL mode with foreign keys on and a generous busy timeout.
            let pool = first.pool();
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(pool).await.unwrap();
            assert_eq!(mode.to_lowercase(), "wal");
            let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(pool).await.unwrap();
            assert_eq!(fk, 1);
            let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(pool).await.unwrap();
            assert!(timeout >= 5_000, "busy_timeout {timeout}");
        }
        first.insert_session(&new_session("s1", "mikkeli-2", 1_000)).await.unwrap();
        first.close().await;
        // Connecting again runs the migrator again: nothing to apply, nothing lost.
        let second = db.connect().await;
        second.ping().await.unwrap();
        assert!(second.session("s1").await.unwrap().is_some());
        // And a third store alongside the second one.
        let third = db.connect().await;
        third.ping().await.unwrap();
        third.close().await;
        second.close().await;
        db
    }

    pub async fn session_lifecycle(db: TestDb) -> TestDb {
        let store = db.connect().await;
        store.insert_session(&new_session("s1", "mikkeli-2", 1_000)).await.unwrap();
        store.add_seat("s1", &seat("guest-1", "guest", "guest-x")).await.unwrap();

        store.record_join("s1", "c1", "mikkeli-2", "device", Some("device"), 1_100).await.unwrap();
        store.record_join("s1", "c2", "kela-anna", "expert", Some("expert-1"), 1_200).await.unwrap();
        store.record_lock("s1", true, Some("kela-anna"), 1_300).await.unwrap();
        store.record_join("s1", "c3", "guest-x", "guest", None, 1_400).await.unwrap();
        store.record_leave("s1", "c3", "hangup", 1_500).await.unwrap();
        // Leaving twice keeps the first leave.
        store.record_leave("s1", "c3", "other", 1_550).await.unwrap();
        store.record_lock("s1", false, None, 1_600).await.unwrap();
        // The same connection may rejoin after leaving.
        store.record_join("s1", "c3", "guest-x", "guest", Some("guest-1"), 1_700).await.unwrap();

        let open = store.session("s1").await.unwrap().unwrap();
        assert_eq!(open.ended_at, None);
        assert_eq!(open.participations.iter().filter(|p| p.left_at.is_none()).count(), 3);

        // A server restart closes the participations but keeps the session open; people rejoin.
        assert_eq!(store.close_participations("s1", "server_restart", 1_800).await.unwrap(), 3);
        let s = store.session("s1").await.unwrap().unwrap();
        assert_eq!(s.ended_at, None);
        assert!(s.participations.iter().all(|p| p.left_at.is_some()));
        store.record_join("s1", "c1", "mikkeli-2", "device", Some("device"), 1_900).await.unwrap();

        store.end_session("s1", "expert_closed", 2_000).await.unwrap();
        // Ending twice keeps the first end.
        store.end_session("s1", "again", 3_000).await.unwrap();

        let s = store.session("s1").await.unwrap().unwrap();
        let expected = SessionRecord {
            id: "s1".into(),
            room: "mikkeli-2".into(),
            opened_by: "kela-anna".into(),
            opened_at: 1_000,
            ended_at: Some(2_000),
            end_reason: Some("expert_closed".into()),
            appointment_id: None,
            seats: vec![
                seat("device", "device", "mikkeli-2"),
                seat("expert-1", "expert", "kela-anna"),
                seat("guest-1", "guest", "guest-x"),
            ],
            participations: vec![
                part("c1", "mikkeli-2", "device", Some("device"), 1_100, Some((1_800, "server_restart"))),
                part("c2", "kela-anna", "expert", Some("expert-1"), 1_200, Some((1_800, "server_restart"))),
                part("c3", "guest-x", "guest", None, 1_400, Some((1_500, "hangup"))),
                part("c3", "guest-x", "guest", Some("guest-1"), 1_700, Some((1_800, "server_restart"))),
                part("c1", "mikkeli-2", "device", Some("device"), 1_900, Some((2_000, "session_ended"))),
            ],
            locks: vec![
                LockRecord { at: 1_300, locked: true, by: Some("kela-anna".into()) },
                LockRecord { at: 1_600, locked: false, by: None },
            ],
        };
        assert_eq!(s, expected);
        assert_eq!(store.session("nope").await.unwrap(), None);
        store.close().await;
        db
    }

    fn part(
        participant: &str,
        subject: &str,
        role: &str,
        seat: Option<&str>,
        joined_at: Millis,
        left: Option<(Millis, &str)>,
    ) -> ParticipationRecord {
        ParticipationRecord {
            participant: participant.into(),
            subject: subject.into(),
            role: role.into(),
            seat: seat.map(Into::into),
            joined_at,
            left_at: left.map(|l| l.0),
            leave_reason: left.map(|l| l.1.to_owned()),
        }
    }

    pub async fn session_errors(db: TestDb) -> TestDb {
        let store = db.connect().await;
        let not_found = |r: Result<(), StoreError>| match r {
            Err(StoreError::NotFound { .. }) => {}
            other => panic!("expected NotFound, got {other:?}"),
        };
        not_found(store.record_leave("ghost", "c1", "hangup", 1).await);
        not_found(store.end_session("ghost", "x", 1).await);
        not_found(store.record_join("ghost", "c1", "a", "expert", None, 1).await);
        not_found(store.record_lock("ghost", true, None, 1).await);
        not_found(store.add_seat("ghost", &seat("guest-1", "guest", "g")).await);

        store.insert_session(&new_session("s1", "mikkeli-2", 1_000)).await.unwrap();
        // Leave by a connection that never joined.
        not_found(store.record_leave("s1", "c9", "hangup", 2).await);

        let conflict = |r: Result<(), StoreError>| match r {
            Err(StoreError::Conflict { .. }) => {}
            other => panic!("expected Conflict, got {other:?}"),
        };
        conflict(store.insert_session(&new_session("s1", "other", 5)).await);
        conflict(store.add_seat("s1", &seat("device", "device", "x")).await);
        store.record_join("s1", "c1", "a", "expert", None, 1).await.unwrap();
        conflict(store.record_join("s1", "c1", "a", "expert", None, 2).await);

        store.end_session("s1", "done", 10).await.unwrap();
        let ended = |r: Result<(), StoreError>| match r {
            Err(StoreError::SessionEnded(s)) => assert_eq!(s, "s1"),
            other => panic!("expected SessionEnded, got {other:?}"),
        };
        ended(store.record_join("s1", "c2", "a", "expert", None, 11).await);
        ended(store.record_lock("s1", true, None, 11).await);
        ended(store.add_seat("s1", &seat("guest-1", "guest", "g")).await);
        // The failed insert of a duplicate session left the original untouched.
        let s = store.session("s1").await.unwrap().unwrap();
        assert_eq!(s.room, "mikkeli-2");
        assert_eq!(s.seats.len(), 2);
        store.close().await;
        db
    }

    pub async fn open_sessions_and_room_history(db: TestDb) -> TestDb {
        let store = db.connect().await;
        for (id, room, at) in
            [("a1", "room-a", 100), ("a2", "room-a", 200), ("a3", "room-a", 300), ("b1", "room-b", 150)]
        {
            store.insert_session(&new_session(id, room, at)).await.unwrap();
        }
        store.record_join("a2", "c1", "x", "expert", None, 210).await.unwrap();
        store.end_session("a1", "done", 190).await.unwrap();
        store.end_session("a2", "done", 290).await.unwrap();

        let open: Vec<String> = store.open_sessions().await.unwrap().into_iter().map(|s| s.id).collect();
        assert_eq!(open, ["b1", "a3"]);

        let history = store.sessions_for_room("room-a", 10).await.unwrap();
        let ids: Vec<&str> = history.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a3", "a2", "a1"]);
        // Children come along with each session of a list.
        assert_eq!(history[1].participations.len(), 1);
        assert_eq!(history[1].participations[0].leave_reason.as_deref(), Some("session_ended"));
        assert!(history.iter().all(|s| s.seats.len() == 2));

        let latest: Vec<String> =
            store.sessions_for_room("room-a", 2).await.unwrap().into_iter().map(|s| s.id).collect();
        assert_eq!(latest, ["a3", "a2"]);
        assert!(store.sessions_for_room("room-a", 0).await.unwrap().is_empty());
        assert!(store.sessions_for_room("room-z", 5).await.unwrap().is_empty());
        store.close().await;
        db
    }

    fn snapshot(devices: &[&str], people: &[&str]) -> DirectorySnapshot {
        DirectorySnapshot {
            agencies: vec![AgencyRecord { id: "kela".into(), name: "Kela".into() }],
            service_points: vec![ServicePointRecord {
                id: "mikkeli".into(),
                name: "Mikkelin palvelupiste".into(),
                municipality: "Mikkeli".into(),
            }],
            devices: devices
                .iter()
                .map(|d| DeviceRecord { id: (*d).into(), service_point: "mikkeli".into(), name: format!("Laite {d}") })
                .collect(),
            people: people
                .iter()
                .map(|p| PersonRecord {
                    id: (*p).into(),
                    name: format!("Henkilö {p}"),
                    role: "expert".into(),
                    agency: Some("kela".into()),
                    service_point: None,
                })
                .collect(),
        }
    }

    pub async fn directory_sync(db: TestDb) -> TestDb {
        let store = db.connect().await;
        assert!(store.active_device_ids().await.unwrap().is_empty());

        store
            .sync_directory(&snapshot(&["mikkeli-2", "mikkeli-1"], &["kela-anna", "kela-pekka"]), 1_000)
            .await
            .unwrap();
        assert_eq!(store.active_device_ids().await.unwrap(), ["mikkeli-1", "mikkeli-2"]);

        // mikkeli-2 and kela-pekka leave the config: kept, but inactive.
        store.sync_directory(&snapshot(&["mikkeli-1"], &["kela-anna"]), 2_000).await.unwrap();
        assert_eq!(store.active_device_ids().await.unwrap(), ["mikkeli-1"]);
        assert_eq!(store.directory_entity_active("device", "mikkeli-2").await.unwrap(), Some(false));
        assert_eq!(store.directory_entity_active("person", "kela-pekka").await.unwrap(), Some(false));
        assert_eq!(store.directory_entity_active("person", "kela-anna").await.unwrap(), Some(true));
        assert_eq!(store.directory_entity_active("device", "never").await.unwrap(), None);

        // The same instant again (a reload within one millisecond) must still deactivate correctly.
        let mut renamed = snapshot(&["mikkeli-2", "mikkeli-1"], &["kela-pekka"]);
        renamed.devices[0].name = "Uusi nimi".into();
        renamed.agencies.push(AgencyRecord { id: "vero".into(), name: "Verohallinto".into() });
        store.sync_directory(&renamed, 2_000).await.unwrap();
        assert_eq!(store.active_device_ids().await.unwrap(), ["mikkeli-1", "mikkeli-2"]);
        assert_eq!(store.directory_entity_active("person", "kela-anna").await.unwrap(), Some(false));
        assert_eq!(store.directory_entity_active("person", "kela-pekka").await.unwrap(), Some(true));

        let dir = store.active_directory().await.unwrap();
        assert_eq!(dir.agencies.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["kela", "vero"]);
        assert_eq!(dir.devices.iter().find(|d| d.id == "mikkeli-2").unwrap().name, "Uusi nimi");
        assert_eq!(dir.people, renamed.people);
        assert_eq!(dir.service_points, renamed.service_points);

        // An empty snapshot deactivates everything and deletes nothing.
        store.sync_directory(&DirectorySnapshot::default(), 3_000).await.unwrap();
        assert!(store.active_device_ids().await.unwrap().is_empty());
        assert_eq!(store.directory_entity_active("agency", "kela").await.unwrap(), Some(false));
        assert_eq!(store.active_directory().await.unwrap(), DirectorySnapshot::default());

        // A snapshot referring to an unknown service point fails as a whole and changes nothing.
        let mut broken = snapshot(&["mikkeli-1"], &[]);
        broken.devices.push(DeviceRecord { id: "x-1".into(), service_point: "nowhere".into(), name: "X".into() });
        assert!(store.sync_directory(&broken, 4_000).await.is_err());
        assert!(store.active_device_ids().await.unwrap().is_empty());
        store.close().await;
        db
    }

    pub async fn audit_append_and_query(db: TestDb) -> TestDb {
        let store = db.connect().await;
        let mut ids = Vec::new();
        for i in 0..10 {
            let room = if i % 2 == 0 { "room-a" } else { "room-b" };
            let kind = if i % 3 == 0 { "refused" } else { "admitted" };
            let mut e = audit(kind, room, (i < 5).then_some("s1"), 1_000 + i);
            e.detail = format!("d{i}");
            e.seat = (i == 4).then(|| "guest-1".into());
            ids.push(store.append_audit(&e).await.unwrap());
        }
        let mut e = audit("refused", "room-c", None, 5_000);
        e.room = None;
        e.subject = None;
        e.role = None;
        e.detail = "unknown_room".into();
        ids.push(store.append_audit(&e).await.unwrap());
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");

        let all = store.audit(&AuditQuery { limit: 100, ..Default::default() }).await.unwrap();
        assert_eq!(all.iter().map(|(id, _)| *id).collect::<Vec<_>>(), ids);
        assert_eq!(all[4].1.seat.as_deref(), Some("guest-1"));
        assert_eq!(all[10].1, e);

        let q = |room: Option<&str>, session: Option<&str>, kind: Option<&str>, after_id, limit| AuditQuery {
            room: room.map(Into::into),
            session: session.map(Into::into),
            kind: kind.map(Into::into),
            after_id,
            limit,
        };
        let details = |rows: Vec<(i64, AuditEntry)>| rows.into_iter().map(|(_, e)| e.detail).collect::<Vec<_>>();

        assert_eq!(
            details(store.audit(&q(Some("room-a"), None, None, None, 100)).await.unwrap()),
            ["d0", "d2", "d4", "d6", "d8"]
        );
        assert_eq!(
            details(store.audit(&q(None, Some("s1"), None, None, 100)).await.unwrap()),
            ["d0", "d1", "d2", "d3", "d4"]
        );
        assert_eq!(
            details(store.audit(&q(None, None, Some("refused"), None, 100)).await.unwrap()),
            ["d0", "d3", "d6", "d9", "unknown_room"]
        );
        assert_eq!(
            details(store.audit(&q(Some("room-a"), Some("s1"), Some("admitted"), None, 100)).await.unwrap()),
            ["d2", "d4"]
        );

        // Paging with after_id: pages of 4 reassemble the whole log, in order, without overlaps.
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = store.audit(&q(None, None, None, after, 4)).await.unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 4);
            after = Some(page.last().unwrap().0);
            paged.extend(page);
        }
        assert_eq!(paged, all);
        assert_eq!(details(store.audit(&q(Some("room-b"), None, None, Some(ids[3]), 2)).await.unwrap()), ["d5", "d7"]);
        assert!(store.audit(&q(None, None, None, None, 0)).await.unwrap().is_empty());
        store.close().await;
        db
    }

    pub async fn audit_is_append_only(db: TestDb) -> TestDb {
        let store = db.connect().await;
        let id = store.append_audit(&audit("admitted", "room-a", Some("s1"), 1)).await.unwrap();
        let pool = store.pool();

        let update = sqlx::query("UPDATE audit_log SET detail = 'tampered' WHERE id = $1").bind(id).execute(pool).await;
        let err = update.expect_err("UPDATE on audit_log must be refused");
        assert!(err.to_string().contains("append-only"), "{err}");

        let delete = sqlx::query("DELETE FROM audit_log WHERE id = $1").bind(id).execute(pool).await;
        let err = delete.expect_err("DELETE on audit_log must be refused");
        assert!(err.to_string().contains("append-only"), "{err}");

        let delete_all = sqlx::query("DELETE FROM audit_log").execute(pool).await;
        assert!(delete_all.is_err(), "DELETE of everything must be refused");

        if db.backend == Backend::Postgres {
            let truncate = sqlx::query("TRUNCATE audit_log").execute(pool).await;
            assert!(truncate.is_err(), "TRUNCATE must be refused");
        }

        let rows = store.audit(&AuditQuery { limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].1.detail, "");
        // Appending still works after the refused attempts.
        store.append_audit(&audit("left", "room-a", Some("s1"), 2)).await.unwrap();
        store.close().await;
        db
    }

    pub async fn signing_keys(db: TestDb) -> TestDb {
        let store = db.connect().await;
        assert!(store.signing_keys().await.unwrap().is_empty());
        let key = |kid: &str, created_at: Millis| SigningKeyRecord {
            kid: kid.into(),
            // Every byte value, to prove binary round-trips exactly.
            secret: (0..=255u8).rev().chain([0, 0, 1]).collect(),
            created_at,
            retired_at: None,
        };
        store.insert_signing_key(&key("k1", 1_000)).await.unwrap();
        store.insert_signing_key(&key("k2", 2_000)).await.unwrap();
        store.insert_signing_key(&key("k3", 3_000)).await.unwrap();
        match store.insert_signing_key(&key("k2", 9_000)).await {
            Err(StoreError::Conflict { .. }) => {}
            other => panic!("expected Conflict, got {other:?}"),
        }

        let keys = store.signing_keys().await.unwrap();
        assert_eq!(keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), ["k3", "k2", "k1"]);
        assert_eq!(keys[2], key("k1", 1_000));
        assert!(!format!("{:?}", keys[0]).contains("255"), "Debug must not show the secret");

        store.retire_signing_key("k1", 2_500).await.unwrap();
        store.retire_signing_key("k2", 3_500).await.unwrap();
        // Retiring again keeps the first time.
        store.retire_signing_key("k1", 9_999).await.unwrap();
        match store.retire_signing_key("nope", 1).await {
            Err(StoreError::NotFound { .. }) => {}
            other => panic!("expected NotFound, got {other:?}"),
        }
        let keys = store.signing_keys().await.unwrap();
        assert_eq!(keys.iter().map(|k| k.retired_at).collect::<Vec<_>>(), [None, Some(3_500), Some(2_500)]);

        // Strictly before: k2 (3_500) stays at 3_500, k1 goes; active k3 never goes.
        assert_eq!(store.delete_signing_keys_retired_before(3_500).await.unwrap(), 1);
        assert_eq!(
            store.signing_keys().await.unwrap().iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            ["k3", "k2"]
        );
        assert_eq!(store.delete_signing_keys_retired_before(i64::MAX).await.unwrap(), 1);
        assert_eq!(store.signing_keys().await.unwrap().iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), ["k3"]);
        store.close().await;
        db
    }

    pub async fn concurrent_audit_appends(db: TestDb) -> TestDb {
        let store = db.connect().await;
        // Two stores on the same database, like two pools in one process, to add contention.
        let other = db.connect().await;
        let mut tasks = Vec::new();
        for i in 0..50i64 {
            let s = if i % 2 == 0 { store.clone() } else { other.clone() };
            tasks.push(tokio::spawn(async move {
                let mut e = audit("admitted", "room-a", Some("s1"), i);
                e.detail = format!("task-{i}");
                let id = s.append_audit(&e).await?;
                // Interleave other writes, including a multi-statement transaction.
                s.insert_session(&new_session(&format!("s-{i}"), "room-a", i)).await?;
                s.end_session(&format!("s-{i}"), "done", i + 1).await?;
                Ok::<_, StoreError>(id)
            }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.expect("task panicked").expect("every concurrent write succeeds"));
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 50);

        let rows = store.audit(&AuditQuery { limit: 1_000, ..Default::default() }).await.unwrap();
        assert_eq!(rows.len(), 50);
        let mut details: Vec<String> = rows.into_iter().map(|(_, e)| e.detail).collect();
        details.sort();
        let mut expected: Vec<String> = (0..50).map(|i| format!("task-{i}")).collect();
        expected.sort();
        assert_eq!(details, expected);
        assert!(store.open_sessions().await.unwrap().is_empty());
        assert_eq!(store.sessions_for_room("room-a", 100).await.unwrap().len(), 50);
        other.close().await;
        store.close().await;
        db
    }
}
