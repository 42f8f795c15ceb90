//! TURN for offices that block UDP and direct TCP: `GET /api/ice-servers` hands the configured TURN servers to
//! everyone who joins rooms, with coturn `use-auth-secret` credentials (TURN REST scheme) that coturn can verify.

use crate::common;

use crate::common::{spawn_app, spawn_app_with, Backend};
use base64::Engine;
use serde_json::Value;
use sha1::{Digest, Sha1};
use std::time::{SystemTime, UNIX_EPOCH};
use vayla_client::ClientError;

const SECRET: &str = "the-coturn-static-auth-secret";
const URLS: [&str; 2] = ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"];

/// HMAC-SHA1 (RFC 2104) written out here, independent of the server's implementation.
fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha1::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha1::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

async fn ice_servers(app: &common::TestApp, token: &str) -> Result<Value, ClientError> {
    app.api.call(reqwest::Method::GET, "/api/ice-servers", Some(token), None).await
}

#[tokio::test]
async fn everyone_who_joins_rooms_gets_turn_credentials_that_coturn_accepts() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.turn_urls = URLS.iter().map(|u| u.to_string()).collect();
        c.turn_secret = Some(SECRET.into());
        c.turn_ttl_s = 600;
    })
    .await;
    let tokens = [
        ("mikkeli-2", app.device("mikkeli-2").await),
        ("advisor-mikkeli", app.login("advisor-mikkeli").await),
        ("kela-anna", app.login("kela-anna").await),
        ("tulkki-aino", app.login("tulkki-aino").await),
    ];
    for (subject, token) in &tokens {
        let before = unix_now();
        let reply = ice_servers(&app, token).await.unwrap_or_else(|e| panic!("{subject}: {e}"));
        assert_eq!(reply["expires_in"], 600, "{subject}");
        let servers = reply["ice_servers"].as_array().unwrap();
        assert_eq!(servers.len(), 1, "{subject}: {reply}");
        let server = &servers[0];
        assert_eq!(server["urls"], serde_json::json!(URLS), "{subject}");

        let username = server["username"].as_str().unwrap();
        let (expiry, who) = username.split_once(':').expect("username is <expiry>:<subject>");
        assert_eq!(who, *subject);
        let expiry: u64 = expiry.parse().expect("the expiry is unix seconds");
        assert!((before + 600..=unix_now() + 600).contains(&expiry), "{subject}: expiry {expiry}, now {before}");

        let expected =
            base64::engine::general_purpose::STANDARD.encode(hmac_sha1(SECRET.as_bytes(), username.as_bytes()));
        assert_eq!(server["credential"], expected.as_str(), "{subject}: base64(HMAC-SHA1(secret, username))");
        let wrong = base64::engine::general_purpose::STANDARD.encode(hmac_sha1(b"another secret", username.as_bytes()));
        assert_ne!(server["credential"], wrong.as_str());
    }
}

#[tokio::test]
async fn roles_that_never_join_rooms_get_none_and_strangers_are_refused() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.turn_urls = URLS.iter().map(|u| u.to_string()).collect();
        c.turn_secret = Some(SECRET.into());
    })
    .await;
    for who in ["scheduler", "admin"] {
        let token = app.login(who).await;
        match ice_servers(&app, &token).await {
            Err(ClientError::Api { status: 403, code, .. }) => assert_eq!(code, "forbidden", "{who}"),
            other => panic!("{who}: expected 403, got {other:?}"),
        }
    }
    match ice_servers(&app, "not-a-token").await {
        Err(ClientError::Api { status: 401, .. }) => {}
        other => panic!("expected 401, got {other:?}"),
    }
}

#[tokio::test]
async fn without_turn_configured_the_list_is_empty() {
    let app = spawn_app(Backend::Sqlite).await;
    let token = app.login("kela-anna").await;
    let reply = ice_servers(&app, &token).await.unwrap();
    assert_eq!(reply["ice_servers"], serde_json::json!([]));
    assert_eq!(reply["expires_in"], 0);

    // URLs without the shared secret are not enough either: clients would get credentials coturn refuses.
    let app = spawn_app_with(Backend::Sqlite, |c| c.turn_urls = vec![URLS[0].into()]).await;
    let token = app.device("mikkeli-2").await;
    assert_eq!(ice_servers(&app, &token).await.unwrap()["ice_servers"], serde_json::json!([]));
}
