//! GraphQL over HTTP, to the letter of the GraphQL-over-HTTP specification:
//! which media type answers (`Accept`), which requests are well formed
//! (`Content-Type`, the JSON body or the GET parameters), and which status
//! code each outcome gets.
//!
//! - The response is `application/graphql-response+json` when the client
//!   accepts it first, `application/json` when it asks for that, for `*/*`
//!   or sends no `Accept`; 406 when it accepts neither.
//! - A POST must be `application/json` (UTF-8): anything else is 415, which
//!   is also the CSRF defence, since no "simple" cross-site request can
//!   carry that type.
//! - A malformed request (bad JSON, missing `query`, parameters of the wrong
//!   type) is 400. A document that fails to parse or validate is 400 under
//!   `application/graphql-response+json` and 200 under `application/json`,
//!   without a `data` entry either way.
//! - Every error body is GraphQL-shaped: `{"errors": [{"message", "extensions":
//!   {"code", "requestId"}}]}`.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::http::limits::truncated;

/// Longest client-influenced text an error message repeats.
pub const MAX_ECHO: usize = 200;

/// The media types a GraphQL response can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: status codes tell request
    /// errors apart.
    GraphQlResponse,
    /// `application/json`: the legacy type, 200 for every well-formed request.
    Json,
}

impl MediaType {
    /// The `Content-Type` header value.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::GraphQlResponse => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }

    /// The status of a request whose document did not parse or validate.
    pub fn document_error_status(self) -> StatusCode {
        match self {
            Self::GraphQlResponse => StatusCode::BAD_REQUEST,
            Self::Json => StatusCode::OK,
        }
    }
}

/// A request refused before execution: its status, stable code and message.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// HTTP status.
    pub status: StatusCode,
    /// `extensions.code`.
    pub code: &'static str,
    /// For humans; never more than a short prefix of the client's text.
    pub message: String,
    /// Extra headers (`Allow`, `Retry-After`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl Rejection {
    /// A rejection with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: truncated(&message.into(), MAX_ECHO * 2), headers: Vec::new() }
    }

    /// A malformed request: 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The GraphQL-shaped body.
    pub fn body(&self, request_id: &str) -> Value {
        json!({ "errors": [{
            "message": self.message,
            "extensions": { "code": self.code, "requestId": request_id },
        }] })
    }

    /// The HTTP response, in `media`.
    pub fn into_response(self, media: MediaType, request_id: &str) -> Response {
        let body = self.body(request_id);
        let mut response = json_response(self.status, media, &body);
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// A JSON response with the API's headers (`Content-Type`, `Cache-Control: no-store`).
pub fn json_response(status: StatusCode, media: MediaType, body: &impl serde::Serialize) -> Response {
    // Room for a typical page, so the buffer is not regrown (and copied) as it fills.
    let mut bytes = Vec::with_capacity(16 * 1024);
    if serde_json::to_writer(&mut bytes, body).is_err() {
        bytes = b"{}".to_vec();
    }
    (status, [(header::CONTENT_TYPE, media.content_type()), (header::CACHE_CONTROL, "no-store")], bytes).into_response()
}

/// Chooses the response media type from `Accept`.
pub fn negotiate(headers: &HeaderMap) -> Result<MediaType, Rejection> {
    let accept: Vec<&str> = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).collect();
    if accept.iter().all(|v| v.trim().is_empty()) {
        return Ok(MediaType::Json);
    }
    let mut best: Option<(f32, usize, MediaType)> = None;
    for (index, range) in accept.iter().flat_map(|v| v.split(',')).enumerate() {
        let mut parts = range.split(';').map(str::trim);
        let essence = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut quality = 1.0_f32;
        for param in parts {
            if let Some(q) = param.strip_prefix("q=").or_else(|| param.strip_prefix("Q=")) {
                quality = q.trim().parse().unwrap_or(0.0);
            }
        }
        let media = match essence.as_str() {
            "application/graphql-response+json" => MediaType::GraphQlResponse,
            "application/json" | "application/*" | "*/*" => MediaType::Json,
            _ => continue,
        };
        if quality <= 0.0 {
            continue;
        }
        // Highest quality wins; among equals, the one listed first.
        if best.is_none_or(|(q, i, _)| quality > q || (quality == q && index < i)) {
            best = Some((quality, index, media));
        }
    }
    best.map(|(_, _, media)| media).ok_or_else(|| {
        Rejection::new(
            StatusCode::NOT_ACCEPTABLE,
            "NOT_ACCEPTABLE",
            "Accept application/graphql-response+json or application/json",
        )
    })
}

/// Refuses a POST whose body is not JSON in UTF-8 (415).
pub fn require_json(headers: &HeaderMap) -> Result<(), Rejection> {
    let refuse = || {
        Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "POST a JSON body with Content-Type: application/json",
        )
    };
    let value = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).ok_or_else(refuse)?;
    let mut parts = value.split(';').map(str::trim);
    if !parts.next().unwrap_or_default().eq_ignore_ascii_case("application/json") {
        return Err(refuse());
    }
    for param in parts {
        if let Some((name, charset)) = param.split_once('=')
            && name.trim().eq_ignore_ascii_case("charset")
            && !charset.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        {
            return Err(refuse());
        }
    }
    Ok(())
}

/// The parameters of one GraphQL request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    /// The document, unless it is persisted.
    pub query: Option<String>,
    /// Which operation of the document to run.
    pub operation_name: Option<String>,
    /// Variable values.
    pub variables: Map<String, Value>,
    /// Protocol extensions (`persistedQuery`).
    pub extensions: Map<String, Value>,
    /// A persisted document's id (`documentId`, or relay's `doc_id`).
    pub document_id: Option<String>,
}

/// A POST body: one request, or a batch when batching is on.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// One request.
    Single(Params),
    /// Several, answered with an array in the same order.
    Batch(Vec<Params>),
}

/// Parses a POST body. `max_batch` 0 refuses arrays.
pub fn parse_post(bytes: &[u8], max_batch: usize) -> Result<Body, Rejection> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Rejection::bad_request("The request body is empty; send {\"query\": \"...\"}"));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        Rejection::bad_request(format!(
            "The request body is not valid JSON ({} at line {}, column {})",
            kind(&e),
            e.line(),
            e.column()
        ))
    })?;
    match value {
        Value::Object(map) => params(map).map(Body::Single),
        Value::Array(items) => {
            if max_batch == 0 {
                return Err(Rejection::new(
                    StatusCode::BAD_REQUEST,
                    "BATCHING_DISABLED",
                    "Batched requests are not accepted; send one operation per request",
                ));
            }
            if items.is_empty() || items.len() > max_batch {
                return Err(Rejection::new(
                    StatusCode::BAD_REQUEST,
                    "BATCH_TOO_LARGE",
                    format!("A batch has 1 to {max_batch} operations"),
                ));
            }
            items
                .into_iter()
                .map(|item| match item {
                    Value::Object(map) => params(map),
                    _ => Err(Rejection::bad_request("Each operation of a batch is a JSON object")),
                })
                .collect::<Result<_, _>>()
                .map(Body::Batch)
        }
        _ => Err(Rejection::bad_request("The request body is a JSON object: {\"query\": \"...\"}")),
    }
}

fn kind(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Eof => "unexpected end",
        serde_json::error::Category::Syntax => "syntax error",
        _ => "invalid data",
    }
}

/// Parses GET parameters (`query`, `operationName`, and `variables` and
/// `extensions` as JSON text).
pub fn parse_get(raw: Option<&str>) -> Result<Params, Rejection> {
    let mut map = Map::new();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let value = match key.as_ref() {
            "variables" | "extensions" if !value.is_empty() => serde_json::from_str(&value)
                .map_err(|_| Rejection::bad_request(format!("`{key}` is not valid JSON")))?,
            _ => Value::String(value.into_owned()),
        };
        map.insert(key.into_owned(), value);
    }
    params(map)
}

/// The parameters of one request object, each checked for its type.
fn params(mut map: Map<String, Value>) -> Result<Params, Rejection> {
    let mut text = |key: &str| match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Rejection::bad_request(format!("`{key}` must be a string"))),
    };
    let query = text("query")?;
    let operation_name = text("operationName")?;
    let document_id = match text("documentId")? {
        Some(id) => Some(id),
        None => text("doc_id")?,
    };
    let mut object = |key: &str| match map.remove(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(Rejection::bad_request(format!("`{key}` must be a JSON object"))),
    };
    let variables = object("variables")?;
    let extensions = object("extensions")?;
    let persisted = document_id.is_some() || extensions.contains_key("persistedQuery");
    if query.is_none() && !persisted {
        return Err(Rejection::bad_request("The request has no `query`"));
    }
    Ok(Params { query, operation_name, variables, extensions, document_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Result<MediaType, &'static str> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).expect("header"));
        negotiate(&headers).map_err(|r| r.code)
    }

    #[test]
    fn the_response_type_follows_accept() {
        assert_eq!(negotiate(&HeaderMap::new()).map_err(|r| r.code), Ok(MediaType::Json));
        assert_eq!(accept("application/graphql-response+json"), Ok(MediaType::GraphQlResponse));
        assert_eq!(accept("application/json"), Ok(MediaType::Json));
        assert_eq!(accept("*/*"), Ok(MediaType::Json));
        assert_eq!(accept("application/graphql-response+json, application/json;q=0.9"), Ok(MediaType::GraphQlResponse));
        assert_eq!(accept("application/json, application/graphql-response+json"), Ok(MediaType::Json));
        assert_eq!(accept("application/json;q=0.5, application/graphql-response+json"), Ok(MediaType::GraphQlResponse));
        assert_eq!(accept("text/html"), Err("NOT_ACCEPTABLE"));
        assert_eq!(accept("application/json;q=0"), Err("NOT_ACCEPTABLE"));
    }

    #[test]
    fn posts_must_be_json_in_utf8() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).expect("header"));
            require_json(&headers).map_err(|r| r.status)
        };
        assert!(with("application/json").is_ok());
        assert!(with("Application/JSON; charset=UTF-8").is_ok());
        assert_eq!(with("text/plain"), Err(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        assert_eq!(with("application/x-www-form-urlencoded"), Err(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        assert_eq!(with("multipart/form-data; boundary=x"), Err(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        assert_eq!(with("application/json; charset=latin1"), Err(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        assert_eq!(require_json(&HeaderMap::new()).map_err(|r| r.status), Err(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }

    #[test]
    fn bodies_are_checked_for_shape_and_batching() {
        let code = |body: &str, batch| parse_post(body.as_bytes(), batch).map_err(|r| r.code);
        assert!(matches!(parse_post(br#"{"query":"{ a }","variables":null}"#, 0), Ok(Body::Single(_))));
        assert_eq!(code("", 0), Err("BAD_REQUEST"));
        assert_eq!(code("{ \"not a JSON", 0), Err("BAD_REQUEST"));
        assert_eq!(code(r#"{"qeury":"{ a }"}"#, 0), Err("BAD_REQUEST"));
        assert_eq!(code(r#"{"query":1}"#, 0), Err("BAD_REQUEST"));
        assert_eq!(code(r#"{"query":"{ a }","variables":"x"}"#, 0), Err("BAD_REQUEST"));
        assert_eq!(code(r#"[{"query":"{ a }"}]"#, 0), Err("BATCHING_DISABLED"));
        assert!(
            matches!(parse_post(br#"[{"query":"{ a }"},{"query":"{ b }"}]"#, 2), Ok(Body::Batch(b)) if b.len() == 2)
        );
        assert_eq!(code(r#"[{"query":"{ a }"},{"query":"{ b }"},{"query":"{ c }"}]"#, 2), Err("BATCH_TOO_LARGE"));
        // A persisted document needs no query.
        assert!(parse_post(br#"{"documentId":"sha256:ab"}"#, 0).is_ok());
    }

    #[test]
    fn get_parameters_carry_json_variables() {
        let p = parse_get(Some("query=%7B+a+%7D&operationName=Q&variables=%7B%22x%22%3A1%7D")).expect("parses");
        assert_eq!(p.query.as_deref(), Some("{ a }"));
        assert_eq!(p.operation_name.as_deref(), Some("Q"));
        assert_eq!(p.variables.get("x"), Some(&json!(1)));
        assert_eq!(parse_get(Some("query=%7B+a+%7D&variables=nope")).map_err(|r| r.code).err(), Some("BAD_REQUEST"));
        assert_eq!(parse_get(None).map_err(|r| r.code).err(), Some("BAD_REQUEST"));
    }
}
