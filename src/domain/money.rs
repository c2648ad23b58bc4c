//! Exact money. Amounts are stored as integer minor units (BIGINT) because
//! SeaORM's SQLite backend would store a DECIMAL column as REAL; arithmetic
//! and the API use `rust_decimal::Decimal`, and conversion happens only here.

use std::sync::Arc;
use std::time::Duration;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::domain::payments::PaymentProcessor;
use crate::error::AppError;

/// How money mutations behave, from the configuration.
#[derive(Debug, Clone)]
pub struct MoneyPolicy {
    /// Platform fee on captures (0.10 = 10%).
    pub fee_rate: Decimal,
    /// How long an idempotency key is remembered.
    pub key_ttl: chrono::Duration,
    /// The largest amounts accepted.
    pub limits: MoneyLimits,
    /// The card processor; `None` when CARD payments are unavailable.
    pub processor: Option<Arc<dyn PaymentProcessor>>,
    /// Longest a processor call may take.
    pub processor_timeout: Duration,
    /// The share of the pool money transactions may hold.
    pub gate: MoneyGate,
}

/// Amount limits, in major units of whichever currency they apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoneyLimits {
    /// Largest order total.
    pub order_total: Decimal,
    /// Largest single top-up.
    pub top_up: Decimal,
    /// Largest balance of a user wallet.
    pub wallet_balance: Decimal,
}

impl MoneyLimits {
    /// `limit` in minor units of `currency` (truncated to the minor unit).
    pub fn minor(limit: Decimal, currency: &str) -> i64 {
        let exponent = Currency::parse(currency).map_or(2, |c| c.exponent);
        i64::try_from((limit * Decimal::from(10_i64.pow(exponent))).trunc()).unwrap_or(MAX_MINOR).min(MAX_MINOR)
    }
}

/// At most N money transactions hold a pooled connection at once; the rest
/// wait here (not in the pool), so reads keep their connections while money
/// queues on a hot wallet.
#[derive(Debug, Clone)]
pub struct MoneyGate {
    permits: Arc<tokio::sync::Semaphore>,
    wait: Duration,
}

impl MoneyGate {
    /// A gate of `connections` permits; a movement waits at most `wait` for one.
    pub fn new(connections: usize, wait: Duration) -> Self {
        Self { permits: Arc::new(tokio::sync::Semaphore::new(connections.max(1))), wait }
    }

    /// Waits for a permit; SERVICE_UNAVAILABLE when none frees up in time.
    pub async fn enter(&self) -> Result<tokio::sync::OwnedSemaphorePermit, AppError> {
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(AppError::Unavailable("Too many payments are being processed at once, retry shortly".into())),
        }
    }
}

/// Currencies Courier accepts, with their number of minor-unit digits (ISO 4217).
const CURRENCIES: &[(&str, u32)] = &[("USD", 2), ("EUR", 2), ("GBP", 2), ("CHF", 2), ("JPY", 0), ("KWD", 3)];

/// Largest amount accepted anywhere, in minor units (10^15: ten trillion
/// dollars). Sums of many such amounts still fit in an `i64`, on both
/// backends (SQLite would silently turn an overflowing sum into a REAL).
pub const MAX_MINOR: i64 = 1_000_000_000_000_000;

/// Largest configurable amount limit, in major units (10^12: with three
/// minor digits it is still [`MAX_MINOR`]).
pub const MAX_MAJOR: i64 = 1_000_000_000_000;

/// A supported currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    /// ISO 4217 code.
    pub code: &'static str,
    /// Digits after the decimal point in the minor unit.
    pub exponent: u32,
}

impl Currency {
    /// Looks up a currency by code (case-insensitive).
    pub fn parse(code: &str) -> Result<Self, AppError> {
        let upper = code.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == upper)
            .map(|&(code, exponent)| Self { code, exponent })
            .ok_or_else(|| AppError::validation("currency", format!("Unsupported currency `{code}`")))
    }

    /// Converts a decimal amount to minor units, refusing sub-minor precision
    /// (1.005 USD is an error, not a rounding) and amounts that do not fit.
    pub fn to_minor(self, amount: Decimal, field: &str) -> Result<i64, AppError> {
        let out_of_range = || AppError::validation(field, "Amount is out of range");
        // Decimal's 96-bit mantissa overflows on multiplication past ~7.9e28.
        let scaled = amount.checked_mul(Decimal::from(10_i64.pow(self.exponent))).ok_or_else(out_of_range)?;
        if scaled.fract() != Decimal::ZERO {
            return Err(AppError::validation(
                field,
                format!("{} allows at most {} decimal places", self.code, self.exponent),
            ));
        }
        i64::try_from(scaled.trunc()).ok().filter(|minor| minor.abs() <= MAX_MINOR).ok_or_else(out_of_range)
    }

    /// Converts minor units to a decimal with exactly `exponent` places.
    pub fn to_decimal(self, minor: i64) -> Decimal {
        Decimal::new(minor, self.exponent)
    }
}

/// Converts stored minor units of a stored currency code to a decimal. A code
/// that is not in the table (it cannot get there through the API) falls back
/// to two places rather than failing a read.
pub fn minor_to_decimal(minor: i64, currency: &str) -> Decimal {
    Currency::parse(currency).map_or_else(|_| Decimal::new(minor, 2), |c| c.to_decimal(minor))
}

/// Like [`minor_to_decimal`], for sums wider than 64 bits (ledger checks).
pub fn wide_minor_to_decimal(minor: i128, currency: &str) -> Decimal {
    let exponent = Currency::parse(currency).map_or(2, |c| c.exponent);
    Decimal::try_from_i128_with_scale(minor, exponent).unwrap_or(if minor < 0 { Decimal::MIN } else { Decimal::MAX })
}

/// Minor units of a stored currency as the decimal text clients see, e.g.
/// `1234, "USD"` -> `"12.34"` (for error contexts and log fields).
pub fn minor_text(minor: i64, currency: &str) -> String {
    minor_to_decimal(minor, currency).to_string()
}

/// The platform fee on `amount_minor` at `rate` (0.10 = 10%), rounded half-even
/// to the minor unit, so no fraction of a cent is ever created or lost.
pub fn platform_fee(amount_minor: i64, rate: Decimal) -> i64 {
    let fee = (Decimal::from(amount_minor) * rate).round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven);
    i64::try_from(fee).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn conversion_is_exact_in_both_directions() {
        let usd = Currency::parse("usd").expect("usd");
        assert_eq!(usd.to_minor(dec!(12.34), "a").expect("fits"), 1234);
        assert_eq!(usd.to_decimal(1234).to_string(), "12.34");
        assert_eq!(usd.to_decimal(5).to_string(), "0.05");
        let jpy = Currency::parse("JPY").expect("jpy");
        assert_eq!(jpy.to_minor(dec!(500), "a").expect("fits"), 500);
        assert_eq!(jpy.to_decimal(500).to_string(), "500");
        let kwd = Currency::parse("KWD").expect("kwd");
        assert_eq!(kwd.to_minor(dec!(1.234), "a").expect("fits"), 1234);
    }

    #[test]
    fn sub_minor_precision_and_unknown_currencies_are_refused() {
        let usd = Currency::parse("USD").expect("usd");
        assert!(usd.to_minor(dec!(1.005), "a").is_err());
        assert!(usd.to_minor(dec!(99999999999999999999), "a").is_err());
        assert!(usd.to_minor(dec!(10000000000000.00), "a").is_ok());
        assert!(usd.to_minor(dec!(10000000000000.01), "a").is_err());
        assert!(Currency::parse("XXX").is_err());
    }

    #[test]
    fn fees_round_half_to_even() {
        // 10% of 1.25 is 0.125 -> 0.12 (2 is even); of 1.35 is 0.135 -> 0.14.
        assert_eq!(platform_fee(125, dec!(0.10)), 12);
        assert_eq!(platform_fee(135, dec!(0.10)), 14);
        assert_eq!(platform_fee(10_000, dec!(0.10)), 1_000);
        assert_eq!(platform_fee(0, dec!(0.10)), 0);
    }
}
