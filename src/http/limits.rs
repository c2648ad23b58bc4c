//! Document limits judged at the edge, before (or instead of) execution, so
//! a hostile document costs a lexer pass and a walk of its syntax tree, never
//! SQL:
//!
//! - [`scan`]: lexical tokens and bracket nesting, before parsing (a parser
//!   is recursive: 100,000 nested braces must never reach it);
//! - [`check`]: aliases, fields per selection set, root mutation fields and
//!   introspection, on the parsed document;
//! - depth and complexity are async-graphql's validation (see
//!   `graphql::schema`), with connections costed by their page size.
//!
//! Each refusal is a GraphQL error with its own code (see [`Refusal`]).

use std::collections::HashSet;

use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, OperationDefinition, OperationType, Selection, SelectionSet,
};
// The parser's `Value` (which may hold variables) is not re-exported by async-graphql.
use async_graphql::{Name, Positioned};

use crate::config::Config;

/// Deepest bracket nesting (`{`, `(`, `[`) accepted before parsing.
pub const MAX_NESTING: usize = 64;

/// A document refused by a limit: its stable code and a message that never
/// quotes the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `extensions.code`.
    pub code: &'static str,
    /// For humans.
    pub message: String,
}

impl Refusal {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// The limits of one deployment.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Lexical tokens per document.
    pub max_tokens: usize,
    /// Aliased fields per document.
    pub max_aliases: usize,
    /// Fields per selection set.
    pub max_fields_per_selection: usize,
    /// Root fields of a mutation.
    pub max_mutations: usize,
    /// Whether `__schema` and `__type` may be queried.
    pub introspection: bool,
}

impl Limits {
    /// The configured limits.
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_tokens: config.max_tokens,
            max_aliases: config.max_aliases,
            max_fields_per_selection: config.max_fields_per_selection,
            max_mutations: config.max_mutations,
            introspection: config.introspection_enabled(),
        }
    }
}

/// Counts the document's lexical tokens and bracket nesting, stopping at the
/// first limit crossed. Strings, block strings and comments are skipped as
/// the GraphQL lexer would; malformed text is left for the parser to report.
pub fn scan(document: &str, max_tokens: usize) -> Result<usize, Refusal> {
    let bytes = document.as_bytes();
    let (mut i, mut tokens, mut depth) = (0, 0_usize, 0_usize);
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 3;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'{' | b'(' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(Refusal::new(
                        "QUERY_TOO_DEEP",
                        format!("The document nests brackets deeper than {MAX_NESTING} levels"),
                    ));
                }
                i += 1;
            }
            b'}' | b')' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => i += 3,
            b if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' => {
                // A name or a number (with its sign, fraction and exponent).
                i += 1;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'.' | b'+')) {
                    i += 1;
                }
            }
            _ => i += 1,
        }
        tokens += 1;
        if tokens > max_tokens {
            return Err(Refusal::new(
                "TOO_MANY_TOKENS",
                format!("The document has more than {max_tokens} tokens; split it into smaller operations"),
            ));
        }
    }
    Ok(tokens)
}

/// Checks the parsed document against `limits`: aliases across the whole
/// document, fields in each selection set, root fields of `operation` when
/// it is a mutation, and introspection when it is off.
pub fn check(
    document: &ExecutableDocument,
    operation: Option<&OperationDefinition>,
    limits: &Limits,
) -> Result<(), Refusal> {
    let mut walk = Walk { document, limits, aliases: 0, seen: HashSet::new() };
    for (_, op) in document.operations.iter() {
        walk.selection_set(&op.node.selection_set.node)?;
    }
    for fragment in document.fragments.values() {
        walk.selection_set(&fragment.node.selection_set.node)?;
    }
    if let Some(op) = operation {
        let roots = root_fields(document, &op.selection_set.node, &mut HashSet::new());
        if op.ty == OperationType::Mutation && roots.len() > limits.max_mutations {
            return Err(Refusal::new(
                "TOO_MANY_MUTATIONS",
                format!("A request runs at most {} mutations; this one has {}", limits.max_mutations, roots.len()),
            ));
        }
        if !limits.introspection && roots.iter().any(|name| matches!(name.as_str(), "__schema" | "__type")) {
            return Err(Refusal::new("INTROSPECTION_DISABLED", "Introspection is disabled on this server"));
        }
    }
    Ok(())
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    limits: &'a Limits,
    aliases: usize,
    seen: HashSet<*const SelectionSet>,
}

impl Walk<'_> {
    fn selection_set(&mut self, set: &SelectionSet) -> Result<(), Refusal> {
        if !self.seen.insert(set as *const SelectionSet) {
            return Ok(());
        }
        let fields = count_fields(self.document, set, &mut HashSet::new());
        if fields > self.limits.max_fields_per_selection {
            return Err(Refusal::new(
                "TOO_MANY_FIELDS",
                format!(
                    "A selection set has at most {} fields; one has {fields}",
                    self.limits.max_fields_per_selection
                ),
            ));
        }
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    if field.node.alias.is_some() {
                        self.aliases += 1;
                        if self.aliases > self.limits.max_aliases {
                            return Err(Refusal::new(
                                "TOO_MANY_ALIASES",
                                format!("A document has at most {} aliased fields", self.limits.max_aliases),
                            ));
                        }
                    }
                    self.selection_set(&field.node.selection_set.node)?;
                }
                Selection::InlineFragment(fragment) => self.selection_set(&fragment.node.selection_set.node)?,
                // Named fragments are walked once each, from the document.
                Selection::FragmentSpread(_) => {}
            }
        }
        Ok(())
    }
}

fn fragment<'a>(document: &'a ExecutableDocument, name: &Name) -> Option<&'a Positioned<FragmentDefinition>> {
    document.fragments.get(name)
}

/// Fields of one selection set, with those of its fragments at the same level.
fn count_fields(document: &ExecutableDocument, set: &SelectionSet, spread: &mut HashSet<Name>) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(f) => count_fields(document, &f.node.selection_set.node, spread),
            Selection::FragmentSpread(s) => {
                let name = &s.node.fragment_name.node;
                match fragment(document, name) {
                    Some(f) if spread.insert(name.clone()) => {
                        count_fields(document, &f.node.selection_set.node, spread)
                    }
                    _ => 0,
                }
            }
        })
        .sum()
}

/// Names of the root fields an operation selects, fragments expanded.
fn root_fields(document: &ExecutableDocument, set: &SelectionSet, spread: &mut HashSet<Name>) -> Vec<Name> {
    let mut out = Vec::new();
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => out.push(field.node.name.node.clone()),
            Selection::InlineFragment(f) => out.extend(root_fields(document, &f.node.selection_set.node, spread)),
            Selection::FragmentSpread(s) => {
                let name = &s.node.fragment_name.node;
                if let Some(f) = fragment(document, name).filter(|_| spread.insert(name.clone())) {
                    out.extend(root_fields(document, &f.node.selection_set.node, spread));
                }
            }
        }
    }
    out
}

/// Refuses control characters (other than tab, line feed and carriage
/// return) in any string of the variables: PostgreSQL cannot store NUL, and
/// none of them belongs in a name, a reason or a code. The error names the
/// variable and the path inside it.
pub fn check_variables(variables: &serde_json::Map<String, serde_json::Value>) -> Result<(), Refusal> {
    variables.iter().try_for_each(|(name, value)| in_json(format!("${name}"), value))
}

fn in_json(path: String, value: &serde_json::Value) -> Result<(), Refusal> {
    match value {
        serde_json::Value::String(s) => refuse_controls(&path, s),
        serde_json::Value::Array(items) => {
            items.iter().enumerate().try_for_each(|(i, v)| in_json(format!("{path}[{i}]"), v))
        }
        serde_json::Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            refuse_controls(&path, k)?;
            in_json(format!("{path}.{k}"), v)
        }),
        _ => Ok(()),
    }
}

/// Like [`check_variables`], for the string literals of the document's
/// arguments and variable defaults.
pub fn check_text(document: &ExecutableDocument) -> Result<(), Refusal> {
    fn in_value(path: &str, value: &async_graphql_value::Value) -> Result<(), Refusal> {
        use async_graphql_value::Value as V;
        match value {
            V::String(s) => refuse_controls(path, s),
            V::List(items) => items.iter().enumerate().try_for_each(|(i, v)| in_value(&format!("{path}[{i}]"), v)),
            V::Object(map) => map.iter().try_for_each(|(k, v)| in_value(&format!("{path}.{k}"), v)),
            _ => Ok(()),
        }
    }
    fn in_set(set: &SelectionSet) -> Result<(), Refusal> {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    for (name, value) in &field.node.arguments {
                        in_value(&format!("{}.{}", field.node.name.node, name.node), &value.node)?;
                    }
                    in_set(&field.node.selection_set.node)?;
                }
                Selection::InlineFragment(f) => in_set(&f.node.selection_set.node)?,
                Selection::FragmentSpread(_) => {}
            }
        }
        Ok(())
    }
    for (_, op) in document.operations.iter() {
        for var in &op.node.variable_definitions {
            if let Some(default) = &var.node.default_value {
                let json = serde_json::to_value(&default.node).unwrap_or_default();
                in_json(format!("${}", var.node.name.node), &json)?;
            }
        }
        in_set(&op.node.selection_set.node)?;
    }
    document.fragments.values().try_for_each(|f| in_set(&f.node.selection_set.node))
}

fn refuse_controls(path: &str, text: &str) -> Result<(), Refusal> {
    match crate::domain::text::control_character(text, true) {
        Some(c) => Err(Refusal::new(
            "BAD_USER_INPUT",
            format!("`{}` contains the control character U+{:04X}", truncated(path, 80), u32::from(c)),
        )),
        None => Ok(()),
    }
}

/// At most `max` characters of `message`, for error messages that may quote
/// client text.
pub fn truncated(message: &str, max: usize) -> String {
    match message.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits { max_tokens: 100, max_aliases: 3, max_fields_per_selection: 5, max_mutations: 2, introspection: false }
    }

    fn judge(query: &str) -> Result<(), Refusal> {
        let doc = async_graphql::parser::parse_query(query).expect("parses");
        let op = doc.operations.iter().next().map(|(_, op)| op.node.clone());
        check(&doc, op.as_ref(), &limits())
    }

    #[test]
    fn tokens_are_counted_as_the_graphql_lexer_sees_them() {
        assert_eq!(scan("{ a }", 100), Ok(3));
        assert_eq!(scan("query Q($x: Int = -1.5e3) { a(x: $x) }", 100), Ok(19));
        // Strings, block strings and comments are one token or none.
        assert_eq!(scan("{ a(s: \"x { y } \\\" z\") } # { { {\n", 100), Ok(8));
        assert_eq!(scan("{ a(s: \"\"\"{ { \\\"\"\" {\"\"\") }", 100), Ok(8));
        assert_eq!(scan("{ ...F } fragment F on Q { a }", 100), Ok(11));
        assert_eq!(scan(&"{ a } ".repeat(40), 100).map_err(|r| r.code), Err("TOO_MANY_TOKENS"));
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = "{".repeat(100_000);
        assert_eq!(scan(&deep, usize::MAX).map_err(|r| r.code), Err("QUERY_TOO_DEEP"));
        assert!(scan(&format!("{}{}", "{a".repeat(60), "}".repeat(60)), usize::MAX).is_ok());
    }

    #[test]
    fn aliases_fields_mutations_and_introspection_have_their_codes() {
        assert!(judge("{ a: x b: x c: x }").is_ok());
        assert_eq!(judge("{ a: x b: x c: x d { e: y } }").map_err(|r| r.code), Err("TOO_MANY_ALIASES"));
        assert_eq!(judge("{ a b c d e f }").map_err(|r| r.code), Err("TOO_MANY_FIELDS"));
        // Fragments count where they are spread.
        assert_eq!(judge("{ a b c ...F } fragment F on Q { d e f }").map_err(|r| r.code), Err("TOO_MANY_FIELDS"));
        assert!(judge("mutation { a b }").is_ok());
        assert_eq!(judge("mutation { a b ... on M { c } }").map_err(|r| r.code), Err("TOO_MANY_MUTATIONS"));
        assert_eq!(judge("{ __schema { types { name } } }").map_err(|r| r.code), Err("INTROSPECTION_DISABLED"));
        assert!(judge("{ __typename }").is_ok());
        // A fragment spreading itself does not loop.
        assert!(judge("{ ...F } fragment F on Q { a ...F }").is_ok());
    }

    #[test]
    fn control_characters_are_refused_wherever_they_are() {
        let doc =
            async_graphql::parser::parse_query("{ a(x: \"ok\\n\") b(y: { z: [\"bad\\u0000\"] }) }").expect("parses");
        let refused = check_text(&doc).expect_err("NUL refused");
        assert_eq!(refused.code, "BAD_USER_INPUT");
        assert!(refused.message.contains("b.y.z[0]") && refused.message.contains("U+0000"), "{}", refused.message);
        let vars = serde_json::json!({ "input": { "name": "x\u{1b}[31m" } });
        let refused = check_variables(vars.as_object().expect("map")).expect_err("ESC refused");
        assert!(refused.message.contains("$input.name"), "{}", refused.message);
        let fine = serde_json::json!({ "reason": "line one\nline two\ttab" });
        assert!(check_variables(fine.as_object().expect("map")).is_ok());
    }

    #[test]
    fn messages_are_cut_at_a_character_boundary() {
        assert_eq!(truncated("ééééé", 3), "ééé…");
        assert_eq!(truncated("short", 10), "short");
    }
}
