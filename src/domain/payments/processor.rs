//! The card processor boundary: card money enters the books only when a
//! processor says the card was charged.
//!
//! [`PaymentProcessor`] is the shape a real provider's adapter fills. For a
//! Stripe-like provider:
//! - [`charge`](PaymentProcessor::charge) creates and confirms a payment
//!   intent for the amount with the client's card token (a token from the
//!   provider's client SDK; Courier never sees card numbers), using the
//!   payment id as the provider's idempotency key, so a retried charge never
//!   charges twice. `succeeded` is [`ChargeOutcome::Approved`], a card error
//!   [`ChargeOutcome::Declined`], `processing`/`requires_action`
//!   [`ChargeOutcome::Pending`] (the answer comes later as a signed event).
//!   A provider that separates authorization and capture does both here.
//! - [`refund`](PaymentProcessor::refund) creates a refund of part of the
//!   charge, with the given idempotency key.
//! - [`verify_event`](PaymentProcessor::verify_event) checks the provider's
//!   signature header over the raw body of a callback and parses the event.
//!
//! [`Simulated`] is the built-in processor for development and tests; it is
//! refused in production.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::signing;

/// What a payment's `processor_status` says.
pub mod processor_status {
    /// The processor will answer later.
    pub const PENDING: &str = "PENDING";
    /// The card was charged.
    pub const APPROVED: &str = "APPROVED";
    /// The card was refused (after a pending answer).
    pub const DECLINED: &str = "DECLINED";
    /// The charge was returned to the card (approved after the payment was voided).
    pub const REFUNDED: &str = "REFUNDED";
}

/// A card charge Courier asks for.
#[derive(Debug, Clone)]
pub struct ChargeRequest<'a> {
    /// The payment: the processor's idempotency key for this charge.
    pub payment_id: Uuid,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: &'a str,
    /// The card token from the processor's client SDK.
    pub card_token: &'a str,
}

/// What the processor said about a charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChargeOutcome {
    /// The card was charged; `reference` is the processor's charge id.
    Approved {
        /// The processor's charge id.
        reference: String,
    },
    /// The card was refused; nothing was charged.
    Declined {
        /// The processor's reason, e.g. `card_declined`.
        reason: String,
    },
    /// The answer comes later, as a signed callback about `reference`.
    Pending {
        /// The processor's charge id.
        reference: String,
    },
}

/// A refund of (part of) a charge.
#[derive(Debug, Clone)]
pub struct RefundRequest<'a> {
    /// The processor's charge id.
    pub reference: &'a str,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: &'a str,
    /// The same key for a retried refund, another for each new one.
    pub idempotency_key: &'a str,
}

/// A signed callback from the processor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ProcessorEvent {
    /// A pending charge was approved.
    #[serde(rename = "charge.succeeded")]
    ChargeSucceeded {
        /// The processor's charge id.
        reference: String,
    },
    /// A pending charge was refused.
    #[serde(rename = "charge.failed")]
    ChargeFailed {
        /// The processor's charge id.
        reference: String,
        /// The processor's reason.
        reason: String,
    },
}

/// Why a processor call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessorError {
    /// No answer in time, or the processor is down: whether anything
    /// happened is unknown, and the same request may be sent again.
    #[error("the card processor did not answer: {0}")]
    Unavailable(String),
    /// The processor refused the request itself (not the card).
    #[error("the card processor refused the request: {0}")]
    Refused(String),
    /// A callback whose signature is not acceptable.
    #[error("{0}")]
    BadEvent(String),
    /// A correctly signed callback whose body cannot be read.
    #[error("{0}")]
    UnreadableEvent(String),
}

/// A card processor (see the module documentation).
#[async_trait::async_trait]
pub trait PaymentProcessor: Send + Sync + std::fmt::Debug {
    /// A short name for logs, e.g. `simulated`.
    fn name(&self) -> &'static str;
    /// Whether this processor moves no real money (refused in production).
    fn is_simulated(&self) -> bool;
    /// Charges a card, at most once per payment id.
    async fn charge(&self, request: &ChargeRequest<'_>) -> Result<ChargeOutcome, ProcessorError>;
    /// Refunds part of a charge, at most once per idempotency key; returns
    /// the processor's refund id.
    async fn refund(&self, request: &RefundRequest<'_>) -> Result<String, ProcessorError>;
    /// Verifies a callback's signature header over its raw body and parses it.
    fn verify_event(
        &self,
        signature: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<ProcessorEvent, ProcessorError>;
}

/// Test cards of the [`Simulated`] processor, by token.
pub mod test_cards {
    /// Approved at once.
    pub const APPROVE: &str = "4242424242424242";
    /// Declined: `card_declined`.
    pub const DECLINE: &str = "4000000000000002";
    /// Declined: `insufficient_funds`.
    pub const DECLINE_INSUFFICIENT_FUNDS: &str = "4000000000009995";
    /// The processor does not answer in time.
    pub const TIMEOUT: &str = "4000000000000119";
    /// Pending; the answer comes later as a signed callback.
    pub const APPROVE_LATER: &str = "4000000000003063";
}

/// The built-in processor for development and tests. Outcomes follow the
/// card token (see [`test_cards`]; any other token is declined with
/// `unknown_test_card`). Charges are remembered by payment id and refunds by
/// key, as a real processor's idempotency would. It never calls back by
/// itself: a pending charge is settled by a signed event sent to
/// `POST /payments/processor/events` (tests and the README show how).
#[derive(Debug)]
pub struct Simulated {
    secret: Vec<u8>,
    /// How long the `TIMEOUT` card keeps the caller waiting.
    hang: Duration,
    charges: Mutex<HashMap<Uuid, (ChargeOutcome, i64)>>,
    /// Charges answered "later", by reference (a late approval may be refunded).
    pending: Mutex<HashMap<String, i64>>,
    refunds: Mutex<HashMap<String, (String, i64)>>,
}

impl Simulated {
    /// A simulated processor signing its callbacks with `secret`; the
    /// timeout card answers after `hang`.
    pub fn new(secret: &[u8], hang: Duration) -> Self {
        Self {
            secret: secret.to_vec(),
            hang,
            charges: Mutex::default(),
            pending: Mutex::default(),
            refunds: Mutex::default(),
        }
    }
}

#[async_trait::async_trait]
impl PaymentProcessor for Simulated {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn is_simulated(&self) -> bool {
        true
    }

    async fn charge(&self, request: &ChargeRequest<'_>) -> Result<ChargeOutcome, ProcessorError> {
        if request.card_token == test_cards::TIMEOUT {
            tokio::time::sleep(self.hang).await;
            return Err(ProcessorError::Unavailable("simulated timeout".into()));
        }
        let mut charges = self.charges.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((outcome, _)) = charges.get(&request.payment_id) {
            return Ok(outcome.clone());
        }
        let reference = format!("sim_ch_{}", request.payment_id.simple());
        let declined = |reason: &str| ChargeOutcome::Declined { reason: reason.to_owned() };
        let outcome = match request.card_token {
            test_cards::APPROVE => ChargeOutcome::Approved { reference },
            test_cards::APPROVE_LATER => ChargeOutcome::Pending { reference },
            test_cards::DECLINE => declined("card_declined"),
            test_cards::DECLINE_INSUFFICIENT_FUNDS => declined("insufficient_funds"),
            _ => declined("unknown_test_card"),
        };
        // Only a charge sticks: a declined card may be retried with another,
        // and so may a pending one the processor later refused (Courier asks
        // again only then). A pending charge is remembered for refunds.
        match &outcome {
            ChargeOutcome::Approved { .. } => {
                charges.insert(request.payment_id, (outcome.clone(), request.amount_minor));
            }
            ChargeOutcome::Pending { reference } => {
                let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                pending.insert(reference.clone(), request.amount_minor);
            }
            ChargeOutcome::Declined { .. } => {}
        }
        Ok(outcome)
    }

    async fn refund(&self, request: &RefundRequest<'_>) -> Result<String, ProcessorError> {
        let charged = {
            let charges = self.charges.lock().unwrap_or_else(|e| e.into_inner());
            let approved = charges.values().find_map(|(outcome, amount)| match outcome {
                ChargeOutcome::Approved { reference } if reference == request.reference => Some(*amount),
                _ => None,
            });
            approved.or_else(|| self.pending.lock().unwrap_or_else(|e| e.into_inner()).get(request.reference).copied())
        };
        let Some(charged) = charged else {
            return Err(ProcessorError::Refused(format!("no charge {}", request.reference)));
        };
        let mut refunds = self.refunds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((reference, amount)) = refunds.get(request.idempotency_key) {
            return if *reference == request.reference && *amount == request.amount_minor {
                Ok(format!("sim_re_{}", request.idempotency_key))
            } else {
                Err(ProcessorError::Refused("idempotency key reused with other parameters".into()))
            };
        }
        let refunded: i64 = refunds.values().filter(|(r, _)| r == request.reference).map(|(_, a)| a).sum();
        if request.amount_minor <= 0 || refunded + request.amount_minor > charged {
            return Err(ProcessorError::Refused("refund exceeds the charge".into()));
        }
        refunds.insert(request.idempotency_key.to_owned(), (request.reference.to_owned(), request.amount_minor));
        Ok(format!("sim_re_{}", request.idempotency_key))
    }

    fn verify_event(
        &self,
        signature: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<ProcessorEvent, ProcessorError> {
        signing::verify(&self.secret, signature, body, now)
            .map_err(|e| ProcessorError::BadEvent(e.message().to_owned()))?;
        serde_json::from_slice(body).map_err(|e| ProcessorError::UnreadableEvent(format!("unreadable event: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(card: &str, payment_id: Uuid) -> ChargeRequest<'_> {
        ChargeRequest { payment_id, amount_minor: 1_000, currency: "USD", card_token: card }
    }

    #[tokio::test]
    async fn test_cards_choose_the_outcome_and_charges_are_idempotent() {
        let p = Simulated::new(b"s", Duration::from_millis(1));
        let id = Uuid::now_v7();
        let approved = p.charge(&charge(test_cards::APPROVE, id)).await.expect("answer");
        assert!(matches!(approved, ChargeOutcome::Approved { .. }));
        // The same payment again, even with another card: the first outcome.
        assert_eq!(p.charge(&charge(test_cards::DECLINE, id)).await.expect("answer"), approved);
        let declined = p.charge(&charge(test_cards::DECLINE, Uuid::now_v7())).await.expect("answer");
        assert_eq!(declined, ChargeOutcome::Declined { reason: "card_declined".into() });
        let later = p.charge(&charge(test_cards::APPROVE_LATER, Uuid::now_v7())).await.expect("answer");
        assert!(matches!(later, ChargeOutcome::Pending { .. }));
        assert!(matches!(
            p.charge(&charge(test_cards::TIMEOUT, Uuid::now_v7())).await,
            Err(ProcessorError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn refunds_are_bounded_by_the_charge_and_idempotent_by_key() {
        let p = Simulated::new(b"s", Duration::from_millis(1));
        let ChargeOutcome::Approved { reference } =
            p.charge(&charge(test_cards::APPROVE, Uuid::now_v7())).await.expect("answer")
        else {
            panic!("approved")
        };
        let refund = |key: &'static str, amount| RefundRequest {
            reference: &reference,
            amount_minor: amount,
            currency: "USD",
            idempotency_key: key,
        };
        let first = p.refund(&refund("a", 600)).await.expect("refunded");
        assert_eq!(p.refund(&refund("a", 600)).await.expect("same refund"), first);
        assert!(p.refund(&refund("a", 500)).await.is_err(), "key reused with another amount");
        assert!(p.refund(&refund("b", 500)).await.is_err(), "more than what is left");
        p.refund(&refund("c", 400)).await.expect("the rest");
    }

    #[test]
    fn events_need_a_valid_signature() {
        let p = Simulated::new(b"secret", Duration::from_millis(1));
        let body = br#"{"type":"charge.succeeded","reference":"sim_ch_1"}"#;
        let now = Utc::now();
        let header = signing::sign(b"secret", body, now);
        assert_eq!(
            p.verify_event(Some(&header), body, now).expect("valid"),
            ProcessorEvent::ChargeSucceeded { reference: "sim_ch_1".into() }
        );
        let forged = signing::sign(b"guess", body, now);
        assert!(p.verify_event(Some(&forged), body, now).is_err());
        assert!(p.verify_event(None, body, now).is_err());
    }
}
