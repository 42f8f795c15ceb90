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
    r.restore(1_000, SessionId::new("s1").unwrap(), 10, sid("adv"), seats.clone(), LockState::Locked).unwrap();
    assert_eq!(r.phase(), RoomPhase::Locked);
    assert_eq!(join(&mut r, 1, "tulkki-a", Role::Interpreter), Err(RoomError::Locked));
    join(&mut r, 2, "vero-ville", Role::Expert).unwrap();
    // A later guest gets the next number, never a recorded one.
    r.apply(5, Command::Unlock { conn: ConnId(2) }).unwrap();
    join(&mut r, 3, "tulkki-a", Role::Interpreter).unwrap();
    let fx = r.apply(6, Command::Lock { conn: ConnId(2) }).unwrap();
    assert_eq!(fx[0], Effect::Seated { conn: ConnId(3), seat: SeatId::new("guest-3").unwrap() });

    let mut idle = room();
    idle.restore(1_000, SessionId::new("s2").unwrap(), 10, sid("adv"), seats.clone(), LockState::Gathering).unwrap();
    assert!(idle.apply(30_999, Command::Tick).unwrap().is_empty());
    assert!(matches!(
        idle.apply(31_000, Command::Tick).unwrap()[0],
        Effect::SessionEnded { reason: EndReason::EveryoneLeft, .. }
    ));

    let mut other = Room::new(RoomId::new("mikkeli-1").unwrap(), sid("mikkeli-1"), 30_000);
    let e = other.restore(0, SessionId::new("s3").unwrap(), 0, sid("adv"), seats, LockState::Locked);
    assert!(matches!(e, Err(RoomError::BadSeats(_))));
    assert!(other.session.is_none());
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
    Leave(u64, bool),
    Lock(u64),
    Unlock(u64),
    End,
    Tick(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..PEOPLE.len()).prop_map(Op::Join),
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
}

proptest! {
    #[test]
    fn room_rules_always_hold(ops in proptest::collection::vec(op(), 1..80)) {
        let mut r = room();
        open(&mut r, &[(Role::Expert, "kela-anna"), (Role::Interpreter, "tulkki-a")]);
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
