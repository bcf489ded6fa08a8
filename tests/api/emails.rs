//! Invoice emails: queued with the invoice, delivered over SMTP to a real
//! listener, retried, failed for good, and sent once by concurrent workers.

use std::collections::BTreeSet;
use std::time::Duration;

use comptoir::service::outbox::{self, Mailer, Pass, Settings};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};
use crate::invoices::{account_with_april_calls, bill};
use crate::smtp::Sink;

fn settings() -> Settings {
    Settings {
        batch: 20,
        poll: Duration::from_millis(50),
        lease: Duration::from_secs(300),
        retry_base: Duration::from_secs(2),
        max_attempts: 5,
    }
}

fn mailer(sink: &Sink) -> Mailer {
    Mailer::new(
        &sink.url,
        "Comptoir Facturation <factures@comptoir.example>",
    )
    .unwrap()
}

async fn add_recipients(app: &TestApp, account: &str, emails: &[&str]) {
    for email in emails {
        let res = app
            .post(
                &format!("/v1/accounts/{account}/invoice-recipients"),
                &app.admin(account),
                &json!({ "email": email }),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
}

/// Bills May 2026 and returns the account's invoice id and number.
async fn issue_may(app: &TestApp, account: &str) -> (String, String) {
    bill(app, "2026-05").await;
    let list: Value = app
        .get(
            &format!("/v1/accounts/{account}/invoices"),
            &app.viewer(account),
        )
        .await
        .json()
        .await
        .unwrap();
    let invoice = &list["data"][0];
    (
        invoice["id"].as_str().unwrap().to_owned(),
        invoice["number"].as_str().unwrap().to_owned(),
    )
}

async fn emails(app: &TestApp, account: &str, invoice: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("/v1/accounts/{account}/invoices/{invoice}/emails"),
            &app.viewer(account),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["next_cursor"], Value::Null, "{body}");
    body["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn each_recipient_receives_the_invoice_pdf_by_email_once() {
    let app = spawn_app().await;
    let a = account_with_april_calls(&app, "Acme").await;
    add_recipients(&app, &a, &["compta@acme.fr", "dg@acme.fr"]).await;
    let (invoice, number) = issue_may(&app, &a).await;

    // Queued with the invoice, before any worker ran.
    let queued = emails(&app, &a, &invoice).await;
    assert_eq!(queued.len(), 2);
    // The list pages like every other: one at a time, then the rest.
    let path = format!("/v1/accounts/{a}/invoices/{invoice}/emails");
    let first: Value = app
        .get(&format!("{path}?limit=1"), &app.viewer(&a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["data"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let second: Value = app
        .get(&format!("{path}?limit=1&cursor={cursor}"), &app.viewer(&a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["data"][0], queued[1]);
    assert_eq!(second["next_cursor"], Value::Null);
    assert!(queued.iter().all(|e| e["status"] == "pending"));
    assert_eq!(
        queued[0]["subject"],
        format!("Votre facture {number} - Comptoir Télécom SAS")
    );

    let stored_pdf =
        crate::invoice_payments::invoice_of(&app, &a, &invoice).await["e_invoice"]["pdf"]["sha256"]
            .as_str()
            .unwrap()
            .to_owned();
    let sink = Sink::start().await;
    let pass = outbox::deliver_due(&app.store, &app.blobs, &mailer(&sink), &settings())
        .await
        .unwrap();
    assert_eq!(pass.sent, 2);
    let received = sink.received();
    let to: BTreeSet<String> = received.iter().flat_map(|m| m.to.clone()).collect();
    assert_eq!(
        to,
        BTreeSet::from(["compta@acme.fr".to_owned(), "dg@acme.fr".to_owned()])
    );
    for message in &received {
        assert!(
            message
                .header("From")
                .unwrap()
                .contains("factures@comptoir.example")
        );
        let pdf = message
            .attachment("application/pdf")
            .expect("a PDF attachment");
        // The stored e-invoice, byte for byte.
        assert_eq!(
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&pdf)),
            stored_pdf
        );
        let text = crate::helpers::pdf_text_of(&pdf);
        assert!(text.contains(&number), "{text}");
        assert!(text.contains("1,20"), "the total incl. VAT: {text}");
        assert!(message.data.contains(&format!("filename=\"{number}.pdf\"")));
    }

    let sent = emails(&app, &a, &invoice).await;
    assert!(
        sent.iter()
            .all(|e| e["status"] == "sent" && e["attempts"] == 1)
    );
    assert!(sent.iter().all(|e| e["sent_at"].is_string()));
    // Nothing is sent twice.
    let again = outbox::deliver_due(&app.store, &app.blobs, &mailer(&sink), &settings())
        .await
        .unwrap();
    assert_eq!(again, Pass::default());
    assert_eq!(sink.received().len(), 2);

    // Another account's invoice emails are 404; integrations cannot read them.
    let b = app.create_billable_account("B").await;
    let res = app
        .get(
            &format!("/v1/accounts/{b}/invoices/{invoice}/emails"),
            &app.viewer(&b),
        )
        .await;
    assert_problem(res, 404, "not_found").await;
    let res = app
        .get(
            &format!("/v1/accounts/{a}/invoices/{invoice}/emails"),
            &app.viewer(&b),
        )
        .await;
    assert_problem(res, 404, "not_found").await;
}

#[tokio::test]
async fn an_email_claimed_by_a_worker_that_died_is_sent_after_its_lease() {
    let app = spawn_app().await;
    let a = account_with_april_calls(&app, "Acme").await;
    add_recipients(&app, &a, &["compta@acme.fr"]).await;
    let (invoice, _) = issue_may(&app, &a).await;
    // A worker claims the email, then the process is killed before sending:
    // its lease has run out when the server comes back.
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    {
        let mut tx = app.store.begin_write().await.unwrap();
        let claimed = tx
            .claim_invoice_emails(now, now - time::Duration::minutes(1), 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        tx.commit().await.unwrap();
    }
    let sink = Sink::start().await;
    let pass = outbox::deliver_due(&app.store, &app.blobs, &mailer(&sink), &settings())
        .await
        .unwrap();
    assert_eq!(pass.sent, 1);
    assert_eq!(sink.received().len(), 1);
    let sent = emails(&app, &a, &invoice).await;
    assert_eq!(sent[0]["status"], "sent");
    assert_eq!(sent[0]["attempts"], 2);
}

#[tokio::test]
async fn a_refused_email_is_retried_with_backoff_until_sent() {
    let app = spawn_app().await;
    let a = account_with_april_calls(&app, "Acme").await;
    add_recipients(&app, &a, &["compta@acme.fr"]).await;
    let (invoice, _) = issue_may(&app, &a).await;
    let sink = Sink::start().await;
    sink.refuse_next(2);
    let mailer = mailer(&sink);
    let first = outbox::deliver_due(&app.store, &app.blobs, &mailer, &settings())
        .await
        .unwrap();
    assert_eq!(first.retried, 1);
    let waiting = emails(&app, &a, &invoice).await;
    assert_eq!(waiting[0]["status"], "pending");
    assert!(waiting[0]["last_error"].as_str().unwrap().contains("451"));
    assert!(waiting[0]["next_attempt_at"].is_string());
    // Not due before its backoff (2 s, then 4 s).
    let early = outbox::deliver_due(&app.store, &app.blobs, &mailer, &settings())
        .await
        .unwrap();
    assert_eq!(early.claimed, 0);

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sink.received().is_empty() {
        assert!(std::time::Instant::now() < deadline, "never delivered");
        outbox::deliver_due(&app.store, &app.blobs, &mailer, &settings())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sent = emails(&app, &a, &invoice).await;
    assert_eq!(sent[0]["status"], "sent");
    assert_eq!(sent[0]["attempts"], 3);
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn a_recipient_refused_for_good_is_failed_and_the_others_are_sent() {
    let app = spawn_app().await;
    let a = account_with_april_calls(&app, "Acme").await;
    add_recipients(&app, &a, &["compta@acme.fr", "parti@acme.fr"]).await;
    let (invoice, _) = issue_may(&app, &a).await;
    let sink = Sink::start().await;
    sink.unknown("parti@acme.fr");
    let pass = outbox::deliver_due(&app.store, &app.blobs, &mailer(&sink), &settings())
        .await
        .unwrap();
    assert_eq!((pass.sent, pass.failed, pass.retried), (1, 1, 0));
    let all = emails(&app, &a, &invoice).await;
    let failed = all
        .iter()
        .find(|e| e["recipient"] == "parti@acme.fr")
        .unwrap();
    assert_eq!(failed["status"], "failed");
    assert!(failed["last_error"].as_str().unwrap().contains("550"));
    let again = outbox::deliver_due(&app.store, &app.blobs, &mailer(&sink), &settings())
        .await
        .unwrap();
    assert_eq!(again.claimed, 0);
}

#[tokio::test]
async fn two_workers_on_one_database_send_each_email_once() {
    let app = spawn_app().await;
    let mut expected = BTreeSet::new();
    for name in ["A", "B"] {
        let account = account_with_april_calls(&app, name).await;
        let emails: Vec<String> = (0..10).map(|i| format!("r{i}@{name}.fr")).collect();
        let refs: Vec<&str> = emails.iter().map(String::as_str).collect();
        add_recipients(&app, &account, &refs).await;
        expected.extend(emails);
    }
    bill(&app, "2026-05").await;
    let sink = Sink::start().await;
    let small = Settings {
        batch: 3,
        ..settings()
    };
    let files = app.blobs.clone();
    let worker = move |store: comptoir::store::Store, mailer: Mailer, settings: Settings| {
        let files = files.clone();
        async move {
            let mut sent = 0;
            loop {
                let pass = outbox::deliver_due(&store, &files, &mailer, &settings)
                    .await
                    .unwrap();
                sent += pass.sent;
                if pass.claimed == 0 {
                    return sent;
                }
            }
        }
    };
    let (one, two) = tokio::join!(
        tokio::spawn(worker(app.store.clone(), mailer(&sink), small.clone())),
        tokio::spawn(worker(app.store.clone(), mailer(&sink), small.clone())),
    );
    assert_eq!(one.unwrap() + two.unwrap(), 20);
    let received: Vec<String> = sink.received().iter().flat_map(|m| m.to.clone()).collect();
    assert_eq!(received.len(), 20, "each email once");
    assert_eq!(received.into_iter().collect::<BTreeSet<_>>(), expected);
}

#[tokio::test]
async fn a_credit_note_is_emailed_with_its_pdf_to_the_invoice_recipients() {
    let app = spawn_app().await;
    let a = account_with_april_calls(&app, "Acme").await;
    add_recipients(&app, &a, &["compta@acme.fr"]).await;
    let (invoice, number) = issue_may(&app, &a).await;
    let sink = Sink::start().await;
    outbox::deliver_due(&app.store, &app.blobs, &mailer(&sink), &settings())
        .await
        .unwrap();
    let res = app
        .post(
            &format!("/v1/accounts/{a}/invoices/{invoice}/credit-notes"),
            &app.support(),
            &serde_json::json!({"reason": "Appels contestés"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let note: Value = res.json().await.unwrap();
    let queued = emails(&app, &a, &invoice).await;
    assert_eq!(queued.len(), 2);
    assert_eq!(queued[1]["credit_note_id"], note["id"]);
    assert_eq!(queued[0]["credit_note_id"], Value::Null);
    assert_eq!(
        queued[1]["subject"],
        "Votre avoir AV-2026-000001 - Comptoir Télécom SAS"
    );
    let pass = outbox::deliver_due(&app.store, &app.blobs, &mailer(&sink), &settings())
        .await
        .unwrap();
    assert_eq!(pass.sent, 1);
    let received = sink.received();
    let message = received.last().unwrap();
    let pdf = message
        .attachment("application/pdf")
        .expect("a PDF attachment");
    let text = crate::helpers::pdf_text_of(&pdf);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("Avoir n° AV-2026-000001"), "{text}");
    assert!(
        text.contains(&format!("Avoir sur la facture n° {number}")),
        "{text}"
    );
    assert!(message.data.contains("filename=\"AV-2026-000001.pdf\""));
}

#[tokio::test]
async fn a_test_accounts_emails_are_queued_and_shown_but_never_sent() {
    use crate::test_clocks::{FAST, add_licenses, advance, clock, test_account};
    let app = crate::helpers::spawn_app_with(FAST).await;
    let live = account_with_april_calls(&app, "Réel").await;
    add_recipients(&app, &live, &["compta@reel.fr"]).await;
    let (live_invoice, _) = issue_may(&app, &live).await;
    let clock = clock(&app, "2026-03-31T10:00:00Z").await;
    let test = test_account(&app, &clock, "Essai").await;
    add_recipients(&app, &test, &["compta@essai.fr"]).await;
    add_licenses(&app, &test, 1).await;
    advance(&app, &clock, "2026-04-01T08:00:00Z").await;
    let list: Value = app
        .get(&format!("/v1/accounts/{test}/invoices"), &app.viewer(&test))
        .await
        .json()
        .await
        .unwrap();
    let test_invoice = list["data"][0]["id"].as_str().unwrap().to_owned();
    let sink = Sink::start().await;
    let pass = outbox::deliver_due(&app.store, &app.blobs, &mailer(&sink), &settings())
        .await
        .unwrap();
    assert_eq!(pass.sent, 1);
    let to: Vec<String> = sink.received().iter().flat_map(|m| m.to.clone()).collect();
    assert_eq!(to, ["compta@reel.fr"]);
    assert_eq!(
        emails(&app, &live, &live_invoice).await[0]["status"],
        "sent"
    );
    let queued = emails(&app, &test, &test_invoice).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0]["status"], "pending");
    assert_eq!(queued[0]["attempts"], 0);
}
