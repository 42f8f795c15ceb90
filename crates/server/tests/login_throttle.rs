//! Password guessing is slowed per client address: after the allowed failures, logins from that address get
//! `429 too_many_attempts` with `Retry-After` — even with the right password, so guessing cannot go on — while
//! successful logins never count against anyone.

use crate::common;

use crate::common::{spawn_app_with, Backend, TestApp};
use serde_json::{json, Value};

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Option<String>, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", app.server().url()))
        .json(&body)
        .send()
        .await
        .expect("request sent");
    let status = resp.status().as_u16();
    let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (status, retry, resp.json().await.unwrap_or(Value::Null))
}

async fn failed_logins_from_one_address_are_throttled(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.login_failure_burst = 3;
        c.login_failure_refill_s = 3600;
    })
    .await;
    // Successful logins cost nothing, however many.
    for _ in 0..6 {
        app.login("kela-anna").await;
    }
    let wrong = json!({ "username": "kela-anna", "password": "guess" });
    for _ in 0..3 {
        let (status, retry, body) = post(&app, "/api/login", wrong.clone()).await;
        assert_eq!((status, retry, body["code"].as_str()), (401, None, Some("invalid_credentials")));
    }
    // Out of attempts: refused before the password is looked at, the right one included, for people and devices.
    let right = json!({ "username": "kela-anna", "password": common::PASSWORD });
    for body in [wrong, right] {
        let (status, retry, reply) = post(&app, "/api/login", body).await;
        assert_eq!((status, reply["code"].as_str()), (429, Some("too_many_attempts")), "{reply}");
        let secs: u64 = retry.expect("Retry-After is set").parse().unwrap();
        assert!((1..=3600).contains(&secs), "Retry-After {secs}");
    }
    let device = json!({ "device": "mikkeli-2", "credential": common::DEVICE_CREDENTIAL });
    assert_eq!(post(&app, "/api/device-login", device).await.0, 429);
}

on_both_backends!(failed_logins_from_one_address_are_throttled);
