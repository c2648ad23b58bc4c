//! GraphQL subscriptions over WebSocket at `/graphql/ws`, with the
//! graphql-transport-ws protocol (the `graphql-ws` npm client). The bearer
//! token travels in `connection_init`'s payload (`{"Authorization": "Bearer
//! <token>"}`), since browsers cannot set headers on a WebSocket; a missing,
//! invalid or expired token closes the connection (code 1002, with the
//! reason). A connection holds at most `COURIER_WS_MAX_SUBSCRIPTIONS`
//! subscriptions, and one that sends nothing (not even a `ping`) for
//! `COURIER_WS_IDLE_TIMEOUT_SECS` is closed (code 3008).

use std::sync::Arc;
use std::time::Duration;

use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::db::Limited;
use crate::error::AppError;
use crate::graphql::context::{RequestContext, RequestMeta};
use crate::graphql::loaders::{Batches, Loaders};
use crate::graphql::subscriptions::Slots;

/// The only subprotocol served.
const PROTOCOL: &str = "graphql-transport-ws";

/// Upgrades `GET /graphql/ws` to a subscription connection.
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let offered = headers.get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !offered.split(',').any(|p| p.trim() == PROTOCOL) {
        return (
            StatusCode::BAD_REQUEST,
            format!("Subscriptions use the `{PROTOCOL}` WebSocket subprotocol (the graphql-ws client)"),
        )
            .into_response();
    }
    let idle = Duration::from_secs(state.config.ws_idle_timeout_secs);
    upgrade.protocols([PROTOCOL]).on_upgrade(move |socket| async move {
        let init = state.clone();
        GraphQLWebSocket::new(socket, state.schema.clone(), protocol)
            .on_connection_init(move |payload| async move {
                connection_data(&init, &payload).await.map_err(|e| async_graphql::Error::new(e.to_string()))
            })
            .keepalive_timeout(idle)
            .serve()
            .await;
    })
}

/// Drives a connection's dataloader batches; stopped with the connection.
struct Driver(tokio::task::JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What every subscription of the connection reaches: the viewer (from the
/// token in `connection_init`), the pool, shared loaders and the slots.
async fn connection_data(state: &AppState, payload: &serde_json::Value) -> Result<Data, AppError> {
    let authorization = ["Authorization", "authorization"]
        .iter()
        .find_map(|k| payload.get(*k).or_else(|| payload.get("headers").and_then(|h| h.get(*k))))
        .and_then(|v| v.as_str());
    let viewer = super::graphql::authenticate(state, authorization).await?.ok_or_else(|| {
        AppError::Unauthenticated(
            "connection_init carries no token: send {\"Authorization\": \"Bearer <token>\"} as its payload".into(),
        )
    })?;
    let reader = Limited::new(state.db.clone(), state.config.db_max_per_request);
    let batches = Batches::default();
    let loaders = Arc::new(Loaders::new(reader.clone(), Some(viewer), &batches));
    let driver = Driver(tokio::spawn(async move { batches.run(std::future::pending::<()>()).await }));
    let meta = RequestMeta { request_id: format!("ws-{}", uuid::Uuid::new_v4().simple()), ip: None, user_agent: None };
    tracing::info!(event = "subscription_connection_opened", viewer_id = %viewer.id, request_id = %meta.request_id, "subscription connection authenticated");
    let mut data = Data::default();
    data.insert(RequestContext { viewer: Some(viewer), meta });
    data.insert(loaders);
    data.insert(reader);
    data.insert(Slots::new(state.config.ws_max_subscriptions));
    data.insert(driver);
    Ok(data)
}
