//! Finnish public holidays for any year, computed rather than listed, so the calendar never runs out of years.
//!
//! Fixed dates, the Easter cycle (Gregorian computus), and the three holidays Finland moved to a Saturday in 1955:
//! Midsummer Day (Saturday 20–26 June, its Eve the Friday before) and All Saints' Day (Saturday 31 Oct–6 Nov).
//! Christmas Eve and Midsummer Eve are not statutory holidays but every public office is closed on them, so they
//! count here: the calendar's question is "is the office open", not "what does the statute say".
//! Easter Sunday and Whit Sunday are Sundays anyway but are listed so a day view can name them.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// A day on which Finnish public offices are closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinnishHoliday {
    NewYearsDay,
    Epiphany,
    GoodFriday,
    EasterSunday,
    EasterMonday,
    MayDay,
    AscensionDay,
    WhitSunday,
    MidsummerEve,
    MidsummerDay,
    AllSaintsDay,
    IndependenceDay,
    ChristmasEve,
    ChristmasDay,
    StStephensDay,
}

impl FinnishHoliday {
    /// The Finnish name, as on a printed calendar.
    pub fn finnish_name(self) -> &'static str {
        match self {
            FinnishHoliday::NewYearsDay => "uudenvuodenpäivä",
            FinnishHoliday::Epiphany => "loppiainen",
            FinnishHoliday::GoodFriday => "pitkäperjantai",
            FinnishHoliday::EasterSunday => "pääsiäispäivä",
            FinnishHoliday::EasterMonday => "2. pääsiäispäivä",
            FinnishHoliday::MayDay => "vappu",
            FinnishHoliday::AscensionDay => "helatorstai",
            FinnishHoliday::WhitSunday => "helluntaipäivä",
            FinnishHoliday::MidsummerEve => "juhannusaatto",
            FinnishHoliday::MidsummerDay => "juhannuspäivä",
            FinnishHoliday::AllSaintsDay => "pyhäinpäivä",
            FinnishHoliday::IndependenceDay => "itsenäisyyspäivä",
            FinnishHoliday::ChristmasEve => "jouluaatto",
            FinnishHoliday::ChristmasDay => "joulupäivä",
            FinnishHoliday::StStephensDay => "tapaninpäivä",
        }
    }
}

/// Easter Sunday of a Gregorian year (the anonymous Gregorian algorithm, Meeus/Jones/Butcher). Finland's
/// Lutheran church uses the Gregorian computus, as do all its public holidays.
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("computus yields a real date")
}

/// The first `weekday` on or after `date`.
fn on_or_after(date: NaiveDate, weekday: Weekday) -> NaiveDate {
    let ahead = (7 + weekday.num_days_from_monday() - date.weekday().num_days_from_monday()) % 7;
    date + Duration::days(i64::from(ahead))
}

/// Every holiday of a year, in date order.
pub fn finnish_holidays(year: i32) -> Vec<(NaiveDate, FinnishHoliday)> {
    let ymd = |m, d| NaiveDate::from_ymd_opt(year, m, d).expect("fixed holiday date exists");
    let easter = easter_sunday(year);
    let midsummer_day = on_or_after(ymd(6, 20), Weekday::Sat);
    let mut days = vec![
        (ymd(1, 1), FinnishHoliday::NewYearsDay),
        (ymd(1, 6), FinnishHoliday::Epiphany),
        (easter - Duration::days(2), FinnishHoliday::GoodFriday),
        (easter, FinnishHoliday::EasterSunday),
        (easter + Duration::days(1), FinnishHoliday::EasterMonday),
        (ymd(5, 1), FinnishHoliday::MayDay),
        (easter + Duration::days(39), FinnishHoliday::AscensionDay),
        (easter + Duration::days(49), FinnishHoliday::WhitSunday),
        (midsummer_day - Duration::days(1), FinnishHoliday::MidsummerEve),
        (midsummer_day, FinnishHoliday::MidsummerDay),
        (on_or_after(ymd(10, 31), Weekday::Sat), FinnishHoliday::AllSaintsDay),
        (ymd(12, 6), FinnishHoliday::IndependenceDay),
        (ymd(12, 24), FinnishHoliday::ChristmasEve),
        (ymd(12, 25), FinnishHoliday::ChristmasDay),
        (ymd(12, 26), FinnishHoliday::StStephensDay),
    ];
    // Ascension can fall on 1 May (e.g. 2008); sorting keeps "in date order" true, both entries stay.
    days.sort();
    days
}

/// The holiday on a date, if any. When two coincide (Ascension on May Day) the earlier-listed one is returned.
pub fn finnish_holiday(date: NaiveDate) -> Option<FinnishHoliday> {
    // Cheap rejections first: this runs for every day of every search.
    match date.month() {
        1 | 3..=6 | 10..=12 => {}
        _ => return None,
    }
    finnish_holidays(date.year()).into_iter().find(|(d, _)| *d == date).map(|(_, h)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn easter_matches_known_dates() {
        for (y, m, day) in [
            (2000, 4, 23),
            (2008, 3, 23),
            (2011, 4, 24),
            (2019, 4, 21),
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2028, 4, 16),
            (2038, 4, 25),
            (2285, 3, 22),
        ] {
            assert_eq!(easter_sunday(y), d(y, m, day), "Easter {y}");
        }
    }

    #[test]
    fn holidays_of_2026() {
        let h: Vec<_> = finnish_holidays(2026);
        let expect = [
            (d(2026, 1, 1), FinnishHoliday::NewYearsDay),
            (d(2026, 1, 6), FinnishHoliday::Epiphany),
            (d(2026, 4, 3), FinnishHoliday::GoodFriday),
            (d(2026, 4, 5), FinnishHoliday::EasterSunday),
            (d(2026, 4, 6), FinnishHoliday::EasterMonday),
            (d(2026, 5, 1), FinnishHoliday::MayDay),
            (d(2026, 5, 14), FinnishHoliday::AscensionDay),
            (d(2026, 5, 24), FinnishHoliday::WhitSunday),
            (d(2026, 6, 19), FinnishHoliday::MidsummerEve),
            (d(2026, 6, 20), FinnishHoliday::MidsummerDay),
            (d(2026, 10, 31), FinnishHoliday::AllSaintsDay),
            (d(2026, 12, 6), FinnishHoliday::IndependenceDay),
            (d(2026, 12, 24), FinnishHoliday::ChristmasEve),
            (d(2026, 12, 25), FinnishHoliday::ChristmasDay),
            (d(2026, 12, 26), FinnishHoliday::StStephensDay),
        ];
        assert_eq!(h, expect);
    }

    #[test]
    fn moving_holidays_of_2027() {
        assert_eq!(finnish_holiday(d(2027, 3, 26)), Some(FinnishHoliday::GoodFriday));
        assert_eq!(finnish_holiday(d(2027, 3, 29)), Some(FinnishHoliday::EasterMonday));
        assert_eq!(finnish_holiday(d(2027, 5, 6)), Some(FinnishHoliday::AscensionDay));
        assert_eq!(finnish_holiday(d(2027, 6, 25)), Some(FinnishHoliday::MidsummerEve));
        assert_eq!(finnish_holiday(d(2027, 6, 26)), Some(FinnishHoliday::MidsummerDay));
        assert_eq!(finnish_holiday(d(2027, 11, 6)), Some(FinnishHoliday::AllSaintsDay));
        assert_eq!(finnish_holiday(d(2027, 6, 24)), None);
        assert_eq!(finnish_holiday(d(2027, 7, 1)), None);
    }

    #[test]
    fn midsummer_and_all_saints_always_fall_in_their_windows() {
        for y in 1960..2200 {
            let h = finnish_holidays(y);
            let get = |which| h.iter().find(|(_, x)| *x == which).unwrap().0;
            let eve = get(FinnishHoliday::MidsummerEve);
            assert_eq!(eve.weekday(), Weekday::Fri);
            assert!(eve >= d(y, 6, 19) && eve <= d(y, 6, 25));
            let saints = get(FinnishHoliday::AllSaintsDay);
            assert_eq!(saints.weekday(), Weekday::Sat);
            assert!(saints >= d(y, 10, 31) && saints <= d(y, 11, 6));
            assert_eq!(get(FinnishHoliday::EasterSunday).weekday(), Weekday::Sun);
            assert_eq!(get(FinnishHoliday::AscensionDay).weekday(), Weekday::Thu);
        }
    }
}
