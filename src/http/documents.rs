//! Which document a request runs, and whether it may.
//!
//! - **Trusted documents** (`COURIER_TRUSTED_DOCUMENTS`): a JSON object from
//!   sha256 to document text, the persisted-documents manifest that
//!   relay-compiler (`persistConfig` with SHA256) and GraphQL Code Generator
//!   (client preset, `persistedDocuments`) emit. When it is set, a request
//!   runs only a listed document: by id (`documentId: "sha256:<hex>"`,
//!   relay's `doc_id`, or `extensions.persistedQuery.sha256Hash`) or by
//!   sending text whose hash is listed. Anything else is
//!   `OPERATION_NOT_TRUSTED`. Every entry's hash is checked at start-up.
//! - Otherwise **automatic persisted queries** (Apollo's protocol): a client
//!   may send only `extensions.persistedQuery.sha256Hash`; an unknown hash is
//!   `PERSISTED_QUERY_NOT_FOUND`, and the client retries with the text, which
//!   is checked against the hash and kept in a bounded cache.
//!
//! Either way a document that parsed is kept parsed, keyed by its text, so
//! the same text sent again is not parsed again (bounded; a text that does
//! not parse is never kept).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;
use moka::sync::Cache;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::http::limits::Refusal;
use crate::http::protocol::Params;

/// Bytes of document text the automatic persisted query cache holds.
const APQ_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// Bytes the parsed documents may take, estimated as [`PARSED_BYTES_PER_BYTE`]
/// per byte of their text.
const PARSED_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// A parsed document's size per byte of its text, an upper bound: the
/// densest text, a field per two bytes (`{a a a ..}`), parses to some 225
/// bytes per field. The nested page's 250-byte query parses to some 5 KB, so
/// the cache holds about 1,000 documents of that size.
const PARSED_BYTES_PER_BYTE: usize = 128;

/// The server's documents: the allow-list, or the APQ cache, and the
/// documents already parsed.
pub struct Documents {
    trusted: Option<HashMap<String, Arc<str>>>,
    cache: Cache<String, Arc<str>>,
    parsed: Cache<Arc<str>, Arc<ExecutableDocument>>,
}

/// The lowercase hex sha256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal { code, message: message.into() }
}

impl Documents {
    /// Loads the allow-list from `path`, when given.
    pub fn load(path: Option<&Path>) -> Result<Self, String> {
        let cache = Cache::builder()
            .weigher(|_: &String, text: &Arc<str>| u32::try_from(text.len()).unwrap_or(u32::MAX))
            .max_capacity(APQ_CACHE_BYTES)
            .build();
        let parsed = Cache::builder()
            .weigher(|text: &Arc<str>, _: &Arc<ExecutableDocument>| {
                u32::try_from(text.len().saturating_mul(PARSED_BYTES_PER_BYTE)).unwrap_or(u32::MAX)
            })
            .max_capacity(PARSED_CACHE_BYTES)
            .build();
        let Some(path) = path else { return Ok(Self { trusted: None, cache, parsed }) };
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!("cannot read the trusted documents {} (COURIER_TRUSTED_DOCUMENTS): {e}", path.display())
        })?;
        let map: HashMap<String, String> = serde_json::from_str(&text).map_err(|e| {
            format!(
                "the trusted documents {} (COURIER_TRUSTED_DOCUMENTS) are not a JSON object of hash to document: {e}",
                path.display()
            )
        })?;
        let mut trusted = HashMap::with_capacity(map.len());
        for (id, document) in map {
            let hash = id.strip_prefix("sha256:").unwrap_or(&id).to_ascii_lowercase();
            if hash != sha256_hex(&document) {
                return Err(format!(
                    "the trusted documents {} (COURIER_TRUSTED_DOCUMENTS): `{id}` is not the sha256 of its document",
                    path.display()
                ));
            }
            trusted.insert(hash, Arc::from(document));
        }
        tracing::info!(event = "trusted_documents_loaded", documents = trusted.len(), "trusted documents loaded");
        Ok(Self { trusted: Some(trusted), cache, parsed })
    }

    /// `query` parsed: kept from an earlier request with the same text, or
    /// parsed now (and kept when it parses). Parsing was 2-6% of the
    /// server's time on the read benchmarks (bench/RESULTS.md, issue 14).
    pub fn parsed(&self, query: &Arc<str>) -> Result<Arc<ExecutableDocument>, async_graphql::parser::Error> {
        if let Some(document) = self.parsed.get(query.as_ref()) {
            return Ok(document);
        }
        let document = Arc::new(async_graphql::parser::parse_query(query.as_ref())?);
        self.parsed.insert(query.clone(), document.clone());
        Ok(document)
    }

    /// Whether only listed documents run.
    pub fn trusted_only(&self) -> bool {
        self.trusted.is_some()
    }

    /// The document text `params` asks to run.
    pub fn resolve(&self, params: &Params) -> Result<Arc<str>, Refusal> {
        let apq = params.extensions.get("persistedQuery").and_then(Value::as_object);
        let requested = params
            .document_id
            .as_deref()
            .map(|id| id.strip_prefix("sha256:").unwrap_or(id).to_ascii_lowercase())
            .or_else(|| apq.and_then(|p| p.get("sha256Hash")).and_then(Value::as_str).map(str::to_ascii_lowercase));
        if let Some(trusted) = &self.trusted {
            let hash = match (&params.query, requested) {
                (Some(text), _) => sha256_hex(text),
                (None, Some(hash)) => hash,
                (None, None) => return Err(refuse("BAD_REQUEST", "The request names no document")),
            };
            return trusted.get(&hash).cloned().ok_or_else(|| {
                refuse(
                    "OPERATION_NOT_TRUSTED",
                    "Only the server's trusted documents run here; this one is not among them",
                )
            });
        }
        match (&params.query, requested) {
            (Some(text), Some(hash)) => {
                if sha256_hex(text) != hash {
                    return Err(refuse("BAD_REQUEST", "persistedQuery.sha256Hash is not the sha256 of the query"));
                }
                let text: Arc<str> = Arc::from(text.as_str());
                self.cache.insert(hash, text.clone());
                Ok(text)
            }
            (Some(text), None) => Ok(Arc::from(text.as_str())),
            (None, Some(hash)) => self.cache.get(&hash).ok_or_else(|| {
                refuse("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound: send the query with its hash")
            }),
            (None, None) => Err(refuse("BAD_REQUEST", "The request has no `query`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: Option<&str>, hash: Option<&str>) -> Params {
        let mut p = Params { query: query.map(str::to_owned), ..Params::default() };
        if let Some(h) = hash {
            p.extensions.insert("persistedQuery".into(), serde_json::json!({ "version": 1, "sha256Hash": h }));
        }
        p
    }

    #[test]
    fn documents_that_parse_are_kept_parsed() {
        let docs = Documents::load(None).expect("no list");
        let query: Arc<str> = Arc::from("{ orders(first: 2) { nodes { id } } }");
        let first = docs.parsed(&query).expect("parses");
        let again = docs.parsed(&Arc::from(query.to_string())).expect("parses");
        assert!(Arc::ptr_eq(&first, &again), "the same text is parsed once");
        let other = docs.parsed(&Arc::from("{ orders(first: 3) { nodes { id } } }")).expect("parses");
        assert!(!Arc::ptr_eq(&first, &other), "another text is another document");
        let broken: Arc<str> = Arc::from("{ orders(first: ");
        assert!(docs.parsed(&broken).is_err());
        docs.parsed.run_pending_tasks();
        assert!(docs.parsed.get(broken.as_ref()).is_none(), "a text that does not parse is not kept");
        assert!(docs.parsed(&broken).is_err(), "and fails again");
    }

    #[test]
    fn automatic_persisted_queries_remember_checked_text() {
        let docs = Documents::load(None).expect("no list");
        let query = "{ __typename }";
        let hash = sha256_hex(query);
        let code = |r: Result<Arc<str>, Refusal>| r.map_err(|e| e.code).map(|t| t.to_string());
        assert_eq!(code(docs.resolve(&params(None, Some(&hash)))), Err("PERSISTED_QUERY_NOT_FOUND"));
        assert_eq!(code(docs.resolve(&params(Some(query), Some(&"0".repeat(64))))), Err("BAD_REQUEST"));
        assert_eq!(code(docs.resolve(&params(Some(query), Some(&hash)))), Ok(query.to_owned()));
        assert_eq!(code(docs.resolve(&params(None, Some(&hash)))), Ok(query.to_owned()));
    }

    #[test]
    fn trusted_documents_run_only_what_is_listed() {
        let listed = "query Me { viewer { id } }";
        let path = std::env::temp_dir().join(format!("trusted-{}.json", uuid::Uuid::new_v4().simple()));
        std::fs::write(&path, serde_json::json!({ format!("sha256:{}", sha256_hex(listed)): listed }).to_string())
            .expect("write");
        let docs = Documents::load(Some(&path)).expect("loads");
        let code = |p: Params| docs.resolve(&p).map(|t| t.to_string()).map_err(|e| e.code);
        assert_eq!(code(params(None, Some(&sha256_hex(listed)))), Ok(listed.to_owned()));
        let by_id = Params { document_id: Some(format!("sha256:{}", sha256_hex(listed))), ..Params::default() };
        assert_eq!(code(by_id), Ok(listed.to_owned()));
        assert_eq!(code(params(Some(listed), None)), Ok(listed.to_owned()));
        assert_eq!(code(params(Some("{ users { totalCount } }"), None)), Err("OPERATION_NOT_TRUSTED"));
        assert_eq!(code(params(None, Some(&"a".repeat(64)))), Err("OPERATION_NOT_TRUSTED"));

        std::fs::write(&path, serde_json::json!({ "sha256:abc": listed }).to_string()).expect("write");
        assert!(Documents::load(Some(&path)).is_err_and(|e| e.contains("not the sha256")));
        let _ = std::fs::remove_file(path);
    }
}
