//! Per-client rate limiting on `/graphql` (`COURIER_RATE_LIMIT_PER_MINUTE`;
//! off by default in development, 600 a minute in production), with the
//! GCRA of the `governor` crate: a client is its token's subject when the
//! token verifies, else its IP address, so a flood of random tokens does not
//! get a fresh allowance each. A refused request is 429 `RATE_LIMITED` with
//! `Retry-After`, and costs no database work.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use uuid::Uuid;

use crate::auth::TokenService;
use crate::http::AppState;
use crate::http::protocol::{self, MediaType, Rejection};
use crate::http::request_id::RequestId;

/// Who a request counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Client {
    /// The subject of a token that verified.
    User(Uuid),
    /// Anyone else, by address.
    Address(IpAddr),
}

/// The limiter of one server.
pub struct RateLimiter {
    limiter: DefaultKeyedRateLimiter<Client>,
    checks: AtomicU64,
}

impl RateLimiter {
    /// `per_minute` requests a minute per client, in bursts of up to a tenth
    /// of that (at least 10).
    pub fn new(per_minute: u32) -> Self {
        let rate = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new((per_minute / 10).max(10)).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst)),
            checks: AtomicU64::new(0),
        }
    }

    /// `Ok` when `client` may go on, else how many seconds to wait.
    fn check(&self, client: &Client) -> Result<(), u64> {
        // Forget idle clients now and then, so the table stays small.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 10_000 == 9_999 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(client).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

fn client(tokens: &TokenService, request: &Request) -> Client {
    let bearer =
        request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(crate::auth::bearer_token);
    if let Some(user) = bearer.and_then(|token| tokens.verify(token).ok()) {
        return Client::User(user);
    }
    let ip = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    Client::Address(ip.unwrap_or(IpAddr::from([0, 0, 0, 0])))
}

/// The middleware: counts the request against its client, or refuses it.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(limiter) = &state.rate_limiter else { return next.run(request).await };
    let Err(wait) = limiter.check(&client(&state.tokens, &request)) else { return next.run(request).await };
    tracing::warn!(event = "rate_limited", retry_after_s = wait, "request refused by the rate limit");
    crate::telemetry::metrics::refused("RATE_LIMITED");
    crate::telemetry::metrics::graphql_error("RATE_LIMITED");
    let media = protocol::negotiate(request.headers()).unwrap_or(MediaType::Json);
    let request_id = request.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    Rejection::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", format!("Too many requests; retry in {wait} s"))
        .with_header(header::RETRY_AFTER, HeaderValue::from(wait))
        .into_response(media, &request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_past_its_burst_waits_and_others_do_not() {
        let limiter = RateLimiter::new(60);
        let me = Client::Address(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..10 {
            assert!(limiter.check(&me).is_ok());
        }
        let wait = limiter.check(&me).expect_err("past the burst");
        assert!((1..=1).contains(&wait), "one request a second: {wait}");
        assert!(limiter.check(&Client::User(Uuid::nil())).is_ok());
    }
}
