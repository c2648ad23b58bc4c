//! The GraphQL endpoint (POST for everything, GET for queries only) and
//! GraphiQL.
//!
//! Here, and only here, every error in a response gets `extensions.requestId`,
//! and errors raised before execution (parse, validation) get a `code`.

use std::net::SocketAddr;

use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{ErrorExtensions, Response, ServerError, Value};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use std::convert::Infallible;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse};

use crate::db::StatementCounter;
use crate::domain::{Viewer, users};
use crate::error::{AppError, ErrorCode};
use crate::graphql::context::{RequestContext, RequestMeta};
use crate::graphql::loaders::{Batches, Loaders};
use crate::http::AppState;
use crate::http::request_id::RequestId;

/// GraphiQL, with the headers editor for `Authorization: Bearer ...`.
pub async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").title("Courier GraphiQL").finish())
}

/// `POST /graphql`.
pub async fn post(State(state): State<AppState>, caller: Caller, request: GraphQLRequest) -> impl IntoResponse {
    execute(&state, caller, request.into_inner()).await.into_response()
}

/// `GET /graphql`: queries only; a mutation is refused with 405.
pub async fn get(State(state): State<AppState>, caller: Caller, request: GraphQLRequest) -> axum::response::Response {
    let mut request = request.into_inner();
    if selects_mutation(&mut request) {
        let err = AppError::validation("query", "Mutations are only accepted over POST");
        let response = with_request_id(Response::from_errors(vec![request_error(&err)]), &caller.meta);
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")], GraphQLResponse::from(response))
            .into_response();
    }
    execute(&state, caller, request).await.into_response()
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

/// Whether the operation the request would run is a mutation (or subscription).
fn selects_mutation(request: &mut async_graphql::Request) -> bool {
    let name = request.operation_name.clone();
    let Ok(doc) = request.parsed_query() else { return false };
    let ty = match &doc.operations {
        DocumentOperations::Single(op) => Some(op.node.ty),
        DocumentOperations::Multiple(ops) => match name {
            Some(name) => ops.get(name.as_str()).map(|op| op.node.ty),
            None if ops.len() == 1 => ops.values().next().map(|op| op.node.ty),
            None => None,
        },
    };
    matches!(ty, Some(OperationType::Mutation | OperationType::Subscription))
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

async fn execute(state: &AppState, caller: Caller, request: async_graphql::Request) -> GraphQLResponse {
    let Caller { meta, authorization } = caller;
    let counter = StatementCounter::default();
    let work = async {
        let viewer = match authenticate(state, authorization.as_deref()).await {
            Ok(viewer) => viewer,
            Err(err) => return Response::from_errors(vec![request_error(&err)]),
        };
        let batches = Batches::default();
        let loaders = Loaders::new(state.db.clone(), viewer, &batches);
        let request = request.data(RequestContext { viewer, meta: meta.clone() }).data(loaders);
        batches.run(state.schema.execute(request)).await
    };
    let mut response = counter.clone().scope(work).await;
    if state.config.debug_sql_count {
        response.extensions.insert("sqlStatements".into(), Value::from(counter.get()));
    }
    with_request_id(response, &meta).into()
}

/// An error about the request as a whole (no location, no path).
fn request_error(err: &AppError) -> ServerError {
    let extended = err.extend();
    let mut error = ServerError::new(extended.message, None);
    error.extensions = extended.extensions;
    error
}

/// Adds `requestId` to every error, and a `code` to errors that have none
/// (those raised by the GraphQL engine itself before any resolver ran).
fn with_request_id(mut response: Response, meta: &RequestMeta) -> Response {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            let code = if error.path.is_empty() { ErrorCode::BadUserInput } else { ErrorCode::InternalServerError };
            if code == ErrorCode::InternalServerError {
                tracing::error!(event = "internal_error", error = %error.message, "resolver error without a code");
                error.message = "Internal server error".into();
            }
            extensions.set("code", code.as_str());
        }
        extensions.set("requestId", meta.request_id.as_str());
    }
    response
}
