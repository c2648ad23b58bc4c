//! Courier's own `Decimal` and `DateTime` scalars: the wire format is
//! described in the schema, and input that does not follow it is refused
//! during coercion (`BAD_USER_INPUT`), with a message that says what to send.

use std::str::FromStr;

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{SecondsFormat, Utc};

/// An exact decimal number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal(pub rust_decimal::Decimal);

impl From<rust_decimal::Decimal> for Decimal {
    fn from(d: rust_decimal::Decimal) -> Self {
        Self(d)
    }
}

/// Longest decimal text accepted (sign, 28 digits, point, and slack).
const MAX_DECIMAL_TEXT: usize = 40;

/// An exact decimal number, sent and answered as a string such as
/// `"12.50"` or `"-3"`: an optional minus sign, digits, and at most one
/// decimal point; no exponent, no `NaN` or `Infinity`, at most 28 significant
/// digits. Integers may also be sent as JSON numbers; fractions must be
/// strings, so no binary rounding ever touches money. Amounts have the
/// decimal places of their currency's minor unit (USD 2, JPY 0, KWD 3), and
/// the currency is given beside them.
#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => {
                let digits = s.strip_prefix('-').unwrap_or(s);
                let well_formed = !digits.is_empty()
                    && s.len() <= MAX_DECIMAL_TEXT
                    && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
                    && digits.chars().filter(|c| *c == '.').count() <= 1
                    && digits.chars().any(|c| c.is_ascii_digit());
                if !well_formed {
                    return Err(InputValueError::custom(
                        "expected a decimal string such as \"12.50\" (digits, an optional sign and point)",
                    ));
                }
                rust_decimal::Decimal::from_str_exact(s)
                    .map(Self)
                    .map_err(|_| InputValueError::custom("the number has more than 28 significant digits"))
            }
            Value::Number(n) => n
                .as_i64()
                .map(|i| Self(rust_decimal::Decimal::from(i)))
                .ok_or_else(|| InputValueError::custom("send fractional amounts as strings, such as \"12.50\"")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// An instant in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<Utc>);

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(at: chrono::DateTime<Utc>) -> Self {
        Self(at)
    }
}

/// An instant, as an RFC 3339 string with its offset, such as
/// `"2026-11-22T10:42:00Z"` or `"2026-11-22T11:42:00.5+01:00"`. Years 1 to
/// 9999. Answers are in UTC (`+00:00`) with up to microsecond precision;
/// digits past the microsecond are cut on input, as both databases keep
/// microseconds, so what a mutation answers is what is stored.
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(s) = &value else { return Err(InputValueError::expected_type(value)) };
        let at = chrono::DateTime::parse_from_rfc3339(s).map_err(|_| {
            InputValueError::custom("expected an RFC 3339 date-time with an offset, such as \"2026-11-22T10:42:00Z\"")
        })?;
        let at = crate::domain::as_stored(at.with_timezone(&Utc));
        // The year of the instant (UTC), whatever the offset it was written with.
        if !crate::domain::in_storable_years(&at) {
            return Err(InputValueError::custom("the year must be between 1 and 9999"));
        }
        Ok(Self(at))
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::AutoSi, false))
    }
}

impl FromStr for DateTime {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(Value::String(s.to_owned())).map_err(|e| e.into_server_error(Default::default()).message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(v: Value) -> Result<String, String> {
        Decimal::parse(v).map(|d| d.0.to_string()).map_err(|e| e.into_server_error(Default::default()).message)
    }

    #[test]
    fn decimals_are_exact_strings_or_integers() {
        assert_eq!(decimal(Value::from("12.50")), Ok("12.50".into()));
        assert_eq!(decimal(Value::from("-3")), Ok("-3".into()));
        assert_eq!(decimal(Value::from(7)), Ok("7".into()));
        for bad in ["abc", "1e30", "NaN", "Infinity", "", "-", ".", "1.2.3", "+1", " 1", "0x10"] {
            assert!(decimal(Value::from(bad)).is_err(), "{bad:?}");
        }
        assert!(decimal(Value::from("1".repeat(39))).is_err(), "too many digits");
        let float = Value::Number(async_graphql::Number::from_f64(1.5).expect("number"));
        assert!(decimal(float).is_err(), "fractions as JSON numbers");
        assert!(decimal(Value::Boolean(true)).is_err());
    }

    #[test]
    fn date_times_need_an_offset_and_a_four_digit_year() {
        let leap = "2027-06-30T23:59:60.9999999Z".parse::<DateTime>().expect("parses");
        assert_eq!(leap.0.to_rfc3339(), "2027-07-01T00:00:00.999999+00:00", "a leap second is the next second");
        for outside in ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"] {
            assert!(outside.parse::<DateTime>().is_err(), "{outside} is outside the years 1 to 9999 in UTC");
        }
        assert!("0000-12-31T23:00:00-01:00".parse::<DateTime>().is_ok(), "year 1 in UTC");
        let cut = "2027-03-01T10:00:00.123456789+02:00".parse::<DateTime>().expect("parses");
        assert_eq!(cut.0.to_rfc3339(), "2027-03-01T08:00:00.123456+00:00", "cut to the microsecond");
        let ok = "2026-11-22T11:42:00.5+01:00".parse::<DateTime>().expect("parses");
        assert_eq!(ok.to_value(), Value::from("2026-11-22T10:42:00.500+00:00"));
        for bad in ["yesterday", "2026-11-22", "2026-11-22T10:00:00", "2026-13-01T00:00:00Z", "+10000-01-01T00:00:00Z"]
        {
            assert!(bad.parse::<DateTime>().is_err(), "{bad}");
        }
    }
}
