//! Every filter and sort of the connections other than `orders` (those are in
//! `connections.rs`), each checked against the database.

use chrono::{Duration, Utc};
use entity::{
    AgentStatus, AssignmentStatus, LedgerEntryType, PaymentMethod, PaymentStatus, UserRole, audit_log, delivery_agent,
    ledger_entry, payment, shipping_assignment, user,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};

use courier::domain::lookup::EntityKind;
use courier::graphql::node::encode;

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;

async fn list(app: &TestApp, token: &str, query: &str, vars: Value) -> Value {
    let res = app.graphql(query, vars, Some(token)).await;
    res.data().as_object().expect("data").values().next().expect("one field").clone()
}

fn strings(conn: &Value, field: &str) -> Vec<String> {
    conn["nodes"].as_array().expect("nodes").iter().map(|n| n[field].as_str().unwrap_or_default().to_owned()).collect()
}

fn is_sorted(values: &[String], asc: bool) -> bool {
    values.windows(2).all(|w| if asc { w[0] <= w[1] } else { w[0] >= w[1] })
}

async fn payment_filters_and_sorts(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(30).await;
    let admin = app.token_for("admin@courier.test").await;
    let q = "query($f: PaymentFilter, $o: PaymentSort) { payments(first: 100, filter: $f, orderBy: $o) { totalCount nodes { status method order { id } } } }";
    let captured = list(&app, &admin, q, json!({ "f": { "status": ["CAPTURED"] } })).await;
    let expected = payment::Entity::find()
        .filter(payment::Column::Status.eq(PaymentStatus::Captured))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(captured["totalCount"], expected);
    assert!(strings(&captured, "status").iter().all(|s| s == "CAPTURED"));

    let cards = list(&app, &admin, q, json!({ "f": { "method": ["CARD"] } })).await;
    let expected = payment::Entity::find()
        .filter(payment::Column::Method.eq(PaymentMethod::Card))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(cards["totalCount"], expected);
    assert!(expected > 0 && strings(&cards, "method").iter().all(|s| s == "CARD"));

    let one = payment::Entity::find().one(&app.db).await.expect("q").expect("payment");
    let order_id = encode(EntityKind::Order, one.order_id);
    let of_order = list(&app, &admin, q, json!({ "f": { "orderId": order_id.as_str() } })).await;
    assert_eq!(of_order["totalCount"], 1);
    assert_eq!(of_order["nodes"][0]["order"]["id"], order_id.as_str());

    let by_status = list(&app, &admin, q, json!({ "o": { "field": "STATUS", "direction": "ASC" } })).await;
    assert!(is_sorted(&strings(&by_status, "status"), true));
}

async fn assignment_filters(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(40).await;
    let admin = app.token_for("admin@courier.test").await;
    let q = "query($f: ShippingAssignmentFilter) { shippingAssignments(first: 100, filter: $f) { totalCount nodes { status agent { id } order { id } } } }";
    let delivered = list(&app, &admin, q, json!({ "f": { "status": ["DELIVERED", "IN_TRANSIT"] } })).await;
    let expected = shipping_assignment::Entity::find()
        .filter(shipping_assignment::Column::Status.is_in([AssignmentStatus::Delivered, AssignmentStatus::InTransit]))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(delivered["totalCount"], expected);

    let agent = delivery_agent::Entity::find().one(&app.db).await.expect("q").expect("agent");
    let agent_id = encode(EntityKind::DeliveryAgent, agent.id);
    let of_agent = list(&app, &admin, q, json!({ "f": { "agentId": agent_id.as_str() } })).await;
    let expected = shipping_assignment::Entity::find()
        .filter(shipping_assignment::Column::AgentId.eq(agent.id))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(of_agent["totalCount"], expected);
    assert!(of_agent["nodes"].as_array().expect("nodes").iter().all(|n| n["agent"]["id"] == agent_id.as_str()));

    let one = shipping_assignment::Entity::find().one(&app.db).await.expect("q").expect("assignment");
    let order_id = encode(EntityKind::Order, one.order_id);
    let of_order = list(&app, &admin, q, json!({ "f": { "orderId": order_id.as_str() } })).await;
    assert_eq!(of_order["totalCount"], 1);
    // An ID of the wrong kind is refused, not ignored.
    let res = app.graphql(q, json!({ "f": { "orderId": agent_id.as_str() } }), Some(&admin)).await;
    assert_eq!(res.code(), "BAD_USER_INPUT");
}

async fn agent_filters_and_sorts(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let agent2 = courier::domain::users::find_by_email(&app.db, "agent2@courier.test").await.expect("agent2");
    let row = delivery_agent::Entity::find()
        .filter(delivery_agent::Column::UserId.eq(agent2.id))
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    let mut active: delivery_agent::ActiveModel = row.into();
    active.is_available = Set(false);
    active.status = Set(AgentStatus::Suspended);
    active.update(&app.db).await.expect("update");

    let token = app.token_for("buyer@courier.test").await;
    let q = "query($f: DeliveryAgentFilter, $o: DeliveryAgentSort) { deliveryAgents(filter: $f, orderBy: $o) { totalCount nodes { agentCode isAvailable status } } }";
    let available = list(&app, &token, q, json!({ "f": { "isAvailable": true } })).await;
    assert_eq!(strings(&available, "agentCode"), ["AGT-001"]);
    let suspended = list(&app, &token, q, json!({ "f": { "status": "SUSPENDED" } })).await;
    assert_eq!(strings(&suspended, "agentCode"), ["AGT-002"]);
    let none = list(&app, &token, q, json!({ "f": { "zipCode": "99999" } })).await;
    assert_eq!(none["totalCount"], 0);
    let by_code = list(&app, &token, q, json!({ "o": { "field": "AGENT_CODE", "direction": "DESC" } })).await;
    assert_eq!(strings(&by_code, "agentCode"), ["AGT-002", "AGT-001"]);
}

async fn user_filters_and_sorts(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let admin = app.token_for("admin@courier.test").await;
    let q = "query($f: UserFilter, $o: UserSort) { users(first: 50, filter: $f, orderBy: $o) { totalCount nodes { email role } } }";
    let buyers = list(&app, &admin, q, json!({ "f": { "role": ["BUYER"] } })).await;
    let expected =
        user::Entity::find().filter(user::Column::Role.eq(UserRole::Buyer)).count(&app.db).await.expect("count");
    assert_eq!(buyers["totalCount"], expected);
    assert!(strings(&buyers, "role").iter().all(|r| r == "BUYER"));
    let one = list(&app, &admin, q, json!({ "f": { "email": "Seller@Courier.test" } })).await;
    assert_eq!(strings(&one, "email"), ["seller@courier.test"]);
    let by_email = list(&app, &admin, q, json!({ "o": { "field": "EMAIL", "direction": "ASC" } })).await;
    let emails = strings(&by_email, "email");
    assert_eq!(emails.len() as u64, user::Entity::find().count(&app.db).await.expect("count"));
    assert!(is_sorted(&emails, true));
}

async fn ledger_entry_filters_and_sorts(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(30).await;
    let seller = app.token_for("seller@courier.test").await;
    let wallet =
        app.graphql("{ viewer { wallet { id } } }", Value::Null, Some(&seller)).await.data()["viewer"]["wallet"]["id"]
            .clone();
    let q = "query($w: ID!, $f: LedgerEntryFilter, $o: LedgerEntrySort) { ledgerEntries(walletId: $w, first: 100, filter: $f, orderBy: $o) { totalCount nodes { amount entryType } } }";
    let credits = list(&app, &seller, q, json!({ "w": wallet, "f": { "entryType": ["PAYMENT_CREDIT"] } })).await;
    assert!(credits["totalCount"].as_u64().expect("n") > 0);
    assert!(strings(&credits, "entryType").iter().all(|t| t == "PAYMENT_CREDIT"));
    let expected = ledger_entry::Entity::find()
        .filter(ledger_entry::Column::EntryType.eq(LedgerEntryType::PaymentCredit))
        .count(&app.db)
        .await
        .expect("count");
    assert!(credits["totalCount"].as_u64().expect("n") <= expected, "only this seller's credits");

    let by_amount =
        list(&app, &seller, q, json!({ "w": wallet, "o": { "field": "AMOUNT", "direction": "ASC" } })).await;
    let amounts: Vec<i64> =
        strings(&by_amount, "amount").iter().map(|a| a.replace('.', "").parse().expect("int")).collect();
    assert!(amounts.windows(2).all(|w| w[0] <= w[1]), "{amounts:?}");
}

async fn audit_log_filters(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let admin_user = courier::domain::users::find_by_email(&app.db, "admin@courier.test").await.expect("admin");
    let order_id = uuid::Uuid::now_v7();
    for (i, action) in ["order.created", "order.status_updated", "order.status_updated"].iter().enumerate() {
        audit_log::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            actor_id: Set(Some(admin_user.id)),
            action: Set((*action).into()),
            entity_type: Set("Order".into()),
            entity_id: Set(if i == 0 { uuid::Uuid::now_v7() } else { order_id }),
            old_values: Set(None),
            new_values: Set(Some(json!({ "status": "CONFIRMED" }))),
            request_id: Set(Some("req-1".into())),
            ip: Set(None),
            user_agent: Set(None),
            created_at: Set(Utc::now() - Duration::hours(i as i64)),
        }
        .insert(&app.db)
        .await
        .expect("insert audit row");
    }
    let token = app.token_for("admin@courier.test").await;
    let q = "query($f: AuditLogFilter) { auditLogs(filter: $f) { totalCount nodes { action entityId actor { displayName } newValues } } }";
    assert_eq!(list(&app, &token, q, json!({ "f": { "action": "order.status_updated" } })).await["totalCount"], 2);
    let entity = encode(EntityKind::Order, order_id);
    let of_entity = list(&app, &token, q, json!({ "f": { "entityId": entity.as_str() } })).await;
    assert_eq!(of_entity["totalCount"], 2);
    assert_eq!(of_entity["nodes"][0]["entityId"], entity.as_str());
    assert_eq!(of_entity["nodes"][0]["actor"]["displayName"], "Ada Admin");
    assert_eq!(of_entity["nodes"][0]["newValues"]["status"], "CONFIRMED");
    let actor = encode(EntityKind::User, admin_user.id);
    assert_eq!(list(&app, &token, q, json!({ "f": { "actorId": actor.as_str() } })).await["totalCount"], 3);
    let since = (Utc::now() - Duration::minutes(30)).to_rfc3339();
    assert_eq!(list(&app, &token, q, json!({ "f": { "createdAfter": since } })).await["totalCount"], 1);
    assert_eq!(list(&app, &token, q, json!({ "f": { "createdBefore": since } })).await["totalCount"], 2);
}

on_both_backends!(
    payment_filters_and_sorts,
    assignment_filters,
    agent_filters_and_sorts,
    user_filters_and_sorts,
    ledger_entry_filters_and_sorts,
    audit_log_filters,
);
