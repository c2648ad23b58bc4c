//! GraphiQL, when enabled (`COURIER_GRAPHIQL`; on in development only).

use async_graphql::http::GraphiQLSource;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::http::AppState;

/// `GET /graphiql`: the IDE, with the headers editor for `Authorization: Bearer ...`.
pub async fn page(State(state): State<AppState>) -> Response {
    if !state.config.graphiql_enabled() {
        return (StatusCode::NOT_FOUND, "GraphiQL is disabled on this server").into_response();
    }
    Html(GraphiQLSource::build().endpoint("/graphql").title("Courier GraphiQL").finish()).into_response()
}
