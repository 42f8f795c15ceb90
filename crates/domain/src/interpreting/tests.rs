//! Tests of the interpreting rules: tags, matching and its order, deadlines, the cascade's stories, and property
//! tests of the rules the cascade must always keep.

use super::*;
use crate::calendar::{IntervalSet, ResourceCalendar, ResourceKey, DAY, HOUR, MINUTE};
use proptest::prelude::*;
use std::collections::BTreeSet;

fn sid(s: &str) -> SubjectId {
    SubjectId::new(s).unwrap()
}

fn tag(s: &str) -> LanguageTag {
    LanguageTag::new(s).unwrap()
}

fn interpreter(id: &str, skills: &[(&str, Competence)], modalities: &[Modality]) -> Interpreter {
    Interpreter {
        id: sid(id),
        provider: sid("tulkkikeskus"),
        languages: skills.iter().map(|(t, l)| LanguageSkill { language: tag(t), level: *l }).collect(),
        modalities: modalities.iter().copied().collect(),
    }
}

fn calendar(id: &str, available: (u64, u64), busy: &[(u64, u64)]) -> ResourceCalendar {
    ResourceCalendar::new(
        ResourceKey::interpreter(sid(id)),
        IntervalSet::single(available.0, available.1),
        busy.iter().map(|&(s, e)| crate::calendar::Interval::new(s, e)).collect(),
    )
}

// ---------------------------------------------------------------------------------------------------------------
// Registry

#[test]
fn language_tags_are_checked_and_put_in_canonical_case() {
    assert_eq!(tag("SV-fi").as_str(), "sv-FI");
    assert_eq!(tag("zh-hant-tw").as_str(), "zh-Hant-TW");
    assert_eq!(tag("FSE").as_str(), "fse");
    assert_eq!(tag("se").as_str(), "se");
    assert_eq!(tag("es-419").as_str(), "es-419");
    for bad in ["", "f", "1a", "fi--FI", "fi_FI", "fi-", "-fi", "fi-toolongsub", "a1b", &"x".repeat(36)] {
        assert!(matches!(LanguageTag::new(bad), Err(InterpretingError::InvalidLanguageTag(_))), "{bad:?} was accepted");
    }
}

#[test]
fn a_request_is_served_by_its_tag_or_a_more_specific_one() {
    assert!(tag("sv").is_served_by(&tag("sv")));
    assert!(tag("sv").is_served_by(&tag("sv-FI")));
    assert!(!tag("sv-FI").is_served_by(&tag("sv")), "a specific request needs a specific skill");
    assert!(!tag("ar-SY").is_served_by(&tag("ar")));
    assert!(!tag("fs").is_served_by(&tag("fse")), "prefixes count only at subtag boundaries");
    assert!(!tag("fse").is_served_by(&tag("fss")));
}

#[test]
fn sign_languages_need_video() {
    assert!(tag("fse").is_sign_language() && tag("fss").is_sign_language());
    assert!(!tag("fi").is_sign_language());
    let refused = InterpreterNeed::new(tag("fse"), Modality::Phone, Competence::Professional);
    assert!(matches!(refused, Err(InterpretingError::SignLanguageNeedsVideo { .. })));
    assert!(InterpreterNeed::new(tag("fss"), Modality::RemoteVideo, Competence::Basic).is_ok());
    assert!(InterpreterNeed::new(tag("ru"), Modality::Phone, Competence::Basic).is_ok());
}

#[test]
fn competence_levels_round_trip_and_order() {
    for c in Competence::ALL {
        assert_eq!(Competence::from_level(c.level()), Some(c));
    }
    assert!(Competence::Basic < Competence::Professional && Competence::Professional < Competence::Certified);
    assert_eq!(Competence::from_level(0), None);
    for m in Modality::ALL {
        assert_eq!(Modality::parse(m.as_str()), Some(m));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Matching

#[test]
fn matching_by_language_modality_competence_and_availability() {
    use Competence::*;
    use Modality::*;
    let need = InterpreterNeed::new(tag("ar"), RemoteVideo, Professional).unwrap();
    // The appointment is 10:00–11:00 (in ms from 0); the interpreter's buffers make it 09:45–11:15.
    let time = NeededTime::with_buffers(10 * HOUR, 11 * HOUR, 15 * MINUTE, 15 * MINUTE);
    let day = (8 * HOUR, 16 * HOUR);
    let people = [
        (interpreter("wrong-language", &[("fa", Certified)], &[RemoteVideo]), calendar("wrong-language", day, &[])),
        (interpreter("too-basic", &[("ar", Basic)], &[RemoteVideo]), calendar("too-basic", day, &[])),
        (interpreter("phone-only", &[("ar", Certified)], &[Phone]), calendar("phone-only", day, &[])),
        (
            interpreter("afternoons", &[("ar", Certified)], &[RemoteVideo]),
            calendar("afternoons", (12 * HOUR, 16 * HOUR), &[]),
        ),
        // Busy until 09:50: the appointment itself is free, its buffer is not.
        (
            interpreter("busy-buffer", &[("ar", Certified)], &[RemoteVideo]),
            calendar("busy-buffer", day, &[(9 * HOUR, 9 * HOUR + 50 * MINUTE)]),
        ),
        // Busy until 09:45 exactly: touching the buffer is fine.
        (
            interpreter("back-to-back", &[("ar-SY", Professional)], &[RemoteVideo, Phone]),
            calendar("back-to-back", day, &[(9 * HOUR, 9 * HOUR + 45 * MINUTE)]),
        ),
        (
            interpreter("certified", &[("ar", Certified), ("fi", Certified)], &[RemoteVideo]),
            calendar("certified", day, &[]),
        ),
    ];
    let candidates: Vec<Candidate<'_>> =
        people.iter().map(|(i, c)| Candidate { interpreter: i, calendar: c, recent_load: 0 }).collect();
    let verdicts: Vec<_> = candidates.iter().map(|c| assess(&need, &time, c)).collect();
    assert_eq!(
        verdicts,
        vec![
            Err(Mismatch::Language),
            Err(Mismatch::Level { has: Basic }),
            Err(Mismatch::Modality),
            Err(Mismatch::Unavailable),
            Err(Mismatch::Busy),
            Ok(Professional),
            Ok(Certified),
        ]
    );
    let order: Vec<_> = match_interpreters(&need, &time, &candidates).into_iter().map(|m| m.interpreter).collect();
    assert_eq!(order, vec![sid("certified"), sid("back-to-back")], "higher competence first");
}

#[test]
fn offer_order_is_competence_then_recent_load_then_id() {
    use Competence::*;
    let need = InterpreterNeed::new(tag("fse"), Modality::RemoteVideo, Basic).unwrap();
    let time = NeededTime::with_buffers(10 * HOUR, 11 * HOUR, 0, 0);
    let people: Vec<(Interpreter, ResourceCalendar, u32)> = [
        ("b-busy-lately", Professional, 5),
        ("c-rested", Professional, 1),
        ("a-rested", Professional, 1),
        ("d-basic", Basic, 0),
        ("e-certified", Certified, 9),
    ]
    .into_iter()
    .map(|(id, level, load)| {
        (interpreter(id, &[("fse", level)], &[Modality::RemoteVideo]), calendar(id, (0, DAY), &[]), load)
    })
    .collect();
    let mut candidates: Vec<Candidate<'_>> =
        people.iter().map(|(i, c, load)| Candidate { interpreter: i, calendar: c, recent_load: *load }).collect();
    // A duplicate listing counts once.
    candidates.push(candidates[0]);
    let order: Vec<_> = match_interpreters(&need, &time, &candidates).into_iter().map(|m| m.interpreter).collect();
    assert_eq!(order, ["e-certified", "a-rested", "c-rested", "b-busy-lately", "d-basic"].map(sid).to_vec());
}

// ---------------------------------------------------------------------------------------------------------------
// Deadlines

#[test]
fn response_deadline_follows_the_table_and_the_margin() {
    let now = 1_000 * DAY;
    let at = |lead| response_deadline(now, now + lead).map(|d| d - now);
    assert_eq!(at(10 * DAY), Some(DAY));
    assert_eq!(at(3 * DAY), Some(4 * HOUR));
    assert_eq!(at(5 * HOUR), Some(30 * MINUTE));
    assert_eq!(at(90 * MINUTE), Some(10 * MINUTE));
    // 20 minutes away: the margin (15 min before the start) caps the 10-minute window.
    assert_eq!(at(20 * MINUTE), Some(5 * MINUTE));
    // 10 minutes away: less than the margin, so the minimum answer time applies.
    assert_eq!(at(10 * MINUTE), Some(MIN_RESPONSE));
    assert_eq!(at(MIN_RESPONSE), Some(MIN_RESPONSE));
    assert_eq!(at(MIN_RESPONSE - 1), None);
    assert_eq!(response_deadline(now, now - 1), None, "a started appointment cannot be offered");
}

proptest! {
    #[test]
    fn response_deadline_bounds(now in 0u64..1_000 * DAY, lead in 0u64..30 * DAY) {
        let start = now + lead;
        match response_deadline(now, start) {
            None => prop_assert!(lead < MIN_RESPONSE),
            Some(d) => {
                prop_assert!(d >= now + MIN_RESPONSE);
                prop_assert!(d <= start);
                prop_assert!(d <= now + response_window(lead));
                if lead >= DECISION_MARGIN + MIN_RESPONSE {
                    prop_assert!(d <= start - DECISION_MARGIN);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The cascade: stories

const START: u64 = 100 * DAY;

fn ids(names: &[&str]) -> Vec<SubjectId> {
    names.iter().map(|n| sid(n)).collect()
}

fn sent(fx: &[Effect]) -> Vec<SubjectId> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::OfferSent { to, .. } => Some(to.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn offer_decline_timeout_next_accept() {
    let now = START - 3 * DAY;
    let mut r = Request::new(START, OfferMode::OneAtATime, ids(&["anna", "bert", "cecilia", "anna"]));
    let fx = r.apply(now, Command::Start).unwrap();
    assert_eq!(fx, vec![Effect::OfferSent { to: sid("anna"), deadline: now + 4 * HOUR }]);

    let fx = r.apply(now + HOUR, Command::Decline { interpreter: sid("anna") }).unwrap();
    assert_eq!(fx, vec![Effect::OfferSent { to: sid("bert"), deadline: now + 5 * HOUR }]);

    // Bert says nothing: a tick before the deadline does nothing, at the deadline the offer expires.
    assert_eq!(r.apply(now + 2 * HOUR, Command::Tick).unwrap(), vec![]);
    let fx = r.apply(now + 5 * HOUR, Command::Tick).unwrap();
    assert_eq!(
        fx,
        vec![
            Effect::OfferWithdrawn { to: sid("bert"), reason: WithdrawReason::Expired },
            Effect::OfferSent { to: sid("cecilia"), deadline: now + 9 * HOUR },
        ]
    );
    // Too late for Bert now, and Anna already declined.
    let err = r.apply(now + 5 * HOUR, Command::Accept { interpreter: sid("bert") }).unwrap_err();
    assert_eq!(err, InterpretingError::NoPendingOffer(sid("bert")));

    let fx = r.apply(now + 6 * HOUR, Command::Accept { interpreter: sid("cecilia") }).unwrap();
    assert_eq!(fx, vec![Effect::Assigned { interpreter: sid("cecilia") }]);
    assert_eq!(r.assigned(), Some(&sid("cecilia")));
    assert_eq!(r.next_deadline(), None);
}

#[test]
fn an_accept_at_the_deadline_is_too_late() {
    let now = START - 10 * DAY;
    let mut r = Request::new(START, OfferMode::OneAtATime, ids(&["anna"]));
    r.apply(now, Command::Start).unwrap();
    let deadline = r.next_deadline().unwrap();
    let before = r.clone();
    let err = r.apply(deadline, Command::Accept { interpreter: sid("anna") }).unwrap_err();
    assert_eq!(err, InterpretingError::OfferExpired { interpreter: sid("anna"), deadline });
    assert_eq!(r, before);
    let fx = r.apply(deadline, Command::Tick).unwrap();
    assert_eq!(
        fx,
        vec![
            Effect::OfferWithdrawn { to: sid("anna"), reason: WithdrawReason::Expired },
            Effect::SchedulerNotified(SchedulerNotice::NobodyAccepted),
        ]
    );
    assert_eq!(r.state(), &RequestState::Exhausted);
}

#[test]
fn a_group_offer_goes_to_the_first_who_accepts() {
    let now = START - HOUR;
    let mut r = Request::new(START, OfferMode::with_size(3).unwrap(), ids(&["a", "b", "c", "d", "e"]));
    let fx = r.apply(now, Command::Start).unwrap();
    assert_eq!(sent(&fx), ids(&["a", "b", "c"]));
    assert!(fx.iter().all(|e| matches!(e, Effect::OfferSent { deadline, .. } if *deadline == now + 10 * MINUTE)));
    // One declines: the group is not topped up.
    assert_eq!(r.apply(now + MINUTE, Command::Decline { interpreter: sid("a") }).unwrap(), vec![]);
    let fx = r.apply(now + 2 * MINUTE, Command::Accept { interpreter: sid("c") }).unwrap();
    assert_eq!(
        fx,
        vec![
            Effect::OfferWithdrawn { to: sid("b"), reason: WithdrawReason::TakenByAnother },
            Effect::Assigned { interpreter: sid("c") },
        ]
    );
    // The second accept of the race loses.
    let err = r.apply(now + 2 * MINUTE, Command::Accept { interpreter: sid("b") }).unwrap_err();
    assert_eq!(err, InterpretingError::NoPendingOffer(sid("b")));
    assert_eq!(r.assigned(), Some(&sid("c")));
}

#[test]
fn an_interpreter_who_cancels_is_released_skipped_and_the_scheduler_told() {
    let now = START - 2 * DAY;
    let mut r = Request::new(START, OfferMode::OneAtATime, ids(&["anna", "bert"]));
    r.apply(now, Command::Start).unwrap();
    r.apply(now, Command::Accept { interpreter: sid("anna") }).unwrap();
    let err = r.apply(now, Command::InterpreterCancels { interpreter: sid("bert") }).unwrap_err();
    assert_eq!(err, InterpretingError::NotAssigned(sid("bert")));
    let fx = r.apply(now + DAY, Command::InterpreterCancels { interpreter: sid("anna") }).unwrap();
    assert_eq!(
        fx,
        vec![
            Effect::Released { interpreter: sid("anna") },
            Effect::SchedulerNotified(SchedulerNotice::InterpreterCancelled { interpreter: sid("anna") }),
            Effect::OfferSent { to: sid("bert"), deadline: now + DAY + 30 * MINUTE },
        ]
    );
    // Bert declines too; Anna is not asked again in this round.
    let fx = r.apply(now + DAY, Command::Decline { interpreter: sid("bert") }).unwrap();
    assert_eq!(fx, vec![Effect::SchedulerNotified(SchedulerNotice::NobodyAccepted)]);
    // The scheduler rebooks: a new round may ask Anna again.
    let fx = r.apply(now + DAY, Command::Restart { candidates: ids(&["anna"]) }).unwrap();
    assert_eq!(sent(&fx), ids(&["anna"]));
    assert_eq!(r.round(), 2);
}

#[test]
fn cancelling_releases_and_tells_the_assigned_interpreter_or_withdraws_offers() {
    let now = START - 8 * DAY;
    let mut r = Request::new(START, OfferMode::Group(2), ids(&["anna", "bert"]));
    r.apply(now, Command::Start).unwrap();
    let mut offered = r.clone();
    r.apply(now, Command::Accept { interpreter: sid("bert") }).unwrap();
    let fx = r.apply(now, Command::Cancel { reason: CancelReason::AppointmentCancelled }).unwrap();
    assert_eq!(
        fx,
        vec![
            Effect::Released { interpreter: sid("bert") },
            Effect::InterpreterNotified {
                interpreter: sid("bert"),
                notice: InterpreterNotice::Released(CancelReason::AppointmentCancelled),
            },
        ]
    );
    assert_eq!(r.state(), &RequestState::Cancelled);
    assert!(r.apply(now, Command::Cancel { reason: CancelReason::NoLongerNeeded }).is_err());

    let fx = offered.apply(now, Command::Cancel { reason: CancelReason::NoLongerNeeded }).unwrap();
    assert_eq!(
        fx,
        vec![
            Effect::OfferWithdrawn { to: sid("anna"), reason: WithdrawReason::RequestCancelled },
            Effect::OfferWithdrawn { to: sid("bert"), reason: WithdrawReason::RequestCancelled },
        ]
    );
}

#[test]
fn nobody_to_ask_or_too_late_exhausts_at_once() {
    let mut r = Request::new(START, OfferMode::OneAtATime, vec![]);
    assert_eq!(r.apply(0, Command::Start).unwrap(), vec![Effect::SchedulerNotified(SchedulerNotice::NobodyAccepted)]);
    let mut r = Request::new(START, OfferMode::OneAtATime, ids(&["anna"]));
    assert_eq!(
        r.apply(START - MINUTE, Command::Start).unwrap(),
        vec![Effect::SchedulerNotified(SchedulerNotice::TooLate)]
    );
    assert_eq!(r.state(), &RequestState::Exhausted);
}

#[test]
fn restore_rebuilds_a_stored_request_and_refuses_contradictions() {
    let offered: BTreeSet<_> = ids(&["anna", "bert"]).into_iter().collect();
    let state = RequestState::Offered { to: [sid("bert")].into(), deadline: START - DAY };
    let mut r =
        Request::restore(START, OfferMode::OneAtATime, 1, offered.clone(), state, ids(&["anna", "bert", "cilla"]))
            .unwrap();
    assert_eq!(r.remaining().cloned().collect::<Vec<_>>(), ids(&["cilla"]));
    let fx = r.apply(START - 2 * DAY, Command::Decline { interpreter: sid("bert") }).unwrap();
    assert_eq!(sent(&fx), ids(&["cilla"]));

    let bad = RequestState::Accepted { by: sid("cilla") };
    assert_eq!(
        Request::restore(START, OfferMode::OneAtATime, 1, offered, bad, vec![]),
        Err(InterpretingError::InconsistentRequest)
    );
    assert_eq!(OfferMode::with_size(0), Err(InterpretingError::BadGroupSize(0)));
    assert_eq!(OfferMode::with_size(MAX_GROUP + 1), Err(InterpretingError::BadGroupSize(MAX_GROUP + 1)));
}

// ---------------------------------------------------------------------------------------------------------------
// The cascade: properties

const POOL: [&str; 6] = ["i0", "i1", "i2", "i3", "i4", "i5"];

#[derive(Debug, Clone)]
enum Op {
    Start,
    Accept(usize),
    Decline(usize),
    /// Advance the clock by this many minutes, then tick.
    Tick(u64),
    InterpreterCancels(usize),
    Cancel,
    Restart(Vec<usize>),
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0..POOL.len();
    prop_oneof![
        1 => Just(Op::Start),
        4 => who.clone().prop_map(Op::Accept),
        4 => who.clone().prop_map(Op::Decline),
        4 => (0u64..600).prop_map(Op::Tick),
        2 => who.clone().prop_map(Op::InterpreterCancels),
        1 => Just(Op::Cancel),
        1 => proptest::collection::vec(who, 0..6).prop_map(Op::Restart),
    ]
}

/// Everything the effects say, checked against the rules while it is folded up.
#[derive(Default)]
struct Ledger {
    assigned: Option<SubjectId>,
    /// Offers sent in the current round.
    offered_this_round: BTreeSet<SubjectId>,
    pending: BTreeSet<SubjectId>,
}

impl Ledger {
    /// Folds the effects of a command that succeeded. A decline is the one answer without an effect of its own.
    fn fold(&mut self, cmd: &Command, now: u64, start: u64, fx: &[Effect]) -> Result<(), TestCaseError> {
        if let Command::Decline { interpreter } = cmd {
            prop_assert!(self.pending.remove(interpreter), "{} declined without a pending offer", interpreter);
        }
        for e in fx {
            match e {
                Effect::OfferSent { to, deadline } => {
                    prop_assert!(self.offered_this_round.insert(to.clone()), "{} offered twice in a round", to);
                    prop_assert!(*deadline > now && *deadline <= start, "deadline {} out of bounds", deadline);
                    self.pending.insert(to.clone());
                }
                Effect::OfferWithdrawn { to, .. } => prop_assert!(self.pending.remove(to), "withdrew {} unoffered", to),
                Effect::Assigned { interpreter } => {
                    prop_assert!(self.assigned.is_none(), "{} assigned while {:?} is", interpreter, self.assigned);
                    prop_assert!(self.pending.remove(interpreter), "{} assigned without an offer", interpreter);
                    self.assigned = Some(interpreter.clone());
                }
                Effect::Released { interpreter } => {
                    let was = self.assigned.take();
                    prop_assert_eq!(was.as_ref(), Some(interpreter));
                }
                Effect::InterpreterNotified { .. } | Effect::SchedulerNotified(_) => {}
            }
        }
        Ok(())
    }
}

fn check_state(r: &Request, ledger: &Ledger) -> Result<(), TestCaseError> {
    prop_assert_eq!(r.assigned(), ledger.assigned.as_ref());
    match r.state() {
        RequestState::Offered { to, .. } => {
            prop_assert!(!to.is_empty() && to.len() <= r.mode().size());
            prop_assert_eq!(to, &ledger.pending);
        }
        _ => prop_assert!(ledger.pending.is_empty(), "offers left pending: {:?}", ledger.pending),
    }
    prop_assert_eq!(r.offered(), &ledger.offered_this_round);
    Ok(())
}

proptest! {
    /// Random commands, valid or not: at most one interpreter is ever assigned, nobody gets a second offer in a
    /// round, offers are answered or withdrawn before the state moves on, and a failed command changes nothing.
    #[test]
    fn cascade_rules_always_hold(
        group in 1u8..=3,
        lead_hours in 1u64..400,
        candidates in proptest::collection::vec(0..POOL.len(), 0..8),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let mut now = 1_000 * DAY;
        let start = now + lead_hours * HOUR;
        let mode = OfferMode::with_size(group).unwrap();
        let mut r = Request::new(start, mode, candidates.iter().map(|&i| sid(POOL[i])).collect());
        let mut ledger = Ledger::default();
        for op in ops {
            let before = r.clone();
            let round = r.round();
            let cmd = match op {
                Op::Start => Command::Start,
                Op::Accept(i) => Command::Accept { interpreter: sid(POOL[i]) },
                Op::Decline(i) => Command::Decline { interpreter: sid(POOL[i]) },
                Op::Tick(minutes) => { now += minutes * MINUTE; Command::Tick }
                Op::InterpreterCancels(i) => Command::InterpreterCancels { interpreter: sid(POOL[i]) },
                Op::Cancel => Command::Cancel { reason: CancelReason::AppointmentCancelled },
                Op::Restart(c) => Command::Restart { candidates: c.into_iter().map(|i| sid(POOL[i])).collect() },
            };
            match r.apply(now, cmd.clone()) {
                Err(_) => prop_assert_eq!(&r, &before, "a failed command changed the request"),
                Ok(fx) => {
                    if r.round() != round {
                        ledger.offered_this_round.clear();
                    }
                    ledger.fold(&cmd, now, start, &fx)?;
                }
            }
            check_state(&r, &ledger)?;
        }
    }

    /// Driven only by commands that move it on (accept, decline, let the deadline pass, the assigned interpreter
    /// cancels), every cascade settles — accepted for good, exhausted or cancelled — within 2 × candidates + 2
    /// commands.
    #[test]
    fn every_cascade_settles(
        group in 1u8..=3,
        n in 0usize..POOL.len(),
        choices in proptest::collection::vec(0u8..10, 64),
    ) {
        let mut now = 1_000 * DAY;
        let start = now + 30 * DAY;
        let mut r = Request::new(start, OfferMode::with_size(group).unwrap(), ids(&POOL[..n]));
        let mut ledger = Ledger::default();
        let mut steps = 0;
        let mut choices = choices.into_iter().cycle();
        loop {
            let choice = choices.next().unwrap();
            let cmd = match r.state().clone() {
                RequestState::Open => Command::Start,
                RequestState::Offered { to, deadline } => {
                    let first = to.iter().nth(usize::from(choice) % to.len()).unwrap().clone();
                    match choice % 3 {
                        0 => Command::Accept { interpreter: first },
                        1 => Command::Decline { interpreter: first },
                        _ => { now = deadline; Command::Tick }
                    }
                }
                // Half the time the assigned interpreter cancels; otherwise the assignment stands.
                RequestState::Accepted { by } if choice % 2 == 0 => Command::InterpreterCancels { interpreter: by },
                RequestState::Accepted { .. } | RequestState::Exhausted | RequestState::Cancelled => break,
            };
            let fx = r.apply(now, cmd.clone()).expect("a progress command is valid");
            ledger.fold(&cmd, now, start, &fx)?;
            check_state(&r, &ledger)?;
            steps += 1;
            prop_assert!(steps <= 2 * n + 2, "not settled after {} commands: {:?}", steps, r.state());
        }
    }
}
