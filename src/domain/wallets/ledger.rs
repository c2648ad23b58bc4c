//! Double-entry rules. Every money movement is a set of legs that sum to
//! zero (top-ups excepted: they bring money in from outside), and each leg's
//! idempotency key is derived from what it is for, so the unique constraint
//! on `ledger_entries.idempotency_key` makes a double write impossible.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::{LedgerEntryType, WalletKind, ledger_entry, wallet};
use rust_decimal::Decimal;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use crate::db::Isolation;
use crate::domain::money::MoneyPolicy;
use crate::domain::{money, new_id, now};
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
    /// A leg of the platform wallet, which every capture touches: applied
    /// last, at commit, whatever its sign.
    pub platform: bool,
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
        platform: wallet_id == wallets.platform,
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
    Leg { wallet_id, amount_minor, entry_type: LedgerEntryType::TopUp, idempotency_key, platform: false }
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
        // fee × refunded-after / amount, rounded half to even, in i128: the
        // product of two amounts up to 10^15 does not fit a Decimal.
        let (num, den) = (i128::from(fee_minor) * i128::from(after), i128::from(amount_minor));
        let (q, r) = (num / den, num % den);
        let share = if 2 * r > den || (2 * r == den && q % 2 == 1) { q + 1 } else { q };
        i64::try_from(share).unwrap_or(fee_minor)
    };
    let fee_back = (fee_due_after - fee_refunded_minor).clamp(0, refund_minor);
    let leg = |wallet_id, amount_minor, name: &str| Leg {
        wallet_id,
        amount_minor,
        entry_type: LedgerEntryType::Refund,
        idempotency_key: format!("payment_{payment_id}_refund_{refunded_minor}_{name}"),
        platform: wallet_id == wallets.platform,
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

/// A money transaction: the only way a balance changes.
///
/// Every money movement locks only the wallet rows it touches, never a
/// table. [`post`] writes the legs and applies the debits of user wallets at
/// once (refusing to take one below zero); credits, and every leg of the
/// platform wallet (which every capture credits), are held back and applied by
/// [`MoneyTx::commit`], just before the commit. A hot wallet (the platform,
/// a busy seller) is therefore locked only for that last statement and the
/// commit, and movements between disjoint wallets never wait for each other.
///
/// The transaction is READ COMMITTED on PostgreSQL: every rule that must
/// hold against concurrent movements is a guarded write evaluated on the
/// latest row version after any lock wait (the payment's status, a
/// balance's floor and ceiling), so nothing depends on a snapshot. On SQLite
/// it is an immediate transaction (one writer at a time). Each one holds a
/// permit of the [`MoneyGate`](crate::domain::money::MoneyGate) while it
/// runs, and the pool's `lock_timeout` bounds every lock wait.
pub struct MoneyTx {
    tx: DatabaseTransaction,
    /// Held-back credits: wallet -> (delta, ceiling for a user wallet), and
    /// the time of the latest posting, which the credits are stamped with
    /// (what the caller answered as the wallets' `updatedAt`).
    held: std::sync::Mutex<(Credits, Option<DateTime<Utc>>)>,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl std::ops::Deref for MoneyTx {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.tx
    }
}

impl MoneyTx {
    /// Begins a money transaction, first waiting for a permit of `policy`'s gate.
    pub async fn begin(db: &DatabaseConnection, policy: &MoneyPolicy) -> Result<Self, AppError> {
        let permit = policy.gate.enter().await?;
        let tx = crate::db::begin_write(db, Isolation::ReadCommitted).await?;
        Ok(Self { tx, held: Default::default(), _permit: Some(permit) })
    }

    /// Turns a transaction that turned out to move money (a delivery that
    /// collects cash, a cancel that refunds) into a money transaction.
    pub fn from_tx(tx: DatabaseTransaction) -> Self {
        Self { tx, held: Default::default(), _permit: None }
    }

    fn hold(&self, wallet_id: Uuid, delta: i64, ceiling: i64, at: DateTime<Utc>) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let entry = held.0.entry(wallet_id).or_insert((0, ceiling));
        entry.0 += delta;
        held.1 = Ord::max(held.1, Some(at));
    }

    /// Applies the held-back credits, then commits.
    pub async fn commit(self) -> Result<(), AppError> {
        let (held, at) = std::mem::take(&mut *self.held.lock().unwrap_or_else(|e| e.into_inner()));
        apply_credits(&self.tx, &held, at.unwrap_or_else(now)).await?;
        self.tx.commit().await?;
        Ok(())
    }

    /// Rolls back.
    pub async fn rollback(self) -> Result<(), AppError> {
        self.tx.rollback().await?;
        Ok(())
    }
}

/// `WALLET_BALANCE_LIMIT_EXCEEDED` for a credit that would take a wallet
/// past its ceiling.
pub fn balance_limit_exceeded(
    wallet_id: Uuid,
    balance_minor: i64,
    credit_minor: i64,
    ceiling: i64,
    currency: &str,
) -> AppError {
    let text = |minor| money::minor_text(minor, currency);
    AppError::rule(
        "WALLET_BALANCE_LIMIT_EXCEEDED",
        "The wallet would hold more than the largest balance allowed",
        json!({
            "walletId": wallet_id,
            "balance": text(balance_minor),
            "credit": text(credit_minor),
            "limit": text(ceiling),
            "currency": currency,
        }),
    )
}

/// What a balance change must respect.
#[derive(Debug, Clone, Copy)]
enum Guard {
    /// A debit: a user wallet may not go below zero (the platform may).
    Floor,
    /// A credit: a user wallet may not pass this ceiling, and no wallet may
    /// pass `i64::MAX`.
    Ceiling(i64),
}

/// Moves each wallet by its delta, one UPDATE per row in id order: every
/// movement locks the rows it touches in one global order, so two movements
/// cannot deadlock on them (a single statement over several rows would lock
/// them in whatever order its scan meets them). Each UPDATE carries its
/// guard, evaluated on the latest committed row after any lock wait, in a
/// form that cannot overflow (`balance >= -debit`, `balance <= ceiling -
/// credit`). Stops at the first refusal and says why.
async fn move_balances(
    tx: &DatabaseTransaction,
    deltas: &BTreeMap<Uuid, (i64, Guard)>,
    currency: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    use wallet::Column as W;
    for (&id, &(delta, guard)) in deltas {
        if delta == 0 {
            continue;
        }
        let condition = match guard {
            Guard::Floor => {
                Condition::any().add(W::Kind.eq(WalletKind::Platform)).add(W::BalanceMinor.gte(delta.saturating_neg()))
            }
            Guard::Ceiling(ceiling) => Condition::any()
                .add(
                    Condition::all()
                        .add(W::Kind.eq(WalletKind::Platform))
                        .add(W::BalanceMinor.lte(i64::MAX.saturating_sub(delta))),
                )
                .add(W::BalanceMinor.lte(ceiling.saturating_sub(delta))),
        };
        let moved = wallet::Entity::update_many()
            .col_expr(W::BalanceMinor, ExprTrait::add(Expr::col(W::BalanceMinor), delta))
            .col_expr(W::Version, ExprTrait::add(Expr::col(W::Version), 1))
            .col_expr(W::UpdatedAt, Expr::value(now))
            .filter(W::Id.eq(id))
            .filter(condition)
            .exec(tx)
            .await?;
        if moved.rows_affected == 1 {
            continue;
        }
        let Some(w) = wallet::Entity::find_by_id(id).one(tx).await? else {
            return Err(AppError::Internal(format!("a ledger posting found wallet {id} missing")));
        };
        let currency = currency.unwrap_or(&w.currency);
        return Err(match guard {
            Guard::Floor => insufficient_funds(w.id, w.balance_minor, -delta, currency),
            Guard::Ceiling(ceiling) => {
                let ceiling = if w.kind == WalletKind::Platform { i64::MAX } else { ceiling };
                balance_limit_exceeded(w.id, w.balance_minor, delta, ceiling, currency)
            }
        });
    }
    Ok(())
}

/// Held-back credits: wallet -> (delta, ceiling for a user wallet).
type Credits = BTreeMap<Uuid, (i64, i64)>;

/// Applies held-back credits, at commit.
async fn apply_credits(tx: &DatabaseTransaction, held: &Credits, now: DateTime<Utc>) -> Result<(), AppError> {
    let deltas = held.iter().map(|(id, (d, ceiling))| (*id, (*d, Guard::Ceiling(*ceiling)))).collect();
    move_balances(tx, &deltas, None, now).await
}

/// Writes `legs` in the caller's money transaction: one INSERT of the
/// entries, then the debits of user wallets, which refuse to take one below
/// zero (`INSUFFICIENT_FUNDS` for the whole posting).
/// Credits, and every platform leg, are held back until
/// [`MoneyTx::commit`], which refuses to take a user wallet past
/// `ceiling_minor` (`WALLET_BALANCE_LIMIT_EXCEEDED`).
pub async fn post(
    tx: &MoneyTx,
    legs: Vec<Leg>,
    payment_id: Option<Uuid>,
    currency: &str,
    ceiling_minor: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let mut deltas: BTreeMap<Uuid, (i64, bool)> = BTreeMap::new();
    for leg in &legs {
        let entry = deltas.entry(leg.wallet_id).or_default();
        entry.0 += leg.amount_minor;
        entry.1 |= leg.platform;
    }
    let rows = legs.into_iter().map(|leg| {
        // Funding legs stand alone; the payment's own legs sum to zero.
        let payment = if leg.entry_type == LedgerEntryType::TopUp { None } else { payment_id };
        leg.into_active_model(payment, currency, now)
    });
    ledger_entry::Entity::insert_many(rows).exec_without_returning(&**tx).await?;

    let mut debits = BTreeMap::new();
    for (id, (delta, platform)) in deltas {
        if delta < 0 && !platform {
            debits.insert(id, (delta, Guard::Floor));
        } else if delta != 0 {
            tx.hold(id, delta, ceiling_minor, now);
        }
    }
    move_balances(tx, &debits, Some(currency), now).await
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
