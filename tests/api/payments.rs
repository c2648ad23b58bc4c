//! Payments and the wallet ledger through the API: capture, refund, top-up,
//! cash on delivery, idempotency keys, and the invariants of the books under
//! many concurrent requests.

use std::collections::HashMap;

use chrono::Utc;
use entity::{LedgerEntryType, PaymentStatus, UserRole, idempotency_key, ledger_entry, payment, wallet};
use futures_util::StreamExt;
use futures_util::future::join_all;
use futures_util::stream;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use courier::domain::lookup::EntityKind;
use courier::graphql::node::{decode, encode};
use courier::seed::Rng;

use crate::helpers::{Backend, TestApp, logs_containing, spawn_app};
use crate::on_both_backends;

pub(crate) const CREATE_ORDER: &str = "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id total } }";
pub(crate) const INITIATE: &str =
    "mutation($input: InitiatePaymentInput!) { initiatePayment(input: $input) { id status amount currency method } }";
pub(crate) const CAPTURE: &str = "mutation($input: CapturePaymentInput!) { capturePayment(input: $input) { id status amount refundedAmount capturedAt } }";
pub(crate) const REFUND: &str =
    "mutation($input: RefundPaymentInput!) { refundPayment(input: $input) { id status amount refundedAmount } }";
pub(crate) const TOP_UP: &str =
    "mutation($input: TopUpWalletInput!) { topUpWallet(input: $input) { id balance version } }";
pub(crate) const CANCEL: &str = "mutation($input: CancelOrderInput!) { cancelOrder(input: $input) { id status } }";
pub(crate) const HEALTH: &str = "{ ledgerHealth { healthy walletsChecked paymentsChecked entriesChecked violations { invariant subject currency expected actual detail } } }";

pub(crate) fn uuid_of(id: &Value) -> Uuid {
    decode(&async_graphql::ID(id.as_str().expect("id").to_owned()), "id").expect("global id").1
}

pub(crate) async fn user_id(app: &TestApp, email: &str) -> Uuid {
    courier::domain::users::find_by_email(&app.db, email).await.expect("user").id
}

/// Places an order of one item at `price` for the buyer with `token`.
pub(crate) async fn order_at(app: &TestApp, token: &str, price: &str) -> Value {
    order_from(app, token, user_id(app, "seller@courier.test").await, price).await
}

/// Places an order of one item at `price` from `seller`.
pub(crate) async fn order_from(app: &TestApp, token: &str, seller: Uuid, price: &str) -> Value {
    let seller = encode(EntityKind::User, seller).0;
    let input = json!({
        "sellerId": seller,
        "items": [{ "name": "Thing", "quantity": 1, "unitPrice": price }],
        "deliveryZipCode": "10115",
        "currency": "USD"
    });
    app.graphql(CREATE_ORDER, json!({ "input": input }), Some(token)).await.data()["createOrder"]["id"].clone()
}

pub(crate) async fn initiate(app: &TestApp, token: &str, order: &Value, method: &str, key: &str) -> Value {
    let input = json!({ "orderId": order, "method": method, "idempotencyKey": key });
    app.graphql(INITIATE, json!({ "input": input }), Some(token)).await.data()["initiatePayment"].clone()
}

pub(crate) async fn capture(app: &TestApp, token: &str, payment: &Value, key: &str) -> crate::helpers::GqlResponse {
    app.graphql(CAPTURE, json!({ "input": { "paymentId": payment, "idempotencyKey": key } }), Some(token)).await
}

pub(crate) async fn wallet_of(app: &TestApp, email: &str) -> wallet::Model {
    let owner = user_id(app, email).await;
    wallet::Entity::find().filter(wallet::Column::UserId.eq(owner)).one(&app.db).await.expect("query").expect("wallet")
}

pub(crate) async fn entries_of(app: &TestApp, payment: &Value) -> Vec<ledger_entry::Model> {
    let mut entries = ledger_entry::Entity::find()
        .filter(ledger_entry::Column::PaymentId.eq(uuid_of(payment)))
        .all(&app.db)
        .await
        .expect("entries");
    entries.sort_by_key(|e| e.idempotency_key.clone());
    entries
}

pub(crate) async fn payment_row(app: &TestApp, payment: &Value) -> payment::Model {
    payment::Entity::find_by_id(uuid_of(payment)).one(&app.db).await.expect("query").expect("payment")
}

/// `Query.ledgerHealth`, asserted healthy.
pub(crate) async fn assert_books_balance(app: &TestApp) -> Value {
    let admin = app.token_for("admin@courier.test").await;
    let health = app.graphql(HEALTH, Value::Null, Some(&admin)).await.data()["ledgerHealth"].clone();
    assert_eq!(health["healthy"], true, "{health}");
    assert_eq!(health["violations"], json!([]));
    health
}

async fn a_wallet_payment_moves_money_exactly_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let before = wallet_of(&app, "buyer@courier.test").await.balance_minor;
    let seller_before = wallet_of(&app, "seller@courier.test").await.balance_minor;

    let order = order_at(&app, &buyer, "39.07").await;
    let payment = initiate(&app, &buyer, &order, "WALLET", "init-1").await;
    assert_eq!(payment["status"], "INITIATED");
    assert_eq!(payment["amount"], "39.07");
    // A repeated initiation with the same key is the same payment.
    assert_eq!(initiate(&app, &buyer, &order, "WALLET", "init-1").await, payment);

    let res = capture(&app, &buyer, &payment["id"], "capture-1").await;
    let captured = res.data()["capturePayment"].clone();
    assert_eq!(captured["status"], "CAPTURED");
    assert!(captured["capturedAt"].is_string());
    // Fee: 10% of 39.07 = 3.907 -> 3.91 (half-even); the seller gets 35.16.
    let amounts: Vec<(LedgerEntryType, i64)> =
        entries_of(&app, &payment["id"]).await.iter().map(|e| (e.entry_type, e.amount_minor)).collect();
    assert_eq!(
        amounts,
        vec![
            (LedgerEntryType::PaymentDebit, -3907),
            (LedgerEntryType::PlatformFee, 391),
            (LedgerEntryType::PaymentCredit, 3516)
        ]
    );
    assert_eq!(wallet_of(&app, "buyer@courier.test").await.balance_minor, before - 3907);
    assert_eq!(wallet_of(&app, "seller@courier.test").await.balance_minor, seller_before + 3516);

    // The same key again: the stored answer, nothing moves.
    let again = capture(&app, &buyer, &payment["id"], "capture-1").await;
    assert_eq!(again.data()["capturePayment"], captured);
    // Another key: the payment is already captured, nothing moves.
    let other = capture(&app, &buyer, &payment["id"], "capture-2").await;
    assert_eq!(other.code(), "BUSINESS_RULE_VIOLATION");
    assert_eq!(other.error()["extensions"]["rule"], "PAYMENT_ALREADY_CAPTURED");
    assert_eq!(entries_of(&app, &payment["id"]).await.len(), 3);
    assert_eq!(wallet_of(&app, "buyer@courier.test").await.balance_minor, before - 3907);

    // Events, and the books.
    let id = uuid_of(&payment["id"]).to_string();
    let events: Vec<String> =
        logs_containing(&id).iter().filter_map(|l| l["fields"]["event"].as_str().map(str::to_owned)).collect();
    for event in ["payment_initiated", "payment_capture_started", "payment_capture_completed"] {
        assert_eq!(
            events.iter().filter(|e| *e == event).count(),
            if event == "payment_capture_started" { 2 } else { 1 },
            "{event} in {events:?}"
        );
    }
    let completed = logs_containing(&id)
        .into_iter()
        .find(|l| l["fields"]["event"] == "payment_capture_completed")
        .expect("completed event");
    assert!(completed["fields"]["duration_ms"].as_f64().is_some(), "{completed}");
    assert_books_balance(&app).await;
}

async fn insufficient_funds_reports_the_shortfall_and_moves_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let admin = app.token_for("admin@courier.test").await;
    let wallet = wallet_of(&app, "buyer@courier.test").await;
    let balance = wallet.balance_minor;

    let order = order_at(&app, &buyer, "1500.00").await;
    let payment = initiate(&app, &buyer, &order, "WALLET", "big-init").await;
    let res = capture(&app, &buyer, &payment["id"], "big-capture").await;
    assert_eq!(res.code(), "BUSINESS_RULE_VIOLATION");
    let ext = &res.error()["extensions"];
    assert_eq!(ext["rule"], "INSUFFICIENT_FUNDS");
    let shortfall = 150_000 - balance;
    let expected = rust_decimal::Decimal::new(shortfall, 2).to_string();
    assert_eq!(ext["context"]["shortfall"], expected.as_str(), "{ext}");
    assert_eq!(ext["context"]["currency"], "USD");
    assert!(ext["requestId"].is_string());
    assert!(entries_of(&app, &payment["id"]).await.is_empty());
    assert_eq!(payment_row(&app, &payment["id"]).await.status, PaymentStatus::Initiated);
    assert_eq!(wallet_of(&app, "buyer@courier.test").await.balance_minor, balance);
    let failed = logs_containing(&uuid_of(&payment["id"]).to_string())
        .into_iter()
        .find(|l| l["fields"]["event"] == "payment_capture_failed")
        .expect("failure event");
    assert!(failed["fields"]["error"].as_str().expect("error").contains("does not hold enough"));

    // The same key repeats the stored refusal even once money is there.
    let top_up =
        json!({ "walletId": encode(EntityKind::Wallet, wallet.id).0, "amount": expected, "idempotencyKey": "fund-1" });
    let funded = app.graphql(TOP_UP, json!({ "input": top_up }), Some(&admin)).await;
    assert_eq!(funded.data()["topUpWallet"]["balance"], "1500.00");
    let repeat = capture(&app, &buyer, &payment["id"], "big-capture").await;
    assert_eq!(repeat.error()["extensions"]["rule"], "INSUFFICIENT_FUNDS");
    assert_eq!(repeat.error()["extensions"]["context"], ext["context"]);
    // A new key captures, leaving exactly zero.
    let ok = capture(&app, &buyer, &payment["id"], "big-capture-2").await;
    assert_eq!(ok.data()["capturePayment"]["status"], "CAPTURED");
    assert_eq!(wallet_of(&app, "buyer@courier.test").await.balance_minor, 0);
    assert_books_balance(&app).await;
}

async fn idempotency_keys_are_validated_and_bound_to_their_input(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let buyer2 = app.token_for("buyer2@courier.test").await;
    let first = order_at(&app, &buyer, "5.00").await;
    let second = order_at(&app, &buyer, "6.00").await;
    initiate(&app, &buyer, &first, "WALLET", "k").await;

    let reuse = json!({ "orderId": second, "method": "WALLET", "idempotencyKey": "k" });
    let res = app.graphql(INITIATE, json!({ "input": reuse }), Some(&buyer)).await;
    assert_eq!(res.error()["extensions"]["rule"], "IDEMPOTENCY_KEY_REUSED", "{}", res.body);
    assert!(
        payment::Entity::find()
            .filter(payment::Column::OrderId.eq(uuid_of(&second)))
            .all(&app.db)
            .await
            .expect("q")
            .is_empty()
    );

    for key in [String::new(), "x".repeat(256)] {
        let input = json!({ "orderId": second, "method": "WALLET", "idempotencyKey": key });
        let res = app.graphql(INITIATE, json!({ "input": input }), Some(&buyer)).await;
        assert_eq!(res.code(), "BAD_USER_INPUT");
        assert_eq!(res.error()["extensions"]["field"], "input.idempotencyKey");
    }
    // Keys belong to their sender: another buyer's "k" is a different key.
    let theirs = order_at(&app, &buyer2, "7.00").await;
    assert_eq!(initiate(&app, &buyer2, &theirs, "CARD", "k").await["method"], "CARD");

    // One live payment per order, whatever the key.
    let dup = json!({ "orderId": first, "method": "CARD", "idempotencyKey": "k2" });
    let res = app.graphql(INITIATE, json!({ "input": dup }), Some(&buyer)).await;
    assert_eq!(res.error()["extensions"]["rule"], "PAYMENT_ALREADY_EXISTS");
    // Only the buyer pays.
    let res = app
        .graphql(
            INITIATE,
            json!({ "input": { "orderId": theirs, "method": "WALLET", "idempotencyKey": "z" } }),
            Some(&buyer),
        )
        .await;
    assert_eq!(res.code(), "NOT_FOUND");
}

async fn keys_in_flight_conflict_and_expired_or_abandoned_ones_are_taken_over(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let actor = user_id(&app, "buyer@courier.test").await;
    let order = order_at(&app, &buyer, "3.00").await;
    let payment = initiate(&app, &buyer, &order, "WALLET", "init").await;
    let hash = courier::domain::idempotency::fingerprint(
        "capturePayment",
        &[("paymentId", uuid_of(&payment["id"]).to_string())],
    );
    let plant = |key: &str, age_minutes: i64| idempotency_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        actor_id: Set(actor),
        key: Set(key.to_owned()),
        operation: Set("capturePayment".to_owned()),
        request_hash: Set(hash.clone()),
        response: Set(None),
        created_at: Set(Utc::now() - chrono::Duration::minutes(age_minutes)),
        completed_at: Set(None),
    };
    // A first request still running (claimed a moment ago, no response).
    plant("running", 0).insert(&app.db).await.expect("plant");
    let res = capture(&app, &buyer, &payment["id"], "running").await;
    assert_eq!(res.code(), "CONFLICT");
    assert_eq!(res.error()["extensions"]["context"]["retryable"], true);
    assert!(entries_of(&app, &payment["id"]).await.is_empty());
    // One that died 10 minutes ago, and one that expired a day ago: taken over.
    plant("abandoned", 10).insert(&app.db).await.expect("plant");
    let res = capture(&app, &buyer, &payment["id"], "abandoned").await;
    assert_eq!(res.data()["capturePayment"]["status"], "CAPTURED");
    let mut expired = plant("expired", 25 * 60);
    expired.response = Set(Some(json!({ "ok": { "stale": true } })));
    expired.insert(&app.db).await.expect("plant");
    let res = capture(&app, &buyer, &payment["id"], "expired").await;
    assert_eq!(res.error()["extensions"]["rule"], "PAYMENT_ALREADY_CAPTURED", "ran again, not replayed");
}

async fn refunds_reverse_proportionally_and_never_exceed_the_capture(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let admin = app.token_for("admin@courier.test").await;
    let start = wallet_of(&app, "buyer@courier.test").await.balance_minor;
    let order = order_at(&app, &buyer, "100.05").await;
    let payment = initiate(&app, &buyer, &order, "WALLET", "i").await;
    capture(&app, &buyer, &payment["id"], "c").await.data();
    let refund = |amount: &str, key: &str| json!({ "input": { "paymentId": payment["id"], "amount": amount, "reason": "damaged", "idempotencyKey": key } });

    let res = app.graphql(REFUND, refund("10.00", "r1"), Some(&buyer)).await;
    assert_eq!(res.code(), "FORBIDDEN");
    let part = app.graphql(REFUND, refund("33.35", "r1"), Some(&admin)).await.data()["refundPayment"].clone();
    assert_eq!(part["status"], "PARTIALLY_REFUNDED");
    assert_eq!(part["refundedAmount"], "33.35");
    // Replay: the stored answer, no second refund.
    assert_eq!(app.graphql(REFUND, refund("33.35", "r1"), Some(&admin)).await.data()["refundPayment"], part);
    let too_much = app.graphql(REFUND, refund("66.71", "r2"), Some(&admin)).await;
    assert_eq!(too_much.error()["extensions"]["rule"], "REFUND_EXCEEDS_CAPTURED");
    assert_eq!(too_much.error()["extensions"]["context"]["refundable"], "66.70");
    let bad = app.graphql(REFUND, refund("0.001", "r3"), Some(&admin)).await;
    assert_eq!(bad.code(), "BAD_USER_INPUT");
    let rest = app.graphql(REFUND, refund("66.70", "r4"), Some(&admin)).await.data()["refundPayment"].clone();
    assert_eq!(rest["status"], "REFUNDED");
    assert_eq!(rest["refundedAmount"], "100.05");

    // Every leg reversed exactly: per wallet, this payment's entries net to zero.
    let mut net: HashMap<Uuid, i64> = HashMap::new();
    for e in entries_of(&app, &payment["id"]).await {
        *net.entry(e.wallet_id).or_default() += e.amount_minor;
    }
    assert_eq!(net.len(), 3);
    assert!(net.values().all(|v| *v == 0), "{net:?}");
    assert_eq!(wallet_of(&app, "buyer@courier.test").await.balance_minor, start);
    let after_full = app.graphql(REFUND, refund("0.01", "r5"), Some(&admin)).await;
    assert_eq!(after_full.error()["extensions"]["rule"], "REFUND_EXCEEDS_CAPTURED");
    assert!(
        logs_containing("payment_refunded")
            .iter()
            .any(|l| l["fields"]["payment.id"] == uuid_of(&payment["id"]).to_string())
    );
    assert_books_balance(&app).await;
}

async fn cancelling_refunds_a_captured_payment_and_voids_an_initiated_one(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let start = wallet_of(&app, "buyer@courier.test").await.balance_minor;
    let paid = order_at(&app, &buyer, "20.00").await;
    let paid_payment = initiate(&app, &buyer, &paid, "WALLET", "p").await;
    capture(&app, &buyer, &paid_payment["id"], "pc").await.data();
    let unpaid = order_at(&app, &buyer, "30.00").await;
    let unpaid_payment = initiate(&app, &buyer, &unpaid, "WALLET", "u").await;

    for order in [&paid, &unpaid] {
        let res =
            app.graphql(CANCEL, json!({ "input": { "orderId": order, "reason": "changed mind" } }), Some(&buyer)).await;
        assert_eq!(res.data()["cancelOrder"]["status"], "CANCELLED");
    }
    let refunded = payment_row(&app, &paid_payment["id"]).await;
    assert_eq!((refunded.status, refunded.refunded_minor), (PaymentStatus::Refunded, 2000));
    assert_eq!(entries_of(&app, &paid_payment["id"]).await.len(), 6);
    assert_eq!(payment_row(&app, &unpaid_payment["id"]).await.status, PaymentStatus::Failed);
    assert!(entries_of(&app, &unpaid_payment["id"]).await.is_empty());
    assert_eq!(wallet_of(&app, "buyer@courier.test").await.balance_minor, start);
    // A voided payment cannot be captured; the order can be paid no more.
    let res = capture(&app, &buyer, &unpaid_payment["id"], "late").await;
    assert_eq!(res.error()["extensions"]["rule"], "PAYMENT_NOT_CAPTURABLE");
    let res = app
        .graphql(
            INITIATE,
            json!({ "input": { "orderId": unpaid, "method": "WALLET", "idempotencyKey": "again" } }),
            Some(&buyer),
        )
        .await;
    assert_eq!(res.error()["extensions"]["rule"], "ORDER_NOT_PAYABLE");
    assert_books_balance(&app).await;
}

async fn cash_on_delivery_is_captured_by_confirm_delivery(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let seller = app.token_for("seller@courier.test").await;
    let agent = app.token_for("agent@courier.test").await;
    let buyer_before = wallet_of(&app, "buyer@courier.test").await.balance_minor;
    let order = order_at(&app, &buyer, "12.50").await;
    let payment = initiate(&app, &buyer, &order, "CASH_ON_DELIVERY", "cod").await;
    let early = capture(&app, &buyer, &payment["id"], "cod-capture").await;
    assert_eq!(early.error()["extensions"]["rule"], "PAYMENT_COLLECTED_ON_DELIVERY");

    let confirm = "mutation($id: ID!) { updateOrderStatus(input: { orderId: $id, status: CONFIRMED }) { status } }";
    app.graphql(confirm, json!({ "id": order }), Some(&seller)).await.data();
    let offer = "mutation($id: ID!) { createShippingAssignment(input: { orderId: $id }) { id } }";
    let assignment = app.graphql(offer, json!({ "id": order }), Some(&seller)).await.data()["createShippingAssignment"]
        ["id"]
        .clone();
    for step in ["acceptAssignment", "pickUpAssignment", "startTransit", "confirmDelivery"] {
        let q = format!("mutation($id: ID!) {{ {step}(input: {{ assignmentId: $id }}) {{ status }} }}");
        app.graphql(&q, json!({ "id": assignment }), Some(&agent)).await.data();
    }
    let row = payment_row(&app, &payment["id"]).await;
    assert_eq!(row.status, PaymentStatus::Captured);
    assert!(row.captured_at.is_some());
    // The cash came from outside: a funding entry, then the three legs.
    let legs = entries_of(&app, &payment["id"]).await;
    assert_eq!(legs.len(), 3);
    let funding = ledger_entry::Entity::find()
        .filter(ledger_entry::Column::IdempotencyKey.eq(format!("payment_{}_external_funding", row.id)))
        .one(&app.db)
        .await
        .expect("q")
        .expect("funding entry");
    assert_eq!((funding.entry_type, funding.amount_minor), (LedgerEntryType::TopUp, 1250));
    assert_eq!(wallet_of(&app, "buyer@courier.test").await.balance_minor, buyer_before, "cash, not the wallet");
    assert_books_balance(&app).await;
}

async fn top_ups_are_admin_only_positive_and_exact(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let admin = app.token_for("admin@courier.test").await;
    let buyer = app.token_for("buyer@courier.test").await;
    let wallet = wallet_of(&app, "buyer@courier.test").await;
    let id = encode(EntityKind::Wallet, wallet.id).0;
    let top_up =
        |amount: &str, key: &str| json!({ "input": { "walletId": id, "amount": amount, "idempotencyKey": key } });

    assert_eq!(app.graphql(TOP_UP, top_up("5.00", "a"), Some(&buyer)).await.code(), "FORBIDDEN");
    for bad in ["0", "-5.00", "1.005", "10000000000000.01"] {
        let res = app.graphql(TOP_UP, top_up(bad, &format!("bad{bad}")), Some(&admin)).await;
        assert_eq!(res.code(), "BAD_USER_INPUT", "{bad}");
    }
    let platform = wallet::Entity::find()
        .filter(wallet::Column::UserId.is_null())
        .one(&app.db)
        .await
        .expect("q")
        .expect("platform");
    let res = app
        .graphql(TOP_UP, json!({ "input": { "walletId": encode(EntityKind::Wallet, platform.id).0, "amount": "1", "idempotencyKey": "p" } }), Some(&admin))
        .await;
    assert_eq!(res.error()["extensions"]["rule"], "WALLET_NOT_FUNDABLE");
    let done = app.graphql(TOP_UP, top_up("0.10", "ok"), Some(&admin)).await.data()["topUpWallet"].clone();
    let again = app.graphql(TOP_UP, top_up("0.10", "ok"), Some(&admin)).await.data()["topUpWallet"].clone();
    assert_eq!(done, again);
    assert_eq!(wallet_of(&app, "buyer@courier.test").await.balance_minor, wallet.balance_minor + 10);
    assert_books_balance(&app).await;
}

async fn concurrent_captures_with_one_key_capture_once_and_answer_alike(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let order = order_at(&app, &buyer, "10.00").await;
    let payment = initiate(&app, &buyer, &order, "WALLET", "i").await;
    let answers = join_all((0..16).map(|_| async {
        // A retryable CONFLICT (the first is still running) is retried, as a client would.
        for _ in 0..50 {
            let res = capture(&app, &buyer, &payment["id"], "same-key").await;
            if res.body.get("errors").is_some() {
                assert_eq!(res.code(), "CONFLICT", "{}", res.body);
                assert_eq!(res.error()["extensions"]["context"]["retryable"], true);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
            return res.data()["capturePayment"].clone();
        }
        panic!("still in flight after 50 tries");
    }))
    .await;
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert_eq!(answers[0]["status"], "CAPTURED");
    assert_eq!(entries_of(&app, &payment["id"]).await.len(), 3);
    let completed = logs_containing(&uuid_of(&payment["id"]).to_string())
        .iter()
        .filter(|l| l["fields"]["event"] == "payment_capture_completed")
        .count();
    assert_eq!(completed, 1);
    assert_books_balance(&app).await;
}

async fn concurrent_captures_with_different_keys_capture_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let before = wallet_of(&app, "buyer@courier.test").await.balance_minor;
    let order = order_at(&app, &buyer, "10.00").await;
    let payment = initiate(&app, &buyer, &order, "WALLET", "i").await;
    let results = join_all((0..16).map(|i| {
        let (app, buyer, payment) = (&app, &buyer, &payment);
        async move { capture(app, buyer, &payment["id"], &format!("key-{i}")).await }
    }))
    .await;
    let won = results.iter().filter(|r| r.body.get("errors").is_none()).count();
    assert_eq!(won, 1, "exactly one capture");
    for lost in results.iter().filter(|r| r.body.get("errors").is_some()) {
        assert_eq!(lost.error()["extensions"]["rule"], "PAYMENT_ALREADY_CAPTURED", "{}", lost.body);
    }
    assert_eq!(entries_of(&app, &payment["id"]).await.len(), 3);
    assert_eq!(wallet_of(&app, "buyer@courier.test").await.balance_minor, before - 1000);
    assert_books_balance(&app).await;
}

/// A user with an empty USD wallet.
pub(crate) async fn user_with_wallet(
    app: &TestApp,
    email: &str,
    role: UserRole,
) -> (entity::user::Model, wallet::Model) {
    let user = app.create_user(email, role).await;
    let now = Utc::now();
    let wallet = wallet::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(Some(user.id)),
        kind: Set(entity::WalletKind::User),
        currency: Set("USD".into()),
        balance_minor: Set(0),
        version: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .expect("wallet");
    (user, wallet)
}

async fn the_bank_test_keeps_every_invariant_under_concurrent_captures(backend: Backend) {
    bank_test(backend, 1).await;
}

/// The bank test with captures spread over 20 sellers, so most of them
/// touch disjoint wallets (only the platform's is shared).
async fn the_bank_test_with_twenty_sellers(backend: Backend) {
    bank_test(backend, 20).await;
}

async fn bank_test(backend: Backend, seller_count: usize) {
    const BUYERS: usize = 20;
    const ORDERS: usize = 200;
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let admin = app.token_for("admin@courier.test").await;
    let mut rng = Rng(7);
    let mut sellers = vec![user_id(&app, "seller@courier.test").await];
    for i in 1..seller_count {
        sellers.push(user_with_wallet(&app, &format!("bank-seller{i}@courier.test"), UserRole::Seller).await.0.id);
    }

    // 20 buyers, each funded with 50.00 to 250.00 through the API.
    let mut buyers = Vec::new();
    for i in 0..BUYERS {
        let email = format!("bank{i}@courier.test");
        let (_, wallet) = user_with_wallet(&app, &email, UserRole::Buyer).await;
        let funding = 5_000 + rng.next(20_000) as i64;
        let input = json!({ "walletId": encode(EntityKind::Wallet, wallet.id).0, "amount": rust_decimal::Decimal::new(funding, 2), "idempotencyKey": format!("fund-{i}") });
        app.graphql(TOP_UP, json!({ "input": input }), Some(&admin)).await.data();
        buyers.push((app.token_for(&email).await, wallet.id, funding));
    }

    // 200 orders of 1.00 to 80.00, so many buyers cannot pay for all of theirs.
    let plans: Vec<(usize, i64, Uuid)> = (0..ORDERS)
        .map(|_| {
            let (b, amount) = (rng.next(BUYERS as u64) as usize, 100 + rng.next(7_900) as i64);
            (b, amount, sellers[rng.next(sellers.len() as u64) as usize])
        })
        .collect();
    let payments: Vec<(usize, i64, Value)> = stream::iter(plans.iter().enumerate())
        .map(|(n, &(b, amount, seller))| {
            let (app, buyers) = (&app, &buyers);
            async move {
                let price = rust_decimal::Decimal::new(amount, 2).to_string();
                let order = order_from(app, &buyers[b].0, seller, &price).await;
                let payment = initiate(app, &buyers[b].0, &order, "WALLET", &format!("init-{n}")).await;
                (b, amount, payment["id"].clone())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;

    // Capture all 200 at once (32 in flight).
    let outcomes: Vec<(usize, i64, Value, crate::helpers::GqlResponse)> = stream::iter(payments)
        .map(|(b, amount, id)| {
            let (app, buyers) = (&app, &buyers);
            async move {
                let res = capture(app, &buyers[b].0, &id, &format!("cap-{id}")).await;
                (b, amount, id, res)
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;

    let mut spent = [0_i64; BUYERS];
    let (mut ok, mut refused) = (0, 0);
    for (b, amount, id, res) in &outcomes {
        let entries = entries_of(&app, id).await;
        if res.body.get("errors").is_none() {
            ok += 1;
            spent[*b] += amount;
            assert_eq!(entries.len(), 3, "a success is in the ledger exactly once");
            assert!(entries.iter().any(|e| e.entry_type == LedgerEntryType::PaymentDebit && e.amount_minor == -amount));
            assert_eq!(payment_row(&app, id).await.status, PaymentStatus::Captured);
        } else {
            refused += 1;
            assert_eq!(res.error()["extensions"]["rule"], "INSUFFICIENT_FUNDS", "{}", res.body);
            assert!(entries.is_empty(), "a failure leaves no trace");
            assert_eq!(payment_row(&app, id).await.status, PaymentStatus::Initiated);
        }
    }
    assert!(ok > 0 && refused > 0, "the test must exercise both outcomes ({ok} ok, {refused} refused)");
    for (b, (_, wallet_id, funding)) in buyers.iter().enumerate() {
        let balance = wallet::Entity::find_by_id(*wallet_id).one(&app.db).await.expect("q").expect("w").balance_minor;
        assert_eq!(balance, funding - spent[b], "buyer {b}");
        assert!(balance >= 0);
    }
    let health = assert_books_balance(&app).await;
    assert!(health["paymentsChecked"].as_u64().expect("n") >= ORDERS as u64);
}

async fn cancel_and_capture_racing_refund_exactly_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let start = wallet_of(&app, "buyer@courier.test").await.balance_minor;
    let mut cases = Vec::new();
    for i in 0..8 {
        let order = order_at(&app, &buyer, "10.00").await;
        let payment = initiate(&app, &buyer, &order, "WALLET", &format!("i{i}")).await;
        cases.push((order, payment["id"].clone()));
    }
    let retrying = |query: &'static str, input: Value| {
        let (app, buyer) = (&app, &buyer);
        async move {
            // A client retries a CONFLICT; a bounded number of times, so a
            // livelock fails the test instead of hanging it.
            for _ in 0..50 {
                let res = app.graphql(query, json!({ "input": input }), Some(buyer)).await;
                if res.body.get("errors").is_some() && res.code() == "CONFLICT" {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
                return res;
            }
            panic!("{query} still in CONFLICT after 50 tries");
        }
    };
    join_all(cases.iter().enumerate().map(|(i, (order, payment))| {
        let cancel = retrying(CANCEL, json!({ "orderId": order, "reason": "race" }));
        let capture = retrying(CAPTURE, json!({ "paymentId": payment, "idempotencyKey": format!("c{i}") }));
        async move {
            let (cancelled, _captured) = tokio::join!(cancel, capture);
            assert_eq!(cancelled.data()["cancelOrder"]["status"], "CANCELLED");
        }
    }))
    .await;
    for (_, payment) in &cases {
        let row = payment_row(&app, payment).await;
        let entries = entries_of(&app, payment).await;
        match row.status {
            // Capture won, then the cancel refunded it, once.
            PaymentStatus::Refunded => {
                assert_eq!(entries.len(), 6);
                assert_eq!(entries.iter().filter(|e| e.entry_type == LedgerEntryType::Refund).count(), 3);
            }
            // Cancel won: voided, no money moved.
            PaymentStatus::Failed => assert!(entries.is_empty()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(wallet_of(&app, "buyer@courier.test").await.balance_minor, start);
    assert_books_balance(&app).await;
}

async fn a_payment_initiated_while_the_order_is_cancelled_never_stays_live(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let mut orders = Vec::new();
    for _ in 0..10 {
        orders.push(order_at(&app, &buyer, "4.00").await);
    }
    join_all(orders.iter().enumerate().map(|(i, order)| {
        let (app, buyer) = (&app, &buyer);
        async move {
            let pay =
                json!({ "input": { "orderId": order, "method": "WALLET", "idempotencyKey": format!("race-{i}") } });
            let cancel = json!({ "input": { "orderId": order, "reason": "race" } });
            let (_, cancelled) =
                tokio::join!(app.graphql(INITIATE, pay, Some(buyer)), app.graphql(CANCEL, cancel, Some(buyer)));
            assert_eq!(cancelled.data()["cancelOrder"]["status"], "CANCELLED");
        }
    }))
    .await;
    // Whichever went first, no cancelled order keeps a payment that could
    // still be captured: it was refused, or voided by the cancel.
    for order in &orders {
        let live = payment::Entity::find()
            .filter(payment::Column::OrderId.eq(uuid_of(order)))
            .filter(payment::Column::Status.ne(PaymentStatus::Failed))
            .all(&app.db)
            .await
            .expect("payments");
        assert!(live.is_empty(), "{live:?}");
    }
}

async fn ledger_health_reports_a_tampered_wallet(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(5).await;
    let health = assert_books_balance(&app).await;
    assert!(health["entriesChecked"].as_u64().expect("n") > 0);
    let buyer = app.token_for("buyer@courier.test").await;
    assert_eq!(app.graphql(HEALTH, Value::Null, Some(&buyer)).await.code(), "FORBIDDEN");
    let wallet = wallet_of(&app, "buyer@courier.test").await;
    app.exec("UPDATE wallets SET balance_minor = balance_minor + 1 WHERE kind = 'USER' AND balance_minor > 0").await;
    let admin = app.token_for("admin@courier.test").await;
    let broken = app.graphql(HEALTH, Value::Null, Some(&admin)).await.data()["ledgerHealth"].clone();
    assert_eq!(broken["healthy"], false);
    let kinds: Vec<&str> =
        broken["violations"].as_array().expect("list").iter().filter_map(|v| v["invariant"].as_str()).collect();
    assert!(kinds.contains(&"WALLET_BALANCE_DRIFT") && kinds.contains(&"BOOKS_UNBALANCED"), "{kinds:?}");
    assert!(broken["violations"].as_array().expect("list").iter().any(|v| v["subject"] == wallet.id.to_string()
        && v["actual"] == rust_decimal::Decimal::new(wallet.balance_minor + 1, 2).to_string()));
    assert!(!logs_containing("ledger_invariant_violated").is_empty());
}

on_both_backends!(
    a_wallet_payment_moves_money_exactly_once,
    insufficient_funds_reports_the_shortfall_and_moves_nothing,
    idempotency_keys_are_validated_and_bound_to_their_input,
    keys_in_flight_conflict_and_expired_or_abandoned_ones_are_taken_over,
    refunds_reverse_proportionally_and_never_exceed_the_capture,
    cancelling_refunds_a_captured_payment_and_voids_an_initiated_one,
    cash_on_delivery_is_captured_by_confirm_delivery,
    top_ups_are_admin_only_positive_and_exact,
    concurrent_captures_with_one_key_capture_once_and_answer_alike,
    concurrent_captures_with_different_keys_capture_once,
    the_bank_test_keeps_every_invariant_under_concurrent_captures,
    the_bank_test_with_twenty_sellers,
    cancel_and_capture_racing_refund_exactly_once,
    a_payment_initiated_while_the_order_is_cancelled_never_stays_live,
    ledger_health_reports_a_tampered_wallet,
);
