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

/// Every listing the demo fills, as the account's admin reads it.
async fn demo_state(app: &crate::helpers::TestApp) -> Vec<Value> {
    let admin = app.admin("acc_demo");
    let mut state = Vec::new();
    for path in [
        "invoices?limit=100",
        "invoices/upcoming",
        "licenses?limit=100",
        "phone-numbers?limit=100",
        "contacts?limit=100",
        "billing-addresses?limit=100",
        "documents?limit=100",
        "payment-methods?limit=100",
        "credits",
        "credits/transactions?limit=100",
        "consumption/summary",
        "consumption?limit=100",
        "users?limit=100",
        "teams?limit=100",
    ] {
        let res = app
            .get(&format!("/v1/accounts/acc_demo/{path}"), &admin)
            .await;
        assert_eq!(res.status(), 200, "{path}");
        state.push(res.json().await.unwrap());
    }
    state
}

fn valid_phone(raw: &str) -> bool {
    comptoir::domain::contact::PhoneNumber::parse(raw).is_some()
}

#[tokio::test]
async fn the_demo_fits_any_day_with_paid_and_open_invoices_and_every_kind_of_line() {
    let key = comptoir::crypto::DataKey::from_base64(crate::helpers::DATA_KEY).unwrap();
    let days = [
        (time::macros::datetime!(2026-11-29 18:00 UTC), 2026, 11),
        (time::macros::datetime!(2027-02-15 09:30 UTC), 2027, 2),
        (time::macros::datetime!(2027-03-01 06:00 UTC), 2027, 3),
    ];
    for (now, year, month) in days {
        let app = spawn_app().await;
        app.clock.set(now);
        comptoir::service::demo::load(&app.store, &app.blobs, Some(&key), now)
            .await
            .unwrap();
        let before = demo_state(&app).await;
        comptoir::service::demo::load(&app.store, &app.blobs, Some(&key), now)
            .await
            .unwrap();
        assert_eq!(demo_state(&app).await, before, "{now}: loading twice");

        // The months before this one are issued and paid, this month's is open.
        let invoices = before[0]["data"].as_array().unwrap();
        let mut periods: Vec<(&str, &str, &str)> = invoices
            .iter()
            .filter(|i| i["kind"] == "period")
            .map(|i| {
                (
                    i["period_start"].as_str().unwrap(),
                    i["number"].as_str().unwrap(),
                    i["status"].as_str().unwrap(),
                )
            })
            .collect();
        periods.sort();
        assert_eq!(periods.len(), 4, "{now}: {periods:?}");
        let current = format!("{year}-{month:02}-01");
        assert_eq!(periods.last().unwrap().0, current, "{now}");
        for (i, (start, number, status)) in periods.iter().enumerate() {
            let expected = if i == periods.len() - 1 {
                "issued"
            } else {
                "paid"
            };
            assert_eq!(*status, expected, "{now}: {start}");
            assert!(
                number.starts_with(&format!("F-{}-", &start[..4])) && number.len() == 13,
                "{number}"
            );
        }
        let mut numbers: Vec<&str> = periods.iter().map(|p| p.1).collect();
        numbers.dedup();
        assert_eq!(numbers.len(), 4);
        // The top-up's acompte invoice: paid, dated today, numbered after them.
        let advances: Vec<&Value> = invoices.iter().filter(|i| i["kind"] == "advance").collect();
        assert_eq!(advances.len(), 1, "{now}");
        assert_eq!(advances[0]["status"], "paid");
        assert_eq!(advances[0]["total"], "120.00");
        assert_eq!(advances[0]["issue_date"], now.date().to_string());
        let last = numbers.iter().max().unwrap();
        assert!(advances[0]["number"].as_str().unwrap() > *last, "{now}");

        // The upcoming invoice shows every kind of line.
        let upcoming = &before[1];
        let mut kinds: Vec<&str> = upcoming["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["kind"].as_str().unwrap())
            .collect();
        kinds.sort();
        kinds.dedup();
        assert_eq!(
            kinds,
            [
                "consumption",
                "license",
                "license_proration",
                "phone_number",
                "phone_number_proration"
            ],
            "{now}"
        );
        assert_ne!(upcoming["total"], "0.00");

        // Nothing happens after now, and every number is a real one.
        for license in before[2]["data"].as_array().unwrap() {
            let day = license["activation_date"].as_str().unwrap();
            assert!(day <= now.date().to_string().as_str(), "{day} after {now}");
        }
        let lines = before[3]["data"].as_array().unwrap();
        assert_eq!(lines.len(), 4);
        for line in lines {
            let number = line["number"].as_str().unwrap();
            assert!(valid_phone(number), "{number}");
        }
        for contact in before[4]["data"].as_array().unwrap() {
            let phone = contact["phone"].as_str().unwrap();
            assert!(valid_phone(phone), "{phone}");
        }
        // The open invoice names the month of its consumption, in both
        // languages (its PDF is the stored e-invoice, in French; the HTML
        // follows the reader's language).
        let open = invoices.iter().find(|i| i["status"] == "issued").unwrap();
        let consumed =
            time::Date::from_calendar_date(year, time::Month::try_from(month).unwrap(), 1)
                .unwrap()
                .previous_day()
                .unwrap();
        let path = format!(
            "/v1/accounts/acc_demo/invoices/{}",
            open["id"].as_str().unwrap()
        );
        for (lang, what, expected) in [
            (
                "fr",
                "pdf",
                format!("Consommation hors forfait, {}", french_month(consumed)),
            ),
            (
                "en",
                "html",
                format!(
                    "Out-of-plan consumption, {} {}",
                    consumed.month(),
                    consumed.year()
                ),
            ),
        ] {
            let res = app
                .request(
                    reqwest::Method::GET,
                    &format!("{path}/{what}"),
                    Some(&app.viewer("acc_demo")),
                )
                .header("Accept-Language", lang)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            let bytes = res.bytes().await.unwrap();
            let text = if what == "pdf" {
                crate::helpers::pdf_text_of(&bytes)
            } else {
                String::from_utf8(bytes.to_vec()).unwrap()
            };
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(text.contains(&expected), "{expected} in {text}");
            assert!(!text.contains('…'), "{text}");
        }

        let records = before[11]["data"].as_array().unwrap();
        assert!(!records.is_empty());
        for record in records {
            let destination = record["destination"].as_str().unwrap();
            assert!(valid_phone(destination), "{destination}");
        }
    }
}

fn french_month(d: time::Date) -> String {
    let names = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    format!("{} {}", names[u8::from(d.month()) as usize - 1], d.year())
}
