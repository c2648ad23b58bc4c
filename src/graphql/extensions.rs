//! Schema extensions.

pub mod slow_resolver;
