//! Dataloaders keep a nested page at a constant number of SQL statements.

use courier::domain::lookup::EntityKind;
use courier::graphql::node::encode;
use entity::{AssignmentStatus, PaymentStatus, delivery_agent, payment, shipping_assignment};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::helpers::{Backend, GqlResponse, spawn_app_with};
use crate::on_both_backends;

const NESTED: &str = "query($n: Int!) {
  orders(first: $n) { edges { node {
    id
    buyer { displayName }
    items { name }
    payment { status amount ledgerEntries { amount } }
    assignments { status agent { agentCode user { displayName } } }
  } } }
}";

const ONE: &str = "query($id: ID!) { order(id: $id) {
    id
    buyer { displayName }
    items { name }
    payment { status amount ledgerEntries { amount } }
    assignments { status agent { agentCode user { displayName } } }
} }";

fn statements(res: &GqlResponse) -> u64 {
    res.body["extensions"]["sqlStatements"].as_u64().unwrap_or_else(|| panic!("no sqlStatements: {}", res.body))
}

async fn a_nested_page_costs_the_same_statements_for_5_and_100_orders(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.debug_sql_count = true).await;
    app.seed(120).await;
    let token = app.token_for("admin@courier.test").await;
    app.warm(&token).await;
    let small = app.graphql(NESTED, json!({ "n": 5 }), Some(&token)).await;
    let large = app.graphql(NESTED, json!({ "n": 100 }), Some(&token)).await;
    let edges = large.data()["orders"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 100);
    // The page really is nested: payments with ledger legs, agents with users.
    assert!(edges.iter().any(|e| e["node"]["payment"]["ledgerEntries"].as_array().is_some_and(|l| l.len() == 3)));
    assert!(edges.iter().any(|e| e["node"]["assignments"][0]["agent"]["user"]["displayName"].is_string()));
    assert_eq!(small.data()["orders"]["edges"].as_array().expect("edges").len(), 5);
    // (viewer) + on PostgreSQL the orders and every relation in one
    // statement; on SQLite the orders, then buyers + items + payments +
    // entries + assignments joined with agents and their users
    let reads = if backend == Backend::Postgres { 1 } else { 1 + 5 };
    assert_eq!(statements(&small), app.auth_statements() + reads, "{}", small.body["extensions"]);
    assert_eq!(statements(&large), statements(&small));

    // One order: on PostgreSQL the order and its relations are one statement.
    let id =
        &edges.iter().find(|e| !e["node"]["assignments"][0]["agent"].is_null()).expect("an assigned order")["node"];
    let res = app.graphql(ONE, json!({ "id": id["id"] }), Some(&token)).await;
    assert_eq!(&res.data()["order"], id, "order(id:) answers like the page");
    let reads = if backend == Backend::Postgres { 1 } else { 1 + 5 };
    assert_eq!(statements(&res), app.auth_statements() + reads, "{}", res.body["extensions"]);
}

async fn nested_connections_page_every_parent_in_one_statement(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.debug_sql_count = true).await;
    app.seed(60).await;
    let token = app.token_for("admin@courier.test").await;
    app.warm(&token).await;
    let res = app
        .graphql(
            "{ deliveryAgents(first: 10) { nodes { id agentCode assignments(first: 3) { totalCount pageInfo { hasNextPage } nodes { agent { id } } } } } }",
            Value::Null,
            Some(&token),
        )
        .await;
    let agents = res.data()["deliveryAgents"]["nodes"].as_array().expect("agents").clone();
    assert_eq!(agents.len(), 2);
    for agent in &agents {
        let page = &agent["assignments"];
        let nodes = page["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), 3, "60 orders give each agent more than 3 assignments");
        assert_eq!(page["pageInfo"]["hasNextPage"], true);
        assert!(nodes.iter().all(|n| n["agent"]["id"] == agent["id"]));
        let row = delivery_agent::Entity::find()
            .filter(delivery_agent::Column::AgentCode.eq(agent["agentCode"].as_str().expect("code")))
            .one(&app.db)
            .await
            .expect("query")
            .expect("agent");
        let expected = shipping_assignment::Entity::find()
            .filter(shipping_assignment::Column::AgentId.eq(row.id))
            .count(&app.db)
            .await
            .expect("count");
        assert_eq!(page["totalCount"], expected);
    }
    // (viewer) + agents + one windowed statement for every agent's page + one
    // grouped COUNT for every agent's totalCount + the agents of those assignments
    assert_eq!(statements(&res), app.auth_statements() + 4, "{}", res.body["extensions"]);

    let res = app
        .graphql(
            "{ users(first: 20) { nodes { wallet { ledgerEntries(first: 2) { nodes { amount } } } } } }",
            Value::Null,
            Some(&token),
        )
        .await;
    let users = res.data()["users"]["nodes"].as_array().expect("users");
    assert_eq!(users.len(), 9);
    assert!(
        users
            .iter()
            .all(|u| u["wallet"]["ledgerEntries"]["nodes"].as_array().is_some_and(|n| !n.is_empty() && n.len() <= 2))
    );
    // (viewer) + users + wallets + one windowed statement for every wallet's entries
    assert_eq!(statements(&res), app.auth_statements() + 3, "{}", res.body["extensions"]);
}

async fn agent_metrics_cost_the_same_statements_for_2_and_20_agents(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.debug_sql_count = true).await;
    app.seed(60).await;
    let admin = app.token_for("admin@courier.test").await;
    // The demo data has 2 agents with deliveries; register 18 more (no deliveries).
    for i in 0..18 {
        let user = app.create_user(&format!("metrics-agent{i}@courier.test"), entity::UserRole::Agent).await;
        let res = app
            .graphql(
                "mutation($input: RegisterDeliveryAgentInput!) { registerDeliveryAgent(input: $input) { id } }",
                json!({ "input": {
                    "userId": encode(EntityKind::User, user.id).0,
                    "agentCode": format!("MTR-{i:02}"),
                    "zipCodes": ["10001"],
                } }),
                Some(&admin),
            )
            .await;
        assert!(res.body["errors"].is_null(), "{}", res.body);
    }
    let page = |n: u64| {
        format!(
            "{{ deliveryAgents(first: {n}, orderBy: {{ field: CREATED_AT, direction: ASC }}) {{ nodes {{ id metrics {{ deliveredCount onTimeCount averageDeliveryMinutes }} }} }} }}"
        )
    };
    app.warm(&admin).await;
    let small = app.graphql(&page(2), Value::Null, Some(&admin)).await;
    let large = app.graphql(&page(20), Value::Null, Some(&admin)).await;
    let nodes = large.data()["deliveryAgents"]["nodes"].as_array().expect("agents").clone();
    assert_eq!(nodes.len(), 20);
    assert_eq!(small.data()["deliveryAgents"]["nodes"].as_array().expect("agents").len(), 2);
    // (viewer) + agents + one grouped statement for every agent's metrics
    assert_eq!(statements(&small), app.auth_statements() + 2, "{}", small.body["extensions"]);
    assert_eq!(statements(&large), statements(&small));
    // Each agent's figures are its own: the same as asking for that agent alone.
    let one =
        "query($id: ID!) { deliveryAgent(id: $id) { metrics { deliveredCount onTimeCount averageDeliveryMinutes } } }";
    for node in &nodes {
        let alone = app.graphql(one, json!({ "id": node["id"] }), Some(&admin)).await;
        assert_eq!(alone.data()["deliveryAgent"]["metrics"], node["metrics"], "{}", node["id"]);
    }
    assert!(nodes.iter().filter(|n| n["metrics"]["deliveredCount"].as_u64() > Some(0)).count() >= 2);
    assert_eq!(nodes.iter().filter(|n| n["metrics"]["deliveredCount"] == 0).count(), 18);
}

async fn a_metrics_window_that_cannot_be_stored_fails_alone(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    app.seed(20).await;
    let admin = app.token_for("admin@courier.test").await;
    let q = "query($f: DateTime) { deliveryAgents(first: 2) { nodes { agentCode ok: metrics { deliveredCount } bad: metrics(from: $f) { deliveredCount } } } }";
    for far in ["-10000-01-01T00:00:00Z", "+10000-01-01T00:00:00Z"] {
        let res = app.graphql(q, json!({ "f": far }), Some(&admin)).await;
        let errors = res.body["errors"].as_array().expect("errors").clone();
        assert!(!errors.is_empty(), "{}", res.body);
        assert!(
            errors.iter().all(|e| e["extensions"]["code"] == "BAD_USER_INPUT" && e["path"][3] == "bad"),
            "{errors:?}"
        );
        assert!(errors[0]["message"].as_str().is_some_and(|m| m.contains("DateTime")), "{errors:?}");
    }
    // Without the bad window every field answers.
    let res = app
        .graphql("{ deliveryAgents(first: 2) { nodes { ok: metrics { deliveredCount } } } }", Value::Null, Some(&admin))
        .await;
    assert!(res.data()["deliveryAgents"]["nodes"][0]["ok"]["deliveredCount"].is_u64());
}

async fn each_mutation_of_a_document_reads_what_the_ones_before_it_wrote(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    app.seed(0).await;
    let admin = app.token_for("admin@courier.test").await;
    let buyer = courier::domain::users::find_by_email(&app.db, "buyer@courier.test").await.expect("buyer");
    let wallet = entity::wallet::Entity::find()
        .filter(entity::wallet::Column::UserId.eq(buyer.id))
        .one(&app.db)
        .await
        .expect("query")
        .expect("wallet");
    let id = encode(EntityKind::Wallet, wallet.id).0;
    // Each top-up reads its owner's wallet through the loaders: the second
    // must see the first's money, not what the first one loaded.
    let res = app
        .graphql(
            "mutation($id: ID!) {
               a: topUpWallet(input: { walletId: $id, amount: \"1.00\", idempotencyKey: \"fresh-a\" }) { owner { wallet { balance } } }
               b: topUpWallet(input: { walletId: $id, amount: \"1.00\", idempotencyKey: \"fresh-b\" }) { owner { wallet { balance } } }
             }",
            json!({ "id": id }),
            Some(&admin),
        )
        .await;
    let cents = |key: &str| -> i64 {
        res.data()[key]["owner"]["wallet"]["balance"]
            .as_str()
            .expect("balance")
            .replace('.', "")
            .parse()
            .expect("cents")
    };
    assert_eq!(cents("a"), wallet.balance_minor + 100, "{}", res.body);
    assert_eq!(cents("b"), wallet.balance_minor + 200, "{}", res.body);
}

/// Every field of an order that the page reads in advance, and some it does
/// not (they go through the loaders from inside the preloaded page), with
/// fragments, aliases, `__typename` and a field selected twice.
const ORDER_FIELDS: &str = "fragment Party on User { id displayName email role createdAt updatedAt deletedAt }
fragment Rich on Order {
  __typename id orderNumber status total currency version cancelReason createdAt
  buyer { ...Party wallet { currency } } seller { ...Party }
  items { name quantity unitPrice lineTotal currency }
  payments { id status amount refundedAmount currency method processorStatus capturedAt createdAt updatedAt
    ledgerEntries { id amount currency entryType idempotencyKey createdAt wallet { id } } }
  payment { __typename status amount ledgerEntries { amount } order { orderNumber } }
  assignments { id status version estimatedDeliveryTime acceptedAt pickedUpAt deliveredAt failureReason createdAt
    agent { id agentCode status isAvailable zipCodes createdAt user { ...Party } } }
  activeAssignment { id status }
  again: buyer { displayName }
  buyer { id }
  ... on Node { nodeId: id }
}";

async fn a_preloaded_page_answers_like_the_loaders(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.debug_sql_count = true).await;
    app.seed(40).await;
    let page = format!(
        "{ORDER_FIELDS} query {{ orders(first: 40) {{ edges {{ node {{ ...Rich }} }} nodes {{ orderNumber }} }} }}"
    );
    let one =
        format!("{ORDER_FIELDS} query($id: ID!) {{ node(id: $id) {{ ...Rich }} byId: order(id: $id) {{ ...Rich }} }}");
    for email in ["admin@courier.test", "buyer@courier.test", "seller@courier.test", "agent@courier.test"] {
        let token = app.token_for(email).await;
        let res = app.graphql(&page, Value::Null, Some(&token)).await;
        assert!(res.body["errors"].is_null(), "{email}: {}", res.body);
        let edges = res.data()["orders"]["edges"].as_array().expect("edges").clone();
        assert!(!edges.is_empty(), "{email} sees orders");
        if email != "agent@courier.test" {
            assert!(edges.iter().any(|e| !e["node"]["payments"].as_array().expect("payments").is_empty()), "{email}");
        }
        for edge in &edges {
            let node = &edge["node"];
            // `node(id:)` resolves the order through its loaders; `order(id:)` preloads one order.
            let alone = app.graphql(&one, json!({ "id": node["id"] }), Some(&token)).await;
            assert!(alone.body["errors"].is_null(), "{email}: {}", alone.body);
            assert_eq!(&alone.data()["node"], node, "{email}: the page and the loaders differ");
            assert_eq!(&alone.data()["byId"], node, "{email}: order(id:) and the loaders differ");
            assert_eq!(node["nodeId"], node["id"]);
            assert_eq!(node["again"]["displayName"], node["buyer"]["displayName"]);
        }
        let own = |u: &Value| u["email"].as_str() == Some(email);
        let shown =
            edges.iter().flat_map(|e| [&e["node"]["buyer"], &e["node"]["seller"]]).filter(|u| u["email"].is_string());
        if email != "admin@courier.test" {
            assert!(shown.clone().all(own), "{email} sees only their own email");
        }
    }
}

/// PostgreSQL reads an order's or a page's relations in one statement (a
/// page's as arrays, an order's as JSON); a value an operator wrote outside
/// what the API accepts (a year beyond 9999) is read as it is stored on
/// every path: an order's relations are read again per relation rather than
/// failing the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_with_a_timestamp_beyond_the_year_9999_still_answers_postgres() {
    let app = spawn_app_with(Backend::Postgres, |_| {}).await;
    app.seed(10).await;
    let token = app.token_for("admin@courier.test").await;
    let order = app
        .query_strings("SELECT order_id::text FROM shipping_assignments WHERE agent_id IS NOT NULL LIMIT 1")
        .await
        .pop()
        .expect("an assigned order");
    app.exec(&format!(
        "UPDATE shipping_assignments SET estimated_delivery_time = '10000-01-01 00:00+00' WHERE order_id = '{order}'"
    ))
    .await;
    let id = encode(EntityKind::Order, order.parse().expect("uuid")).0;
    let q = "query($id: ID!) { order(id: $id) { assignments { estimatedDeliveryTime agent { agentCode } } } node(id: $id) { ... on Order { assignments { estimatedDeliveryTime agent { agentCode } } } } }";
    let res = app.graphql(q, json!({ "id": id }), Some(&token)).await;
    assert!(res.body["errors"].is_null(), "{}", res.body);
    assert_eq!(res.data()["order"], res.data()["node"]);
    assert!(
        res.data()["order"]["assignments"][0]["estimatedDeliveryTime"].as_str().is_some_and(|t| t.contains("10000"))
    );
    let page = app
        .graphql(
            "{ orders(first: 100) { nodes { id assignments { estimatedDeliveryTime agent { agentCode } } } } }",
            Value::Null,
            Some(&token),
        )
        .await;
    assert!(page.body["errors"].is_null(), "{}", page.body);
    let nodes = page.data()["orders"]["nodes"].as_array().expect("nodes").clone();
    assert_eq!(nodes.len(), 10);
    let in_page = nodes.iter().find(|n| n["id"] == id.as_str()).expect("the order is on the page");
    assert_eq!(in_page["assignments"], res.data()["order"]["assignments"]);
    assert!(!crate::helpers::logs_containing("order_relations_fallback").is_empty(), "the fallback is logged");
}

/// Payments and assignments created in the same microsecond still come in
/// one order, oldest first and then by id, on every path: a twin of each,
/// with the same creation time and a smaller id, is stored after it.
async fn rows_created_at_the_same_time_keep_one_order(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    app.seed(20).await;
    let token = app.token_for("admin@courier.test").await;
    let paid = payment::Entity::find().one(&app.db).await.expect("q").expect("a payment");
    let assigned = shipping_assignment::Entity::find()
        .filter(shipping_assignment::Column::OrderId.ne(paid.order_id))
        .one(&app.db)
        .await
        .expect("q")
        .expect("an assignment");
    let twin_id = uuid::Uuid::parse_str("00000000-0000-7000-8000-000000000001").expect("uuid");
    let mut twin = paid.clone().into_active_model();
    (twin.id, twin.status, twin.processor_ref) = (Set(twin_id), Set(PaymentStatus::Failed), Set(None));
    twin.insert(&app.db).await.expect("the payment's twin");
    let mut twin = assigned.clone().into_active_model();
    (twin.id, twin.status) = (Set(twin_id), Set(AssignmentStatus::Failed));
    twin.insert(&app.db).await.expect("the assignment's twin");

    let ids = |kind, first| [encode(kind, twin_id).0, encode(kind, first).0].map(Value::from).to_vec();
    let fields = "id payments { id } assignments { id }";
    let page =
        app.graphql(&format!("{{ orders(first: 100) {{ nodes {{ {fields} }} }} }}"), Value::Null, Some(&token)).await;
    let one =
        format!("query($id: ID!) {{ order(id: $id) {{ {fields} }} node(id: $id) {{ ... on Order {{ {fields} }} }} }}");
    for (order, list, kind, first) in [
        (paid.order_id, "payments", EntityKind::Payment, paid.id),
        (assigned.order_id, "assignments", EntityKind::ShippingAssignment, assigned.id),
    ] {
        let id = encode(EntityKind::Order, order).0;
        let res = app.graphql(&one, json!({ "id": id }), Some(&token)).await;
        let in_page = page.data()["orders"]["nodes"].as_array().expect("nodes").iter().find(|n| n["id"] == id.as_str());
        let in_page = in_page.unwrap_or_else(|| panic!("{id} is in the page: {}", page.body));
        for (path, found) in [("order", &res.data()["order"]), ("node", &res.data()["node"]), ("page", in_page)] {
            let listed: Option<Vec<Value>> =
                found[list].as_array().map(|l| l.iter().map(|r| r["id"].clone()).collect());
            assert_eq!(listed, Some(ids(kind, first)), "{path}.{list}: {}", res.body);
        }
    }
}

on_both_backends!(
    rows_created_at_the_same_time_keep_one_order,
    a_preloaded_page_answers_like_the_loaders,
    a_metrics_window_that_cannot_be_stored_fails_alone,
    each_mutation_of_a_document_reads_what_the_ones_before_it_wrote,
    a_nested_page_costs_the_same_statements_for_5_and_100_orders,
    nested_connections_page_every_parent_in_one_statement,
    agent_metrics_cost_the_same_statements_for_2_and_20_agents,
);

/// The first column of the one row `sql` answers on `db`, as text (JSON
/// written out).
async fn one_text(db: &sea_orm::DatabaseConnection, sql: &str) -> String {
    use sea_orm::ConnectionTrait;
    let statement = sea_orm::Statement::from_string(sea_orm::DatabaseBackend::Postgres, sql);
    let row = db.query_one_raw(statement).await.expect(sql).expect("a row");
    row.try_get_by_index::<String>(0)
        .or_else(|_| row.try_get_by_index::<Value>(0).map(|json| json.to_string()))
        .expect("text or JSON")
}

/// The serving pool never JIT-compiles a statement: a buyer's, seller's or
/// agent's page over a large orders table is estimated past
/// `jit_above_cost`, and PostgreSQL compiled it on every request (19 ms for
/// a statement that runs in 0.45 ms). A plan estimated far past the
/// threshold shows no JIT on the server's connections; on a maintenance
/// connection (defaults) it does, where PostgreSQL has JIT at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serving_pool_never_jit_compiles_postgres() {
    let app = crate::helpers::spawn_app(Backend::Postgres).await;
    let expensive = "EXPLAIN (FORMAT JSON) SELECT sum(g * 2) FROM generate_series(1, 100000000) g";
    assert_eq!(one_text(&app.server_db, "SHOW jit").await, "off");
    let plan = one_text(&app.server_db, expensive).await;
    assert!(!plan.contains("\"JIT\""), "the serving pool planned JIT: {plan}");

    let maintenance = courier::db::connect_for(&app.config, courier::db::Purpose::Maintenance).await.expect("pool");
    if one_text(&maintenance, "SELECT pg_jit_available()::text").await == "true" {
        let plan = one_text(&maintenance, expensive).await;
        assert!(plan.contains("\"JIT\""), "a default connection should plan JIT here: {plan}");
    }
}
