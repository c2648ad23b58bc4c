//! Checking the books: every ledger invariant, on one consistent snapshot
//! (`courier ledger verify`, `Query.ledgerHealth`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::WalletKind;
use sea_orm::{ActiveEnum, ConnectionTrait, DatabaseConnection, FromQueryResult, Statement};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::Viewer;
use crate::error::AppError;

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
pub async fn health(db: &DatabaseConnection, viewer: Option<&Viewer>) -> Result<LedgerHealth, AppError> {
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
