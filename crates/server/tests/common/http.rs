//! Plain HTTP calls against the test server, for stories told over the REST API: each returns the status and
//! the body as JSON (or the body's text as a JSON string when it is not JSON), and [`expect`] checks both.

use super::TestApp;
use serde_json::Value;

pub async fn call(app: &TestApp, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().expect("an HTTP method"), format!("{}{path}", app.server().url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("a readable body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

pub async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    call(app, "GET", path, Some(token), None).await
}

pub async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(app, "POST", path, Some(token), Some(body)).await
}

pub async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(app, "PUT", path, Some(token), Some(body)).await
}

/// The body of a reply that must have `status` and, when `code` is not empty, that error code.
#[track_caller]
pub fn expect(r: (u16, Value), status: u16, code: &str) -> Value {
    assert_eq!(r.0, status, "expected {status} {code}, got {} {}", r.0, r.1);
    if !code.is_empty() {
        assert_eq!(r.1["code"], code, "error code of {}", r.1);
    }
    r.1
}
