//! Null propagation as the GraphQL specification requires ("Handling Field
//! Errors"): a field error in a non-null position nulls the nearest nullable
//! ancestor, or `data` itself when there is none, and a failed nullable
//! field is null. async-graphql leaves a failed field's key out of its
//! parent instead, which Relay and Apollo read as a malformed response; this
//! pass runs on each response after execution.

use std::collections::HashMap;

use async_graphql::parser::types::{
    BaseType, ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet, TypeKind,
    TypeSystemDefinition,
};
use async_graphql::{PathSegment, ServerError, Value};

/// Every field's declared type, by (parent type, field name), read once
/// from the schema's SDL.
#[derive(Debug, Default)]
pub struct FieldTypes {
    fields: HashMap<(String, String), async_graphql::parser::types::Type>,
}

impl FieldTypes {
    /// The field types of `sdl` (an unparsable SDL gives an empty map, and
    /// then no propagation: the schema's own SDL always parses).
    pub fn from_sdl(sdl: &str) -> Self {
        let mut fields = HashMap::new();
        if let Ok(document) = async_graphql::parser::parse_schema(sdl) {
            for definition in document.definitions {
                let TypeSystemDefinition::Type(ty) = definition else { continue };
                let ty = ty.node;
                let declared = match ty.kind {
                    TypeKind::Object(o) => o.fields,
                    TypeKind::Interface(i) => i.fields,
                    _ => continue,
                };
                for field in declared {
                    fields.insert((ty.name.node.to_string(), field.node.name.node.to_string()), field.node.ty.node);
                }
            }
        }
        Self { fields }
    }

    fn get(&self, parent: &str, field: &str) -> Option<&async_graphql::parser::types::Type> {
        self.fields.get(&(parent.to_owned(), field.to_owned()))
    }
}

/// One step down a response path: the position's type and whether it may be null.
struct Position {
    nullable: bool,
}

/// Applies every error's propagation to `data`.
pub fn propagate(
    data: &mut Value,
    errors: &[ServerError],
    document: &ExecutableDocument,
    operation: Option<&OperationDefinition>,
    types: &FieldTypes,
) {
    let Some(operation) = operation else { return };
    let root = match operation.ty {
        OperationType::Query => "Query",
        OperationType::Mutation => "Mutation",
        OperationType::Subscription => "Subscription",
    };
    for error in errors {
        if error.path.is_empty() || *data == Value::Null {
            continue;
        }
        let Some(positions) = positions(&error.path, root, &operation.selection_set.node, document, types) else {
            continue;
        };
        // Where the engine left the null: the failed field's key left out,
        // or its parent object nulled whatever the parent's type. From there
        // the null goes up to the nearest nullable position (or `data`).
        let Some(at) = null_at(data, &error.path) else { continue };
        match positions[..=at].iter().rposition(|p| p.nullable) {
            Some(i) => set_null(data, &error.path[..=i]),
            None => *data = Value::Null,
        }
    }
}

/// The positions along `path` (one per segment), or `None` when the path
/// does not match the document and the schema.
fn positions(
    path: &[PathSegment],
    root: &str,
    selection: &SelectionSet,
    document: &ExecutableDocument,
    types: &FieldTypes,
) -> Option<Vec<Position>> {
    let mut out = Vec::with_capacity(path.len());
    let mut parent = root.to_owned();
    let mut sets: Vec<&SelectionSet> = vec![selection];
    let mut current: Option<async_graphql::parser::types::Type> = None;
    for segment in path {
        match segment {
            PathSegment::Field(key) => {
                let (field_type, subsets) = field(key, &parent, &sets, document, types)?;
                parent = named(&field_type).to_owned();
                out.push(Position { nullable: field_type.nullable });
                current = Some(field_type);
                sets = subsets;
            }
            PathSegment::Index(_) => {
                let BaseType::List(inner) = current.take()?.base else { return None };
                out.push(Position { nullable: inner.nullable });
                current = Some(*inner);
            }
        }
    }
    Some(out)
}

fn named(ty: &async_graphql::parser::types::Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

/// The field answered under response key `key` in `sets` (fragments
/// expanded): its declared type and its own selection sets.
fn field<'a>(
    key: &str,
    parent: &str,
    sets: &[&'a SelectionSet],
    document: &'a ExecutableDocument,
    types: &FieldTypes,
) -> Option<(async_graphql::parser::types::Type, Vec<&'a SelectionSet>)> {
    let mut found: Option<async_graphql::parser::types::Type> = None;
    let mut subsets = Vec::new();
    let mut stack: Vec<(&SelectionSet, Option<&str>, usize)> = sets.iter().map(|s| (*s, None, 0)).collect();
    while let Some((set, on, depth)) = stack.pop() {
        if depth > 32 {
            continue;
        }
        for item in &set.items {
            match &item.node {
                Selection::Field(f) if f.node.response_key().node.as_str() == key => {
                    let name = f.node.name.node.as_str();
                    let ty = match name {
                        "__typename" => async_graphql::parser::types::Type::new("String!"),
                        _ => on.and_then(|t| types.get(t, name)).or_else(|| types.get(parent, name)).cloned(),
                    };
                    if found.is_none() {
                        found = ty;
                    }
                    subsets.push(&f.node.selection_set.node);
                }
                Selection::Field(_) => {}
                Selection::InlineFragment(fragment) => {
                    let on = fragment.node.type_condition.as_ref().map(|c| c.node.on.node.as_str()).or(on);
                    stack.push((&fragment.node.selection_set.node, on, depth + 1));
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                        let on = Some(fragment.node.type_condition.node.on.node.as_str());
                        stack.push((&fragment.node.selection_set.node, on, depth + 1));
                    }
                }
            }
        }
    }
    found.map(|ty| (ty, subsets))
}

fn child<'a>(value: &'a mut Value, segment: &PathSegment) -> Option<&'a mut Value> {
    match (value, segment) {
        (Value::Object(map), PathSegment::Field(key)) => map.get_mut(key.as_str()),
        (Value::List(items), PathSegment::Index(i)) => items.get_mut(*i),
        _ => None,
    }
}

/// The index of the first position along `path` that is null or absent,
/// or `None` when the whole path holds values (nothing to propagate).
fn null_at(data: &Value, path: &[PathSegment]) -> Option<usize> {
    let mut value = data;
    for (i, segment) in path.iter().enumerate() {
        let next = match (value, segment) {
            (Value::Object(map), PathSegment::Field(key)) => map.get(key.as_str()),
            (Value::List(items), PathSegment::Index(n)) => items.get(*n),
            _ => None,
        };
        match next {
            None => return Some(i),
            Some(Value::Null) => return Some(i),
            Some(next) => value = next,
        }
    }
    None
}

/// Sets the value at `path` to null (adding the key when the engine left
/// it out), when the path still leads somewhere.
fn set_null(data: &mut Value, path: &[PathSegment]) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut value = data;
    for segment in parents {
        match child(value, segment) {
            Some(next) => value = next,
            None => return,
        }
    }
    match (value, last) {
        (Value::Object(map), PathSegment::Field(key)) => {
            map.insert(async_graphql::Name::new(key), Value::Null);
        }
        (Value::List(items), PathSegment::Index(i)) => {
            if let Some(item) = items.get_mut(*i) {
                *item = Value::Null;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::types::DocumentOperations;

    const SDL: &str = "type Query { a: A! b: A list: [A!]! maybe: [A] }
        type A { id: ID! must: Int! may: Int inner: A! }";

    fn run(query: &str, mut data: Value, paths: &[&[PathSegment]]) -> Value {
        let types = FieldTypes::from_sdl(SDL);
        let document = async_graphql::parser::parse_query(query).expect("query");
        let errors: Vec<ServerError> = paths
            .iter()
            .map(|p| {
                let mut e = ServerError::new("x", None);
                e.path = p.to_vec();
                e
            })
            .collect();
        let op = match &document.operations {
            DocumentOperations::Single(op) => Some(&op.node),
            DocumentOperations::Multiple(_) => None,
        };
        propagate(&mut data, &errors, &document, op, &types);
        data
    }

    fn f(s: &str) -> PathSegment {
        PathSegment::Field(s.into())
    }

    #[test]
    fn a_failed_non_null_field_nulls_the_nearest_nullable_ancestor() {
        let json = |v: serde_json::Value| Value::from_json(v).expect("value");
        // b is nullable: b becomes null.
        let out = run("{ b { id must } }", json(serde_json::json!({ "b": { "id": "1" } })), &[&[f("b"), f("must")]]);
        assert_eq!(out, json(serde_json::json!({ "b": null })));
        // a is non-null, and so is everything up to data: data is null.
        let out = run(
            "{ a { inner { must } } }",
            json(serde_json::json!({ "a": { "inner": {} } })),
            &[&[f("a"), f("inner"), f("must")]],
        );
        assert_eq!(out, Value::Null);
        // [A]: the item becomes null, the others stay.
        let out = run(
            "{ maybe { must } }",
            json(serde_json::json!({ "maybe": [{ "must": 1 }, {}] })),
            &[&[f("maybe"), PathSegment::Index(1), f("must")]],
        );
        assert_eq!(out, json(serde_json::json!({ "maybe": [{ "must": 1 }, null] })));
        // [A!]! under a non-null root: data is null.
        let out = run(
            "{ list { must } }",
            json(serde_json::json!({ "list": [{}] })),
            &[&[f("list"), PathSegment::Index(0), f("must")]],
        );
        assert_eq!(out, Value::Null);
        // A nullable field that failed is null already: nothing else changes.
        let out = run("{ b { may } }", json(serde_json::json!({ "b": { "may": null } })), &[&[f("b"), f("may")]]);
        assert_eq!(out, json(serde_json::json!({ "b": { "may": null } })));
        // A nullable field the engine left out comes back as null.
        let out = run("{ b { id may } }", json(serde_json::json!({ "b": { "id": "1" } })), &[&[f("b"), f("may")]]);
        assert_eq!(out, json(serde_json::json!({ "b": { "id": "1", "may": null } })));
        // Aliases and fragments are followed.
        let out = run(
            "{ x: b { ...F } } fragment F on A { y: must }",
            json(serde_json::json!({ "x": {} })),
            &[&[f("x"), f("y")]],
        );
        assert_eq!(out, json(serde_json::json!({ "x": null })));
    }
}
