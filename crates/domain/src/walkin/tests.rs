//! Tests of the walk-in rules: the ticket's transitions, routing, who sees which ticket in which order, positions,
//! and property tests of the estimated wait.

use super::*;
use crate::calendar::{AgencyRule, Interval, HOUR, MINUTE};
use crate::ids::SubjectId;
use proptest::prelude::*;

fn sid(s: &str) -> SubjectId {
    SubjectId::new(s).unwrap()
}

fn queued(
    id: &str,
    agency: &str,
    service: Option<&str>,
    language: &str,
    interp: Option<&str>,
    at: u64,
) -> QueuedTicket {
    QueuedTicket {
        id: id.into(),
        agency: agency.into(),
        service: service.map(String::from),
        language: language.into(),
        interpreter_language: interp.map(String::from),
        created_at: at,
        state: Ticket::new(interp.is_some()),
    }
}

fn expert(agency: &str, services: Option<&[&str]>, languages: &[&str]) -> Taker {
    Taker::Expert {
        agency: agency.into(),
        services: services.map(|s| s.iter().map(|x| x.to_string()).collect()),
        languages: languages.iter().map(|x| x.to_string()).collect(),
    }
}

#[test]
fn a_ticket_without_interpreter_is_accepted_by_the_first_expert_and_served_after_its_session() {
    let mut t = Ticket::new(false);
    t.apply(TicketEvent::ExpertAccepts(sid("kela-anna"))).unwrap();
    assert_eq!(t.status, TicketStatus::Accepted);
    assert_eq!(
        t.apply(TicketEvent::ExpertAccepts(sid("kela-mikko"))),
        Err(TicketError::WrongStatus { status: TicketStatus::Accepted, wanted: "waiting" })
    );
    assert_eq!(t.expert, Some(sid("kela-anna")), "a refused accept changes nothing");
    assert_eq!(
        t.apply(TicketEvent::InterpreterAccepts(sid("tulkki-aino"))).map(|_| ()),
        Err(TicketError::WrongStatus { status: TicketStatus::Accepted, wanted: "waiting" })
    );
    t.apply(TicketEvent::SessionOpened("s1".into())).unwrap();
    assert!(t.apply(TicketEvent::SessionOpened("s2".into())).is_err());
    t.apply(TicketEvent::SessionEnded { started: true }).unwrap();
    assert_eq!(t.status, TicketStatus::Served);
    assert_eq!(t.close_reason, None);
    assert_eq!(t.apply(TicketEvent::Cancel), Err(TicketError::Closed(TicketStatus::Served)));
}

#[test]
fn with_an_interpreter_the_ticket_waits_for_both_in_either_order() {
    let mut t = Ticket::new(true);
    t.apply(TicketEvent::InterpreterAccepts(sid("tulkki-aino"))).unwrap();
    assert_eq!(t.status, TicketStatus::Waiting);
    assert!(t.wants_expert() && !t.wants_interpreter());
    assert_eq!(t.apply(TicketEvent::InterpreterAccepts(sid("tulkki-sofia"))), Err(TicketError::InterpreterTaken));
    t.apply(TicketEvent::ExpertAccepts(sid("kela-anna"))).unwrap();
    assert_eq!(t.status, TicketStatus::Accepted);

    let mut u = Ticket::new(true);
    u.apply(TicketEvent::ExpertAccepts(sid("kela-anna"))).unwrap();
    assert_eq!(u.status, TicketStatus::Waiting);
    assert_eq!(u.apply(TicketEvent::ExpertAccepts(sid("kela-mikko"))), Err(TicketError::ExpertTaken));
    u.apply(TicketEvent::InterpreterAccepts(sid("tulkki-aino"))).unwrap();
    assert_eq!(u.status, TicketStatus::Accepted);

    let mut plain = Ticket::new(false);
    assert_eq!(plain.apply(TicketEvent::InterpreterAccepts(sid("tulkki-aino"))), Err(TicketError::NoInterpreterAsked));
}

#[test]
fn endings_cancel_expire_abandon_and_release() {
    let mut t = Ticket::new(false);
    t.apply(TicketEvent::Cancel).unwrap();
    assert_eq!((t.status, t.close_reason), (TicketStatus::Cancelled, Some(CloseReason::Cancelled)));

    let mut t = Ticket::new(false);
    t.apply(TicketEvent::Expire).unwrap();
    assert_eq!((t.status, t.close_reason), (TicketStatus::Expired, Some(CloseReason::NotAcceptedInTime)));

    // Accepted, then the device gives up: abandoned, not cancelled.
    let mut t = Ticket::new(false);
    t.apply(TicketEvent::ExpertAccepts(sid("kela-anna"))).unwrap();
    assert!(t.apply(TicketEvent::Expire).is_err(), "an accepted ticket does not expire");
    t.apply(TicketEvent::Cancel).unwrap();
    assert_eq!((t.status, t.close_reason), (TicketStatus::Abandoned, Some(CloseReason::DeviceGaveUp)));

    // A session that ends before everyone was in.
    let mut t = Ticket::new(false);
    t.apply(TicketEvent::ExpertAccepts(sid("kela-anna"))).unwrap();
    t.apply(TicketEvent::SessionOpened("s".into())).unwrap();
    t.apply(TicketEvent::SessionEnded { started: false }).unwrap();
    assert_eq!((t.status, t.close_reason), (TicketStatus::Abandoned, Some(CloseReason::SessionNeverStarted)));

    // The room was busy: the accepter lets go and the ticket waits again; only before a session.
    let mut t = Ticket::new(false);
    t.apply(TicketEvent::ExpertAccepts(sid("kela-anna"))).unwrap();
    assert_eq!(t.apply(TicketEvent::Release(sid("kela-mikko"))), Err(TicketError::NotAccepter(sid("kela-mikko"))));
    t.apply(TicketEvent::Release(sid("kela-anna"))).unwrap();
    assert_eq!(t, Ticket::new(false));
    t.apply(TicketEvent::ExpertAccepts(sid("kela-mikko"))).unwrap();
    t.apply(TicketEvent::SessionOpened("s".into())).unwrap();
    assert!(t.apply(TicketEvent::Release(sid("kela-mikko"))).is_err());
    assert!(t.apply(TicketEvent::SessionEnded { started: true }).is_ok());
}

#[test]
fn appointment_only_agencies_refuse_walk_ins() {
    assert_eq!(route(&AgencyRule::WalkInAndAppointment), Ok(()));
    assert_eq!(route(&AgencyRule::AppointmentOnly), Err(RouteRefusal::AppointmentOnly));
    assert_eq!(route(&AgencyRule::FixedWindows(Vec::new())), Err(RouteRefusal::AppointmentOnly));
}

#[test]
fn experts_see_their_agencys_tickets_they_can_take_first_come_first_served() {
    let tickets = vec![
        queued("c", "kela", None, "fi", None, 30),
        queued("a", "kela", Some("kela-pension"), "fi", None, 10),
        queued("b", "kela", Some("kela-benefits"), "en", None, 20),
        queued("v", "vero", None, "fi", None, 5),
        queued("s", "kela", None, "ar", Some("ar"), 25),
        queued("b2", "kela", None, "fi", None, 20),
    ];
    let ids = |v: Vec<&QueuedTicket>| v.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
    // Anna handles every Kela service and speaks fi, sv.
    let anna = expert("kela", None, &["fi", "sv"]);
    assert_eq!(
        ids(queue_for(&tickets, &anna)),
        ["a", "b2", "s", "c"],
        "FIFO, ties by id; an interpreter covers Arabic"
    );
    // Mikko handles only benefits and speaks fi, en.
    let mikko = expert("kela", Some(&["kela-benefits"]), &["fi", "EN"]);
    assert_eq!(ids(queue_for(&tickets, &mikko)), ["b", "b2", "s", "c"]);
    assert_eq!(ids(queue_for(&tickets, &expert("vero", None, &["fi"]))), ["v"]);
    // Interpreters see only the tickets that asked for their language.
    let aino = Taker::Interpreter { languages: vec!["fi".into(), "ar".into()] };
    assert_eq!(ids(queue_for(&tickets, &aino)), ["s"]);
    assert!(queue_for(&tickets, &Taker::Interpreter { languages: vec!["sv".into()] }).is_empty());

    // A ticket taken by an expert leaves the experts' queue, and stays in the interpreters' until one accepts.
    let mut taken = tickets.clone();
    taken[4].state.apply(TicketEvent::ExpertAccepts(sid("kela-anna"))).unwrap();
    assert_eq!(ids(queue_for(&taken, &anna)), ["a", "b2", "c"]);
    assert_eq!(ids(queue_for(&taken, &aino)), ["s"]);
}

#[test]
fn positions_count_the_agencys_earlier_tickets_that_still_want_an_expert() {
    let mut tickets = vec![
        queued("a", "kela", None, "fi", None, 10),
        queued("b", "kela", None, "fi", None, 20),
        queued("v", "vero", None, "fi", None, 15),
        queued("c", "kela", None, "fi", None, 30),
    ];
    assert_eq!(position(&tickets, "a"), Some(1));
    assert_eq!(position(&tickets, "v"), Some(1));
    assert_eq!(position(&tickets, "c"), Some(3));
    tickets[0].state.apply(TicketEvent::ExpertAccepts(sid("kela-anna"))).unwrap();
    assert_eq!(position(&tickets, "a"), None);
    assert_eq!(position(&tickets, "c"), Some(2));
    assert_eq!(position(&tickets, "nope"), None);
}

const NOW: u64 = 1_000 * HOUR;
const TYPICAL: u64 = 20 * MINUTE;

#[test]
fn estimate_examples() {
    let free = ExpertTimes { free_at: 0, blocked: vec![] };
    assert_eq!(estimate_wait(NOW, 1, std::slice::from_ref(&free), TYPICAL), Some(0));
    assert_eq!(estimate_wait(NOW, 3, std::slice::from_ref(&free), TYPICAL), Some(2 * TYPICAL));
    assert_eq!(estimate_wait(NOW, 3, &[free.clone(), free.clone()], TYPICAL), Some(TYPICAL));
    assert_eq!(estimate_wait(NOW, 1, &[], TYPICAL), None, "nobody on duty: no estimate");
    // Busy until ten minutes from now.
    let busy = ExpertTimes { free_at: NOW + 10 * MINUTE, blocked: vec![] };
    assert_eq!(estimate_wait(NOW, 1, &[busy], TYPICAL), Some(10 * MINUTE));
    // An appointment in 15 minutes for 30 minutes: a 20-minute session does not fit before it.
    let booked = ExpertTimes { free_at: 0, blocked: vec![Interval::new(NOW + 15 * MINUTE, NOW + 45 * MINUTE)] };
    assert_eq!(estimate_wait(NOW, 1, std::slice::from_ref(&booked), TYPICAL), Some(45 * MINUTE));
    // Blocked for ever: that expert never takes anyone.
    let gone = ExpertTimes { free_at: 0, blocked: vec![Interval::new(NOW, u64::MAX)] };
    assert_eq!(estimate_wait(NOW, 1, &[gone], TYPICAL), None);
}

fn arb_expert() -> impl Strategy<Value = ExpertTimes> {
    (0..3 * HOUR, proptest::collection::vec((0..8 * HOUR, 1..2 * HOUR), 0..4)).prop_map(|(busy_for, blocks)| {
        ExpertTimes {
            free_at: NOW - HOUR + busy_for,
            blocked: blocks.into_iter().map(|(s, l)| Interval::new(NOW + s, NOW + s + l)).collect(),
        }
    })
}

/// `None` (nobody can take it) counts as longer than any wait.
fn as_wait(w: Option<u64>) -> u64 {
    w.unwrap_or(u64::MAX)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_estimate_never_decreases_with_the_position(
        experts in proptest::collection::vec(arb_expert(), 0..5),
        typical in 1..90 * MINUTE,
        position in 1u32..40,
    ) {
        let here = as_wait(estimate_wait(NOW, position, &experts, typical));
        let behind = as_wait(estimate_wait(NOW, position + 1, &experts, typical));
        prop_assert!(here <= behind, "position {} waits {} but {} waits {}", position, here, position + 1, behind);
    }

    #[test]
    fn the_estimate_never_increases_with_more_experts(
        experts in proptest::collection::vec(arb_expert(), 0..5),
        extra in arb_expert(),
        at in 0usize..6,
        typical in 1..90 * MINUTE,
        position in 1u32..40,
    ) {
        let before = as_wait(estimate_wait(NOW, position, &experts, typical));
        let mut more = experts.clone();
        more.insert(at.min(more.len()), extra);
        let after = as_wait(estimate_wait(NOW, position, &more, typical));
        prop_assert!(after <= before, "{} with one more expert, {} without", after, before);
        let free = ExpertTimes::default();
        let mut with_free = experts.clone();
        with_free.push(free);
        prop_assert!(as_wait(estimate_wait(NOW, position, &with_free, typical)) <= before);
    }

    #[test]
    fn the_first_ticket_with_a_free_expert_waits_nothing(
        experts in proptest::collection::vec(arb_expert(), 0..5),
        at in 0usize..6,
        typical in 1..90 * MINUTE,
    ) {
        let mut all = experts.clone();
        all.insert(at.min(all.len()), ExpertTimes { free_at: NOW - 1, blocked: vec![] });
        prop_assert_eq!(estimate_wait(NOW, 1, &all, typical), Some(0));
    }

    #[test]
    fn appointments_coming_never_shorten_the_wait(
        experts in proptest::collection::vec(arb_expert(), 1..5),
        which in 0usize..5,
        start in 0..4 * HOUR,
        length in 1..2 * HOUR,
        typical in 1..90 * MINUTE,
        position in 1u32..20,
    ) {
        let before = as_wait(estimate_wait(NOW, position, &experts, typical));
        let mut booked = experts.clone();
        let i = which % booked.len();
        booked[i].blocked.push(Interval::new(NOW + start, NOW + start + length));
        let after = as_wait(estimate_wait(NOW, position, &booked, typical));
        prop_assert!(after >= before, "{} with the appointment, {} without", after, before);
    }

    #[test]
    fn an_appointment_right_now_makes_a_lone_free_expert_wait(typical in 1..90 * MINUTE, length in 1..2 * HOUR) {
        let free = ExpertTimes { free_at: NOW, blocked: vec![] };
        let booked = ExpertTimes { free_at: NOW, blocked: vec![Interval::new(NOW, NOW + length)] };
        prop_assert_eq!(estimate_wait(NOW, 1, &[free], typical), Some(0));
        prop_assert_eq!(estimate_wait(NOW, 1, &[booked], typical), Some(length));
    }
}
