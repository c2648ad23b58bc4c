//! Money that no caller can mint: the card processor boundary, amount
//! limits, overflow, deleted orders, the books' check on tampered and huge
//! books, and money movements that lock only their own wallets.

use std::time::{Duration, Instant};

use entity::{LedgerEntryType, PaymentStatus, UserRole, ledger_entry, payment, wallet};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement, TransactionTrait};
use serde_json::{Value, json};

use courier::config::ProcessorChoice;
use courier::domain::lookup::EntityKind;
use courier::domain::payments::processor::test_cards;
use courier::domain::signing;
use courier::graphql::node::encode;

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};
use crate::on_both_backends;
use crate::payments::{
    CANCEL, HEALTH, REFUND, TOP_UP, assert_books_balance, entries_of, initiate, order_at, order_from, payment_row,
    user_id, user_with_wallet, uuid_of, wallet_of,
};

const CARD_CAPTURE: &str =
    "mutation($input: CapturePaymentInput!) { capturePayment(input: $input) { id status processorStatus } }";

async fn card_capture(
    app: &TestApp,
    token: &str,
    payment: &Value,
    key: &str,
    card: &str,
) -> crate::helpers::GqlResponse {
    let input = json!({ "paymentId": payment, "idempotencyKey": key, "cardToken": card });
    app.graphql(CARD_CAPTURE, json!({ "input": input }), Some(token)).await
}

/// Posts a processor callback signed with `secret`.
async fn callback(app: &TestApp, event: &Value, secret: &str) -> (reqwest::StatusCode, Value) {
    let body = serde_json::to_vec(event).expect("json");
    let signature = signing::sign(secret.as_bytes(), &body, chrono::Utc::now());
    let res = app
        .client
        .post(app.url("/payments/processor/events"))
        .header("courier-processor-signature", signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent");
    (res.status(), res.json().await.expect("json body"))
}

/// Fixture: sets a wallet's stored balance.
async fn set_balance(app: &TestApp, wallet_id: uuid::Uuid, balance_minor: i64) {
    use sea_orm::sea_query::Expr;
    wallet::Entity::update_many()
        .col_expr(wallet::Column::BalanceMinor, Expr::value(balance_minor))
        .filter(wallet::Column::Id.eq(wallet_id))
        .exec(&app.db)
        .await
        .expect("set balance");
}

/// Fixture: a TOP_UP entry on a wallet, without touching its balance.
async fn add_entry(app: &TestApp, wallet_id: uuid::Uuid, amount_minor: i64, key: &str) {
    use sea_orm::{ActiveModelTrait, Set};
    ledger_entry::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        wallet_id: Set(wallet_id),
        payment_id: Set(None),
        amount_minor: Set(amount_minor),
        currency: Set("USD".into()),
        entry_type: Set(LedgerEntryType::TopUp),
        idempotency_key: Set(key.to_owned()),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(&app.db)
    .await
    .expect("entry");
}

async fn all_entries(app: &TestApp) -> usize {
    ledger_entry::Entity::find().all(&app.db).await.expect("entries").len()
}

/// A CARD payment of `price` for the demo buyer.
async fn card_payment(app: &TestApp, buyer: &str, price: &str, key: &str) -> Value {
    let order = order_at(app, buyer, price).await;
    initiate(app, buyer, &order, "CARD", key).await["id"].clone()
}

async fn cards_are_charged_by_the_processor_and_declines_leave_no_trace(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let buyer_before = wallet_of(&app, "buyer@courier.test").await.balance_minor;
    let seller_before = wallet_of(&app, "seller@courier.test").await.balance_minor;
    let entries_before = all_entries(&app).await;

    // Declined: a rule, nothing written, the payment still INITIATED.
    let payment = card_payment(&app, &buyer, "20.00", "card-1").await;
    let declined = card_capture(&app, &buyer, &payment, "cap-1", test_cards::DECLINE).await;
    assert_eq!(declined.error()["extensions"]["rule"], "PAYMENT_DECLINED", "{}", declined.body);
    assert_eq!(declined.error()["extensions"]["context"]["reason"], "card_declined");
    let insufficient = card_capture(&app, &buyer, &payment, "cap-2", test_cards::DECLINE_INSUFFICIENT_FUNDS).await;
    assert_eq!(insufficient.error()["extensions"]["context"]["reason"], "insufficient_funds");
    assert_eq!(all_entries(&app).await, entries_before, "a declined card leaves no ledger trace");
    assert_eq!(payment_row(&app, &payment).await.status, PaymentStatus::Initiated);
    // The same key replays the refusal; no card token is a client error.
    let replay = card_capture(&app, &buyer, &payment, "cap-1", test_cards::DECLINE).await;
    assert_eq!(replay.error()["extensions"]["rule"], "PAYMENT_DECLINED");
    let no_card = app
        .graphql(CARD_CAPTURE, json!({ "input": { "paymentId": payment, "idempotencyKey": "cap-3" } }), Some(&buyer))
        .await;
    assert_eq!(
        (no_card.code(), no_card.error()["extensions"]["field"].as_str()),
        ("BAD_USER_INPUT", Some("input.cardToken"))
    );

    // Another card approves: captured, the card money came from outside.
    let approved = card_capture(&app, &buyer, &payment, "cap-4", test_cards::APPROVE).await;
    assert_eq!(approved.data()["capturePayment"]["status"], "CAPTURED");
    assert_eq!(approved.data()["capturePayment"]["processorStatus"], "APPROVED");
    let row = payment_row(&app, &payment).await;
    assert!(row.processor_ref.as_deref().is_some_and(|r| r.starts_with("sim_ch_")));
    assert_eq!(entries_of(&app, &payment).await.len(), 3);
    assert_eq!(
        wallet_of(&app, "buyer@courier.test").await.balance_minor,
        buyer_before,
        "the card paid, not the wallet"
    );
    assert_eq!(wallet_of(&app, "seller@courier.test").await.balance_minor, seller_before + 1800);

    // A processor that does not answer in time: SERVICE_UNAVAILABLE, nothing written.
    let slow = card_payment(&app, &buyer, "7.00", "card-2").await;
    let entries = all_entries(&app).await;
    let timeout = card_capture(&app, &buyer, &slow, "cap-5", test_cards::TIMEOUT).await;
    assert_eq!(timeout.code(), "SERVICE_UNAVAILABLE", "{}", timeout.body);
    assert_eq!(all_entries(&app).await, entries);
    assert_eq!(payment_row(&app, &slow).await.status, PaymentStatus::Initiated);
    assert_books_balance(&app).await;
}

async fn a_late_approval_arrives_as_a_signed_callback(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let secret = app.config.processor_webhook_secret.clone();
    let payment = card_payment(&app, &buyer, "30.00", "late-1").await;
    let pending = card_capture(&app, &buyer, &payment, "cap-late", test_cards::APPROVE_LATER).await;
    assert_eq!(pending.data()["capturePayment"]["status"], "INITIATED");
    assert_eq!(pending.data()["capturePayment"]["processorStatus"], "PENDING");
    assert!(entries_of(&app, &payment).await.is_empty());
    let again = card_capture(&app, &buyer, &payment, "cap-late-2", test_cards::APPROVE).await;
    assert_eq!(again.error()["extensions"]["rule"], "PAYMENT_PENDING");
    let reference = payment_row(&app, &payment).await.processor_ref.expect("reference");
    let event = json!({ "type": "charge.succeeded", "reference": reference });

    // Forged, unsigned or stale: refused, nothing changes.
    let (status, body) = callback(&app, &event, "not-the-secret").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let unsigned = app.client.post(app.url("/payments/processor/events")).json(&event).send().await.expect("sent");
    assert_eq!(unsigned.status(), 401);
    let body = serde_json::to_vec(&event).expect("json");
    let old = signing::sign(secret.as_bytes(), &body, chrono::Utc::now() - chrono::Duration::minutes(10));
    let stale = app
        .client
        .post(app.url("/payments/processor/events"))
        .header("courier-processor-signature", old)
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(stale.status(), 401);
    assert_eq!(payment_row(&app, &payment).await.status, PaymentStatus::Initiated);
    assert!(entries_of(&app, &payment).await.is_empty());

    // Signed: captured once; a repeat changes nothing.
    let (status, body) = callback(&app, &event, &secret).await;
    assert_eq!((status.as_u16(), body["applied"].as_str()), (200, Some("CAPTURED")), "{body}");
    let (status, body) = callback(&app, &event, &secret).await;
    assert_eq!((status.as_u16(), body["applied"].as_str()), (200, Some("ALREADY_APPLIED")), "{body}");
    let row = payment_row(&app, &payment).await;
    assert_eq!((row.status, row.processor_status.as_deref()), (PaymentStatus::Captured, Some("APPROVED")));
    assert_eq!(entries_of(&app, &payment).await.len(), 3);
    let (status, _) = callback(&app, &json!({ "type": "charge.succeeded", "reference": "sim_ch_nope" }), &secret).await;
    assert_eq!(status, 404);

    // A later refusal: the buyer may try another card.
    let second = card_payment(&app, &buyer, "5.00", "late-2").await;
    card_capture(&app, &buyer, &second, "cap-l2", test_cards::APPROVE_LATER).await.data();
    let reference = payment_row(&app, &second).await.processor_ref.expect("reference");
    let (status, body) =
        callback(&app, &json!({ "type": "charge.failed", "reference": reference, "reason": "card_declined" }), &secret)
            .await;
    assert_eq!((status.as_u16(), body["applied"].as_str()), (200, Some("DECLINED")), "{body}");
    assert!(entries_of(&app, &second).await.is_empty());
    let retry = card_capture(&app, &buyer, &second, "cap-l3", test_cards::APPROVE).await;
    assert_eq!(retry.data()["capturePayment"]["status"], "CAPTURED");

    // Approved after the order was cancelled: the charge goes back to the card.
    let third = card_payment(&app, &buyer, "9.00", "late-3").await;
    card_capture(&app, &buyer, &third, "cap-l4", test_cards::APPROVE_LATER).await.data();
    let order = payment_row(&app, &third).await.order_id;
    let order_id = encode(EntityKind::Order, order).0;
    app.graphql(CANCEL, json!({ "input": { "orderId": order_id, "reason": "changed mind" } }), Some(&buyer))
        .await
        .data();
    let reference = payment_row(&app, &third).await.processor_ref.expect("reference");
    let (_, body) = callback(&app, &json!({ "type": "charge.succeeded", "reference": reference }), &secret).await;
    assert_eq!(body["applied"], "RETURNED_TO_CARD", "{body}");
    assert!(entries_of(&app, &third).await.is_empty());
    assert_eq!(payment_row(&app, &third).await.status, PaymentStatus::Failed);
    assert_books_balance(&app).await;
}

async fn card_refunds_go_back_through_the_processor(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let admin = app.token_for("admin@courier.test").await;
    let buyer_before = wallet_of(&app, "buyer@courier.test").await.balance_minor;
    let seller_before = wallet_of(&app, "seller@courier.test").await.balance_minor;
    let payment = card_payment(&app, &buyer, "40.00", "r-1").await;
    card_capture(&app, &buyer, &payment, "r-cap", test_cards::APPROVE).await.data();
    let refund = |amount: &str, key: &str| json!({ "input": { "paymentId": payment, "amount": amount, "reason": "damaged", "idempotencyKey": key } });
    let res = app.graphql(REFUND, refund("15.00", "r-a"), Some(&admin)).await;
    assert_eq!(res.data()["refundPayment"]["status"], "PARTIALLY_REFUNDED");
    let res = app.graphql(REFUND, refund("25.00", "r-b"), Some(&admin)).await;
    assert_eq!(res.data()["refundPayment"]["status"], "REFUNDED");
    // The money left the books to the card: the buyer's wallet never saw it.
    assert_eq!(wallet_of(&app, "buyer@courier.test").await.balance_minor, buyer_before);
    assert_eq!(wallet_of(&app, "seller@courier.test").await.balance_minor, seller_before);
    let returns = ledger_entry::Entity::find()
        .filter(
            ledger_entry::Column::IdempotencyKey.like(format!("payment_{}_refund_%_card_return", uuid_of(&payment))),
        )
        .all(&app.db)
        .await
        .expect("q");
    assert_eq!(returns.iter().map(|e| e.amount_minor).sum::<i64>(), -4000);
    assert!(returns.iter().all(|e| e.entry_type == LedgerEntryType::TopUp));
    // The processor refuses more than was charged, even if Courier's own check were bypassed.
    let over = app.graphql(REFUND, refund("0.01", "r-c"), Some(&admin)).await;
    assert_eq!(over.error()["extensions"]["rule"], "REFUND_EXCEEDS_CAPTURED");
    assert_books_balance(&app).await;
}

async fn without_a_processor_cards_are_unavailable(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.payment_processor = Some(ProcessorChoice::None)).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let order = order_at(&app, &buyer, "10.00").await;
    let input = json!({ "orderId": order, "method": "CARD", "idempotencyKey": "no-card" });
    let res = app.graphql(crate::payments::INITIATE, json!({ "input": input }), Some(&buyer)).await;
    assert_eq!(res.error()["extensions"]["rule"], "PAYMENT_METHOD_UNAVAILABLE", "{}", res.body);
    assert!(
        payment::Entity::find()
            .filter(payment::Column::Method.eq(entity::PaymentMethod::Card))
            .filter(payment::Column::OrderId.eq(uuid_of(&order)))
            .all(&app.db)
            .await
            .expect("q")
            .is_empty()
    );
    // A seeded, initiated CARD payment cannot be captured either.
    let seeded = payment::Entity::find()
        .filter(payment::Column::Method.eq(entity::PaymentMethod::Card))
        .filter(payment::Column::Status.eq(PaymentStatus::Initiated))
        .one(&app.db)
        .await
        .expect("q");
    if let Some(p) = seeded {
        let id = encode(EntityKind::Payment, p.id).0;
        let order = entity::order::Entity::find_by_id(p.order_id).one(&app.db).await.expect("q").expect("order");
        let owner = entity::user::Entity::find_by_id(order.buyer_id).one(&app.db).await.expect("q").expect("buyer");
        let token = app.token_for(&owner.email).await;
        let res = card_capture(&app, &token, &json!(id), "k", test_cards::APPROVE).await;
        assert_eq!(res.error()["extensions"]["rule"], "PAYMENT_METHOD_UNAVAILABLE", "{}", res.body);
    }
    // Callbacks have nobody to come from: the route does not exist.
    let (status, _) = callback(&app, &json!({ "type": "charge.succeeded", "reference": "x" }), "s").await;
    assert_eq!(status, 404);
}

async fn amount_limits_are_rules_with_context(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.max_order_total = rust_decimal::Decimal::new(500, 0);
        c.max_top_up = rust_decimal::Decimal::new(1_000, 0);
        c.max_wallet_balance = rust_decimal::Decimal::new(5_000, 0);
    })
    .await;
    app.seed(0).await;
    let admin = app.token_for("admin@courier.test").await;
    let buyer = app.token_for("buyer@courier.test").await;
    let orders_before = entity::order::Entity::find().all(&app.db).await.expect("q").len();

    // The largest order total.
    let seller = encode(EntityKind::User, user_id(&app, "seller@courier.test").await).0;
    let big = json!({ "input": { "sellerId": seller, "currency": "USD", "deliveryZipCode": "10115",
        "items": [{ "name": "A", "quantity": 2, "unitPrice": "250.01" }] } });
    let res = app.graphql(crate::payments::CREATE_ORDER, big, Some(&buyer)).await;
    assert_eq!(res.error()["extensions"]["rule"], "ORDER_TOTAL_LIMIT_EXCEEDED", "{}", res.body);
    assert_eq!(res.error()["extensions"]["context"]["limit"], "500.00");
    assert_eq!(res.error()["extensions"]["context"]["total"], "500.02");
    // Overflow attempts: the largest price, the largest quantity, a hundred lines.
    let items: Vec<Value> = (0..100)
        .map(|i| json!({ "name": format!("x{i}"), "quantity": 1_000, "unitPrice": "10000000000000" }))
        .collect();
    let huge =
        json!({ "input": { "sellerId": seller, "currency": "USD", "deliveryZipCode": "10115", "items": items } });
    let res = app.graphql(crate::payments::CREATE_ORDER, huge, Some(&buyer)).await;
    assert_eq!(res.error()["extensions"]["rule"], "ORDER_TOTAL_LIMIT_EXCEEDED", "{}", res.body);
    assert_eq!(entity::order::Entity::find().all(&app.db).await.expect("q").len(), orders_before, "nothing written");

    // The largest top-up, and the largest balance.
    let (_, wallet) = user_with_wallet(&app, "limits@courier.test", UserRole::Buyer).await;
    let wallet_id = encode(EntityKind::Wallet, wallet.id).0;
    let top_up = |amount: &str, key: &str| json!({ "input": { "walletId": wallet_id, "amount": amount, "idempotencyKey": key } });
    let res = app.graphql(TOP_UP, top_up("1000.01", "t1"), Some(&admin)).await;
    assert_eq!(res.error()["extensions"]["rule"], "TOP_UP_LIMIT_EXCEEDED", "{}", res.body);
    for i in 0..5 {
        app.graphql(TOP_UP, top_up("1000.00", &format!("t-ok-{i}")), Some(&admin)).await.data();
    }
    let res = app.graphql(TOP_UP, top_up("0.01", "t-over"), Some(&admin)).await;
    assert_eq!(res.error()["extensions"]["rule"], "WALLET_BALANCE_LIMIT_EXCEEDED", "{}", res.body);
    assert_eq!(res.error()["extensions"]["context"]["limit"], "5000.00");
    assert_eq!(wallet::Entity::find_by_id(wallet.id).one(&app.db).await.expect("q").expect("w").balance_minor, 500_000);

    // A capture that would take the seller past the ceiling: refused, nothing moves.
    let seller_wallet = wallet_of(&app, "seller@courier.test").await;
    set_balance(&app, seller_wallet.id, 499_990).await;
    add_entry(&app, seller_wallet.id, 499_990 - seller_wallet.balance_minor, "fixture-seller").await;
    let order = order_at(&app, &buyer, "100.00").await;
    let payment = initiate(&app, &buyer, &order, "WALLET", "lim-pay").await;
    let res = crate::payments::capture(&app, &buyer, &payment["id"], "lim-cap").await;
    assert_eq!(res.error()["extensions"]["rule"], "WALLET_BALANCE_LIMIT_EXCEEDED", "{}", res.body);
    assert!(entries_of(&app, &payment["id"]).await.is_empty());
    assert_eq!(payment_row(&app, &payment["id"]).await.status, PaymentStatus::Initiated);
    assert_books_balance(&app).await;
}

async fn the_platform_wallet_cannot_overflow(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    // Books where the platform already holds nearly i64::MAX (from outside).
    let platform = wallet::Entity::find()
        .filter(wallet::Column::Kind.eq(entity::WalletKind::Platform))
        .one(&app.db)
        .await
        .expect("q")
        .expect("platform");
    let near_max = i64::MAX - 10;
    set_balance(&app, platform.id, near_max).await;
    let order = order_at(&app, &buyer, "50.00").await;
    let payment = initiate(&app, &buyer, &order, "WALLET", "of-pay").await;
    let res = crate::payments::capture(&app, &buyer, &payment["id"], "of-cap").await;
    assert_eq!(res.error()["extensions"]["rule"], "WALLET_BALANCE_LIMIT_EXCEEDED", "{}", res.body);
    assert!(entries_of(&app, &payment["id"]).await.is_empty());
    let after = wallet::Entity::find_by_id(platform.id).one(&app.db).await.expect("q").expect("w");
    assert_eq!(after.balance_minor, near_max);
}

async fn ledger_verify_copes_with_huge_and_tampered_books(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(3).await;
    let admin = app.token_for("admin@courier.test").await;
    let wallet = wallet_of(&app, "buyer2@courier.test").await;
    // Two entries whose sum does not fit in 64 bits, on one wallet.
    for i in 0..2 {
        add_entry(&app, wallet.id, i64::MAX - 1, &format!("huge-{i}")).await;
    }
    let res = app.graphql(HEALTH, Value::Null, Some(&admin)).await;
    let health = res.data()["ledgerHealth"].clone();
    assert_eq!(health["healthy"], false);
    let drift = health["violations"]
        .as_array()
        .expect("list")
        .iter()
        .find(|v| v["invariant"] == "WALLET_BALANCE_DRIFT" && v["subject"] == wallet.id.to_string())
        .unwrap_or_else(|| panic!("drift listed: {health}"))
        .clone();
    // 2 * (2^63 - 2) + balance, exactly, in dollars.
    let expected = (i128::from(i64::MAX - 1) * 2 + i128::from(wallet.balance_minor)).to_string();
    let expected = format!("{}.{}", &expected[..expected.len() - 2], &expected[expected.len() - 2..]);
    assert_eq!(drift["expected"], expected);
    assert!(health["violations"].as_array().expect("list").iter().any(|v| v["invariant"] == "BOOKS_UNBALANCED"));
}

async fn deleting_an_order_withdraws_its_delivery_and_voids_its_payment(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let seller = app.token_for("seller@courier.test").await;
    let agent = app.token_for("agent@courier.test").await;
    let admin = app.token_for("admin@courier.test").await;
    let delete = "mutation($id: ID!) { deleteOrder(id: $id) { id deletedAt } }";

    // Cash on delivery, accepted by an agent, then deleted.
    let order = order_at(&app, &buyer, "12.00").await;
    let payment = initiate(&app, &buyer, &order, "CASH_ON_DELIVERY", "del-cod").await;
    let confirm = "mutation($id: ID!) { updateOrderStatus(input: { orderId: $id, status: CONFIRMED }) { status } }";
    app.graphql(confirm, json!({ "id": order }), Some(&seller)).await.data();
    let offer = "mutation($id: ID!) { createShippingAssignment(input: { orderId: $id }) { id } }";
    let assignment = app.graphql(offer, json!({ "id": order }), Some(&seller)).await.data()["createShippingAssignment"]
        ["id"]
        .clone();
    let step = |name: &str| format!("mutation($id: ID!) {{ {name}(input: {{ assignmentId: $id }}) {{ status }} }}");
    app.graphql(&step("acceptAssignment"), json!({ "id": assignment }), Some(&agent)).await.data();
    let deleted = app.graphql(delete, json!({ "id": order }), Some(&admin)).await;
    assert!(deleted.data()["deleteOrder"]["deletedAt"].is_string(), "{}", deleted.body);
    assert_eq!(payment_row(&app, &payment["id"]).await.status, PaymentStatus::Failed, "the payment is voided");
    let status = entity::shipping_assignment::Entity::find_by_id(uuid_of(&assignment))
        .one(&app.db)
        .await
        .expect("q")
        .expect("assignment")
        .status;
    assert_eq!(status, entity::AssignmentStatus::Cancelled, "the delivery is withdrawn");
    // No step moves it any more: it never ships and no money is collected.
    for name in ["pickUpAssignment", "confirmDelivery"] {
        let res = app.graphql(&step(name), json!({ "id": assignment }), Some(&agent)).await;
        assert_eq!(res.error()["extensions"]["rule"], "ORDER_DELETED", "{name}: {}", res.body);
    }
    let cancel = app.graphql(CANCEL, json!({ "input": { "orderId": order, "reason": "x" } }), Some(&buyer)).await;
    assert_eq!(cancel.error()["extensions"]["rule"], "ORDER_DELETED", "{}", cancel.body);
    assert!(entries_of(&app, &payment["id"]).await.is_empty());

    // A deleted order cannot be paid for.
    let other = order_at(&app, &buyer, "3.00").await;
    let pay = initiate(&app, &buyer, &other, "WALLET", "del-w").await;
    app.graphql(delete, json!({ "id": other }), Some(&admin)).await.data();
    let res = crate::payments::capture(&app, &buyer, &pay["id"], "del-cap").await;
    assert!(res.body["errors"].is_array(), "{}", res.body);
    let input = json!({ "orderId": other, "method": "WALLET", "idempotencyKey": "del-w2" });
    let res = app.graphql(crate::payments::INITIATE, json!({ "input": input }), Some(&buyer)).await;
    assert_eq!(res.error()["extensions"]["rule"], "ORDER_DELETED", "{}", res.body);

    // Captured money: deletion refused until the money goes back.
    let paid = order_at(&app, &buyer, "4.00").await;
    let p = initiate(&app, &buyer, &paid, "WALLET", "del-paid").await;
    crate::payments::capture(&app, &buyer, &p["id"], "del-paid-cap").await.data();
    let res = app.graphql(delete, json!({ "id": paid }), Some(&admin)).await;
    assert_eq!(res.error()["extensions"]["rule"], "ORDER_HAS_CAPTURED_PAYMENT", "{}", res.body);
    let still = entity::order::Entity::find_by_id(uuid_of(&paid)).one(&app.db).await.expect("q").expect("order");
    assert!(still.deleted_at.is_none());
    assert_books_balance(&app).await;
}

/// PostgreSQL: a money movement locks only its own wallets. With wallet A
/// locked from outside, a capture between B and C completes at once, and one
/// touching A waits out `lock_timeout` and answers a retryable CONFLICT, while
/// reads keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_locks_only_the_wallets_it_touches() {
    let app = spawn_app_with(Backend::Postgres, |c| {
        c.db_lock_timeout_ms = 800;
        c.db_pool_max = 6;
    })
    .await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let buyer2 = app.token_for("buyer2@courier.test").await;
    let seller2 = user_id(&app, "seller2@courier.test").await;
    let locked = wallet_of(&app, "buyer@courier.test").await;
    let on_a = order_at(&app, &buyer, "5.00").await;
    let pay_a = initiate(&app, &buyer, &on_a, "WALLET", "lock-a").await;
    let mut disjoint = Vec::new();
    for i in 0..3 {
        let order = order_from(&app, &buyer2, seller2, "6.00").await;
        disjoint.push(initiate(&app, &buyer2, &order, "WALLET", &format!("lock-b{i}")).await);
    }

    let holder = app.db.begin().await.expect("begin");
    holder
        .execute_raw(Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            format!("SELECT id FROM wallets WHERE id = '{}' FOR UPDATE", locked.id),
        ))
        .await
        .expect("lock wallet A");

    for (i, p) in disjoint.iter().enumerate() {
        let started = Instant::now();
        let res = crate::payments::capture(&app, &buyer2, &p["id"], &format!("cap-b{i}")).await;
        assert_eq!(res.data()["capturePayment"]["status"], "CAPTURED");
        assert!(started.elapsed() < Duration::from_secs(1), "disjoint capture took {:?}", started.elapsed());
    }
    // Several captures touching A queue at once; reads still answer.
    let waiting = (0..4).map(|i| {
        let (app, buyer) = (&app, &buyer);
        let pay = pay_a["id"].clone();
        async move { crate::payments::capture(app, buyer, &pay, &format!("cap-a{i}")).await }
    });
    let reads = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        app.graphql("{ viewer { id } }", Value::Null, Some(&buyer2)).await.data();
        started.elapsed()
    };
    let started = Instant::now();
    let (outcomes, read_took) = tokio::join!(futures_util::future::join_all(waiting), reads);
    assert!(read_took < Duration::from_secs(1), "a read waited {read_took:?} behind money");
    for res in &outcomes {
        assert_eq!(res.code(), "CONFLICT", "{}", res.body);
        assert_eq!(res.error()["extensions"]["context"]["retryable"], true);
    }
    assert!(started.elapsed() >= Duration::from_millis(800), "waited for lock_timeout");
    holder.rollback().await.expect("release");
    assert!(entries_of(&app, &pay_a["id"]).await.is_empty());
    // Released: the same capture now goes through.
    let res = crate::payments::capture(&app, &buyer, &pay_a["id"], "cap-a-after").await;
    assert_eq!(res.data()["capturePayment"]["status"], "CAPTURED");
    assert_books_balance(&app).await;
}

/// Found by the outside tester: two captures of one card payment raced,
/// the loser refused (the winner had booked the charge) and returned the
/// one shared charge to the card. The charge is booked once and kept.
async fn racing_card_captures_book_the_charge_once_and_keep_it(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let admin = app.token_for("admin@courier.test").await;
    let payment = card_payment(&app, &buyer, "3.00", "race-card").await;
    let keys: Vec<String> = (0..4).map(|i| format!("race-cap-{i}")).collect();
    let answers = futures_util::future::join_all(
        keys.iter().map(|k| card_capture(&app, &buyer, &payment, k, test_cards::APPROVE)),
    )
    .await;
    let captured = answers.iter().filter(|a| a.body["data"]["capturePayment"]["status"] == "CAPTURED").count();
    assert_eq!(captured, 1, "{:?}", answers.iter().map(|a| &a.body).collect::<Vec<_>>());
    for a in answers.iter().filter(|a| a.body["data"]["capturePayment"].is_null()) {
        let e = a.error();
        assert!(
            e["extensions"]["rule"] == "PAYMENT_ALREADY_CAPTURED" || e["extensions"]["code"] == "CONFLICT",
            "{}",
            a.body
        );
    }
    let id = uuid_of(&payment).to_string();
    let returned: Vec<Value> = crate::helpers::logs_containing(&id)
        .into_iter()
        .filter(|l| {
            l["fields"]["event"] == "payment_charge_returned" || l["fields"]["event"] == "payment_charge_return_failed"
        })
        .collect();
    assert!(returned.is_empty(), "the booked charge was returned: {returned:?}");
    // The processor still holds the whole charge: a refund goes through it.
    let input =
        json!({ "input": { "paymentId": payment, "amount": "0.01", "reason": "check", "idempotencyKey": "race-ref" } });
    let refund = app.graphql(REFUND, input, Some(&admin)).await;
    assert_eq!(refund.data()["refundPayment"]["refundedAmount"], "0.01", "{}", refund.body);
    assert_books_balance(&app).await;
}

/// Found by the outside tester: amounts past Decimal's multiplication range
/// panicked (a 500 in plain text). They are BAD_USER_INPUT.
async fn amounts_past_any_range_are_bad_input(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let admin = app.token_for("admin@courier.test").await;
    let seller = encode(EntityKind::User, user_id(&app, "seller@courier.test").await).0;
    for price in ["79228162514264337593543950335", "792281625142643375935439504", "-79228162514264337593543950335"] {
        let input = json!({ "sellerId": seller, "items": [{ "name": "Thing", "quantity": 1, "unitPrice": price }], "deliveryZipCode": "10115", "currency": "USD" });
        let res = app.graphql(crate::payments::CREATE_ORDER, json!({ "input": input }), Some(&buyer)).await;
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.code(), "BAD_USER_INPUT", "{price}: {}", res.body);
    }
    let wallet = encode(EntityKind::Wallet, wallet_of(&app, "buyer@courier.test").await.id).0;
    let top_up =
        json!({ "input": { "walletId": wallet, "amount": "79228162514264337593543950335", "idempotencyKey": "huge" } });
    let res = app.graphql(TOP_UP, top_up.clone(), Some(&admin)).await;
    assert_eq!(res.code(), "BAD_USER_INPUT", "{}", res.body);
    // The key is not left in flight: the same request answers the same.
    assert_eq!(app.graphql(TOP_UP, top_up, Some(&admin)).await.code(), "BAD_USER_INPUT");
}

/// Found by the outside tester: a late approval that a limit keeps Courier
/// from booking was neither booked nor returned. It goes back to the card.
async fn a_late_approval_refused_by_a_limit_goes_back_to_the_card(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.max_wallet_balance = rust_decimal::Decimal::from(100)).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let secret = app.config.processor_webhook_secret.clone();
    let payment = card_payment(&app, &buyer, "30.00", "late-limit").await;
    card_capture(&app, &buyer, &payment, "cap-late-limit", test_cards::APPROVE_LATER).await.data();
    let reference = payment_row(&app, &payment).await.processor_ref.expect("reference");
    let event = json!({ "type": "charge.succeeded", "reference": reference });
    let (status, body) = callback(&app, &event, &secret).await;
    assert_eq!((status.as_u16(), body["applied"].as_str()), (200, Some("RETURNED_TO_CARD")), "{body}");
    let row = payment_row(&app, &payment).await;
    assert_eq!((row.status, row.processor_status.as_deref()), (PaymentStatus::Initiated, Some("REFUNDED")));
    assert!(entries_of(&app, &payment).await.is_empty());
    let id = uuid_of(&payment).to_string();
    assert!(crate::helpers::logs_containing(&id).iter().any(|l| l["fields"]["event"] == "payment_charge_returned"));
    // The processor retrying the event changes nothing.
    let (status, body) = callback(&app, &event, &secret).await;
    assert_eq!((status.as_u16(), body["applied"].as_str()), (200, Some("ALREADY_APPLIED")), "{body}");
    // A signed body that is not an event is the sender's mistake, not a bad signature.
    let garbage = json!({ "type": "charge.weird", "reference": reference });
    let (status, body) = callback(&app, &garbage, &secret).await;
    assert_eq!(status, 400, "{body}");
    assert_books_balance(&app).await;
}

/// An order in a currency the buyer's wallet does not hold could never be
/// paid: refused at `createOrder`, nothing stored.
async fn orders_in_a_currency_the_buyer_cannot_pay_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let seller = encode(EntityKind::User, user_id(&app, "seller@courier.test").await).0;
    let before = entity::order::Entity::find().all(&app.db).await.expect("orders").len();
    let input = json!({ "sellerId": seller, "items": [{ "name": "Thing", "quantity": 1, "unitPrice": "5.00" }], "deliveryZipCode": "10115", "currency": "EUR" });
    let res = app.graphql(crate::payments::CREATE_ORDER, json!({ "input": input }), Some(&buyer)).await;
    assert_eq!(res.error()["extensions"]["rule"], "CURRENCY_MISMATCH", "{}", res.body);
    assert_eq!(res.error()["extensions"]["context"]["walletCurrency"], "USD");
    assert_eq!(res.error()["extensions"]["context"]["orderCurrency"], "EUR");
    assert_eq!(entity::order::Entity::find().all(&app.db).await.expect("orders").len(), before);
}

on_both_backends!(
    orders_in_a_currency_the_buyer_cannot_pay_are_refused,
    racing_card_captures_book_the_charge_once_and_keep_it,
    amounts_past_any_range_are_bad_input,
    a_late_approval_refused_by_a_limit_goes_back_to_the_card,
    cards_are_charged_by_the_processor_and_declines_leave_no_trace,
    a_late_approval_arrives_as_a_signed_callback,
    card_refunds_go_back_through_the_processor,
    without_a_processor_cards_are_unavailable,
    amount_limits_are_rules_with_context,
    the_platform_wallet_cannot_overflow,
    ledger_verify_copes_with_huge_and_tampered_books,
    deleting_an_order_withdraws_its_delivery_and_voids_its_payment,
);
