//! The HTTP side of outgoing webhooks: which targets may be called, checked
//! when an endpoint is saved and again at every delivery. A name is resolved
//! and every address it gives must be allowed; requests go through a DNS
//! resolver that applies the same rule to the addresses it connects to, so
//! a name that changes its answer between the check and the request (DNS
//! rebinding) still cannot reach the server's own network.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::domain::webhook::{check_url, forbidden_address};

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
}
