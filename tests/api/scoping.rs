//! Who sees what, through lookups, `node` and connections.

use entity::{AssignmentStatus, order, payment, shipping_assignment, user};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;

async fn user_id(app: &TestApp, email: &str) -> uuid::Uuid {
    courier::domain::users::find_by_email(&app.db, email).await.expect("user").id
}

async fn order_numbers(app: &TestApp, token: &str) -> Vec<String> {
    let res =
        app.graphql("{ orders(first: 100) { totalCount nodes { orderNumber } } }", Value::Null, Some(token)).await;
    let data = res.data();
    let nodes: Vec<String> = data["orders"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["orderNumber"].as_str().expect("n").to_owned())
        .collect();
    assert_eq!(data["orders"]["totalCount"], nodes.len(), "totalCount agrees with the visible rows");
    nodes
}

async fn a_buyer_sees_only_their_orders_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(24).await;
    let me = user_id(&app, "buyer@courier.test").await;
    let token = app.token_for("buyer@courier.test").await;
    let mine = order::Entity::find().filter(order::Column::BuyerId.eq(me)).count(&app.db).await.expect("count");
    let seen = order_numbers(&app, &token).await;
    assert_eq!(seen.len() as u64, mine);

    let other = order::Entity::find()
        .filter(order::Column::BuyerId.ne(me))
        .one(&app.db)
        .await
        .expect("q")
        .expect("other order");
    let id = courier::graphql::node::encode(courier::domain::lookup::EntityKind::Order, other.id);
    for (query, vars) in [
        ("query($id: ID!) { order(id: $id) { id } }", json!({ "id": id.as_str() })),
        (
            "query($id: ID!) { order(id: $id) { id buyer { email } items { name } payment { amount } assignments { status } } }",
            json!({ "id": id.as_str() }),
        ),
        ("query($id: ID!) { node(id: $id) { id } }", json!({ "id": id.as_str() })),
        ("query($n: String!) { orderByNumber(orderNumber: $n) { id } }", json!({ "n": other.order_number })),
        ("query($n: String!) { order(orderNumber: $n) { id } }", json!({ "n": other.order_number })),
    ] {
        assert_eq!(app.graphql(query, vars, Some(&token)).await.code(), "NOT_FOUND", "{query}");
    }
    // Filtering by the other buyer finds nothing rather than their orders.
    let other_buyer = courier::graphql::node::encode(courier::domain::lookup::EntityKind::User, other.buyer_id);
    let res = app
        .graphql(
            "query($b: ID) { orders(filter: { buyerId: $b }) { totalCount } }",
            json!({ "b": other_buyer.as_str() }),
            Some(&token),
        )
        .await;
    assert_eq!(res.data()["orders"]["totalCount"], 0);
    // Payments likewise: only those of the buyer's orders.
    let res =
        app.graphql("{ payments(first: 100) { nodes { order { buyer { id } } } } }", Value::Null, Some(&token)).await;
    let me_id = courier::graphql::node::encode(courier::domain::lookup::EntityKind::User, me);
    let payments = res.data()["payments"]["nodes"].as_array().expect("nodes");
    assert!(!payments.is_empty());
    assert!(payments.iter().all(|p| p["order"]["buyer"]["id"] == me_id.as_str()));
}

/// The `id`s of `objects`, sorted.
fn sorted_ids(objects: Vec<Value>) -> Vec<String> {
    let mut ids: Vec<String> = objects.iter().map(|o| o["id"].as_str().expect("id").to_owned()).collect();
    ids.sort();
    ids
}

/// Buyers and sellers see exactly the assignments of their own orders, in
/// the `shippingAssignments` list and under a page of orders (the rule is a
/// lookup of each assignment's order).
async fn buyers_and_sellers_see_the_assignments_of_their_orders_only(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(40).await;
    for email in ["buyer@courier.test", "seller@courier.test", "seller2@courier.test"] {
        let me = user_id(&app, email).await;
        let token = app.token_for(email).await;
        let mut expected: Vec<String> = Vec::new();
        for a in shipping_assignment::Entity::find().all(&app.db).await.expect("assignments") {
            let o = order::Entity::find_by_id(a.order_id).one(&app.db).await.expect("q").expect("order");
            if o.buyer_id == me || o.seller_id == me {
                expected.push(
                    courier::graphql::node::encode(courier::domain::lookup::EntityKind::ShippingAssignment, a.id).0,
                );
            }
        }
        expected.sort();
        assert!(!expected.is_empty(), "{email} has orders with assignments in the seed");
        let listed =
            app.graphql("{ shippingAssignments(first: 100) { nodes { id } } }", Value::Null, Some(&token)).await;
        let listed = listed.data()["shippingAssignments"]["nodes"].as_array().expect("nodes").clone();
        assert_eq!(sorted_ids(listed), expected, "{email}: shippingAssignments");
        let page =
            app.graphql("{ orders(first: 100) { nodes { assignments { id } } } }", Value::Null, Some(&token)).await;
        let orders = page.data()["orders"]["nodes"].as_array().expect("nodes");
        let under_orders = orders.iter().flat_map(|o| o["assignments"].as_array().expect("assignments").clone());
        assert_eq!(sorted_ids(under_orders.collect()), expected, "{email}: assignments under the orders page");
    }
}

/// The ids a connection field lists for `token` (first 100).
async fn listed_ids(app: &TestApp, field: &str, token: &str) -> Vec<String> {
    let res = app.graphql(&format!("{{ {field}(first: 100) {{ nodes {{ id }} }} }}"), Value::Null, Some(token)).await;
    sorted_ids(res.data()[field]["nodes"].as_array().expect("nodes").clone())
}

/// Whether `node(id:)` answers the object for `token`.
async fn node_seen(app: &TestApp, id: &str, token: &str) -> bool {
    let res = app.graphql("query($id: ID!) { node(id: $id) { id } }", json!({ "id": id }), Some(token)).await;
    !res.body["data"]["node"].is_null()
}

/// A soft-deleted order is gone for everyone but admins, and so are its
/// payments and assignments: its buyer, its seller and its agent no longer
/// see them in a list or by id. Restored, they are back.
async fn the_payments_and_assignments_of_a_deleted_order_are_gone_until_it_is_restored(backend: Backend) {
    use courier::domain::lookup::EntityKind;
    use courier::graphql::node::encode;
    let app = spawn_app(backend).await;
    app.seed(60).await;
    let agent = app.agent_of("agent@courier.test").await;
    // An order of this agent's with a payment, and an open offer in its zip codes.
    let mut own = None;
    for a in shipping_assignment::Entity::find()
        .filter(shipping_assignment::Column::AgentId.eq(agent.id))
        .all(&app.db)
        .await
        .expect("q")
    {
        let paid =
            payment::Entity::find().filter(payment::Column::OrderId.eq(a.order_id)).one(&app.db).await.expect("q");
        if let Some(p) = paid {
            own = Some((a, p));
            break;
        }
    }
    let (own, paid) = own.expect("the seed gives the agent a paid order");
    let mut open = None;
    for a in shipping_assignment::Entity::find()
        .filter(shipping_assignment::Column::AgentId.is_null())
        .filter(shipping_assignment::Column::Status.eq(AssignmentStatus::Offered))
        .all(&app.db)
        .await
        .expect("q")
    {
        let o = order::Entity::find_by_id(a.order_id).one(&app.db).await.expect("q").expect("order");
        if ["10115", "10117", "10119"].contains(&o.delivery_zip_code.as_str()) {
            open = Some(a);
            break;
        }
    }
    let open = open.expect("the seed offers an open assignment in the agent's zip codes");
    let orders = [own.order_id, open.order_id];
    let (own_id, open_id) =
        (encode(EntityKind::ShippingAssignment, own.id).0, encode(EntityKind::ShippingAssignment, open.id).0);
    let paid_id = encode(EntityKind::Payment, paid.id).0;
    let parties = order::Entity::find_by_id(own.order_id).one(&app.db).await.expect("q").expect("order");
    let buyer = user::Entity::find_by_id(parties.buyer_id).one(&app.db).await.expect("q").expect("buyer");
    let seller = user::Entity::find_by_id(parties.seller_id).one(&app.db).await.expect("q").expect("seller");
    let agent_token = app.token_for("agent@courier.test").await;
    let buyer_token = app.token_for(&buyer.email).await;
    let seller_token = app.token_for(&seller.email).await;
    let admin = app.token_for("admin@courier.test").await;

    let set_deleted = |deleted: bool| {
        let db = app.db.clone();
        async move {
            let at = deleted.then(chrono::Utc::now);
            order::Entity::update_many()
                .col_expr(order::Column::DeletedAt, sea_orm::sea_query::Expr::value(at))
                .filter(order::Column::Id.is_in(orders))
                .exec(&db)
                .await
                .expect("update");
        }
    };
    for deleted in [false, true, false] {
        set_deleted(deleted).await;
        let seen = !deleted;
        let listed = listed_ids(&app, "shippingAssignments", &agent_token).await;
        assert_eq!(listed.contains(&own_id), seen, "agent's own assignment listed, deleted={deleted}");
        assert_eq!(listed.contains(&open_id), seen, "open offer listed, deleted={deleted}");
        assert_eq!(node_seen(&app, &own_id, &agent_token).await, seen, "deleted={deleted}");
        assert_eq!(node_seen(&app, &open_id, &agent_token).await, seen, "deleted={deleted}");
        for token in [&buyer_token, &seller_token] {
            assert_eq!(listed_ids(&app, "shippingAssignments", token).await.contains(&own_id), seen);
            assert_eq!(listed_ids(&app, "payments", token).await.contains(&paid_id), seen);
            assert_eq!(node_seen(&app, &own_id, token).await, seen, "deleted={deleted}");
            assert_eq!(node_seen(&app, &paid_id, token).await, seen, "deleted={deleted}");
        }
        // Admins see every row.
        assert!(node_seen(&app, &own_id, &admin).await && node_seen(&app, &paid_id, &admin).await);
    }
}

async fn a_seller_sees_the_orders_placed_with_them(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(24).await;
    let me = user_id(&app, "seller2@courier.test").await;
    let token = app.token_for("seller2@courier.test").await;
    let expected = order::Entity::find().filter(order::Column::SellerId.eq(me)).count(&app.db).await.expect("count");
    assert!(expected > 0);
    assert_eq!(order_numbers(&app, &token).await.len() as u64, expected);
}

async fn an_agent_sees_their_assignments_and_open_offers_in_their_zip_codes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(60).await;
    let agent = app.agent_of("agent@courier.test").await;
    let token = app.token_for("agent@courier.test").await;
    let res = app
        .graphql("{ shippingAssignments(first: 100) { totalCount nodes { status agent { id } order { deliveryZipCode } } } }", Value::Null, Some(&token))
        .await;
    let data = res.data()["shippingAssignments"].clone();
    let agent_id = courier::graphql::node::encode(courier::domain::lookup::EntityKind::DeliveryAgent, agent.id);
    let mut open = 0;
    for node in data["nodes"].as_array().expect("nodes") {
        if node["agent"].is_null() {
            open += 1;
            assert_eq!(node["status"], "OFFERED");
            let zip = node["order"]["deliveryZipCode"].as_str().expect("the order of an open offer is visible");
            assert!(["10115", "10117", "10119"].contains(&zip), "open offer outside my zip codes: {zip}");
        } else {
            assert_eq!(node["agent"]["id"], agent_id.as_str());
        }
    }
    let mine = shipping_assignment::Entity::find()
        .filter(shipping_assignment::Column::AgentId.eq(agent.id))
        .count(&app.db)
        .await
        .expect("count");
    assert!(open > 0, "the seed offers open assignments");
    assert_eq!(data["totalCount"], mine + open);
    // Open offers elsewhere exist but are not shown.
    let all_open = shipping_assignment::Entity::find()
        .filter(shipping_assignment::Column::AgentId.is_null())
        .filter(shipping_assignment::Column::Status.eq(AssignmentStatus::Offered))
        .count(&app.db)
        .await
        .expect("count");
    assert!(all_open > open);
    // The agent has no orders of its own beyond those behind visible assignments.
    assert!(order_numbers(&app, &token).await.len() as u64 >= mine);
}

async fn admins_see_everything_and_others_cannot_list_users_or_audit_logs(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(30).await;
    let admin = app.token_for("admin@courier.test").await;
    assert_eq!(order_numbers(&app, &admin).await.len(), 30);
    let res =
        app.graphql("{ users(first: 50) { totalCount } auditLogs { totalCount } }", Value::Null, Some(&admin)).await;
    assert_eq!(res.data()["users"]["totalCount"], user::Entity::find().count(&app.db).await.expect("count"));
    assert_eq!(res.data()["auditLogs"]["totalCount"], 0);

    let buyer = app.token_for("buyer@courier.test").await;
    assert_eq!(app.graphql("{ users { totalCount } }", Value::Null, Some(&buyer)).await.code(), "FORBIDDEN");
    assert_eq!(app.graphql("{ auditLogs { totalCount } }", Value::Null, Some(&buyer)).await.code(), "FORBIDDEN");
    // Anonymous callers are told to sign in.
    assert_eq!(app.graphql("{ orders { totalCount } }", Value::Null, None).await.code(), "UNAUTHENTICATED");
}

async fn wallets_and_their_entries_are_private_to_their_owner(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(12).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let other = app.token_for("buyer2@courier.test").await;
    let wallet = app.graphql("{ viewer { wallet { id balance } } }", Value::Null, Some(&buyer)).await.data()["viewer"]
        ["wallet"]
        .clone();
    let q = "query($w: ID!) { wallet(id: $w) { balance } ledgerEntries(walletId: $w, first: 50) { totalCount nodes { amount entryType } } }";
    let res = app.graphql(q, json!({ "w": wallet["id"] }), Some(&buyer)).await;
    let entries = &res.data()["ledgerEntries"];
    let sum: i64 = entries["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["amount"].as_str().expect("amount").replace('.', "").parse::<i64>().expect("int"))
        .sum();
    assert_eq!(
        sum,
        wallet["balance"].as_str().expect("balance").replace('.', "").parse::<i64>().expect("int"),
        "entries sum to the balance"
    );
    assert_eq!(entries["totalCount"], entries["nodes"].as_array().expect("nodes").len());

    let res = app.graphql(q, json!({ "w": wallet["id"] }), Some(&other)).await;
    assert_eq!(res.code(), "NOT_FOUND");
    // Agents filter by zip code through the index.
    let res = app
        .graphql(
            "{ deliveryAgents(filter: { zipCode: \"20095\" }) { nodes { agentCode zipCodes } } }",
            Value::Null,
            Some(&other),
        )
        .await;
    let agents = res.data()["deliveryAgents"]["nodes"].as_array().expect("nodes");
    assert_eq!(agents.len(), 1);
    assert!(agents[0]["zipCodes"].as_array().expect("zips").iter().any(|z| z == "20095"));
}

on_both_backends!(
    a_buyer_sees_only_their_orders_everywhere,
    a_seller_sees_the_orders_placed_with_them,
    an_agent_sees_their_assignments_and_open_offers_in_their_zip_codes,
    buyers_and_sellers_see_the_assignments_of_their_orders_only,
    admins_see_everything_and_others_cannot_list_users_or_audit_logs,
    wallets_and_their_entries_are_private_to_their_owner,
    the_payments_and_assignments_of_a_deleted_order_are_gone_until_it_is_restored,
);
