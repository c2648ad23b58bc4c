//! Offering orders to agents and the accept race.

use chrono::Utc;
use entity::{
    AgentStatus, AssignmentStatus, OrderStatus, UserRole, audit_log, delivery_agent, delivery_agent_zip_code, order,
    shipping_assignment, user,
};
use futures_util::future::join_all;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};

use courier::domain::lookup::EntityKind;
use courier::graphql::node::encode;

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;

const OFFER: &str = "mutation($input: CreateShippingAssignmentInput!) { createShippingAssignment(input: $input) { id status agent { id } order { id } } }";
const ACCEPT: &str = "mutation($id: ID!) { acceptAssignment(input: { assignmentId: $id }) { id status agent { agentCode } acceptedAt } }";

/// A CONFIRMED demo order without an assignment, delivered to `zip`.
async fn confirmed_order(app: &TestApp, zip: &str) -> order::Model {
    let orders = order::Entity::find()
        .filter(order::Column::Status.eq(OrderStatus::Confirmed))
        .all(&app.db)
        .await
        .expect("orders");
    for o in orders {
        let assigned = shipping_assignment::Entity::find()
            .filter(shipping_assignment::Column::OrderId.eq(o.id))
            .count(&app.db)
            .await
            .expect("count");
        if assigned == 0 {
            let mut active: order::ActiveModel = o.into();
            active.delivery_zip_code = Set(zip.to_owned());
            return active.update(&app.db).await.expect("update");
        }
    }
    panic!("no confirmed order without an assignment in the seed");
}

/// `n` new agents serving `zip`, returning their emails.
async fn agents(app: &TestApp, n: usize, zip: &str) -> Vec<String> {
    let mut emails = Vec::new();
    for i in 0..n {
        let now = Utc::now();
        let email = format!("racer{i}@courier.test");
        let user = app.create_user(&email, UserRole::Agent).await;
        let agent = delivery_agent::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            user_id: Set(user.id),
            agent_code: Set(format!("RACE-{i:02}")),
            status: Set(AgentStatus::Active),
            is_available: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&app.db)
        .await
        .expect("agent");
        delivery_agent_zip_code::ActiveModel { agent_id: Set(agent.id), zip_code: Set(zip.to_owned()) }
            .insert(&app.db)
            .await
            .expect("zip");
        emails.push(email);
    }
    emails
}

async fn offer(app: &TestApp, order: &order::Model, agent: Option<String>) -> crate::helpers::GqlResponse {
    let seller = user::Entity::find_by_id(order.seller_id).one(&app.db).await.expect("q").expect("seller");
    let token = app.token_for(&seller.email).await;
    let input = json!({ "orderId": encode(EntityKind::Order, order.id).0, "agentId": agent, "estimatedDeliveryTime": Utc::now().to_rfc3339() });
    app.graphql(OFFER, json!({ "input": input }), Some(&token)).await
}

async fn a_seller_offers_a_confirmed_order_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(20).await;
    let order = confirmed_order(&app, "10115").await;
    let res = offer(&app, &order, None).await;
    let created = &res.data()["createShippingAssignment"];
    assert_eq!(created["status"], "OFFERED");
    assert_eq!(created["agent"], Value::Null);
    assert_eq!(created["order"]["id"], encode(EntityKind::Order, order.id).0);

    let again = offer(&app, &order, None).await;
    assert_eq!(again.error()["extensions"]["rule"], "ORDER_ALREADY_ASSIGNED");

    let pending = order::Entity::find()
        .filter(order::Column::Status.eq(OrderStatus::Pending))
        .one(&app.db)
        .await
        .expect("q")
        .expect("pending");
    assert_eq!(offer(&app, &pending, None).await.error()["extensions"]["rule"], "ORDER_NOT_CONFIRMED");

    let buyer = user::Entity::find_by_id(order.buyer_id).one(&app.db).await.expect("q").expect("buyer");
    let token = app.token_for(&buyer.email).await;
    let input = json!({ "orderId": encode(EntityKind::Order, order.id).0 });
    assert_eq!(app.graphql(OFFER, json!({ "input": input }), Some(&token)).await.code(), "FORBIDDEN");
}

async fn twenty_agents_accepting_one_open_offer_let_exactly_one_win(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(20).await;
    let order = confirmed_order(&app, "77777").await;
    let assignment_id =
        offer(&app, &order, None).await.data()["createShippingAssignment"]["id"].as_str().expect("id").to_owned();
    let emails = agents(&app, 20, "77777").await;
    let mut tokens = Vec::new();
    for email in &emails {
        tokens.push(app.token_for(email).await);
    }
    let vars = json!({ "id": assignment_id });
    let results = join_all(tokens.iter().map(|t| app.graphql(ACCEPT, vars.clone(), Some(t)))).await;

    let winners: Vec<&crate::helpers::GqlResponse> =
        results.iter().filter(|r| r.body.get("errors").is_none()).collect();
    assert_eq!(winners.len(), 1, "exactly one agent wins");
    assert_eq!(winners[0].data()["acceptAssignment"]["status"], "ACCEPTED");
    for loser in results.iter().filter(|r| r.body.get("errors").is_some()) {
        let code = loser.code();
        let rule = loser.error()["extensions"]["rule"].as_str().unwrap_or_default();
        assert!(code == "CONFLICT" || rule == "ASSIGNMENT_ALREADY_ACCEPTED", "{}", loser.body);
    }
    let (_, uuid) = courier::graphql::node::decode(&async_graphql::ID(assignment_id), "id").expect("id");
    let stored = shipping_assignment::Entity::find_by_id(uuid).one(&app.db).await.expect("q").expect("assignment");
    assert_eq!(stored.status, AssignmentStatus::Accepted);
    assert_eq!(stored.version, 1);
    let winner_code = winners[0].data()["acceptAssignment"]["agent"]["agentCode"].as_str().expect("code").to_owned();
    let agent = delivery_agent::Entity::find_by_id(stored.agent_id.expect("agent"))
        .one(&app.db)
        .await
        .expect("q")
        .expect("agent");
    assert_eq!(agent.agent_code, winner_code, "the stored agent is the one told it won");
    let accepted_rows = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("shipping_assignment.accepted"))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(accepted_rows, 1);
}

async fn an_agent_must_be_active_and_available(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(20).await;
    let order = confirmed_order(&app, "55555").await;
    let assignment = offer(&app, &order, None).await.data()["createShippingAssignment"]["id"].clone();
    let emails = agents(&app, 2, "55555").await;
    let set_agent = |email: String, status: AgentStatus, available: bool| {
        let app = &app;
        async move {
            let mut active: delivery_agent::ActiveModel = app.agent_of(&email).await.into();
            active.status = Set(status);
            active.is_available = Set(available);
            active.update(&app.db).await.expect("update");
        }
    };
    set_agent(emails[0].clone(), AgentStatus::Suspended, true).await;
    set_agent(emails[1].clone(), AgentStatus::Active, false).await;
    let res = app.graphql(ACCEPT, json!({ "id": assignment }), Some(&app.token_for(&emails[0]).await)).await;
    assert_eq!(res.error()["extensions"]["rule"], "AGENT_NOT_ACTIVE");
    let res = app.graphql(ACCEPT, json!({ "id": assignment }), Some(&app.token_for(&emails[1]).await)).await;
    assert_eq!(res.error()["extensions"]["rule"], "AGENT_NOT_AVAILABLE");
    // A buyer is not an agent at all.
    let buyer = app.token_for("buyer@courier.test").await;
    assert_eq!(app.graphql(ACCEPT, json!({ "id": assignment }), Some(&buyer)).await.code(), "FORBIDDEN");
}

/// An open offer outside an agent's zip codes is one they cannot see
/// (`shippingAssignments`, `node`), so accepting it answers NOT_FOUND like an
/// id that does not exist, never a rule naming its zip code or its status.
/// An agent serving the zip code saw the offer and is told why it failed.
async fn an_offer_outside_the_agents_zip_codes_does_not_exist_for_them(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(20).await;
    let order = confirmed_order(&app, "55555").await;
    let assignment = offer(&app, &order, None).await.data()["createShippingAssignment"]["id"].clone();
    // agent@ serves 10115..10119, not 55555.
    let outsider = app.token_for("agent@courier.test").await;
    let seen =
        app.graphql("query($id: ID!) { node(id: $id) { id } }", json!({ "id": assignment }), Some(&outsider)).await;
    assert_eq!(seen.code(), "NOT_FOUND", "the outsider cannot read the offer: {}", seen.body);
    let unknown = encode(EntityKind::ShippingAssignment, uuid::Uuid::now_v7()).0;
    let missing = app.graphql(ACCEPT, json!({ "id": unknown }), Some(&outsider)).await;
    assert_eq!(missing.code(), "NOT_FOUND", "{}", missing.body);

    let res = app.graphql(ACCEPT, json!({ "id": assignment }), Some(&outsider)).await;
    assert_eq!(res.code(), "NOT_FOUND", "{}", res.body);
    assert_eq!(res.error()["extensions"].get("context"), missing.error()["extensions"].get("context"), "{}", res.body);
    assert!(!res.body.to_string().contains("55555"), "the zip code leaks: {}", res.body);

    let emails = agents(&app, 2, "55555").await;
    let winner = app.graphql(ACCEPT, json!({ "id": assignment }), Some(&app.token_for(&emails[0]).await)).await;
    assert_eq!(winner.data()["acceptAssignment"]["status"], "ACCEPTED");
    let late = app.graphql(ACCEPT, json!({ "id": assignment }), Some(&app.token_for(&emails[1]).await)).await;
    assert_eq!(late.error()["extensions"]["rule"], "ASSIGNMENT_ALREADY_ACCEPTED", "{}", late.body);
    let res = app.graphql(ACCEPT, json!({ "id": assignment }), Some(&outsider)).await;
    assert_eq!(res.code(), "NOT_FOUND", "a taken offer stays unseen: {}", res.body);

    // Offered by name to one agent and taken by it: another agent serving
    // the zip code was never offered it either.
    let direct = confirmed_order(&app, "55555").await;
    let named = app.agent_of(&emails[0]).await;
    let offered = offer(&app, &direct, Some(encode(EntityKind::DeliveryAgent, named.id).0)).await;
    let direct_id = offered.data()["createShippingAssignment"]["id"].clone();
    let other = app.token_for(&emails[1]).await;
    let res = app.graphql(ACCEPT, json!({ "id": direct_id }), Some(&other)).await;
    assert_eq!(res.code(), "NOT_FOUND", "offered to another by name: {}", res.body);
    let taken = app.graphql(ACCEPT, json!({ "id": direct_id }), Some(&app.token_for(&emails[0]).await)).await;
    assert_eq!(taken.data()["acceptAssignment"]["status"], "ACCEPTED");
    let res = app.graphql(ACCEPT, json!({ "id": direct_id }), Some(&other)).await;
    assert_eq!(res.code(), "NOT_FOUND", "taken by the agent it was offered to: {}", res.body);
    let stored = shipping_assignment::Entity::find()
        .filter(shipping_assignment::Column::OrderId.eq(order.id))
        .one(&app.db)
        .await
        .expect("q")
        .expect("assignment");
    assert_eq!(stored.version, 1, "only the winner changed it");
}

/// What a mutation answers is what every later read shows: the times it
/// stamps are cut to the microseconds both databases keep (PostgreSQL would
/// otherwise round away the nanoseconds the answer carried).
async fn a_mutations_timestamps_are_the_ones_later_read(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(20).await;
    let order = confirmed_order(&app, "10115").await;
    let order_id = encode(EntityKind::Order, order.id).0;
    let seller = user::Entity::find_by_id(order.seller_id).one(&app.db).await.expect("q").expect("seller");
    let seller = app.token_for(&seller.email).await;
    let agent = app.token_for("agent@courier.test").await;
    let offered = app
        .graphql(
            "mutation($input: CreateShippingAssignmentInput!) { createShippingAssignment(input: $input) { id createdAt estimatedDeliveryTime order { updatedAt } } }",
            json!({ "input": { "orderId": order_id, "estimatedDeliveryTime": "2027-03-01T10:00:00.123456789+02:00" } }),
            Some(&seller),
        )
        .await;
    let offered = &offered.data()["createShippingAssignment"];
    let id = offered["id"].clone();
    let accepted = app.graphql(ACCEPT, json!({ "id": id }), Some(&agent)).await;
    let accepted = &accepted.data()["acceptAssignment"];
    let picked = app
        .graphql(
            "mutation($id: ID!) { pickUpAssignment(input: { assignmentId: $id }) { pickedUpAt order { updatedAt } } }",
            json!({ "id": id }),
            Some(&agent),
        )
        .await;
    let picked = &picked.data()["pickUpAssignment"];
    let read = app
        .graphql(
            "query($id: ID!) { node(id: $id) { ... on ShippingAssignment { createdAt estimatedDeliveryTime acceptedAt pickedUpAt order { updatedAt } } } }",
            json!({ "id": id }),
            Some(&agent),
        )
        .await;
    let read = &read.data()["node"];
    assert_eq!(read["createdAt"], offered["createdAt"]);
    // An input's digits past the microsecond are cut, as both databases keep microseconds.
    assert_eq!(offered["estimatedDeliveryTime"], "2027-03-01T08:00:00.123456+00:00");
    assert_eq!(read["estimatedDeliveryTime"], offered["estimatedDeliveryTime"]);
    assert_eq!(read["acceptedAt"], accepted["acceptedAt"]);
    assert_eq!(read["pickedUpAt"], picked["pickedUpAt"]);
    assert_eq!(read["order"]["updatedAt"], picked["order"]["updatedAt"]);
    assert!(read["acceptedAt"].is_string() && read["order"]["updatedAt"].is_string(), "{read}");

    let buyer = user::Entity::find_by_id(order.buyer_id).one(&app.db).await.expect("q").expect("buyer");
    let buyer = app.token_for(&buyer.email).await;
    let seller_id = encode(EntityKind::User, order.seller_id).0;
    let created = app
        .graphql(
            "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id createdAt updatedAt } }",
            json!({ "input": { "sellerId": seller_id, "items": [{ "name": "Tea", "quantity": 1, "unitPrice": "4.20" }], "deliveryZipCode": "10115", "currency": "USD" } }),
            Some(&buyer),
        )
        .await;
    let created = &created.data()["createOrder"];
    let read = app
        .graphql(
            "query($id: ID!) { order(id: $id) { createdAt updatedAt } }",
            json!({ "id": created["id"] }),
            Some(&buyer),
        )
        .await;
    assert_eq!(read.data()["order"]["createdAt"], created["createdAt"]);
    assert_eq!(read.data()["order"]["updatedAt"], created["updatedAt"]);

    let admin = app.token_for("admin@courier.test").await;
    // Seeded rows too keep microseconds (SQLite stored what it was given).
    let seeded = app
        .graphql("{ shippingAssignments(first: 50) { nodes { createdAt acceptedAt } } }", Value::Null, Some(&admin))
        .await;
    for node in seeded.data()["shippingAssignments"]["nodes"].as_array().expect("nodes") {
        for at in [&node["createdAt"], &node["acceptedAt"]].into_iter().filter_map(Value::as_str) {
            let fraction = at.split_once('.').map_or("", |(_, f)| f.trim_end_matches("+00:00"));
            assert!(fraction.len() <= 6, "more than microseconds: {at}");
        }
    }

    // A top-up's credit is applied at commit, stamped with the time answered.
    let wallet = app.graphql("{ viewer { wallet { id } } }", Value::Null, Some(&buyer)).await;
    let wallet = wallet.data()["viewer"]["wallet"]["id"].clone();
    let topped = app
        .graphql(
            "mutation($input: TopUpWalletInput!) { topUpWallet(input: $input) { version updatedAt } }",
            json!({ "input": { "walletId": wallet, "amount": "1.00", "idempotencyKey": uuid::Uuid::now_v7().to_string() } }),
            Some(&admin),
        )
        .await;
    let read = app
        .graphql(
            "query($id: ID!) { node(id: $id) { ... on Wallet { version updatedAt } } }",
            json!({ "id": wallet }),
            Some(&admin),
        )
        .await;
    assert_eq!(read.data()["node"], topped.data()["topUpWallet"]);
}

async fn step(app: &TestApp, token: &str, mutation: &str, id: &Value) -> crate::helpers::GqlResponse {
    let query = format!(
        "mutation($id: ID!) {{ {mutation}(input: {{ assignmentId: $id }}) {{ status pickedUpAt deliveredAt order {{ status version }} }} }}"
    );
    app.graphql(&query, json!({ "id": id }), Some(token)).await
}

async fn an_agent_delivers_and_the_order_follows_the_assignment(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(20).await;
    let order = confirmed_order(&app, "10115").await;
    let id = offer(&app, &order, None).await.data()["createShippingAssignment"]["id"].clone();
    let agent = app.token_for("agent@courier.test").await;
    let other = app.token_for("agent2@courier.test").await;

    // Delivering before picking up is not a step of the delivery.
    assert_eq!(
        app.graphql(ACCEPT, json!({ "id": id }), Some(&agent)).await.data()["acceptAssignment"]["status"],
        "ACCEPTED"
    );
    let early = step(&app, &agent, "confirmDelivery", &id).await;
    assert_eq!(early.error()["extensions"]["rule"], "INVALID_ASSIGNMENT_TRANSITION");
    assert_eq!(early.error()["extensions"]["context"]["currentStatus"], "ACCEPTED");
    // Another agent cannot move it.
    assert_eq!(step(&app, &other, "pickUpAssignment", &id).await.code(), "NOT_FOUND");

    let picked = step(&app, &agent, "pickUpAssignment", &id).await;
    let picked = &picked.data()["pickUpAssignment"];
    assert_eq!(picked["status"], "PICKED_UP");
    assert!(picked["pickedUpAt"].is_string());
    assert_eq!(picked["order"]["status"], "SHIPPING");
    assert_eq!(picked["order"]["version"], order.version + 1);
    assert_eq!(step(&app, &agent, "startTransit", &id).await.data()["startTransit"]["status"], "IN_TRANSIT");
    let delivered = step(&app, &agent, "confirmDelivery", &id).await;
    let delivered = &delivered.data()["confirmDelivery"];
    assert_eq!(delivered["status"], "DELIVERED");
    assert!(delivered["deliveredAt"].is_string());
    assert_eq!(delivered["order"]["status"], "DELIVERED");
    let stored = order::Entity::find_by_id(order.id).one(&app.db).await.expect("q").expect("order");
    assert_eq!(stored.status, OrderStatus::Delivered);
    assert_eq!(stored.version, order.version + 2);
}

/// A step refused after the assignment was locked releases the lock before
/// the answer goes out: the agent's next step, sent at once, is judged on
/// its own and never meets the refused step's lock (`CONFLICT`).
async fn a_refused_step_leaves_no_lock_behind(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(20).await;
    let order = confirmed_order(&app, "10115").await;
    let id = offer(&app, &order, None).await.data()["createShippingAssignment"]["id"].clone();
    let agent = app.token_for("agent@courier.test").await;
    assert_eq!(
        app.graphql(ACCEPT, json!({ "id": id }), Some(&agent)).await.data()["acceptAssignment"]["status"],
        "ACCEPTED"
    );
    // Reads keep the server busy meanwhile, so that a rollback left to the
    // connection's return to the pool would run late.
    let admin = app.token_for("admin@courier.test").await;
    let done = std::sync::atomic::AtomicBool::new(false);
    let load = || async {
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            let page =
                app.graphql("{ orders(first: 20) { nodes { id items { name } } } }", json!({}), Some(&admin)).await;
            assert!(page.body["errors"].is_null(), "{}", page.body);
        }
    };
    let steps = async {
        for attempt in 0..60 {
            let early = step(&app, &agent, "confirmDelivery", &id).await;
            let rule = &early.error()["extensions"]["rule"];
            assert_eq!(rule, "INVALID_ASSIGNMENT_TRANSITION", "attempt {attempt}: {}", early.body);
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    };
    tokio::join!(steps, load(), load(), load(), load());
    let picked = step(&app, &agent, "pickUpAssignment", &id).await;
    assert_eq!(picked.data()["pickUpAssignment"]["status"], "PICKED_UP");
}

async fn a_failed_delivery_returns_the_order_for_a_new_offer(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(20).await;
    let order = confirmed_order(&app, "10117").await;
    let id = offer(&app, &order, None).await.data()["createShippingAssignment"]["id"].clone();
    let agent = app.token_for("agent@courier.test").await;
    app.graphql(ACCEPT, json!({ "id": id }), Some(&agent)).await.data();
    step(&app, &agent, "pickUpAssignment", &id).await.data();
    let failed = app
        .graphql(
            "mutation($id: ID!) { failAssignment(input: { assignmentId: $id, reason: \"Nobody home\" }) { status failureReason order { status } } }",
            json!({ "id": id }),
            Some(&agent),
        )
        .await;
    let failed = &failed.data()["failAssignment"];
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["failureReason"], "Nobody home");
    assert_eq!(failed["order"]["status"], "CONFIRMED");
    // The order can be offered again.
    let again = offer(&app, &order, None).await;
    assert_eq!(again.data()["createShippingAssignment"]["status"], "OFFERED");
}

async fn agent_metrics_are_computed_over_delivered_assignments(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(80).await;
    let agent_user = courier::domain::users::find_by_email(&app.db, "agent@courier.test").await.expect("agent");
    let agent = delivery_agent::Entity::find()
        .filter(delivery_agent::Column::UserId.eq(agent_user.id))
        .one(&app.db)
        .await
        .expect("q")
        .expect("agent");
    let delivered: Vec<shipping_assignment::Model> = shipping_assignment::Entity::find()
        .filter(shipping_assignment::Column::AgentId.eq(agent.id))
        .filter(shipping_assignment::Column::Status.eq(AssignmentStatus::Delivered))
        .all(&app.db)
        .await
        .expect("rows");
    assert!(!delivered.is_empty());
    let on_time = delivered.iter().filter(|a| a.delivered_at <= a.estimated_delivery_time).count();
    let minutes: f64 = delivered
        .iter()
        .map(|a| (a.delivered_at.expect("delivered") - a.accepted_at.expect("accepted")).num_seconds() as f64 / 60.0)
        .sum::<f64>()
        / delivered.len() as f64;

    let q = "query($id: ID!, $from: DateTime) { deliveryAgent(id: $id) { metrics(from: $from) { deliveredCount onTimeCount onTimeRate averageDeliveryMinutes } } }";
    let id = encode(EntityKind::DeliveryAgent, agent.id).0;
    let token = app.token_for("agent@courier.test").await;
    let res = app.graphql(q, json!({ "id": id }), Some(&token)).await;
    let m = &res.data()["deliveryAgent"]["metrics"];
    assert_eq!(m["deliveredCount"], delivered.len());
    assert_eq!(m["onTimeCount"], on_time);
    let rate = m["onTimeRate"].as_f64().expect("rate");
    assert!((rate - on_time as f64 / delivered.len() as f64).abs() < 1e-9);
    let avg = m["averageDeliveryMinutes"].as_f64().expect("average");
    assert!((avg - minutes).abs() < 0.01, "{avg} vs {minutes}");

    // A window after every delivery holds none.
    let res = app
        .graphql(q, json!({ "id": id, "from": (Utc::now() + chrono::Duration::days(1)).to_rfc3339() }), Some(&token))
        .await;
    let m = &res.data()["deliveryAgent"]["metrics"];
    assert_eq!(m["deliveredCount"], 0);
    assert_eq!(m["onTimeRate"], Value::Null);
    // Other users may see the agent but not its metrics.
    let buyer = app.token_for("buyer@courier.test").await;
    assert_eq!(app.graphql(q, json!({ "id": id }), Some(&buyer)).await.code(), "FORBIDDEN");
}

async fn cancelling_an_order_withdraws_its_offer(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(20).await;
    let order = confirmed_order(&app, "10115").await;
    let id = offer(&app, &order, None).await.data()["createShippingAssignment"]["id"].clone();
    let buyer = user::Entity::find_by_id(order.buyer_id).one(&app.db).await.expect("q").expect("buyer");
    let token = app.token_for(&buyer.email).await;
    let cancel = "mutation($id: ID!) { cancelOrder(input: { orderId: $id, reason: \"no longer needed\" }) { status } }";
    let res = app.graphql(cancel, json!({ "id": encode(EntityKind::Order, order.id).0 }), Some(&token)).await;
    assert_eq!(res.data()["cancelOrder"]["status"], "CANCELLED");
    let (_, uuid) =
        courier::graphql::node::decode(&async_graphql::ID(id.as_str().expect("id").to_owned()), "id").expect("id");
    let stored = shipping_assignment::Entity::find_by_id(uuid).one(&app.db).await.expect("q").expect("assignment");
    assert_eq!(stored.status, AssignmentStatus::Cancelled);
    let agent = app.token_for("agent@courier.test").await;
    let res = app.graphql(ACCEPT, json!({ "id": id }), Some(&agent)).await;
    assert_eq!(res.error()["extensions"]["rule"], "ASSIGNMENT_WITHDRAWN", "{}", res.body);
    let withdrawn = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("shipping_assignment.withdrawn"))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(withdrawn, 1);
}

/// Found by the outside tester: an admin could move a SHIPPING order back
/// to CONFIRMED and cancel it while the agent held the goods. An order out
/// for delivery now moves only with its delivery.
async fn an_order_out_for_delivery_moves_only_with_its_delivery(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(20).await;
    let order = confirmed_order(&app, "10115").await;
    let id = offer(&app, &order, None).await.data()["createShippingAssignment"]["id"].clone();
    let agent = app.token_for("agent@courier.test").await;
    let admin = app.token_for("admin@courier.test").await;
    app.graphql(ACCEPT, json!({ "id": id }), Some(&agent)).await.data();
    assert_eq!(
        step(&app, &agent, "pickUpAssignment", &id).await.data()["pickUpAssignment"]["order"]["status"],
        "SHIPPING"
    );
    let order_id = encode(EntityKind::Order, order.id).0;
    let set = |status: &'static str| {
        let input = json!({ "input": { "orderId": order_id, "status": status } });
        let admin = admin.clone();
        let app = &app;
        async move {
            app.graphql(
                "mutation($input: UpdateOrderStatusInput!) { updateOrderStatus(input: $input) { status } }",
                input,
                Some(&admin),
            )
            .await
        }
    };
    let back = set("CONFIRMED").await;
    assert_eq!(back.error()["extensions"]["rule"], "ORDER_IN_DELIVERY", "{}", back.body);
    let cancel = set("CANCELLED").await;
    assert_eq!(cancel.error()["extensions"]["rule"], "ORDER_CANNOT_CANCEL_AFTER_SHIPPING");
    let delete = app
        .graphql("mutation($id: ID!) { deleteOrder(id: $id) { id } }", json!({ "id": order_id }), Some(&admin))
        .await;
    assert_eq!(delete.error()["extensions"]["rule"], "ORDER_IN_DELIVERY", "{}", delete.body);
    let stored = order::Entity::find_by_id(order.id).one(&app.db).await.expect("q").expect("order");
    assert_eq!((stored.status, stored.deleted_at), (OrderStatus::Shipping, None));
    // The delivery still ends it.
    assert_eq!(
        step(&app, &agent, "confirmDelivery", &id).await.data()["confirmDelivery"]["order"]["status"],
        "DELIVERED"
    );
}

on_both_backends!(
    an_order_out_for_delivery_moves_only_with_its_delivery,
    cancelling_an_order_withdraws_its_offer,
    agent_metrics_are_computed_over_delivered_assignments,
    an_agent_delivers_and_the_order_follows_the_assignment,
    a_refused_step_leaves_no_lock_behind,
    a_failed_delivery_returns_the_order_for_a_new_offer,
    a_seller_offers_a_confirmed_order_once,
    twenty_agents_accepting_one_open_offer_let_exactly_one_win,
    an_agent_must_be_active_and_available,
    an_offer_outside_the_agents_zip_codes_does_not_exist_for_them,
    a_mutations_timestamps_are_the_ones_later_read,
);
