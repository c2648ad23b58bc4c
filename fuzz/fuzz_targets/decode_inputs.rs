//! Feeds arbitrary bytes to everything that decodes client input before a
//! resolver runs: global IDs, cursors, the Decimal and DateTime scalars, the
//! JSON body and GET parameters, the token scan and the document checks.
//! Any panic is a bug. See fuzz/README.md.
#![no_main]

use async_graphql::{ID, ScalarType, Value};
use courier::graphql::node;
use courier::graphql::pagination::{CursorKey, CursorScope, PageArgs};
use courier::graphql::scalars::{DateTime, Decimal};
use courier::http::{limits, protocol};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = protocol::parse_post(data, 4);
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = protocol::parse_get(Some(text));
    let _ = node::decode(&ID(text.to_owned()));
    let scope = CursorScope { connection: "orders", sort: "CREATED_AT:DESC".into(), key: CursorKey::derive("fuzz-secret-of-enough-length") };
    let _ = scope.page_request(&PageArgs { after: Some(text.to_owned()), ..Default::default() });
    let _ = Decimal::parse(Value::String(text.to_owned()));
    let _ = DateTime::parse(Value::String(text.to_owned()));
    if limits::scan(text, 3_000).is_ok()
        && let Ok(doc) = async_graphql::parser::parse_query(text)
    {
        let limits = limits::Limits { max_tokens: 3_000, max_aliases: 30, max_fields_per_selection: 100, max_mutations: 10, introspection: false };
        let op = doc.operations.iter().next().map(|(_, op)| op.node.clone());
        let _ = limits::check(&doc, op.as_ref(), &limits);
        let _ = limits::check_text(&doc);
    }
    if let Ok(serde_json::Value::Object(vars)) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = limits::check_variables(&vars);
    }
});
