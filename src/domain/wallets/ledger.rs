//! Double-entry rules. Every money movement is a set of legs that sum to
//! zero (top-ups excepted: they bring money in from outside), and each leg's
//! idempotency key is derived from what it is for, so the unique constraint
//! on `ledger_entries.idempotency_key` makes a double write impossible.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::{LedgerEntryType, WalletKind, ledger_entry, wallet};
use rust_decimal::{Decimal, RoundingStrategy};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use crate::domain::{money, new_id};
use crate::error::AppError;

/// One leg before it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    /// Wallet moved.
    pub wallet_id: Uuid,
    /// Signed minor units.
    pub amount_minor: i64,
    /// Why.
    pub entry_type: LedgerEntryType,
    /// Unique per leg, derived from the operation.
    pub idempotency_key: String,
}

/// The wallets a payment capture touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureWallets {
    /// Pays.
    pub buyer: Uuid,
    /// Is paid the amount less the fee.
    pub seller: Uuid,
    /// Receives the fee.
    pub platform: Uuid,
}

/// The three legs of capturing `amount_minor` for `payment_id`: buyer debit,
/// seller credit of amount minus fee, platform credit of the fee.
pub fn capture_legs(payment_id: Uuid, amount_minor: i64, fee_rate: Decimal, wallets: CaptureWallets) -> [Leg; 3] {
    let fee = money::platform_fee(amount_minor, fee_rate);
    let leg = |wallet_id, amount_minor, entry_type, name: &str| Leg {
        wallet_id,
        amount_minor,
        entry_type,
        idempotency_key: format!("payment_{payment_id}_{name}"),
    };
    [
        leg(wallets.buyer, -amount_minor, LedgerEntryType::PaymentDebit, "buyer_debit"),
        leg(wallets.seller, amount_minor - fee, LedgerEntryType::PaymentCredit, "seller_credit"),
        leg(wallets.platform, fee, LedgerEntryType::PlatformFee, "platform_fee"),
    ]
}

impl Leg {
    /// The row to insert.
    pub fn into_active_model(
        self,
        payment_id: Option<Uuid>,
        currency: &str,
        at: DateTime<Utc>,
    ) -> ledger_entry::ActiveModel {
        ledger_entry::ActiveModel {
            id: Set(new_id()),
            wallet_id: Set(self.wallet_id),
            payment_id: Set(payment_id),
            amount_minor: Set(self.amount_minor),
            currency: Set(currency.to_owned()),
            entry_type: Set(self.entry_type),
            idempotency_key: Set(self.idempotency_key),
            created_at: Set(at),
        }
    }
}

/// Money entering the books from outside (an admin top-up, a card charge,
/// cash handed to the agent): a single positive leg, balanced by the rule
/// that all balances together equal all external funding.
pub fn funding_leg(wallet_id: Uuid, amount_minor: i64, idempotency_key: String) -> Leg {
    Leg { wallet_id, amount_minor, entry_type: LedgerEntryType::TopUp, idempotency_key }
}

/// What a refund reverses, read from the payment's own entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Captured {
    /// The wallets of the capture legs.
    pub wallets: CaptureWallets,
    /// Amount captured.
    pub amount_minor: i64,
    /// Fee the platform took.
    pub fee_minor: i64,
    /// Refunded so far.
    pub refunded_minor: i64,
    /// Fee given back so far.
    pub fee_refunded_minor: i64,
}

/// The three legs of refunding `refund_minor`: the buyer gets it back, the
/// platform returns its share of the fee and the seller the rest. The fee
/// share is cumulative (fee due back after this refund minus fee already
/// returned), so refunding a payment in any number of parts returns exactly
/// the fee taken, never a minor unit more or less, and no leg changes sign.
/// The caller has checked `refund_minor <= amount - refunded`.
pub fn refund_legs(payment_id: Uuid, captured: Captured, refund_minor: i64) -> [Leg; 3] {
    let Captured { wallets, amount_minor, fee_minor, refunded_minor, fee_refunded_minor } = captured;
    let after = refunded_minor + refund_minor;
    let fee_due_after = if amount_minor == 0 {
        0
    } else {
        let share = Decimal::from(fee_minor) * Decimal::from(after) / Decimal::from(amount_minor);
        i64::try_from(share.round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven)).unwrap_or(fee_minor)
    };
    let fee_back = (fee_due_after - fee_refunded_minor).clamp(0, refund_minor);
    let leg = |wallet_id, amount_minor, name: &str| Leg {
        wallet_id,
        amount_minor,
        entry_type: LedgerEntryType::Refund,
        idempotency_key: format!("payment_{payment_id}_refund_{refunded_minor}_{name}"),
    };
    [
        leg(wallets.buyer, refund_minor, "buyer_credit"),
        leg(wallets.seller, -(refund_minor - fee_back), "seller_debit"),
        leg(wallets.platform, -fee_back, "platform_fee_reversal"),
    ]
}

/// Reads what a captured payment's entries say was captured and refunded.
pub async fn captured(db: &impl ConnectionTrait, payment_id: Uuid) -> Result<Option<Captured>, AppError> {
    let entries = ledger_entry::Entity::find().filter(ledger_entry::Column::PaymentId.eq(payment_id)).all(db).await?;
    let of = |t: LedgerEntryType| entries.iter().find(|e| e.entry_type == t);
    let (Some(debit), Some(credit), Some(fee)) =
        (of(LedgerEntryType::PaymentDebit), of(LedgerEntryType::PaymentCredit), of(LedgerEntryType::PlatformFee))
    else {
        return Ok(None);
    };
    let refunds = entries.iter().filter(|e| e.entry_type == LedgerEntryType::Refund);
    Ok(Some(Captured {
        wallets: CaptureWallets { buyer: debit.wallet_id, seller: credit.wallet_id, platform: fee.wallet_id },
        amount_minor: -debit.amount_minor,
        fee_minor: fee.amount_minor,
        refunded_minor: refunds.clone().filter(|e| e.wallet_id == debit.wallet_id).map(|e| e.amount_minor).sum(),
        fee_refunded_minor: -refunds.filter(|e| e.wallet_id == fee.wallet_id).map(|e| e.amount_minor).sum::<i64>(),
    }))
}

/// `INSUFFICIENT_FUNDS` for a wallet holding `balance_minor` asked to pay
/// `required_minor`, with the shortfall in `context`.
pub fn insufficient_funds(wallet_id: Uuid, balance_minor: i64, required_minor: i64, currency: &str) -> AppError {
    let text = |minor| money::minor_text(minor, currency);
    AppError::rule(
        "INSUFFICIENT_FUNDS",
        "The wallet does not hold enough to pay",
        json!({
            "walletId": wallet_id,
            "balance": text(balance_minor),
            "required": text(required_minor),
            "shortfall": text(required_minor - balance_minor),
            "currency": currency,
        }),
    )
}

/// Writes `legs` and moves the wallet balances by them, in the caller's
/// transaction, in two statements: one INSERT of the entries and one UPDATE
/// of every wallet touched. The UPDATE refuses to take a user wallet below
/// zero (`INSUFFICIENT_FUNDS` for the whole posting), so that rule holds
/// even if a caller's earlier balance check raced.
pub async fn post(
    tx: &impl ConnectionTrait,
    legs: Vec<Leg>,
    payment_id: Option<Uuid>,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    use wallet::Column as W;
    let mut deltas: BTreeMap<Uuid, i64> = BTreeMap::new();
    for leg in &legs {
        *deltas.entry(leg.wallet_id).or_default() += leg.amount_minor;
    }
    let rows = legs.into_iter().map(|leg| {
        // Funding legs stand alone; the payment's own legs sum to zero.
        let payment = if leg.entry_type == LedgerEntryType::TopUp { None } else { payment_id };
        leg.into_active_model(payment, currency, now)
    });
    ledger_entry::Entity::insert_many(rows).exec_without_returning(tx).await?;

    let delta = || -> Expr {
        let mut case = CaseStatement::new();
        for (id, d) in &deltas {
            case = case.case(W::Id.eq(*id), Expr::val(*d));
        }
        case.finally(Expr::val(0_i64)).into()
    };
    let moved = wallet::Entity::update_many()
        .col_expr(W::BalanceMinor, ExprTrait::add(Expr::col(W::BalanceMinor), delta()))
        .col_expr(W::Version, ExprTrait::add(Expr::col(W::Version), 1))
        .col_expr(W::UpdatedAt, Expr::value(now))
        .filter(W::Id.is_in(deltas.keys().copied()))
        .filter(
            Condition::any()
                .add(W::Kind.eq(WalletKind::Platform))
                .add(ExprTrait::add(Expr::col(W::BalanceMinor), delta()).gte(0)),
        )
        .exec(tx)
        .await?;
    if moved.rows_affected == deltas.len() as u64 {
        return Ok(());
    }
    // Some user wallet would go below zero: say which, and by how much.
    let wallets = wallet::Entity::find().filter(W::Id.is_in(deltas.keys().copied())).all(tx).await?;
    let short = wallets.iter().find(|w| w.kind == WalletKind::User && w.balance_minor + deltas[&w.id] < 0);
    Err(match short {
        Some(w) => insufficient_funds(w.id, w.balance_minor, -deltas[&w.id], currency),
        None => AppError::Internal("a ledger posting found a wallet missing".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::dec;

    #[test]
    fn capture_legs_sum_to_zero_and_have_distinct_keys() {
        let wallets = CaptureWallets { buyer: new_id(), seller: new_id(), platform: new_id() };
        for amount in [0, 1, 5, 125, 135, 99_999, 1_000_000_007] {
            let legs = capture_legs(new_id(), amount, dec!(0.10), wallets);
            assert_eq!(legs.iter().map(|l| l.amount_minor).sum::<i64>(), 0, "amount {amount}");
            assert_eq!(legs[0].amount_minor, -amount);
            assert!(legs[2].amount_minor >= 0 && legs[1].amount_minor >= 0);
            assert_ne!(legs[0].idempotency_key, legs[1].idempotency_key);
            assert_ne!(legs[1].idempotency_key, legs[2].idempotency_key);
        }
    }

    fn wallets() -> CaptureWallets {
        CaptureWallets { buyer: new_id(), seller: new_id(), platform: new_id() }
    }

    #[test]
    fn a_full_refund_in_one_part_mirrors_the_capture() {
        let w = wallets();
        let id = new_id();
        let capture = capture_legs(id, 1_235, dec!(0.10), w);
        let captured = Captured {
            wallets: w,
            amount_minor: 1_235,
            fee_minor: capture[2].amount_minor,
            refunded_minor: 0,
            fee_refunded_minor: 0,
        };
        let refund = refund_legs(id, captured, 1_235);
        for (c, r) in capture.iter().zip(&refund) {
            assert_eq!(c.wallet_id, r.wallet_id);
            assert_eq!(c.amount_minor, -r.amount_minor);
        }
    }

    proptest! {
        /// However a payment is refunded in parts, every refund balances,
        /// no leg changes sign, and a full refund returns exactly the fee.
        #[test]
        fn refunds_in_parts_return_exactly_what_was_taken(
            amount in 0_i64..10_000_000,
            rate_bp in 0_u32..9_999,
            cuts in proptest::collection::vec(1_i64..1_000_000, 1..8),
        ) {
            let rate = Decimal::new(i64::from(rate_bp), 4);
            let w = wallets();
            let id = new_id();
            let capture = capture_legs(id, amount, rate, w);
            let fee = capture[2].amount_minor;
            let mut captured = Captured { wallets: w, amount_minor: amount, fee_minor: fee, refunded_minor: 0, fee_refunded_minor: 0 };
            let mut parts: Vec<i64> = cuts.iter().map(|c| c % (amount + 1)).collect();
            parts.push(amount); // the last part refunds whatever is left
            for part in parts {
                let part = Ord::min(part, amount - captured.refunded_minor);
                if part == 0 { continue; }
                let legs = refund_legs(id, captured, part);
                prop_assert_eq!(legs.iter().map(|l| l.amount_minor).sum::<i64>(), 0);
                prop_assert!(legs[0].amount_minor > 0 && legs[1].amount_minor <= 0 && legs[2].amount_minor <= 0);
                captured.refunded_minor += part;
                captured.fee_refunded_minor += -legs[2].amount_minor;
            }
            prop_assert_eq!(captured.refunded_minor, amount);
            prop_assert_eq!(captured.fee_refunded_minor, fee);
        }
    }
}
