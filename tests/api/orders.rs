//! Placing orders and moving them: validation, the state machine through the
//! API, optimistic locking under concurrency, and the audit trail.

use entity::{OrderStatus, audit_log, order};
use futures_util::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use courier::domain::lookup::EntityKind;
use courier::graphql::node::encode;

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;

const CREATE: &str = "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNumber status total currency version items { name quantity unitPrice lineTotal } buyer { displayName } } }";
const UPDATE: &str =
    "mutation($input: UpdateOrderStatusInput!) { updateOrderStatus(input: $input) { id status version } }";
const CANCEL: &str =
    "mutation($input: CancelOrderInput!) { cancelOrder(input: $input) { id status version cancelReason } }";

async fn seller_id(app: &TestApp) -> String {
    let seller = courier::domain::users::find_by_email(&app.db, "seller@courier.test").await.expect("seller");
    encode(EntityKind::User, seller.id).0
}

fn order_input(seller: &str) -> Value {
    json!({
        "sellerId": seller,
        "items": [
            { "name": "Espresso beans", "quantity": 3, "unitPrice": "12.99" },
            { "name": "Mug", "quantity": 1, "unitPrice": "0.10" }
        ],
        "deliveryZipCode": "10115",
        "currency": "USD"
    })
}

async fn place_order(app: &TestApp, buyer: &str) -> Value {
    let seller = seller_id(app).await;
    let res = app.graphql(CREATE, json!({ "input": order_input(&seller) }), Some(buyer)).await;
    res.data()["createOrder"].clone()
}

async fn audit_actions(app: &TestApp, order_id: &str) -> Vec<String> {
    let (_, uuid) = courier::graphql::node::decode(&async_graphql::ID(order_id.to_owned()), "id").expect("id");
    let mut rows =
        audit_log::Entity::find().filter(audit_log::Column::EntityId.eq(uuid)).all(&app.db).await.expect("audit");
    rows.sort_by_key(|r| (r.created_at, r.id));
    rows.into_iter().map(|r| r.action).collect()
}

async fn a_buyer_places_an_order_with_a_server_computed_total(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let seller = seller_id(&app).await;
    let res = app
        .graphql_with(CREATE, json!({ "input": order_input(&seller) }), Some(&buyer), &[("x-request-id", "create-1")])
        .await;
    let created = &res.data()["createOrder"];
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["total"], "39.07", "3 x 12.99 + 0.10, exactly");
    assert_eq!(created["version"], 0);
    assert_eq!(created["items"][0]["lineTotal"], "38.97");
    assert_eq!(created["buyer"]["displayName"], "Bea Buyer");
    assert!(created["orderNumber"].as_str().expect("number").starts_with("ORD-"));
    let rows = audit_log::Entity::find().all(&app.db).await.expect("audit");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].action, "order.created");
    assert_eq!(rows[0].request_id.as_deref(), Some("create-1"));
    assert_eq!(rows[0].new_values.as_ref().expect("new")["totalMinor"], 3907);
}

async fn invalid_orders_are_refused_with_a_field_and_write_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let seller = seller_id(&app).await;
    let item = |q: i64, p: &str| json!({ "name": "Thing", "quantity": q, "unitPrice": p });
    let with = |patch: Value| {
        let mut input = order_input(&seller);
        for (k, v) in patch.as_object().expect("object") {
            input[k] = v.clone();
        }
        input
    };
    let many: Vec<Value> = (0..101).map(|_| item(1, "1.00")).collect();
    let cases = [
        (with(json!({ "items": [] })), "items"),
        (with(json!({ "items": many })), "items"),
        (with(json!({ "items": [item(0, "1.00")] })), "items[0].quantity"),
        (with(json!({ "items": [item(1001, "1.00")] })), "items[0].quantity"),
        (with(json!({ "items": [item(1, "-1.00")] })), "items[0].unitPrice"),
        (with(json!({ "items": [item(1, "0")] })), "items[0].unitPrice"),
        (with(json!({ "items": [item(1, "1.001")] })), "items[0].unitPrice"),
        (with(json!({ "deliveryZipCode": "" })), "deliveryZipCode"),
        (with(json!({ "deliveryZipCode": "10115; DROP TABLE" })), "deliveryZipCode"),
        (with(json!({ "currency": "XYZ" })), "currency"),
        (with(json!({ "sellerId": encode(EntityKind::User, uuid::Uuid::now_v7()).0 })), "sellerId"),
    ];
    for (input, field) in cases {
        let res = app.graphql(CREATE, json!({ "input": input }), Some(&buyer)).await;
        assert_eq!(res.code(), "BAD_USER_INPUT", "{field}: {}", res.body);
        assert_eq!(res.error()["extensions"]["field"], format!("input.{field}"), "{}", res.body);
    }
    // A seller cannot buy, and anonymous callers must sign in.
    let seller_token = app.token_for("seller@courier.test").await;
    assert_eq!(
        app.graphql(CREATE, json!({ "input": order_input(&seller) }), Some(&seller_token)).await.code(),
        "FORBIDDEN"
    );
    assert_eq!(app.graphql(CREATE, json!({ "input": order_input(&seller) }), None).await.code(), "UNAUTHENTICATED");
    assert_eq!(order::Entity::find().count(&app.db).await.expect("count"), 0, "nothing was written");
    assert_eq!(audit_log::Entity::find().count(&app.db).await.expect("count"), 0);
}

async fn the_state_machine_is_enforced_through_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let seller = app.token_for("seller@courier.test").await;
    let order = place_order(&app, &buyer).await;
    let id = order["id"].as_str().expect("id");
    let set = |status: &str| json!({ "input": { "orderId": id, "status": status } });

    // The buyer may not confirm; the seller does.
    assert_eq!(app.graphql(UPDATE, set("CONFIRMED"), Some(&buyer)).await.code(), "FORBIDDEN");
    let confirmed = app.graphql(UPDATE, set("CONFIRMED"), Some(&seller)).await;
    assert_eq!(confirmed.data()["updateOrderStatus"]["status"], "CONFIRMED");
    assert_eq!(confirmed.data()["updateOrderStatus"]["version"], 1);

    // Confirming again is not a move of the state machine.
    let again = app.graphql(UPDATE, set("CONFIRMED"), Some(&seller)).await;
    assert_eq!(again.code(), "BUSINESS_RULE_VIOLATION");
    assert_eq!(again.error()["extensions"]["rule"], "INVALID_STATUS_TRANSITION");
    assert_eq!(again.error()["extensions"]["context"]["currentStatus"], "CONFIRMED");
    assert_eq!(again.error()["extensions"]["context"]["requestedStatus"], "CONFIRMED");
    // Back to PENDING is never allowed.
    let back = app.graphql(UPDATE, set("PENDING"), Some(&seller)).await;
    assert!(matches!(back.code(), "FORBIDDEN" | "BUSINESS_RULE_VIOLATION"), "{}", back.body);
    // Shipping follows the assignment, never a direct update.
    assert_eq!(app.graphql(UPDATE, set("SHIPPING"), Some(&seller)).await.code(), "FORBIDDEN");

    // A stale expectedVersion is CONFLICT with the current version.
    let stale = app
        .graphql(
            UPDATE,
            json!({ "input": { "orderId": id, "status": "CANCELLED", "expectedVersion": 0 } }),
            Some(&buyer),
        )
        .await;
    assert_eq!(stale.code(), "CONFLICT");
    assert_eq!(stale.error()["extensions"]["context"]["currentVersion"], 1);

    // Another buyer cannot even see it.
    let stranger = app.token_for("buyer2@courier.test").await;
    assert_eq!(
        app.graphql(CANCEL, json!({ "input": { "orderId": id, "reason": "mine now" } }), Some(&stranger)).await.code(),
        "NOT_FOUND"
    );

    let cancelled =
        app.graphql(CANCEL, json!({ "input": { "orderId": id, "reason": "Changed my mind" } }), Some(&buyer)).await;
    assert_eq!(cancelled.data()["cancelOrder"]["status"], "CANCELLED");
    assert_eq!(cancelled.data()["cancelOrder"]["cancelReason"], "Changed my mind");
    assert_eq!(audit_actions(&app, id).await, ["order.created", "order.status_updated", "order.cancelled"]);
}

async fn an_order_cannot_be_cancelled_after_shipping(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(10).await;
    let shipping = order::Entity::find()
        .filter(order::Column::Status.eq(OrderStatus::Shipping))
        .one(&app.db)
        .await
        .expect("q")
        .expect("a shipping order");
    let buyer = entity::user::Entity::find_by_id(shipping.buyer_id).one(&app.db).await.expect("q").expect("buyer");
    let token = app.token_for(&buyer.email).await;
    let id = encode(EntityKind::Order, shipping.id);
    let res =
        app.graphql(CANCEL, json!({ "input": { "orderId": id.as_str(), "reason": "too slow" } }), Some(&token)).await;
    assert_eq!(res.code(), "BUSINESS_RULE_VIOLATION");
    assert_eq!(res.error()["extensions"]["rule"], "ORDER_CANNOT_CANCEL_AFTER_SHIPPING");
    assert_eq!(res.error()["extensions"]["context"]["currentStatus"], "SHIPPING");
    let unchanged = order::Entity::find_by_id(shipping.id).one(&app.db).await.expect("q").expect("order");
    assert_eq!(unchanged.status, OrderStatus::Shipping);
    assert_eq!(unchanged.version, shipping.version);
}

async fn twenty_concurrent_updates_with_one_expected_version_let_exactly_one_win(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let seller = app.token_for("seller@courier.test").await;
    let order = place_order(&app, &buyer).await;
    let id = order["id"].as_str().expect("id").to_owned();
    let vars = json!({ "input": { "orderId": id, "status": "CONFIRMED", "expectedVersion": 0 } });
    let results = join_all((0..20).map(|_| app.graphql(UPDATE, vars.clone(), Some(&seller)))).await;
    let wins = results.iter().filter(|r| r.body.get("errors").is_none()).count();
    assert_eq!(wins, 1, "exactly one update wins");
    for loser in results.iter().filter(|r| r.body.get("errors").is_some()) {
        assert_eq!(loser.code(), "CONFLICT", "{}", loser.body);
    }
    let (_, uuid) = courier::graphql::node::decode(&async_graphql::ID(id.clone()), "id").expect("id");
    let stored = order::Entity::find_by_id(uuid).one(&app.db).await.expect("q").expect("order");
    assert_eq!(stored.version, 1, "initial version plus one");
    assert_eq!(stored.status, OrderStatus::Confirmed);
    assert_eq!(audit_actions(&app, &id).await, ["order.created", "order.status_updated"]);
}

async fn confirm_racing_cancel_ends_in_one_of_them_and_the_audit_shows_what_happened(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let seller = app.token_for("seller@courier.test").await;
    for _ in 0..5 {
        let order = place_order(&app, &buyer).await;
        let id = order["id"].as_str().expect("id").to_owned();
        let confirm = app.graphql(UPDATE, json!({ "input": { "orderId": id, "status": "CONFIRMED" } }), Some(&seller));
        let cancel = app.graphql(CANCEL, json!({ "input": { "orderId": id, "reason": "race" } }), Some(&buyer));
        let (confirm, cancel) = tokio::join!(confirm, cancel);
        for res in [&confirm, &cancel] {
            if res.body.get("errors").is_some() {
                assert!(matches!(res.code(), "CONFLICT" | "BUSINESS_RULE_VIOLATION"), "{}", res.body);
            }
        }
        let (_, uuid) = courier::graphql::node::decode(&async_graphql::ID(id.clone()), "id").expect("id");
        let stored = order::Entity::find_by_id(uuid).one(&app.db).await.expect("q").expect("order");
        let actions = audit_actions(&app, &id).await;
        let succeeded = [confirm.body.get("errors").is_none(), cancel.body.get("errors").is_none()];
        // Every success is in the trail exactly once, in the order it happened.
        assert_eq!(actions.len(), 1 + succeeded.iter().filter(|s| **s).count(), "{actions:?}");
        assert_eq!(stored.version as usize, actions.len() - 1);
        match stored.status {
            OrderStatus::Cancelled => assert_eq!(actions.last().map(String::as_str), Some("order.cancelled")),
            OrderStatus::Confirmed => {
                assert_eq!(actions, ["order.created", "order.status_updated"]);
                assert!(!succeeded[1]);
            }
            other => panic!("unexpected final status {other:?}"),
        }
    }
}

async fn admins_soft_delete_and_restore_orders_and_deleted_orders_cannot_change(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let admin = app.token_for("admin@courier.test").await;
    let order = place_order(&app, &buyer).await;
    let id = order["id"].as_str().expect("id").to_owned();
    let delete = "mutation($id: ID!) { deleteOrder(id: $id) { id deletedAt version } }";
    let restore = "mutation($id: ID!) { restoreOrder(id: $id) { id deletedAt version } }";

    assert_eq!(app.graphql(delete, json!({ "id": id }), Some(&buyer)).await.code(), "FORBIDDEN");
    let deleted = app.graphql(delete, json!({ "id": id }), Some(&admin)).await;
    assert!(deleted.data()["deleteOrder"]["deletedAt"].is_string());
    // Gone for the buyer, and not changeable by anyone.
    let node = app.graphql("query($id: ID!) { node(id: $id) { id } }", json!({ "id": id }), Some(&buyer)).await;
    assert_eq!(node.code(), "NOT_FOUND");
    // Also when read with its relations (one statement on PostgreSQL).
    let with_relations = "query($id: ID!) { order(id: $id) { id buyer { email } items { name } payments { id } } }";
    for token in [&buyer, &admin] {
        let res = app.graphql(with_relations, json!({ "id": id }), Some(token)).await;
        assert_eq!(res.code(), "NOT_FOUND", "{}", res.body);
        assert!(res.body["data"]["order"].is_null(), "{}", res.body);
    }
    let cancel = app.graphql(CANCEL, json!({ "input": { "orderId": id, "reason": "x" } }), Some(&admin)).await;
    assert_eq!(cancel.error()["extensions"]["rule"], "ORDER_DELETED", "{}", cancel.body);
    assert_eq!(app.graphql(delete, json!({ "id": id }), Some(&admin)).await.code(), "NOT_FOUND");

    let restored = app.graphql(restore, json!({ "id": id }), Some(&admin)).await;
    assert_eq!(restored.data()["restoreOrder"]["deletedAt"], Value::Null);
    assert_eq!(restored.data()["restoreOrder"]["version"], 2);
    let again = app.graphql(restore, json!({ "id": id }), Some(&admin)).await;
    assert_eq!(again.error()["extensions"]["rule"], "ORDER_NOT_DELETED");
    let node = app.graphql("query($id: ID!) { node(id: $id) { id } }", json!({ "id": id }), Some(&buyer)).await;
    assert_eq!(node.data()["node"]["id"], id.as_str());
    assert_eq!(audit_actions(&app, &id).await, ["order.created", "order.deleted", "order.restored"]);
    let deleted_row = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("order.deleted"))
        .one(&app.db)
        .await
        .expect("q")
        .expect("row");
    let admin_user = courier::domain::users::find_by_email(&app.db, "admin@courier.test").await.expect("admin");
    assert_eq!(deleted_row.actor_id, Some(admin_user.id));
}

/// A line total is exact even for a price and quantity written outside the
/// API's limits (their product does not fit in 64 bits).
async fn a_line_total_beyond_64_bits_is_exact(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(1).await;
    let token = app.token_for("admin@courier.test").await;
    // The seed's one order: every item of it.
    app.exec("UPDATE order_items SET unit_price_minor = 9223372036854775807, quantity = 2").await;
    let page = app.graphql("{ orders(first: 1) { nodes { id } } }", Value::Null, Some(&token)).await;
    let id = page.data()["orders"]["nodes"][0]["id"].clone();
    let res = app
        .graphql("query($id: ID!) { order(id: $id) { items { lineTotal } } }", json!({ "id": id }), Some(&token))
        .await;
    assert!(res.body["errors"].is_null(), "{}", res.body);
    let items = res.data()["order"]["items"].as_array().expect("items").clone();
    assert!(!items.is_empty());
    assert!(items.iter().all(|i| i["lineTotal"] == "184467440737095516.14"), "{items:?}");
}

on_both_backends!(
    a_line_total_beyond_64_bits_is_exact,
    admins_soft_delete_and_restore_orders_and_deleted_orders_cannot_change,
    a_buyer_places_an_order_with_a_server_computed_total,
    invalid_orders_are_refused_with_a_field_and_write_nothing,
    the_state_machine_is_enforced_through_the_api,
    an_order_cannot_be_cancelled_after_shipping,
    twenty_concurrent_updates_with_one_expected_version_let_exactly_one_win,
    confirm_racing_cancel_ends_in_one_of_them_and_the_audit_shows_what_happened,
);
