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

/// Fields below the root that some viewers may not see (their description
/// names who may: "... only", "admins", "themself", "itself") are nullable,
/// so a refused one is null with a FORBIDDEN error and nulls nothing else.
/// Root fields are exempt: a root field the viewer may not use is a refused
/// request, and its non-null type nulls `data` as the specification says.
#[test]
fn guarded_fields_below_the_root_are_nullable() {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let doc = async_graphql::parser::parse_schema(courier::graphql::sdl()).expect("the SDL parses");
    let mut guarded = Vec::new();
    let mut non_null = Vec::new();
    for definition in &doc.definitions {
        let TypeSystemDefinition::Type(ty) = definition else { continue };
        let ty = &ty.node;
        let name = ty.name.node.as_str();
        let TypeKind::Object(object) = &ty.kind else { continue };
        if ["Query", "Mutation", "Subscription"].contains(&name) {
            continue;
        }
        for field in &object.fields {
            let description = field.node.description.as_ref().map(|d| d.node.to_lowercase()).unwrap_or_default();
            let is_guarded = description.contains(" only")
                && ["admin", "themself", "itself", "agent"].iter().any(|who| description.contains(who));
            if is_guarded {
                guarded.push(format!("{name}.{}", field.node.name.node));
                if !field.node.ty.node.nullable {
                    non_null.push(format!("{name}.{}: {}", field.node.name.node, field.node.ty.node));
                }
            }
        }
    }
    assert!(guarded.iter().any(|f| f == "DeliveryAgent.metrics"), "the walk finds guarded fields: {guarded:?}");
    assert!(guarded.iter().any(|f| f == "User.email"), "{guarded:?}");
    assert!(non_null.is_empty(), "guarded fields must be nullable: {non_null:?}");
}
