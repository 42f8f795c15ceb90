use super::*;
use proptest::prelude::*;

fn sid(s: &str) -> SubjectId {
    SubjectId::new(s).unwrap()
}

fn room() -> Room {
    Room::new(RoomId::new("mikkeli-2").unwrap(), sid("mikkeli-2"), 30_000)
}

fn open(r: &mut Room, seats: &[(Role, &str)]) {
    let seats = seats.iter().map(|(role, s)| SeatSpec { role: *role, subject: sid(s) }).collect();
    r.apply(0, Command::Open { session: SessionId::new("s1").unwrap(), by: sid("adv"), seats }).unwrap();
}

fn recorded(
    id: &str,
    opened_at: Millis,
    by: &str,
    seats: Vec<(SeatId, Role, SubjectId)>,
    lock: LockState,
    appointment: Option<String>,
) -> RecordedSession {
    RecordedSession { id: SessionId::new(id).unwrap(), opened_at, opened_by: sid(by), seats, lock, appointment }
}

fn join(r: &mut Room, conn: u64, who: &str, role: Role) -> Result<Vec<Effect>, RoomError> {
    r.apply(conn, Command::Join { conn: ConnId(conn), subject: sid(who), role })
}

#[test]
fn locks_exactly_when_the_last_seat_is_taken() {
    let mut r = room();
    open(&mut r, &[(Role::Expert, "kela-anna"), (Role::Interpreter, "tulkki-a")]);
    assert_eq!(r.phase(), RoomPhase::Gathering);
    join(&mut r, 1, "mikkeli-2", Role::Device).unwrap();
    let fx = join(&mut r, 2, "kela-anna", Role::Expert).unwrap();
    assert!(!fx.iter().any(|e| matches!(e, Effect::Locked { .. })));
    assert_eq!(r.phase(), RoomPhase::Gathering);
    let fx = join(&mut r, 3, "tulkki-a", Role::Interpreter).unwrap();
    assert_eq!(fx.last(), Some(&Effect::Locked { by: None }));
    assert_eq!(r.phase(), RoomPhase::Locked);
}

#[test]
fn outsiders_are_refused_while_locked_and_seat_holders_get_back_in() {
    let mut r = room();
    open(&mut r, &[(Role::Expert, "kela-anna")]);
    join(&mut r, 1, "mikkeli-2", Role::Device).unwrap();
    join(&mut r, 2, "kela-anna", Role::Expert).unwrap();
    assert_eq!(join(&mut r, 3, "vero-ville", Role::Expert), Err(RoomError::Locked));
    r.apply(10, Command::Leave { conn: ConnId(2), reason: LeaveReason::Dropped }).unwrap();
    assert_eq!(r.phase(), RoomPhase::Locked);
    let fx = join(&mut r, 4, "kela-anna", Role::Expert).unwrap();
    assert!(matches!(fx[0], Effect::Admitted { how: Admission::Seat, .. }));
}

#[test]
fn a_second_connection_to_a_seat_replaces_the_first() {
    let mut r = room();
    open(&mut r, &[(Role::Expert, "kela-anna")]);
    join(&mut r, 1, "kela-anna", Role::Expert).unwrap();
    let fx = join(&mut r, 2, "kela-anna", Role::Expert).unwrap();
    assert_eq!(fx[0], Effect::Replaced { old: ConnId(1), by: ConnId(2), seat: SeatId::new("expert-1").unwrap() });
    let s = r.session.as_ref().unwrap();
    assert_eq!(s.participants.len(), 1);
    assert!(s.participants.contains_key(&ConnId(2)));
}

#[test]
fn another_devices_token_cannot_join() {
    let mut r = room();
    open(&mut r, &[(Role::Expert, "kela-anna")]);
    assert_eq!(join(&mut r, 1, "mikkeli-1", Role::Device), Err(RoomError::WrongRoom));
    assert_eq!(join(&mut r, 1, "sched", Role::Scheduler), Err(RoomError::RoleCannotJoin(Role::Scheduler)));
}

#[test]
fn only_a_seated_expert_unlocks_and_locks_and_extras_get_seats_at_relock() {
    let mut r = room();
    open(&mut r, &[(Role::Expert, "kela-anna")]);
    join(&mut r, 1, "mikkeli-2", Role::Device).unwrap();
    join(&mut r, 2, "kela-anna", Role::Expert).unwrap();
    assert_eq!(r.apply(5, Command::Unlock { conn: ConnId(1) }), Err(RoomError::NotExpert));
    assert_eq!(r.apply(5, Command::Unlock { conn: ConnId(2) }).unwrap(), vec![Effect::Unlocked { by: ConnId(2) }]);
    let fx = join(&mut r, 3, "vero-ville", Role::Expert).unwrap();
    assert!(matches!(fx[0], Effect::Admitted { how: Admission::Guest, .. }));
    // Unlocked rooms never lock by themselves, and a guest expert cannot lock.
    assert_eq!(r.phase(), RoomPhase::Unlocked);
    assert_eq!(r.apply(6, Command::Lock { conn: ConnId(3) }), Err(RoomError::NotExpert));
    let fx = r.apply(7, Command::Lock { conn: ConnId(2) }).unwrap();
    assert_eq!(fx[0], Effect::Seated { conn: ConnId(3), seat: SeatId::new("guest-1").unwrap() });
    assert_eq!(fx[1], Effect::Locked { by: Some(ConnId(2)) });
    // The extra expert now holds a seat: a drop and a rejoin get back in.
    r.apply(8, Command::Leave { conn: ConnId(3), reason: LeaveReason::Dropped }).unwrap();
    join(&mut r, 9, "vero-ville", Role::Expert).unwrap();
}

#[test]
fn ends_after_everyone_left_past_grace_and_resets() {
    let mut r = room();
    open(&mut r, &[(Role::Expert, "kela-anna")]);
    join(&mut r, 1, "kela-anna", Role::Expert).unwrap();
    r.apply(1_000, Command::Leave { conn: ConnId(1), reason: LeaveReason::Dropped }).unwrap();
    assert_eq!(r.next_deadline(), Some(31_000));
    assert!(r.apply(30_999, Command::Tick).unwrap().is_empty());
    // Coming back inside the grace period cancels the countdown.
    join(&mut r, 2, "kela-anna", Role::Expert).unwrap();
    assert_eq!(r.next_deadline(), None);
    r.apply(40_000, Command::Leave { conn: ConnId(2), reason: LeaveReason::Left }).unwrap();
    let fx = r.apply(70_000, Command::Tick).unwrap();
    assert!(matches!(&fx[0], Effect::SessionEnded { reason: EndReason::EveryoneLeft, .. }));
    assert_eq!(r.phase(), RoomPhase::Idle);
    open(&mut r, &[(Role::Expert, "kela-anna")]);
}

#[test]
fn seats_are_validated() {
    let mut r = room();
    let bad = |seats: Vec<SeatSpec>| {
        let mut r = room();
        r.apply(0, Command::Open { session: SessionId::new("s").unwrap(), by: sid("a"), seats })
    };
    assert!(matches!(bad(vec![]), Err(RoomError::BadSeats(_))));
    assert!(matches!(
        bad(vec![SeatSpec { role: Role::Device, subject: sid("kiiminki-1") }]),
        Err(RoomError::BadSeats(_))
    ));
    assert!(matches!(
        bad(vec![
            SeatSpec { role: Role::Expert, subject: sid("x") },
            SeatSpec { role: Role::Interpreter, subject: sid("x") }
        ]),
        Err(RoomError::BadSeats(_))
    ));
    assert!(matches!(bad(vec![SeatSpec { role: Role::Admin, subject: sid("x") }]), Err(RoomError::BadSeats(_))));
    open(&mut r, &[(Role::Expert, "a"), (Role::Expert, "b"), (Role::Interpreter, "c")]);
    let ids: Vec<_> = r.session.as_ref().unwrap().seats.iter().map(|s| s.id.to_string()).collect();
    assert_eq!(ids, ["device", "expert-1", "expert-2", "interpreter-1"]);
    assert_eq!(
        r.apply(0, Command::Open { session: SessionId::new("s2").unwrap(), by: sid("a"), seats: vec![] }),
        Err(RoomError::SessionOpen)
    );
}

#[test]
fn a_restored_session_takes_its_seat_holders_back_and_ends_if_nobody_returns() {
    let seats = vec![
        (SeatId::new("device").unwrap(), Role::Device, sid("mikkeli-2")),
        (SeatId::new("expert-1").unwrap(), Role::Expert, sid("kela-anna")),
        (SeatId::new("guest-2").unwrap(), Role::Expert, sid("vero-ville")),
    ];
    let mut r = room();
    r.restore(1_000, recorded("s1", 10, "adv", seats.clone(), LockState::Locked, None)).unwrap();
    assert_eq!(r.phase(), RoomPhase::Locked);
    assert_eq!(join(&mut r, 1, "tulkki-a", Role::Interpreter), Err(RoomError::Locked));
    join(&mut r, 2, "vero-ville", Role::Expert).unwrap();
    // A later guest gets the next number, never a recorded one.
    r.apply(5, Command::Unlock { conn: ConnId(2) }).unwrap();
    join(&mut r, 3, "tulkki-a", Role::Interpreter).unwrap();
    let fx = r.apply(6, Command::Lock { conn: ConnId(2) }).unwrap();
    assert_eq!(fx[0], Effect::Seated { conn: ConnId(3), seat: SeatId::new("guest-3").unwrap() });

    let mut idle = room();
    idle.restore(1_000, recorded("s2", 10, "adv", seats.clone(), LockState::Gathering, None)).unwrap();
    assert!(idle.apply(30_999, Command::Tick).unwrap().is_empty());
    assert!(matches!(
        idle.apply(31_000, Command::Tick).unwrap()[0],
        Effect::SessionEnded { reason: EndReason::EveryoneLeft, .. }
    ));

    let mut other = Room::new(RoomId::new("mikkeli-1").unwrap(), sid("mikkeli-1"), 30_000);
    let e = other.restore(0, recorded("s3", 0, "adv", seats, LockState::Locked, None));
    assert!(matches!(e, Err(RoomError::BadSeats(_))));
    assert!(other.session.is_none());
}

// ---- appointments -----------------------------------------------------------------------------------

const MIN: Millis = 60_000;

fn booking(id: &str, start: Millis, end: Millis, seats: &[(Role, &str)]) -> Booking {
    Booking {
        appointment: id.into(),
        start,
        end,
        seats: seats.iter().map(|(role, s)| SeatSpec { role: *role, subject: sid(s) }).collect(),
    }
}

fn booked_room() -> Room {
    room().with_join_early(10 * MIN)
}

fn join_booked(
    r: &mut Room,
    now: Millis,
    conn: u64,
    who: &str,
    role: Role,
    bookings: &[Booking],
) -> Result<Vec<Effect>, RoomError> {
    let session = SessionId::new(format!("s-{conn}")).unwrap();
    r.apply(
        now,
        Command::JoinBooked { conn: ConnId(conn), subject: sid(who), role, bookings: bookings.to_vec(), session },
    )
}

#[test]
fn the_booked_participants_open_the_appointments_session_and_it_locks_when_they_are_all_in() {
    let mut r = booked_room();
    let b = [booking("a1", 100 * MIN, 130 * MIN, &[(Role::Expert, "kela-anna")])];
    let fx = join_booked(&mut r, 95 * MIN, 1, "mikkeli-2", Role::Device, &b).unwrap();
    assert_eq!(fx[0], Effect::SessionOpened { session: SessionId::new("s-1").unwrap() });
    assert!(matches!(fx[1], Effect::Admitted { how: Admission::Seat, .. }));
    let s = r.session.as_ref().unwrap();
    assert_eq!(s.appointment.as_deref(), Some("a1"));
    assert_eq!(s.opened_by, sid("mikkeli-2"));
    let seats: Vec<_> = s.seats.iter().map(|x| (x.id.to_string(), x.subject.to_string())).collect();
    assert_eq!(seats, [("device".into(), "mikkeli-2".into()), ("expert-1".into(), "kela-anna".into())]);
    assert_eq!(r.phase(), RoomPhase::Gathering);
    let fx = join_booked(&mut r, 96 * MIN, 2, "kela-anna", Role::Expert, &b).unwrap();
    assert_eq!(fx.last(), Some(&Effect::Locked { by: None }));
    // The expert alone can open it too, and the device comes in after.
    let mut r = booked_room();
    join_booked(&mut r, 101 * MIN, 1, "kela-anna", Role::Expert, &b).unwrap();
    assert_eq!(r.session.as_ref().unwrap().opened_by, sid("kela-anna"));
    join(&mut r, 2, "mikkeli-2", Role::Device).unwrap();
    assert_eq!(r.phase(), RoomPhase::Locked);
}

#[test]
fn an_expert_not_booked_for_the_appointment_is_refused_and_an_advisor_is_not() {
    let b = [booking("a1", 100 * MIN, 130 * MIN, &[(Role::Expert, "kela-anna")])];
    // Idle room, appointment due: only its participants open it.
    let mut r = booked_room();
    assert_eq!(join_booked(&mut r, 100 * MIN, 1, "kela-mikko", Role::Expert, &b), Err(RoomError::NotBooked));
    assert_eq!(join_booked(&mut r, 100 * MIN, 1, "tulkki-a", Role::Interpreter, &b), Err(RoomError::NotBooked));
    assert_eq!(join_booked(&mut r, 100 * MIN, 1, "adv-mikkeli", Role::Advisor, &b), Err(RoomError::NoSession));
    assert!(r.session.is_none());
    // In the appointment's session, gathering or locked, with or without the bookings at hand.
    join_booked(&mut r, 100 * MIN, 2, "mikkeli-2", Role::Device, &b).unwrap();
    assert_eq!(join_booked(&mut r, 101 * MIN, 3, "kela-mikko", Role::Expert, &b), Err(RoomError::NotBooked));
    assert_eq!(join(&mut r, 3, "kela-mikko", Role::Expert), Err(RoomError::NotBooked));
    // The advisor helping at the device keeps the walk-in rules: a guest while gathering, seated at the lock.
    let fx = join_booked(&mut r, 101 * MIN, 4, "adv-mikkeli", Role::Advisor, &b).unwrap();
    assert!(matches!(fx.last(), Some(Effect::Admitted { how: Admission::Guest, .. })));
    join_booked(&mut r, 102 * MIN, 5, "kela-anna", Role::Expert, &b).unwrap();
    assert_eq!(r.phase(), RoomPhase::Locked);
    assert_eq!(join_booked(&mut r, 103 * MIN, 6, "kela-mikko", Role::Expert, &b), Err(RoomError::NotBooked));
    // The booked expert may unlock to admit someone extra, deliberately.
    r.apply(104 * MIN, Command::Unlock { conn: ConnId(5) }).unwrap();
    let fx = join_booked(&mut r, 105 * MIN, 7, "kela-mikko", Role::Expert, &b).unwrap();
    assert!(matches!(fx.last(), Some(Effect::Admitted { how: Admission::Guest, .. })));
}

#[test]
fn joining_before_the_window_is_too_early_and_names_the_start() {
    let b = [booking("a1", 600 * MIN, 630 * MIN, &[(Role::Expert, "kela-anna")])];
    let mut r = booked_room();
    let e = join_booked(&mut r, 480 * MIN, 1, "kela-anna", Role::Expert, &b).unwrap_err();
    assert_eq!(e, RoomError::TooEarly { starts_at: 600 * MIN, opens_at: 590 * MIN });
    assert_eq!(e.to_string(), "your appointment starts at 1970-01-01T10:00:00Z; joining opens at 1970-01-01T09:50:00Z");
    // One millisecond before the window, still too early; at its first moment, in.
    assert!(matches!(
        join_booked(&mut r, 590 * MIN - 1, 1, "kela-anna", Role::Expert, &b),
        Err(RoomError::TooEarly { .. })
    ));
    // The device simply has no session yet (it waits for one, as it always has).
    assert_eq!(join_booked(&mut r, 480 * MIN, 2, "mikkeli-2", Role::Device, &b), Err(RoomError::NoSession));
    join_booked(&mut r, 590 * MIN, 3, "kela-anna", Role::Expert, &b).unwrap();
    assert_eq!(r.session.as_ref().unwrap().appointment.as_deref(), Some("a1"));
    // After the end, the appointment no longer opens anything.
    let mut late = booked_room();
    assert_eq!(join_booked(&mut late, 630 * MIN, 1, "kela-anna", Role::Expert, &b), Err(RoomError::NoSession));
}

#[test]
fn an_expert_booked_later_is_too_early_in_another_appointments_session() {
    let b = [
        booking("a1", 100 * MIN, 130 * MIN, &[(Role::Expert, "kela-anna")]),
        booking("a2", 200 * MIN, 230 * MIN, &[(Role::Expert, "vero-ville")]),
    ];
    let mut r = booked_room();
    join_booked(&mut r, 100 * MIN, 1, "kela-anna", Role::Expert, &b).unwrap();
    let e = join_booked(&mut r, 101 * MIN, 2, "vero-ville", Role::Expert, &b);
    assert_eq!(e, Err(RoomError::TooEarly { starts_at: 200 * MIN, opens_at: 190 * MIN }));
}

#[test]
fn a_reserved_interpreter_is_a_seat_and_the_room_locks_only_with_them() {
    let b = [booking("a1", 100 * MIN, 130 * MIN, &[(Role::Expert, "kela-anna"), (Role::Interpreter, "tulkki-a")])];
    let mut r = booked_room();
    join_booked(&mut r, 100 * MIN, 1, "mikkeli-2", Role::Device, &b).unwrap();
    join_booked(&mut r, 100 * MIN, 2, "kela-anna", Role::Expert, &b).unwrap();
    assert_eq!(r.phase(), RoomPhase::Gathering);
    let fx = join_booked(&mut r, 101 * MIN, 3, "tulkki-a", Role::Interpreter, &b).unwrap();
    assert_eq!(fx.last(), Some(&Effect::Locked { by: None }));
    let ids: Vec<_> = r.session.as_ref().unwrap().seats.iter().map(|s| s.id.to_string()).collect();
    assert_eq!(ids, ["device", "expert-1", "interpreter-1"]);
}

#[test]
fn an_interpreter_reserved_after_the_session_opened_gets_a_seat() {
    let before = [booking("a1", 100 * MIN, 130 * MIN, &[(Role::Expert, "kela-anna")])];
    let after = [booking("a1", 100 * MIN, 130 * MIN, &[(Role::Expert, "kela-anna"), (Role::Interpreter, "tulkki-a")])];
    let mut r = booked_room();
    join_booked(&mut r, 100 * MIN, 1, "mikkeli-2", Role::Device, &before).unwrap();
    join_booked(&mut r, 100 * MIN, 2, "kela-anna", Role::Expert, &before).unwrap();
    assert_eq!(r.phase(), RoomPhase::Locked);
    let fx = join_booked(&mut r, 105 * MIN, 3, "tulkki-a", Role::Interpreter, &after).unwrap();
    let seat = SeatId::new("interpreter-1").unwrap();
    assert_eq!(fx[0], Effect::SeatAdded { seat: seat.clone(), role: Role::Interpreter, subject: sid("tulkki-a") });
    assert!(matches!(&fx[1], Effect::Admitted { participant, how: Admission::Seat } if participant.seat == Some(seat)));
    assert_eq!(r.phase(), RoomPhase::Locked);
}

#[test]
fn a_walk_in_session_keeps_the_room_until_it_ends() {
    let b = [booking("a1", 100 * MIN, 130 * MIN, &[(Role::Expert, "vero-ville")])];
    let mut r = booked_room();
    open(&mut r, &[(Role::Expert, "kela-anna")]);
    join(&mut r, 1, "mikkeli-2", Role::Device).unwrap();
    // The appointment's expert waits: never merged into another customer's meeting.
    assert_eq!(join_booked(&mut r, 100 * MIN, 2, "vero-ville", Role::Expert, &b), Err(RoomError::SessionOpen));
    // The walk-in goes on by its rules: its seat holders get in, a guest may join while gathering.
    join_booked(&mut r, 100 * MIN, 3, "kela-anna", Role::Expert, &b).unwrap();
    r.apply(101 * MIN, Command::End).unwrap();
    // Once it is over, the appointment opens.
    join_booked(&mut r, 102 * MIN, 4, "vero-ville", Role::Expert, &b).unwrap();
    assert_eq!(r.session.as_ref().unwrap().appointment.as_deref(), Some("a1"));

    let mut g = booked_room();
    open(&mut g, &[(Role::Expert, "kela-anna")]);
    let fx = join_booked(&mut g, 100 * MIN, 1, "kela-mikko", Role::Expert, &b).unwrap();
    assert!(matches!(fx.last(), Some(Effect::Admitted { how: Admission::Guest, .. })));
}

#[test]
fn of_two_due_appointments_the_later_one_opens() {
    let b = [
        booking("a1", 100 * MIN, 130 * MIN, &[(Role::Expert, "kela-anna")]),
        booking("a2", 130 * MIN, 160 * MIN, &[(Role::Expert, "kela-anna")]),
    ];
    let mut r = booked_room();
    join_booked(&mut r, 110 * MIN, 1, "mikkeli-2", Role::Device, &b).unwrap();
    assert_eq!(r.session.as_ref().unwrap().appointment.as_deref(), Some("a1"));
    let mut r = booked_room();
    join_booked(&mut r, 125 * MIN, 1, "mikkeli-2", Role::Device, &b).unwrap();
    assert_eq!(r.session.as_ref().unwrap().appointment.as_deref(), Some("a2"));
}

#[test]
fn a_restored_appointment_session_still_refuses_the_unbooked() {
    let seats = vec![
        (SeatId::new("device").unwrap(), Role::Device, sid("mikkeli-2")),
        (SeatId::new("expert-1").unwrap(), Role::Expert, sid("kela-anna")),
    ];
    let mut r = booked_room();
    r.restore(0, recorded("s1", 0, "kela-anna", seats, LockState::Gathering, Some("a1".into()))).unwrap();
    assert_eq!(join(&mut r, 1, "kela-mikko", Role::Expert), Err(RoomError::NotBooked));
    join(&mut r, 2, "kela-anna", Role::Expert).unwrap();
}

// ---- properties -------------------------------------------------------------------------------------

const PEOPLE: [(&str, Role); 6] = [
    ("mikkeli-2", Role::Device),
    ("mikkeli-1", Role::Device),
    ("kela-anna", Role::Expert),
    ("vero-ville", Role::Expert),
    ("tulkki-a", Role::Interpreter),
    ("adv-mikkeli", Role::Advisor),
];

#[derive(Debug, Clone)]
enum Op {
    Join(usize),
    JoinBooked(usize),
    Leave(u64, bool),
    Lock(u64),
    Unlock(u64),
    End,
    Tick(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..PEOPLE.len()).prop_map(Op::Join),
        3 => (0..PEOPLE.len()).prop_map(Op::JoinBooked),
        2 => (1..40u64, any::<bool>()).prop_map(|(c, d)| Op::Leave(c, d)),
        1 => (1..40u64).prop_map(Op::Lock),
        1 => (1..40u64).prop_map(Op::Unlock),
        1 => Just(Op::End),
        1 => (0..60_000u64).prop_map(Op::Tick),
    ]
}

fn check_invariants(r: &Room) {
    let Some(s) = &r.session else { return };
    // Exactly one connection per occupied seat, and each occupant is a participant sitting in that seat.
    for seat in &s.seats {
        if let Some(c) = seat.occupant {
            let p = s.participants.get(&c).expect("occupant is a participant");
            assert_eq!(p.seat.as_ref(), Some(&seat.id));
            assert_eq!(p.subject, seat.subject);
        }
    }
    // A subject is connected at most once.
    let mut subjects: Vec<_> = s.participants.values().map(|p| &p.subject).collect();
    subjects.sort();
    let n = subjects.len();
    subjects.dedup();
    assert_eq!(n, subjects.len(), "a subject has two connections");
    // A subject holds at most one seat.
    let mut seat_subjects: Vec<_> = s.seats.iter().map(|x| &x.subject).collect();
    seat_subjects.sort();
    let n = seat_subjects.len();
    seat_subjects.dedup();
    assert_eq!(n, seat_subjects.len(), "a subject holds two seats");
    // While locked, everyone present holds a seat.
    if s.lock == LockState::Locked {
        assert!(s.participants.values().all(|p| p.seat.is_some()));
    }
    // Only the room's own device is ever inside.
    assert!(s.participants.values().all(|p| p.role != Role::Device || p.subject == r.device));
    // In an appointment's session, unless an expert unlocked it, every expert and interpreter holds a seat.
    if s.appointment.is_some() && s.lock != LockState::Unlocked {
        assert!(s
            .participants
            .values()
            .all(|p| !matches!(p.role, Role::Expert | Role::Interpreter) || p.seat.is_some()));
    }
}

/// Appointments of the property test's room, in its time scale (100 ms per step).
fn prop_bookings() -> Vec<Booking> {
    vec![
        booking("a1", 1_000, 30_000, &[(Role::Expert, "kela-anna"), (Role::Interpreter, "tulkki-a")]),
        booking("a2", 30_000, 90_000, &[(Role::Expert, "vero-ville")]),
        booking("a3", 200_000, 900_000, &[(Role::Expert, "kela-anna")]),
    ]
}

proptest! {
    #[test]
    fn room_rules_always_hold(ops in proptest::collection::vec(op(), 1..80)) {
        let mut r = room().with_join_early(5_000);
        open(&mut r, &[(Role::Expert, "kela-anna"), (Role::Interpreter, "tulkki-a")]);
        let bookings = prop_bookings();
        let mut now = 0u64;
        let mut next_conn = 1u64;
        for op in ops {
            now += 100;
            let before = r.clone();
            let was_locked = r.phase() == RoomPhase::Locked;
            let result = match op {
                Op::Join(i) => {
                    let (who, role) = PEOPLE[i];
                    let conn = next_conn;
                    next_conn += 1;
                    let seated = r.session.as_ref().and_then(|s| s.seat_of(&sid(who))).is_some();
                    let res = join(&mut r, conn, who, role);
                    // The lock rule: a locked room admits exactly its seat holders (of this room's device).
                    if was_locked && role != Role::Device {
                        prop_assert_eq!(res.is_ok(), seated, "locked room: {} seated={}", who, seated);
                    }
                    if let Ok(fx) = &res {
                        // A join that completes the seats of a gathering room locks it in the same step.
                        if before.phase() == RoomPhase::Gathering && r.session.as_ref().unwrap().all_seats_taken() {
                            prop_assert!(fx.iter().any(|e| matches!(e, Effect::Locked { by: None })), "did not lock");
                        }
                    }
                    res
                }
                Op::JoinBooked(i) => {
                    let (who, role) = PEOPLE[i];
                    let conn = next_conn;
                    next_conn += 1;
                    let res = join_booked(&mut r, now, conn, who, role, &bookings);
                    if let (Ok(fx), Some(s)) = (&res, &r.session) {
                        // An admitted expert or interpreter in an appointment's session is booked for it, or
                        // an expert let them in.
                        if s.appointment.is_some() && matches!(role, Role::Expert | Role::Interpreter) {
                            let booked = bookings.iter().any(|b| Some(&b.appointment) == s.appointment.as_ref()
                                && b.seats.iter().any(|x| x.subject == sid(who)));
                            let seated_before = before.session.as_ref().and_then(|b| b.seat_of(&sid(who))).is_some();
                            prop_assert!(booked || seated_before || s.lock == LockState::Unlocked, "{} got in: {:?}", who, fx);
                        }
                    }
                    res
                }
                Op::Leave(c, dropped) => r.apply(now, Command::Leave {
                    conn: ConnId(c),
                    reason: if dropped { LeaveReason::Dropped } else { LeaveReason::Left },
                }),
                Op::Lock(c) => r.apply(now, Command::Lock { conn: ConnId(c) }),
                Op::Unlock(c) => r.apply(now, Command::Unlock { conn: ConnId(c) }),
                Op::End => r.apply(now, Command::End),
                Op::Tick(dt) => { now += dt; r.apply(now, Command::Tick) }
            };
            if result.is_err() {
                prop_assert_eq!(&r, &before, "a failed command changed the room");
            }
            check_invariants(&r);
        }
    }
}
