use serde_json::Value;

use crate::helpers::{START, spawn_app};

#[tokio::test]
async fn the_demo_account_loads_once_with_contacts_addresses_and_documents() {
    let app = spawn_app().await;
    let key = comptoir::crypto::DataKey::from_base64(crate::helpers::DATA_KEY).unwrap();
    for _ in 0..2 {
        comptoir::service::demo::load(&app.store, &app.blobs, Some(&key), START)
            .await
            .unwrap();
    }
    let admin = app.admin("acc_demo");
    let get = |path: &'static str| {
        let admin = admin.clone();
        let app = &app;
        async move {
            let res = app
                .get(&format!("/v1/accounts/acc_demo/{path}"), &admin)
                .await;
            assert_eq!(res.status(), 200, "{path}");
            let body: Value = res.json().await.unwrap();
            body["data"].as_array().unwrap().clone()
        }
    };
    let mut roles: Vec<String> = get("contacts")
        .await
        .iter()
        .map(|c| c["role"].as_str().unwrap().to_owned())
        .collect();
    roles.sort();
    assert_eq!(roles, ["accounting", "operational", "other", "technical"]);

    let addresses = get("billing-addresses").await;
    assert_eq!(addresses.len(), 2);
    let fr = addresses.iter().find(|a| a["country"] == "FR").unwrap();
    assert_eq!(
        (fr["status"].as_str(), fr["primary"].as_bool()),
        (Some("verified"), Some(true))
    );
    let es = addresses.iter().find(|a| a["country"] == "ES").unwrap();
    assert_eq!(es["status"], "pending_verification");

    let documents = get("documents").await;
    let mut types: Vec<&str> = documents
        .iter()
        .map(|d| d["type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(types, ["company_registration", "contract"]);
    let kbis = documents
        .iter()
        .find(|d| d["type"] == "company_registration")
        .unwrap();
    let res = app
        .get(
            &format!(
                "/v1/accounts/acc_demo/documents/{}/content",
                kbis["id"].as_str().unwrap()
            ),
            &admin,
        )
        .await;
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-") && bytes.ends_with(b"%%EOF\n"));

    let methods = get("payment-methods").await;
    assert_eq!(methods.len(), 2);
    let default = methods.iter().find(|m| m["default"] == true).unwrap();
    assert_eq!(
        (default["type"].as_str(), default["brand"].as_str()),
        (Some("card"), Some("visa"))
    );
    assert!(methods.iter().any(|m| m["type"] == "sepa_debit"));
    let credits: Value = app
        .get("/v1/accounts/acc_demo/credits", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(credits["balance"], "92.60");
    assert_eq!(get("credits/transactions").await.len(), 3);

    // The help page's April situation.
    let licenses: Value = app
        .get("/v1/accounts/acc_demo/licenses?limit=100", &admin)
        .await
        .json()
        .await
        .unwrap();
    let mut dates: Vec<&str> = licenses["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["activation_date"].as_str().unwrap())
        .collect();
    dates.sort();
    assert_eq!(dates.iter().filter(|d| **d < "2026-04-01").count(), 4);
    assert_eq!(dates.iter().filter(|d| **d == "2026-04-01").count(), 3);
    assert_eq!(dates.iter().filter(|d| **d == "2026-04-02").count(), 1);
    assert_eq!(dates.iter().filter(|d| **d == "2026-04-09").count(), 2);
    assert_eq!(licenses["summary"][0]["count"], 10);
    assert_eq!(licenses["summary"][0]["assigned"], 4);
    assert_eq!(licenses["summary"][0]["monthly_total"], "640.00");
    assert_eq!(get("phone-numbers").await.len(), 3);
    assert_eq!(get("users").await.len(), 4);
    assert_eq!(get("teams").await.len(), 2);
}
