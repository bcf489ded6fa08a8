//! The client of the EU's VIES REST service (`COMPTOIR_VIES_URL`), which
//! says whether a VAT number is registered in its member state. Callers ask
//! it outside any database transaction: no lock is held across the network.

use std::time::Duration;

use tracing::instrument;

use crate::domain::vat_check::{ViesAnswer, ViesRequest, read_answer, requester, split_vat};

/// Asks VIES, `POST {url}/check-vat-number`, as the seller (the requester
/// whose consultation number VIES gives back).
#[derive(Clone)]
pub struct Vies {
    http: reqwest::Client,
    endpoint: String,
    /// The seller's member state code and number.
    requester: Option<(String, String)>,
}

impl std::fmt::Debug for Vies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vies")
            .field("endpoint", &self.endpoint)
            .field("requester", &self.requester)
            .finish()
    }
}

impl Vies {
    /// A client of the service at `url` whose requests take at most
    /// `timeout`, asking as the seller of `seller_vat_number`.
    pub fn new(
        url: &str,
        timeout: Duration,
        seller_vat_number: &str,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("comptoir/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let requester = requester(seller_vat_number);
        if requester.is_none() {
            tracing::warn!(
                "COMPTOIR_SELLER_VAT_NUMBER is not a VAT number: VIES checks will carry no consultation number"
            );
        }
        Ok(Vies {
            http,
            endpoint: format!("{}/check-vat-number", url.trim_end_matches('/')),
            requester,
        })
    }

    /// What VIES says about `vat_number` (with its prefix, `DE123456789`).
    /// Never an error: whatever goes wrong is [`ViesAnswer::Unavailable`].
    #[instrument(skip_all, fields(country = vat_number.get(..2)))]
    pub async fn check(&self, vat_number: &str) -> ViesAnswer {
        let Some((country_code, number)) = split_vat(vat_number) else {
            return ViesAnswer::Unavailable {
                error: "not a VAT number VIES can read".into(),
            };
        };
        let body = ViesRequest {
            country_code,
            vat_number: number,
            requester_member_state_code: self.requester.as_ref().map(|(c, _)| c.as_str()),
            requester_number: self.requester.as_ref().map(|(_, n)| n.as_str()),
        };
        let answer = match self.http.post(&self.endpoint).json(&body).send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                match res.bytes().await {
                    Ok(bytes) => read_answer(status, &bytes),
                    Err(e) => unavailable(&e),
                }
            }
            Err(e) => unavailable(&e),
        };
        match &answer {
            ViesAnswer::Unavailable { error } => {
                tracing::warn!(error = %error, "VIES did not answer");
            }
            ViesAnswer::Valid { .. } => tracing::info!("VIES: valid"),
            ViesAnswer::Invalid { .. } => tracing::info!("VIES: invalid"),
        }
        answer
    }
}

/// A transport failure, named without its URL.
fn unavailable(e: &reqwest::Error) -> ViesAnswer {
    let error = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "answer cut short"
    } else {
        "request failed"
    };
    tracing::debug!(cause = %e, "VIES request failed");
    ViesAnswer::Unavailable {
        error: error.into(),
    }
}
