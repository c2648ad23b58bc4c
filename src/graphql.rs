//! The GraphQL API. Resolvers authorize, parse input, call one `domain`
//! function and convert the result; they never run SQL themselves.

pub mod context;
pub mod extensions;
pub mod inputs;
pub mod loaders;
pub mod mutation;
pub mod node;
pub mod pagination;
pub mod query;
pub mod schema;
pub mod types;

pub use schema::{CourierSchema, build_schema, sdl};
