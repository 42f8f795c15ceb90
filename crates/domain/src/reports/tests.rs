//! Unit tests of the statistics, the Helsinki calendar words of the reports, and the money.

use super::period::iso_utc;
use super::*;
use crate::calendar::{local_to_utc, LocalTime};
use chrono::NaiveDate;

fn at(y: i32, m: u32, d: u32, hh: u32, mm: u32) -> crate::Millis {
    local_to_utc(NaiveDate::from_ymd_opt(y, m, d).unwrap(), LocalTime::hm(hh, mm))
}

#[test]
fn median_of_an_even_count_is_the_mean_of_the_two_middle_values() {
    let s = Summary::of(&[4, 1, 3, 2]);
    assert_eq!((s.count, s.mean, s.median), (4, Some(2.5), Some(2.5)));
    assert_eq!(Summary::of(&[5, 1, 3]).median, Some(3.0));
    assert_eq!(Summary::of(&[10, 20]).median, Some(15.0));
}

#[test]
fn p90_is_the_nearest_rank() {
    let ten: Vec<i64> = (1..=10).collect();
    assert_eq!(Summary::of(&ten).p90, Some(9.0), "rank ⌈0.9·10⌉ = 9");
    let eleven: Vec<i64> = (1..=11).collect();
    assert_eq!(Summary::of(&eleven).p90, Some(10.0), "rank ⌈9.9⌉ = 10");
    assert_eq!(Summary::of(&[7]).p90, Some(7.0));
    assert_eq!(Summary::of(&[1, 100]).p90, Some(100.0), "rank ⌈1.8⌉ = 2");
    let twenty: Vec<i64> = (1..=20).collect();
    assert_eq!(Summary::of(&twenty).p90, Some(18.0));
}

#[test]
fn no_values_no_figures() {
    let s = Summary::of(&[]);
    assert_eq!((s.count, s.mean, s.median, s.p90), (0, None, None, None));
    let d = DurationStats::of_millis(&[]);
    assert_eq!(d.mean_s, None);
}

#[test]
fn durations_are_seconds_to_a_tenth() {
    let d = DurationStats::of_millis(&[60_000, 90_000, 100_050]);
    assert_eq!(d.mean_s, Some(83.4)); // 250 050 / 3 = 83 350 ms
    assert_eq!(d.median_s, Some(90.0));
    assert_eq!(d.p90_s, Some(100.1)); // 100.05 s rounds half away from zero
}

#[test]
fn periods_are_bounded_by_helsinki_midnights() {
    let march = Period::new(2026, Some(3), None).unwrap();
    // 1 March is winter time (UTC+2), 1 April summer time (UTC+3): the month is 743 hours.
    assert_eq!(iso_utc(march.bounds().0), "2026-02-28T22:00:00Z");
    assert_eq!(iso_utc(march.bounds().1), "2026-03-31T21:00:00Z");
    assert_eq!((march.bounds().1 - march.bounds().0) / 3_600_000, 743);
    let q4 = Period::new(2025, None, Some(4)).unwrap();
    assert_eq!((q4.first_date().to_string(), q4.last_date().to_string()), ("2025-10-01".into(), "2025-12-31".into()));
    assert_eq!(q4.label(), "2025-Q4");
    assert_eq!(q4.year_to_date_label(), "2025-01..2025-12");
    let y = Period::new(2026, None, None).unwrap();
    assert_eq!(y.months().len(), 12);
    assert_eq!(iso_utc(y.year_to_date().0), "2025-12-31T22:00:00Z");
    assert!(Period::new(2026, Some(1), Some(1)).is_err());
    assert!(Period::new(2026, Some(13), None).is_err());
    assert!(Period::new(2026, None, Some(5)).is_err());
    assert!(Period::new(1999, None, None).is_err());
}

#[test]
fn a_late_evening_in_utc_is_the_next_local_month() {
    // 2026-03-31 21:30 UTC is 00:30 on 1 April in Helsinki (summer time).
    let t = at(2026, 4, 1, 0, 30);
    assert_eq!(iso_utc(t), "2026-03-31T21:30:00Z");
    assert_eq!(month_of(t).to_string(), "2026-04");
    assert_eq!(month_of(t - 3_600_000).to_string(), "2026-03");
}

#[test]
fn time_of_day_slots_follow_the_wall_clock_across_the_clock_changes() {
    assert_eq!(slot_of(at(2026, 3, 2, 7, 59)), TimeSlot::Other);
    assert_eq!(slot_of(at(2026, 3, 2, 8, 0)), TimeSlot::H08);
    assert_eq!(slot_of(at(2026, 3, 2, 9, 59)), TimeSlot::H08);
    assert_eq!(slot_of(at(2026, 3, 2, 10, 0)), TimeSlot::H10);
    assert_eq!(slot_of(at(2026, 3, 2, 13, 59)), TimeSlot::H12);
    assert_eq!(slot_of(at(2026, 3, 2, 15, 59)), TimeSlot::H14);
    assert_eq!(slot_of(at(2026, 3, 2, 16, 0)), TimeSlot::Other);
    // The same UTC time of day, 07:30 Z, is 09:30 in winter and 10:30 in summer (after 29 March 2026).
    let winter = at(2026, 3, 27, 9, 30);
    let summer = at(2026, 3, 30, 10, 30);
    assert_eq!((iso_utc(winter), iso_utc(summer)), ("2026-03-27T07:30:00Z".into(), "2026-03-30T07:30:00Z".into()));
    assert_eq!((slot_of(winter), slot_of(summer)), (TimeSlot::H08, TimeSlot::H10));
}

#[test]
fn prices_are_whole_cents() {
    assert_eq!("2.95".parse::<Cents>().unwrap(), Cents(295));
    assert_eq!("3".parse::<Cents>().unwrap(), Cents(300));
    assert_eq!("1.5".parse::<Cents>().unwrap(), Cents(150));
    assert_eq!(Cents(177).to_string(), "1.77");
    assert_eq!(Cents(5).to_string(), "0.05");
    for bad in ["", "-1", "2,95", "1.234", "abc", ".5", "1e3"] {
        assert!(bad.parse::<Cents>().is_err(), "{bad:?}");
    }
    let c: Cents = serde_json::from_str("2.95").unwrap();
    assert_eq!(c, Cents(295));
    assert_eq!(serde_json::to_string(&Cents(295)).unwrap(), "\"2.95\"");
    assert_eq!(Prices::PILOT.of(Task::ConnectionOpening), Cents(177));
}

#[test]
fn csv_quotes_only_what_needs_it() {
    let rows = [["a,b".to_string(), "say \"hi\"".to_string(), "plain".to_string()]];
    assert_eq!(csv::write(&["x", "y", "z"], &rows), "x,y,z\r\n\"a,b\",\"say \"\"hi\"\"\",plain\r\n");
}
