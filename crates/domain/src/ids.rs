//! Identifiers and roles. Each id is a validated newtype so that a room address can never be mixed up
//! with a person's id, and so that nothing unvalidated reaches a log line or a database row.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Milliseconds since the Unix epoch, UTC. The only notion of time in the domain; the caller owns the clock.
pub type Millis = u64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must be 1 to {max} characters of a-z, 0-9 and '-', starting with a letter or digit: {value:?}")]
    Invalid { kind: &'static str, max: usize, value: String },
}

fn is_slug(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                if is_slug(&value, $max) {
                    Ok(Self(value))
                } else {
                    Err(IdError::Invalid { kind: $kind, max: $max, value })
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::new(value)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

slug_id!(
    /// A room's permanent, human-readable address, e.g. `mikkeli-2`. It names the device's room and never
    /// depends on a network address or a client.
    RoomId, "room id", 64
);
slug_id!(
    /// Who someone is: a person's or a device's id from the rooms-config (`kela-anna`, `mikkeli-2`).
    SubjectId, "subject id", 64
);
slug_id!(
    /// One expected participant's place in a session: `device`, `expert-1`, `interpreter-1`, `guest-1`.
    SeatId, "seat id", 32
);
slug_id!(
    /// One session in a room, from open to end.
    SessionId, "session id", 64
);

/// One signalling connection. Assigned by the server, unique for the server's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// What someone is to Väylä. Carried in every access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A service point's remote-service device (the customer's side of the call).
    Device,
    /// A service point's service advisor (*palveluneuvoja*).
    Advisor,
    /// An agency's expert (*asiantuntija*).
    Expert,
    /// An interpreter (*tulkki*), spoken or sign language.
    Interpreter,
    /// Books appointments; never joins rooms.
    Scheduler,
    /// Operates Väylä; never joins rooms.
    Admin,
}

impl Role {
    pub const ALL: [Role; 6] =
        [Role::Device, Role::Advisor, Role::Expert, Role::Interpreter, Role::Scheduler, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Device => "device",
            Role::Advisor => "advisor",
            Role::Expert => "expert",
            Role::Interpreter => "interpreter",
            Role::Scheduler => "scheduler",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Roles that take part in calls. Schedulers and admins manage; they never sit in a room.
    pub fn joins_rooms(self) -> bool {
        matches!(self, Role::Device | Role::Advisor | Role::Expert | Role::Interpreter)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_ids_are_slugs() {
        assert!(RoomId::new("mikkeli-2").is_ok());
        assert!(RoomId::new("").is_err());
        assert!(RoomId::new("Mikkeli").is_err());
        assert!(RoomId::new("-x").is_err());
        assert!(RoomId::new("a/b").is_err());
        assert!(RoomId::new("x".repeat(65)).is_err());
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
