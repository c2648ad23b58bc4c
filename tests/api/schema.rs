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
