//! Authentication: passwords and device credentials, access tokens and room tokens, and rotating signing keys.
//!
//! Two kinds of JWT (HS256), told apart by audience so that one can never stand in for the other:
//! - an **access token** (`aud = "vayla-access"`) says who someone is and in which role; it authorises API calls;
//! - a **room token** (`aud = "vayla-room"`) admits its subject to one room (`room`), naming the seat they hold
//!   there if any; it is what `join` takes on the WebSocket.
//!
//! Every token names its signing key in the header (`kid`). Keys live in the database so that every server
//! node shares them; a new key is made every `key_rotation_s`, and a replaced key keeps verifying until the
//! longest-lived token it could have signed has expired, then it is deleted.

use crate::error::ApiError;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use jsonwebtoken::{
    decode, decode_header, encode, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::watch;
use vayla_domain::{Millis, Role, RoomId, SubjectId};
use vayla_protocol::ErrorCode;
use vayla_store::{SigningKeyRecord, Store, StoreError};

pub const ACCESS_AUDIENCE: &str = "vayla-access";
pub const ROOM_AUDIENCE: &str = "vayla-room";
const ISSUER: &str = "vayla";

/// Claims of an access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub role: Role,
    pub aud: String,
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
}

/// Claims of a room token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomClaims {
    pub sub: String,
    pub role: Role,
    pub room: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub aud: String,
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
}

/// Why a token was refused. Each maps to one stable wire code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is for another purpose")]
    WrongAudience,
    #[error("the token is malformed, forged or signed by an unknown key")]
    Invalid,
}

impl TokenError {
    pub fn code(self) -> ErrorCode {
        match self {
            TokenError::Expired => ErrorCode::TokenExpired,
            TokenError::WrongAudience => ErrorCode::WrongAudience,
            TokenError::Invalid => ErrorCode::InvalidToken,
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        ApiError::unauthorized(e.code().as_str(), e.to_string())
    }
}

#[derive(Clone)]
struct Key {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    created_at: Millis,
}

/// The keys in force: the newest signs, all verify. Immutable; rotation publishes a new ring.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<Key>, // newest first
}

impl KeyRing {
    fn from_records(records: &[SigningKeyRecord]) -> KeyRing {
        let mut keys: Vec<Key> = records
            .iter()
            .map(|r| Key {
                kid: r.kid.clone(),
                encoding: EncodingKey::from_secret(&r.secret),
                decoding: DecodingKey::from_secret(&r.secret),
                created_at: r.created_at as Millis,
            })
            .collect();
        keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.kid.cmp(&a.kid)));
        KeyRing { keys }
    }

    pub fn current_kid(&self) -> &str {
        &self.keys[0].kid
    }

    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.kid.clone()).collect()
    }
}

/// Signs and verifies tokens. Cheap to clone; rotation is seen by every clone.
#[derive(Clone)]
pub struct Auth {
    ring: watch::Receiver<Arc<KeyRing>>,
    publish: Arc<watch::Sender<Arc<KeyRing>>>,
    store: Store,
    pub access_ttl_s: u64,
    pub room_ttl_s: u64,
}

impl Auth {
    /// Load the keys from the store, making the first one if there is none or the newest is older than
    /// `rotation_s`.
    pub async fn load(
        store: Store,
        access_ttl_s: u64,
        room_ttl_s: u64,
        rotation_s: u64,
        now: Millis,
    ) -> Result<Auth, StoreError> {
        let mut records = store.signing_keys().await?;
        let fresh =
            records.iter().any(|r| r.retired_at.is_none() && (r.created_at as Millis) + rotation_s * 1000 > now);
        if !fresh {
            let record = new_key_record(now);
            store.insert_signing_key(&record).await?;
            records = store.signing_keys().await?;
        }
        let (tx, rx) = watch::channel(Arc::new(KeyRing::from_records(&records)));
        Ok(Auth { ring: rx, publish: Arc::new(tx), store, access_ttl_s, room_ttl_s })
    }

    /// Make a new signing key, retire the others (they still verify), delete keys retired long enough ago
    /// that nothing they signed is still valid.
    pub async fn rotate(&self, now: Millis) -> Result<String, StoreError> {
        let record = new_key_record(now);
        self.store.insert_signing_key(&record).await?;
        let old_kids = self.ring.borrow().kids();
        for old in old_kids {
            self.store.retire_signing_key(&old, now as i64).await?;
        }
        let max_ttl_ms = self.access_ttl_s.max(self.room_ttl_s) * 1000;
        self.store.delete_signing_keys_retired_before(now.saturating_sub(max_ttl_ms) as i64).await?;
        let records = self.store.signing_keys().await?;
        self.publish.send_replace(Arc::new(KeyRing::from_records(&records)));
        tracing::info!(kid = %record.kid, "signing key rotated");
        Ok(record.kid)
    }

    pub fn current_kid(&self) -> String {
        self.ring.borrow().current_kid().to_owned()
    }

    fn sign<T: Serialize>(&self, claims: &T) -> String {
        let ring = self.ring.borrow();
        let key = &ring.keys[0];
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        encode(&header, claims, &key.encoding).expect("HS256 signing of plain claims cannot fail")
    }

    fn verify<T: for<'de> Deserialize<'de>>(&self, token: &str, audience: &str) -> Result<T, TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let ring = self.ring.borrow().clone();
        let key = ring.keys.iter().find(|k| k.kid == kid).ok_or(TokenError::Invalid)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        // Validate as plain JSON first: the library would otherwise fail on the claims' shape (an access token
        // lacks `room`) before it looks at the audience, and say "invalid" where "wrong audience" is the truth.
        let claims = decode::<serde_json::Value>(token, &key.decoding, &validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::InvalidAudience => TokenError::WrongAudience,
            _ => TokenError::Invalid,
        })?;
        serde_json::from_value(claims.claims).map_err(|_| TokenError::Invalid)
    }

    pub fn issue_access(&self, subject: &SubjectId, role: Role, now: Millis) -> (String, AccessClaims) {
        let iat = now / 1000;
        let claims = AccessClaims {
            sub: subject.to_string(),
            role,
            aud: ACCESS_AUDIENCE.into(),
            iss: ISSUER.into(),
            iat,
            exp: iat + self.access_ttl_s,
        };
        (self.sign(&claims), claims)
    }

    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        self.verify(token, ACCESS_AUDIENCE)
    }

    /// A room token valid until `exp` (seconds since the epoch); see [`Auth::issue_room`] for the usual one.
    pub fn issue_room_until(&self, claims: RoomTokenFor, iat: u64, exp: u64) -> (String, RoomClaims) {
        let claims = RoomClaims {
            sub: claims.subject.to_string(),
            role: claims.role,
            room: claims.room.to_string(),
            seat: claims.seat,
            session: claims.session,
            aud: ROOM_AUDIENCE.into(),
            iss: ISSUER.into(),
            iat,
            exp,
        };
        (self.sign(&claims), claims)
    }

    pub fn issue_room(&self, what: RoomTokenFor, now: Millis) -> (String, RoomClaims) {
        let iat = now / 1000;
        self.issue_room_until(what, iat, iat + self.room_ttl_s)
    }

    pub fn verify_room(&self, token: &str) -> Result<RoomClaims, TokenError> {
        self.verify(token, ROOM_AUDIENCE)
    }
}

/// What a room token is for.
pub struct RoomTokenFor {
    pub subject: SubjectId,
    pub role: Role,
    pub room: RoomId,
    pub seat: Option<String>,
    pub session: Option<String>,
}

fn new_key_record(now: Millis) -> SigningKeyRecord {
    let mut secret = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let mut id = [0u8; 6];
    rand::thread_rng().fill_bytes(&mut id);
    let kid = format!("k{}-{}", now / 1000, id.iter().map(|b| format!("{b:02x}")).collect::<String>());
    SigningKeyRecord { kid, secret, created_at: now as i64, retired_at: None }
}

/// Hash a password or device credential for the rooms-config (Argon2id, the crate's default parameters).
pub fn hash_secret(secret: &str) -> String {
    let salt = argon2::password_hash::SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default().hash_password(secret.as_bytes(), &salt).expect("argon2 hashing of a short secret").to_string()
}

/// A hash of nothing anyone knows, verified against when the user does not exist so that a wrong name and a
/// wrong password take the same time.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$5S1yIGyGXR8/LsfyBLTTdEtvUrQbiZm05UbhVQFNnr0";

/// Check a secret against a PHC hash, on a blocking thread: Argon2 is deliberately slow and takes ~19 MiB.
/// `permits` bounds how many run at once, so that a burst of logins can take neither every core nor memory.
pub async fn verify_secret(permits: &tokio::sync::Semaphore, secret: String, hash: Option<String>) -> bool {
    let Ok(_permit) = permits.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let ok = PasswordHash::new(&hash)
            .map(|parsed| Argon2::default().verify_password(secret.as_bytes(), &parsed).is_ok())
            .unwrap_or(false);
        known && ok
    })
    .await
    .unwrap_or(false)
}
