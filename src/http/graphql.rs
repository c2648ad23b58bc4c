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
use std::time::Instant;

use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::{ServerError, Value as GqlValue, Variables};
use axum::body::Body as HttpBody;
use axum::extract::{ConnectInfo, FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::db::{Limited, StatementCounter};
use crate::domain::Viewer;
use crate::error::{AppError, ErrorCode};
use crate::graphql::context::{RequestContext, RequestMeta};
use crate::graphql::loaders::{Batches, Loaders};
use crate::http::AppState;
use crate::http::limits::{self, Limits, truncated};
use crate::http::nulls;
use crate::http::protocol::{self, Body, MediaType, Params, Rejection, json_response};
use crate::http::request_id::{CorrelationId, RequestId, SummaryLogged};
use crate::telemetry::metrics;

/// `POST /graphql`.
pub async fn post(State(state): State<AppState>, caller: Caller, headers: HeaderMap, body: HttpBody) -> Response {
    let summary = Summary { state: &state, caller: &caller, started: Instant::now() };
    let media = match protocol::negotiate(&headers) {
        Ok(media) => media,
        Err(rejection) => return summary.refused(rejection, MediaType::Json),
    };
    let refuse = |rejection: Rejection| summary.refused(rejection, media);
    if let Err(rejection) = protocol::require_json(&headers) {
        return refuse(rejection);
    }
    let limit = state.config.max_body_bytes;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let deadline = state.config.request_timeout();
    let bytes = match read_limited(body, limit, declared, deadline).await {
        Read::Body(bytes) => bytes,
        Read::TooLarge => return refuse(too_large(limit)),
        Read::TimedOut => {
            return refuse(Rejection::new(
                StatusCode::REQUEST_TIMEOUT,
                "TIMEOUT",
                format!("The request body did not arrive within {} ms", deadline.as_millis()),
            ));
        }
        Read::Broken => {
            return refuse(Rejection::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "The request body ended before its declared length",
            ));
        }
    };
    let body = match protocol::parse_post(&bytes, state.config.max_batch) {
        Ok(body) => body,
        Err(rejection) => return refuse(rejection),
    };
    let counter = StatementCounter::default();
    let viewer = match counter.clone().scope(caller.viewer(&state)).await {
        Ok(viewer) => viewer,
        Err(err) => return refuse(unauthenticated(&err)),
    };
    let call = Call { state: &state, viewer, meta: &caller.meta, media, method: Method::Post, counter: &counter };
    match body {
        Body::Single(params) => {
            let answer = call.run(params).await;
            summary.answered(json_response(answer.status, media, &answer.wire()), viewer, &counter, &[answer])
        }
        Body::Batch(batch) => {
            let mut answers = Vec::with_capacity(batch.len());
            for params in batch {
                answers.push(call.run(params).await);
            }
            let bodies: Vec<Wire<'_>> = answers.iter().map(Answer::wire).collect();
            let response = json_response(StatusCode::OK, media, &bodies);
            summary.answered(response, viewer, &counter, &answers)
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
    let summary = Summary { state: &state, caller: &caller, started: Instant::now() };
    let media = match protocol::negotiate(&headers) {
        Ok(media) => media,
        Err(rejection) => return summary.refused(rejection, MediaType::Json),
    };
    let refuse = |rejection: Rejection| summary.refused(rejection, media);
    let params = match protocol::parse_get(raw.as_deref()) {
        Ok(params) => params,
        Err(rejection) => return refuse(rejection),
    };
    let counter = StatementCounter::default();
    let viewer = match counter.clone().scope(caller.viewer(&state)).await {
        Ok(viewer) => viewer,
        Err(err) => return refuse(unauthenticated(&err)),
    };
    let call = Call { state: &state, viewer, meta: &caller.meta, media, method: Method::Get, counter: &counter };
    let answer = call.run(params).await;
    let mut response = json_response(answer.status, media, &answer.wire());
    if answer.status == StatusCode::METHOD_NOT_ALLOWED {
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    summary.answered(response, viewer, &counter, &[answer])
}

/// Any other method on `/graphql`: 405 with `Allow`, and its summary line.
pub async fn other_method(State(state): State<AppState>, caller: Caller) -> Response {
    let summary = Summary { state: &state, caller: &caller, started: Instant::now() };
    let rejection = Rejection::new(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "Use GET or POST")
        .with_header(header::ALLOW, HeaderValue::from_static("GET, POST, OPTIONS"));
    summary.refused(rejection, MediaType::Json)
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

/// How reading a body ended.
enum Read {
    /// All of it, within the limit and the deadline.
    Body(axum::body::Bytes),
    /// Over the limit (declared or sent).
    TooLarge,
    /// Not all there by the deadline.
    TimedOut,
    /// The client stopped sending (or sent less than it declared).
    Broken,
}

/// The body, when it is at most `limit` bytes and arrives within
/// `deadline`. A body over the limit is drained a bounded amount (see
/// [`DRAIN_BYTES`]) before the answer; a declared length over the limit is
/// refused without collecting anything.
async fn read_limited(body: HttpBody, limit: usize, declared: Option<usize>, deadline: std::time::Duration) -> Read {
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
                return true;
            }
        }
        true
    })
    .await;
    match read {
        _ if !within || seen > limit => Read::TooLarge,
        Ok(true) if declared.is_some_and(|n| n != seen) => Read::Broken,
        Ok(true) => Read::Body(collected.into()),
        Ok(false) => Read::Broken,
        Err(_) => Read::TimedOut,
    }
}

fn too_large(limit: usize) -> Rejection {
    Rejection::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("The request body is larger than {limit} bytes"),
    )
}

/// A token that does not authenticate is 401; a database that cannot be
/// asked who the token belongs to is the server's fault, 503 (or 504).
fn unauthenticated(err: &AppError) -> Rejection {
    if err.is_server_fault() {
        let (status, message) = match err.code() {
            ErrorCode::Timeout => (StatusCode::GATEWAY_TIMEOUT, err.to_string()),
            ErrorCode::ServiceUnavailable => (StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
            _ => {
                // The detail (SQL, a missing table) goes to the log only.
                tracing::error!(event = "internal_error", error = %err, "authentication failed on the server's side");
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error".to_owned())
            }
        };
        return Rejection::new(status, err.code().as_str(), message);
    }
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
    correlation_id: String,
    authorization: Option<String>,
    /// How many `Authorization` headers came (more than one is refused).
    authorizations: usize,
}

impl Caller {
    /// The viewer the request's bearer token names, if it sent one. The
    /// header may come once only (HTTP does not allow it as a list), rather
    /// than one of two tokens winning.
    async fn viewer(&self, state: &AppState) -> Result<Option<Viewer>, AppError> {
        if self.authorizations > 1 {
            return Err(AppError::Unauthenticated("Send one Authorization header, not several".into()));
        }
        authenticate(state, self.authorization.as_deref()).await
    }
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
        let correlation_id = parts.extensions.get::<CorrelationId>().map(|c| c.0.clone()).unwrap_or_default();
        let authorizations = parts.headers.get_all(header::AUTHORIZATION).iter().count();
        Ok(Self { meta, correlation_id, authorization: header_text(header::AUTHORIZATION), authorizations })
    }
}

/// Resolves the bearer token, if any, into a viewer.
pub(crate) async fn authenticate(state: &AppState, authorization: Option<&str>) -> Result<Option<Viewer>, AppError> {
    let Some(value) = authorization else { return Ok(None) };
    let token = crate::auth::bearer_token(value)
        .ok_or_else(|| AppError::Unauthenticated("Authorization must be `Bearer <token>`".into()))?;
    let user_id = state.tokens.verify(token)?;
    // Through the request reader, so a dead pooled connection is retried.
    state.viewers.authenticate(&Limited::new(state.db.clone(), 1), user_id).await.map(Some)
}

/// The operation `name` selects in `document` (the only one when unnamed).
pub(crate) fn operation<'a>(document: &'a ExecutableDocument, name: Option<&str>) -> Option<&'a OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), None) => Some(&op.node),
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| &op.node),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// The name of a document's only operation, when the client sent no
/// `operationName` (the parser files a named operation under its name even
/// when it is alone).
fn single_operation_name(document: &ExecutableDocument) -> Option<String> {
    match &document.operations {
        DocumentOperations::Multiple(ops) if ops.len() == 1 => ops.keys().next().map(ToString::to_string),
        _ => None,
    }
}

/// The request's variables against the operation's definitions, before
/// anything runs: a variable the operation does not define, or a required
/// one (non-null, no default) that is missing or null, is the client's
/// mistake, named by the variable (`extensions.variable`).
fn check_variables(op: &OperationDefinition, provided: &[(String, bool)]) -> Result<(), (String, String)> {
    for (name, _) in provided {
        if !op.variable_definitions.iter().any(|d| d.node.name.node.as_str() == name) {
            let shown = truncated(name, 64);
            return Err((
                shown.clone(),
                format!("Variable `${shown}` is not defined by the operation; remove it or declare it"),
            ));
        }
    }
    for definition in &op.variable_definitions {
        let definition = &definition.node;
        let name = definition.name.node.as_str();
        let required = !definition.var_type.node.nullable && definition.default_value.is_none();
        let given = provided.iter().find(|(n, _)| n == name);
        if required && given.is_none_or(|(_, null)| *null) {
            return Err((
                name.to_owned(),
                format!(
                    "Variable `${name}` of type `{}` is required: send it in `variables`",
                    definition.var_type.node
                ),
            ));
        }
    }
    Ok(())
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

/// One operation's answer, with what the summary line and the metrics need.
struct Answer {
    status: StatusCode,
    /// The response body but `data` (errors, extensions).
    body: Value,
    /// `data`, kept as the executor made it and written straight out, not
    /// copied into a `serde_json::Value` first.
    data: Option<GqlValue>,
    /// The operation name as sent (for the log; metrics cap it).
    operation: Option<String>,
    /// `query`, `mutation`, `subscription`, or `unknown` before parsing.
    kind: &'static str,
}

/// An answer on the wire: `data` first, then the rest of the body.
#[derive(serde::Serialize)]
struct Wire<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a GqlValue>,
    #[serde(flatten)]
    rest: &'a Value,
}

impl Answer {
    fn wire(&self) -> Wire<'_> {
        Wire { data: self.data.as_ref(), rest: &self.body }
    }

    fn refused(refusal: (StatusCode, Value), code: &'static str) -> Self {
        metrics::refused(code);
        Self { status: refusal.0, body: refusal.1, data: None, operation: None, kind: "unknown" }
    }
}

fn kind_of(ty: OperationType) -> &'static str {
    match ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}

impl Call<'_> {
    /// Checks, executes and answers one operation.
    async fn run(&self, params: Params) -> Answer {
        let Call { state, viewer, meta, media, method, counter } = *self;
        let query = match state.documents.resolve(&params) {
            Ok(query) => query,
            Err(refusal) => {
                return Answer::refused(document_error(media, refusal.code, &refusal.message, meta), refusal.code);
            }
        };
        let Params { operation_name, variables, .. } = params;
        let checked = limits::scan(&query, state.config.max_tokens).and_then(|_| limits::check_variables(&variables));
        if let Err(refusal) = checked {
            return Answer::refused(document_error(media, refusal.code, &refusal.message, meta), refusal.code);
        }
        let provided: Vec<(String, bool)> = variables.iter().map(|(k, v)| (k.clone(), v.is_null())).collect();
        let mut request =
            async_graphql::Request::new(query.as_ref()).variables(Variables::from_json(Value::Object(variables)));
        if let Some(name) = &operation_name {
            request = request.operation_name(name.clone());
        }
        let document = match state.documents.parsed(&query) {
            Ok(document) => document,
            Err(err) => {
                let error = document_error(media, "GRAPHQL_PARSE_FAILED", &ServerError::from(err).message, meta);
                return Answer {
                    status: error.0,
                    body: error.1,
                    data: None,
                    operation: operation_name,
                    kind: "unknown",
                };
            }
        };
        let op = operation(&document, operation_name.as_deref());
        let kind = op.map_or("unknown", |op| kind_of(op.ty));
        let operation_name = operation_name.or_else(|| single_operation_name(&document));
        if method == Method::Get && op.is_some_and(|op| op.ty != OperationType::Query) {
            let rejection = Rejection::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "Mutations are only accepted over POST",
            );
            let body = rejection.body(&meta.request_id);
            return Answer { status: rejection.status, body, data: None, operation: operation_name, kind };
        }
        if let Some(op) = op
            && let Err((variable, message)) = check_variables(op, &provided)
        {
            let rejection = Rejection::new(media.document_error_status(), ErrorCode::BadUserInput.as_str(), message);
            let mut body = rejection.body(&meta.request_id);
            body["errors"][0]["extensions"]["variable"] = Value::from(variable);
            return Answer { status: rejection.status, body, data: None, operation: operation_name, kind };
        }
        let checked = limits::check(&document, op, &Limits::from_config(&state.config))
            .and_then(|()| limits::check_text(&document));
        if let Err(refusal) = checked {
            let mut answer = Answer::refused(document_error(media, refusal.code, &refusal.message, meta), refusal.code);
            answer.operation = operation_name;
            answer.kind = kind;
            return answer;
        }
        // A variable not sent takes its default, as the spec coerces
        // variables: async-graphql reads `@skip`/`@include` conditions
        // without defaults (a missing one counts as false).
        if let Some(op) = op {
            for definition in &op.variable_definitions {
                let (name, default) = (&definition.node.name.node, &definition.node.default_value);
                if let Some(default) = default
                    && !request.variables.contains_key(name)
                {
                    request.variables.insert(name.clone(), default.node.clone());
                }
            }
        }
        request.set_parsed_query(ExecutableDocument::clone(&document));
        let order = document;
        // For the selections `@skip` and `@include` leave out of the answer.
        let variables = request.variables.clone();

        let started = Instant::now();
        let batches = Batches::default();
        let reader = Limited::new(state.db.clone(), state.config.db_max_per_request);
        let loaders = Loaders::new(reader.clone(), viewer, &batches);
        let request = request.data(RequestContext { viewer, meta: meta.clone() }).data(loaders).data(reader);
        let work = batches.run(state.schema.execute(request));
        let executed = tokio::time::timeout(state.config.request_timeout(), counter.clone().scope(work)).await;
        let elapsed = started.elapsed();
        let Ok(response) = executed else {
            let label = state.operation_names.label(operation_name.as_deref());
            metrics::graphql_operation(&label, kind, elapsed);
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
            metrics::refused("TIMEOUT");
            let body = rejection.body(&meta.request_id);
            return Answer { status: rejection.status, body, data: None, operation: operation_name, kind };
        };

        let ran = !(response.data == GqlValue::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty()));
        // Only an operation that validated and ran may take a name slot: a
        // document the schema refused is `rejected`, whatever it is called.
        let label = if ran { state.operation_names.label(operation_name.as_deref()) } else { "rejected".to_owned() };
        metrics::graphql_operation(&label, kind, elapsed);
        let mut body = Map::new();
        let data = ran.then(|| {
            let mut data = response.data;
            let op = operation(&order, operation_name.as_deref());
            nulls::propagate(&mut data, &response.errors, &order, op, &state.field_types);
            order_like_the_document(&mut data, &order, op, &variables);
            data
        });
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
        if !ran {
            let codes = body.get("errors").and_then(Value::as_array).into_iter().flatten();
            for code in codes.filter_map(|e| e["extensions"]["code"].as_str()) {
                match code {
                    "QUERY_TOO_DEEP" => metrics::refused("QUERY_TOO_DEEP"),
                    "QUERY_TOO_COMPLEX" => metrics::refused("QUERY_TOO_COMPLEX"),
                    _ => {}
                }
            }
        }
        let status = if ran { StatusCode::OK } else { media.document_error_status() };
        Answer { status, body: Value::Object(body), data, operation: operation_name, kind }
    }
}

/// The request's summary: metrics and the `graphql_request_completed` line.
struct Summary<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    started: Instant,
}

impl Summary<'_> {
    /// A request refused before any operation ran.
    fn refused(&self, rejection: Rejection, media: MediaType) -> Response {
        metrics::refused(rejection.code);
        metrics::graphql_error(rejection.code);
        let (status, code) = (rejection.status, rejection.code);
        let response = rejection.into_response(media, &self.caller.meta.request_id);
        self.log(status, None, &[code.to_owned()], None, "unknown", 0);
        mark(response)
    }

    /// Answered operations: counts their errors, logs the line.
    fn answered(
        &self,
        response: Response,
        viewer: Option<Viewer>,
        counter: &StatementCounter,
        answers: &[Answer],
    ) -> Response {
        let codes: Vec<String> = answers
            .iter()
            .filter_map(|a| a.body.get("errors")?.as_array())
            .flatten()
            .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned))
            .collect();
        for code in &codes {
            metrics::graphql_error(code);
        }
        let statements = counter.get();
        metrics::statements_per_request(statements);
        let names: Vec<&str> = answers.iter().filter_map(|a| a.operation.as_deref()).collect();
        let name = (!names.is_empty()).then(|| names.join(","));
        let kind = match answers {
            [one] => one.kind,
            _ => "batch",
        };
        self.log(response.status(), viewer, &codes, name.as_deref(), kind, statements);
        mark(response)
    }

    fn log(
        &self,
        status: StatusCode,
        viewer: Option<Viewer>,
        codes: &[String],
        operation: Option<&str>,
        kind: &str,
        statements: u64,
    ) {
        let config = &self.state.config;
        if !config.request_log {
            return;
        }
        let elapsed = self.started.elapsed();
        let duration_ms = crate::telemetry::ms(elapsed);
        let meta = &self.caller.meta;
        let viewer_id = viewer.map(|v| v.id.to_string());
        let operation = operation.map(|o| truncated(o, 128));
        let error_codes = codes.join(",");
        macro_rules! line {
            ($level:ident) => {
                tracing::$level!(
                    event = "graphql_request_completed",
                    request_id = %meta.request_id,
                    correlation_id = %self.caller.correlation_id,
                    operation_name = operation.as_deref().unwrap_or(""),
                    operation_type = kind,
                    viewer_id = viewer_id.as_deref().unwrap_or(""),
                    duration_ms,
                    sql_statements = statements,
                    error_codes = %error_codes,
                    status = status.as_u16(),
                    "GraphQL request completed"
                )
            };
        }
        if elapsed.as_millis() >= u128::from(config.slow_request_ms) {
            line!(warn);
        } else {
            line!(info);
        }
    }
}

/// Tells the request layer the summary line is logged already.
fn mark(mut response: Response) -> Response {
    response.extensions_mut().insert(SummaryLogged);
    response
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
/// key selected more than once takes its first place that `@skip` or
/// `@include` leaves in, and its value is ordered by all its selections
/// together.
fn order_like_the_document(
    data: &mut GqlValue,
    document: &ExecutableDocument,
    op: Option<&OperationDefinition>,
    variables: &Variables,
) {
    if let Some(op) = op {
        let doc = Doc { document, variables };
        reorder_with(data, &Shape::new(&[&op.selection_set.node], &doc), &doc);
    }
}

/// What ordering an answer needs of its request: the document and the
/// variables.
struct Doc<'a> {
    document: &'a ExecutableDocument,
    variables: &'a Variables,
}

impl Doc<'_> {
    /// Whether `directives` leave their selection in: no `@skip(if: true)`,
    /// no `@include(if: false)`. An `if` that cannot be read (the engine
    /// refuses such a document) leaves it in. Variables hold their defaults
    /// by now.
    fn selects(&self, directives: &[async_graphql::Positioned<Directive>]) -> bool {
        directives.iter().all(|directive| {
            let condition = directive.node.get_argument("if").and_then(|value| match &value.node {
                async_graphql_value::Value::Boolean(b) => Some(*b),
                async_graphql_value::Value::Variable(name) => match self.variables.get(name) {
                    Some(GqlValue::Boolean(b)) => Some(*b),
                    _ => None,
                },
                _ => None,
            });
            match directive.node.name.node.as_str() {
                "skip" => condition != Some(true),
                "include" => condition != Some(false),
                _ => true,
            }
        })
    }
}

/// The response keys of `sets`, in order, each with every selection set
/// that selects under it.
fn response_keys<'a>(sets: &[&'a SelectionSet], doc: &Doc<'a>) -> Vec<(&'a str, Vec<&'a SelectionSet>)> {
    fn walk<'a>(set: &'a SelectionSet, doc: &Doc<'a>, out: &mut Vec<(&'a str, Vec<&'a SelectionSet>)>, depth: usize) {
        if depth > limits::MAX_NESTING {
            return;
        }
        for item in &set.items {
            if !doc.selects(item.node.directives()) {
                continue;
            }
            match &item.node {
                Selection::Field(field) => {
                    let key = field.node.response_key().node.as_str();
                    let subset = &field.node.selection_set.node;
                    match out.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, subsets)) => subsets.push(subset),
                        None => out.push((key, vec![subset])),
                    }
                }
                Selection::InlineFragment(f) => walk(&f.node.selection_set.node, doc, out, depth + 1),
                Selection::FragmentSpread(s) => {
                    if let Some(f) = doc.document.fragments.get(&s.node.fragment_name.node) {
                        walk(&f.node.selection_set.node, doc, out, depth + 1);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for set in sets {
        walk(set, doc, &mut out, 0);
    }
    out
}

/// The response keys of some selection sets, in document order, each with
/// the shape below it, worked out once however many objects share it (every
/// object of a list).
struct Shape<'a> {
    keys: Vec<(&'a str, Vec<&'a SelectionSet>, std::cell::OnceCell<Shape<'a>>)>,
}

impl<'a> Shape<'a> {
    fn new(sets: &[&'a SelectionSet], doc: &Doc<'a>) -> Self {
        let keys = response_keys(sets, doc).into_iter().map(|(k, s)| (k, s, std::cell::OnceCell::new())).collect();
        Self { keys }
    }
}

fn reorder_with<'a>(value: &mut GqlValue, shape: &Shape<'a>, doc: &Doc<'a>) {
    match value {
        GqlValue::List(items) => items.iter_mut().for_each(|item| reorder_with(item, shape, doc)),
        GqlValue::Object(map) => {
            // Usually already in document order (its keys are the shape's,
            // some left out, in the same order): then only the values below
            // may need it. Matched by scanning forward, without hashing.
            let in_order = {
                let mut rest = shape.keys.iter();
                map.keys().all(|k| rest.any(|(w, ..)| *w == k.as_str()))
            };
            if !in_order {
                let mut old = std::mem::take(map);
                for (key, ..) in &shape.keys {
                    if let Some((name, inner)) = old.shift_remove_entry(*key) {
                        map.insert(name, inner);
                    }
                }
                map.extend(old);
            }
            // The keys are now in the shape's order (any it does not know
            // last): each found after the previous one's place.
            let mut rest = shape.keys.iter();
            for (key, inner) in map.iter_mut() {
                if !matches!(inner, GqlValue::Object(_) | GqlValue::List(_)) {
                    continue;
                }
                let mut probe = rest.clone();
                if let Some((_, subsets, below)) = probe.find(|(w, ..)| *w == key.as_str()) {
                    rest = probe;
                    reorder_with(inner, below.get_or_init(|| Shape::new(subsets, doc)), doc);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::single_operation_name;

    #[test]
    fn the_only_operation_keeps_its_name() {
        let name = |q: &str| single_operation_name(&async_graphql::parser::parse_query(q).expect("parses"));
        assert_eq!(name("query Mine { viewer { id } }").as_deref(), Some("Mine"));
        assert_eq!(name("fragment F on Query { a }\nmutation\nPay { ...F }").as_deref(), Some("Pay"));
        assert_eq!(name("{ viewer { id } }"), None);
        assert_eq!(name("query($n: Int) { a(n: $n) }"), None);
        assert_eq!(name("query A { a } query B { b }"), None, "two operations: the client names one");
    }
}
