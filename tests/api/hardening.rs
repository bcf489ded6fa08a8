//! Tokens that claim too much, webhook timestamps at the edges of `i64`,
//! security headers on every response, and oversized header sections.

use comptoir::domain::role::Role;
use jsonwebtoken::{EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::credits::deliver;
use crate::helpers::{DATA_KEY, SECRET, START, TestApp, assert_problem, spawn_app};

/// A token signed with the server's own secret, with these time claims.
fn signed_token(iat: Option<i64>, nbf: Option<i64>, exp: i64) -> String {
    let mut claims = json!({
        "sub": "usr_test",
        "role": "support",
        "exp": exp,
        "iss": "comptoir",
        "aud": "comptoir-api",
    });
    if let Some(iat) = iat {
        claims["iat"] = json!(iat);
    }
    if let Some(nbf) = nbf {
        claims["nbf"] = json!(nbf);
    }
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

async fn refusal(app: &TestApp, token: &str) -> String {
    let res = app.get("/v1/plans", token).await;
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let body = assert_problem(res, 401, "unauthenticated").await;
    let detail = body["detail"].as_str().unwrap().to_owned();
    for leak in [SECRET, "86400", "24h", "24 h", "comptoir-api"] {
        assert!(!detail.contains(leak), "{detail} leaks {leak}");
    }
    detail
}

#[tokio::test]
async fn tokens_from_the_future_living_too_long_or_without_iat_get_401_naming_the_check() {
    let app = spawn_app().await;
    // Token times are real time, not the business clock.
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let day = 86_400;
    for (token, says) in [
        (signed_token(Some(now), Some(now + 120), now + 3600), "nbf"),
        (signed_token(Some(now + 120), None, now + 3600), "iat"),
        (signed_token(Some(now), None, now + day + 1), "lives longer"),
        (
            signed_token(Some(now - 3600), None, now + day),
            "lives longer",
        ),
        (
            signed_token(Some(i64::MIN), None, now + 3600),
            "lives longer",
        ),
        (signed_token(None, None, now + 3600), "no iat"),
    ] {
        let detail = refusal(&app, &token).await;
        assert!(detail.contains(says), "{detail} should say {says}");
    }
    // Within the minute of clock skew, and at the maximum, they pass.
    for token in [
        signed_token(Some(now + 30), Some(now + 30), now + 3600),
        signed_token(Some(now), Some(now), now + day),
    ] {
        let res = app.get("/v1/plans", &token).await;
        assert_eq!(res.status(), 200);
    }
}

#[tokio::test]
async fn the_server_issues_no_token_longer_than_the_maximum() {
    let app = spawn_app().await;
    assert_eq!(app.keys.max_ttl(), time::Duration::hours(24));
    for ttl in [time::Duration::hours(25), time::Duration::MAX] {
        assert!(app.keys.issue("u", Role::Support, None, ttl).is_err());
    }
    let day = app
        .keys
        .issue("u", Role::Support, None, time::Duration::hours(24))
        .unwrap();
    assert_eq!(app.get("/v1/plans", &day).await.status(), 200);
}

/// `comptoir token --ttl` refuses a lifetime over the maximum, and a number
/// too large for any clock, with a message instead of a panic.
#[test]
fn the_token_command_refuses_a_ttl_over_the_maximum_without_panicking() {
    let run = |ttl: &str, max: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_comptoir"));
        cmd.args(["token", "--role", "support", &format!("--ttl={ttl}")])
            .env_clear()
            .env("COMPTOIR_JWT_SECRET", SECRET)
            .env("COMPTOIR_DATA_KEY", DATA_KEY)
            .current_dir(std::env::temp_dir());
        if let Some(max) = max {
            cmd.env("COMPTOIR_JWT_MAX_TTL", max);
        }
        cmd.output().unwrap()
    };
    for (ttl, max) in [
        ("99999999999999d", None),
        ("9223372036854775807", None),
        ("99999999999999999999h", None),
        ("25h", None),
        ("2h", Some("1h")),
        ("-1h", None),
    ] {
        let out = run(ttl, max);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--ttl {ttl} was accepted");
        assert!(!stderr.contains("panicked"), "--ttl {ttl}: {stderr}");
        assert!(stderr.contains("--ttl"), "--ttl {ttl}: {stderr}");
    }
    let out = run("24h", None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .split('.')
            .count(),
        3
    );
}

#[tokio::test]
async fn webhook_timestamps_at_the_ends_of_i64_are_401_without_overflow() {
    let app = spawn_app().await;
    let body = json!({"id": "evt_edge", "type": "customer.updated", "data": {}}).to_string();
    for t in [i64::MIN, i64::MAX, i64::MIN + 1, -1] {
        let sig =
            comptoir::crypto::webhook_signature(crate::helpers::WEBHOOK_SECRET, t, body.as_bytes());
        let res = deliver(&app, body.clone(), &format!("t={t},v1={sig}")).await;
        assert_problem(res, 401, "invalid_signature").await;
    }
    // The server is still there, and a timely call still gets through the check.
    let now = START.unix_timestamp();
    let sig =
        comptoir::crypto::webhook_signature(crate::helpers::WEBHOOK_SECRET, now, body.as_bytes());
    let res = deliver(&app, body, &format!("t={now},v1={sig}")).await;
    assert_eq!(res.status(), 200);
}

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

#[tokio::test]
async fn html_renderings_carry_a_content_security_policy_and_nosniff() {
    let app = spawn_app().await;
    let key = comptoir::crypto::DataKey::from_base64(DATA_KEY).unwrap();
    comptoir::service::demo::load(&app.store, &app.blobs, Some(&key), START)
        .await
        .unwrap();
    let viewer = app.viewer("acc_demo");
    let list: Value = app
        .get("/v1/accounts/acc_demo/invoices", &viewer)
        .await
        .json()
        .await
        .unwrap();
    let invoice = list["data"][0]["id"].as_str().unwrap().to_owned();
    for path in [
        format!("/v1/accounts/acc_demo/invoices/{invoice}/html"),
        "/v1/accounts/acc_demo/consumption/export?format=html".to_owned(),
    ] {
        let res = app.get(&path, &viewer).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["content-security-policy"], CSP, "{path}");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
        assert!(res.text().await.unwrap().contains("<html"));
    }
    let res = app
        .get(
            "/v1/accounts/acc_demo/consumption/export?format=csv",
            &viewer,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn every_response_carries_nosniff_errors_swagger_and_health_included() {
    let app = spawn_app().await;
    let support = app.support();
    for (method, path, token) in [
        (Method::GET, "/healthz", None),
        (Method::GET, "/readyz", None),
        (Method::GET, "/swagger-ui/", None),
        (Method::GET, "/api-docs/openapi.json", None),
        (Method::GET, "/", None),
        (Method::GET, "/v1/plans", None),
        (Method::GET, "/v1/plans", Some(support.as_str())),
        (Method::GET, "/v1/nowhere", Some(support.as_str())),
        (Method::DELETE, "/v1/plans", Some(support.as_str())),
        (
            Method::GET,
            "/v1/accounts/acc_missing",
            Some(support.as_str()),
        ),
    ] {
        let res = app
            .request(method.clone(), path, token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.headers()
                .get("x-content-type-options")
                .map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{method} {path} ({})",
            res.status()
        );
    }
}

#[tokio::test]
async fn a_header_section_over_the_limit_is_a_431_problem() {
    let app = spawn_app().await;
    let support = app.support();
    // Larger than 32 KiB, smaller than what actix-http refuses on its own.
    let res = app
        .request(Method::GET, "/v1/plans", Some(&support))
        .header("X-Padding", "a".repeat(40 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let body = assert_problem(res, 431, "request_header_fields_too_large").await;
    assert!(body["detail"].as_str().unwrap().contains("header"));
    // Too many headers, each small.
    let mut req = app.request(Method::GET, "/v1/plans", Some(&support));
    for i in 0..80 {
        req = req.header(format!("x-extra-{i}"), "1");
    }
    let res = req.send().await.unwrap();
    assert_problem(res, 431, "request_header_fields_too_large").await;
    // A browser's frontend can read it: the CORS headers are there.
    let res = app
        .request(Method::GET, "/v1/plans", Some(&support))
        .header("Origin", "https://app.example")
        .header("Cookie", "c".repeat(40 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 431);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    // Just under the limit, the request goes through.
    let res = app
        .request(Method::GET, "/v1/plans", Some(&support))
        .header("X-Padding", "a".repeat(30 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
