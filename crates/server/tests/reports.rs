//! Feedback and reports against the real server, on SQLite and PostgreSQL.
//!
//! The seeded dataset: sessions, seats, interpreter participations, appointments (no-shows and cancellations
//! included), walk-in tickets and feedback are written straight into the store, across month, quarter and year
//! boundaries, across the time-of-day slot boundaries and across the spring clock change, all in Helsinki time.
//! Every figure of the reports is then compared with a value worked out by hand below, in the JSON and in the
//! CSV. The feedback story goes through the API: only the session's device, only after the end, only once.
//!
//! The dataset (Helsinki wall times; S = session, T = walk-in ticket, A = appointment):
//!
//! | id  | room        | experts (agency)              | opened            | min | kind               | interpreter | feedback     |
//! |-----|-------------|-------------------------------|-------------------|-----|--------------------|-------------|--------------|
//! | S1  | mikkeli-1   | kela-anna (kela)              | 2026-01-15 09:00  | 10  | direct walk-in     |             | 5 done       |
//! | S2  | mikkeli-2   | vero-liisa (vero)             | 2026-02-10 10:00  | 20  | appointment A1     |             | 4 initiated  |
//! | S3  | mikkeli-1   | kela-anna, vero-juha          | 2026-03-02 11:59  | 30  | queued (T1)        | aino 20 min | 3 neither    |
//! | S4  | kiiminki-1  | kela-mikko (kela)             | 2026-03-27 09:30  | 40  | queued (T2)        |             |              |
//! | S5  | kiiminki-1  | kela-anna (kela)              | 2026-03-30 10:30  | 15  | direct walk-in     | sami 5 + 7  | 2 done       |
//! | S7  | mikkeli-2   | none                          | 2026-03-16 16:00  | 1   | direct walk-in     |             |              |
//! | S10 | mikkeli-2   | poliisi-pekka (poliisi)       | 2026-03-10 14:00  | 25  | appointment A5     |             | 5 initiated  |
//! | S11 | saarijarvi-1| te-jari (te)                  | 2026-03-11 12:00  | 35  | direct walk-in     |             |              |
//! | S6  | mikkeli-3   | kela-anna (kela)              | 2026-04-01 00:10  | 5   | direct walk-in     |             |              |
//! | S8  | mikkeli-3   | kela-anna (kela)              | 2026-03-20 08:00  | –   | still open         |             |              |
//! | S9  | mikkeli-1   | kela-anna (kela)              | 2025-12-31 23:50  | 5   | direct walk-in     |             |              |
//!
//! S4 (09:30 winter time, 07:30 UTC) and S5 (10:30 summer time, also 07:30 UTC) straddle the clock change of
//! 29 March 2026; S6 is 31 March in UTC but April in Helsinki; S9 is 2026 in UTC but 2025 in Helsinki.

use crate::common::{spawn_app, Backend, TestApp};
use chrono::{Datelike, NaiveDate};
use serde_json::{json, Value};
use vayla_domain::calendar::{local_date, local_to_utc, LocalTime};
use vayla_store::{FeedbackRecord, NewSession, SeatRecord, Store, StoreError};

const MIN: i64 = 60_000;

/// A Helsinki wall time as UTC milliseconds.
fn at(y: i32, m: u32, d: u32, hh: u32, mm: u32) -> i64 {
    local_to_utc(NaiveDate::from_ymd_opt(y, m, d).unwrap(), LocalTime::hm(hh, mm)) as i64
}

async fn request(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{}{path}", app.server().url()))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

async fn get_json(app: &TestApp, path: &str, token: &str) -> Value {
    let (status, text) = request(app, "GET", path, token, None).await;
    assert_eq!(status, 200, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn get_csv(app: &TestApp, path: &str, token: &str) -> String {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", app.server().url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent");
    assert_eq!(resp.status().as_u16(), 200, "GET {path}");
    let h = resp.headers();
    assert_eq!(h["content-type"], "text/csv; charset=utf-8");
    assert!(h["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\"vayla-"));
    resp.text().await.unwrap()
}

fn code(text: &str) -> String {
    serde_json::from_str::<Value>(text).map(|v| v["code"].as_str().unwrap_or("").to_string()).unwrap_or_default()
}

/// One session: seats for the device and the experts, interpreter stays `(connection, interpreter, from, to)`,
/// ended after `minutes` (or left open with `None`).
#[allow(clippy::too_many_arguments)]
async fn session(
    store: &Store,
    id: &str,
    room: &str,
    opened_at: i64,
    minutes: Option<i64>,
    experts: &[&str],
    appointment: Option<&str>,
    stays: &[(&str, &str, i64, i64)],
) {
    let mut seats = vec![SeatRecord { seat: "device".into(), role: "device".into(), subject: room.into() }];
    for (i, e) in experts.iter().enumerate() {
        seats.push(SeatRecord { seat: format!("expert-{}", i + 1), role: "expert".into(), subject: (*e).into() });
    }
    let s = NewSession {
        id: id.into(),
        room: room.into(),
        opened_by: "advisor-mikkeli".into(),
        opened_at,
        seats,
        appointment_id: appointment.map(String::from),
    };
    store.insert_session(&s).await.unwrap();
    for (conn, who, from, to) in stays {
        store.record_join(id, conn, who, "interpreter", Some("interpreter"), *from).await.unwrap();
        store.record_leave(id, conn, "left", *to).await.unwrap();
    }
    if let Some(m) = minutes {
        store.end_session(id, "ended_by_expert", opened_at + m * MIN).await.unwrap();
    }
}

async fn appointment(store: &Store, id: &str, agency: &str, device: &str, start: i64, created: i64, status: &str) {
    let sp = device.rsplit_once('-').unwrap().0;
    let closed = status != "booked";
    sqlx::query(
        "INSERT INTO appointments (id, uid, agency, service, service_point, device, start_ms, end_ms, status, \
         closed_by, closed_at, cancel_reason, created_by, created_at, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'scheduler', $13, 'scheduler', $13)",
    )
    .bind(id)
    .bind(format!("{id}@test"))
    .bind(agency)
    .bind(format!("{agency}-service"))
    .bind(sp)
    .bind(device)
    .bind(start)
    .bind(start + 30 * MIN)
    .bind(status)
    .bind(closed.then_some("scheduler"))
    .bind(closed.then_some(start + 30 * MIN))
    .bind((status == "cancelled").then_some("the customer cancelled"))
    .bind(created)
    .execute(store.pool())
    .await
    .unwrap();
}

#[allow(clippy::too_many_arguments)]
async fn ticket(
    store: &Store,
    id: &str,
    device: &str,
    agency: &str,
    status: &str,
    created: i64,
    accepted: Option<i64>,
    session: Option<&str>,
) {
    let sp = device.rsplit_once('-').unwrap().0;
    let closed = !matches!(status, "waiting" | "accepted");
    sqlx::query(
        "INSERT INTO walkin_tickets (id, device, service_point, agency, language, status, created_at, created_by, \
         accepted_at, accepted_by, expert_accepted_at, session_id, closed_at, close_reason, closed_by) \
         VALUES ($1, $2, $3, $4, 'fi', $5, $6, 'advisor', $7, $8, $7, $9, $10, $11, $12)",
    )
    .bind(id)
    .bind(device)
    .bind(sp)
    .bind(agency)
    .bind(status)
    .bind(created)
    .bind(accepted)
    .bind(accepted.map(|_| "kela-anna"))
    .bind(session)
    .bind(closed.then_some(created + 60 * MIN))
    .bind(closed.then_some(status))
    .bind(closed.then_some("advisor"))
    .execute(store.pool())
    .await
    .unwrap();
}

async fn feedback(store: &Store, session: &str, rating: i64, outcome: &str) {
    let f = FeedbackRecord {
        session: session.into(),
        rating,
        outcome: outcome.into(),
        comment: None,
        language: "fi".into(),
        answered_at: 0,
    };
    store.record_feedback(&f).await.unwrap();
}

/// Writes the dataset of the module doc.
async fn seed(store: &Store) {
    let pool = store.pool();
    for (id, provider) in [("tulkki-aino", "kielipalvelu"), ("tulkki-sami", "viittomakieli-oy")] {
        sqlx::query("UPDATE interpreters SET provider = $1, source = 'api' WHERE id = $2")
            .bind(provider)
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
    }
    // Appointments: by start A1 Feb, A2–A5 March, A6 April; A1 was booked in 2025, A6 in March.
    appointment(store, "A1", "vero", "mikkeli-2", at(2026, 2, 10, 10, 0), at(2025, 12, 20, 12, 0), "completed").await;
    appointment(store, "A2", "kela", "mikkeli-1", at(2026, 3, 5, 9, 0), at(2026, 2, 1, 12, 0), "no_show").await;
    appointment(store, "A3", "dvv", "parainen-1", at(2026, 3, 12, 13, 0), at(2026, 3, 1, 12, 0), "completed").await;
    appointment(store, "A4", "kela", "kiiminki-1", at(2026, 3, 20, 10, 0), at(2026, 3, 2, 12, 0), "cancelled").await;
    appointment(store, "A5", "poliisi", "mikkeli-2", at(2026, 3, 10, 14, 0), at(2026, 3, 3, 12, 0), "completed").await;
    appointment(store, "A6", "vero", "mikkeli-1", at(2026, 4, 15, 10, 0), at(2026, 3, 25, 12, 0), "booked").await;
    let t = at(2026, 3, 1, 12, 0);
    sqlx::query(
        "INSERT INTO interpreter_requests (id, appointment_id, language, modality, min_level, state, \
         assigned_interpreter, created_by, created_at, updated_by, updated_at) \
         VALUES ('R3', 'A3', 'fss', 'remote_video', 2, 'accepted', 'tulkki-sofia', 'scheduler', $1, 'scheduler', $1)",
    )
    .bind(t)
    .execute(pool)
    .await
    .unwrap();

    let s3 = at(2026, 3, 2, 11, 59);
    let s5 = at(2026, 3, 30, 10, 30);
    session(store, "S1", "mikkeli-1", at(2026, 1, 15, 9, 0), Some(10), &["kela-anna"], None, &[]).await;
    session(store, "S2", "mikkeli-2", at(2026, 2, 10, 10, 0), Some(20), &["vero-liisa"], Some("A1"), &[]).await;
    let aino = [("c-aino", "tulkki-aino", s3 + 6 * MIN, s3 + 26 * MIN)];
    session(store, "S3", "mikkeli-1", s3, Some(30), &["kela-anna", "vero-juha"], None, &aino).await;
    session(store, "S4", "kiiminki-1", at(2026, 3, 27, 9, 30), Some(40), &["kela-mikko"], None, &[]).await;
    let sami =
        [("c-sami-1", "tulkki-sami", s5 + MIN, s5 + 6 * MIN), ("c-sami-2", "tulkki-sami", s5 + 8 * MIN, s5 + 15 * MIN)];
    session(store, "S5", "kiiminki-1", s5, Some(15), &["kela-anna"], None, &sami).await;
    session(store, "S6", "mikkeli-3", at(2026, 4, 1, 0, 10), Some(5), &["kela-anna"], None, &[]).await;
    session(store, "S7", "mikkeli-2", at(2026, 3, 16, 16, 0), Some(1), &[], None, &[]).await;
    session(store, "S8", "mikkeli-3", at(2026, 3, 20, 8, 0), None, &["kela-anna"], None, &[]).await;
    session(store, "S9", "mikkeli-1", at(2025, 12, 31, 23, 50), Some(5), &["kela-anna"], None, &[]).await;
    session(store, "S10", "mikkeli-2", at(2026, 3, 10, 14, 0), Some(25), &["poliisi-pekka"], Some("A5"), &[]).await;
    session(store, "S11", "saarijarvi-1", at(2026, 3, 11, 12, 0), Some(35), &["te-jari"], None, &[]).await;

    // Tickets: waits of 8, 3 and 12 minutes in Q1, one abandoned, one in April.
    ticket(store, "T1", "mikkeli-1", "kela", "served", s3 - 9 * MIN, Some(s3 - MIN), Some("S3")).await;
    let t2 = at(2026, 3, 27, 9, 27);
    ticket(store, "T2", "kiiminki-1", "kela", "served", t2, Some(t2 + 3 * MIN), Some("S4")).await;
    ticket(store, "T3", "saarijarvi-1", "te", "abandoned", at(2026, 2, 5, 10, 0), None, None).await;
    let t4 = at(2026, 1, 20, 10, 0);
    ticket(store, "T4", "mikkeli-2", "vero", "cancelled", t4, Some(t4 + 12 * MIN), None).await;
    let t5 = at(2026, 4, 1, 0, 5);
    ticket(store, "T5", "mikkeli-3", "kela", "served", t5, Some(t5 + MIN), Some("S6")).await;

    feedback(store, "S1", 5, "done").await;
    feedback(store, "S2", 4, "initiated").await;
    feedback(store, "S3", 3, "neither").await;
    feedback(store, "S5", 2, "done").await;
    feedback(store, "S10", 5, "initiated").await;
}

const Q1_CSV: &str = "section,service_point,agency,period,measure,value
sessions,kiiminki,kela,2026-03,sessions,2
sessions,mikkeli,,2026-03,sessions,1
sessions,mikkeli,kela,2026-01,sessions,1
sessions,mikkeli,kela,2026-03,sessions,1
sessions,mikkeli,poliisi,2026-03,sessions,1
sessions,mikkeli,vero,2026-02,sessions,1
sessions,mikkeli,vero,2026-03,sessions,1
sessions,saarijarvi,te,2026-03,sessions,1
sessions_year_to_date,kiiminki,kela,2026-01..2026-03,sessions,2
sessions_year_to_date,mikkeli,,2026-01..2026-03,sessions,1
sessions_year_to_date,mikkeli,kela,2026-01..2026-03,sessions,2
sessions_year_to_date,mikkeli,poliisi,2026-01..2026-03,sessions,1
sessions_year_to_date,mikkeli,vero,2026-01..2026-03,sessions,2
sessions_year_to_date,saarijarvi,te,2026-01..2026-03,sessions,1
totals,,,2026-Q1,sessions,8
totals,,,2026-01..2026-03,sessions,8
kinds,,,2026-Q1,appointment,2
kinds,,,2026-Q1,queued_walk_in,2
kinds,,,2026-Q1,direct_walk_in,4
time_of_day,,,2026-Q1,08-10,2
time_of_day,,,2026-Q1,10-12,3
time_of_day,,,2026-Q1,12-14,1
time_of_day,,,2026-Q1,14-16,1
time_of_day,,,2026-Q1,other,1
duration,,,2026-Q1,count,8
duration,,,2026-Q1,mean_s,1320.0
duration,,,2026-Q1,median_s,1350.0
duration,,,2026-Q1,p90_s,2400.0
waiting,,,2026-Q1,count,3
waiting,,,2026-Q1,mean_s,460.0
waiting,,,2026-Q1,median_s,480.0
waiting,,,2026-Q1,p90_s,720.0
waiting,,,2026-Q1,tickets,4
appointments,,,2026-Q1,total,5
appointments,,,2026-Q1,booked,0
appointments,,,2026-Q1,completed,3
appointments,,,2026-Q1,no_show,1
appointments,,,2026-Q1,cancelled,1
interpreting,,,2026-Q1,sessions,2
interpreting,,,2026-Q1,minutes,32.0
interpreting,,,2026-Q1,appointments,1
feedback,,,2026-Q1,answers,5
feedback,,,2026-Q1,mean_rating,3.80
feedback,,,2026-Q1,rating_1,0
feedback,,,2026-Q1,rating_2,1
feedback,,,2026-Q1,rating_3,1
feedback,,,2026-Q1,rating_4,1
feedback,,,2026-Q1,rating_5,2
feedback,,,2026-Q1,done,2
feedback,,,2026-Q1,initiated,2
feedback,,,2026-Q1,neither,1
";

const Q1_BILLING_CSV: &str = "agency,period,task,count,unit_price_eur,total_eur
dvv,2026-Q1,session_booking,1,2.95,2.95
dvv,2026-Q1,connection_opening,0,1.77,0.00
dvv,2026-Q1,interpretation_preparation,1,2.95,2.95
kela,2026-Q1,session_booking,2,2.95,5.90
kela,2026-Q1,connection_opening,4,1.77,7.08
kela,2026-Q1,interpretation_preparation,2,2.95,5.90
poliisi,2026-Q1,session_booking,1,2.95,2.95
poliisi,2026-Q1,connection_opening,1,1.77,1.77
poliisi,2026-Q1,interpretation_preparation,0,2.95,0.00
te,2026-Q1,session_booking,0,2.95,0.00
te,2026-Q1,connection_opening,1,1.77,1.77
te,2026-Q1,interpretation_preparation,0,2.95,0.00
vero,2026-Q1,session_booking,1,2.95,2.95
vero,2026-Q1,connection_opening,2,1.77,3.54
vero,2026-Q1,interpretation_preparation,1,2.95,2.95
";

const Q1_INTERPRETERS_CSV: &str = "record,period,interpreter,provider,session,appointment,service_point,agencies,start,end,duration_s,stays,preparations
stay,2026-Q1,tulkki-aino,kielipalvelu,S3,,mikkeli,,2026-03-02T10:05:00Z,2026-03-02T10:25:00Z,1200,,
stay,2026-Q1,tulkki-sami,viittomakieli-oy,S5,,kiiminki,,2026-03-30T07:31:00Z,2026-03-30T07:36:00Z,300,,
stay,2026-Q1,tulkki-sami,viittomakieli-oy,S5,,kiiminki,,2026-03-30T07:38:00Z,2026-03-30T07:45:00Z,420,,
preparation,2026-Q1,tulkki-sofia,rooms-config,,A3,parainen,dvv,2026-03-12T11:00:00Z,,,,
preparation,2026-Q1,tulkki-aino,kielipalvelu,S3,,mikkeli,kela;vero,2026-03-02T09:59:00Z,,,,
preparation,2026-Q1,tulkki-sami,viittomakieli-oy,S5,,kiiminki,kela,2026-03-30T07:30:00Z,,,,
total,2026-Q1,tulkki-aino,kielipalvelu,,,,,,,1200,1,1
total,2026-Q1,tulkki-sami,viittomakieli-oy,,,,,,,720,2,1
total,2026-Q1,tulkki-sofia,rooms-config,,,,,,,0,0,1
";

fn crlf(s: &str) -> String {
    s.replace('\n', "\r\n")
}

async fn report_figures_equal_hand_computed_values(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app.server().store).await;
    let admin = app.login("admin").await;

    // --- The first quarter, everything ------------------------------------------------------------------
    let q1 = get_json(&app, "/api/reports/summary?year=2026&quarter=1", &admin).await;
    assert_eq!(
        q1["period"],
        json!({ "label": "2026-Q1", "year": 2026, "span": { "kind": "quarter", "number": 1 },
                "from": "2026-01-01", "to": "2026-03-31", "year_to_date": "2026-01..2026-03" })
    );
    assert_eq!(
        q1["sessions"]["by_month"],
        json!([
            { "service_point": "kiiminki", "agency": "kela", "month": "2026-03", "sessions": 2 },
            { "service_point": "mikkeli", "agency": null, "month": "2026-03", "sessions": 1 },
            { "service_point": "mikkeli", "agency": "kela", "month": "2026-01", "sessions": 1 },
            { "service_point": "mikkeli", "agency": "kela", "month": "2026-03", "sessions": 1 },
            { "service_point": "mikkeli", "agency": "poliisi", "month": "2026-03", "sessions": 1 },
            { "service_point": "mikkeli", "agency": "vero", "month": "2026-02", "sessions": 1 },
            { "service_point": "mikkeli", "agency": "vero", "month": "2026-03", "sessions": 1 },
            { "service_point": "saarijarvi", "agency": "te", "month": "2026-03", "sessions": 1 },
        ])
    );
    assert_eq!(
        q1["sessions"]["year_to_date"],
        json!([
            { "service_point": "kiiminki", "agency": "kela", "sessions": 2 },
            { "service_point": "mikkeli", "agency": null, "sessions": 1 },
            { "service_point": "mikkeli", "agency": "kela", "sessions": 2 },
            { "service_point": "mikkeli", "agency": "poliisi", "sessions": 1 },
            { "service_point": "mikkeli", "agency": "vero", "sessions": 2 },
            { "service_point": "saarijarvi", "agency": "te", "sessions": 1 },
        ])
    );
    // S3 has two agencies: 9 per-agency counts, 8 sessions.
    assert_eq!((q1["sessions"]["total"].as_u64(), q1["sessions"]["year_to_date_total"].as_u64()), (Some(8), Some(8)));
    assert_eq!(q1["kinds"], json!({ "appointment": 2, "queued_walk_in": 2, "direct_walk_in": 4 }));
    assert_eq!(
        q1["time_of_day"],
        json!([
            { "slot": "08-10", "sessions": 2 }, { "slot": "10-12", "sessions": 3 }, { "slot": "12-14", "sessions": 1 },
            { "slot": "14-16", "sessions": 1 }, { "slot": "other", "sessions": 1 },
        ])
    );
    // Minutes 1, 10, 15, 20, 25, 30, 35, 40: mean 22, median (20 + 25) / 2, p90 the 8th of 8.
    assert_eq!(q1["duration"], json!({ "count": 8, "mean_s": 1320.0, "median_s": 1350.0, "p90_s": 2400.0 }));
    // Waits of 3, 8 and 12 minutes: mean 23 / 3 min = 460 s, median 8 min, p90 the 3rd of 3.
    assert_eq!(
        q1["waiting"],
        json!({ "tickets": 4, "accepted": 3,
                "time": { "count": 3, "mean_s": 460.0, "median_s": 480.0, "p90_s": 720.0 } })
    );
    assert_eq!(q1["appointments"], json!({ "total": 5, "booked": 0, "completed": 3, "no_show": 1, "cancelled": 1 }));
    assert_eq!(q1["interpreting"], json!({ "sessions": 2, "minutes": 32.0, "appointments": 1 }));
    // Ratings 5, 4, 3, 2, 5: mean 19 / 5.
    assert_eq!(
        q1["feedback"],
        json!({ "answers": 5, "mean_rating": 3.8, "ratings": [0, 1, 1, 1, 2], "done": 2, "initiated": 2, "neither": 1 })
    );
    let csv = get_csv(&app, "/api/reports/summary.csv?year=2026&quarter=1", &admin).await;
    assert_eq!(csv, crlf(Q1_CSV));

    // --- March alone: six sessions, the year to date still eight ----------------------------------------
    let march = get_json(&app, "/api/reports/summary?year=2026&month=3", &admin).await;
    assert_eq!(
        (march["sessions"]["total"].as_u64(), march["sessions"]["year_to_date_total"].as_u64()),
        (Some(6), Some(8))
    );
    // Minutes 1, 15, 25, 30, 35, 40: mean 146 / 6 = 24.333…, median (25 + 30) / 2, p90 the 6th of 6.
    assert_eq!(march["duration"], json!({ "count": 6, "mean_s": 1460.0, "median_s": 1650.0, "p90_s": 2400.0 }));
    assert_eq!(march["waiting"]["time"], json!({ "count": 2, "mean_s": 330.0, "median_s": 330.0, "p90_s": 480.0 }));
    assert_eq!(march["feedback"]["answers"], 3);
    let csv = get_csv(&app, "/api/reports/summary.csv?year=2026&month=3", &admin).await;
    for line in [
        "totals,,,2026-03,sessions,6\r\n",
        "totals,,,2026-01..2026-03,sessions,8\r\n",
        "sessions_year_to_date,mikkeli,vero,2026-01..2026-03,sessions,2\r\n",
        "duration,,,2026-03,mean_s,1460.0\r\n",
        "duration,,,2026-03,median_s,1650.0\r\n",
        "feedback,,,2026-03,mean_rating,3.33\r\n",
    ] {
        assert!(csv.contains(line), "{line:?} in\n{csv}");
    }

    // --- Kela only: a two-agency session counts under the filtered agency only --------------------------
    let kela = get_json(&app, "/api/reports/summary?year=2026&quarter=1&agency=kela", &admin).await;
    assert_eq!(
        kela["sessions"]["by_month"],
        json!([
            { "service_point": "kiiminki", "agency": "kela", "month": "2026-03", "sessions": 2 },
            { "service_point": "mikkeli", "agency": "kela", "month": "2026-01", "sessions": 1 },
            { "service_point": "mikkeli", "agency": "kela", "month": "2026-03", "sessions": 1 },
        ])
    );
    assert_eq!(kela["sessions"]["total"], 4);
    // Minutes 10, 15, 30, 40.
    assert_eq!(kela["duration"], json!({ "count": 4, "mean_s": 1425.0, "median_s": 1350.0, "p90_s": 2400.0 }));
    assert_eq!(kela["waiting"]["time"], json!({ "count": 2, "mean_s": 330.0, "median_s": 330.0, "p90_s": 480.0 }));
    assert_eq!(kela["appointments"], json!({ "total": 2, "booked": 0, "completed": 0, "no_show": 1, "cancelled": 1 }));
    assert_eq!(kela["feedback"]["mean_rating"], 3.33);
    let csv = get_csv(&app, "/api/reports/summary.csv?year=2026&quarter=1&agency=kela", &admin).await;
    assert!(csv.contains("totals,,kela,2026-Q1,sessions,4\r\n"), "{csv}");
    assert!(csv.contains("duration,,kela,2026-Q1,mean_s,1425.0\r\n"), "{csv}");

    // --- The second quarter: S6 is April in Helsinki; the year to date reaches back to January -------------
    let q2 = get_json(&app, "/api/reports/summary?year=2026&quarter=2", &admin).await;
    assert_eq!(
        q2["sessions"]["by_month"],
        json!([{ "service_point": "mikkeli", "agency": "kela", "month": "2026-04", "sessions": 1 }])
    );
    assert_eq!((q2["sessions"]["total"].as_u64(), q2["sessions"]["year_to_date_total"].as_u64()), (Some(1), Some(9)));
    assert_eq!(q2["waiting"]["time"]["count"], 1);
    assert_eq!(q2["appointments"]["booked"], 1);
    // 2025: only S9, 31 December in Helsinki.
    let y2025 = get_json(&app, "/api/reports/summary?year=2025", &admin).await;
    assert_eq!(y2025["sessions"]["total"], 1);
    assert_eq!(y2025["sessions"]["by_month"][0]["month"], "2025-12");

    // --- Billing: bookings by creation, connections by session and agency, preparations once each ----------
    let billing = get_json(&app, "/api/reports/billing?year=2026&quarter=1", &admin).await;
    assert_eq!(billing.as_array().unwrap().len(), 15, "5 agencies × 3 tasks");
    assert_eq!(
        billing[4],
        json!({ "agency": "kela", "period": "2026-Q1", "task": "connection_opening", "count": 4,
                "unit_price": "1.77", "total": "7.08" })
    );
    let csv = get_csv(&app, "/api/reports/billing.csv?year=2026&quarter=1", &admin).await;
    assert_eq!(csv, crlf(Q1_BILLING_CSV));

    // --- Interpreters' records -----------------------------------------------------------------------------
    let records = get_json(&app, "/api/reports/interpreters?year=2026&quarter=1", &admin).await;
    assert_eq!(
        records["totals"],
        json!([
            { "interpreter": "tulkki-aino", "provider": "kielipalvelu", "stays": 1, "sessions": 1, "duration_s": 1200, "preparations": 1 },
            { "interpreter": "tulkki-sami", "provider": "viittomakieli-oy", "stays": 2, "sessions": 1, "duration_s": 720, "preparations": 1 },
            { "interpreter": "tulkki-sofia", "provider": "rooms-config", "stays": 0, "sessions": 0, "duration_s": 0, "preparations": 1 },
        ])
    );
    assert_eq!(
        records["stays"][0],
        json!({ "interpreter": "tulkki-aino", "provider": "kielipalvelu", "session": "S3", "appointment": null,
                "service_point": "mikkeli", "joined_at": "2026-03-02T10:05:00Z", "left_at": "2026-03-02T10:25:00Z",
                "duration_s": 1200 })
    );
    assert_eq!(
        records["preparations"][0],
        json!({ "interpreter": "tulkki-sofia", "provider": "rooms-config", "appointment": "A3", "session": null,
                "service_point": "parainen", "agencies": ["dvv"], "at": "2026-03-12T11:00:00Z" })
    );
    let csv = get_csv(&app, "/api/reports/interpreters.csv?year=2026&quarter=1", &admin).await;
    assert_eq!(csv, crlf(Q1_INTERPRETERS_CSV));
}

async fn who_sees_which_report(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app.server().store).await;
    // An advisor sees their own service point's summary, whatever they ask for.
    let advisor = app.login("advisor-kiiminki").await;
    let own = get_json(&app, "/api/reports/summary?year=2026&quarter=1", &advisor).await;
    assert_eq!(own["filter"], json!({ "service_point": "kiiminki", "agency": null }));
    assert_eq!(own["sessions"]["total"], 2);
    assert_eq!(own["interpreting"], json!({ "sessions": 1, "minutes": 12.0, "appointments": 0 }));
    let csv = get_csv(&app, "/api/reports/summary.csv?year=2026&quarter=1", &advisor).await;
    assert!(csv.contains("totals,kiiminki,,2026-Q1,sessions,2\r\n"), "{csv}");
    let (status, text) =
        request(&app, "GET", "/api/reports/summary?year=2026&quarter=1&service_point=mikkeli", &advisor, None).await;
    assert_eq!((status, code(&text)), (403, "forbidden".into()));
    for path in ["/api/reports/billing?year=2026&quarter=1", "/api/reports/interpreters?year=2026&quarter=1"] {
        let (status, _) = request(&app, "GET", path, &advisor, None).await;
        assert_eq!(status, 403, "{path}: admins only");
    }
    for who in ["kela-anna", "scheduler", "tulkki-aino"] {
        let token = app.login(who).await;
        let (status, _) = request(&app, "GET", "/api/reports/summary?year=2026", &token, None).await;
        assert_eq!(status, 403, "{who} sees no reports");
    }
    let device = app.device("mikkeli-1").await;
    let (status, _) = request(&app, "GET", "/api/reports/summary?year=2026", &device, None).await;
    assert_eq!(status, 403);
    // Bad periods are refused with a clear code.
    let admin = app.login("admin").await;
    for path in [
        "/api/reports/summary?year=2026&month=13",
        "/api/reports/summary?year=2026&month=1&quarter=1",
        "/api/reports/summary?month=1",
        "/api/reports/summary?year=twenty",
        "/api/reports/billing?year=2026&month=3",
        "/api/reports/billing?year=2026",
    ] {
        let (status, text) = request(&app, "GET", path, &admin, None).await;
        assert_eq!((status, code(&text)), (400, "invalid_period".into()), "{path}: {text}");
    }
}

async fn the_device_answers_the_survey_once_after_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let opened = app.open("mikkeli-2", &[("expert", "kela-anna")]).await;
    let session = opened["session_id"].as_str().unwrap().to_string();
    let path = format!("/api/sessions/{session}/feedback");
    let answer = json!({ "rating": 4, "outcome": "initiated", "comment": "  Selkeä palvelu.  ", "language": "fi" });
    let device = app.device("mikkeli-2").await;

    // Not while the session is on.
    let (status, text) = request(&app, "POST", &path, &device, Some(answer.clone())).await;
    assert_eq!((status, code(&text)), (409, "session_not_ended".into()));

    let advisor = app.login("advisor-mikkeli").await;
    app.api.end_session(&advisor, "mikkeli-2").await.expect("session ends");

    // Only the session's own device: not another room's, not a person.
    let other = app.device("mikkeli-1").await;
    let (status, text) = request(&app, "POST", &path, &other, Some(answer.clone())).await;
    assert_eq!((status, code(&text)), (403, "wrong_room".into()));
    for who in ["kela-anna", "advisor-mikkeli", "admin"] {
        let token = app.login(who).await;
        let (status, _) = request(&app, "POST", &path, &token, Some(answer.clone())).await;
        assert_eq!(status, 403, "{who} may not answer for the customer");
    }
    let (status, text) = request(&app, "POST", "/api/sessions/nope/feedback", &device, Some(answer.clone())).await;
    assert_eq!((status, code(&text)), (404, "unknown_session".into()));

    // Bad answers are refused and change nothing.
    for bad in [
        json!({ "rating": 0, "outcome": "done", "language": "fi" }),
        json!({ "rating": 6, "outcome": "done", "language": "fi" }),
        json!({ "rating": 3, "outcome": "maybe", "language": "fi" }),
        json!({ "rating": 3, "outcome": "done", "language": "de" }),
        json!({ "rating": 3, "outcome": "done", "language": "fi", "comment": "x".repeat(501) }),
    ] {
        let (status, text) = request(&app, "POST", &path, &device, Some(bad.clone())).await;
        assert_eq!((status, code(&text)), (400, "invalid_feedback".into()), "{bad}");
    }
    let (status, text) = request(
        &app,
        "POST",
        &path,
        &device,
        Some(json!({ "rating": 3, "outcome": "done", "language": "fi", "who": "x" })),
    )
    .await;
    assert_eq!((status, code(&text)), (400, "bad_request".into()), "no other fields, such as a name: {text}");

    // The answer, once.
    let (status, text) = request(&app, "POST", &path, &device, Some(answer.clone())).await;
    assert_eq!(status, 201, "{text}");
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        reply,
        json!({ "session": session, "rating": 4, "outcome": "initiated", "language": "fi", "has_comment": true })
    );
    let (status, text) =
        request(&app, "POST", &path, &device, Some(json!({ "rating": 1, "outcome": "neither", "language": "en" })))
            .await;
    assert_eq!((status, code(&text)), (409, "feedback_exists".into()));
    let stored = app.server().store.feedback(&session).await.unwrap().unwrap();
    assert_eq!(
        (stored.rating, stored.comment.as_deref()),
        (4, Some("Selkeä palvelu.")),
        "the first answer stays, trimmed"
    );

    // The database itself refuses a second answer, whoever writes it.
    let again = FeedbackRecord { rating: 1, ..stored.clone() };
    assert!(matches!(app.server().store.record_feedback(&again).await, Err(StoreError::Conflict { .. })));

    // And it shows up in this month's report.
    let admin = app.login("admin").await;
    let opened_at = app.server().store.session(&session).await.unwrap().unwrap().opened_at;
    let day = local_date(opened_at as u64);
    let month =
        get_json(&app, &format!("/api/reports/summary?year={}&month={}", day.year(), day.month()), &admin).await;
    assert_eq!(month["feedback"]["answers"], 1);
    assert_eq!(month["feedback"]["initiated"], 1);
    assert_eq!(month["feedback"]["ratings"], json!([0, 0, 0, 1, 0]));
}

on_both_backends!(
    report_figures_equal_hand_computed_values,
    who_sees_which_report,
    the_device_answers_the_survey_once_after_the_session,
);
