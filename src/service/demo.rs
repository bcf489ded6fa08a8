//! The demo account that `comptoir demo` and `make run` load. Loading it
//! twice changes nothing. Later resources add their demo data here.

use time::OffsetDateTime;

use super::Ctx;
use crate::domain::account::{Account, Timezone};
use crate::domain::ids::AccountId;
use crate::domain::money::Currency;
use crate::domain::role::{Caller, Role};
use crate::error::ApiError;
use crate::store::Store;

pub const DEMO_ACCOUNT: &str = "acc_demo";

/// Loads the demo account if it is not there yet, and returns it.
pub async fn load(store: &Store, now: OffsetDateTime) -> Result<Account, ApiError> {
    let id = AccountId::parse(DEMO_ACCOUNT).expect("a valid id");
    let ctx = Ctx {
        caller: Caller {
            subject: "comptoir-demo".into(),
            role: Role::Support,
            account_id: None,
        },
        request_id: None,
        now,
    };
    let mut tx = store.begin_write().await?;
    if let Some(existing) = tx.account(&id).await? {
        return Ok(existing);
    }
    let account = Account {
        id,
        name: "Démo Télécom SAS".into(),
        currency: Currency::Eur,
        timezone: Timezone::parse(Timezone::DEFAULT).expect("a known zone"),
        created_at: now,
    };
    super::accounts::open(&mut tx, &ctx, &account).await?;
    tx.commit().await?;
    Ok(account)
}
