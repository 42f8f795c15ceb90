//! The things that get booked and the rules they are booked under: services, agency rules, bookable resources and
//! a resource's calendar (when it may be booked, when it is already busy).

use super::interval::{DurationMs, Interval, IntervalSet};
use super::schedule::{Schedule, WeeklyRange};
use super::zone::LocalDays;
use super::CalendarError;
use crate::ids::{Millis, SubjectId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One kind of matter an agency handles by appointment (a Kela benefit interview, a passport application, …).
/// All lengths are milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    pub agency: String,
    /// How long the appointment itself is.
    pub duration: DurationMs,
    /// Time every booked resource keeps free before the appointment (the expert reads the case, the advisor
    /// readies the room).
    pub buffer_before: DurationMs,
    /// Time every booked resource keeps free after it (notes, resetting the room).
    pub buffer_after: DurationMs,
    /// The earliest an appointment may start, counted from the moment of booking.
    pub min_notice: DurationMs,
    /// The latest an appointment may start, counted from the moment of booking.
    pub horizon: DurationMs,
}

impl Service {
    /// The span a booking at `start` keeps its resources busy: `[start - buffer_before, start + duration +
    /// buffer_after)`. This is what the store records as the booking's busy interval, so that the next search sees
    /// the buffers too.
    pub fn busy_span(&self, start: Millis) -> Interval {
        Interval::new(
            start.saturating_sub(self.buffer_before),
            start.saturating_add(self.duration).saturating_add(self.buffer_after),
        )
    }

    /// The appointment itself: `[start, start + duration)`.
    pub fn appointment(&self, start: Millis) -> Interval {
        Interval::new(start, start.saturating_add(self.duration))
    }
}

/// How an agency takes customers (domain.md, "Two ways a session starts").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "rule", content = "windows")]
pub enum AgencyRule {
    /// Walk-in by default, appointments also possible (Kela, maistraatti).
    WalkInAndAppointment,
    /// Only by appointment (TE, Poliisi).
    AppointmentOnly,
    /// Only by appointment, and only inside these weekly windows (the visiting notary: Tue 09–11, Thu 13–15).
    /// The appointment itself must lie inside a window; its buffers need not. Windows are closed on holidays.
    FixedWindows(Vec<WeeklyRange>),
}

impl AgencyRule {
    /// The fixed windows as UTC instants over `days`, or `None` when the rule has none (any time is fine).
    pub fn windows(&self, days: &LocalDays) -> Option<IntervalSet> {
        match self {
            AgencyRule::FixedWindows(w) => Some(Schedule::weekly(w.clone()).to_utc(days)),
            AgencyRule::WalkInAndAppointment | AgencyRule::AppointmentOnly => None,
        }
    }
}

/// What kind of thing a booking reserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// A service point's remote-service device (and with it, its service room).
    Device,
    /// An agency expert.
    Expert,
    /// An interpreter.
    Interpreter,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 3] = [ResourceKind::Device, ResourceKind::Expert, ResourceKind::Interpreter];

    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Device => "device",
            ResourceKind::Expert => "expert",
            ResourceKind::Interpreter => "interpreter",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bookable resource: its kind and the subject id it has in the rooms-config (`device:mikkeli-2`,
/// `expert:kela-anna`). The key the store's per-resource exclusion constraint is over.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceKey {
    pub kind: ResourceKind,
    pub id: SubjectId,
}

impl ResourceKey {
    pub fn new(kind: ResourceKind, id: SubjectId) -> ResourceKey {
        ResourceKey { kind, id }
    }

    pub fn device(id: SubjectId) -> ResourceKey {
        ResourceKey::new(ResourceKind::Device, id)
    }

    pub fn expert(id: SubjectId) -> ResourceKey {
        ResourceKey::new(ResourceKind::Expert, id)
    }

    pub fn interpreter(id: SubjectId) -> ResourceKey {
        ResourceKey::new(ResourceKind::Interpreter, id)
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.id)
    }
}

impl FromStr for ResourceKey {
    type Err = CalendarError;
    fn from_str(s: &str) -> Result<ResourceKey, CalendarError> {
        let bad = || CalendarError::InvalidResourceKey(s.to_string());
        let (kind, id) = s.split_once(':').ok_or_else(bad)?;
        let kind = ResourceKind::ALL.into_iter().find(|k| k.as_str() == kind).ok_or_else(bad)?;
        Ok(ResourceKey { kind, id: SubjectId::new(id).map_err(|_| bad())? })
    }
}

impl TryFrom<String> for ResourceKey {
    type Error = CalendarError;
    fn try_from(s: String) -> Result<ResourceKey, CalendarError> {
        s.parse()
    }
}

impl From<ResourceKey> for String {
    fn from(k: ResourceKey) -> String {
        k.to_string()
    }
}

/// One resource's calendar over a search's days, in UTC: when it may be booked at all, and when it is already
/// taken.
///
/// - For an expert or interpreter, `available` is their [`Schedule`] as UTC.
/// - For a device, `available` is its service point's opening hours (intersected with any device-specific
///   schedule): a device is bookable only while its point is open.
/// - `busy` is everything already holding the resource: existing bookings as their [`Service::busy_span`]
///   (buffers included), and busy time from the person's external calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceCalendar {
    pub key: ResourceKey,
    pub available: IntervalSet,
    pub busy: IntervalSet,
}

impl ResourceCalendar {
    pub fn new(key: ResourceKey, available: IntervalSet, busy: IntervalSet) -> ResourceCalendar {
        ResourceCalendar { key, available, busy }
    }

    /// A calendar from a schedule over `days` (an expert, an interpreter).
    pub fn from_schedule(key: ResourceKey, schedule: &Schedule, days: &LocalDays, busy: IntervalSet) -> Self {
        ResourceCalendar { key, available: schedule.to_utc(days), busy }
    }

    /// A device's calendar: its service point's opening hours, further limited by the device's own schedule if
    /// it has one (a device shared with other use on some days).
    pub fn device(
        key: ResourceKey,
        opening: &Schedule,
        own: Option<&Schedule>,
        days: &LocalDays,
        busy: IntervalSet,
    ) -> Self {
        let mut available = opening.to_utc(days);
        if let Some(own) = own {
            available = available.intersect(&own.to_utc(days));
        }
        ResourceCalendar { key, available, busy }
    }
}
