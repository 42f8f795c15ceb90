//! iCalendar (RFC 5545), both ways, in the small subset Väylä needs:
//!
//! - **Writing** the appointment feeds that experts and service points subscribe to ([`write_feed`]): content
//!   lines ending in CRLF, folded at 75 octets without splitting a UTF-8 character, TEXT values escaped
//!   (`\\`, `\;`, `\,`, `\n`), every time in UTC with `Z`, so no VTIMEZONE is needed.
//! - **Reading** busy time out of an expert's own calendar ([`read_busy`]): VEVENTs (minus cancelled and
//!   transparent ones, and minus Väylä's own appointments if the expert copied the feed into their calendar)
//!   and VFREEBUSY periods; times in UTC, in Europe/Helsinki (through `vayla_domain::calendar`'s zone functions,
//!   the program's one time-zone database), floating, or all-day dates. Also [`caldav_calendar_data`], which
//!   takes the iCalendar texts out of a CalDAV `multistatus` answer.
//!
//! What the reader does not do, on purpose: it does not expand recurrence rules (RRULE/RDATE/EXDATE; a CalDAV
//! server is asked to expand them itself, see `external_busy`), and it does not interpret VTIMEZONE definitions:
//! any TZID other than a UTC name is read as Helsinki wall time, the zone every Väylä expert works in. A
//! malformed event is skipped and counted, never fatal; a text that is not an iCalendar object at all is an error.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use vayla_domain::calendar::{local_to_utc, LocalTime};

/// The longest content line, in octets, before folding (RFC 5545 §3.1).
const FOLD_OCTETS: usize = 75;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Milliseconds since the Unix epoch, UTC (the store's `Millis`).
pub type Millis = i64;

// ---------------------------------------------------------------------------------------------------------
// Writing

/// One appointment as a feed shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    /// Stable for the appointment's whole life (the store's `uid`).
    pub uid: String,
    /// Grows by one on every change (the store's `sequence`).
    pub sequence: i64,
    pub start_ms: Millis,
    pub end_ms: Millis,
    pub created_ms: Millis,
    /// The appointment's last change: DTSTAMP and LAST-MODIFIED.
    pub modified_ms: Millis,
    pub summary: String,
    pub location: String,
    pub description: String,
    /// Cancelled (or no longer this resource's): published as STATUS:CANCELLED so that subscribed clients
    /// remove it, rather than dropped, which some clients would not notice.
    pub cancelled: bool,
}

/// A whole feed: VCALENDAR with PUBLISH semantics, named `name`, with one VEVENT per event.
pub fn write_feed(name: &str, events: &[FeedEvent]) -> String {
    let mut w = Writer::default();
    w.line("BEGIN", "VCALENDAR");
    w.line("PRODID", "-//Vayla//Vayla appointments feed//EN");
    w.line("VERSION", "2.0");
    w.line("CALSCALE", "GREGORIAN");
    w.line("METHOD", "PUBLISH");
    w.text("X-WR-CALNAME", name);
    // RFC 7986 and its older de-facto twin: how often a subscribing client should poll.
    w.line("REFRESH-INTERVAL;VALUE=DURATION", "PT15M");
    w.line("X-PUBLISHED-TTL", "PT15M");
    for e in events {
        w.line("BEGIN", "VEVENT");
        w.text("UID", &e.uid);
        w.line("DTSTAMP", &utc_stamp(e.modified_ms));
        w.line("DTSTART", &utc_stamp(e.start_ms));
        w.line("DTEND", &utc_stamp(e.end_ms));
        w.line("SEQUENCE", &e.sequence.to_string());
        w.text("SUMMARY", &e.summary);
        w.text("LOCATION", &e.location);
        if !e.description.is_empty() {
            w.text("DESCRIPTION", &e.description);
        }
        w.line("STATUS", if e.cancelled { "CANCELLED" } else { "CONFIRMED" });
        w.line("TRANSP", if e.cancelled { "TRANSPARENT" } else { "OPAQUE" });
        w.line("CREATED", &utc_stamp(e.created_ms));
        w.line("LAST-MODIFIED", &utc_stamp(e.modified_ms));
        w.line("END", "VEVENT");
    }
    w.line("END", "VCALENDAR");
    w.out
}

#[derive(Default)]
struct Writer {
    out: String,
}

impl Writer {
    /// A property whose value is already in iCalendar syntax (dates, numbers, enumerations).
    fn line(&mut self, name: &str, value: &str) {
        fold_into(&mut self.out, &format!("{name}:{value}"));
    }

    /// A TEXT property: the value is escaped first.
    fn text(&mut self, name: &str, value: &str) {
        self.line(name, &escape_text(value));
    }
}

/// A TEXT value escaped (RFC 5545 §3.3.11): backslash, semicolon and comma get a backslash, a line break
/// becomes `\n`; other control characters (not allowed in a value) are dropped.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push_str("\\n");
                }
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded (RFC 5545 §3.1): no physical line longer than 75 octets, CRLF after each, every
/// continuation starting with one space; a break never falls inside a UTF-8 character.
pub fn fold_into(out: &mut String, line: &str) {
    let mut budget = FOLD_OCTETS;
    let mut used = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if used + len > budget {
            out.push_str("\r\n ");
            // The leading space counts towards the continuation line's 75 octets.
            budget = FOLD_OCTETS - 1;
            used = 0;
        }
        out.push(c);
        used += len;
    }
    out.push_str("\r\n");
}

/// `YYYYMMDDTHHMMSSZ`, a UTC DATE-TIME.
pub fn utc_stamp(ms: Millis) -> String {
    let t = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms).unwrap_or_default();
    format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second())
}

// ---------------------------------------------------------------------------------------------------------
// Reading

/// Why a text could not be read as a calendar at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IcsError {
    #[error("not an iCalendar object (no BEGIN:VCALENDAR)")]
    NotCalendar,
    #[error("the iCalendar object is cut short: {0} was not closed")]
    Unterminated(String),
}

/// The busy time read from one or more calendars.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusyRead {
    /// Disjoint `[start, end)` intervals, sorted, clipped to the window asked for.
    pub busy: Vec<(Millis, Millis)>,
    /// Events or periods that could not be read (a bad date, an end before the start) and were left out.
    pub skipped: usize,
    /// Events with a recurrence rule, of which only the first occurrence was counted.
    pub recurring: usize,
}

impl BusyRead {
    /// Adds another read's intervals and counts (the intervals are merged again by [`BusyRead::finish`]).
    pub fn extend(&mut self, other: BusyRead) {
        self.busy.extend(other.busy);
        self.skipped += other.skipped;
        self.recurring += other.recurring;
    }

    /// Sorts and merges overlapping or touching intervals.
    pub fn finish(mut self) -> BusyRead {
        self.busy.sort_unstable();
        let mut merged: Vec<(Millis, Millis)> = Vec::with_capacity(self.busy.len());
        for (s, e) in self.busy {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.busy = merged;
        self
    }
}

/// The UID suffix of Väylä's own appointments: their events are not external busy time (the reservation
/// already is), so an expert who copies the feed into their own calendar does not block themselves twice.
pub const OWN_UID_SUFFIX: &str = "@vayla";

/// Reads the busy time of an iCalendar text over `[from, to)`: opaque, not-cancelled VEVENTs and the busy
/// periods of VFREEBUSY components, merged and clipped to the window.
pub fn read_busy(text: &str, from: Millis, to: Millis) -> Result<BusyRead, IcsError> {
    let lines = unfold(text);
    if !lines.iter().any(|l| l.trim_end().eq_ignore_ascii_case("BEGIN:VCALENDAR")) {
        return Err(IcsError::NotCalendar);
    }
    let mut read = BusyRead::default();
    let mut stack: Vec<String> = Vec::new();
    let mut event = EventProps::default();
    let clip = |read: &mut BusyRead, s: Millis, e: Millis| {
        let (s, e) = (s.max(from), e.min(to));
        if e > s {
            read.busy.push((s, e));
        }
    };
    for raw in &lines {
        let Some(line) = ContentLine::parse(raw) else { continue };
        match line.name.as_str() {
            "BEGIN" => {
                let comp = line.value.trim().to_ascii_uppercase();
                if comp == "VEVENT" {
                    event = EventProps::default();
                }
                stack.push(comp);
                continue;
            }
            "END" => {
                let comp = line.value.trim().to_ascii_uppercase();
                if stack.last() != Some(&comp) {
                    continue; // a stray END; a broken producer, not worth failing over
                }
                stack.pop();
                if comp == "VEVENT" {
                    match event.interval() {
                        Ok(Some((s, e))) => clip(&mut read, s, e),
                        Ok(None) => {}
                        Err(()) => read.skipped += 1,
                    }
                    if event.recurring {
                        read.recurring += 1;
                    }
                }
                continue;
            }
            _ => {}
        }
        // Properties count only directly inside their component: a VALARM's inside a VEVENT are not the event's.
        match stack.last().map(String::as_str) {
            Some("VEVENT") => event.take(line),
            Some("VFREEBUSY") if line.name == "FREEBUSY" => {
                let fbtype = line.param("FBTYPE").unwrap_or_else(|| "BUSY".into()).to_ascii_uppercase();
                if fbtype == "FREE" {
                    continue;
                }
                for period in line.value.split(',').filter(|p| !p.trim().is_empty()) {
                    match read_period(period.trim()) {
                        Some((s, e)) => clip(&mut read, s, e),
                        None => read.skipped += 1,
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(open) = stack.first() {
        return Err(IcsError::Unterminated(open.clone()));
    }
    Ok(read.finish())
}

/// Unfolds content lines: a line break followed by a space or tab continues the previous line.
fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for physical in text.split('\n') {
        let physical = physical.strip_suffix('\r').unwrap_or(physical);
        match physical.as_bytes().first() {
            Some(b' ' | b'\t') if !lines.is_empty() => {
                lines.last_mut().expect("checked").push_str(&physical[1..]);
            }
            _ if physical.is_empty() => {}
            _ => lines.push(physical.to_string()),
        }
    }
    lines
}

/// `NAME;PARAM=VALUE;PARAM="QUOTED":value`, with the name and parameter names upper-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ContentLine {
    name: String,
    params: Vec<(String, String)>,
    value: String,
}

impl ContentLine {
    fn parse(line: &str) -> Option<ContentLine> {
        // The value starts at the first colon outside a quoted parameter value.
        let mut quoted = false;
        let mut colon = None;
        for (i, c) in line.char_indices() {
            match c {
                '"' => quoted = !quoted,
                ':' if !quoted => {
                    colon = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let colon = colon?;
        let (head, value) = (&line[..colon], &line[colon + 1..]);
        let mut parts = split_unquoted(head, ';').into_iter();
        let name = parts.next()?.trim().to_ascii_uppercase();
        if name.is_empty() {
            return None;
        }
        let params = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                Some((k.trim().to_ascii_uppercase(), v.trim().trim_matches('"').to_string()))
            })
            .collect();
        Some(ContentLine { name, params, value: value.to_string() })
    }

    fn param(&self, name: &str) -> Option<String> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }
}

fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&s[start..]);
    out
}

/// What a VEVENT's busy time depends on.
#[derive(Debug, Default)]
struct EventProps {
    start: Option<ContentLine>,
    end: Option<ContentLine>,
    duration: Option<String>,
    transparent: bool,
    cancelled: bool,
    own: bool,
    recurring: bool,
}

impl EventProps {
    fn take(&mut self, line: ContentLine) {
        match line.name.as_str() {
            "DTSTART" => self.start = Some(line),
            "DTEND" => self.end = Some(line),
            "DURATION" => self.duration = Some(line.value.trim().to_string()),
            "TRANSP" => self.transparent = line.value.trim().eq_ignore_ascii_case("TRANSPARENT"),
            "STATUS" => self.cancelled = line.value.trim().eq_ignore_ascii_case("CANCELLED"),
            "UID" => self.own = line.value.trim().ends_with(OWN_UID_SUFFIX),
            "RRULE" | "RDATE" => self.recurring = true,
            _ => {}
        }
    }

    /// The event's busy interval; `Ok(None)` if it blocks nothing (transparent, cancelled, ours, zero
    /// length), `Err` if it cannot be read.
    fn interval(&self) -> Result<Option<(Millis, Millis)>, ()> {
        if self.transparent || self.cancelled || self.own {
            return Ok(None);
        }
        let start = read_time(self.start.as_ref().ok_or(())?)?;
        let end = match (&self.end, &self.duration) {
            (Some(end), _) => read_time(end)?.at,
            (None, Some(d)) => add_duration(&start, d)?,
            // RFC 5545 §3.6.1: a DATE start without an end lasts one day; a DATE-TIME start, no time at all.
            (None, None) => match start.date {
                Some(date) => day_start(date.succ_opt().ok_or(())?),
                None => start.at,
            },
        };
        if end < start.at {
            return Err(());
        }
        Ok((end > start.at).then_some((start.at, end)))
    }
}

/// A DATE or DATE-TIME as an instant, and the local date if it was a DATE.
struct Time {
    at: Millis,
    date: Option<NaiveDate>,
}

fn read_time(line: &ContentLine) -> Result<Time, ()> {
    let value = line.value.trim();
    let is_date = line.param("VALUE").is_some_and(|v| v.eq_ignore_ascii_case("DATE")) || value.len() == 8;
    if is_date {
        let date = parse_date(value).ok_or(())?;
        return Ok(Time { at: day_start(date), date: Some(date) });
    }
    let tzid = line.param("TZID");
    Ok(Time { at: parse_date_time(value, tzid.as_deref()).ok_or(())?, date: None })
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::from_ymd_opt(s[0..4].parse().ok()?, s[4..6].parse().ok()?, s[6..8].parse().ok()?)
}

/// `YYYYMMDDTHHMMSS` with `Z` (UTC), or with a TZID, or floating (both read as Helsinki wall time unless the
/// TZID names UTC).
fn parse_date_time(s: &str, tzid: Option<&str>) -> Option<Millis> {
    let (local, utc) = match s.strip_suffix(['Z', 'z']) {
        Some(rest) => (rest, true),
        None => (s, false),
    };
    let (d, t) = local.split_once(['T', 't'])?;
    if t.len() != 6 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let date = parse_date(d)?;
    let (h, m, sec): (u32, u32, u32) = (t[0..2].parse().ok()?, t[2..4].parse().ok()?, t[4..6].parse().ok()?);
    // A leap second (60) is read as the last second of its minute.
    let sec = sec.min(59);
    let utc = utc || tzid.is_some_and(is_utc_name);
    if utc {
        let naive = NaiveDateTime::new(date, chrono::NaiveTime::from_hms_opt(h, m, sec)?);
        return Some(naive.and_utc().timestamp_millis());
    }
    let minute = LocalTime::new(h, m).ok()?;
    let base = i64::try_from(local_to_utc(date, minute)).ok()?;
    Some(base + i64::from(sec) * 1000)
}

fn is_utc_name(tzid: &str) -> bool {
    let t = tzid.trim_start_matches('/');
    ["UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "Zulu", "Universal", "Etc/Universal"]
        .iter()
        .any(|n| t.eq_ignore_ascii_case(n))
}

/// Midnight in Helsinki at the start of `date`: all-day events block the expert's local day.
fn day_start(date: NaiveDate) -> Millis {
    i64::try_from(local_to_utc(date, LocalTime::MIDNIGHT)).unwrap_or(i64::MAX)
}

/// `start + duration` (RFC 5545 §3.3.6). Whole days and weeks of a DATE start are calendar days (midnight
/// to midnight, whatever the clock change); everything else is exact time.
fn add_duration(start: &Time, text: &str) -> Result<Millis, ()> {
    let d = parse_duration(text).ok_or(())?;
    if d.negative {
        return Err(());
    }
    match start.date {
        Some(date) if d.seconds == 0 => {
            let end = date.checked_add_days(chrono::Days::new(d.days)).ok_or(())?;
            Ok(day_start(end))
        }
        _ => Ok(start.at + (d.days as i64) * DAY_MS + d.seconds * 1000),
    }
}

struct Duration {
    negative: bool,
    days: u64,
    seconds: i64,
}

/// `[+-]P[nW][nD][T[nH][nM][nS]]`.
fn parse_duration(s: &str) -> Option<Duration> {
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let rest = rest.strip_prefix(['P', 'p'])?;
    let (mut days, mut seconds, mut in_time, mut number, mut any) = (0u64, 0i64, false, String::new(), false);
    for c in rest.chars() {
        match c.to_ascii_uppercase() {
            '0'..='9' => number.push(c),
            'T' if number.is_empty() && !in_time => in_time = true,
            unit => {
                let n: u64 = number.parse().ok()?;
                number.clear();
                any = true;
                match (unit, in_time) {
                    ('W', false) => days = days.checked_add(n.checked_mul(7)?)?,
                    ('D', false) => days = days.checked_add(n)?,
                    ('H', true) => seconds = seconds.checked_add(i64::try_from(n).ok()?.checked_mul(3600)?)?,
                    ('M', true) => seconds = seconds.checked_add(i64::try_from(n).ok()?.checked_mul(60)?)?,
                    ('S', true) => seconds = seconds.checked_add(i64::try_from(n).ok()?)?,
                    _ => return None,
                }
            }
        }
    }
    (any && number.is_empty()).then_some(Duration { negative, days, seconds })
}

/// A FREEBUSY period: `start/end` or `start/duration`, both times in UTC by the standard (others accepted).
fn read_period(p: &str) -> Option<(Millis, Millis)> {
    let (a, b) = p.split_once('/')?;
    let start = parse_date_time(a.trim(), None)?;
    let end = if b.trim_start().starts_with(['P', 'p', '+']) {
        let start_time = Time { at: start, date: None };
        add_duration(&start_time, b.trim()).ok()?
    } else {
        parse_date_time(b.trim(), None)?
    };
    (end > start).then_some((start, end))
}

/// The iCalendar texts inside a CalDAV `multistatus` answer (RFC 4791 §9.6): the content of every
/// `calendar-data` element, whatever its namespace prefix, with XML entities and CDATA sections decoded.
/// A small scanner rather than an XML parser: that one element is all Väylä reads from the answer.
pub fn caldav_calendar_data(xml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find('>') else { break };
        let tag = &rest[..close];
        if tag.starts_with(['/', '?', '!']) || tag.ends_with('/') {
            continue;
        }
        let qname = tag.split(|c: char| c.is_whitespace()).next().unwrap_or("");
        let local = qname.rsplit(':').next().unwrap_or(qname);
        if local != "calendar-data" {
            continue;
        }
        let body_start = close + 1;
        let end_tag = format!("</{qname}");
        let Some(body_len) = rest[body_start..].find(&end_tag) else { break };
        out.push(xml_text(&rest[body_start..body_start + body_len]));
        rest = &rest[body_start + body_len..];
    }
    out
}

/// Character data with CDATA sections kept verbatim and entities (`&lt;`, `&#13;`, `&#x0D;`, …) decoded.
fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after.find("]]>").unwrap_or(after.len());
            out.push_str(&after[..end]);
            rest = after.get(end + 3..).unwrap_or("");
        } else if let Some(after) = rest.strip_prefix('&') {
            let end = after.find(';').filter(|&e| e <= 10);
            let decoded = end.and_then(|e| entity(&after[..e]));
            match (end, decoded) {
                (Some(e), Some(c)) => {
                    out.push(c);
                    rest = &after[e + 1..];
                }
                _ => {
                    out.push('&');
                    rest = after;
                }
            }
        } else {
            let next = rest.find(['&', '<']).map(|i| if i == 0 { 1 } else { i }).unwrap_or(rest.len());
            out.push_str(&rest[..next]);
            rest = &rest[next..];
        }
    }
    out
}

fn entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let n = name.strip_prefix('#')?;
            let code = match n.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => n.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Millis {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    const WIDE: (Millis, Millis) = (0, i64::MAX / 2);

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let mut out = String::new();
        let value = "ä".repeat(100);
        fold_into(&mut out, &format!("SUMMARY:{value}"));
        for physical in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(physical.len() <= 75, "{} octets: {physical:?}", physical.len());
        }
        assert!(out.ends_with("\r\n"));
        assert_eq!(unfold(&out), vec![format!("SUMMARY:{value}")]);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape_text("a,b;c\\d\ne\r\nf\u{7}"), "a\\,b\\;c\\\\d\\ne\\nf");
    }

    #[test]
    fn utc_and_helsinki_and_floating_times_are_read() {
        let cal = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART:20260602T070000Z\r\nDTEND:20260602T080000Z\r\nEND:VEVENT\r\n\
                   BEGIN:VEVENT\r\nUID:b\r\nDTSTART;TZID=Europe/Helsinki:20260603T100000\r\nDURATION:PT30M\r\nEND:VEVENT\r\n\
                   BEGIN:VEVENT\r\nUID:c\r\nDTSTART:20260105T100000\r\nDTEND:20260105T110000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let r = read_busy(cal, WIDE.0, WIDE.1).unwrap();
        assert_eq!(
            r.busy,
            vec![
                (ms("2026-01-05T08:00:00Z"), ms("2026-01-05T09:00:00Z")), // winter: UTC+2
                (ms("2026-06-02T07:00:00Z"), ms("2026-06-02T08:00:00Z")),
                (ms("2026-06-03T07:00:00Z"), ms("2026-06-03T07:30:00Z")), // summer: UTC+3
            ]
        );
    }

    #[test]
    fn all_day_events_block_helsinki_days_and_dst_days_are_23_hours() {
        // 29 March 2026 is the last Sunday of March: the clocks go forward, the day is 23 hours long.
        let cal = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20260329\nEND:VEVENT\n\
                   BEGIN:VEVENT\nDTSTART;VALUE=DATE:20260601\nDTEND;VALUE=DATE:20260603\nEND:VEVENT\nEND:VCALENDAR\n";
        let r = read_busy(cal, WIDE.0, WIDE.1).unwrap();
        assert_eq!(
            r.busy,
            vec![
                (ms("2026-03-28T22:00:00Z"), ms("2026-03-29T21:00:00Z")),
                (ms("2026-05-31T21:00:00Z"), ms("2026-06-02T21:00:00Z")),
            ]
        );
    }

    #[test]
    fn free_cancelled_own_and_alarm_lines_do_not_block() {
        let cal = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20260602T070000Z\nDTEND:20260602T080000Z\nTRANSP:TRANSPARENT\nEND:VEVENT\n\
                   BEGIN:VEVENT\nDTSTART:20260602T090000Z\nDTEND:20260602T100000Z\nSTATUS:CANCELLED\nEND:VEVENT\n\
                   BEGIN:VEVENT\nUID:123@vayla\nDTSTART:20260602T110000Z\nDTEND:20260602T120000Z\nEND:VEVENT\n\
                   BEGIN:VEVENT\nDTSTART:20260602T130000Z\nDTEND:20260602T140000Z\nBEGIN:VALARM\nTRIGGER:-PT15M\nSTATUS:CANCELLED\n\
                   END:VALARM\nEND:VEVENT\nEND:VCALENDAR\n";
        let r = read_busy(cal, WIDE.0, WIDE.1).unwrap();
        assert_eq!(r.busy, vec![(ms("2026-06-02T13:00:00Z"), ms("2026-06-02T14:00:00Z"))]);
    }

    #[test]
    fn freebusy_periods_are_read_and_free_ones_skipped() {
        let cal = "BEGIN:VCALENDAR\nBEGIN:VFREEBUSY\nFREEBUSY;FBTYPE=BUSY:20260602T070000Z/20260602T080000Z,20260602T090000Z/PT1H\n\
                   FREEBUSY;FBTYPE=FREE:20260602T100000Z/20260602T110000Z\nFREEBUSY:20260602T075000Z/20260602T081000Z\n\
                   END:VFREEBUSY\nEND:VCALENDAR\n";
        let r = read_busy(cal, WIDE.0, WIDE.1).unwrap();
        assert_eq!(
            r.busy,
            vec![
                (ms("2026-06-02T07:00:00Z"), ms("2026-06-02T08:10:00Z")),
                (ms("2026-06-02T09:00:00Z"), ms("2026-06-02T10:00:00Z")),
            ]
        );
    }

    #[test]
    fn bad_events_are_skipped_and_a_non_calendar_is_an_error() {
        let cal =
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:2026-06-02\nEND:VEVENT\nBEGIN:VEVENT\nDTSTART:20260602T090000Z\n\
                   DTEND:20260602T080000Z\nEND:VEVENT\nEND:VCALENDAR\n";
        let r = read_busy(cal, WIDE.0, WIDE.1).unwrap();
        assert_eq!((r.busy.len(), r.skipped), (0, 2));
        assert_eq!(read_busy("<html></html>", 0, 1), Err(IcsError::NotCalendar));
        assert!(matches!(read_busy("BEGIN:VCALENDAR\nBEGIN:VEVENT\n", 0, 1), Err(IcsError::Unterminated(_))));
    }

    #[test]
    fn busy_time_is_clipped_to_the_window() {
        let cal = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20260602T070000Z\nDTEND:20260602T090000Z\nEND:VEVENT\nEND:VCALENDAR\n";
        let r = read_busy(cal, ms("2026-06-02T08:00:00Z"), ms("2026-06-03T00:00:00Z")).unwrap();
        assert_eq!(r.busy, vec![(ms("2026-06-02T08:00:00Z"), ms("2026-06-02T09:00:00Z"))]);
    }

    #[test]
    fn calendar_data_comes_out_of_a_multistatus() {
        let xml = r#"<?xml version="1.0"?><multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
            <response><href>/a/1.ics</href><propstat><prop><C:calendar-data>BEGIN:VCALENDAR&#13;
X-A:&lt;b&gt; &amp; c&#x0D;
END:VCALENDAR</C:calendar-data></prop></propstat></response>
            <response><propstat><prop><calendar-data xmlns="urn:ietf:params:xml:ns:caldav"><![CDATA[BEGIN:VCALENDAR
END:VCALENDAR]]></calendar-data></prop></propstat></response>
            <response><propstat><prop><C:calendar-data/></prop></propstat></response></multistatus>"#;
        let data = caldav_calendar_data(xml);
        assert_eq!(data, vec!["BEGIN:VCALENDAR\r\nX-A:<b> & c\r\nEND:VCALENDAR", "BEGIN:VCALENDAR\nEND:VCALENDAR"]);
    }
}
