//! Payments in the API: `Payment`, its method and status enums, the
//! `payments` connection's filter and sort, and the payment fields of Query
//! and Mutation (initiate, capture, refund).

use crate::graphql::scalars::DateTime;
use crate::graphql::scalars::Decimal;
use async_graphql::{Context, Enum, ID, InputObject, Object};

use crate::domain::lookup::{EntityKind, Found};
use crate::domain::money::minor_to_decimal;
use crate::domain::payments::{self, CaptureRequest, NewPayment, RefundRequest};
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::error::{GqlResult, in_input};
use crate::graphql::node::{decode_as, decode_opt, encode, find};
use crate::graphql::orders::Order;
use crate::graphql::pagination::{Conn, PageArgs, Paging, connection_cost, list, paging, sort_input, total};
use crate::graphql::wallets::LedgerEntry;

/// How a payment is made.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::PaymentMethod")]
pub enum PaymentMethod {
    /// From the buyer's wallet.
    Wallet,
    /// By card.
    Card,
    /// Cash collected at delivery.
    CashOnDelivery,
}

/// Payment lifecycle.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "entity::PaymentStatus")]
pub enum PaymentStatus {
    /// No money moved yet.
    Initiated,
    /// Money moved.
    Captured,
    /// Capture refused.
    Failed,
    /// Fully refunded.
    Refunded,
    /// Partly refunded.
    PartiallyRefunded,
}

/// What the card processor said about a CARD payment.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ProcessorStatus {
    /// The processor will answer later; the payment is captured when it approves.
    Pending,
    /// The card was charged.
    Approved,
    /// The card was refused; capture again with another card.
    Declined,
    /// Approved after the payment was voided: the charge went back to the card.
    Refunded,
}

impl ProcessorStatus {
    fn parse(stored: Option<&str>) -> Option<Self> {
        use payments::processor::processor_status as s;
        match stored? {
            s::PENDING => Some(Self::Pending),
            s::APPROVED => Some(Self::Approved),
            s::DECLINED => Some(Self::Declined),
            s::REFUNDED => Some(Self::Refunded),
            _ => None,
        }
    }
}

/// An attempt to pay for an order.
pub struct Payment(pub entity::payment::Model);

/// An attempt to pay for an order.
#[Object]
impl Payment {
    /// Global ID.
    pub async fn id(&self) -> ID {
        encode(EntityKind::Payment, self.0.id)
    }
    /// Amount, exact, in `currency`.
    async fn amount(&self) -> Decimal {
        minor_to_decimal(self.0.amount_minor, &self.0.currency).into()
    }
    /// Refunded so far, exact, in `currency`.
    async fn refunded_amount(&self) -> Decimal {
        minor_to_decimal(self.0.refunded_minor, &self.0.currency).into()
    }
    /// ISO 4217 code.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// How it is paid.
    async fn method(&self) -> PaymentMethod {
        self.0.method.into()
    }
    /// Lifecycle state.
    async fn status(&self) -> PaymentStatus {
        self.0.status.into()
    }
    /// The order paid for (null when it was deleted).
    async fn order(&self, ctx: &Context<'_>) -> GqlResult<Option<Order>> {
        Ok(ctx.loaders().order.load_one(self.0.order_id).await?.map(Order))
    }
    /// The ledger legs of this payment that the viewer may see (admins: all;
    /// others: the legs of their own wallet).
    async fn ledger_entries(&self, ctx: &Context<'_>) -> GqlResult<Vec<LedgerEntry>> {
        let entries = ctx.loaders().payment_entries.load_one(self.0.id).await?.unwrap_or_default();
        Ok(entries.into_iter().map(LedgerEntry).collect())
    }
    /// What the card processor said (CARD payments; null when no processor was asked).
    async fn processor_status(&self) -> Option<ProcessorStatus> {
        ProcessorStatus::parse(self.0.processor_status.as_deref())
    }
    /// When money moved.
    async fn captured_at(&self) -> Option<DateTime> {
        self.0.captured_at.map(Into::into)
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
}

sort_input!(PaymentSort, PaymentSortField, payments::PaymentSort, "payments", {
    CreatedAt => payments::PaymentSort::CreatedAt,
    Status => payments::PaymentSort::Status,
});

/// Which payments to list.
#[derive(InputObject, Clone, Debug, Default)]
pub struct PaymentFilter {
    /// Any of these statuses.
    pub status: Option<Vec<PaymentStatus>>,
    /// Any of these methods.
    pub method: Option<Vec<PaymentMethod>>,
    /// Of this order.
    pub order_id: Option<ID>,
}

impl PaymentFilter {
    /// The domain filter.
    pub fn into_domain(self) -> Result<payments::PaymentFilter, AppError> {
        Ok(payments::PaymentFilter {
            status: list(&self.status),
            method: list(&self.method),
            order_id: decode_opt(self.order_id.as_ref(), EntityKind::Order, "filter.orderId")?,
        })
    }
}

/// Starting to pay for an order.
#[derive(InputObject)]
pub struct InitiatePaymentInput {
    /// The order (yours, PENDING or CONFIRMED, without a live payment).
    pub order_id: ID,
    /// How it is paid.
    pub method: PaymentMethod,
    /// 1 to 255 characters, unique per request you mean once; a repeat with
    /// the same key and input returns the first response.
    pub idempotency_key: String,
}

/// Capturing a payment.
#[derive(InputObject)]
pub struct CapturePaymentInput {
    /// The payment (INITIATED, not cash on delivery).
    pub payment_id: ID,
    /// 1 to 255 characters; a repeat with the same key returns the first response.
    pub idempotency_key: String,
    /// CARD payments: the card's token from the card processor's client SDK
    /// (never a card number). The simulated processor of development takes
    /// test cards: `4242424242424242` approves, `4000000000000002` declines,
    /// `4000000000003063` approves later by callback (see the README).
    pub card_token: Option<String>,
}

/// Refunding a payment.
#[derive(InputObject)]
pub struct RefundPaymentInput {
    /// The payment (CAPTURED or PARTIALLY_REFUNDED).
    pub payment_id: ID,
    /// How much, in the payment's currency; at most what is left unrefunded.
    pub amount: Decimal,
    /// Why (1 to 500 characters).
    pub reason: String,
    /// 1 to 255 characters; a repeat with the same key and input returns the first response.
    pub idempotency_key: String,
}

/// Payment reads.
#[derive(Default)]
pub struct PaymentsQuery;

#[Object]
impl PaymentsQuery {
    /// Payments of orders the viewer bought or sold.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "connection_cost(first, last, child_complexity)")]
    async fn payments(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which rows to list; all the viewer may see when omitted.")] filter: Option<PaymentFilter>,
        #[graphql(desc = "Sort field and direction (newest first by default).")] order_by: Option<PaymentSort>,
        #[graphql(
            desc = "Rows from the start, after `after` (at most 100; 20 when neither `first` nor `last` is given)."
        )]
        first: Option<i32>,
        #[graphql(desc = "The cursor of the row to start after.")] after: Option<String>,
        #[graphql(desc = "Rows from the end, before `before` (at most 100).")] last: Option<i32>,
        #[graphql(desc = "The cursor of the row to end before.")] before: Option<String>,
    ) -> GqlResult<Conn<Payment>> {
        let viewer = ctx.require_viewer()?;
        let filter = filter.unwrap_or_default().into_domain()?;
        let Paging { sort, direction, scope, page } =
            paging(ctx, "payments", PaymentSort::resolve(order_by), PageArgs { first, after, last, before })?;
        let rows = payments::list(ctx.db(), Some(viewer), &filter, &payments::sort_key(sort, direction), &page).await?;
        let total = total(ctx, filter, |db, v, f| async move { payments::count(&db, v.as_ref(), &f).await });
        Ok(scope.connection(rows, total, Payment))
    }
    /// One payment by global ID.
    async fn payment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The object's global ID.")] id: ID,
    ) -> GqlResult<Payment> {
        find(ctx, &id, EntityKind::Payment, |f| if let Found::Payment(m) = f { Some(Payment(m)) } else { None }).await
    }
}

/// Payment changes.
#[derive(Default)]
pub struct PaymentsMutation;

#[Object]
impl PaymentsMutation {
    /// Starts paying for an order (its buyer): one live payment per order,
    /// for the order's total. Idempotent by `idempotencyKey`.
    async fn initiate_payment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: InitiatePaymentInput,
    ) -> GqlResult<Payment> {
        let viewer = ctx.require_viewer()?;
        let new = NewPayment {
            order_id: decode_as(&input.order_id, EntityKind::Order, "input.orderId")?,
            method: input.method.into(),
            idempotency_key: &input.idempotency_key,
        };
        let created =
            payments::initiate(ctx.pool(), viewer, &ctx.audit_context(), ctx.money(), new).await.map_err(in_input)?;
        Ok(Payment(created))
    }
    /// Captures an initiated payment (its buyer or an admin) in one
    /// transaction: buyer debit, seller credit less the platform fee,
    /// platform fee credit. `INSUFFICIENT_FUNDS` carries the shortfall. A
    /// CARD payment is charged by the card processor first (`cardToken`):
    /// declined is `PAYMENT_DECLINED` with nothing written; "answer later"
    /// leaves it INITIATED with `processorStatus` PENDING until the
    /// processor's signed callback. Cash on delivery is captured by
    /// `confirmDelivery` instead. Idempotent by `idempotencyKey`; a repeat
    /// while the first runs is a retryable CONFLICT.
    async fn capture_payment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: CapturePaymentInput,
    ) -> GqlResult<Payment> {
        let viewer = ctx.require_viewer()?;
        let request = CaptureRequest {
            payment_id: decode_as(&input.payment_id, EntityKind::Payment, "input.paymentId")?,
            idempotency_key: &input.idempotency_key,
            card_token: input.card_token.as_deref(),
        };
        let captured = payments::capture(ctx.pool(), viewer, &ctx.audit_context(), ctx.money(), request)
            .await
            .map_err(in_input)?;
        Ok(Payment(captured))
    }
    /// Refunds part or all of a captured payment (admins), reversing its
    /// ledger legs proportionally; never more than captured minus earlier
    /// refunds (`REFUND_EXCEEDS_CAPTURED`). Idempotent by `idempotencyKey`.
    async fn refund_payment(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: RefundPaymentInput,
    ) -> GqlResult<Payment> {
        let viewer = ctx.require_viewer()?;
        let request = RefundRequest {
            payment_id: decode_as(&input.payment_id, EntityKind::Payment, "input.paymentId")?,
            amount: input.amount.0,
            reason: input.reason,
            idempotency_key: &input.idempotency_key,
        };
        let refunded =
            payments::refund(ctx.pool(), viewer, &ctx.audit_context(), ctx.money(), request).await.map_err(in_input)?;
        Ok(Payment(refunded))
    }
}
