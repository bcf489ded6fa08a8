use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

async fn create(app: &TestApp, account: &str, what: &str, body: Value) -> Value {
    let res = app
        .post(
            &format!("/v1/accounts/{account}/{what}"),
            &app.admin(account),
            &body,
        )
        .await;
    assert_eq!(res.status(), 201, "{what} {body}");
    res.json().await.unwrap()
}

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.request(Method::PATCH, path, Some(token))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn users_belong_to_teams_and_are_listed_by_team() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let sales = create(&app, &account, "teams", json!({"name": "Ventes"})).await;
    let support = create(&app, &account, "teams", json!({"name": "Support"})).await;
    let claire = create(
        &app,
        &account,
        "users",
        json!({"name": "Claire", "email": "claire@acme.fr", "team_id": sales["id"]}),
    )
    .await;
    create(
        &app,
        &account,
        "users",
        json!({"name": "Hugo", "email": "hugo@acme.fr", "team_id": support["id"]}),
    )
    .await;
    create(
        &app,
        &account,
        "users",
        json!({"name": "Inès", "email": "ines@acme.fr"}),
    )
    .await;
    assert!(claire["id"].as_str().unwrap().starts_with("usr_"));
    assert_eq!(claire["team_id"], sales["id"]);

    let list: Value = app
        .get(
            &format!(
                "/v1/accounts/{account}/users?team_id={}",
                sales["id"].as_str().unwrap()
            ),
            &app.admin(&account),
        )
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Claire"]);
}

#[tokio::test]
async fn a_user_changes_team_leaves_it_and_keeps_a_unique_email() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let team = create(&app, &account, "teams", json!({"name": "Ventes"})).await;
    let user = create(
        &app,
        &account,
        "users",
        json!({"name": "Claire", "email": "claire@acme.fr"}),
    )
    .await;
    create(
        &app,
        &account,
        "users",
        json!({"name": "Hugo", "email": "hugo@acme.fr"}),
    )
    .await;
    let path = format!(
        "/v1/accounts/{account}/users/{}",
        user["id"].as_str().unwrap()
    );
    let admin = app.admin(&account);

    let moved: Value = patch(&app, &path, &admin, json!({"team_id": team["id"]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(moved["team_id"], team["id"]);
    let renamed: Value = patch(&app, &path, &admin, json!({"name": "Claire M."}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["team_id"], team["id"], "absent fields stay");
    let left: Value = patch(&app, &path, &admin, json!({"team_id": null}))
        .await
        .json()
        .await
        .unwrap();
    assert!(left["team_id"].is_null());

    assert_problem(
        patch(&app, &path, &admin, json!({"email": "HUGO@acme.fr"})).await,
        409,
        "email_taken",
    )
    .await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/users"),
            &admin,
            &json!({"name": "X", "email": "claire@acme.fr"}),
        )
        .await;
    assert_problem(res, 409, "email_taken").await;
    let res = patch(&app, &path, &admin, json!({"team_id": "tea_doesnotexist"})).await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "team_id");
}

#[tokio::test]
async fn deleting_a_team_keeps_its_users_without_a_team() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let team = create(&app, &account, "teams", json!({"name": "Ventes"})).await;
    let user = create(
        &app,
        &account,
        "users",
        json!({"name": "Claire", "email": "claire@acme.fr", "team_id": team["id"]}),
    )
    .await;
    let team_path = format!(
        "/v1/accounts/{account}/teams/{}",
        team["id"].as_str().unwrap()
    );
    let res = app
        .request(Method::DELETE, &team_path, Some(&app.admin(&account)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let read: Value = app
        .get(
            &format!(
                "/v1/accounts/{account}/users/{}",
                user["id"].as_str().unwrap()
            ),
            &app.admin(&account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(read["team_id"].is_null());
    assert_problem(
        app.get(&team_path, &app.admin(&account)).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn team_names_are_unique_and_renamable() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let team = create(&app, &account, "teams", json!({"name": "Ventes"})).await;
    create(&app, &account, "teams", json!({"name": "Support"})).await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/teams"),
            &app.admin(&account),
            &json!({"name": "Ventes"}),
        )
        .await;
    assert_problem(res, 409, "team_name_taken").await;
    let path = format!(
        "/v1/accounts/{account}/teams/{}",
        team["id"].as_str().unwrap()
    );
    assert_problem(
        patch(
            &app,
            &path,
            &app.admin(&account),
            json!({"name": "Support"}),
        )
        .await,
        409,
        "team_name_taken",
    )
    .await;
    let renamed: Value = patch(
        &app,
        &path,
        &app.admin(&account),
        json!({"name": "Commerce"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(renamed["name"], "Commerce");
}

#[tokio::test]
async fn invalid_users_are_refused_and_viewers_and_strangers_change_nothing() {
    let app = spawn_app().await;
    let account = app.create_account("Acme").await;
    let other = app.create_account("Other").await;
    let res = app
        .post(
            &format!("/v1/accounts/{account}/users"),
            &app.admin(&account),
            &json!({"name": " ", "email": "nope"}),
        )
        .await;
    let problem = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);
    let res = app
        .post(
            &format!("/v1/accounts/{account}/users"),
            &app.viewer(&account),
            &json!({"name": "A", "email": "a@acme.fr"}),
        )
        .await;
    assert_problem(res, 403, "forbidden").await;
    let user = create(
        &app,
        &account,
        "users",
        json!({"name": "Claire", "email": "claire@acme.fr"}),
    )
    .await;
    let path = format!(
        "/v1/accounts/{account}/users/{}",
        user["id"].as_str().unwrap()
    );
    let intruder = app.admin(&other);
    assert_problem(app.get(&path, &intruder).await, 404, "not_found").await;
    assert_problem(
        patch(&app, &path, &intruder, json!({"name": "Pwned"})).await,
        404,
        "not_found",
    )
    .await;
    let res = app
        .request(Method::DELETE, &path, Some(&intruder))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not_found").await;
    let theirs = format!(
        "/v1/accounts/{other}/users/{}",
        user["id"].as_str().unwrap()
    );
    assert_problem(app.get(&theirs, &intruder).await, 404, "not_found").await;
    let read: Value = app
        .get(&path, &app.admin(&account))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["name"], "Claire");
    let list: Value = app
        .get(
            &format!("/v1/accounts/{account}/users"),
            &app.admin(&account),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}
