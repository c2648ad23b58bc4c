//! GraphQL subscriptions over WebSocket at `/graphql/ws`, with the
//! graphql-transport-ws protocol (the `graphql-ws` npm client). The bearer
//! token travels in `connection_init`'s payload (`{"Authorization": "Bearer
//! <token>"}`), since browsers cannot set headers on a WebSocket; a missing,
//! invalid or expired token closes the connection (code 1002, with the
//! reason). A connection holds at most `COURIER_WS_MAX_SUBSCRIPTIONS`
//! subscriptions, and one that sends nothing (not even a `ping`) for
//! `COURIER_WS_IDLE_TIMEOUT_SECS` is closed (code 3008); one that has not
//! sent `connection_init` within 10 s is dropped. Messages are held to
//! `COURIER_MAX_BODY_BYTES`. Events stop when the token expires.

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
use crate::graphql::subscriptions::{SessionExpiry, Slots};
use crate::http::limits;

/// How long a new connection has to send `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

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
    // Messages are held to the HTTP body limit.
    let limit = state.config.max_body_bytes;
    upgrade.protocols([PROTOCOL]).max_message_size(limit).max_frame_size(limit).on_upgrade(move |socket| async move {
        let init = state.clone();
        let initialised = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = initialised.clone();
        let connection = GraphQLWebSocket::new(socket, Gate { state: state.clone() }, protocol)
            .on_connection_init(move |payload| async move {
                let data = connection_data(&init, &payload).await.map_err(|e| async_graphql::Error::new(e.to_string()));
                done.store(true, std::sync::atomic::Ordering::SeqCst);
                data
            })
            .keepalive_timeout(idle)
            .serve();
        // A connection that has not sent `connection_init` within the
        // timeout is dropped, so anonymous sockets cannot pile up.
        let init_deadline = async {
            tokio::time::sleep(INIT_TIMEOUT).await;
            if initialised.load(std::sync::atomic::Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = connection => {}
            () = init_deadline => {
                tracing::debug!(event = "subscription_connection_init_timeout", "no connection_init in time; connection dropped");
            }
        }
    })
}

/// The HTTP edge's rules for documents that arrive over the WebSocket:
/// subscriptions only (queries and mutations go to `/graphql`, with its
/// timeouts), the trusted documents when configured, and the same document
/// limits (tokens, aliases, depth, text).
#[derive(Clone)]
struct Gate {
    state: AppState,
}

impl Gate {
    fn admit(&self, mut request: async_graphql::Request) -> Result<async_graphql::Request, (&'static str, String)> {
        use async_graphql::parser::types::OperationType;
        let state = &self.state;
        if state.documents.trusted_only() {
            let params = crate::http::protocol::Params {
                query: Some(request.query.clone()).filter(|q| !q.is_empty()),
                operation_name: request.operation_name.clone(),
                variables: serde_json::Map::new(),
                extensions: serde_json::Map::new(),
                document_id: None,
            };
            request.query = state.documents.resolve(&params).map_err(|r| (r.code, r.message))?.to_string();
        }
        limits::scan(&request.query, state.config.max_tokens).map_err(|r| (r.code, r.message))?;
        let document = state
            .documents
            .parsed(&Arc::from(request.query.as_str()))
            .map_err(|e| ("GRAPHQL_PARSE_FAILED", e.to_string()))?;
        let op = super::graphql::operation(&document, request.operation_name.as_deref())
            .ok_or(("BAD_REQUEST", "The document has no operation of that name".to_owned()))?;
        if op.ty != OperationType::Subscription {
            return Err((
                "BAD_REQUEST",
                "Only subscriptions are served over /graphql/ws; send queries and mutations to /graphql".into(),
            ));
        }
        limits::check(&document, Some(op), &limits::Limits::from_config(&state.config))
            .and_then(|()| limits::check_text(&document))
            .map_err(|r| (r.code, r.message))?;
        // Executed from this same document, not parsed again.
        request.set_parsed_query(async_graphql::parser::types::ExecutableDocument::clone(&document));
        Ok(request)
    }
}

/// A refusal as the one response of a subscription.
fn refused(code: &'static str, message: String) -> async_graphql::Response {
    use async_graphql::ErrorExtensions;
    let error = async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code));
    async_graphql::Response::from_errors(vec![error.into_server_error(async_graphql::Pos::default())])
}

impl async_graphql::Executor for Gate {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        // The WebSocket path runs everything as a stream; nothing calls this.
        let _ = request;
        refused("BAD_REQUEST", "Send queries and mutations to /graphql".into())
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> futures_util::stream::BoxStream<'static, async_graphql::Response> {
        use futures_util::StreamExt;
        match self.admit(request) {
            Ok(request) => {
                self.state.schema.execute_stream_with_session_data(request, session_data.unwrap_or_default())
            }
            Err((code, message)) => futures_util::stream::once(async move { refused(code, message) }).boxed(),
        }
    }
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
    let expires = authorization
        .and_then(crate::auth::bearer_token)
        .and_then(|token| state.tokens.verify_session(token).ok())
        .map(|(_, expires)| SessionExpiry(expires));
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
    if let Some(expires) = expires {
        // Events stop when the token expires; the client reconnects with a new one.
        data.insert(expires);
    }
    Ok(data)
}
