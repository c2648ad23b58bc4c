//! Checking the books: every ledger invariant, on one consistent snapshot
//! (`courier ledger verify`, `Query.ledgerHealth`).

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
    /// What the books say it should be, in minor units (sums may exceed 64 bits).
    pub expected_minor: i128,
    /// What it is.
    pub actual_minor: i128,
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

/// Violations listed per check at most; more are counted in the log.
pub const MAX_LISTED: u64 = 1_000;

/// Amounts are summed in two parts, `amount / B` and `amount % B`, so no
/// sum can overflow a BIGINT on either backend (SQLite's SUM fails on
/// overflow, PostgreSQL's is NUMERIC but is cast back), and the exact total
/// `hi * B + lo` is assembled in Rust as an `i128`.
const B: i64 = 1_000_000_000;

/// SQL for "`hi * B + lo` is zero", which cannot overflow: with |r| < B,
/// `(hi + q) * B + r = 0` exactly when `r = 0` and `hi + q = 0`, where
/// `q, r` are `lo / B` and `lo % B`.
fn is_zero(hi: &str, lo: &str) -> String {
    format!("((({lo}) % {B}) = 0 AND ({hi}) + (({lo}) / {B}) = 0)")
}

/// `CAST(COALESCE(SUM(<part of expr>), 0) AS BIGINT)` for both parts.
fn split_sum(expr: &str) -> (String, String) {
    (
        format!("CAST(COALESCE(SUM(({expr}) / {B}), 0) AS BIGINT)"),
        format!("CAST(COALESCE(SUM(({expr}) % {B}), 0) AS BIGINT)"),
    )
}

fn exact(hi: i64, lo: i64) -> i128 {
    i128::from(hi) * i128::from(B) + i128::from(lo)
}

#[derive(Debug, FromQueryResult)]
struct PaymentRow {
    id: Uuid,
    status: String,
    currency: String,
    expected_debit: i64,
    refunded_minor: i64,
    net_hi: i64,
    net_lo: i64,
    debit_hi: i64,
    debit_lo: i64,
    refund_hi: i64,
    refund_lo: i64,
}

#[derive(Debug, FromQueryResult)]
struct WalletRow {
    id: Uuid,
    kind: String,
    currency: String,
    balance_minor: i64,
    entries_hi: i64,
    entries_lo: i64,
}

#[derive(Debug, FromQueryResult)]
struct CurrencyTotal {
    currency: String,
    hi: i64,
    lo: i64,
}

#[derive(Debug, FromQueryResult)]
struct Count {
    n: i64,
}

/// The ledger check for the API: admins only.
pub async fn health(db: &DatabaseConnection, viewer: Option<&Viewer>) -> Result<LedgerHealth, AppError> {
    match viewer {
        Some(v) if v.is_admin() => verify(db).await,
        Some(_) => Err(AppError::Forbidden("Only admins check the ledger".into())),
        None => Err(AppError::Unauthenticated("Sign in to see this".into())),
    }
}

/// Checks, on one read-only snapshot, with SQL aggregates that return only
/// the rows in violation (so memory does not grow with the books, and no
/// sum can overflow): every payment's entries sum to zero; every wallet's
/// stored balance equals the sum of its entries; per currency, all balances
/// together equal all money that crossed the books' boundary (TOP_UP
/// entries: in from admins, cards and cash; out to cards); no user wallet
/// is negative; and each payment's status agrees with its entries (captured
/// ones debited their amount once, refunds equal `refunded`, others have no
/// entries). Each violation is logged as `ledger_invariant_violated`; at
/// most [`MAX_LISTED`] are listed per check.
pub async fn verify(db: &DatabaseConnection) -> Result<LedgerHealth, AppError> {
    // One snapshot for every read, so a movement committing in between
    // cannot look like a violation.
    let snapshot = crate::db::begin_snapshot(db).await?;
    let db = &snapshot;
    let backend = db.get_database_backend();
    let sql = |s: String| Statement::from_string(backend, s);

    let (net_hi, net_lo) = split_sum("e.amount_minor");
    let debit = "CASE WHEN e.entry_type = 'PAYMENT_DEBIT' THEN -e.amount_minor ELSE 0 END";
    let (debit_hi, debit_lo) = split_sum(debit);
    let refund = "CASE WHEN e.entry_type = 'REFUND' AND e.amount_minor > 0 THEN e.amount_minor ELSE 0 END";
    let (refund_hi, refund_lo) = split_sum(refund);
    let payments = PaymentRow::find_by_statement(sql(format!(
        "SELECT * FROM (SELECT p.id, p.status, p.currency, p.refunded_minor, \
           CASE WHEN p.status IN ('CAPTURED', 'PARTIALLY_REFUNDED', 'REFUNDED') THEN p.amount_minor ELSE 0 END \
             AS expected_debit, \
           {net_hi} AS net_hi, {net_lo} AS net_lo, {debit_hi} AS debit_hi, {debit_lo} AS debit_lo, \
           {refund_hi} AS refund_hi, {refund_lo} AS refund_lo \
         FROM payments p LEFT JOIN ledger_entries e ON e.payment_id = p.id \
         GROUP BY p.id, p.status, p.currency, p.amount_minor, p.refunded_minor) t \
         WHERE NOT {} OR NOT {} OR NOT {} \
         ORDER BY id LIMIT {MAX_LISTED}",
        is_zero("net_hi", "net_lo"),
        is_zero(&format!("debit_hi - expected_debit / {B}"), &format!("debit_lo - expected_debit % {B}")),
        is_zero(&format!("refund_hi - refunded_minor / {B}"), &format!("refund_lo - refunded_minor % {B}")),
    )))
    .all(db)
    .await?;

    let (entries_hi, entries_lo) = split_sum("e.amount_minor");
    let wallets = WalletRow::find_by_statement(sql(format!(
        "SELECT * FROM (SELECT w.id, w.kind, w.currency, w.balance_minor, \
           {entries_hi} AS entries_hi, {entries_lo} AS entries_lo \
         FROM wallets w LEFT JOIN ledger_entries e ON e.wallet_id = w.id \
         GROUP BY w.id, w.kind, w.currency, w.balance_minor) t \
         WHERE NOT {} OR (kind = 'USER' AND balance_minor < 0) \
         ORDER BY id LIMIT {MAX_LISTED}",
        is_zero(&format!("entries_hi - balance_minor / {B}"), &format!("entries_lo - balance_minor % {B}")),
    )))
    .all(db)
    .await?;

    let (held_hi, held_lo) = split_sum("balance_minor");
    let held = CurrencyTotal::find_by_statement(sql(format!(
        "SELECT currency, {held_hi} AS hi, {held_lo} AS lo FROM wallets GROUP BY currency"
    )))
    .all(db)
    .await?;
    let (in_hi, in_lo) = split_sum("amount_minor");
    let brought_in = CurrencyTotal::find_by_statement(sql(format!(
        "SELECT currency, {in_hi} AS hi, {in_lo} AS lo FROM ledger_entries WHERE entry_type = 'TOP_UP' GROUP BY currency"
    )))
    .all(db)
    .await?;
    let count = |table: &str| sql(format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {table}"));
    let mut counts = Vec::with_capacity(3);
    for table in ["wallets", "payments", "ledger_entries"] {
        counts.push(Count::find_by_statement(count(table)).one(db).await?.map_or(0, |c| c.n as u64));
    }
    snapshot.commit().await?;

    let mut violations = Vec::new();
    for p in &payments {
        let net = exact(p.net_hi, p.net_lo);
        if net != 0 {
            violations.push(Violation {
                invariant: Invariant::PaymentUnbalanced,
                subject: p.id.to_string(),
                currency: p.currency.clone(),
                expected_minor: 0,
                actual_minor: net,
                detail: format!("the entries of payment {} sum to {net} instead of 0", p.id),
            });
        }
        let debited = exact(p.debit_hi, p.debit_lo);
        if debited != i128::from(p.expected_debit) {
            violations.push(Violation {
                invariant: Invariant::PaymentLedgerMismatch,
                subject: p.id.to_string(),
                currency: p.currency.clone(),
                expected_minor: i128::from(p.expected_debit),
                actual_minor: debited,
                detail: format!("payment {} is {} but its buyer was debited {debited}", p.id, p.status),
            });
        }
        let refunded = exact(p.refund_hi, p.refund_lo);
        if refunded != i128::from(p.refunded_minor) {
            violations.push(Violation {
                invariant: Invariant::PaymentLedgerMismatch,
                subject: p.id.to_string(),
                currency: p.currency.clone(),
                expected_minor: i128::from(p.refunded_minor),
                actual_minor: refunded,
                detail: format!(
                    "payment {} records {} refunded but its refund entries credit {refunded}",
                    p.id, p.refunded_minor
                ),
            });
        }
    }
    for w in &wallets {
        let entries = exact(w.entries_hi, w.entries_lo);
        if entries != i128::from(w.balance_minor) {
            violations.push(Violation {
                invariant: Invariant::WalletBalanceDrift,
                subject: w.id.to_string(),
                currency: w.currency.clone(),
                expected_minor: entries,
                actual_minor: i128::from(w.balance_minor),
                detail: format!("wallet {} stores {} but its entries sum to {entries}", w.id, w.balance_minor),
            });
        }
        if w.kind == WalletKind::User.to_value() && w.balance_minor < 0 {
            violations.push(Violation {
                invariant: Invariant::NegativeBalance,
                subject: w.id.to_string(),
                currency: w.currency.clone(),
                expected_minor: 0,
                actual_minor: i128::from(w.balance_minor),
                detail: format!("user wallet {} is negative", w.id),
            });
        }
    }
    let total = |rows: &[CurrencyTotal], currency: &str| {
        rows.iter().filter(|r| r.currency == currency).map(|r| exact(r.hi, r.lo)).sum::<i128>()
    };
    let mut currencies: Vec<&str> = held.iter().chain(&brought_in).map(|c| c.currency.as_str()).collect();
    currencies.sort_unstable();
    currencies.dedup();
    for currency in currencies {
        let (held, brought_in) = (total(&held, currency), total(&brought_in, currency));
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
    if payments.len() as u64 == MAX_LISTED || wallets.len() as u64 == MAX_LISTED {
        tracing::error!(event = "ledger_violations_truncated", listed = MAX_LISTED, "more violations than listed");
    }
    for v in &violations {
        tracing::error!(
            event = "ledger_invariant_violated",
            invariant = v.invariant.as_str(),
            subject = %v.subject,
            expected_minor = %v.expected_minor,
            actual_minor = %v.actual_minor,
            detail = %v.detail,
            "ledger invariant violated"
        );
    }
    Ok(LedgerHealth {
        healthy: violations.is_empty(),
        checked_at: Utc::now(),
        wallets_checked: counts[0],
        payments_checked: counts[1],
        entries_checked: counts[2],
        violations,
    })
}
