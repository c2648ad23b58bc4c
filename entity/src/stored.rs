//! Reading rows back from JSON, as PostgreSQL's `row_to_json` writes them
//! (the one-statement read of a page's relations): a closed set of values
//! arrives as its stored string (`"CAPTURED"`).
//!
//! The same `Deserialize` also reads what serde itself wrote (`"Captured"`,
//! the variant name), which is how stored idempotent responses hold them, so
//! both forms are accepted.

use sea_orm::ActiveEnum;
use serde::de::{Deserialize, Deserializer, Error, IntoDeserializer};

/// Deserializes a closed set of values from its stored string or its
/// variant name (`#[serde(deserialize_with = "crate::stored::value")]`).
pub fn value<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: ActiveEnum<Value = String> + Deserialize<'de>,
{
    let text = String::deserialize(deserializer)?;
    if let Ok(value) = T::try_from_value(&text) {
        return Ok(value);
    }
    T::deserialize(text.into_deserializer()).map_err(|e: serde::de::value::Error| D::Error::custom(e))
}

#[cfg(test)]
mod tests {
    use crate::{PaymentStatus, payment};

    #[test]
    fn reads_the_stored_string_and_the_variant_name() {
        let row = |status: &str| {
            format!(
                r#"{{"id":"0190e7a4-0000-7000-8000-000000000001","order_id":"0190e7a4-0000-7000-8000-000000000002",
                "amount_minor":1250,"currency":"USD","method":"WALLET","status":"{status}","refunded_minor":0,
                "captured_at":null,"created_at":"2026-11-23T10:00:00.123456+00:00",
                "updated_at":"2026-11-23T11:00:00+01:00","processor_ref":null,"processor_status":null}}"#
            )
        };
        for status in ["CAPTURED", "Captured"] {
            let p: payment::Model = serde_json::from_str(&row(status)).expect("reads");
            assert_eq!(p.status, PaymentStatus::Captured);
            assert_eq!(p.updated_at, p.created_at + chrono::Duration::microseconds(-123_456));
        }
        assert!(serde_json::from_str::<payment::Model>(&row("PAID")).is_err());
    }
}
