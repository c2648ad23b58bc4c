//! GraphQL subscriptions over WebSocket (graphql-transport-ws), against one
//! server or two on one database.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;
use crate::payments::order_at;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/graphql/ws` on `addr` and sends `connection_init` with `token`;
/// answers the socket and the server's first message.
async fn connect(addr: std::net::SocketAddr, token: &str) -> (Socket, Value) {
    let mut request = format!("ws://{addr}/graphql/ws").into_client_request().expect("request");
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().expect("header"));
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.expect("upgrade");
    assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket.send(Message::Text(init.to_string().into())).await.expect("init");
    let first = next(&mut socket, Duration::from_secs(5)).await.expect("an answer to connection_init");
    (socket, first)
}

/// The next message (text as JSON; a close frame as `{"close": code, "reason": ...}`),
/// or `None` when nothing comes within `wait`.
async fn next(socket: &mut Socket, wait: Duration) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(wait, socket.next()).await.ok()??.ok()?;
        match message {
            Message::Text(text) => return Some(serde_json::from_str(&text).expect("JSON")),
            Message::Close(frame) => {
                let (code, reason) = frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or_default();
                return Some(json!({ "close": code, "reason": reason }));
            }
            _ => continue,
        }
    }
}

async fn subscribe(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    let message = json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } });
    socket.send(Message::Text(message.to_string().into())).await.expect("subscribe");
}

const ORDER_UPDATED: &str =
    "subscription($id: ID!) { orderUpdated(orderId: $id) { id status version seller { displayName } } }";

async fn confirm(app: &TestApp, seller: &str, order: &Value) {
    let res = app
        .graphql(
            "mutation($input: UpdateOrderStatusInput!) { updateOrderStatus(input: $input) { status } }",
            json!({ "input": { "orderId": order, "status": "CONFIRMED", "expectedVersion": 0 } }),
            Some(seller),
        )
        .await;
    assert_eq!(res.data()["updateOrderStatus"]["status"], "CONFIRMED", "{}", res.body);
}

async fn an_update_through_another_instance_reaches_the_subscriber(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let seller = app.token_for("seller@courier.test").await;
    let order = order_at(&app, &buyer, "9.00").await;
    // On SQLite there is one instance: the change goes through the same one.
    let other = match backend {
        Backend::Postgres => Some(app.second_instance().await),
        Backend::Sqlite => None,
    };
    let writer = other.as_ref().unwrap_or(&app);

    let (mut socket, ack) = connect(app.addr, &buyer).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    subscribe(&mut socket, "1", ORDER_UPDATED, json!({ "id": order })).await;
    // Subscribed before the change (the server answers nothing until an event).
    assert!(next(&mut socket, Duration::from_millis(300)).await.is_none());
    confirm(writer, &seller, &order).await;
    let event = next(&mut socket, Duration::from_secs(10)).await.expect("the update");
    assert_eq!(event["type"], "next", "{event}");
    assert_eq!(event["id"], "1");
    let updated = &event["payload"]["data"]["orderUpdated"];
    assert_eq!(updated["id"], order);
    assert_eq!(updated["status"], "CONFIRMED");
    assert_eq!(updated["version"], 1);
    assert_eq!(updated["seller"]["displayName"], "Sam Seller", "nested fields resolve: {event}");
}

async fn a_subscriber_without_access_receives_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let stranger = app.token_for("buyer2@courier.test").await;
    let seller = app.token_for("seller@courier.test").await;
    let order = order_at(&app, &buyer, "9.00").await;

    // Another buyer's order is NOT_FOUND at subscribe time.
    let (mut socket, _) = connect(app.addr, &stranger).await;
    subscribe(&mut socket, "1", ORDER_UPDATED, json!({ "id": order })).await;
    // A resolver's refusal comes as `next` with the error, then `complete`.
    let refused = next(&mut socket, Duration::from_secs(5)).await.expect("an error");
    assert_eq!(refused["payload"]["data"], Value::Null, "{refused}");
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{refused}");
    assert_eq!(next(&mut socket, Duration::from_secs(5)).await.expect("complete")["type"], "complete");

    // Offers go only to agents who may accept them: agent@ serves 10115,
    // agent2@ does not; a buyer may not subscribe at all.
    let (mut serving, _) = connect(app.addr, &app.token_for("agent@courier.test").await).await;
    let (mut elsewhere, _) = connect(app.addr, &app.token_for("agent2@courier.test").await).await;
    let offered = "subscription { assignmentOffered { id status order { id deliveryZipCode } } }";
    subscribe(&mut serving, "a", offered, Value::Null).await;
    subscribe(&mut elsewhere, "b", offered, Value::Null).await;
    subscribe(&mut socket, "2", offered, Value::Null).await;
    let not_agent = next(&mut socket, Duration::from_secs(5)).await.expect("an error");
    assert_eq!(not_agent["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN", "{not_agent}");
    tokio::time::sleep(Duration::from_millis(200)).await;

    confirm(&app, &seller, &order).await;
    let offer = app
        .graphql(
            "mutation($input: CreateShippingAssignmentInput!) { createShippingAssignment(input: $input) { id } }",
            json!({ "input": { "orderId": order } }),
            Some(&seller),
        )
        .await;
    let offer_id = offer.data()["createShippingAssignment"]["id"].clone();
    let got = next(&mut serving, Duration::from_secs(10)).await.expect("the offer");
    assert_eq!(got["payload"]["data"]["assignmentOffered"]["id"], offer_id, "{got}");
    assert_eq!(got["payload"]["data"]["assignmentOffered"]["order"]["deliveryZipCode"], "10115");
    assert!(next(&mut elsewhere, Duration::from_millis(800)).await.is_none(), "agent2@ does not serve 10115");
}

async fn an_expired_or_missing_token_is_refused_at_connection_init(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = crate::payments::user_id(&app, "buyer@courier.test").await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({ "sub": buyer, "iss": "courier", "iat": now - 7200, "exp": now - 3600 });
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(app.config.jwt_secret.as_bytes()),
    )
    .expect("token");
    let (_, answer) = connect(app.addr, &expired).await;
    assert_eq!(answer["close"], 1002, "{answer}");
    assert!(answer["reason"].as_str().expect("reason").contains("expired"), "{answer}");
    let (_, answer) = connect(app.addr, "").await;
    assert_eq!(answer["close"], 1002, "{answer}");

    // Only subscriptions run over the WebSocket: queries and mutations go to
    // /graphql, with its limits and timeouts.
    let (mut socket, ack) = connect(app.addr, &app.token_for("buyer@courier.test").await).await;
    assert_eq!(ack["type"], "connection_ack");
    subscribe(&mut socket, "q", "{ viewer { id } }", Value::Null).await;
    let refused = next(&mut socket, Duration::from_secs(5)).await.expect("a refusal");
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "BAD_REQUEST", "{refused}");

    // Subscriptions are not served over plain HTTP.
    let res = app.graphql("subscription { assignmentOffered { id } }", Value::Null, None).await;
    assert!(res.body["errors"].is_array(), "{}", res.body);
}

async fn a_connection_holds_a_bounded_number_of_subscriptions(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, |c| c.ws_max_subscriptions = 2).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let order = order_at(&app, &buyer, "9.00").await;
    let (mut socket, _) = connect(app.addr, &buyer).await;
    // One at a time: a connection starts its subscriptions in no set order.
    for id in ["1", "2"] {
        subscribe(&mut socket, id, ORDER_UPDATED, json!({ "id": order })).await;
        assert!(next(&mut socket, Duration::from_millis(300)).await.is_none(), "subscription {id} is accepted");
    }
    subscribe(&mut socket, "3", ORDER_UPDATED, json!({ "id": order })).await;
    let third = next(&mut socket, Duration::from_secs(5)).await.expect("the third is refused");
    assert_eq!(third["id"], "3", "{third}");
    assert_eq!(third["payload"]["errors"][0]["extensions"]["rule"], "TOO_MANY_SUBSCRIPTIONS", "{third}");
    let done = next(&mut socket, Duration::from_secs(5)).await.expect("then complete");
    assert_eq!(done, json!({ "id": "3", "type": "complete" }));
    // Completing one frees its place.
    socket.send(Message::Text(json!({ "id": "1", "type": "complete" }).to_string().into())).await.expect("complete");
    let ended = next(&mut socket, Duration::from_secs(5)).await.expect("the server confirms");
    assert_eq!(ended, json!({ "id": "1", "type": "complete" }));
    subscribe(&mut socket, "4", ORDER_UPDATED, json!({ "id": order })).await;
    let fourth = next(&mut socket, Duration::from_millis(500)).await;
    assert!(fourth.is_none(), "the fourth is accepted: {fourth:?}");
}

/// The socket shares the parsed documents with `/graphql`: a document is
/// judged on every send, whichever edge parsed it first.
async fn documents_are_judged_on_every_send_over_the_socket(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer = app.token_for("buyer@courier.test").await;
    let order = order_at(&app, &buyer, "9.00").await;
    let (mut socket, _) = connect(app.addr, &buyer).await;
    for id in ["1", "2"] {
        subscribe(&mut socket, id, "subscription { orderUpdated(orderId: ", Value::Null).await;
        let refused = next(&mut socket, Duration::from_secs(5)).await.expect("a refusal");
        assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED", "{refused}");
        assert_eq!(next(&mut socket, Duration::from_secs(5)).await, Some(json!({ "id": id, "type": "complete" })));
    }
    // Parsed (and kept) by `/graphql` first, still not a subscription here.
    let query = "{ viewer { id } }";
    assert!(app.graphql(query, Value::Null, Some(&buyer)).await.body["errors"].is_null());
    subscribe(&mut socket, "3", query, Value::Null).await;
    let refused = next(&mut socket, Duration::from_secs(5)).await.expect("a refusal");
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "BAD_REQUEST", "{refused}");
    assert_eq!(next(&mut socket, Duration::from_secs(5)).await, Some(json!({ "id": "3", "type": "complete" })));
    // The same subscription text twice: both accepted.
    for id in ["4", "5"] {
        subscribe(&mut socket, id, ORDER_UPDATED, json!({ "id": order })).await;
    }
    let quiet = next(&mut socket, Duration::from_millis(500)).await;
    assert!(quiet.is_none(), "both are accepted: {quiet:?}");
}

/// A subscription ends when its connection's token expires: events after
/// that are not sent, the stream completes.
async fn events_stop_when_the_token_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed(0).await;
    let buyer_token = app.token_for("buyer@courier.test").await;
    let seller = app.token_for("seller@courier.test").await;
    let order = order_at(&app, &buyer_token, "9.00").await;
    let buyer = crate::payments::user_id(&app, "buyer@courier.test").await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({ "sub": buyer, "iss": "courier", "iat": now, "exp": now + 2 });
    let short = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(app.config.jwt_secret.as_bytes()),
    )
    .expect("token");
    let (mut socket, ack) = connect(app.addr, &short).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    subscribe(&mut socket, "1", ORDER_UPDATED, json!({ "id": order })).await;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    confirm(&app, &seller, &order).await;
    let after = next(&mut socket, Duration::from_secs(5)).await.expect("a message");
    assert_eq!(after, json!({ "id": "1", "type": "complete" }), "no event after the token expired");
}

on_both_backends!(
    events_stop_when_the_token_expires,
    an_update_through_another_instance_reaches_the_subscriber,
    a_subscriber_without_access_receives_nothing,
    an_expired_or_missing_token_is_refused_at_connection_init,
    a_connection_holds_a_bounded_number_of_subscriptions,
    documents_are_judged_on_every_send_over_the_socket,
);
