//! Double-entry rules. Every money movement is a set of legs that sum to
//! zero (top-ups excepted: they bring money in from outside), and each leg's
//! idempotency key is derived from what it is for, so the unique constraint
//! on `ledger_entries.idempotency_key` makes a double write impossible.

use chrono::{DateTime, Utc};
use entity::{LedgerEntryType, ledger_entry};
use rust_decimal::Decimal;
use sea_orm::ActiveValue::Set;
use uuid::Uuid;

use crate::domain::{money, new_id};

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
#[derive(Debug, Clone, Copy)]
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

#[cfg(test)]
mod tests {
    use super::*;
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
}
