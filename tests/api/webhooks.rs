//! Webhooks, against a real receiver: an HTTP server the test starts on
//! 127.0.0.1 that records what arrives and answers as told.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use entity::{WebhookDeliveryStatus, webhook_delivery};
use hmac::{Hmac, Mac};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::on_both_backends;
use crate::payments::{order_at, uuid_of};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

#[derive(Clone, Default)]
struct Script {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Answers 500 to this many requests first.
    fail_first: Arc<AtomicUsize>,
    /// Then answers this (200 when 0).
    status: Arc<AtomicU16>,
}

pub(crate) struct Receiver {
    pub(crate) url: String,
    script: Script,
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        let script = Script::default();
        let app = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(
                    |State(s): State<Script>, headers: HeaderMap, body: axum::body::Bytes| async move {
                        let headers = headers
                            .iter()
                            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                            .collect();
                        s.hits.lock().expect("hits").push(Hit { headers, body: body.to_vec() });
                        let failing =
                            s.fail_first.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
                        if failing.is_ok() {
                            return StatusCode::INTERNAL_SERVER_ERROR;
                        }
                        match s.status.load(Ordering::SeqCst) {
                            0 => StatusCode::OK,
                            code => StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
                        }
                    },
                ),
            )
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, script }
    }

    pub(crate) fn hits(&self) -> Vec<Hit> {
        self.script.hits.lock().expect("hits").clone()
    }
}

/// A server whose worker runs fast, allowed to call 127.0.0.1.
async fn app(backend: Backend, configure: impl FnOnce(&mut courier::config::Config)) -> TestApp {
    spawn_app_with(backend, |c| {
        c.webhook_worker = true;
        c.webhook_allow_private = true;
        c.webhook_poll_ms = 25;
        c.webhook_backoff_ms = 50;
        c.webhook_timeout_ms = 2_000;
        configure(c);
    })
    .await
}

const CREATE: &str = "mutation($input: CreateWebhookSubscriptionInput!) { createWebhookSubscription(input: $input) { secret subscription { id url eventTypes active circuitState } } }";
const DELIVERIES: &str = "query($filter: WebhookDeliveryFilter) { webhookDeliveries(filter: $filter, first: 100) { totalCount nodes { id deliveryKey eventType status attempts lastError lastResponseStatus deliveredAt nextAttemptAt payload } } }";

pub(crate) async fn subscribe(app: &TestApp, admin: &str, url: &str, types: &[&str], secret: Option<&str>) -> Value {
    let res = app
        .graphql(CREATE, json!({ "input": { "url": url, "eventTypes": types, "secret": secret } }), Some(admin))
        .await;
    res.data()["createWebhookSubscription"].clone()
}

async fn deliveries(app: &TestApp, admin: &str) -> Vec<Value> {
    let res = app.graphql(DELIVERIES, json!({}), Some(admin)).await;
    res.data()["webhookDeliveries"]["nodes"].as_array().expect("nodes").clone()
}

/// Waits (up to 20 s) until `done` holds for the deliveries.
async fn until(app: &TestApp, admin: &str, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    for _ in 0..400 {
        let rows = deliveries(app, admin).await;
        if done(&rows) {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}: {:#?}", deliveries(app, admin).await);
}

fn verify(secret: &str, hit: &Hit) -> bool {
    let signature = &hit.headers["x-courier-signature"];
    let (t, v1) = signature.split_once(",v1=").expect("t=...,v1=...");
    let t = t.strip_prefix("t=").expect("t=");
    assert_eq!(t, hit.headers["x-courier-timestamp"]);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(&hit.body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    expected == v1
}

async fn a_delivery_is_signed_verifiable_and_shaped_like_the_api(backend: Backend) {
    let app = app(backend, |_| {}).await;
    app.seed(0).await;
    let admin = app.token_for("admin@courier.test").await;
    let buyer = app.token_for("buyer@courier.test").await;
    let receiver = Receiver::start().await;
    let secret = "a-shared-secret-of-32-characters!";
    let created = subscribe(&app, &admin, &receiver.url, &["order.created"], Some(secret)).await;
    assert_eq!(created["secret"], secret);
    assert_eq!(created["subscription"]["circuitState"], "CLOSED");

    let request_id = format!("corr-{}", uuid::Uuid::new_v4().simple());
    let input = json!({
        "sellerId": courier::graphql::node::encode(
            courier::domain::lookup::EntityKind::User,
            crate::payments::user_id(&app, "seller@courier.test").await,
        ).0,
        "items": [{ "name": "Lamp", "quantity": 2, "unitPrice": "12.50" }],
        "deliveryZipCode": "10115",
        "currency": "USD"
    });
    let order = app
        .graphql_with(
            crate::payments::CREATE_ORDER,
            json!({ "input": input }),
            Some(&buyer),
            &[("x-request-id", &request_id)],
        )
        .await;
    let order_id = order.data()["createOrder"]["id"].clone();
    let rows = until(&app, &admin, "the delivery", |rows| rows.iter().any(|r| r["status"] == "DELIVERED")).await;
    assert_eq!(rows.len(), 1, "one subscription, one event");
    assert_eq!(rows[0]["attempts"], 1);
    assert_eq!(rows[0]["lastResponseStatus"], 200);

    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert!(verify(secret, hit), "the signature verifies with the subscription's secret");
    assert!(!verify("another-secret-of-enough-length", hit));
    assert_eq!(hit.headers["x-courier-event"], "order.created");
    assert_eq!(hit.headers["x-courier-delivery"], rows[0]["deliveryKey"].as_str().expect("key"));
    assert_eq!(hit.headers["x-correlation-id"], request_id);
    assert_eq!(hit.headers["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&hit.body).expect("JSON");
    assert_eq!(body["version"], 1);
    assert_eq!(body["type"], "order.created");
    assert_eq!(body["correlationId"], request_id);
    let object = &body["data"]["object"];
    assert_eq!(object["id"], order_id, "global IDs, as the API shows them");
    assert_eq!(object["total"], "25.00");
    assert_eq!(object["status"], "PENDING");
    assert_eq!(body, rows[0]["payload"], "the admin sees the body sent");

    // The secret is never readable again: no field of the API carries it.
    let listed = app.graphql("{ webhookSubscriptions { id url eventTypes } }", Value::Null, Some(&admin)).await;
    assert!(!listed.body.to_string().contains(secret));
    // Buyers manage no webhooks and see no deliveries.
    let refused = app.graphql("{ webhookSubscriptions { id } }", Value::Null, Some(&buyer)).await;
    assert_eq!(refused.code(), "FORBIDDEN");
    let refused = subscribe_raw(&app, &buyer, &receiver.url).await;
    assert_eq!(refused.code(), "FORBIDDEN");
}

async fn subscribe_raw(app: &TestApp, token: &str, url: &str) -> crate::helpers::GqlResponse {
    app.graphql(CREATE, json!({ "input": { "url": url, "eventTypes": ["order.created"] } }), Some(token)).await
}

async fn failures_are_retried_then_dead_lettered_and_an_admin_can_revive_them(backend: Backend) {
    let app = app(backend, |c| c.webhook_max_attempts = 3).await;
    app.seed(0).await;
    let admin = app.token_for("admin@courier.test").await;
    let buyer = app.token_for("buyer@courier.test").await;
    let receiver = Receiver::start().await;
    let created = subscribe(&app, &admin, &receiver.url, &["order.created"], None).await;
    let secret = created["secret"].as_str().expect("generated secret").to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");

    // Two 500s, then a 200: delivered on the third attempt.
    receiver.script.fail_first.store(2, Ordering::SeqCst);
    order_at(&app, &buyer, "5.00").await;
    let rows = until(&app, &admin, "delivery after retries", |r| r.iter().any(|r| r["status"] == "DELIVERED")).await;
    assert_eq!(rows[0]["attempts"], 3, "{rows:?}");
    assert_eq!(receiver.hits().len(), 3);
    let keys: HashSet<_> = receiver.hits().iter().map(|h| h.headers["x-courier-delivery"].clone()).collect();
    assert_eq!(keys.len(), 1, "every retry carries the same deduplication key");
    assert!(receiver.hits().iter().all(|h| verify(&secret, h)));

    // Always 500: FAILED after the third attempt, with the last error.
    receiver.script.status.store(503, Ordering::SeqCst);
    order_at(&app, &buyer, "6.00").await;
    let rows = until(&app, &admin, "the dead letter", |r| r.iter().any(|r| r["status"] == "FAILED")).await;
    let dead = rows.iter().find(|r| r["status"] == "FAILED").expect("failed row");
    assert_eq!(dead["attempts"], 3);
    assert_eq!(dead["lastResponseStatus"], 503);
    assert!(dead["lastError"].as_str().expect("error").contains("503"), "{dead}");
    assert_eq!(dead["nextAttemptAt"], Value::Null);
    let failed = app
        .graphql(DELIVERIES, json!({ "filter": { "status": "FAILED", "eventType": "order.created" } }), Some(&admin))
        .await;
    assert_eq!(failed.data()["webhookDeliveries"]["totalCount"], 1);

    // The receiver is fixed; the admin sends the dead letter again.
    receiver.script.status.store(200, Ordering::SeqCst);
    let retried = app
        .graphql(
            "mutation($id: ID!) { retryWebhookDelivery(id: $id) { status attempts } }",
            json!({ "id": dead["id"] }),
            Some(&admin),
        )
        .await;
    assert_eq!(retried.data()["retryWebhookDelivery"]["status"], "PENDING", "{}", retried.body);
    until(&app, &admin, "the revived delivery", |r| r.iter().all(|r| r["status"] == "DELIVERED")).await;
    // A delivered row is not sent twice.
    let again = app
        .graphql(
            "mutation($id: ID!) { retryWebhookDelivery(id: $id) { status } }",
            json!({ "id": dead["id"] }),
            Some(&admin),
        )
        .await;
    assert_eq!(again.error()["extensions"]["rule"], "WEBHOOK_ALREADY_DELIVERED", "{}", again.body);
}

/// The outbox row is written in the change's transaction: rolled back with
/// it, committed with it.
async fn a_rolled_back_change_leaves_no_delivery_row(backend: Backend) {
    use courier::domain::webhooks::{EventType, emit, events::Subject};
    let app = app(backend, |c| c.webhook_worker = false).await;
    app.seed(3).await;
    let admin = app.token_for("admin@courier.test").await;
    let receiver = Receiver::start().await;
    subscribe(&app, &admin, &receiver.url, &["order.cancelled"], None).await;
    let order = entity::order::Entity::find().one(&app.db).await.expect("query").expect("an order");
    let context = courier::domain::audit::AuditContext::default();

    let tx = app.db.begin().await.expect("begin");
    assert_eq!(emit(&tx, EventType::OrderCancelled, Subject::Order(&order), &context).await.expect("emit"), 1);
    tx.rollback().await.expect("rollback");
    assert_eq!(webhook_delivery::Entity::find().count(&app.db).await.expect("count"), 0);
    // Not subscribed: nothing written.
    let tx = app.db.begin().await.expect("begin");
    assert_eq!(emit(&tx, EventType::OrderCreated, Subject::Order(&order), &context).await.expect("emit"), 0);
    tx.commit().await.expect("commit");
    let tx = app.db.begin().await.expect("begin");
    emit(&tx, EventType::OrderCancelled, Subject::Order(&order), &context).await.expect("emit");
    tx.commit().await.expect("commit");
    assert_eq!(webhook_delivery::Entity::find().count(&app.db).await.expect("count"), 1);
}

async fn internal_targets_are_refused_at_subscription_and_at_delivery(backend: Backend) {
    let app = app(backend, |c| c.webhook_allow_private = false).await;
    app.seed(0).await;
    let admin = app.token_for("admin@courier.test").await;
    let buyer = app.token_for("buyer@courier.test").await;
    let receiver = Receiver::start().await;
    for url in [
        receiver.url.as_str(),
        "http://localhost:9/x",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "file:///etc/passwd",
    ] {
        let res = subscribe_raw(&app, &admin, url).await;
        assert_eq!(res.code(), "BAD_USER_INPUT", "{url}: {}", res.body);
        assert_eq!(res.error()["extensions"]["field"], "input.url", "{url}");
    }
    // An update is held to the same rule, and names the input's field.
    let allowed = subscribe(&app, &admin, "http://8.8.8.8/hooks", &["assignment.failed"], None).await;
    let update = app
        .graphql(
            "mutation($input: UpdateWebhookSubscriptionInput!) { updateWebhookSubscription(input: $input) { url } }",
            json!({ "input": { "id": allowed["subscription"]["id"], "url": receiver.url } }),
            Some(&admin),
        )
        .await;
    assert_eq!(update.code(), "BAD_USER_INPUT", "{}", update.body);
    assert_eq!(update.error()["extensions"]["field"], "input.url", "{}", update.body);
    // A row that reached the outbox anyway (a subscription made while the
    // setting allowed it) is refused again when the worker would call it.
    let now = chrono::Utc::now();
    let subscription = entity::webhook_subscription::ActiveModel {
        id: sea_orm::Set(uuid::Uuid::now_v7()),
        url: sea_orm::Set(receiver.url.clone()),
        event_types: sea_orm::Set(json!(["order.created"])),
        secret: sea_orm::Set("s".repeat(32)),
        active: sea_orm::Set(true),
        created_at: sea_orm::Set(now),
        updated_at: sea_orm::Set(now),
    };
    entity::webhook_subscription::Entity::insert(subscription).exec_without_returning(&app.db).await.expect("insert");
    order_at(&app, &buyer, "7.00").await;
    let rows = until(&app, &admin, "a refused attempt", |r| r.iter().any(|r| r["attempts"].as_i64() >= Some(1))).await;
    assert!(rows[0]["lastError"].as_str().expect("error").contains("internal address"), "{rows:?}");
    assert!(receiver.hits().is_empty(), "nothing reached the internal address");
}

async fn the_breaker_opens_postpones_half_opens_and_closes(backend: Backend) {
    let app = app(backend, |c| {
        c.webhook_breaker_failures = 2;
        c.webhook_breaker_volume = 2;
        c.webhook_breaker_open_ms = 1_500;
        c.webhook_breaker_successes = 2;
        c.webhook_max_attempts = 100;
        c.webhook_backoff_ms = 20;
    })
    .await;
    app.seed(0).await;
    let admin = app.token_for("admin@courier.test").await;
    let buyer = app.token_for("buyer@courier.test").await;
    let receiver = Receiver::start().await;
    subscribe(&app, &admin, &receiver.url, &["order.created"], None).await;
    let state = || async {
        app.graphql("{ webhookSubscriptions { circuitState } }", Value::Null, Some(&admin)).await.data()
            ["webhookSubscriptions"][0]["circuitState"]
            .clone()
    };

    receiver.script.status.store(500, Ordering::SeqCst);
    order_at(&app, &buyer, "1.00").await;
    until(&app, &admin, "two failed attempts", |r| r.iter().any(|r| r["attempts"].as_i64() >= Some(2))).await;
    assert_eq!(state().await, "OPEN");
    // While open, a new event is postponed: no attempt, nothing sent.
    let sent = receiver.hits().len();
    order_at(&app, &buyer, "2.00").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.hits().len(), sent, "no request while the breaker is open");
    let rows = deliveries(&app, &admin).await;
    assert!(rows.iter().any(|r| r["attempts"] == 0 && r["status"] == "PENDING"), "{rows:?}");
    assert_eq!(state().await, "OPEN");

    // The host recovers: after the open period, trials go through, two
    // successes close the breaker, and everything is delivered.
    receiver.script.status.store(200, Ordering::SeqCst);
    until(&app, &admin, "recovery", |r| r.len() == 2 && r.iter().all(|r| r["status"] == "DELIVERED")).await;
    assert_eq!(state().await, "CLOSED");
    let postponed =
        deliveries(&app, &admin).await.into_iter().find(|r| r["payload"]["data"]["object"]["total"] == "2.00");
    assert_eq!(postponed.expect("second")["attempts"], 1, "postponing counted no attempt");
}

/// Events of the order and delivery lifecycle reach a subscriber of all types.
async fn lifecycle_changes_are_events(backend: Backend) {
    let app = app(backend, |_| {}).await;
    app.seed(0).await;
    let admin = app.token_for("admin@courier.test").await;
    let buyer = app.token_for("buyer@courier.test").await;
    let receiver = Receiver::start().await;
    let all = app.graphql("{ webhookEventTypes }", Value::Null, Some(&admin)).await;
    let types: Vec<String> = serde_json::from_value(all.data()["webhookEventTypes"].clone()).expect("types");
    assert_eq!(types.len(), 12);
    let types: Vec<&str> = types.iter().map(String::as_str).collect();
    subscribe(&app, &admin, &receiver.url, &types, None).await;

    let order = order_at(&app, &buyer, "10.00").await;
    let payment = crate::payments::initiate(&app, &buyer, &order, "WALLET", &uuid::Uuid::new_v4().to_string()).await;
    crate::payments::capture(&app, &buyer, &payment["id"], &uuid::Uuid::new_v4().to_string()).await;
    let cancel = app
        .graphql(
            crate::payments::CANCEL,
            json!({ "input": { "orderId": order, "reason": "changed my mind" } }),
            Some(&buyer),
        )
        .await;
    assert_eq!(cancel.data()["cancelOrder"]["status"], "CANCELLED", "{}", cancel.body);
    let rows =
        until(&app, &admin, "four events", |r| r.len() >= 4 && r.iter().all(|r| r["status"] == "DELIVERED")).await;
    let mut seen: Vec<String> = rows.iter().map(|r| r["eventType"].as_str().expect("type").to_owned()).collect();
    seen.sort();
    assert_eq!(seen, ["order.cancelled", "order.created", "payment.captured", "payment.refunded"]);
    let captured = rows.iter().find(|r| r["eventType"] == "payment.captured").expect("captured");
    assert_eq!(captured["payload"]["data"]["object"]["order"]["id"], order);
    assert_eq!(uuid_of(&captured["payload"]["data"]["object"]["id"]), uuid_of(&payment["id"]));
}

/// A paused subscription keeps collecting its events and sends them once resumed.
async fn a_paused_subscription_keeps_its_queue(backend: Backend) {
    let app = app(backend, |_| {}).await;
    app.seed(0).await;
    let admin = app.token_for("admin@courier.test").await;
    let buyer = app.token_for("buyer@courier.test").await;
    let receiver = Receiver::start().await;
    let created = subscribe(&app, &admin, &receiver.url, &["order.created"], None).await;
    let id = created["subscription"]["id"].clone();
    let pause = |active: bool| {
        app.graphql(
            "mutation($input: UpdateWebhookSubscriptionInput!) { updateWebhookSubscription(input: $input) { active } }",
            json!({ "input": { "id": id, "active": active } }),
            Some(&admin),
        )
    };
    assert_eq!(pause(false).await.data()["updateWebhookSubscription"]["active"], false);
    order_at(&app, &buyer, "3.00").await;
    let rows = until(&app, &admin, "the queued row", |r| r.len() == 1).await;
    assert_eq!(rows[0]["status"], "PENDING");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.hits().is_empty(), "nothing goes out while paused");
    pause(true).await;
    until(&app, &admin, "the delivery after resuming", |r| r.iter().all(|r| r["status"] == "DELIVERED")).await;
    assert_eq!(receiver.hits().len(), 1);
}

on_both_backends!(
    a_paused_subscription_keeps_its_queue,
    a_delivery_is_signed_verifiable_and_shaped_like_the_api,
    failures_are_retried_then_dead_lettered_and_an_admin_can_revive_them,
    a_rolled_back_change_leaves_no_delivery_row,
    internal_targets_are_refused_at_subscription_and_at_delivery,
    the_breaker_opens_postpones_half_opens_and_closes,
    lifecycle_changes_are_events,
);

/// Two `courier worker` processes on one PostgreSQL database deliver 500
/// events, each exactly once (the receiver counts delivery IDs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_deliver_each_event_exactly_once() {
    use courier::domain::webhooks::{EventType, emit, events::Subject};
    let app = app(Backend::Postgres, |c| c.webhook_worker = false).await;
    app.seed(1).await;
    let admin = app.token_for("admin@courier.test").await;
    let receiver = Receiver::start().await;
    subscribe(&app, &admin, &receiver.url, &["order.status_changed"], None).await;
    let order = entity::order::Entity::find().one(&app.db).await.expect("query").expect("an order");
    let context = courier::domain::audit::AuditContext::default();
    let tx = app.db.begin().await.expect("begin");
    for _ in 0..500 {
        emit(&tx, EventType::OrderStatusChanged, Subject::Order(&order), &context).await.expect("emit");
    }
    tx.commit().await.expect("commit");

    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_courier"))
            .arg("worker")
            .env("DATABASE_URL", &app.config.database_url)
            .env("COURIER_JWT_SECRET", &app.config.jwt_secret)
            .env("COURIER_WEBHOOK_ALLOW_PRIVATE", "true")
            .env("COURIER_WEBHOOK_POLL_MS", "10")
            .env("COURIER_LOG", "warn")
            .env_remove("COURIER_ENV")
            .spawn()
            .expect("worker starts")
    };
    let (mut a, mut b) = (spawn(), spawn());
    let mut done = false;
    for _ in 0..600 {
        let delivered = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::Status.eq(WebhookDeliveryStatus::Delivered))
            .count(&app.db)
            .await
            .expect("count");
        if delivered == 500 {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = (a.kill(), b.kill());
    let _ = (a.wait(), b.wait());
    assert!(done, "500 delivered in time ({} requests)", receiver.hits().len());
    let hits = receiver.hits();
    let keys: HashSet<_> = hits.iter().map(|h| h.headers["x-courier-delivery"].clone()).collect();
    assert_eq!(keys.len(), 500);
    assert_eq!(hits.len(), 500, "no delivery was sent twice");
}
