//! The calendar's promises as tests: DST around the last Sundays of March and October, holidays, buffers, notice
//! and horizon, fixed windows; and property tests that hold the interval arithmetic to a naive per-unit model and
//! the slot search to a direct check of every grid start.

use super::*;
use crate::ids::{Millis, SubjectId};
use chrono::{NaiveDate, TimeZone, Timelike, Utc, Weekday};
use proptest::prelude::*;

const WEEKDAYS: [Weekday; 5] = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];
const ALL_DAYS: [Weekday; 7] =
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn utc(y: i32, m: u32, day: u32, h: u32, min: u32) -> Millis {
    Utc.with_ymd_and_hms(y, m, day, h, min, 0).unwrap().timestamp_millis() as Millis
}

fn hel(y: i32, m: u32, day: u32, h: u32, min: u32) -> Millis {
    local_to_utc(d(y, m, day), LocalTime::hm(h, min))
}

fn key(kind: ResourceKind, id: &str) -> ResourceKey {
    ResourceKey::new(kind, SubjectId::new(id).unwrap())
}

fn service(duration_min: u64, before_min: u64, after_min: u64) -> Service {
    Service {
        id: "kela-interview".into(),
        agency: "kela".into(),
        duration: duration_min * MINUTE,
        buffer_before: before_min * MINUTE,
        buffer_after: after_min * MINUTE,
        min_notice: 0,
        horizon: 400 * DAY,
    }
}

fn office_hours() -> Schedule {
    Schedule::on_days(&WEEKDAYS, &[LocalRange::hm(9, 0, 16, 0)])
}

/// One device open `opening`, one expert available `expert`, no interpreter; the caller adjusts from there.
struct World {
    days: LocalDays,
    devices: Vec<ResourceCalendar>,
    experts: Vec<ResourceCalendar>,
    interpreters: Option<Vec<ResourceCalendar>>,
}

impl World {
    fn new(from: NaiveDate, to: NaiveDate, opening: &Schedule, expert: &Schedule) -> World {
        let days = LocalDays::new(from, to).unwrap();
        let devices = vec![ResourceCalendar::device(
            key(ResourceKind::Device, "mikkeli-1"),
            opening,
            None,
            &days,
            IntervalSet::new(),
        )];
        let experts = vec![ResourceCalendar::from_schedule(
            key(ResourceKind::Expert, "kela-anna"),
            expert,
            &days,
            IntervalSet::new(),
        )];
        World { days, devices, experts, interpreters: None }
    }

    fn candidates(&self) -> Candidates<'_> {
        Candidates { devices: &self.devices, experts: &self.experts, interpreters: self.interpreters.as_deref() }
    }

    fn search(&self, query: &SlotQuery) -> Vec<Slot> {
        find_slots(query, &self.days, &self.candidates()).unwrap()
    }

    fn starts(&self, query: &SlotQuery) -> Vec<Millis> {
        self.search(query).iter().map(|s| s.start).collect()
    }
}

fn query(service: Service, step_min: u64) -> SlotQuery {
    // "Now" is New Year 2026 and the horizon 400 days, so neither matters unless a test sets them.
    SlotQuery::new(service, AgencyRule::AppointmentOnly, utc(2026, 1, 1, 0, 0), step_min * MINUTE)
}

fn starts_on(starts: &[Millis], date: NaiveDate) -> Vec<Millis> {
    starts.iter().copied().filter(|&s| local_date(s) == date).collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Time zone and DST

#[test]
fn the_time_zone_database_is_the_pinned_one() {
    // Bumping chrono-tz changes this; update the docs (zone.rs, mod.rs, Cargo.toml) with it.
    assert_eq!(TZDATA_VERSION, "2025b");
}

#[test]
fn office_hours_around_the_march_change_have_the_right_utc_instants() {
    // 2026's last Sunday of March is the 29th: clocks go 03:00 EET → 04:00 EEST.
    let days = LocalDays::new(d(2026, 3, 23), d(2026, 4, 2)).unwrap();
    let every_day = Schedule::on_days(&ALL_DAYS, &[LocalRange::hm(9, 0, 16, 0)]);
    let set = every_day.to_utc(&days);
    let spans = set.intervals();
    assert_eq!(spans.len(), 11);
    for (i, day) in days.days().iter().enumerate() {
        let date = day.date;
        let (h_start, h_end) = if date < d(2026, 3, 29) { (7, 14) } else { (6, 13) };
        use chrono::Datelike;
        assert_eq!(
            spans[i],
            Interval::new(
                utc(2026, date.month(), date.day(), h_start, 0),
                utc(2026, date.month(), date.day(), h_end, 0)
            )
        );
        assert_eq!(utc_offset_minutes(spans[i].start), if date < d(2026, 3, 29) { 120 } else { 180 }, "{date}");
        assert_eq!(spans[i].len(), 7 * HOUR);
    }
    let sunday = days.get(d(2026, 3, 29)).unwrap();
    assert!(sunday.has_clock_change());
    assert_eq!(sunday.end - sunday.start, 23 * HOUR);
    assert!(!days.get(d(2026, 3, 28)).unwrap().has_clock_change());
}

#[test]
fn office_hours_around_the_october_change_have_the_right_utc_instants() {
    // 2026's last Sunday of October is the 25th: clocks go 04:00 EEST → 03:00 EET.
    let days = LocalDays::new(d(2026, 10, 19), d(2026, 10, 30)).unwrap();
    let set = Schedule::on_days(&ALL_DAYS, &[LocalRange::hm(9, 0, 16, 0)]).to_utc(&days);
    for (day, span) in days.days().iter().zip(set.intervals()) {
        use chrono::Datelike;
        let summer = day.date < d(2026, 10, 25);
        let h = if summer { 6 } else { 7 };
        assert_eq!(*span, Interval::new(utc(2026, 10, day.date.day(), h, 0), utc(2026, 10, day.date.day(), h + 7, 0)));
        assert_eq!(utc_offset_minutes(span.start), if summer { 180 } else { 120 });
    }
    let sunday = days.get(d(2026, 10, 25)).unwrap();
    assert_eq!(sunday.end - sunday.start, 25 * HOUR);
}

#[test]
fn slots_in_the_dst_week_follow_the_wall_clock() {
    let w = World::new(d(2026, 3, 26), d(2026, 3, 31), &office_hours(), &office_hours());
    let starts = w.starts(&query(service(60, 0, 0), 60));
    // Thu, Fri before the change; Mon, Tue after: 09..15 local each day, 7 slots a day.
    assert_eq!(starts.len(), 4 * 7);
    assert_eq!(starts[0], utc(2026, 3, 26, 7, 0));
    assert_eq!(starts_on(&starts, d(2026, 3, 30))[0], utc(2026, 3, 30, 6, 0));
    assert_eq!(*starts.last().unwrap(), utc(2026, 3, 31, 12, 0));
}

#[test]
fn a_nonexistent_wall_time_maps_to_the_end_of_the_gap() {
    let sunday = d(2026, 3, 29);
    assert_eq!(
        classify_local(sunday, LocalTime::hm(3, 30)),
        LocalInstant::Nonexistent { gap_end: utc(2026, 3, 29, 1, 0) }
    );
    assert_eq!(classify_local(sunday, LocalTime::hm(2, 59)), LocalInstant::Single(utc(2026, 3, 29, 0, 59)));
    assert_eq!(classify_local(sunday, LocalTime::hm(4, 0)), LocalInstant::Single(utc(2026, 3, 29, 1, 0)));
    let days = LocalDays::new(sunday, sunday).unwrap();
    let day = &days.days()[0];
    assert_eq!(LocalRange::hm(3, 30, 5, 0).on(day), Interval::new(utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0)));
    assert!(LocalRange::hm(3, 0, 4, 0).on(day).is_empty(), "a range wholly inside the gap is empty");
    assert_eq!(day.slot_start(LocalTime::hm(3, 15)), None, "a slot start in the gap is skipped");
}

#[test]
fn an_ambiguous_wall_time_takes_the_earlier_instant() {
    let sunday = d(2026, 10, 25);
    assert_eq!(
        classify_local(sunday, LocalTime::hm(3, 30)),
        LocalInstant::Ambiguous { earlier: utc(2026, 10, 25, 0, 30), later: utc(2026, 10, 25, 1, 30) }
    );
    assert_eq!(local_to_utc(sunday, LocalTime::hm(3, 30)), utc(2026, 10, 25, 0, 30));
}

#[test]
fn an_all_day_grid_skips_the_gap_and_the_second_pass_of_the_fold() {
    let all_day = Schedule { closed_on_holidays: true, ..Schedule::on_days(&ALL_DAYS, &[LocalRange::hm(0, 0, 24, 0)]) };
    let q = query(service(30, 0, 0), 60);

    let w = World::new(d(2026, 3, 29), d(2026, 3, 29), &all_day, &all_day);
    let starts = w.starts(&q);
    assert_eq!(starts.len(), 23, "no 03:00 on the spring Sunday");
    assert!(starts.windows(2).all(|p| p[1] - p[0] == HOUR), "every start an hour apart in real time too");
    assert_eq!((starts[2], starts[3]), (hel(2026, 3, 29, 2, 0), hel(2026, 3, 29, 4, 0)));
    assert_eq!(starts[3], utc(2026, 3, 29, 1, 0));

    let w = World::new(d(2026, 10, 25), d(2026, 10, 25), &all_day, &all_day);
    let starts = w.starts(&q);
    assert_eq!(starts.len(), 24, "03:00 once, in summer time");
    assert!(starts.contains(&utc(2026, 10, 25, 0, 0)), "03:00 EEST");
    assert!(!starts.contains(&utc(2026, 10, 25, 1, 0)), "not 03:00 EET");
    assert_eq!(starts[4] - starts[3], 2 * HOUR, "03:00 EEST → 04:00 EET is two real hours");
}

#[test]
fn availability_across_midnight_joins_up() {
    let days = LocalDays::new(d(2026, 5, 4), d(2026, 5, 5)).unwrap();
    let s = Schedule::weekly(vec![
        WeeklyRange::new(Weekday::Mon, LocalRange::hm(20, 0, 24, 0)),
        WeeklyRange::new(Weekday::Tue, LocalRange::hm(0, 0, 2, 0)),
    ]);
    assert_eq!(s.to_utc(&days).intervals(), &[Interval::new(utc(2026, 5, 4, 17, 0), utc(2026, 5, 4, 23, 0))]);
}

// ---------------------------------------------------------------------------------------------------------------
// Holidays and exceptions

#[test]
fn no_slots_on_midsummer_eve() {
    let w = World::new(d(2026, 6, 15), d(2026, 6, 21), &office_hours(), &office_hours());
    let starts = w.starts(&query(service(60, 0, 0), 60));
    assert_eq!(starts_on(&starts, d(2026, 6, 18)).len(), 7);
    assert!(starts_on(&starts, d(2026, 6, 19)).is_empty(), "Midsummer Eve is closed");
    assert_eq!(starts.len(), 4 * 7);
}

#[test]
fn no_slots_at_christmas_unless_someone_opens_on_purpose() {
    let w = World::new(d(2026, 12, 21), d(2026, 12, 27), &office_hours(), &office_hours());
    let q = query(service(60, 0, 0), 60);
    let starts = w.starts(&q);
    for day in [21, 22, 23] {
        assert_eq!(starts_on(&starts, d(2026, 12, day)).len(), 7);
    }
    for day in [24, 25, 26] {
        assert!(starts_on(&starts, d(2026, 12, day)).is_empty(), "{day} Dec");
    }

    // A dated exception can open a holiday, but the query still refuses unless it allows holidays.
    let open =
        office_hours().with_exception(d(2026, 12, 24), ExceptionChange::Replace(vec![LocalRange::hm(9, 0, 12, 0)]));
    let w = World::new(d(2026, 12, 21), d(2026, 12, 27), &open, &open);
    assert!(starts_on(&w.starts(&q), d(2026, 12, 24)).is_empty());
    let q = SlotQuery { allow_holidays: true, ..q };
    assert_eq!(starts_on(&w.starts(&q), d(2026, 12, 24)).len(), 3);
    assert!(starts_on(&w.starts(&q), d(2026, 12, 25)).is_empty(), "the schedule itself is closed on Christmas");
}

#[test]
fn exceptions_add_remove_and_replace_hours() {
    let expert = office_hours()
        .with_exception(d(2026, 5, 4), ExceptionChange::Unavailable(vec![LocalRange::hm(12, 0, 13, 0)]))
        .with_exception(d(2026, 5, 5), ExceptionChange::DayOff)
        .with_exception(d(2026, 5, 6), ExceptionChange::Replace(vec![LocalRange::hm(14, 0, 15, 0)]))
        .with_exception(d(2026, 5, 9), ExceptionChange::Extra(vec![LocalRange::hm(10, 0, 12, 0)]));
    let every_day = Schedule::on_days(&ALL_DAYS, &[LocalRange::hm(8, 0, 18, 0)]);
    let w = World::new(d(2026, 5, 4), d(2026, 5, 10), &every_day, &expert);
    let starts = w.starts(&query(service(60, 0, 0), 60));
    let hours = |day| -> Vec<u32> {
        starts_on(&starts, d(2026, 5, day))
            .into_iter()
            .map(|s| HELSINKI.timestamp_millis_opt(s as i64).unwrap().hour())
            .collect()
    };
    assert_eq!(hours(4), vec![9, 10, 11, 13, 14, 15]);
    assert_eq!(hours(5), Vec::<u32>::new());
    assert_eq!(hours(6), vec![14]);
    assert_eq!(hours(7), vec![9, 10, 11, 12, 13, 14, 15]);
    assert_eq!(hours(9), vec![10, 11], "an extra Saturday shift");
    assert_eq!(hours(10), Vec::<u32>::new());
}

#[test]
fn the_device_is_bookable_only_while_its_service_point_is_open() {
    let point = Schedule::on_days(&WEEKDAYS, &[LocalRange::hm(10, 0, 12, 0)]);
    let w = World::new(d(2026, 5, 4), d(2026, 5, 4), &point, &office_hours());
    assert_eq!(
        w.starts(&query(service(30, 0, 0), 30)),
        vec![hel(2026, 5, 4, 10, 0), hel(2026, 5, 4, 10, 30), hel(2026, 5, 4, 11, 0), hel(2026, 5, 4, 11, 30)]
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Buffers, notice, horizon, fixed windows

#[test]
fn buffers_keep_clear_of_existing_bookings() {
    let mut w = World::new(d(2026, 5, 4), d(2026, 5, 4), &office_hours(), &office_hours());
    // An existing 10:00–11:00 booking, stored as its busy span (here with no buffers of its own).
    w.experts[0].busy = IntervalSet::single(hel(2026, 5, 4, 10, 0), hel(2026, 5, 4, 11, 0));
    let q = query(service(30, 15, 15), 15);
    let starts = w.starts(&q);
    // The new 30-minute appointment needs 15 minutes clear on each side.
    assert!(starts.contains(&hel(2026, 5, 4, 9, 15)), "ends 09:45, after-buffer to 10:00");
    assert!(!starts.contains(&hel(2026, 5, 4, 9, 30)));
    assert!(!starts.contains(&hel(2026, 5, 4, 11, 0)));
    assert!(starts.contains(&hel(2026, 5, 4, 11, 15)), "before-buffer from 11:00");
    // A buffer may reach outside availability: the first slot is at opening time.
    assert_eq!(starts[0], hel(2026, 5, 4, 9, 0));
    assert_eq!(*starts.last().unwrap(), hel(2026, 5, 4, 15, 30));

    let refusal = check_slot(&q, &w.days, hel(2026, 5, 4, 9, 30), &w.devices[0], &w.experts[0], None);
    assert_eq!(refusal, Err(SlotRefusal::Busy(w.experts[0].key.clone())));
    assert_eq!(check_slot(&q, &w.days, hel(2026, 5, 4, 9, 15), &w.devices[0], &w.experts[0], None), Ok(()));
}

#[test]
fn a_booking_busy_span_blocks_the_next_search() {
    let s = service(30, 10, 5);
    let start = hel(2026, 5, 4, 10, 0);
    assert_eq!(s.busy_span(start), Interval::new(start - 10 * MINUTE, start + 35 * MINUTE));
    let mut w = World::new(d(2026, 5, 4), d(2026, 5, 4), &office_hours(), &office_hours());
    w.devices[0].busy = IntervalSet::from_intervals(vec![s.busy_span(start)]);
    let starts = w.starts(&query(s, 5));
    // Back to back: the booked appointment's after-buffer (5) plus the new one's before-buffer (10).
    assert!(starts.contains(&(start + 45 * MINUTE)));
    assert!(!starts.contains(&(start + 40 * MINUTE)));
    assert!(starts.contains(&(start - 45 * MINUTE)));
    assert!(!starts.contains(&(start - 40 * MINUTE)));
}

#[test]
fn notice_and_horizon_bound_the_starts() {
    let w = World::new(d(2026, 5, 4), d(2026, 5, 15), &office_hours(), &office_hours());
    let mut s = service(60, 0, 0);
    s.min_notice = 2 * HOUR;
    s.horizon = 2 * DAY;
    let now = hel(2026, 5, 4, 9, 0);
    let q = SlotQuery { now, ..query(s, 60) };
    let starts = w.starts(&q);
    assert_eq!(starts[0], hel(2026, 5, 4, 11, 0));
    assert_eq!(*starts.last().unwrap(), hel(2026, 5, 6, 9, 0), "the horizon is inclusive");
    assert_eq!(starts.len(), 5 + 7 + 1);
    let (dev, exp) = (&w.devices[0], &w.experts[0]);
    assert_eq!(
        check_slot(&q, &w.days, hel(2026, 5, 4, 10, 0), dev, exp, None),
        Err(SlotRefusal::TooSoon { earliest: hel(2026, 5, 4, 11, 0) })
    );
    assert_eq!(
        check_slot(&q, &w.days, hel(2026, 5, 6, 10, 0), dev, exp, None),
        Err(SlotRefusal::BeyondHorizon { latest: hel(2026, 5, 6, 9, 0) })
    );
}

#[test]
fn fixed_windows_confine_the_appointment() {
    let windows = vec![
        WeeklyRange::new(Weekday::Tue, LocalRange::hm(9, 0, 11, 0)),
        WeeklyRange::new(Weekday::Thu, LocalRange::hm(13, 0, 15, 0)),
    ];
    let expert = Schedule::on_days(&WEEKDAYS, &[LocalRange::hm(8, 0, 16, 0)]);
    let w = World::new(d(2026, 5, 4), d(2026, 5, 10), &expert, &expert);
    let q = SlotQuery { rule: AgencyRule::FixedWindows(windows), ..query(service(60, 15, 15), 30) };
    let starts = w.starts(&q);
    assert_eq!(
        starts,
        vec![
            hel(2026, 5, 5, 9, 0),
            hel(2026, 5, 5, 9, 30),
            hel(2026, 5, 5, 10, 0),
            hel(2026, 5, 7, 13, 0),
            hel(2026, 5, 7, 13, 30),
            hel(2026, 5, 7, 14, 0),
        ]
    );
    assert_eq!(
        check_slot(&q, &w.days, hel(2026, 5, 5, 10, 30), &w.devices[0], &w.experts[0], None),
        Err(SlotRefusal::OutsideWindows)
    );
    // Ascension Day 2026 is Thursday 14 May: its window is closed.
    let w = World::new(d(2026, 5, 11), d(2026, 5, 17), &expert, &expert);
    assert_eq!(w.starts(&q).len(), 3);
}

// ---------------------------------------------------------------------------------------------------------------
// Several candidates, interpreters, picking

#[test]
fn an_interpreter_when_needed_narrows_the_slots_and_is_named() {
    let mut w = World::new(d(2026, 5, 4), d(2026, 5, 4), &office_hours(), &office_hours());
    let days = &w.days;
    let fse = Schedule::on_days(&WEEKDAYS, &[LocalRange::hm(12, 0, 14, 0)]);
    let interpreters = vec![
        ResourceCalendar::from_schedule(key(ResourceKind::Interpreter, "tulkki-a"), &fse, days, IntervalSet::new()),
        ResourceCalendar::from_schedule(
            key(ResourceKind::Interpreter, "tulkki-b"),
            &fse,
            days,
            IntervalSet::single(hel(2026, 5, 4, 12, 0), hel(2026, 5, 4, 13, 0)),
        ),
    ];
    w.interpreters = Some(interpreters);
    let slots = w.search(&query(service(60, 0, 0), 60));
    assert_eq!(slots.len(), 2);
    assert_eq!((slots[0].start, slots[0].interpreters.clone()), (hel(2026, 5, 4, 12, 0), vec![0]));
    assert_eq!((slots[1].start, slots[1].interpreters.clone()), (hel(2026, 5, 4, 13, 0), vec![0, 1]));
    assert_eq!(w.candidates().interpreter(1).unwrap().to_string(), "interpreter:tulkki-b");

    w.interpreters = Some(Vec::new());
    assert!(w.search(&query(service(60, 0, 0), 60)).is_empty(), "needed but nobody to ask: no slots");
}

#[test]
fn any_expert_of_the_agency_and_several_devices() {
    let days = LocalDays::new(d(2026, 5, 4), d(2026, 5, 4)).unwrap();
    let morning = Schedule::on_days(&WEEKDAYS, &[LocalRange::hm(9, 0, 12, 0)]);
    let afternoon = Schedule::on_days(&WEEKDAYS, &[LocalRange::hm(12, 0, 16, 0)]);
    let experts = vec![
        ResourceCalendar::from_schedule(key(ResourceKind::Expert, "kela-anna"), &morning, &days, IntervalSet::new()),
        ResourceCalendar::from_schedule(key(ResourceKind::Expert, "kela-ville"), &afternoon, &days, IntervalSet::new()),
    ];
    let devices = vec![
        ResourceCalendar::device(
            key(ResourceKind::Device, "mikkeli-1"),
            &office_hours(),
            None,
            &days,
            IntervalSet::new(),
        ),
        ResourceCalendar::device(
            key(ResourceKind::Device, "parainen-1"),
            &office_hours(),
            Some(&morning),
            &days,
            IntervalSet::single(hel(2026, 5, 4, 9, 0), hel(2026, 5, 4, 10, 0)),
        ),
    ];
    let c = Candidates { devices: &devices, experts: &experts, interpreters: None };
    let q = query(service(60, 0, 0), 60);
    let slots = find_slots(&q, &days, &c).unwrap();
    assert_eq!(slots.len(), 7);
    assert_eq!(slots[0].devices, vec![0]);
    assert_eq!(slots[1].devices, vec![0, 1]);
    assert_eq!(slots[1].experts, vec![0]);
    assert_eq!(slots[3].experts, vec![1]);
    assert_eq!(slots[3].devices, vec![0]);

    let first = find_slots(&SlotQuery { pick: Pick::FirstFree, limit: Some(2), ..q }, &days, &c).unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!((first[1].devices.clone(), first[1].experts.clone()), (vec![0], vec![0]));
}

#[test]
fn bad_input_is_refused() {
    let days = LocalDays::new(d(2026, 5, 4), d(2026, 5, 4)).unwrap();
    let c = Candidates { devices: &[], experts: &[], interpreters: None };
    assert_eq!(find_slots(&query(service(30, 0, 0), 0), &days, &c), Err(CalendarError::BadStep(0)));
    let q = SlotQuery { step: 90_000, ..query(service(30, 0, 0), 1) };
    assert_eq!(find_slots(&q, &days, &c), Err(CalendarError::BadStep(90_000)));
    assert!(matches!(find_slots(&query(service(0, 0, 0), 15), &days, &c), Err(CalendarError::ZeroDuration(_))));
    assert!(LocalDays::new(d(2026, 5, 4), d(2026, 5, 3)).is_err());
    assert!(matches!(LocalDays::new(d(2026, 1, 1), d(2028, 1, 1)), Err(CalendarError::RangeTooLong { .. })));
    assert!(LocalRange::new(LocalTime::hm(10, 0), LocalTime::hm(10, 0)).is_err());
    assert!("24:01".parse::<LocalTime>().is_err());
    assert!("7:5".parse::<LocalTime>().is_err());
    assert_eq!("7:05".parse::<LocalTime>(), Ok(LocalTime::hm(7, 5)));
    assert!("room:x".parse::<ResourceKey>().is_err());
}

#[test]
fn rules_read_and_write_as_json() {
    let json = r#"{
        "weekly": [{"weekday": "Tue", "start": "09:00", "end": "11:00"},
                   {"weekday": "Thu", "start": "13:00", "end": "24:00"}],
        "exceptions": [{"date": "2026-12-23", "change": "replace", "ranges": [{"start": "09:00", "end": "12:00"}]},
                       {"date": "2026-12-28", "change": "day_off"}]
    }"#;
    let s: Schedule = serde_json::from_str(json).unwrap();
    assert!(s.closed_on_holidays);
    assert_eq!(s.weekly[1].range, LocalRange::hm(13, 0, 24, 0));
    assert_eq!(s.exceptions[1].change, ExceptionChange::DayOff);
    let back: Schedule = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);
    assert!(serde_json::from_str::<LocalRange>(r#"{"start": "11:00", "end": "09:00"}"#).is_err());

    let rule = AgencyRule::FixedWindows(vec![WeeklyRange::new(Weekday::Tue, LocalRange::hm(9, 0, 11, 0))]);
    let text = serde_json::to_string(&rule).unwrap();
    assert_eq!(serde_json::from_str::<AgencyRule>(&text).unwrap(), rule);
    assert_eq!(serde_json::to_string(&AgencyRule::AppointmentOnly).unwrap(), r#"{"rule":"appointment_only"}"#);

    let k: ResourceKey = serde_json::from_str(r#""expert:kela-anna""#).unwrap();
    assert_eq!(k, key(ResourceKind::Expert, "kela-anna"));
    let set: IntervalSet = serde_json::from_str(r#"[{"start": 5, "end": 9}, {"start": 1, "end": 5}]"#).unwrap();
    assert_eq!(set.intervals(), &[Interval::new(1, 9)]);
}

// ---------------------------------------------------------------------------------------------------------------
// Properties: IntervalSet against a per-unit model

const N: u64 = 160;
const PAD: u64 = 40;

fn arb_set() -> impl Strategy<Value = (Vec<Interval>, IntervalSet)> {
    proptest::collection::vec((0..N, 0..30u64), 0..8).prop_map(|v| {
        let raw: Vec<Interval> = v.into_iter().map(|(s, len)| Interval::new(s + PAD, (s + len).min(N) + PAD)).collect();
        (raw.clone(), IntervalSet::from_intervals(raw))
    })
}

/// Membership of every unit `0 .. N + 2·PAD`, from raw (unnormalised) intervals.
fn model(raw: &[Interval]) -> Vec<bool> {
    let mut m = vec![false; (N + 2 * PAD) as usize];
    for i in raw {
        for t in i.start..i.end {
            m[t as usize] = true;
        }
    }
    m
}

fn of_set(s: &IntervalSet) -> Vec<bool> {
    model(s.intervals())
}

fn assert_normal(s: &IntervalSet) {
    for i in s.intervals() {
        assert!(!i.is_empty());
    }
    for p in s.intervals().windows(2) {
        assert!(p[0].end < p[1].start, "sorted, disjoint and not touching: {:?}", s);
    }
}

proptest! {
    #[test]
    fn interval_set_ops_agree_with_the_unit_model(
        (ra, a) in arb_set(), (rb, b) in arb_set(), before in 0..PAD, after in 0..PAD, len in 1..20u64, t in 0..N + 2 * PAD,
    ) {
        let (ma, mb) = (model(&ra), model(&rb));
        assert_normal(&a);
        prop_assert_eq!(of_set(&a), ma.clone());
        let zip = |f: fn(bool, bool) -> bool| -> Vec<bool> { ma.iter().zip(&mb).map(|(&x, &y)| f(x, y)).collect() };
        let u = a.union(&b);
        let i = a.intersect(&b);
        let s = a.subtract(&b);
        for set in [&u, &i, &s] { assert_normal(set); }
        prop_assert_eq!(of_set(&u), zip(|x, y| x || y));
        prop_assert_eq!(of_set(&i), zip(|x, y| x && y));
        prop_assert_eq!(of_set(&s), zip(|x, y| x && !y));
        prop_assert_eq!(IntervalSet::union_all([&a, &b]), u.clone());
        prop_assert_eq!(a.total(), ma.iter().filter(|&&x| x).count() as u64);

        let widened: Vec<Interval> = ra.iter().filter(|i| !i.is_empty()).map(|i| Interval::new(i.start - before, i.end + after)).collect();
        let e = a.expand(before, after);
        assert_normal(&e);
        prop_assert_eq!(of_set(&e), model(&widened));

        let fit = a.starts_fitting(len);
        assert_normal(&fit);
        let naive_fit: Vec<bool> = (0..ma.len()).map(|s| s + len as usize <= ma.len() && ma[s..s + len as usize].iter().all(|&x| x)).collect();
        prop_assert_eq!(of_set(&fit), naive_fit);

        prop_assert_eq!(a.contains(t), ma[t as usize]);
        let probe = Interval::new(t, (t + len).min(N + 2 * PAD));
        let slice = &ma[probe.start as usize..probe.end as usize];
        prop_assert_eq!(a.covers(&probe), slice.iter().all(|&x| x));
        prop_assert_eq!(a.overlaps(&probe), slice.iter().any(|&x| x));

        let mut cursor = Cursor::new(&a);
        for (t, &m) in ma.iter().enumerate() {
            prop_assert_eq!(cursor.contains(t as u64), m);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Properties: slot search against a direct check of every grid start

/// Four days around the spring change (Fri 27 – Mon 30 March 2026), so DST is always in play.
fn prop_days() -> LocalDays {
    LocalDays::new(d(2026, 3, 27), d(2026, 3, 30)).unwrap()
}

fn arb_ranges() -> impl Strategy<Value = Vec<LocalRange>> {
    proptest::collection::vec((0..88u32, 4..56u32), 1..3).prop_map(|v| {
        v.into_iter()
            .map(|(q, len)| {
                let start = q * 15;
                let end = (start + len * 15).min(24 * 60);
                LocalRange::new(LocalTime::from_minutes(start).unwrap(), LocalTime::from_minutes(end).unwrap()).unwrap()
            })
            .collect()
    })
}

fn arb_schedule() -> impl Strategy<Value = Schedule> {
    (arb_ranges(), arb_ranges(), any::<bool>()).prop_map(|(weekdays, weekend, sunday_off)| {
        let mut s = Schedule::on_days(&WEEKDAYS, &weekdays);
        s.weekly.extend(Schedule::on_days(&[Weekday::Sat, Weekday::Sun], &weekend).weekly);
        if sunday_off {
            s = s.with_exception(d(2026, 3, 29), ExceptionChange::DayOff);
        }
        s
    })
}

fn arb_busy() -> impl Strategy<Value = IntervalSet> {
    let (from, to) = prop_days().span();
    proptest::collection::vec((from..to, 1..180u64), 0..5).prop_map(|v| {
        v.into_iter().map(|(s, len)| Interval::new(s / MINUTE * MINUTE, s / MINUTE * MINUTE + len * MINUTE)).collect()
    })
}

fn arb_calendar(kind: ResourceKind, n: usize) -> impl Strategy<Value = ResourceCalendar> {
    (arb_schedule(), arb_busy()).prop_map(move |(schedule, busy)| {
        ResourceCalendar::from_schedule(key(kind, &format!("r-{n}")), &schedule, &prop_days(), busy)
    })
}

#[derive(Debug, Clone)]
struct Scenario {
    query: SlotQuery,
    devices: Vec<ResourceCalendar>,
    experts: Vec<ResourceCalendar>,
    interpreters: Option<Vec<ResourceCalendar>>,
}

impl Scenario {
    fn candidates(&self) -> Candidates<'_> {
        Candidates { devices: &self.devices, experts: &self.experts, interpreters: self.interpreters.as_deref() }
    }
}

fn arb_scenario() -> impl Strategy<Value = Scenario> {
    let (from, _) = prop_days().span();
    let service = (1..12u64, 0..4u64, 0..4u64, 0..24u64, 1..6u64).prop_map(|(dur, bb, ba, notice, horizon)| Service {
        duration: dur * 10 * MINUTE,
        buffer_before: bb * 5 * MINUTE,
        buffer_after: ba * 5 * MINUTE,
        min_notice: notice * HOUR,
        horizon: horizon * DAY,
        ..service(1, 0, 0)
    });
    let rule = prop_oneof![
        3 => Just(AgencyRule::AppointmentOnly),
        1 => arb_ranges().prop_map(|r| AgencyRule::FixedWindows(
            r.into_iter()
                .flat_map(|r| [WeeklyRange::new(Weekday::Fri, r), WeeklyRange::new(Weekday::Mon, r)])
                .collect()
        )),
    ];
    let resources =
        |kind, max: usize| (1..=max).prop_flat_map(move |n| (0..n).map(|i| arb_calendar(kind, i)).collect::<Vec<_>>());
    (
        service,
        rule,
        0..DAY,
        prop::sample::select(vec![5u64, 10, 15, 20, 30, 45, 60]),
        resources(ResourceKind::Device, 2),
        resources(ResourceKind::Expert, 3),
        proptest::option::of(resources(ResourceKind::Interpreter, 2)),
    )
        .prop_map(move |(service, rule, now_offset, step, devices, experts, interpreters)| Scenario {
            query: SlotQuery::new(service, rule, from - 12 * HOUR + now_offset, step * MINUTE),
            devices,
            experts,
            interpreters,
        })
}

/// Every wall-clock grid start over the days, by the zone policy (gap skipped, fold's earlier pass).
fn oracle_grid(days: &LocalDays, step: DurationMs) -> Vec<Millis> {
    let mut out = Vec::new();
    for day in days.days() {
        for m in (0..24 * 60).step_by((step / MINUTE) as usize) {
            match classify_local(day.date, LocalTime::from_minutes(m).unwrap()) {
                LocalInstant::Single(t) | LocalInstant::Ambiguous { earlier: t, .. } => out.push(t),
                LocalInstant::Nonexistent { .. } => {}
            }
        }
    }
    out
}

fn local_minute_of_day(t: Millis) -> u32 {
    let local = HELSINKI.timestamp_millis_opt(t as i64).unwrap();
    local.hour() * 60 + local.minute()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn slot_search_is_exactly_the_directly_checked_grid(sc in arb_scenario()) {
        let days = prop_days();
        let slots = find_slots(&sc.query, &days, &sc.candidates()).unwrap();
        let service = &sc.query.service;
        let none: [Option<&ResourceCalendar>; 1] = [None];
        let interps: Vec<Option<&ResourceCalendar>> = match &sc.interpreters {
            Some(list) => list.iter().map(Some).collect(),
            None => none.to_vec(),
        };

        // Soundness, spelled out: each reported resource really is free and available.
        for slot in &slots {
            prop_assert_eq!(slot.end - slot.start, service.duration);
            prop_assert_eq!(local_minute_of_day(slot.start) as u64 % (sc.query.step / MINUTE), 0);
            let appointment = service.appointment(slot.start);
            let buffered = service.busy_span(slot.start);
            let named = slot.devices.iter().map(|&i| &sc.devices[i as usize])
                .chain(slot.experts.iter().map(|&i| &sc.experts[i as usize]))
                .chain(slot.interpreters.iter().map(|&i| &sc.interpreters.as_ref().unwrap()[i as usize]));
            for r in named {
                prop_assert!(r.available.covers(&appointment), "{} not available for {}", r.key, appointment);
                prop_assert!(!r.busy.overlaps(&buffered), "{} busy within {}", r.key, buffered);
            }
            prop_assert!(slot.start >= sc.query.now + service.min_notice);
            prop_assert!(slot.start <= sc.query.now + service.horizon);
        }

        // Completeness and exactness: at every grid start, the free resources are exactly those the direct check
        // accepts with some partner of each other kind.
        let mut expected = Vec::new();
        for s in oracle_grid(&days, sc.query.step) {
            let ok = |dev: &ResourceCalendar, exp: &ResourceCalendar, int: Option<&ResourceCalendar>| {
                check_slot(&sc.query, &days, s, dev, exp, int).is_ok()
            };
            let mut devs = Vec::new();
            let mut exps = Vec::new();
            let mut ints = Vec::new();
            for (di, dev) in sc.devices.iter().enumerate() {
                for (ei, exp) in sc.experts.iter().enumerate() {
                    for (ii, int) in interps.iter().enumerate() {
                        if ok(dev, exp, *int) {
                            devs.push(di as u32);
                            exps.push(ei as u32);
                            if int.is_some() { ints.push(ii as u32); }
                        }
                    }
                }
            }
            for v in [&mut devs, &mut exps, &mut ints] { v.sort(); v.dedup(); }
            if !devs.is_empty() {
                expected.push(Slot { start: s, end: s + service.duration, devices: devs, experts: exps, interpreters: ints });
            }
        }
        prop_assert_eq!(&slots, &expected);

        // FirstFree reports the first of each AllFree list; a limit keeps a prefix.
        let first = find_slots(&SlotQuery { pick: Pick::FirstFree, limit: Some(3), ..sc.query.clone() }, &days, &sc.candidates()).unwrap();
        prop_assert_eq!(first.len(), slots.len().min(3));
        for (f, a) in first.iter().zip(&slots) {
            prop_assert_eq!(f.start, a.start);
            prop_assert_eq!(&f.devices, &vec![a.devices[0]]);
            prop_assert_eq!(&f.experts, &vec![a.experts[0]]);
            prop_assert_eq!(f.interpreters.first(), a.interpreters.first());
        }
    }

    #[test]
    fn removing_busy_time_never_removes_a_slot(sc in arb_scenario(), which in 0..3usize, drop in 0..5usize) {
        let days = prop_days();
        let before = find_slots(&sc.query, &days, &sc.candidates()).unwrap();
        let mut freer = sc.clone();
        let list = match which {
            0 => &mut freer.devices,
            1 => &mut freer.experts,
            _ => freer.interpreters.as_mut().unwrap_or(&mut freer.devices),
        };
        let r = &mut list[0];
        let mut kept: Vec<Interval> = r.busy.intervals().to_vec();
        if !kept.is_empty() { kept.remove(drop % kept.len()); }
        r.busy = IntervalSet::from_intervals(kept);
        let after = find_slots(&freer.query, &days, &freer.candidates()).unwrap();
        let mut later = after.iter();
        for slot in &before {
            let found = later.find(|s| s.start == slot.start);
            prop_assert!(found.is_some(), "slot at {} lost", slot.start);
            let found = found.unwrap();
            for (old, new) in [(&slot.devices, &found.devices), (&slot.experts, &found.experts), (&slot.interpreters, &found.interpreters)] {
                prop_assert!(old.iter().all(|i| new.contains(i)), "a free resource became busy");
            }
        }
    }
}

proptest! {
    #[test]
    fn a_schedule_in_utc_is_exactly_the_instants_whose_wall_time_it_lists(weekdays in arb_ranges(), weekend in arb_ranges()) {
        // Checked from the other direction: UTC → wall time by chrono-tz, against the rules as written. The days
        // include the spring change, whose gap has no instants at all, so the two must agree everywhere.
        let days = prop_days();
        let mut s = Schedule::on_days(&WEEKDAYS, &weekdays);
        s.weekly.extend(Schedule::on_days(&[Weekday::Sat, Weekday::Sun], &weekend).weekly);
        let set = s.to_utc(&days);
        let (from, to) = days.span();
        for t in (from..to).step_by((5 * MINUTE) as usize) {
            use chrono::Datelike;
            let local = HELSINKI.timestamp_millis_opt(t as i64).unwrap();
            let minute = local.hour() * 60 + local.minute();
            let listed = s.weekly.iter().any(|w| {
                w.weekday == local.weekday() && w.range.start().minutes() <= minute && minute < w.range.end().minutes()
            });
            prop_assert_eq!(set.contains(t), listed, "at {} ({})", t, local);
        }
    }
}
