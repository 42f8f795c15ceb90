//! Matching: which registered interpreters can take a request, and in which order it is offered to them.
//!
//! An interpreter qualifies for a request when, all four:
//! - **language**: they serve the requested tag ([`LanguageTag::is_served_by`]) ...
//! - **competence**: ... at the request's minimum level or above (the best of their matching skills counts);
//! - **modality**: they work in the requested modality;
//! - **availability**: the appointment lies inside their `available` time and its *blocked* span (the appointment
//!   widened by the interpreter's buffers) overlaps none of their `busy` time — the same rule as the slot search
//!   ([`crate::calendar::check_slot`]).
//!
//! **Offer order** (documented, deterministic):
//! 1. higher competence first — the customer gets the most qualified interpreter the request can get;
//! 2. then the lower *recent load* first — the caller counts each interpreter's offers and assignments over a
//!    recent window (the store's `interpreter_load`), so that among equals the work is spread;
//! 3. then the interpreter id, so equal candidates always come in the same order (tests, and two server nodes
//!    agreeing).

use super::registry::{Competence, Interpreter, LanguageTag, Modality};
use super::InterpretingError;
use crate::calendar::{Interval, ResourceCalendar};
use crate::ids::SubjectId;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BTreeSet;

/// What a request asks for. Built with [`InterpreterNeed::new`], which refuses sign language over the phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterpreterNeed {
    pub language: LanguageTag,
    pub modality: Modality,
    pub min_level: Competence,
}

impl InterpreterNeed {
    pub fn new(
        language: LanguageTag,
        modality: Modality,
        min_level: Competence,
    ) -> Result<InterpreterNeed, InterpretingError> {
        if language.is_sign_language() && !modality.carries_sign_language() {
            return Err(InterpretingError::SignLanguageNeedsVideo { language, modality });
        }
        Ok(InterpreterNeed { language, modality, min_level })
    }
}

/// When the interpreter is needed: the appointment itself, and the span it blocks in the interpreter's calendar
/// (the appointment widened by their buffers; equal to `appointment` when there are none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeededTime {
    pub appointment: Interval,
    pub blocked: Interval,
}

impl NeededTime {
    /// The appointment `[start, end)` widened by `before` and `after`.
    pub fn with_buffers(start: u64, end: u64, before: u64, after: u64) -> NeededTime {
        NeededTime {
            appointment: Interval::new(start, end),
            blocked: Interval::new(start.saturating_sub(before), end.saturating_add(after)),
        }
    }
}

/// One interpreter as matching sees them: the registry entry, their calendar over the needed time (its `key`
/// should be `interpreter:<id>`), and their recent load for fairness.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub interpreter: &'a Interpreter,
    pub calendar: &'a ResourceCalendar,
    /// Offers received plus assignments over the caller's fairness window.
    pub recent_load: u32,
}

/// Why an interpreter does not qualify, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Mismatch {
    /// They do not list the language at all.
    Language,
    /// They list it, below the minimum.
    Level { has: Competence },
    /// They do not work in the requested modality.
    Modality,
    /// The appointment is outside their available time.
    Unavailable,
    /// Something already holds part of the blocked span.
    Busy,
}

/// A qualified, available interpreter, with what ranked them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    pub interpreter: SubjectId,
    pub level: Competence,
    pub recent_load: u32,
}

/// Whether one candidate qualifies; `Ok` carries the level they would interpret at.
pub fn assess(need: &InterpreterNeed, time: &NeededTime, c: &Candidate<'_>) -> Result<Competence, Mismatch> {
    let level = c.interpreter.level_for(&need.language).ok_or(Mismatch::Language)?;
    if level < need.min_level {
        return Err(Mismatch::Level { has: level });
    }
    if !c.interpreter.modalities.contains(&need.modality) {
        return Err(Mismatch::Modality);
    }
    if !c.calendar.available.covers(&time.appointment) {
        return Err(Mismatch::Unavailable);
    }
    if c.calendar.busy.overlaps(&time.blocked) {
        return Err(Mismatch::Busy);
    }
    Ok(level)
}

/// The qualified, available candidates in offer order (see the module docs). An interpreter listed twice counts
/// once (the first listing).
pub fn match_interpreters(need: &InterpreterNeed, time: &NeededTime, candidates: &[Candidate<'_>]) -> Vec<Match> {
    let mut seen = BTreeSet::new();
    let mut matches: Vec<Match> = Vec::new();
    for c in candidates {
        if !seen.insert(&c.interpreter.id) {
            continue;
        }
        if let Ok(level) = assess(need, time, c) {
            matches.push(Match { interpreter: c.interpreter.id.clone(), level, recent_load: c.recent_load });
        }
    }
    matches.sort_by(|a, b| {
        (Reverse(a.level), a.recent_load, &a.interpreter).cmp(&(Reverse(b.level), b.recent_load, &b.interpreter))
    });
    matches
}
