//! Signed messages between Courier and the services it talks to (the card
//! processor's callbacks today): a header of the form `t=<unix seconds>,v1=<hex>`
//! where the hex is HMAC-SHA256 over `"<t>.<body>"` with a shared secret, the
//! scheme Stripe-like providers use. The timestamp is signed too, so an old
//! message cannot be replayed after the tolerance has passed.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a signed timestamp may be from now, either way.
pub const TOLERANCE_SECONDS: i64 = 300;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// No header, or not of the form `t=...,v1=...`.
    Malformed,
    /// The timestamp is outside the tolerance.
    Stale,
    /// No `v1` value matches the body.
    Mismatch,
}

impl SignatureError {
    /// For humans.
    pub fn message(self) -> &'static str {
        match self {
            Self::Malformed => "The signature header is missing or malformed",
            Self::Stale => "The signature's timestamp is too far from now",
            Self::Mismatch => "The signature does not match the body",
        }
    }
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header for `body` at `at`.
pub fn sign(secret: &[u8], body: &[u8], at: DateTime<Utc>) -> String {
    let t = at.timestamp();
    let digest = mac(secret, t, body).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

/// Checks `header` against `body`: well formed, fresh (within
/// [`TOLERANCE_SECONDS`] of `now`) and matching, compared in constant time.
/// Several `v1` values are allowed (a provider rotating its secret).
pub fn verify(secret: &[u8], header: Option<&str>, body: &[u8], now: DateTime<Utc>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Malformed)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", hex)) => candidates.push(decode_hex(hex).ok_or(SignatureError::Malformed)?),
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now.timestamp() - t).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, t, body);
    if candidates.iter().any(|c| expected.clone().verify_slice(c).is_ok()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_body_secret_and_time() {
        let now = Utc::now();
        let header = sign(b"secret", b"{\"a\":1}", now);
        assert_eq!(verify(b"secret", Some(&header), b"{\"a\":1}", now), Ok(()));
        assert_eq!(verify(b"secret", Some(&header), b"{\"a\":2}", now), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"other", Some(&header), b"{\"a\":1}", now), Err(SignatureError::Mismatch));
        let later = now + chrono::Duration::seconds(TOLERANCE_SECONDS + 1);
        assert_eq!(verify(b"secret", Some(&header), b"{\"a\":1}", later), Err(SignatureError::Stale));
    }

    #[test]
    fn malformed_headers_are_refused_and_rotated_secrets_accepted() {
        let now = Utc::now();
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "garbage", "t=1,v1=zz"] {
            assert_eq!(verify(b"s", Some(bad), b"", now), Err(SignatureError::Malformed), "{bad}");
        }
        assert_eq!(verify(b"s", None, b"", now), Err(SignatureError::Malformed));
        let good = sign(b"new", b"x", now);
        let old = sign(b"old", b"x", now);
        let both = format!("{},{}", old, good.split(',').nth(1).expect("v1"));
        assert_eq!(verify(b"new", Some(&both), b"x", now), Ok(()));
    }
}
