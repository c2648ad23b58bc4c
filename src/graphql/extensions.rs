//! Schema extensions.

/// Root mutation fields: fresh dataloader caches for each, and none runs
/// after a failed one.
pub mod root_mutations;
/// `slow_resolver_detected` events.
pub mod slow_resolver;
