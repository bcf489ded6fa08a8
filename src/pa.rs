//! The client of the seller's approved e-invoicing platform (PA,
//! `COMPTOIR_PA_URL`): deposits a document (`POST {url}`, multipart: a
//! `metadata` JSON part and the Factur-X `file`) and reports a status
//! (`POST {url}/{platform id}/statuses`, JSON). Every request carries the
//! message's id as `Idempotency-Key`, so a deposit retried after a lost
//! answer is not taken twice, and `COMPTOIR_PA_TOKEN` as a bearer token
//! when set. Callers send outside any database transaction.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use tracing::instrument;

use crate::config::Secret;
use crate::domain::e_invoicing::{Metadata, PlatformAnswer, StatusReport, read_answer};

#[derive(Clone)]
pub struct Platform {
    http: reqwest::Client,
    url: String,
    token: Option<Secret>,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("url", &self.url)
            .field("token", &self.token)
            .finish()
    }
}

impl Platform {
    /// A client of the platform at `url` whose requests take at most `timeout`.
    pub fn new(
        url: &str,
        token: Option<Secret>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("comptoir/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Platform {
            http,
            url: url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    fn post(&self, url: &str, idempotency_key: &str) -> reqwest::RequestBuilder {
        let request = self
            .http
            .post(url)
            .header("Idempotency-Key", idempotency_key);
        match &self.token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        }
    }

    /// Deposits a document: its metadata and its Factur-X file.
    #[instrument(skip_all, fields(document = %metadata.document_id))]
    pub async fn deposit(
        &self,
        idempotency_key: &str,
        metadata: &Metadata,
        file: Vec<u8>,
    ) -> PlatformAnswer {
        let (Ok(json), Some(info)) = (serde_json::to_string(metadata), metadata.file.as_ref())
        else {
            return PlatformAnswer::Unavailable {
                error: "the metadata cannot be written".into(),
            };
        };
        let meta = match Part::text(json).mime_str("application/json") {
            Ok(part) => part,
            Err(e) => return unavailable(e),
        };
        let file = Part::bytes(file).file_name(info.name.clone());
        let file = match file.mime_str(&info.content_type) {
            Ok(part) => part,
            Err(e) => return unavailable(e),
        };
        let form = Form::new().part("metadata", meta).part("file", file);
        let request = self.post(&self.url, idempotency_key).multipart(form);
        answer(request).await
    }

    /// Reports a status of the document the platform knows as `platform_id`.
    #[instrument(skip_all, fields(document = %report.document_id, code = %report.code))]
    pub async fn report(
        &self,
        idempotency_key: &str,
        platform_id: &str,
        report: &StatusReport,
    ) -> PlatformAnswer {
        let url = format!("{}/{}/statuses", self.url, utf8_percent_encode(platform_id));
        answer(self.post(&url, idempotency_key).json(report)).await
    }
}

/// A path segment: every byte but unreserved ones percent-encoded.
fn utf8_percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn answer(request: reqwest::RequestBuilder) -> PlatformAnswer {
    match request.send().await {
        Ok(res) => {
            let status = res.status().as_u16();
            match res.bytes().await {
                Ok(body) => read_answer(status, &body),
                Err(e) => unavailable(e),
            }
        }
        Err(e) => unavailable(e),
    }
}

fn unavailable(e: reqwest::Error) -> PlatformAnswer {
    let (timeout, connect) = (e.is_timeout(), e.is_connect());
    // Without the URL: a token in its query stays out of the logs.
    let error = e.without_url().to_string();
    let error = if timeout {
        format!("the platform did not answer in time: {error}")
    } else if connect {
        format!("the platform cannot be reached: {error}")
    } else {
        error
    };
    PlatformAnswer::Unavailable { error }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_redacted_and_platform_ids_are_one_path_segment() {
        let p = Platform::new(
            "http://pa.example/invoices/",
            Some(Secret::new("tok-123")),
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(!format!("{p:?}").contains("tok-123"));
        assert_eq!(p.url, "http://pa.example/invoices");
        assert_eq!(utf8_percent_encode("pa-1/../x y"), "pa-1%2F..%2Fx%20y");
    }
}
