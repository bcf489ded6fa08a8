//! The HTTP side of outgoing webhooks: which targets may be called, checked
//! when an endpoint is saved and again at every delivery. A name is resolved
//! and every address it gives must be allowed; requests go through a DNS
//! resolver that applies the same rule to the addresses it connects to, so
//! a name that changes its answer between the check and the request (DNS
//! rebinding) still cannot reach the server's own network.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::domain::webhook::{WebhookSecret, check_url, forbidden_address, verify};

/// Who may be called: public https targets, or also private ones
/// (`COMPTOIR_WEBHOOK_ALLOW_PRIVATE`, development and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetPolicy {
    pub allow_private: bool,
}

impl TargetPolicy {
    /// The URL's own checks, then its host's addresses: `Err` says why the
    /// target is refused, in words for the `url` field of a 422.
    pub async fn check(&self, url: &url::Url) -> Result<(), String> {
        check_url(url, self.allow_private)?;
        let (Some(url::Host::Domain(host)), Some(port)) = (url.host(), url.port_or_known_default())
        else {
            // An address literal, checked by `check_url`.
            return Ok(());
        };
        self.resolve(host, port).await.map(drop)
    }

    /// The allowed addresses of `host`; `Err` when it does not resolve or
    /// resolves to a refused address.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("{host} does not resolve: {e}"))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("{host} does not resolve"));
        }
        if !self.allow_private
            && let Some((addr, why)) = addrs
                .iter()
                .find_map(|a| forbidden_address(a.ip()).map(|why| (a, why)))
        {
            return Err(format!("{host} resolves to {why} ({})", addr.ip()));
        }
        Ok(addrs)
    }
}

impl reqwest::dns::Resolve for TargetPolicy {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = *self;
        Box::pin(async move {
            let addrs = TargetPolicy::resolve(&policy, name.as_str(), 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl TargetPolicy {
    /// A resolver for `reqwest::ClientBuilder::dns_resolver`.
    pub fn resolver(self) -> Arc<Self> {
        Arc::new(self)
    }
}

/// What `comptoir webhooks listen` prints for a request it receives, and
/// the status it answers: 200 when the signature verifies (or no secret
/// was given to check it), 400 when it does not, as a real receiver would
/// (Comptoir then retries).
pub fn describe(
    secret: Option<&WebhookSecret>,
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
    now_unix: i64,
) -> (u16, String) {
    let id = header("webhook-id").unwrap_or_default();
    let timestamp = header("webhook-timestamp").unwrap_or_default();
    let signature = header("webhook-signature").unwrap_or_default();
    let (status, check) = match secret {
        None => (200, "not checked (no --secret)".to_owned()),
        Some(secret) => match verify(secret, &id, &timestamp, body, &signature, now_unix) {
            Ok(()) => (200, "verified".to_owned()),
            Err(why) => (400, format!("REFUSED: {why}")),
        },
    };
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let event_type = json
        .as_ref()
        .and_then(|v| v["type"].as_str())
        .unwrap_or("(not an event)")
        .to_owned();
    let pretty = json
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    (
        status,
        format!("--> {event_type} {id} (signature {check})\n{pretty}\n"),
    )
}

/// The receiver of `comptoir webhooks listen` on `listener`: prints every
/// request it gets to standard output (see [`describe`]).
pub fn listen(
    listener: std::net::TcpListener,
    secret: Option<WebhookSecret>,
) -> std::io::Result<actix_web::dev::Server> {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let secret = web::Data::new(secret);
    Ok(HttpServer::new(move || {
        App::new().app_data(secret.clone()).default_service(web::to(
            |req: HttpRequest, body: web::Bytes, secret: web::Data<Option<WebhookSecret>>| async move {
                let header = |name: &str| {
                    req.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let (status, text) = describe(secret.as_ref().as_ref(), header, &body, now);
                println!("{text}");
                let status = actix_web::http::StatusCode::from_u16(status)
                    .unwrap_or(actix_web::http::StatusCode::OK);
                HttpResponse::build(status).json(serde_json::json!({ "received": status.is_success() }))
            },
        ))
    })
    .workers(1)
    .listen(listener)?
    .run())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_private_targets_are_allowed() {
        let url = url::Url::parse("https://localhost:9443/hooks").unwrap();
        let strict = TargetPolicy {
            allow_private: false,
        };
        let err = strict.check(&url).await.unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        let open = TargetPolicy {
            allow_private: true,
        };
        assert_eq!(open.check(&url).await, Ok(()));
    }

    #[test]
    fn the_listener_prints_the_event_and_refuses_a_bad_signature() {
        let secret = WebhookSecret::generate();
        let body = br#"{"id":"evt_1","type":"license.added","data":{"object":{}}}"#;
        let signature = secret.sign("evt_1", 1_775_728_800, body);
        let headers = |sig: String| {
            move |name: &str| match name {
                "webhook-id" => Some("evt_1".to_owned()),
                "webhook-timestamp" => Some("1775728800".to_owned()),
                "webhook-signature" => Some(sig.clone()),
                _ => None,
            }
        };
        let (status, text) = describe(
            Some(&secret),
            headers(signature.clone()),
            body,
            1_775_728_801,
        );
        assert_eq!(status, 200);
        assert!(
            text.starts_with("--> license.added evt_1 (signature verified)"),
            "{text}"
        );
        assert!(text.contains("\"type\": \"license.added\""), "{text}");
        let (status, text) = describe(
            Some(&WebhookSecret::generate()),
            headers(signature.clone()),
            body,
            1_775_728_801,
        );
        assert_eq!(status, 400);
        assert!(text.contains("REFUSED"), "{text}");
        let (status, text) = describe(None, headers(signature), body, 0);
        assert_eq!(status, 200);
        assert!(text.contains("not checked"), "{text}");
    }
}
