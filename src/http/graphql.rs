//! The GraphQL endpoint: `POST /graphql` for everything, `GET /graphql` for
//! queries only, `OPTIONS /graphql`.
//!
//! The protocol (media types, status codes, request parsing) is
//! [`protocol`](crate::http::protocol)'s; the document limits are
//! [`limits`](crate::http::limits)'. Here a request is authenticated once,
//! each operation is checked, executed under the request deadline and
//! answered; every error in a response gets `extensions.requestId`, and
//! errors raised by the GraphQL engine itself get a stable `code`.

use std::convert::Infallible;
use std::net::SocketAddr;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::{ServerError, Value as GqlValue, Variables};
use axum::body::Body as HttpBody;
use axum::extract::{ConnectInfo, FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::db::{Limited, StatementCounter};
use crate::domain::{Viewer, users};
use crate::error::{AppError, ErrorCode};
use crate::graphql::context::{RequestContext, RequestMeta};
use crate::graphql::loaders::{Batches, Loaders};
use crate::http::AppState;
use crate::http::limits::{self, Limits, truncated};
use crate::http::protocol::{self, Body, MediaType, Params, Rejection, json_response};
use crate::http::request_id::RequestId;

/// `POST /graphql`.
pub async fn post(State(state): State<AppState>, caller: Caller, headers: HeaderMap, body: HttpBody) -> Response {
    let media = match protocol::negotiate(&headers) {
        Ok(media) => media,
        Err(rejection) => return rejection.into_response(MediaType::Json, &caller.meta.request_id),
    };
    let refuse = |rejection: Rejection| rejection.into_response(media, &caller.meta.request_id);
    if let Err(rejection) = protocol::require_json(&headers) {
        return refuse(rejection);
    }
    let limit = state.config.max_body_bytes;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let deadline = state.config.request_timeout();
    let Some(bytes) = read_limited(body, limit, declared, deadline).await else { return refuse(too_large(limit)) };
    let body = match protocol::parse_post(&bytes, state.config.max_batch) {
        Ok(body) => body,
        Err(rejection) => return refuse(rejection),
    };
    let counter = StatementCounter::default();
    let viewer = match counter.clone().scope(authenticate(&state, caller.authorization.as_deref())).await {
        Ok(viewer) => viewer,
        Err(err) => return refuse(unauthenticated(&err)),
    };
    let call = Call { state: &state, viewer, meta: &caller.meta, media, method: Method::Post, counter: &counter };
    match body {
        Body::Single(params) => {
            let (status, body) = call.run(params).await;
            json_response(status, media, &body)
        }
        Body::Batch(batch) => {
            let mut answers = Vec::with_capacity(batch.len());
            for params in batch {
                answers.push(call.run(params).await.1);
            }
            json_response(StatusCode::OK, media, &Value::Array(answers))
        }
    }
}

/// `GET /graphql`: queries only; a mutation is refused with 405.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let media = match protocol::negotiate(&headers) {
        Ok(media) => media,
        Err(rejection) => return rejection.into_response(MediaType::Json, &caller.meta.request_id),
    };
    let refuse = |rejection: Rejection| rejection.into_response(media, &caller.meta.request_id);
    let params = match protocol::parse_get(raw.as_deref()) {
        Ok(params) => params,
        Err(rejection) => return refuse(rejection),
    };
    let counter = StatementCounter::default();
    let viewer = match counter.clone().scope(authenticate(&state, caller.authorization.as_deref())).await {
        Ok(viewer) => viewer,
        Err(err) => return refuse(unauthenticated(&err)),
    };
    let call = Call { state: &state, viewer, meta: &caller.meta, media, method: Method::Get, counter: &counter };
    let (status, body) = call.run(params).await;
    let mut response = json_response(status, media, &body);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    response
}

/// `OPTIONS /graphql`: what the endpoint accepts (CORS preflights are
/// answered by the CORS layer before this, when origins are configured).
pub async fn options() -> Response {
    (StatusCode::NO_CONTENT, [(header::ALLOW, "GET, POST, OPTIONS")]).into_response()
}

/// What is read of a refused body before answering 413: an honest client
/// still sending a slightly too large body then reads the answer instead of
/// a reset connection; a bigger or slower one is cut off.
const DRAIN_BYTES: usize = 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(1);

/// The body, when it is at most `limit` bytes and arrives within `deadline`
/// (`None` otherwise, after draining a bounded amount of the rest). A
/// declared length over the limit is refused without collecting anything.
async fn read_limited(
    body: HttpBody,
    limit: usize,
    declared: Option<usize>,
    deadline: std::time::Duration,
) -> Option<axum::body::Bytes> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut collected = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    let mut seen = 0usize;
    let within = declared.is_none_or(|n| n <= limit);
    let read = tokio::time::timeout(if within { deadline } else { DRAIN_TIME }, async {
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else { return false };
            seen += chunk.len();
            if within && seen <= limit {
                collected.extend_from_slice(&chunk);
            } else if seen > limit + DRAIN_BYTES {
                return false;
            }
        }
        true
    })
    .await;
    (read == Ok(true) && within && seen <= limit).then(|| collected.into())
}

fn too_large(limit: usize) -> Rejection {
    Rejection::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("The request body is larger than {limit} bytes"),
    )
}

fn unauthenticated(err: &AppError) -> Rejection {
    Rejection::new(StatusCode::UNAUTHORIZED, err.code().as_str(), err.to_string())
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""))
}

/// How the operation arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

/// Who is calling: the request's metadata and its `Authorization` header.
pub struct Caller {
    meta: RequestMeta,
    authorization: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let header_text =
            |name| parts.headers.get(name).map(|v: &HeaderValue| v.to_str().unwrap_or_default().to_owned());
        let meta = RequestMeta {
            request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default(),
            ip: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()),
            user_agent: header_text(header::USER_AGENT),
        };
        Ok(Self { meta, authorization: header_text(header::AUTHORIZATION) })
    }
}

/// Resolves the bearer token, if any, into a viewer.
async fn authenticate(state: &AppState, authorization: Option<&str>) -> Result<Option<Viewer>, AppError> {
    let Some(value) = authorization else { return Ok(None) };
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AppError::Unauthenticated("Authorization must be `Bearer <token>`".into()))?;
    let user_id = state.tokens.verify(token)?;
    users::authenticate(&state.db, user_id).await.map(Some)
}

/// The operation `name` selects in `document` (the only one when unnamed).
fn operation<'a>(document: &'a ExecutableDocument, name: Option<&str>) -> Option<&'a OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), None) => Some(&op.node),
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| &op.node),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// A document refused before execution: `code` and `message`, with the
/// status of a document error under `media`.
fn document_error(media: MediaType, code: &'static str, message: &str, meta: &RequestMeta) -> (StatusCode, Value) {
    let rejection = Rejection::new(media.document_error_status(), code, message);
    (rejection.status, rejection.body(&meta.request_id))
}

/// One HTTP request's operations: who asks, how, and its statement counter.
struct Call<'a> {
    state: &'a AppState,
    viewer: Option<Viewer>,
    meta: &'a RequestMeta,
    media: MediaType,
    method: Method,
    counter: &'a StatementCounter,
}

impl Call<'_> {
    /// Checks, executes and answers one operation.
    async fn run(&self, params: Params) -> (StatusCode, Value) {
        let Call { state, viewer, meta, media, method, counter } = *self;
        let query = match state.documents.resolve(&params) {
            Ok(query) => query,
            Err(refusal) => return document_error(media, refusal.code, &refusal.message, meta),
        };
        let Params { operation_name, variables, .. } = params;
        if let Err(refusal) = limits::scan(&query, state.config.max_tokens) {
            return document_error(media, refusal.code, &refusal.message, meta);
        }
        if let Err(refusal) = limits::check_variables(&variables) {
            return document_error(media, refusal.code, &refusal.message, meta);
        }
        let mut request =
            async_graphql::Request::new(query.as_ref()).variables(Variables::from_json(Value::Object(variables)));
        if let Some(name) = &operation_name {
            request = request.operation_name(name.clone());
        }
        let document = match request.parsed_query() {
            Ok(document) => document,
            Err(err) => return document_error(media, "GRAPHQL_PARSE_FAILED", &err.message, meta),
        };
        let op = operation(document, operation_name.as_deref());
        if method == Method::Get && op.is_some_and(|op| op.ty != OperationType::Query) {
            let rejection = Rejection::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "Mutations are only accepted over POST",
            );
            return (rejection.status, rejection.body(&meta.request_id));
        }
        let checked = limits::check(document, op, &Limits::from_config(&state.config))
            .and_then(|()| limits::check_text(document));
        if let Err(refusal) = checked {
            return document_error(media, refusal.code, &refusal.message, meta);
        }
        let order = document.clone();

        let batches = Batches::default();
        let reader = Limited::new(state.db.clone(), state.config.db_max_per_request);
        let loaders = Loaders::new(reader.clone(), viewer, &batches);
        let request = request.data(RequestContext { viewer, meta: meta.clone() }).data(loaders).data(reader);
        let work = batches.run(state.schema.execute(request));
        let executed = tokio::time::timeout(state.config.request_timeout(), counter.clone().scope(work)).await;
        let Ok(response) = executed else {
            tracing::warn!(
                event = "graphql_request_timed_out",
                timeout_ms = state.config.request_timeout_ms,
                "request ran past its deadline"
            );
            let rejection = Rejection::new(
                StatusCode::GATEWAY_TIMEOUT,
                "TIMEOUT",
                format!("The request did not finish within {} ms", state.config.request_timeout_ms),
            );
            return (rejection.status, rejection.body(&meta.request_id));
        };

        let ran = !(response.data == GqlValue::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty()));
        let mut body = Map::new();
        if ran {
            let mut data = response.data;
            order_like_the_document(&mut data, &order, operation(&order, operation_name.as_deref()));
            body.insert("data".into(), serde_json::to_value(data).unwrap_or(Value::Null));
        }
        if !response.errors.is_empty() {
            let errors: Vec<Value> = response.errors.into_iter().map(|e| error_json(e, ran, meta)).collect();
            body.insert("errors".into(), Value::Array(errors));
        }
        let mut extensions: Map<String, Value> =
            response.extensions.into_iter().filter_map(|(k, v)| Some((k, serde_json::to_value(v).ok()?))).collect();
        if state.config.debug_sql_count {
            extensions.insert("sqlStatements".into(), Value::from(counter.get()));
        }
        if !extensions.is_empty() {
            body.insert("extensions".into(), Value::Object(extensions));
        }
        let status = if ran { StatusCode::OK } else { media.document_error_status() };
        (status, Value::Object(body))
    }
}

/// One error as JSON, with `requestId`, a message cut to a short prefix,
/// and a `code` for errors the GraphQL engine raised without one: a client
/// mistake (a document that does not validate, an argument or variable that
/// does not coerce) is the client's; anything else is internal, logged and
/// masked.
fn error_json(mut error: ServerError, ran: bool, meta: &RequestMeta) -> Value {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        let code = engine_error_code(&error.message, ran, !error.path.is_empty());
        if code == "INTERNAL_SERVER_ERROR" {
            tracing::error!(event = "internal_error", error = %error.message, "resolver error without a code");
            error.message = "Internal server error".into();
        }
        error.extensions.get_or_insert_with(Default::default).set("code", code);
    }
    error.message = truncated(&error.message, protocol::MAX_ECHO);
    error.extensions.get_or_insert_with(Default::default).set("requestId", meta.request_id.as_str());
    serde_json::to_value(&error).unwrap_or(Value::Null)
}

/// The code of an error the engine raised without one.
fn engine_error_code(message: &str, ran: bool, has_path: bool) -> &'static str {
    // Coercion of arguments and variables (async-graphql's own wording).
    let coercion = ["Failed to parse", "Invalid value for argument", "Variable "];
    if coercion.iter().any(|p| message.starts_with(p)) {
        return ErrorCode::BadUserInput.as_str();
    }
    if !ran && !has_path {
        return match message {
            "Query is nested too deep." => "QUERY_TOO_DEEP",
            "Query is too complex." => "QUERY_TOO_COMPLEX",
            _ => "GRAPHQL_VALIDATION_FAILED",
        };
    }
    ErrorCode::InternalServerError.as_str()
}

/// Puts every object's keys in the order the document selected them (the
/// engine inserts them as they finish). Fragments are expanded in place; a
/// key selected more than once takes its first place, and its value is
/// ordered by all its selections together.
fn order_like_the_document(data: &mut GqlValue, document: &ExecutableDocument, op: Option<&OperationDefinition>) {
    if let Some(op) = op {
        reorder(data, &[&op.selection_set.node], document);
    }
}

/// The response keys of `sets`, in order, each with every selection set
/// that selects under it.
fn response_keys<'a>(
    sets: &[&'a SelectionSet],
    document: &'a ExecutableDocument,
) -> Vec<(&'a str, Vec<&'a SelectionSet>)> {
    fn walk<'a>(
        set: &'a SelectionSet,
        document: &'a ExecutableDocument,
        out: &mut Vec<(&'a str, Vec<&'a SelectionSet>)>,
        depth: usize,
    ) {
        if depth > limits::MAX_NESTING {
            return;
        }
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let key = field.node.response_key().node.as_str();
                    let subset = &field.node.selection_set.node;
                    match out.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, subsets)) => subsets.push(subset),
                        None => out.push((key, vec![subset])),
                    }
                }
                Selection::InlineFragment(f) => walk(&f.node.selection_set.node, document, out, depth + 1),
                Selection::FragmentSpread(s) => {
                    if let Some(f) = document.fragments.get(&s.node.fragment_name.node) {
                        walk(&f.node.selection_set.node, document, out, depth + 1);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for set in sets {
        walk(set, document, &mut out, 0);
    }
    out
}

fn reorder(value: &mut GqlValue, sets: &[&SelectionSet], document: &ExecutableDocument) {
    match value {
        GqlValue::List(items) => items.iter_mut().for_each(|item| reorder(item, sets, document)),
        GqlValue::Object(map) => {
            let mut old = std::mem::take(map);
            for (key, subsets) in response_keys(sets, document) {
                if let Some((name, mut inner)) = old.shift_remove_entry(key) {
                    reorder(&mut inner, &subsets, document);
                    map.insert(name, inner);
                }
            }
            map.extend(old);
        }
        _ => {}
    }
}
