//! The events hub: tells watching clients that something they may see has changed, so that they fetch it again.
//!
//! A change carries no data, only its topic, a key (which agency's queue, which ticket, …) and its audience: REST
//! stays the one source of truth, and a pushed message can never show anyone more than the API would. Publishers
//! (walk-in queue, interpreter offers, bookings) call [`Events::publish`] after their database change has
//! committed. One `tokio::sync::broadcast` channel carries every change; each watching WebSocket connection
//! holds a receiver and a [`Watcher`] that decides, from the caller's role and the rooms-config, which changes
//! are theirs. A connection that falls behind the channel is told "anything may have changed" for each of its
//! topics (an empty key) rather than being cut off.

use crate::auth::AccessClaims;
use crate::rooms_config::RoomsConfig;
use std::sync::Arc;
use tokio::sync::broadcast;
use vayla_domain::{Role, RoomId, SubjectId};
use vayla_protocol::Topic;

/// Changes buffered for a slow watcher before it is told to refetch everything.
const CAPACITY: usize = 1024;

/// Who may be told of a change. A change is sent to a watcher only when its audience includes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// The experts of this agency, and admins.
    Agency(String),
    /// This device (by its room id), the advisors of its service point, and admins.
    Device(RoomId),
    /// One person (or device) by subject id, and admins.
    Person(SubjectId),
    /// Schedulers and admins.
    Schedulers,
    /// Every interpreter, and admins.
    Interpreters,
    /// Whoever is in any of these. One change for several audiences is one message to each watcher, however
    /// many of the audiences they are in (an admin is in all).
    AnyOf(Vec<Audience>),
}

/// One change: "`topic` / `key` changed, and `audience` may see it".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub topic: Topic,
    pub key: String,
    pub audience: Audience,
}

/// The publishing side, cloned into whoever changes watched things.
#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Arc<Change>>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Events { tx }
    }

    /// Tell the watchers in `change.audience`. Never blocks and never fails: with nobody watching, the change
    /// is simply dropped (clients read the current state over REST when they start watching).
    pub fn publish(&self, change: Change) {
        tracing::debug!(topic = ?change.topic, key = %change.key, "change published");
        let _ = self.tx.send(Arc::new(change));
    }

    /// A receiver of every change from now on; pair it with a [`Watcher`] to filter.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.tx.subscribe()
    }
}

/// One watching caller: who they are, and so which changes they get.
#[derive(Debug, Clone)]
pub struct Watcher {
    subject: SubjectId,
    role: Role,
}

impl Watcher {
    pub fn new(claims: &AccessClaims) -> Option<Self> {
        Some(Watcher { subject: SubjectId::new(claims.sub.as_str()).ok()?, role: claims.role })
    }

    /// The topics this caller can ever be told about, for the `watching` reply.
    pub fn topics(&self) -> Vec<Topic> {
        match self.role {
            Role::Admin => Topic::ALL.to_vec(),
            Role::Scheduler => vec![Topic::InterpreterRequests, Topic::Appointments],
            Role::Expert => vec![Topic::WalkinQueue, Topic::WalkinTicket, Topic::Appointments],
            Role::Interpreter => {
                vec![Topic::WalkinQueue, Topic::WalkinTicket, Topic::InterpreterOffers, Topic::Appointments]
            }
            Role::Device | Role::Advisor => vec![Topic::WalkinTicket, Topic::Appointments],
        }
    }

    /// Whether this caller is in the change's audience. Looked up in the rooms-config in force, so that a
    /// person who moves to another agency or service point follows the move without watching again.
    pub fn wants(&self, change: &Change, config: &RoomsConfig) -> bool {
        self.role == Role::Admin || self.in_audience(&change.audience, config)
    }

    fn in_audience(&self, audience: &Audience, config: &RoomsConfig) -> bool {
        match audience {
            Audience::Agency(agency) => {
                self.role == Role::Expert
                    && config.person(&self.subject).and_then(|p| p.agency.as_deref()) == Some(agency.as_str())
            }
            Audience::Device(room) => match self.role {
                Role::Device => config.device(room).is_some_and(|d| d.subject == self.subject),
                Role::Advisor => {
                    let point = config.device(room).map(|d| d.service_point.as_str());
                    point.is_some() && config.person(&self.subject).and_then(|p| p.service_point.as_deref()) == point
                }
                _ => false,
            },
            Audience::Person(subject) => *subject == self.subject,
            Audience::Schedulers => self.role == Role::Scheduler,
            Audience::Interpreters => self.role == Role::Interpreter,
            Audience::AnyOf(audiences) => audiences.iter().any(|a| self.in_audience(a, config)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RoomsConfig {
        let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rooms-config");
        crate::rooms_config::load_dir(&demo).expect("the demo rooms-config loads")
    }

    fn watcher(sub: &str, role: Role) -> Watcher {
        Watcher { subject: SubjectId::new(sub).unwrap(), role }
    }

    fn change(audience: Audience) -> Change {
        Change { topic: Topic::WalkinQueue, key: "k".into(), audience }
    }

    #[test]
    fn audiences_reach_exactly_the_people_they_name() {
        let config = config();
        let device_subject = config.device(&RoomId::new("mikkeli-1").unwrap()).unwrap().subject.clone();
        let all = [
            watcher("kela-anna", Role::Expert),
            watcher("vero-liisa", Role::Expert),
            watcher("advisor-mikkeli", Role::Advisor),
            watcher("advisor-kiiminki", Role::Advisor),
            watcher("tulkki-aino", Role::Interpreter),
            watcher("scheduler", Role::Scheduler),
            watcher(device_subject.as_str(), Role::Device),
            watcher("admin", Role::Admin),
        ];
        let reached = |c: &Change| -> Vec<String> {
            all.iter().filter(|w| w.wants(c, &config)).map(|w| w.subject.as_str().to_string()).collect()
        };
        assert_eq!(reached(&change(Audience::Agency("kela".into()))), ["kela-anna", "admin"]);
        assert_eq!(
            reached(&change(Audience::Device(RoomId::new("mikkeli-1").unwrap()))),
            ["advisor-mikkeli", device_subject.as_str(), "admin"]
        );
        assert_eq!(
            reached(&change(Audience::Person(SubjectId::new("tulkki-aino").unwrap()))),
            ["tulkki-aino", "admin"]
        );
        assert_eq!(reached(&change(Audience::Schedulers)), ["scheduler", "admin"]);
        assert_eq!(reached(&change(Audience::Interpreters)), ["tulkki-aino", "admin"]);
        let several =
            Audience::AnyOf(vec![Audience::Schedulers, Audience::Agency("vero".into()), Audience::Interpreters]);
        assert_eq!(reached(&change(several)), ["vero-liisa", "tulkki-aino", "scheduler", "admin"]);
        // An unknown device or agency reaches only admins.
        assert_eq!(reached(&change(Audience::Device(RoomId::new("nowhere-1").unwrap()))), ["admin"]);
        assert_eq!(reached(&change(Audience::Agency("migri".into()))), ["admin"]);
    }

    #[tokio::test]
    async fn published_changes_reach_subscribers_in_order() {
        let events = Events::new();
        let mut rx = events.subscribe();
        for key in ["a", "b"] {
            events.publish(Change { topic: Topic::WalkinTicket, key: key.into(), audience: Audience::Schedulers });
        }
        assert_eq!(rx.recv().await.unwrap().key, "a");
        assert_eq!(rx.recv().await.unwrap().key, "b");
    }
}
