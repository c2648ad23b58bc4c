//! `schema.graphql` is generated from the code and must be current.

#[test]
fn the_checked_in_schema_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let checked_in = std::fs::read_to_string(path).expect("schema.graphql exists");
    assert!(
        checked_in == courier::graphql::sdl(),
        "schema.graphql is stale: run `cargo run -- export-schema` and commit the result"
    );
}

/// Every type, field, argument, input field and enum value of the schema
/// has a description: client teams read the schema, not the code.
#[test]
fn every_part_of_the_schema_is_described() {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let doc = async_graphql::parser::parse_schema(courier::graphql::sdl()).expect("the SDL parses");
    let mut missing = Vec::new();
    let mut check = |what: String, description: bool| {
        if !description {
            missing.push(what);
        }
    };
    for definition in &doc.definitions {
        let TypeSystemDefinition::Type(ty) = definition else { continue };
        let ty = &ty.node;
        let name = ty.name.node.as_str();
        check(format!("type {name}"), ty.description.is_some());
        match &ty.kind {
            TypeKind::Object(o) => {
                for f in &o.fields {
                    check(format!("{name}.{}", f.node.name.node), f.node.description.is_some());
                    for a in &f.node.arguments {
                        check(
                            format!("{name}.{}({})", f.node.name.node, a.node.name.node),
                            a.node.description.is_some(),
                        );
                    }
                }
            }
            TypeKind::Interface(i) => {
                for f in &i.fields {
                    check(format!("{name}.{}", f.node.name.node), f.node.description.is_some());
                }
            }
            TypeKind::InputObject(i) => {
                for f in &i.fields {
                    check(format!("{name}.{}", f.node.name.node), f.node.description.is_some());
                }
            }
            TypeKind::Enum(e) => {
                for v in &e.values {
                    check(format!("{name}.{}", v.node.value.node), v.node.description.is_some());
                }
            }
            TypeKind::Scalar | TypeKind::Union(_) => {}
        }
    }
    assert!(missing.is_empty(), "{} parts of the schema have no description:\n{}", missing.len(), missing.join("\n"));
}
