//! Admins add money to a user's wallet from outside: one of the ways money
//! enters the books, as a single TOP_UP entry.

use entity::{WalletKind, wallet};
use rust_decimal::Decimal;
use sea_orm::sea_query::LockType;
use sea_orm::{ActiveEnum, DatabaseConnection, EntityTrait, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use crate::db::{self, RetryPolicy};
use crate::domain::audit::{self, AuditContext, Change};
use crate::domain::idempotency::{self, Keyed};
use crate::domain::money::{Currency, MoneyLimits, MoneyPolicy, minor_text};
use crate::domain::wallets::ledger::{self, MoneyTx};
use crate::domain::{Viewer, new_id, now};
use crate::error::AppError;
use crate::telemetry::metrics;

/// Adds money to a user's wallet from outside (admins): a single TOP_UP
/// entry, so all balances together still equal all money brought in.
pub async fn top_up(
    db: &DatabaseConnection,
    viewer: &Viewer,
    audit_context: &AuditContext,
    policy: &MoneyPolicy,
    wallet_id: Uuid,
    amount: Decimal,
    idempotency_key: &str,
) -> Result<wallet::Model, AppError> {
    if !viewer.is_admin() {
        return Err(AppError::Forbidden("Only admins top up wallets".into()));
    }
    let keyed = Keyed {
        actor: viewer.id,
        key: idempotency_key,
        operation: "topUpWallet",
        input: vec![("walletId", wallet_id.to_string()), ("amount", amount.normalize().to_string())],
    };
    idempotency::run(db, policy.key_ttl, keyed, |ticket| async move {
        let ticket = &ticket;
        let result =
            db::retry(RetryPolicy::MONEY, "wallet_top_up_retry", wallet_id, AppError::is_lost_race, || async move {
                let tx = MoneyTx::begin(db, policy).await?;
                // Locked, so the balance answered is the one committed.
                let current = wallet::Entity::find_by_id(wallet_id)
                    .lock(LockType::Update)
                    .one(&*tx)
                    .await?
                    .ok_or_else(|| AppError::not_found("Wallet", wallet_id))?;
                if current.kind != WalletKind::User {
                    return Err(AppError::rule(
                        "WALLET_NOT_FUNDABLE",
                        "Only user wallets are topped up",
                        json!({ "walletId": wallet_id, "kind": current.kind.to_value() }),
                    ));
                }
                let minor = Currency::parse(&current.currency)?.to_minor(amount, "amount")?;
                if minor <= 0 {
                    return Err(AppError::validation("amount", "A top-up amount is positive"));
                }
                let largest = MoneyLimits::minor(policy.limits.top_up, &current.currency);
                if minor > largest {
                    return Err(AppError::rule(
                        "TOP_UP_LIMIT_EXCEEDED",
                        "The top-up is larger than the largest allowed",
                        json!({
                            "walletId": wallet_id,
                            "requested": minor_text(minor, &current.currency),
                            "limit": minor_text(largest, &current.currency),
                            "currency": current.currency,
                        }),
                    ));
                }
                let ceiling = MoneyLimits::minor(policy.limits.wallet_balance, &current.currency);
                if current.balance_minor > ceiling - minor {
                    return Err(ledger::balance_limit_exceeded(
                        wallet_id,
                        current.balance_minor,
                        minor,
                        ceiling,
                        &current.currency,
                    ));
                }
                let now = now();
                let leg = ledger::funding_leg(wallet_id, minor, format!("top_up_{}", new_id()));
                ledger::post(&tx, vec![leg], None, &current.currency, ceiling, now).await?;
                let after = wallet::Model {
                    balance_minor: current.balance_minor + minor,
                    version: current.version + 1,
                    updated_at: now,
                    ..current.clone()
                };
                audit::record(
                    &*tx,
                    Change {
                        action: "wallet.topped_up",
                        entity_type: "Wallet",
                        entity_id: wallet_id,
                        old: Some(json!({ "balanceMinor": current.balance_minor })),
                        new: Some(json!({ "balanceMinor": after.balance_minor, "topUpMinor": minor })),
                        context: audit_context,
                    },
                )
                .await?;
                let done = ticket.complete(&*tx, after).await?;
                tx.commit().await?;
                Ok((done, minor))
            })
            .await;
        metrics::top_up(metrics::outcome(&result, "topped_up"));
        let (done, _) = result?;
        tracing::info!(
            event = "wallet_topped_up",
            wallet.id = %wallet_id,
            amount = %minor_text(done.1, &done.0.value().currency),
            actor = %viewer.id,
            "wallet topped up"
        );
        Ok(done.0)
    })
    .await
}
