//! The consumer's request budget kept in the store: every account syncing through one OAuth
//! consumer, in this process or another sharing the database, draws from it, each within its
//! cap (Bitbucket counts OAuth calls against the consumer, facts §9).

use async_trait::async_trait;
use chrono::Utc;

use super::Bitbucket;
use crate::api::{BudgetLedger, BudgetSpent};
use crate::store::{BudgetPolicy, DynStore};

/// Requests reserved from the store at once: one store write per batch, and at most a batch
/// left unused when a run ends.
const BATCH: u64 = 5;

/// One account's view of its consumer's budget in the store.
pub(crate) struct StoreLedger {
    store: DynStore,
    consumer: String,
    account: String,
    policy: BudgetPolicy,
    reserved: tokio::sync::Mutex<u64>,
}

impl std::fmt::Debug for StoreLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreLedger")
            .field("consumer", &self.consumer)
            .field("account", &self.account)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl BudgetLedger for StoreLedger {
    async fn take(&self) -> Result<(), BudgetSpent> {
        let mut reserved = self.reserved.lock().await;
        if *reserved == 0 {
            let grant = self
                .store
                .reserve_requests(
                    &self.consumer,
                    &self.account,
                    &self.policy,
                    BATCH,
                    Utc::now(),
                )
                .await
                .map_err(|e| BudgetSpent {
                    reason: format!("the shared request budget cannot be read from the store: {e}"),
                    resume_after: None,
                })?;
            if grant.granted == 0 {
                return Err(BudgetSpent {
                    reason: format!(
                        "the consumer's {} requests per {} min (shared by its accounts), or this account's share of {}, are taken",
                        self.policy.limit,
                        self.policy.window.as_secs() / 60,
                        self.policy.account_cap
                    ),
                    resume_after: grant.resume_at,
                });
            }
            *reserved = grant.granted;
        }
        *reserved -= 1;
        Ok(())
    }
}

impl Bitbucket {
    /// The ledger of `account` (an account uuid, or `consumer`) on `client`'s consumer, whose
    /// budget `accounts` accounts share.
    pub(crate) fn ledger(&self, budget_key: &str, account: &str, accounts: usize) -> StoreLedger {
        let (limit, window) = self.inner.budget;
        let limit = limit as u64;
        let accounts = accounts.max(1) as u64;
        let cap = if accounts == 1 {
            limit
        } else {
            // An equal share at least; more up to the configured fraction, since accounts
            // rarely all sync at once.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let share = (limit as f64 * self.inner.account_share).ceil() as u64;
            limit.div_ceil(accounts).max(share)
        };
        StoreLedger {
            store: self.store().clone(),
            consumer: budget_key.to_owned(),
            account: account.to_owned(),
            policy: BudgetPolicy::new(limit, window, cap),
            reserved: tokio::sync::Mutex::new(0),
        }
    }
}
