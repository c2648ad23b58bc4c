//! GraphiQL, served by Courier itself when enabled (`COURIER_GRAPHIQL`; on in
//! development only): pinned production builds of GraphiQL, React and
//! ReactDOM bundled into the binary (refreshed by `tools/update-graphiql.sh`),
//! so the IDE works behind a firewall or offline. Every script and
//! stylesheet carries an integrity hash computed from the bundled bytes, and
//! the page's Content-Security-Policy allows nothing from elsewhere.

use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha384};

use crate::http::AppState;

/// A bundled file: its name under `/graphiql/assets/`, media type and bytes.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "react.production.min.js",
        media_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("graphiql/react.production.min.js"),
    },
    Asset {
        name: "react-dom.production.min.js",
        media_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("graphiql/react-dom.production.min.js"),
    },
    Asset {
        name: "graphiql.min.js",
        media_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("graphiql/graphiql.min.js"),
    },
    Asset {
        name: "graphiql.min.css",
        media_type: "text/css; charset=utf-8",
        bytes: include_bytes!("graphiql/graphiql.min.css"),
    },
    Asset { name: "init.js", media_type: "text/javascript; charset=utf-8", bytes: include_bytes!("graphiql/init.js") },
];

/// The page's Content-Security-Policy: own scripts and styles only (React
/// sets inline style attributes), requests to this origin only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn integrity(bytes: &[u8]) -> String {
    format!("sha384-{}", STANDARD.encode(Sha384::digest(bytes)))
}

/// The HTML page, built once.
fn page_html() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| {
        let tag = |name: &str| {
            let asset = ASSETS.iter().find(|a| a.name == name).unwrap_or(&ASSETS[0]);
            let sri = integrity(asset.bytes);
            if name.ends_with(".css") {
                format!(r#"<link rel="stylesheet" href="/graphiql/assets/{name}" integrity="{sri}">"#)
            } else {
                format!(r#"<script src="/graphiql/assets/{name}" integrity="{sri}"></script>"#)
            }
        };
        format!(
            r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Courier GraphiQL</title>
{css}
</head>
<body style="margin: 0; height: 100vh;">
<div id="graphiql" style="height: 100vh;">Loading…</div>
{react}
{react_dom}
{graphiql}
{init}
</body>
</html>
"#,
            css = tag("graphiql.min.css"),
            react = tag("react.production.min.js"),
            react_dom = tag("react-dom.production.min.js"),
            graphiql = tag("graphiql.min.js"),
            init = tag("init.js"),
        )
    })
}

fn disabled() -> Response {
    (StatusCode::NOT_FOUND, "GraphiQL is disabled on this server").into_response()
}

/// `GET /graphiql`: the IDE, with the headers editor for `Authorization: Bearer ...`.
pub async fn page(State(state): State<AppState>) -> Response {
    if !state.config.graphiql_enabled() {
        return disabled();
    }
    ([(header::CONTENT_SECURITY_POLICY, CSP), (header::CACHE_CONTROL, "no-cache")], Html(page_html())).into_response()
}

/// `GET /graphiql/assets/{name}`: one bundled file.
pub async fn asset(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    if !state.config.graphiql_enabled() {
        return disabled();
    }
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => {
            ([(header::CONTENT_TYPE, asset.media_type), (header::CACHE_CONTROL, "public, max-age=86400")], asset.bytes)
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "No such asset").into_response(),
    }
}
