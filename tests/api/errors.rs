//! Error shape: stable codes, masked internals, GET restrictions, limits.

use serde_json::{Value, json};

use crate::helpers::{Backend, logs_containing, spawn_app};
use crate::on_both_backends;

async fn an_internal_error_is_masked_and_logged_with_the_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let token = app.token_for("buyer@courier.test").await;
    // Break the schema under the server's feet: the wallet lookup now fails in SQL.
    app.exec("ALTER TABLE wallets RENAME TO wallets_gone").await;
    let request_id = format!("internal-{}", uuid::Uuid::new_v4().simple());
    let res = app
        .graphql_with(
            "{ viewer { email wallet { balance } } }",
            Value::Null,
            Some(&token),
            &[("x-request-id", &request_id)],
        )
        .await;
    assert_eq!(res.code(), "INTERNAL_SERVER_ERROR");
    assert_eq!(res.error()["message"], "Internal server error");
    assert_eq!(res.error()["extensions"]["requestId"], request_id.as_str());
    let body = res.body.to_string().to_lowercase();
    for leak in ["wallets", "select", "relation", "sqlx", "no such table"] {
        assert!(!body.contains(leak), "leaked `{leak}`: {body}");
    }
    // The rest of the response is intact: errors are per field.
    assert_eq!(res.body["data"]["viewer"]["email"], "buyer@courier.test", "{}", res.body);
    // The detail is in the log, tied to the request.
    let logged = logs_containing(&request_id);
    assert!(
        logged.iter().any(|l| l["fields"]["event"] == "internal_error"
            && l["fields"]["error"].as_str().is_some_and(|e| e.contains("wallets"))),
        "internal error not logged with its request id: {logged:?}"
    );
}

async fn get_runs_queries_and_refuses_mutations(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.client.get(app.url("/graphql")).query(&[("query", "{ viewer { id } }")]).send().await.expect("sent");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["data"]["viewer"], Value::Null);

    let res = app.client.get(app.url("/graphql")).query(&[("query", "mutation { noop }")]).send().await.expect("sent");
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "METHOD_NOT_ALLOWED");
}

async fn invalid_documents_are_bad_user_input(backend: Backend) {
    let app = spawn_app(backend).await;
    for (query, code) in [
        ("{ viewer { noSuchField } }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ node { id } }", "GRAPHQL_VALIDATION_FAILED"),
        ("query { viewer { id } } extra", "GRAPHQL_PARSE_FAILED"),
    ] {
        let res = app.graphql(query, Value::Null, None).await;
        assert_eq!(res.code(), code, "{query}: {}", res.body);
        // Not executed: no `data` entry at all.
        assert!(res.body.get("data").is_none(), "{}", res.body);
    }
    // Variables of the wrong type.
    let res = app.graphql("query($id: ID!) { node(id: $id) { id } }", json!({ "id": { "x": 1 } }), None).await;
    assert_eq!(res.code(), "BAD_USER_INPUT");
}

async fn documents_deeper_than_the_limit_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let shallow = (0..5).fold("name".to_owned(), |inner, _| format!("ofType {{ {inner} }}"));
    let res = app.graphql(&format!("{{ __type(name: \"Query\") {{ {shallow} }} }}"), Value::Null, None).await;
    assert!(res.body.get("errors").is_none(), "{}", res.body);
    // 20 levels of introspection nesting exceeds the depth limit of 16.
    let nested = (0..20).fold("name".to_owned(), |inner, _| format!("ofType {{ {inner} }}"));
    let res = app.graphql(&format!("{{ __type(name: \"Query\") {{ {nested} }} }}"), Value::Null, None).await;
    assert_eq!(res.code(), "QUERY_TOO_DEEP", "{}", res.body);
}

/// Missing, extra or null-for-required variables are refused before
/// anything runs, as BAD_USER_INPUT naming the variable.
async fn variable_mistakes_name_the_variable(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let token = app.token_for("buyer@courier.test").await;
    let node = "query($id: ID!) { node(id: $id) { id } }";
    let cases = [
        (node, json!({}), "id", "is required"),
        (node, json!({ "id": null }), "id", "is required"),
        ("query { viewer { id } }", json!({ "extra": 1 }), "extra", "is not defined"),
        (node, json!({ "id": "x", "idd": "y" }), "idd", "is not defined"),
    ];
    for (query, variables, name, says) in cases {
        let res = app.graphql(query, variables.clone(), Some(&token)).await;
        assert_eq!(res.code(), "BAD_USER_INPUT", "{variables}: {}", res.body);
        assert_eq!(res.error()["extensions"]["variable"], name, "{}", res.body);
        assert!(res.error()["message"].as_str().unwrap_or("").contains(says), "{}", res.body);
        assert!(res.body.get("data").is_none(), "nothing ran: {}", res.body);
    }
    // An optional variable or one with a default may be left out.
    let optional = app.graphql("query($n: Int) { orders(first: $n) { totalCount } }", json!({}), Some(&token)).await;
    optional.data();
    let defaulted =
        app.graphql("query($n: Int! = 2) { orders(first: $n) { totalCount } }", json!({}), Some(&token)).await;
    defaulted.data();
    // Ill-typed: still the client's, still before anything runs.
    let ill =
        app.graphql("query($n: Int!) { orders(first: $n) { totalCount } }", json!({ "n": "two" }), Some(&token)).await;
    assert_eq!(ill.code(), "BAD_USER_INPUT", "{}", ill.body);
}

/// Error details speak the API's language: `field` is the argument path the
/// client sent, `context` carries global IDs the client can pass back, and
/// messages spell statuses as the client does.
async fn error_details_name_argument_paths_and_global_ids(backend: Backend) {
    use crate::payments::{CAPTURE, CREATE_ORDER, INITIATE, order_at, user_id};
    use courier::domain::lookup::EntityKind;
    use courier::graphql::node::encode;

    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let order = order_at(&app, &buyer, "5.00").await;
    let seller = encode(EntityKind::User, user_id(&app, "seller@courier.test").await).0;
    let create = |input: Value| app.graphql(CREATE_ORDER, json!({ "input": input }), Some(&buyer));
    let item = json!([{ "name": "Thing", "quantity": 1, "unitPrice": "5.00" }]);

    // An ID of the wrong type, at its path, with the right article.
    let res = create(json!({ "sellerId": order, "items": item, "deliveryZipCode": "10115", "currency": "USD" })).await;
    assert_eq!(res.code(), "BAD_USER_INPUT", "{}", res.body);
    assert_eq!(res.error()["extensions"]["field"], "input.sellerId");
    assert!(
        res.error()["message"].as_str().expect("message").ends_with("is an Order ID, not a User ID"),
        "{}",
        res.body
    );
    // A domain check on a nested input field names the whole path.
    let blank = json!([{ "name": " ", "quantity": 1, "unitPrice": "5.00" }]);
    let res =
        create(json!({ "sellerId": seller, "items": blank, "deliveryZipCode": "10115", "currency": "USD" })).await;
    assert_eq!(res.error()["extensions"]["field"], "input.items[0].name", "{}", res.body);
    // A filter's ID, at its path.
    let res = app
        .graphql(
            "query($id: ID) { orders(filter: { buyerId: $id }) { totalCount } }",
            json!({ "id": order }),
            Some(&buyer),
        )
        .await;
    assert_eq!(res.error()["extensions"]["field"], "filter.buyerId", "{}", res.body);

    // Context IDs are global IDs the client already holds.
    let rich = order_at(&app, &buyer, "99000.00").await;
    let payment =
        crate::payments::initiate(&app, &buyer, &rich, "WALLET", &format!("ctx-{}", uuid::Uuid::new_v4())).await;
    let res = crate::payments::capture(&app, &buyer, &payment["id"], &format!("ctx-{}", uuid::Uuid::new_v4())).await;
    assert_eq!(res.error()["extensions"]["rule"], "INSUFFICIENT_FUNDS", "{}", res.body);
    let wallet = app.graphql("{ viewer { wallet { id } } }", Value::Null, Some(&buyer)).await;
    assert_eq!(
        res.error()["extensions"]["context"]["walletId"],
        wallet.data()["viewer"]["wallet"]["id"],
        "{}",
        res.body
    );
    let cod = order_at(&app, &buyer, "5.00").await;
    let cash = app
        .graphql(INITIATE, json!({ "input": { "orderId": cod, "method": "CASH_ON_DELIVERY", "idempotencyKey": format!("cod-{}", uuid::Uuid::new_v4()) } }), Some(&buyer))
        .await;
    let cash_id = cash.data()["initiatePayment"]["id"].clone();
    let res = app
        .graphql(
            CAPTURE,
            json!({ "input": { "paymentId": cash_id, "idempotencyKey": format!("cod-{}", uuid::Uuid::new_v4()) } }),
            Some(&buyer),
        )
        .await;
    assert_eq!(res.error()["extensions"]["rule"], "PAYMENT_COLLECTED_ON_DELIVERY", "{}", res.body);
    assert_eq!(res.error()["extensions"]["context"]["paymentId"], cash_id);

    // Statuses as the client spells them.
    let res = app
        .graphql(
            "mutation($id: ID!) { updateOrderStatus(input: { orderId: $id, status: CONFIRMED }) { id } }",
            json!({ "id": order }),
            Some(&buyer),
        )
        .await;
    assert_eq!(res.code(), "FORBIDDEN", "{}", res.body);
    assert_eq!(res.error()["message"], "The buyer may not set an order to CONFIRMED");
}

/// Several mutations in one document run in order and stop at the first
/// that fails: its error nulls `data`, so the ones after it must not commit
/// what the client can never see.
async fn mutations_after_a_failed_one_do_not_run(backend: Backend) {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let token = app.token_for("buyer@courier.test").await;
    let seller = courier::domain::users::find_by_email(&app.db, "seller@courier.test").await.expect("seller");
    let seller = courier::graphql::node::encode(courier::domain::lookup::EntityKind::User, seller.id).0;
    let order = |alias: &str, currency: &str| {
        format!(
            "{alias}: createOrder(input: {{ sellerId: \"{seller}\", items: [{{ name: \"x\", quantity: 1, \
             unitPrice: \"1.00\" }}], deliveryZipCode: \"10115\", currency: \"{currency}\" }}) {{ id }}"
        )
    };
    let count = || async { entity::order::Entity::find().count(&app.db).await.expect("count") };
    let before = count().await;
    let doc = format!("mutation {{ {} {} {} }}", order("a", "USD"), order("b", "EUR"), order("c", "USD"));
    let res = app.graphql(&doc, Value::Null, Some(&token)).await;
    assert_eq!(res.body["data"], Value::Null, "{}", res.body);
    let errors = res.body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{}", res.body);
    assert_eq!(errors[0]["path"], json!(["b"]));
    assert_eq!(errors[0]["extensions"]["rule"], "CURRENCY_MISMATCH", "{}", res.body);
    assert_eq!(count().await, before + 1, "`a` committed before the failure, `c` never ran");
}

on_both_backends!(
    mutations_after_a_failed_one_do_not_run,
    error_details_name_argument_paths_and_global_ids,
    errors_null_the_nearest_nullable_ancestor,
    variable_mistakes_name_the_variable,
    an_internal_error_is_masked_and_logged_with_the_request_id,
    get_runs_queries_and_refuses_mutations,
    invalid_documents_are_bad_user_input,
    documents_deeper_than_the_limit_are_refused,
);

/// The specification's null propagation: a refused nullable field is null
/// (the rest of the node stays); a failure in a non-null field nulls the
/// nearest nullable ancestor: `data` under the non-null root connection and
/// `node`, the list entry under `nodes` (whose entries are nullable).
async fn errors_null_the_nearest_nullable_ancestor(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(3).await;
    let seller = app.token_for("seller@courier.test").await;
    let res = app
        .graphql(
            "{ deliveryAgents(first: 2) { nodes { agentCode metrics { deliveredCount } } } }",
            Value::Null,
            Some(&seller),
        )
        .await;
    let nodes = res.body["data"]["deliveryAgents"]["nodes"].as_array().expect("nodes").clone();
    assert_eq!(nodes.len(), 2, "{}", res.body);
    for node in &nodes {
        assert!(node["agentCode"].is_string());
        assert!(node.as_object().expect("object").contains_key("metrics"), "the key is there: {node}");
        assert!(node["metrics"].is_null());
    }
    assert_eq!(res.code(), "FORBIDDEN");

    let buyer = app.token_for("buyer@courier.test").await;
    let order = app.graphql("{ orders(first: 1) { nodes { id } } }", Value::Null, Some(&buyer)).await.data()["orders"]
        ["nodes"][0]["id"]
        .clone();
    app.exec("ALTER TABLE order_items RENAME TO order_items_gone").await;
    // `Order.items: [OrderItem!]!` fails: up through the non-null chain to `data`.
    let res =
        app.graphql("{ orders(first: 1) { nodes { orderNumber items { name } } } }", Value::Null, Some(&buyer)).await;
    assert_eq!(res.code(), "INTERNAL_SERVER_ERROR");
    assert!(res.body["data"].is_null(), "{}", res.body);
    // Under `node: Node!` the null reaches `data` too.
    let res = app
        .graphql(
            "query($id: ID!) { viewer { id } node(id: $id) { ... on Order { items { name } } } }",
            json!({ "id": order }),
            Some(&buyer),
        )
        .await;
    assert!(res.body["data"].is_null(), "`node` is non-null: {}", res.body);
    // `nodes: [Node]!` holds nullable entries: only the entry is null.
    let res = app
        .graphql(
            "query($id: ID!) { viewer { id } nodes(ids: [$id]) { ... on Order { items { name } } } }",
            json!({ "id": order }),
            Some(&buyer),
        )
        .await;
    assert!(res.body["data"]["viewer"]["id"].is_string(), "{}", res.body);
    assert_eq!(res.body["data"]["nodes"], json!([null]), "{}", res.body);
    app.exec("ALTER TABLE order_items_gone RENAME TO order_items").await;
}

/// A value the database driver cannot read makes it panic (sqlx overflows on
/// a `timestamptz` of 'infinity', which only an operator can write): the
/// request answers 500 with the masked error and its request ID, and the
/// server goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_request_answers_with_its_request_id_postgres() {
    let app = crate::helpers::spawn_app_with(Backend::Postgres, |_| {}).await;
    app.seed(5).await;
    let token = app.token_for("admin@courier.test").await;
    app.exec("UPDATE shipping_assignments SET delivered_at = 'infinity'").await;
    let request_id = format!("panic-{}", uuid::Uuid::new_v4().simple());
    let res = app
        .graphql_with(
            "{ orders(first: 5) { nodes { assignments { deliveredAt } } } }",
            Value::Null,
            Some(&token),
            &[("x-request-id", &request_id)],
        )
        .await;
    assert_eq!(res.status, 500, "{}", res.body);
    assert_eq!(res.code(), "INTERNAL_SERVER_ERROR");
    assert_eq!(res.error()["message"], "Internal server error");
    assert_eq!(res.error()["extensions"]["requestId"], request_id.as_str());
    assert_eq!(res.request_id(), request_id);
    let text = res.body.to_string();
    assert!(!text.contains("overflow") && !text.contains("sqlx") && !text.contains(".rs"), "{text}");
    app.exec("UPDATE shipping_assignments SET delivered_at = NULL").await;
    let after = app.graphql("{ orders(first: 5) { nodes { orderNumber } } }", Value::Null, Some(&token)).await;
    assert_eq!(after.data()["orders"]["nodes"].as_array().map(Vec::len), Some(5));
}
