//! `vayla-calbench`: the appointments benchmark. Not a test: it measures and prints figures.
//!
//! 1. **Slot search** over 200 experts × 60 days with an interpreter constraint: the server's own search function
//!    (`vayla_server::scheduling::search::search`, exactly what `POST /api/slots/search` runs minus the HTTP
//!    framing): load the calendar model from the database, gather busy time, run the domain's `find_slots`, build
//!    the reply, and serialise it to JSON. Against a database that already holds thousands of bookings.
//! 2. **Booking**: the server's booking function (`scheduling::booking::book`: rule check against live busy time,
//!    then one transaction that reserves device and expert and writes the audit entry), one booking after the
//!    other; and the store's commit alone (`Store::book_appointment`).
//!
//! Everything runs in this process on a temporary SQLite file, and on a fresh PostgreSQL database too when
//! `VAYLA_TEST_PG_URL` is set. No network but the loopback PostgreSQL; bounded in count (`--searches`,
//! `--bookings`) and in time (`--max-seconds`, per phase).
//!
//! ```text
//! cargo run --release -p vayla-server --bin vayla-calbench -- [--searches 200] [--bookings 1000] [--max-seconds 60]
//! ```

use anyhow::{bail, Context, Result};
use chrono::{Datelike, Duration as Days, NaiveDate};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vayla_domain::calendar::{finnish_holiday, local_date, local_to_utc, LocalTime, MINUTE};
use vayla_server::rooms_config::{load_dir, RoomsConfig};
use vayla_server::scheduling::booking::{book, BookRequest, NeedsRequest};
use vayla_server::scheduling::model::Model;
use vayla_server::scheduling::search::{search, InterpreterRequest, SlotSearch};
use vayla_store::{NewAppointment, NewReservation, ResourceKind, Store};

const EXPERTS: usize = 200;
const INTERPRETERS: usize = 12;
const SERVICE_POINTS: usize = 5;
const DEVICES_PER_POINT: usize = 2;
const SEARCH_DAYS: i64 = 60;
/// Bookings already in the database before anything is measured (busy time for the searches).
const PRELOAD: usize = 3000;
/// A syntactically valid argon2 PHC string; nobody logs in during the benchmark.
const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$IQj8S8RUUfUXzzBwSA1sNw$zQ+9rlEB+7wlc2+T8Oh/k1wNDK6b+RRhna4Tn733Q0E";

struct Args {
    searches: usize,
    bookings: usize,
    max: Duration,
}

fn args() -> Result<Args> {
    let mut a = Args { searches: 200, bookings: 1000, max: Duration::from_secs(60) };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().context("a value after the flag");
        match flag.as_str() {
            "--searches" => a.searches = value()?.parse()?,
            "--bookings" => a.bookings = value()?.parse()?,
            "--max-seconds" => a.max = Duration::from_secs(value()?.parse()?),
            "-h" | "--help" => {
                println!("vayla-calbench [--searches N] [--bookings N] [--max-seconds S]");
                std::process::exit(0);
            }
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(a)
}

/// A rooms-config with 200 experts of one agency, interpreters, and five service points of two devices each.
fn write_config(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir.join("service-points"))?;
    std::fs::write(
        dir.join("agencies.toml"),
        "[[agency]]\nid = \"bench\"\nname = \"Bench agency\"\nrule = \"appointment_only\"\n\n\
         [[agency.service]]\nid = \"bench-visit\"\nname = \"Visit\"\nduration_minutes = 30\n\
         buffer_before_minutes = 5\nbuffer_after_minutes = 10\nmin_notice_minutes = 0\nhorizon_days = 120\n",
    )?;
    let mut people = String::new();
    for i in 0..EXPERTS {
        // Staggered weekly availability, and a day off for some, so that experts differ.
        let hours = ["mon-fri 08:00-16:00", "mon-thu 09:00-17:00", "tue-fri 08:00-15:00", "mon-fri 10:00-18:00"][i % 4];
        let languages = if i % 3 == 0 { "[\"fi\", \"sv\"]" } else { "[\"fi\"]" };
        people.push_str(&format!(
            "[[person]]\nid = \"expert-{i:03}\"\nname = \"Expert {i}\"\nrole = \"expert\"\nagency = \"bench\"\n\
             languages = {languages}\navailability = [\"{hours}\"]\npassword_hash = \"{HASH}\"\n\n"
        ));
    }
    for i in 0..INTERPRETERS {
        let languages = if i % 2 == 0 { "[\"fse\", \"fi\"]" } else { "[\"sv\", \"fi\"]" };
        people.push_str(&format!(
            "[[person]]\nid = \"interpreter-{i:02}\"\nname = \"Interpreter {i}\"\nrole = \"interpreter\"\n\
             languages = {languages}\navailability = [\"mon-fri 08:00-16:00\"]\npassword_hash = \"{HASH}\"\n\n"
        ));
    }
    std::fs::write(dir.join("people.toml"), people)?;
    for p in 0..SERVICE_POINTS {
        let mut text = format!(
            "id = \"point-{p}\"\nname = \"Point {p}\"\nmunicipality = \"Town {p}\"\nopening_hours = [\"mon-fri 08:00-17:00\"]\n"
        );
        for d in 0..DEVICES_PER_POINT {
            text.push_str(&format!(
                "\n[[device]]\nid = \"point-{p}-{d}\"\nname = \"Point {p} device {d}\"\ncredential_hash = \"{HASH}\"\n"
            ));
        }
        std::fs::write(dir.join(format!("service-points/point-{p}.toml")), text)?;
    }
    Ok(())
}

/// Working days (no weekend, no public holiday) from `from`, `n` of them.
fn working_days(from: NaiveDate, n: usize) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut d = from;
    while out.len() < n {
        if d.weekday().num_days_from_monday() < 5 && finnish_holiday(d).is_none() {
            out.push(d);
        }
        d += Days::days(1);
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  {name:<34} n={:<5} p50={:>7.2} ms  p99={:>7.2} ms  max={:>7.2} ms",
        samples.len(),
        ms(percentile(&samples, 0.50)),
        ms(percentile(&samples, 0.99)),
        ms(samples.last().copied().unwrap_or_default()),
    );
}

fn reservation(kind: ResourceKind, id: &str, start: i64, end: i64) -> NewReservation {
    NewReservation { kind, resource_id: id.to_string(), start_ms: start, end_ms: end }
}

/// Thousands of existing bookings spread over the searched days: busy time that every search must respect.
async fn preload(store: &Store, config: &RoomsConfig, days: &[NaiveDate]) -> Result<usize> {
    let devices: Vec<String> = config.devices.keys().map(|d| d.to_string()).collect();
    let mut booked = 0;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..PRELOAD {
        // xorshift: deterministic, no dependency.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let day = days[(x % days.len() as u64) as usize];
        let minute = 8 * 60 + ((x >> 16) % 16) as u32 * 30;
        let start = local_to_utc(day, LocalTime::from_minutes(minute).expect("minute")) as i64;
        let (end, span_start, span_end) = (start + 30 * 60_000, start - 5 * 60_000, start + 40 * 60_000);
        let expert = format!("expert-{:03}", (x >> 32) % EXPERTS as u64);
        let device = &devices[((x >> 40) % devices.len() as u64) as usize];
        let a = NewAppointment {
            id: format!("pre-{i}"),
            uid: format!("pre-{i}@bench"),
            agency: "bench".into(),
            service: "bench-visit".into(),
            service_point: device.rsplit_once('-').map(|(p, _)| p.to_string()).unwrap_or_default(),
            device: device.clone(),
            start_ms: start,
            end_ms: end,
            customer_ref: None,
            needs: Default::default(),
            created_by: "bench".into(),
            created_at: 0,
            reservations: vec![
                reservation(ResourceKind::Device, device, span_start, span_end),
                reservation(ResourceKind::Expert, &expert, span_start, span_end),
            ],
        };
        // Collisions are simply skipped: the point is a realistic amount of busy time.
        if store.book_appointment(&a).await.is_ok() {
            booked += 1;
        }
    }
    Ok(booked)
}

async fn run(label: &str, url: &str, config: Arc<RoomsConfig>, a: &Args) -> Result<()> {
    println!("{label}:");
    let store = Store::connect(url).await?;
    let now = vayla_server::now_ms();
    vayla_server::scheduling::seed(&store, &config, now).await?;
    let today = local_date(now);
    let search_days = working_days(today + Days::days(1), 40);
    let loaded = preload(&store, &config, &search_days).await?;
    println!("  database: {loaded} existing bookings over the searched days");

    // --- Slot search: any of 200 experts, 10 devices, 60 days, an fse interpreter.
    let req = SlotSearch {
        service: "bench-visit".into(),
        service_points: (0..SERVICE_POINTS).map(|p| format!("point-{p}")).collect(),
        devices: vec![],
        expert: None,
        with_stand_ins: false,
        language: Some("fi".into()),
        interpreter: Some(InterpreterRequest { language: "fse".into(), modality: "remote".into() }),
        from: (today + Days::days(1)).to_string(),
        to: (today + Days::days(SEARCH_DAYS)).to_string(),
        step_minutes: Some(15),
        limit: None,
    };
    let mut named = req.clone();
    named.expert = Some("expert-007".into());
    let mut search_samples = Vec::new();
    let mut named_samples = Vec::new();
    let mut domain_samples = Vec::new();
    let mut slots = 0;
    let started = Instant::now();
    for i in 0..a.searches {
        if started.elapsed() > a.max {
            println!("  (search phase stopped at {i} searches by --max-seconds)");
            break;
        }
        let t = Instant::now();
        let model = Model::load(&store, &config).await.map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let reply = search(&store, &config, &model, &req, now).await.map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let json = serde_json::to_vec(&reply)?;
        search_samples.push(t.elapsed());
        slots = reply.slots.len();
        std::hint::black_box(json);

        let t = Instant::now();
        let model = Model::load(&store, &config).await.map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let reply = search(&store, &config, &model, &named, now).await.map_err(|e| anyhow::anyhow!("{}", e.message))?;
        std::hint::black_box(serde_json::to_vec(&reply)?);
        named_samples.push(t.elapsed());

        // The pure engine: the same search without the database (calendars already built).
        if i < 20 {
            let t = Instant::now();
            domain_only(&config, &model, now, &req)?;
            domain_samples.push(t.elapsed());
        }
    }
    println!("  slot search: {EXPERTS} experts x {SEARCH_DAYS} days, 10 devices, fse interpreter; {slots} slots");
    report("search, any expert (model+busy+JSON)", search_samples);
    report("search, one named expert", named_samples);
    report("find_slots alone (no database)", domain_samples);

    // --- Booking: after the searched days, so that the preloaded bookings never collide.
    let devices: Vec<String> = config.devices.keys().map(|d| d.to_string()).collect();
    let days = working_days(today + Days::days(SEARCH_DAYS + 2), a.bookings.div_ceil(devices.len() * 8) + 1);
    let mut book_samples = Vec::new();
    let mut refused = 0;
    let started = Instant::now();
    for i in 0..a.bookings {
        if started.elapsed() > a.max {
            println!("  (booking phase stopped at {i} bookings by --max-seconds)");
            break;
        }
        let slot = i / devices.len();
        let (day, k) = (days[slot / 8], (slot % 8) as u32);
        let start = local_to_utc(day, LocalTime::from_minutes(8 * 60 + k * 45).expect("minute"));
        let req = BookRequest {
            service: "bench-visit".into(),
            device: devices[i % devices.len()].clone(),
            // Experts whose availability is Mon–Fri 08–16 (every fourth), so that each booking is possible.
            expert: format!("expert-{:03}", ((i * 7) % (EXPERTS / 4)) * 4),
            start: chrono::DateTime::from_timestamp_millis(start as i64).expect("time").to_rfc3339(),
            customer_ref: Some(format!("case-{i}")),
            special_needs: NeedsRequest { language: Some("fi".into()), ..Default::default() },
        };
        let t = Instant::now();
        let model = Model::load(&store, &config).await.map_err(|e| anyhow::anyhow!("{}", e.message))?;
        match book(&store, &config, &model, "scheduler", &req, now).await {
            Ok(_) => book_samples.push(t.elapsed()),
            Err(e) => {
                refused += 1;
                if refused == 1 {
                    println!("  first refusal: {} {}", e.code, e.message);
                }
            }
        }
    }
    report("book (model+check+commit)", book_samples);
    if refused > 0 {
        println!("  ({refused} bookings refused)");
    }

    let mut commit_samples = Vec::new();
    let base = local_to_utc(today + Days::days(SEARCH_DAYS + 40), LocalTime::hm(8, 0)) as i64;
    let started = Instant::now();
    for i in 0..a.bookings {
        if started.elapsed() > a.max {
            break;
        }
        let start = base + i as i64 * 45 * MINUTE as i64;
        let device = &devices[i % devices.len()];
        let expert = format!("expert-{:03}", i % EXPERTS);
        let new = NewAppointment {
            id: format!("commit-{i}"),
            uid: format!("commit-{i}@bench"),
            agency: "bench".into(),
            service: "bench-visit".into(),
            service_point: "point-0".into(),
            device: device.clone(),
            start_ms: start,
            end_ms: start + 30 * 60_000,
            customer_ref: None,
            needs: Default::default(),
            created_by: "bench".into(),
            created_at: now as i64,
            reservations: vec![
                reservation(ResourceKind::Device, device, start - 5 * 60_000, start + 40 * 60_000),
                reservation(ResourceKind::Expert, &expert, start - 5 * 60_000, start + 40 * 60_000),
            ],
        };
        let t = Instant::now();
        store.book_appointment(&new).await?;
        commit_samples.push(t.elapsed());
    }
    report("commit alone (Store::book_appointment)", commit_samples);
    store.close().await;
    Ok(())
}

/// The domain engine alone over the same candidates, without reading the database: what `find_slots` costs.
fn domain_only(config: &RoomsConfig, model: &Model, now: u64, req: &SlotSearch) -> Result<()> {
    use vayla_domain::calendar::{
        find_slots, Candidates, IntervalSet, LocalDays, ResourceCalendar, ResourceKey, SlotQuery,
    };
    use vayla_domain::SubjectId;
    let days = LocalDays::new(req.from.parse()?, req.to.parse()?)?;
    let (_, cal, spec) = model.service(&req.service).context("service")?;
    let devices: Vec<ResourceCalendar> = config
        .devices
        .values()
        .map(|d| {
            let opening = &model.opening_hours[&d.service_point].0;
            ResourceCalendar::device(ResourceKey::device(d.subject.clone()), opening, None, &days, IntervalSet::new())
        })
        .collect();
    let person =
        |role: vayla_domain::Role,
         map: &std::collections::HashMap<String, (vayla_domain::calendar::Schedule, vayla_store::CalendarSource)>|
         -> Vec<ResourceCalendar> {
            config
                .people
                .values()
                .filter(|p| p.role == role)
                .map(|p| {
                    let key = ResourceKey::new(
                        if role == vayla_domain::Role::Expert {
                            vayla_domain::calendar::ResourceKind::Expert
                        } else {
                            vayla_domain::calendar::ResourceKind::Interpreter
                        },
                        SubjectId::new(p.id.as_str()).expect("id"),
                    );
                    ResourceCalendar::from_schedule(key, &map[p.id.as_str()].0, &days, IntervalSet::new())
                })
                .collect()
        };
    let experts = person(vayla_domain::Role::Expert, &model.expert_availability);
    let interpreters = person(vayla_domain::Role::Interpreter, &model.interpreter_availability);
    let query = SlotQuery::new(spec.to_domain("bench"), cal.rule.clone(), now, 15 * MINUTE);
    let slots = find_slots(
        &query,
        &days,
        &Candidates { devices: &devices, experts: &experts, interpreters: Some(&interpreters) },
    )?;
    std::hint::black_box(slots);
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let a = args()?;
    let dir = tempfile::tempdir()?;
    write_config(&dir.path().join("rooms-config"))?;
    let config = Arc::new(load_dir(&dir.path().join("rooms-config")).map_err(|e| anyhow::anyhow!("{e}"))?);
    println!(
        "vayla-calbench: {} experts, {} interpreters, {} devices; {} searches, {} bookings per backend",
        EXPERTS,
        INTERPRETERS,
        config.devices.len(),
        a.searches,
        a.bookings
    );
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    run("SQLite", &sqlite, config.clone(), &a).await?;
    match std::env::var("VAYLA_TEST_PG_URL") {
        Ok(admin) if !admin.trim().is_empty() => {
            let url = vayla_store::fresh_postgres_database(&admin).await?;
            let result = run("PostgreSQL", &url, config.clone(), &a).await;
            let _ = vayla_store::drop_postgres_database(&admin, &url).await;
            result?;
        }
        _ => println!("PostgreSQL: skipped (set VAYLA_TEST_PG_URL to include it)"),
    }
    Ok(())
}
