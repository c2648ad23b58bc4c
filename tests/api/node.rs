//! `node` / `nodes`: global IDs and who may see what.

use courier::domain::lookup::EntityKind;
use courier::graphql::node::encode;
use entity::{order, shipping_assignment};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;

const NODE: &str =
    "query($id: ID!) { node(id: $id) { __typename id ... on Order { orderNumber status total currency } } }";

/// An order of buyer@, and whether an agent carries it.
async fn demo_order(app: &TestApp, delivered: bool) -> order::Model {
    let buyer = courier::domain::users::find_by_email(&app.db, "buyer@courier.test").await.expect("buyer");
    let status = if delivered { entity::OrderStatus::Delivered } else { entity::OrderStatus::Pending };
    order::Entity::find()
        .filter(order::Column::BuyerId.eq(buyer.id))
        .filter(order::Column::Status.eq(status))
        .one(&app.db)
        .await
        .expect("query")
        .expect("seeded order")
}

async fn the_buyer_fetches_their_order_by_global_id(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(20).await;
    let order = demo_order(&app, false).await;
    let id = encode(EntityKind::Order, order.id);
    let token = app.token_for("buyer@courier.test").await;
    let res = app.graphql(NODE, json!({ "id": id.as_str() }), Some(&token)).await;
    let node = &res.data()["node"];
    assert_eq!(node["__typename"], "Order");
    assert_eq!(node["id"], id.as_str());
    assert_eq!(node["orderNumber"], order.order_number);
    // Money is an exact decimal string in the order's currency.
    let total = node["total"].as_str().expect("decimal string");
    assert_eq!(total.replace('.', "").parse::<i64>().expect("digits"), order.total_minor);
    assert_eq!(node["currency"], "USD");
}

async fn an_order_is_not_found_for_anyone_who_may_not_see_it(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(20).await;
    let order = demo_order(&app, false).await;
    let id = encode(EntityKind::Order, order.id);
    let vars = json!({ "id": id.as_str() });

    let stranger = app.token_for("buyer2@courier.test").await;
    let res = app.graphql(NODE, vars.clone(), Some(&stranger)).await;
    assert_eq!(res.code(), "NOT_FOUND");
    assert_eq!(res.body["data"]["node"], Value::Null);
    // Anonymous: the same answer, existence is not revealed.
    assert_eq!(app.graphql(NODE, vars.clone(), None).await.code(), "NOT_FOUND");
    // A random id of the same kind: the same answer again.
    let missing = encode(EntityKind::Order, uuid::Uuid::now_v7());
    assert_eq!(app.graphql(NODE, json!({ "id": missing.as_str() }), Some(&stranger)).await.code(), "NOT_FOUND");

    // The seller and the admin see it.
    let seller_id = order.seller_id;
    let seller = entity::user::Entity::find_by_id(seller_id).one(&app.db).await.expect("query").expect("seller");
    for email in [seller.email.as_str(), "admin@courier.test"] {
        let token = app.token_for(email).await;
        assert_eq!(
            app.graphql(NODE, vars.clone(), Some(&token)).await.data()["node"]["orderNumber"],
            order.order_number
        );
    }
}

async fn an_agent_sees_the_orders_behind_their_assignments_only(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(40).await;
    let agent_user = courier::domain::users::find_by_email(&app.db, "agent@courier.test").await.expect("agent");
    let agent = entity::delivery_agent::Entity::find()
        .filter(entity::delivery_agent::Column::UserId.eq(agent_user.id))
        .one(&app.db)
        .await
        .expect("query")
        .expect("agent row");
    let carried = shipping_assignment::Entity::find()
        .filter(shipping_assignment::Column::AgentId.eq(agent.id))
        .one(&app.db)
        .await
        .expect("query")
        .expect("an assignment of this agent");
    let token = app.token_for("agent@courier.test").await;
    let id = encode(EntityKind::Order, carried.order_id);
    assert_eq!(
        app.graphql(NODE, json!({ "id": id.as_str() }), Some(&token)).await.data()["node"]["__typename"],
        "Order"
    );

    // A pending order has no assignment: hidden from the agent.
    let pending = demo_order(&app, false).await;
    let id = encode(EntityKind::Order, pending.id);
    assert_eq!(app.graphql(NODE, json!({ "id": id.as_str() }), Some(&token)).await.code(), "NOT_FOUND");
}

async fn malformed_and_mistyped_ids_are_bad_user_input(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let token = app.token_for("buyer@courier.test").await;
    for bad in [
        "",
        "not base64 at all",
        "T3JkZXI6bm90LWEtdXVpZA",
        "V2lkZ2V0OjAxOGYwMDAwLTAwMDAtNzAwMC04MDAwLTAwMDAwMDAwMDAwMA",
    ] {
        let res = app.graphql(NODE, json!({ "id": bad }), Some(&token)).await;
        assert_eq!(res.code(), "BAD_USER_INPUT", "{bad}: {}", res.body);
    }
}

async fn nodes_returns_each_visible_object_in_order_and_null_for_the_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let token = app.token_for("buyer@courier.test").await;
    let me = app.graphql("{ viewer { id wallet { id } } }", Value::Null, Some(&token)).await;
    let user_id = me.data()["viewer"]["id"].as_str().expect("id").to_owned();
    let wallet_id = me.data()["viewer"]["wallet"]["id"].as_str().expect("id").to_owned();
    let other = app.token_for("buyer2@courier.test").await;
    let other_id = app.graphql("{ viewer { id } }", Value::Null, Some(&other)).await.data()["viewer"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let res = app
        .graphql(
            "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }",
            json!({ "ids": [wallet_id, other_id, user_id, "garbage"] }),
            Some(&token),
        )
        .await;
    let nodes = res.body["data"]["nodes"].as_array().expect("list");
    assert_eq!(nodes.len(), 4);
    assert_eq!(nodes[0]["__typename"], "Wallet");
    assert_eq!(nodes[0]["id"], wallet_id);
    assert_eq!(nodes[1], Value::Null, "another user's profile is hidden");
    assert_eq!(nodes[2]["__typename"], "User");
    assert_eq!(nodes[3], Value::Null);
    let codes: Vec<&str> = res.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["extensions"]["code"].as_str())
        .collect();
    assert_eq!(codes, ["NOT_FOUND", "BAD_USER_INPUT"]);
    let paths: Vec<&Value> = res.body["errors"].as_array().expect("errors").iter().map(|e| &e["path"]).collect();
    assert_eq!(paths, [&json!(["nodes", 1]), &json!(["nodes", 3])], "{}", res.body);
}

/// What a relation shows can be fetched again by its ID: the seller of the
/// buyer's order (its public profile, without the email), an agent's user;
/// an unrelated user stays hidden.
async fn a_user_reached_through_a_relation_can_be_fetched_by_id(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(20).await;
    let token = app.token_for("buyer@courier.test").await;
    let order = demo_order(&app, false).await;
    let seen = app
        .graphql(
            "query($id: ID!) { node(id: $id) { ... on Order { seller { id displayName } } } \
             deliveryAgents(first: 1) { nodes { user { id } } } }",
            json!({ "id": encode(EntityKind::Order, order.id).as_str() }),
            Some(&token),
        )
        .await;
    let seller = seen.data()["node"]["seller"].clone();
    let agent_user = seen.data()["deliveryAgents"]["nodes"][0]["user"]["id"].clone();
    const USER: &str = "query($id: ID!) { node(id: $id) { __typename id ... on User { displayName email } } }";
    let res = app.graphql(USER, json!({ "id": seller["id"] }), Some(&token)).await;
    assert_eq!(res.data()["node"]["displayName"], seller["displayName"], "{}", res.body);
    assert_eq!(res.data()["node"]["email"], Value::Null, "another user's email stays hidden");
    let res = app.graphql(USER, json!({ "id": agent_user }), Some(&token)).await;
    assert_eq!(res.data()["node"]["__typename"], "User", "{}", res.body);

    let other = app.token_for("buyer2@courier.test").await;
    let other_id = app.graphql("{ viewer { id } }", Value::Null, Some(&other)).await.data()["viewer"]["id"].clone();
    // buyer2@ only buys: no order of buyer@'s names them.
    let res = app.graphql(USER, json!({ "id": other_id }), Some(&token)).await;
    assert_eq!(res.code(), "NOT_FOUND", "{}", res.body);
}

on_both_backends!(
    the_buyer_fetches_their_order_by_global_id,
    an_order_is_not_found_for_anyone_who_may_not_see_it,
    an_agent_sees_the_orders_behind_their_assignments_only,
    malformed_and_mistyped_ids_are_bad_user_input,
    nodes_returns_each_visible_object_in_order_and_null_for_the_rest,
    a_user_reached_through_a_relation_can_be_fetched_by_id,
);
