//! The route table: each route once, as its handler and its access. The
//! method, path and documentation come from the handler's `#[utoipa::path]`;
//! actix's routes and the OpenAPI paths are both built from this one list.

use std::rc::Rc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{Next, from_fn};
use actix_web::{FromRequest, Handler, HttpMessage, Responder, web};
use utoipa::IntoParams;
use utoipa::openapi::RefOr;
use utoipa::openapi::path::{HttpMethod, Operation, ParameterIn};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::SecurityRequirement;

use super::scope::AccountPath;
use super::{
    accounts, addresses, audit, charges, consumption, contacts, credit_notes, credits, documents,
    e_invoicing, events, exchange_rates, health, invoice_payments, invoices, licenses, payments,
    plans, recipients, test_clocks, users, webhook_deliveries, webhook_endpoints,
};
use crate::domain::role::{Access, Need};

/// The prefix of every account-scoped route: one actix scope, matched once.
pub const ACCOUNT_SCOPE: &str = "/v1/accounts/{account_id}";

type Schemas = Vec<(String, RefOr<Schema>)>;

/// One route: what the handler's `#[utoipa::path]` says, its access, and
/// how to build its actix route.
pub struct Route {
    pub method: HttpMethod,
    pub path: String,
    pub access: Access,
    pub operation_id: String,
    operation: fn() -> Operation,
    tags: fn() -> Vec<&'static str>,
    schemas: fn(&mut Schemas),
    to: Rc<dyn Fn() -> actix_web::Route>,
}

/// A route of the table: `route!(invoices::list, Need::Read)` names the
/// handler once; its `#[utoipa::path]` gives the method and the path.
macro_rules! route {
    ($module:ident :: $handler:ident, $access:expr) => {
        pastey::paste! {
            Route::new::<$module::[<__path_ $handler>], _, _>($module::$handler, $access)
        }
    };
}

/// Puts the route's access where the extractors find it.
async fn with_access(
    access: Access,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    req.extensions_mut().insert(access);
    next.call(req).await
}

fn actix_method(m: &HttpMethod) -> Method {
    match m {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Trace => Method::TRACE,
    }
}

impl Route {
    pub fn new<P, F, Args>(handler: F, access: impl Into<Access>) -> Route
    where
        P: utoipa::Path + utoipa::__dev::SchemaReferences + utoipa::__dev::Tags<'static>,
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let methods = P::methods();
        assert_eq!(methods.len(), 1, "{}: one method per handler", P::path());
        let method = methods.into_iter().next().expect("one method");
        let access = access.into();
        let actix = actix_method(&method);
        let to = Rc::new(move || {
            web::method(actix.clone())
                .to(handler.clone())
                .wrap(from_fn(move |req, next| with_access(access, req, next)))
        });
        Route {
            method,
            path: P::path(),
            access,
            operation_id: P::operation().operation_id.unwrap_or_default(),
            operation: P::operation,
            tags: P::tags,
            schemas: P::schemas,
            to,
        }
    }

    /// The actix route: method guard, handler, and the access in the
    /// request's extensions.
    pub fn actix(&self) -> actix_web::Route {
        (self.to)()
    }

    /// The operation as documented, with its access as security scopes and
    /// a "Roles:" sentence.
    pub fn operation(&self) -> Operation {
        let mut op = (self.operation)();
        if self.path.starts_with(ACCOUNT_SCOPE) {
            // `{account_id}` is declared here once, for every account route.
            let account = AccountPath::into_params(|| Some(ParameterIn::Path));
            let params = op.parameters.get_or_insert_with(Vec::new);
            params.splice(0..0, account.into_iter().map(RefOr::T));
        }
        let tags = (self.tags)().into_iter().map(str::to_owned);
        op.tags.get_or_insert_with(Vec::new).extend(tags);
        let (security, sentence) = match self.access {
            Access::Public => (
                SecurityRequirement::default(),
                "Public: no token.".to_owned(),
            ),
            Access::WebhookSignature => (
                SecurityRequirement::new::<_, _, &str>("webhook_signature", []),
                "Authenticated by the webhook signature, not a token.".to_owned(),
            ),
            access => {
                let roles: Vec<&str> = access.roles().iter().map(|r| r.as_str()).collect();
                let sentence = if access == Access::AnyToken {
                    "Roles: any (every valid token).".to_owned()
                } else {
                    format!("Roles: {}.", roles.join(", "))
                };
                (SecurityRequirement::new("bearer", roles), sentence)
            }
        };
        op.security = Some(vec![security]);
        op.description = Some(match op.description.take() {
            Some(d) if !d.is_empty() => format!("{d}\n\n{sentence}"),
            _ => sentence,
        });
        op
    }

    pub fn schemas(&self, into: &mut Schemas) {
        (self.schemas)(into)
    }
}

/// Every route of the API, each declared once. The order does not matter:
/// [`super::configure`] puts static segments before parameters.
pub fn table() -> Vec<Route> {
    use Need::*;
    vec![
        route!(health::healthz, Access::Public),
        route!(health::readyz, Access::Public),
        route!(plans::list, Access::AnyToken),
        route!(plans::update, Staff),
        // The ECB's public reference rates: read like the catalog.
        route!(exchange_rates::list, Access::AnyToken),
        route!(exchange_rates::put, Staff),
        // Support, and the admins of test accounts (the service checks the
        // account is one).
        route!(test_clocks::create, Manage),
        route!(test_clocks::list, Manage),
        route!(test_clocks::get, Manage),
        route!(test_clocks::delete, Manage),
        route!(test_clocks::advance, Manage),
        route!(accounts::create, Staff),
        route!(accounts::list, Staff),
        route!(accounts::get, Read),
        route!(audit::list_for_account, ReadAudit),
        route!(audit::list_all, Staff),
        route!(events::list, ReadPrivate),
        route!(events::get, ReadPrivate),
        route!(webhook_deliveries::redeliver, Manage),
        route!(webhook_endpoints::create, Manage),
        route!(webhook_endpoints::list, ReadPrivate),
        route!(webhook_endpoints::get, ReadPrivate),
        route!(webhook_endpoints::update, Manage),
        route!(webhook_endpoints::delete, Manage),
        route!(webhook_endpoints::rotate_secret, Manage),
        route!(webhook_deliveries::list, ReadPrivate),
        route!(contacts::create, Manage),
        route!(contacts::list, ReadPrivate),
        route!(contacts::get, ReadPrivate),
        route!(contacts::update, Manage),
        route!(contacts::delete, Manage),
        route!(addresses::create, Manage),
        route!(addresses::list, Read),
        route!(addresses::get, Read),
        // Staff edit; a customer is told to ask customer service (requires_support).
        route!(addresses::update, Manage),
        route!(addresses::delete, Manage),
        route!(addresses::make_primary, Manage),
        route!(addresses::verify, Staff),
        route!(addresses::reject, Staff),
        route!(addresses::check_vat, Staff),
        route!(addresses::history, Read),
        route!(addresses::request_change, Manage),
        route!(addresses::list_address_change_requests, Read),
        route!(addresses::list_change_requests, Read),
        route!(addresses::approve_change, Staff),
        route!(addresses::reject_change, Staff),
        route!(documents::upload, Manage),
        route!(documents::list, ReadPrivate),
        route!(documents::get, ReadPrivate),
        route!(documents::content, ReadPrivate),
        route!(documents::delete, Manage),
        route!(payments::list, Read),
        route!(payments::add_card, Manage),
        // Staff set an IBAN; a customer is told to ask customer service (requires_support).
        route!(payments::add_sepa, Manage),
        route!(payments::make_default, Manage),
        route!(payments::delete, Manage),
        route!(credits::get, Read),
        route!(credits::transactions, Read),
        route!(credits::list_top_ups, Read),
        route!(credits::create_top_up, Manage),
        route!(credits::confirm_top_up, Staff),
        route!(credits::set_auto_recharge, Manage),
        route!(credits::adjust, Staff),
        route!(credits::webhook, Access::WebhookSignature),
        route!(users::create_user, Manage),
        route!(users::list_users, ReadPrivate),
        route!(users::get_user, ReadPrivate),
        route!(users::update_user, Manage),
        route!(users::delete_user, Manage),
        route!(users::create_team, Manage),
        // Teams show only their id and name (no member, no email): viewers
        // read them, to filter consumption by team.
        route!(users::list_teams, Read),
        route!(users::get_team, Read),
        route!(users::update_team, Manage),
        route!(users::delete_team, Manage),
        route!(licenses::quote, Manage),
        route!(licenses::add, Manage),
        route!(licenses::list, Read),
        route!(licenses::remove, Manage),
        route!(licenses::removal_preview, Read),
        route!(licenses::assign, Manage),
        route!(licenses::unassign, Manage),
        route!(licenses::add_number, Manage),
        route!(licenses::list_numbers, Read),
        route!(licenses::get_number, Read),
        route!(licenses::remove_number, Manage),
        route!(consumption::ingest, Ingest),
        route!(consumption::list, Read),
        route!(consumption::summary, Read),
        route!(consumption::export, Read),
        route!(charges::create, Staff),
        route!(charges::list, Read),
        route!(charges::get, Read),
        route!(charges::delete, Staff),
        route!(invoices::upcoming, Read),
        route!(invoices::list, Read),
        route!(invoices::get, Read),
        route!(invoices::run, Staff),
        route!(invoices::finalize, Staff),
        route!(invoices::mark_paid, Staff),
        route!(invoices::void, Staff),
        route!(invoices::html, Read),
        route!(invoices::pdf, Read),
        route!(invoices::cii, Read),
        route!(invoices::ubl, Read),
        route!(invoices::emails, Read),
        route!(invoice_payments::record, Staff),
        route!(invoice_payments::list, Read),
        route!(invoice_payments::balance, Read),
        route!(invoice_payments::balance_entries, Read),
        route!(credit_notes::create, Staff),
        route!(credit_notes::list, Read),
        route!(credit_notes::get, Read),
        route!(credit_notes::html, Read),
        route!(credit_notes::pdf, Read),
        route!(credit_notes::cii, Read),
        route!(credit_notes::ubl, Read),
        route!(credit_notes::refund, Staff),
        route!(credit_notes::reissue, Staff),
        route!(e_invoicing::invoice_events, Read),
        route!(e_invoicing::credit_note_events, Read),
        route!(e_invoicing::attention, Staff),
        route!(e_invoicing::webhook, Access::WebhookSignature),
        route!(recipients::add, Manage),
        route!(recipients::list, Read),
        route!(recipients::get, Read),
        route!(recipients::change, Manage),
        route!(recipients::remove, Manage),
    ]
}

/// The routing order of paths: at the first segment where two paths differ,
/// a static segment comes before a parameter (`/invoices/upcoming` before
/// `/invoices/{invoice_id}`), and a path before its extensions.
pub fn routing_key(path: &str) -> Vec<(bool, &str)> {
    path.split('/')
        .map(|segment| (segment.starts_with('{'), segment))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use utoipa::OpenApi;

    use super::*;
    use crate::domain::role::Role;

    #[test]
    fn every_route_is_declared_once_and_account_routes_need_a_role() {
        let mut seen = HashSet::new();
        for route in table() {
            assert!(
                seen.insert((actix_method(&route.method), route.path.clone())),
                "{} is declared twice",
                route.path
            );
            if route.path.starts_with(ACCOUNT_SCOPE) {
                assert!(
                    route.access.need().is_some(),
                    "{} is under an account: it needs a role",
                    route.operation_id
                );
            }
        }
        assert!(seen.len() > 80);
    }

    #[test]
    fn the_spec_shows_each_routes_access_as_security_scopes_and_a_sentence() {
        let spec = serde_json::to_value(super::super::ApiDoc::openapi()).unwrap();
        let mut documented = 0;
        for route in table() {
            let method = actix_method(&route.method).as_str().to_lowercase();
            let op = &spec["paths"][&route.path][&method];
            assert!(op.is_object(), "{method} {} is not documented", route.path);
            documented += 1;
            let description = op["description"].as_str().unwrap_or_default();
            let security = &op["security"][0];
            match route.access {
                Access::Public => {
                    assert_eq!(security, &serde_json::json!({}));
                    assert!(description.ends_with("Public: no token."));
                }
                Access::WebhookSignature => {
                    assert_eq!(security, &serde_json::json!({"webhook_signature": []}));
                }
                access => {
                    let roles: Vec<&str> = access.roles().iter().map(|r| r.as_str()).collect();
                    assert_eq!(security, &serde_json::json!({ "bearer": roles }));
                    assert!(description.contains("Roles: "), "{}", route.operation_id);
                }
            }
        }
        let operations: usize = spec["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum();
        assert_eq!(
            operations, documented,
            "every documented operation is routed"
        );
    }

    #[test]
    fn a_static_segment_is_routed_before_a_parameter() {
        let mut paths = [
            "/v1/accounts/{account_id}/invoices/{invoice_id}",
            "/v1/accounts/{account_id}/invoices",
            "/v1/accounts/{account_id}/invoices/upcoming",
        ];
        paths.sort_by_key(|p| routing_key(p));
        assert_eq!(
            paths,
            [
                "/v1/accounts/{account_id}/invoices",
                "/v1/accounts/{account_id}/invoices/upcoming",
                "/v1/accounts/{account_id}/invoices/{invoice_id}",
            ]
        );
    }

    #[test]
    fn staff_routes_admit_support_only_and_reads_admit_viewers() {
        assert_eq!(Access::from(Need::Staff).roles(), &[Role::Support]);
        assert!(Access::from(Need::Read).roles().contains(&Role::Viewer));
        assert!(
            !Access::from(Need::ReadPrivate)
                .roles()
                .contains(&Role::Viewer)
        );
        assert!(!Access::from(Need::Manage).roles().contains(&Role::Viewer));
    }
}
