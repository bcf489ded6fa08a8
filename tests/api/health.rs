use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_answers_without_a_token() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_says_ready_when_the_database_answers_and_503_when_it_is_gone() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.store.close().await;
    let res = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    crate::helpers::assert_problem(res, 503, "database_unavailable").await;
}

#[tokio::test]
async fn the_openapi_spec_and_the_swagger_ui_are_served() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/api-docs/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let spec: serde_json::Value = res.json().await.unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec["paths"]["/v1/accounts"]["post"].is_object());
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let res = app
        .client
        .get(format!("{}/swagger-ui/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("swagger"));
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_sane_incoming_one_is_kept() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(!generated.is_empty());

    let res = app
        .client
        .get(format!("{}/nowhere", app.base))
        .header("X-Request-Id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-42");

    let res = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("X-Request-Id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "bad id with spaces");
}

#[tokio::test]
async fn cors_allows_the_configured_frontend_origin_only() {
    let app = spawn_app().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/v1/plans", app.base))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let res = preflight("https://app.example").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let res = preflight("https://evil.example").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

/// PostgreSQL: the pool pings a connection only when it has been idle for
/// half a second (not on every acquire), so after the database drops every
/// connection (a restart, a failover) the next requests get fresh ones.
/// SQLite: a file cannot hang up.
#[tokio::test]
async fn after_the_database_drops_every_connection_the_next_requests_are_served() {
    use sqlx::Connection;

    let app = spawn_app().await;
    let comptoir::store::Store::Pg(pool) = &app.store else {
        return;
    };
    let account = app.create_account("Acme").await;
    let path = format!("/v1/accounts/{account}");
    let token = app.admin(&account);

    // Every connection the pool holds, by backend pid.
    let mut held = Vec::new();
    for _ in 0..pool.size().max(3) {
        held.push(pool.acquire().await.unwrap());
    }
    let mut pids = Vec::new();
    for conn in &mut held {
        let (pid,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        pids.push(pid);
    }
    drop(held);
    let url = std::env::var("TEST_DATABASE_URL").unwrap();
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    for pid in &pids {
        let (killed,): (bool,) = sqlx::query_as("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        assert!(killed, "backend {pid} terminated");
    }

    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let answers =
        futures_util::future::join_all((0..pids.len()).map(|_| app.get(&path, &token))).await;
    for res in answers {
        assert_eq!(res.status(), 200, "a dropped connection was handed out");
    }
}

#[tokio::test]
async fn the_host_and_the_ui_path_without_its_slash_lead_to_the_swagger_ui() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["/", "/swagger-ui"] {
        let res = client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 302, "{path}");
        assert_eq!(res.headers()["location"], "/swagger-ui/", "{path}");
    }
    let ui = app
        .client
        .get(format!("{}/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), 200);
    assert!(ui.text().await.unwrap().contains("swagger"));
}
