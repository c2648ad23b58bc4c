//! Double-entry rules. Every money movement is a set of legs that sum to
//! zero (top-ups excepted: they bring money in from outside), and each leg's
//! idempotency key is derived from what it is for, so the unique constraint
//! on `ledger_entries.idempotency_key` makes a double write impossible.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use entity::{LedgerEntryType, WalletKind, ledger_entry, wallet};
use rust_decimal::{Decimal, RoundingStrategy};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait};
use sea_orm::{
    ActiveEnum, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter,
    Statement,
};
use serde::Serialize;
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

/// The invariants of the books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Invariant {
    /// A payment's entries do not sum to zero.
    PaymentUnbalanced,
    /// A wallet's stored balance differs from the sum of its entries.
    WalletBalanceDrift,
    /// All balances of a currency differ from all money brought in.
    BooksUnbalanced,
    /// A user wallet is below zero.
    NegativeBalance,
    /// A payment's status or refunded amount disagrees with its entries.
    PaymentLedgerMismatch,
}

impl Invariant {
    /// The stable name, e.g. `PAYMENT_UNBALANCED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentUnbalanced => "PAYMENT_UNBALANCED",
            Self::WalletBalanceDrift => "WALLET_BALANCE_DRIFT",
            Self::BooksUnbalanced => "BOOKS_UNBALANCED",
            Self::NegativeBalance => "NEGATIVE_BALANCE",
            Self::PaymentLedgerMismatch => "PAYMENT_LEDGER_MISMATCH",
        }
    }
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    /// Which invariant.
    pub invariant: Invariant,
    /// The payment or wallet id, or the currency, concerned.
    pub subject: String,
    /// Currency of the amounts.
    pub currency: String,
    /// What the books say it should be, in minor units.
    pub expected_minor: i64,
    /// What it is.
    pub actual_minor: i64,
    /// For humans.
    pub detail: String,
}

/// The result of checking every ledger invariant.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerHealth {
    /// No violation found.
    pub healthy: bool,
    /// When the check ran.
    pub checked_at: DateTime<Utc>,
    /// Wallets checked.
    pub wallets_checked: u64,
    /// Payments checked.
    pub payments_checked: u64,
    /// Ledger entries checked.
    pub entries_checked: u64,
    /// Everything wrong.
    pub violations: Vec<Violation>,
}

#[derive(Debug, FromQueryResult)]
struct PaymentTotals {
    id: Uuid,
    status: String,
    currency: String,
    amount_minor: i64,
    refunded_minor: i64,
    net: i64,
    debited: i64,
    refunded: i64,
    entries: i64,
}

#[derive(Debug, FromQueryResult)]
struct WalletTotals {
    id: Uuid,
    kind: String,
    currency: String,
    balance_minor: i64,
    entries_total: i64,
}

#[derive(Debug, FromQueryResult)]
struct FundingTotal {
    currency: String,
    total: i64,
}

/// The ledger check for the API: admins only.
pub async fn health(db: &DatabaseConnection, viewer: Option<&crate::domain::Viewer>) -> Result<LedgerHealth, AppError> {
    match viewer {
        Some(v) if v.is_admin() => verify(db).await,
        Some(_) => Err(AppError::Forbidden("Only admins check the ledger".into())),
        None => Err(AppError::Unauthenticated("Sign in to see this".into())),
    }
}

/// Checks, on the live database, in one read-only pass:
/// every payment's entries sum to zero; every wallet's stored balance equals
/// the sum of its entries; per currency, all balances together equal all
/// external funding; no user wallet is negative; and each payment's status
/// agrees with its entries (captured ones debited their amount once,
/// refunds equal `refunded`, others have no entries). Each violation is
/// logged as `ledger_invariant_violated`.
pub async fn verify(db: &DatabaseConnection) -> Result<LedgerHealth, AppError> {
    // One snapshot for all four reads, so a movement committing in between
    // cannot look like a violation.
    let snapshot = crate::db::begin_snapshot(db).await?;
    let db = &snapshot;
    let backend = db.get_database_backend();
    let sql = |s: &str| Statement::from_string(backend, s.to_owned());
    // Casts keep the sums BIGINT on PostgreSQL (SUM(bigint) is NUMERIC there).
    let payments = PaymentTotals::find_by_statement(sql(
        "SELECT p.id, p.status, p.currency, p.amount_minor, p.refunded_minor, \
           CAST(COALESCE(SUM(e.amount_minor), 0) AS BIGINT) AS net, \
           CAST(COALESCE(SUM(CASE WHEN e.entry_type = 'PAYMENT_DEBIT' THEN -e.amount_minor ELSE 0 END), 0) AS BIGINT) AS debited, \
           CAST(COALESCE(SUM(CASE WHEN e.entry_type = 'REFUND' AND e.amount_minor > 0 THEN e.amount_minor ELSE 0 END), 0) AS BIGINT) AS refunded, \
           CAST(COUNT(e.id) AS BIGINT) AS entries \
         FROM payments p LEFT JOIN ledger_entries e ON e.payment_id = p.id \
         GROUP BY p.id, p.status, p.currency, p.amount_minor, p.refunded_minor",
    ))
    .all(db)
    .await?;
    let wallets = WalletTotals::find_by_statement(sql("SELECT w.id, w.kind, w.currency, w.balance_minor, \
           CAST(COALESCE(SUM(e.amount_minor), 0) AS BIGINT) AS entries_total \
         FROM wallets w LEFT JOIN ledger_entries e ON e.wallet_id = w.id \
         GROUP BY w.id, w.kind, w.currency, w.balance_minor"))
    .all(db)
    .await?;
    let funding = FundingTotal::find_by_statement(sql(
        "SELECT currency, CAST(SUM(amount_minor) AS BIGINT) AS total FROM ledger_entries \
         WHERE entry_type = 'TOP_UP' GROUP BY currency",
    ))
    .all(db)
    .await?;
    let unlinked =
        FundingTotal::find_by_statement(sql("SELECT currency, CAST(COUNT(*) AS BIGINT) AS total FROM ledger_entries \
         WHERE payment_id IS NULL GROUP BY currency"))
        .all(db)
        .await?;

    let mut violations = Vec::new();
    let mut entries_checked: u64 = unlinked.iter().map(|u| u.total as u64).sum();
    for p in &payments {
        entries_checked += p.entries as u64;
        if p.net != 0 {
            violations.push(Violation {
                invariant: Invariant::PaymentUnbalanced,
                subject: p.id.to_string(),
                currency: p.currency.clone(),
                expected_minor: 0,
                actual_minor: p.net,
                detail: format!("the entries of payment {} sum to {} instead of 0", p.id, p.net),
            });
        }
        let moved = ["CAPTURED", "PARTIALLY_REFUNDED", "REFUNDED"].contains(&p.status.as_str());
        let expected_debit = if moved { p.amount_minor } else { 0 };
        if p.debited != expected_debit {
            violations.push(Violation {
                invariant: Invariant::PaymentLedgerMismatch,
                subject: p.id.to_string(),
                currency: p.currency.clone(),
                expected_minor: expected_debit,
                actual_minor: p.debited,
                detail: format!("payment {} is {} but its buyer was debited {}", p.id, p.status, p.debited),
            });
        }
        if p.refunded != p.refunded_minor {
            violations.push(Violation {
                invariant: Invariant::PaymentLedgerMismatch,
                subject: p.id.to_string(),
                currency: p.currency.clone(),
                expected_minor: p.refunded_minor,
                actual_minor: p.refunded,
                detail: format!(
                    "payment {} records {} refunded but its refund entries credit {}",
                    p.id, p.refunded_minor, p.refunded
                ),
            });
        }
    }
    let mut balances: HashMap<&str, i64> = HashMap::new();
    for w in &wallets {
        *balances.entry(w.currency.as_str()).or_default() += w.balance_minor;
        if w.balance_minor != w.entries_total {
            violations.push(Violation {
                invariant: Invariant::WalletBalanceDrift,
                subject: w.id.to_string(),
                currency: w.currency.clone(),
                expected_minor: w.entries_total,
                actual_minor: w.balance_minor,
                detail: format!(
                    "wallet {} stores {} but its entries sum to {}",
                    w.id, w.balance_minor, w.entries_total
                ),
            });
        }
        if w.kind == WalletKind::User.to_value() && w.balance_minor < 0 {
            violations.push(Violation {
                invariant: Invariant::NegativeBalance,
                subject: w.id.to_string(),
                currency: w.currency.clone(),
                expected_minor: 0,
                actual_minor: w.balance_minor,
                detail: format!("user wallet {} is negative", w.id),
            });
        }
    }
    let funded: HashMap<&str, i64> = funding.iter().map(|f| (f.currency.as_str(), f.total)).collect();
    let mut currencies: Vec<&str> = balances.keys().chain(funded.keys()).copied().collect();
    currencies.sort_unstable();
    currencies.dedup();
    for currency in currencies {
        let (held, brought_in) =
            (balances.get(currency).copied().unwrap_or(0), funded.get(currency).copied().unwrap_or(0));
        if held != brought_in {
            violations.push(Violation {
                invariant: Invariant::BooksUnbalanced,
                subject: currency.to_owned(),
                currency: currency.to_owned(),
                expected_minor: brought_in,
                actual_minor: held,
                detail: format!("{currency} wallets hold {held} but {brought_in} came in from outside"),
            });
        }
    }
    snapshot.commit().await?;
    for v in &violations {
        tracing::error!(
            event = "ledger_invariant_violated",
            invariant = v.invariant.as_str(),
            subject = %v.subject,
            expected_minor = v.expected_minor,
            actual_minor = v.actual_minor,
            detail = %v.detail,
            "ledger invariant violated"
        );
    }
    Ok(LedgerHealth {
        healthy: violations.is_empty(),
        checked_at: Utc::now(),
        wallets_checked: wallets.len() as u64,
        payments_checked: payments.len() as u64,
        entries_checked,
        violations,
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
