//! Appointments over REST, told as stories against the real server: the calendar seeded from the demo
//! rooms-config and edited through the API, slot search honouring every rule, booking that is never doubled even
//! when twenty schedulers race, an appointment's life in the audit log, who may do what, clear errors for bad
//! input, and an OpenAPI document that lists every route. Every story runs on SQLite and on PostgreSQL.
//!
//! Dates are chosen relative to today (the tests must pass whenever they run), and the agency's services are set
//! through the API where a story needs fixed parameters, so nothing depends on the demo's numbers by accident.

use crate::common;

use crate::common::http::{call, expect, get, post, put};
use crate::common::{spawn_app, Backend, TestApp};
use chrono::{Datelike, Duration as Days, NaiveDate, Weekday};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use vayla_domain::calendar::{finnish_holiday, local_date, local_to_utc, LocalTime, HELSINKI};

// ---------------------------------------------------------------------------------------------------------
// Helpers

fn today() -> NaiveDate {
    local_date(vayla_server::now_ms())
}

/// ISO UTC of a local (Helsinki) date and time.
fn at(date: NaiveDate, h: u32, m: u32) -> String {
    let ms = local_to_utc(date, LocalTime::hm(h, m));
    chrono::DateTime::from_timestamp_millis(ms as i64).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Local date and "HH:MM" of an ISO instant.
fn local(iso: &str) -> (NaiveDate, String) {
    let ms = chrono::DateTime::parse_from_rfc3339(iso).unwrap().timestamp_millis() as u64;
    let t = chrono::DateTime::from_timestamp_millis(ms as i64).unwrap().with_timezone(&HELSINKI);
    (t.date_naive(), t.format("%H:%M").to_string())
}

/// The first Monday at least `ahead` days away whose Monday–Friday has no public holiday.
fn plain_week(ahead: i64) -> NaiveDate {
    let mut d = today() + Days::days(ahead);
    loop {
        if d.weekday() == Weekday::Mon && (0..5).all(|i| finnish_holiday(d + Days::days(i)).is_none()) {
            return d;
        }
        d += Days::days(1);
    }
}

/// The first public holiday on a weekday at least two days away.
fn weekday_holiday() -> NaiveDate {
    let mut d = today() + Days::days(2);
    while finnish_holiday(d).is_none() || d.weekday().num_days_from_monday() > 4 {
        d += Days::days(1);
    }
    d
}

/// Kela's services as the stories need them: the demo's two, plus `test-visit` (30 min, buffers 10/10, no notice,
/// two years' horizon), set through the API by an admin.
async fn with_test_service(app: &TestApp) {
    let admin = app.login("admin").await;
    let (_, agencies) = get(app, "/api/calendar/agencies", &admin).await;
    let kela = agencies.as_array().unwrap().iter().find(|a| a["id"] == "kela").unwrap().clone();
    let mut services = kela["services"].as_array().unwrap().clone();
    services.push(json!({
        "id": "test-visit", "name": "Test visit", "duration_minutes": 30, "buffer_before_minutes": 10,
        "buffer_after_minutes": 10, "min_notice_minutes": 0, "horizon_days": 730
    }));
    let body = json!({ "rule": "walk_in_and_appointment", "services": services });
    let r = expect(put(app, "/api/calendar/agencies/kela", &admin, body).await, 200, "");
    assert_eq!(r["source"], "api");
}

async fn search(app: &TestApp, token: &str, body: Value) -> Vec<Value> {
    let r = expect(post(app, "/api/slots/search", token, body).await, 200, "");
    r["slots"].as_array().unwrap().clone()
}

/// Slot starts per local date, as "HH:MM".
fn by_day(slots: &[Value]) -> BTreeMap<NaiveDate, Vec<String>> {
    let mut out: BTreeMap<NaiveDate, Vec<String>> = BTreeMap::new();
    for s in slots {
        let (d, t) = local(s["start"].as_str().unwrap());
        out.entry(d).or_default().push(t);
    }
    out
}

/// Starts from `from` to `last` inclusive every 15 minutes, as "HH:MM".
fn grid(from: (u32, u32), last: (u32, u32)) -> Vec<String> {
    let (a, b) = (from.0 * 60 + from.1, last.0 * 60 + last.1);
    (a..=b).step_by(15).map(|m| format!("{:02}:{:02}", m / 60, m % 60)).collect()
}

fn book_body(service: &str, device: &str, expert: &str, start: &str) -> Value {
    json!({ "service": service, "device": device, "expert": expert, "start": start, "customer_ref": "case-4711",
            "special_needs": { "language": "fi", "accessibility": "wheelchair access" } })
}

// ---------------------------------------------------------------------------------------------------------
// The stories

async fn the_seeded_model_is_visible_and_edits_win_over_the_seed(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let scheduler = app.login("scheduler").await;

    let (_, agencies) = get(&app, "/api/calendar/agencies", &scheduler).await;
    let agency = |id: &str| agencies.as_array().unwrap().iter().find(|a| a["id"] == id).unwrap().clone();
    assert_eq!(agency("kela")["rule"], "walk_in_and_appointment");
    assert_eq!(agency("te")["rule"], "appointment_only");
    let dvv = agency("dvv");
    assert_eq!(dvv["rule"], "fixed_windows");
    assert_eq!(
        dvv["windows"],
        json!([{ "weekday": "Tue", "start": "09:00", "end": "11:00" },
                                        { "weekday": "Thu", "start": "13:00", "end": "15:00" }])
    );
    assert_eq!(dvv["services"][0]["id"], "dvv-notary");
    assert_eq!(agency("kela")["services"][0]["duration_minutes"], 30);
    assert_eq!(agency("kela")["source"], "seed");

    let (_, experts) = get(&app, "/api/calendar/experts", &scheduler).await;
    let mikko = experts.as_array().unwrap().iter().find(|e| e["id"] == "kela-mikko").unwrap().clone();
    assert_eq!(mikko["services"], json!(["kela-benefits"]));
    assert_eq!(mikko["stand_ins"], json!(["kela-anna"]));
    assert_eq!(mikko["languages"], json!(["fi", "en"]));

    let anna = expect(get(&app, "/api/calendar/availability/expert/kela-anna", &scheduler).await, 200, "");
    assert_eq!(anna["source"], "seed");
    assert_eq!(anna["schedule"]["weekly"].as_array().unwrap().len(), 5);
    assert_eq!(anna["schedule"]["exceptions"][0], json!({ "date": "2026-12-28", "change": "day_off" }));
    let hours = expect(get(&app, "/api/calendar/opening-hours/pelkosenniemi", &scheduler).await, 200, "");
    assert_eq!(hours["schedule"]["weekly"][0], json!({ "weekday": "Tue", "start": "10:00", "end": "14:00" }));

    // The expert edits her own availability; another expert may not; the edit survives a restart (which seeds
    // the rooms-config again) and is audited.
    let anna_token = app.login("kela-anna").await;
    let mine = json!({ "weekly": [{ "weekday": "Mon", "start": "10:00", "end": "12:00" }] });
    let mikko_token = app.login("kela-mikko").await;
    expect(
        put(&app, "/api/calendar/availability/expert/kela-anna", &mikko_token, mine.clone()).await,
        403,
        "forbidden",
    );
    let edited = expect(put(&app, "/api/calendar/availability/expert/kela-anna", &anna_token, mine).await, 200, "");
    assert_eq!(edited["source"], "api");
    assert_eq!(edited["updated_by"], "kela-anna");
    app.restart().await;
    let scheduler = app.login("scheduler").await;
    let after = expect(get(&app, "/api/calendar/availability/expert/kela-anna", &scheduler).await, 200, "");
    assert_eq!(after["source"], "api", "an API edit wins over the re-seeded rooms-config");
    assert_eq!(after["schedule"]["weekly"].as_array().unwrap().len(), 1);

    // A rooms-config change reaches entries that were not edited.
    let people = app.read_config("people.toml");
    let edited_config = people.replacen(
        "agency = \"poliisi\"\nlanguages = [\"fi\"]\navailability = [\"mon-fri 08:00-16:00\"]",
        "agency = \"poliisi\"\nlanguages = [\"fi\"]\navailability = [\"mon-fri 12:00-16:00\"]",
        1,
    );
    assert_ne!(people, edited_config, "the demo config has poliisi-pekka's availability as expected");
    app.write_config("people.toml", &edited_config);
    let reloaded = common::eventually(common::WAIT, || async {
        let v = get(&app, "/api/calendar/availability/expert/poliisi-pekka", &scheduler).await.1;
        v["schedule"]["weekly"][0]["start"] == "12:00"
    })
    .await;
    assert!(reloaded, "the reloaded rooms-config re-seeds the calendar");

    // Reverting puts the seed back in force.
    let reverted = call(&app, "DELETE", "/api/calendar/availability/expert/kela-anna", Some(&scheduler), None).await;
    let reverted = expect(reverted, 200, "");
    assert_eq!(reverted["source"], "seed");
    assert_eq!(reverted["schedule"]["weekly"].as_array().unwrap().len(), 5);

    // Opening hours: schedulers edit them, advisors may not.
    let advisor = app.login("advisor-mikkeli").await;
    let hours =
        json!({ "weekly": [{ "weekday": "Mon", "start": "09:00", "end": "12:00" }], "closed_on_holidays": true });
    expect(put(&app, "/api/calendar/opening-hours/mikkeli", &advisor, hours.clone()).await, 403, "forbidden");
    let set = expect(put(&app, "/api/calendar/opening-hours/mikkeli", &scheduler, hours).await, 200, "");
    assert_eq!(set["source"], "api");

    let admin = app.login("admin").await;
    let (_, audit) = get(&app, "/api/audit?kind=calendar_changed", &admin).await;
    let subjects: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects, ["kela-anna", "scheduler"]);
    let (_, audit) = get(&app, "/api/audit?kind=calendar_reverted", &admin).await;
    assert_eq!(audit.as_array().unwrap().len(), 1);
}

async fn search_honours_opening_hours_exceptions_buffers_and_named_experts(backend: Backend) {
    let app = spawn_app(backend).await;
    with_test_service(&app).await;
    let scheduler = app.login("scheduler").await;
    let week = plain_week(14);
    let day = |i: i64| week + Days::days(i);
    let query = json!({ "service": "test-visit", "devices": ["mikkeli-1"], "expert": "kela-anna",
                        "from": week.to_string(), "to": day(6).to_string() });

    // Mikkeli is open Mon–Fri 09–16 and Anna works Mon–Fri 08–16: 09:00 to 15:30 every weekday, none at the weekend.
    let slots = search(&app, &scheduler, query.clone()).await;
    let days = by_day(&slots);
    assert_eq!(days.keys().copied().collect::<Vec<_>>(), (0..5).map(day).collect::<Vec<_>>());
    for starts in days.values() {
        assert_eq!(starts, &grid((9, 0), (15, 30)));
    }
    assert_eq!(slots[0]["start"], at(week, 9, 0));
    assert_eq!(slots[0]["end"], at(week, 9, 30));
    assert_eq!(slots[0]["devices"], json!(["mikkeli-1"]));
    assert_eq!(slots[0]["experts"], json!(["kela-anna"]));

    // A dated exception to the opening hours: Wednesday only 12–14.
    let hours = json!({ "weekly": [
        { "weekday": "Mon", "start": "09:00", "end": "16:00" }, { "weekday": "Tue", "start": "09:00", "end": "16:00" },
        { "weekday": "Wed", "start": "09:00", "end": "16:00" }, { "weekday": "Thu", "start": "09:00", "end": "16:00" },
        { "weekday": "Fri", "start": "09:00", "end": "16:00" }],
        "exceptions": [{ "date": day(2).to_string(), "change": "replace", "ranges": [{ "start": "12:00", "end": "14:00" }] }] });
    expect(put(&app, "/api/calendar/opening-hours/mikkeli", &scheduler, hours).await, 200, "");
    let days = by_day(&search(&app, &scheduler, query.clone()).await);
    assert_eq!(days[&day(2)], grid((12, 0), (13, 30)));
    assert_eq!(days[&day(1)], grid((9, 0), (15, 30)));

    // A booking on Tuesday at 10:00 holds 09:50–10:40 (buffers 10/10), and a new one needs its own buffers too:
    // starts from 09:15 to 10:45 are gone, 09:00 and 11:00 stay.
    let booked = post(
        &app,
        "/api/appointments",
        &scheduler,
        book_body("test-visit", "mikkeli-1", "kela-anna", &at(day(1), 10, 0)),
    )
    .await;
    expect(booked, 201, "");
    let days = by_day(&search(&app, &scheduler, query.clone()).await);
    let expected: Vec<String> =
        grid((9, 0), (15, 30)).into_iter().filter(|t| !grid((9, 15), (10, 45)).contains(t)).collect();
    assert_eq!(days[&day(1)], expected);

    // With two devices the booked one drops out of that time, the other stays.
    let mut two = query.clone();
    two["devices"] = json!(["mikkeli-1", "mikkeli-2"]);
    let slots = search(&app, &scheduler, two).await;
    let ten = slots.iter().find(|s| s["start"] == at(day(1), 10, 0));
    assert!(ten.is_none(), "the expert is booked at 10:00 whatever the device");
    let mut other_expert = query.clone();
    other_expert["expert"] = json!("kela-mikko");
    other_expert["service"] = json!("kela-benefits");
    other_expert["devices"] = json!(["mikkeli-1", "mikkeli-2"]);
    let slots = search(&app, &scheduler, other_expert).await;
    let ten = slots.iter().find(|s| s["start"] == at(day(1), 10, 0)).expect("Mikko is free at 10:00");
    assert_eq!(ten["devices"], json!(["mikkeli-2"]), "mikkeli-1 is held by the booking");

    // Any expert of the agency who speaks the language; Mikko works Mon–Thu only and handles kela-benefits only.
    let any = |lang: &str| {
        json!({ "service": "kela-benefits", "service_points": ["mikkeli"], "language": lang,
                                    "from": week.to_string(), "to": day(4).to_string() })
    };
    let sv = search(&app, &scheduler, any("sv")).await;
    assert!(sv.iter().all(|s| s["experts"] == json!(["kela-anna"])), "only Anna speaks Swedish");
    let en = search(&app, &scheduler, any("en")).await;
    assert!(!en.is_empty() && en.iter().all(|s| s["experts"] == json!(["kela-mikko"])));
    assert!(!by_day(&en).contains_key(&day(4)), "Mikko does not work on Fridays");
    assert_eq!(en[0]["devices"], json!(["mikkeli-1", "mikkeli-2", "mikkeli-3"]));
    let mut named = any("sv");
    named["expert"] = json!("kela-mikko");
    expect(post(&app, "/api/slots/search", &scheduler, named).await, 422, "expert_not_eligible");
    let pension = json!({ "service": "kela-pension", "devices": ["mikkeli-1"], "expert": "kela-mikko",
                          "from": week.to_string(), "to": day(4).to_string() });
    expect(post(&app, "/api/slots/search", &scheduler, pension).await, 422, "expert_not_eligible");

    // Stand-ins come after the named expert.
    let mut stand_ins = query.clone();
    stand_ins["service"] = json!("kela-benefits");
    stand_ins["with_stand_ins"] = json!(true);
    let slots = search(&app, &scheduler, stand_ins).await;
    let monday_ten = slots.iter().find(|s| s["start"] == at(week, 10, 0)).unwrap();
    assert_eq!(monday_ten["experts"], json!(["kela-anna", "kela-mikko"]));

    // An interpreter for Finnish Sign Language: only Sami, who works Mon–Thu 09–15.
    let mut interpreted = query.clone();
    interpreted["interpreter"] = json!({ "language": "fse", "modality": "remote" });
    let slots = search(&app, &scheduler, interpreted).await;
    assert!(slots.iter().all(|s| s["interpreters"] == json!(["tulkki-sami"])));
    let days = by_day(&slots);
    assert!(!days.contains_key(&day(4)));
    assert_eq!(days[&day(0)], grid((9, 0), (14, 30)));
}

async fn search_honours_holidays_notice_horizon_and_fixed_windows(backend: Backend) {
    let app = spawn_app(backend).await;
    with_test_service(&app).await;
    let scheduler = app.login("scheduler").await;

    // A public holiday on a weekday: no slots, and booking it is refused with the reason.
    let holiday = weekday_holiday();
    let q = json!({ "service": "test-visit", "devices": ["mikkeli-1"], "from": holiday.to_string(), "to": holiday.to_string() });
    assert!(search(&app, &scheduler, q).await.is_empty(), "{holiday} is a public holiday");
    let r = post(
        &app,
        "/api/appointments",
        &scheduler,
        book_body("test-visit", "mikkeli-1", "kela-anna", &at(holiday, 10, 0)),
    )
    .await;
    let r = expect(r, 422, "slot_unavailable");
    assert!(r["message"].as_str().unwrap().starts_with("holiday:"), "{r}");

    // Notice (2 h) and horizon (60 days) of kela-benefits.
    let now = vayla_server::now_ms();
    let q = json!({ "service": "kela-benefits", "service_points": ["mikkeli"], "from": today().to_string(),
                    "to": (today() + Days::days(70)).to_string() });
    let slots = search(&app, &scheduler, q).await;
    let ms = |s: &Value| {
        chrono::DateTime::parse_from_rfc3339(s["start"].as_str().unwrap()).unwrap().timestamp_millis() as u64
    };
    let hour = 3_600_000u64;
    assert!(slots.iter().all(|s| ms(s) >= now + 2 * hour), "nothing sooner than the notice");
    assert!(slots.iter().all(|s| ms(s) <= now + 60 * 24 * hour), "nothing beyond the horizon");
    assert!(slots.iter().any(|s| ms(s) >= now + 50 * 24 * hour), "slots reach towards the horizon");

    let soon = chrono::DateTime::from_timestamp_millis((now + hour) as i64).unwrap().to_rfc3339();
    let r = expect(
        post(&app, "/api/appointments", &scheduler, book_body("kela-benefits", "mikkeli-1", "kela-anna", &soon)).await,
        422,
        "slot_unavailable",
    );
    assert!(r["message"].as_str().unwrap().starts_with("too_soon:"), "{r}");
    let far = plain_week(63);
    let r = post(
        &app,
        "/api/appointments",
        &scheduler,
        book_body("kela-benefits", "mikkeli-1", "kela-anna", &at(far, 10, 0)),
    )
    .await;
    let r = expect(r, 422, "slot_unavailable");
    assert!(r["message"].as_str().unwrap().starts_with("beyond_horizon:"), "{r}");

    // The notary books only Tue 09–11 and Thu 13–15.
    let week = plain_week(7);
    let q = json!({ "service": "dvv-notary", "devices": ["mikkeli-1"], "from": week.to_string(),
                    "to": (week + Days::days(6)).to_string() });
    let days = by_day(&search(&app, &scheduler, q).await);
    assert_eq!(days.keys().copied().collect::<Vec<_>>(), [week + Days::days(1), week + Days::days(3)]);
    assert_eq!(days[&(week + Days::days(1))], grid((9, 0), (10, 30)));
    assert_eq!(days[&(week + Days::days(3))], grid((13, 0), (14, 30)));
    let wednesday = at(week + Days::days(2), 10, 0);
    let r = expect(
        post(&app, "/api/appointments", &scheduler, book_body("dvv-notary", "mikkeli-1", "dvv-sanna", &wednesday))
            .await,
        422,
        "slot_unavailable",
    );
    assert!(r["message"].as_str().unwrap().starts_with("outside_windows:"), "{r}");

    // Outside the point's opening hours.
    let evening = at(week + Days::days(1), 17, 0);
    let r = expect(
        post(&app, "/api/appointments", &scheduler, book_body("test-visit", "mikkeli-1", "kela-anna", &evening)).await,
        422,
        "slot_unavailable",
    );
    assert!(r["message"].as_str().unwrap().starts_with("unavailable:"), "{r}");
}

async fn booking_removes_the_slot_and_racing_bookings_get_exactly_one(backend: Backend) {
    let app = spawn_app(backend).await;
    with_test_service(&app).await;
    let scheduler = app.login("scheduler").await;
    let week = plain_week(14);
    let start = at(week, 11, 0);

    let booked = expect(
        post(&app, "/api/appointments", &scheduler, book_body("test-visit", "mikkeli-2", "kela-anna", &start)).await,
        201,
        "",
    );
    assert_eq!(booked["status"], "booked");
    assert_eq!(booked["expert"], "kela-anna");
    assert_eq!(booked["device"], "mikkeli-2");
    assert_eq!(booked["service_point"], "mikkeli");
    assert_eq!(booked["start"], start);
    assert_eq!(booked["customer_ref"], "case-4711");
    assert_eq!(booked["special_needs"]["accessibility"], "wheelchair access");
    assert_eq!(booked["sequence"], 0);
    let kinds: Vec<(&str, &str, &str)> = booked["reservations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["start"].as_str().unwrap(), r["end"].as_str().unwrap()))
        .collect();
    let (held_from, held_to) = (at(week, 10, 50), at(week, 11, 40));
    assert!(kinds.contains(&("device", held_from.as_str(), held_to.as_str())), "{kinds:?}");
    assert!(kinds.contains(&("expert", held_from.as_str(), held_to.as_str())), "{kinds:?}");

    let q = json!({ "service": "test-visit", "devices": ["mikkeli-2"], "expert": "kela-anna",
                    "from": week.to_string(), "to": week.to_string() });
    let slots = search(&app, &scheduler, q).await;
    assert!(slots.iter().all(|s| s["start"] != start), "the booked slot is gone");

    // Twenty schedulers race for one slot: exactly one gets it, the others are told it was taken.
    let race = at(week, 14, 0);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let url = app.server().url();
        let token = scheduler.clone();
        let body = book_body("test-visit", "mikkeli-3", "kela-anna", &race);
        tasks.push(tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(format!("{url}/api/appointments"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }));
    }
    let mut created = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            201 => created += 1,
            409 => assert_eq!(body["code"], "slot_taken"),
            other => panic!("unexpected {other} {body}"),
        }
    }
    assert_eq!(created, 1, "exactly one of twenty racing bookings succeeds");
    let store = &app.server().store;
    let device =
        store.busy_for_resources(vayla_store::ResourceKind::Device, &["mikkeli-3".into()], 0, i64::MAX).await.unwrap();
    assert_eq!(device.len(), 1, "one reservation of the device in the database");
}

async fn reschedule_cancel_and_no_show_are_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    with_test_service(&app).await;
    let scheduler = app.login("scheduler").await;
    let week = plain_week(14);
    let a = expect(
        post(&app, "/api/appointments", &scheduler, book_body("test-visit", "mikkeli-1", "kela-anna", &at(week, 9, 0)))
            .await,
        201,
        "",
    );
    let id = a["id"].as_str().unwrap().to_string();
    // Mikko, Anna's stand-in, takes every Kela service from now on.
    let r = put(
        &app,
        "/api/calendar/experts/kela-mikko",
        &scheduler,
        json!({ "services": null, "stand_ins": ["kela-anna"] }),
    )
    .await;
    assert_eq!(expect(r, 200, "")["all_services"], true);

    // Reschedule an hour later and to the stand-in: the old time is free again, the new one taken.
    let moved = post(
        &app,
        &format!("/api/appointments/{id}/reschedule"),
        &scheduler,
        json!({ "start": at(week, 10, 0), "expert": "kela-mikko" }),
    )
    .await;
    let moved = expect(moved, 200, "");
    assert_eq!(moved["start"], at(week, 10, 0));
    assert_eq!(moved["expert"], "kela-mikko");
    assert_eq!(moved["sequence"], 1);
    let q = json!({ "service": "test-visit", "devices": ["mikkeli-1"], "expert": "kela-anna",
                    "from": week.to_string(), "to": week.to_string() });
    let starts = by_day(&search(&app, &scheduler, q.clone()).await)[&week].clone();
    assert!(starts.contains(&"09:00".to_string()) && !starts.contains(&"10:00".to_string()), "{starts:?}");
    // Moving it onto itself (overlapping its own time) is fine; to another device or agency is not.
    let r = post(&app, &format!("/api/appointments/{id}/reschedule"), &scheduler, json!({ "start": at(week, 10, 15) }))
        .await;
    expect(r, 200, "");
    let r = post(
        &app,
        &format!("/api/appointments/{id}/reschedule"),
        &scheduler,
        json!({ "start": at(week, 11, 0), "device": "mikkeli-2" }),
    )
    .await;
    expect(r, 422, "device_change_unsupported");
    let r = post(
        &app,
        &format!("/api/appointments/{id}/reschedule"),
        &scheduler,
        json!({ "start": at(week, 11, 0), "expert": "vero-liisa" }),
    )
    .await;
    expect(r, 422, "expert_not_eligible");

    // Cancel with a reason: the time is bookable again, and a second cancel is refused.
    let r =
        post(&app, &format!("/api/appointments/{id}/cancel"), &scheduler, json!({ "reason": "customer asked" })).await;
    let cancelled = expect(r, 200, "");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancel_reason"], "customer asked");
    assert_eq!(cancelled["closed_by"], "scheduler");
    let r = post(&app, &format!("/api/appointments/{id}/cancel"), &scheduler, json!({ "reason": "again" })).await;
    expect(r, 409, "appointment_closed");
    let r = post(&app, &format!("/api/appointments/{id}/reschedule"), &scheduler, json!({ "start": at(week, 12, 0) }))
        .await;
    expect(r, 409, "appointment_closed");
    let mut mikko = q.clone();
    mikko["expert"] = json!("kela-mikko");
    let starts = by_day(&search(&app, &scheduler, mikko).await)[&week].clone();
    assert!(starts.contains(&"10:15".to_string()), "the cancelled time is free again");

    // No-show: refused before the start; an appointment that has begun (booked directly in the store, since the
    // API refuses the past) can be marked by the advisor of its service point.
    let b = expect(
        post(
            &app,
            "/api/appointments",
            &scheduler,
            book_body("test-visit", "mikkeli-1", "kela-anna", &at(week, 13, 0)),
        )
        .await,
        201,
        "",
    );
    let advisor = app.login("advisor-mikkeli").await;
    let r = post(&app, &format!("/api/appointments/{}/no-show", b["id"].as_str().unwrap()), &advisor, json!({})).await;
    expect(r, 409, "not_started");
    let now = vayla_server::now_ms() as i64;
    let past = vayla_store::NewAppointment {
        id: "past-1".into(),
        uid: "past-1@vayla".into(),
        agency: "kela".into(),
        service: "test-visit".into(),
        service_point: "mikkeli".into(),
        device: "mikkeli-1".into(),
        start_ms: now - 600_000,
        end_ms: now + 1_200_000,
        customer_ref: None,
        needs: Default::default(),
        created_by: "scheduler".into(),
        created_at: now - 86_400_000,
        reservations: vec![vayla_store::NewReservation {
            kind: vayla_store::ResourceKind::Expert,
            resource_id: "kela-anna".into(),
            start_ms: now - 600_000,
            end_ms: now + 1_200_000,
        }],
    };
    app.server().store.book_appointment(&past).await.unwrap();
    let r = expect(post(&app, "/api/appointments/past-1/no-show", &advisor, json!({})).await, 200, "");
    assert_eq!(r["status"], "no_show");
    assert_eq!(r["closed_by"], "advisor-mikkeli");

    let admin = app.login("admin").await;
    let (_, audit) = get(&app, "/api/audit?limit=1000", &admin).await;
    let trail: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detail"].as_str().unwrap_or("").contains(&format!("appointment={id}")))
        .map(|e| (e["kind"].as_str().unwrap().to_string(), e["subject"].as_str().unwrap_or("").to_string()))
        .collect();
    let expected = [
        ("appointment_booked", "scheduler"),
        ("appointment_rescheduled", "scheduler"),
        ("appointment_rescheduled", "scheduler"),
        ("appointment_cancelled", "scheduler"),
    ];
    assert_eq!(trail, expected.map(|(k, s)| (k.to_string(), s.to_string())));
    let (_, no_shows) = get(&app, "/api/audit?kind=appointment_no_show", &admin).await;
    assert_eq!(no_shows.as_array().unwrap().len(), 1);
}

async fn roles_decide_who_books_sees_and_edits(backend: Backend) {
    let app = spawn_app(backend).await;
    with_test_service(&app).await;
    let week = plain_week(14);
    let body = |device: &str, h: u32| book_body("test-visit", device, "kela-anna", &at(week, h, 0));

    // Experts do not book; advisors book only at their own service point.
    let anna = app.login("kela-anna").await;
    expect(post(&app, "/api/appointments", &anna, body("mikkeli-1", 9)).await, 403, "forbidden");
    let kiiminki = app.login("advisor-kiiminki").await;
    expect(post(&app, "/api/appointments", &kiiminki, body("mikkeli-1", 9)).await, 403, "forbidden");
    let advisor = app.login("advisor-mikkeli").await;
    let a = expect(post(&app, "/api/appointments", &advisor, body("mikkeli-1", 9)).await, 201, "");
    let path = format!("/api/appointments/{}", a["id"].as_str().unwrap());
    assert_eq!(a["created_by"], "advisor-mikkeli");

    // The customer reference: the booked expert and the point's advisor see it; another point's advisor sees
    // nothing of the appointment, another expert neither.
    assert_eq!(expect(get(&app, &path, &anna).await, 200, "")["customer_ref"], "case-4711");
    assert_eq!(expect(get(&app, &path, &advisor).await, 200, "")["customer_ref"], "case-4711");
    expect(get(&app, &path, &kiiminki).await, 403, "forbidden");
    let liisa = app.login("vero-liisa").await;
    expect(get(&app, &path, &liisa).await, 403, "forbidden");
    let (_, listed) = get(&app, &format!("/api/appointments?from={week}&to={week}"), &kiiminki).await;
    assert_eq!(listed, json!([]), "an advisor lists their own point's appointments only");
    let (_, listed) = get(&app, &format!("/api/appointments?from={week}&to={week}"), &liisa).await;
    assert_eq!(listed, json!([]));
    let (_, listed) = get(&app, &format!("/api/appointments?expert=kela-anna&from={week}&to={week}"), &liisa).await;
    assert_eq!(listed["code"], "forbidden");

    // Anna's day, for the expert page.
    let (_, mine) = get(&app, &format!("/api/me/appointments?date={week}"), &anna).await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["device"], "mikkeli-1");
    let scheduler = app.login("scheduler").await;
    let (_, all) = get(&app, &format!("/api/appointments?device=mikkeli-1&from={week}&to={week}"), &scheduler).await;
    assert_eq!(all.as_array().unwrap().len(), 1);

    // Devices do not search; experts cancel their own appointments only.
    let device = app.device("mikkeli-1").await;
    let q =
        json!({ "service": "test-visit", "devices": ["mikkeli-1"], "from": week.to_string(), "to": week.to_string() });
    expect(post(&app, "/api/slots/search", &device, q).await, 403, "forbidden");
    let mikko = app.login("kela-mikko").await;
    expect(post(&app, &format!("{path}/cancel"), &mikko, json!({ "reason": "x" })).await, 403, "forbidden");
    expect(post(&app, &format!("{path}/cancel"), &anna, json!({ "reason": "ill" })).await, 200, "");
    // Interpreters edit their own availability, not others'.
    let sami = app.login("tulkki-sami").await;
    let s = json!({ "weekly": [{ "weekday": "Fri", "start": "09:00", "end": "12:00" }] });
    expect(put(&app, "/api/calendar/availability/interpreter/tulkki-sami", &sami, s.clone()).await, 200, "");
    expect(put(&app, "/api/calendar/availability/interpreter/tulkki-aino", &sami, s).await, 403, "forbidden");
}

async fn bad_input_gets_clear_error_codes(backend: Backend) {
    let app = spawn_app(backend).await;
    let scheduler = app.login("scheduler").await;
    let week = plain_week(14);
    let url = format!("{}/api/slots/search", app.server().url());
    let raw = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&scheduler)
        .header("content-type", "application/json")
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    assert_eq!(raw.json::<Value>().await.unwrap()["code"], "bad_request");

    let base = json!({ "service": "kela-benefits", "devices": ["mikkeli-1"], "from": week.to_string(), "to": week.to_string() });
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let s = |b: Value| post(&app, "/api/slots/search", &scheduler, b);
    expect(s(with("colour", json!("blue"))).await, 400, "bad_request");
    expect(s(with("service", json!("kela-nothing"))).await, 422, "unknown_service");
    expect(s(with("devices", json!(["mikkeli-9"]))).await, 422, "unknown_device");
    expect(s(with("service_points", json!(["atlantis"]))).await, 422, "unknown_service_point");
    expect(s(with("expert", json!("nobody"))).await, 422, "unknown_expert");
    expect(s(with("from", json!("next tuesday"))).await, 400, "invalid_time");
    expect(s(with("to", json!((week - Days::days(1)).to_string()))).await, 400, "invalid_range");
    expect(s(with("to", json!((week + Days::days(500)).to_string()))).await, 400, "invalid_range");
    expect(s(with("language", json!("Finnish"))).await, 400, "bad_request");
    expect(s(with("devices", json!([]))).await, 400, "bad_request");

    let b = |start: &str| book_body("kela-benefits", "mikkeli-1", "kela-anna", start);
    expect(post(&app, "/api/appointments", &scheduler, b("2026-13-40T99:00")).await, 400, "invalid_time");
    let mut unknown = b(&at(week, 10, 0));
    unknown["service"] = json!("nope");
    expect(post(&app, "/api/appointments", &scheduler, unknown).await, 422, "unknown_service");
    let mut long_ref = b(&at(week, 10, 0));
    long_ref["customer_ref"] = json!("x".repeat(201));
    expect(post(&app, "/api/appointments", &scheduler, long_ref).await, 400, "bad_request");

    expect(get(&app, "/api/appointments/no-such-id", &scheduler).await, 404, "unknown_appointment");
    let r = post(&app, "/api/appointments/no-such-id/cancel", &scheduler, json!({ "reason": "x" })).await;
    expect(r, 404, "unknown_appointment");
    expect(get(&app, "/api/calendar/availability/device/mikkeli-1", &scheduler).await, 404, "unknown_kind");
    expect(get(&app, "/api/calendar/availability/expert/nobody", &scheduler).await, 404, "unknown_expert");
    let bad_time = json!({ "weekly": [{ "weekday": "Mon", "start": "25:00", "end": "26:00" }] });
    expect(put(&app, "/api/calendar/availability/expert/kela-anna", &scheduler, bad_time).await, 400, "bad_request");
    let backwards = json!({ "weekly": [{ "weekday": "Mon", "start": "12:00", "end": "09:00" }] });
    expect(put(&app, "/api/calendar/availability/expert/kela-anna", &scheduler, backwards).await, 400, "bad_request");
    expect(get(&app, "/api/appointments?from=yesterday", &scheduler).await, 400, "invalid_time");
    let admin = app.login("admin").await;
    let clash = json!({ "rule": "appointment_only", "services": [{ "id": "kela-benefits", "name": "Stolen",
                        "duration_minutes": 30, "horizon_days": 30 }] });
    expect(put(&app, "/api/calendar/agencies/vero", &admin, clash).await, 422, "invalid_calendar");
    let no_windows = json!({ "rule": "fixed_windows", "windows": [], "services": [] });
    expect(put(&app, "/api/calendar/agencies/dvv", &admin, no_windows).await, 422, "invalid_calendar");
    let (status, _) = call(&app, "GET", "/api/calendar/agencies", None, None).await;
    assert_eq!(status, 401);
}

on_both_backends!(
    the_seeded_model_is_visible_and_edits_win_over_the_seed,
    search_honours_opening_hours_exceptions_buffers_and_named_experts,
    search_honours_holidays_notice_horizon_and_fixed_windows,
    booking_removes_the_slot_and_racing_bookings_get_exactly_one,
    reschedule_cancel_and_no_show_are_audited,
    roles_decide_who_books_sees_and_edits,
    bad_input_gets_clear_error_codes,
);

// ---------------------------------------------------------------------------------------------------------
// The OpenAPI document (backend-independent)

/// Every `.route("/api…", …)` of the router in app.rs with the methods it registers.
fn router_routes() -> Vec<(String, Vec<String>)> {
    let source = include_str!("../src/app.rs");
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(i) = rest.find(".route(\"") {
        rest = &rest[i + 8..];
        let end = rest.find('"').unwrap();
        let path = rest[..end].to_string();
        // The route's expression runs to the parenthesis that closes `.route(`.
        let mut depth = 1;
        let mut j = end;
        for (k, c) in rest[end..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        j = end + k;
                        break;
                    }
                }
                _ => {}
            }
        }
        let expr = &rest[end..j];
        let mut methods = Vec::new();
        for m in ["get", "post", "put", "delete", "patch", "any"] {
            let called = |prefix: &str| expr.contains(&format!("{prefix}{m}("));
            if called(" ") || called(",") || called(".") || called("(") {
                methods.push(m.to_string());
            }
        }
        out.push((path, methods));
        rest = &rest[j..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_api_route() {
    let app = spawn_app(Backend::Sqlite).await;
    let (status, doc) = call(&app, "GET", "/api/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "OpenAPI 3.1");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().expect("paths");

    let routes = router_routes();
    assert!(routes.len() > 20, "the router's routes were found in app.rs: {routes:?}");
    let catch_all = ["/api", "/api/", "/api/{*rest}"];
    for (path, methods) in routes.iter().filter(|(p, _)| p.starts_with("/api") && !catch_all.contains(&p.as_str())) {
        let documented = paths.get(path).unwrap_or_else(|| panic!("{path} is not in the OpenAPI document"));
        for m in methods {
            assert!(documented.get(m).is_some(), "{} {path} is not in the OpenAPI document", m.to_uppercase());
            assert!(documented[m]["responses"].is_object(), "{m} {path} has responses");
        }
    }

    // And everything documented is really there: the router answers it with something other than its
    // "no such endpoint" or "method not allowed" fallbacks.
    let token = app.login("admin").await;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let concrete =
                path.split('/').map(|s| if s.starts_with('{') { "x" } else { s }).collect::<Vec<_>>().join("/");
            let (status, body) = call(&app, &method.to_uppercase(), &concrete, Some(&token), None).await;
            let no_endpoint = body["message"].as_str().is_some_and(|m| m.starts_with("no API endpoint"));
            let fallback = (status == 404 && no_endpoint) || status == 405;
            assert!(
                !fallback,
                "{} {path} is documented but the router does not know it ({status} {body})",
                method.to_uppercase()
            );
        }
    }
}
