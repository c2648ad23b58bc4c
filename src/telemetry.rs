//! Logs, metrics and the monitor that samples the pool and the database.
//!
//! Every log event is structured (an `event` field naming it, plus fields;
//! `docs/events.md` lists them all); every line logged while serving a
//! request carries its request ID and correlation ID through the request
//! span. Metrics are in [`metrics`]; the background sampler in [`monitor`].

pub mod metrics;
pub mod monitor;
pub mod otel;

use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::config::LogFormat;

/// The target of sqlx's "acquired connection" events (see `db::connect_for`).
const ACQUIRE_TARGET: &str = "sqlx::pool::acquire";

/// Installs the global subscriber writing to `writer`, plus the layer that
/// turns sqlx's pool acquire events into the acquire-time histogram (it
/// sees them whatever the log filter says) and, when `otlp_endpoint` is
/// given, the OpenTelemetry layer (Courier's spans at debug and above).
/// Returns an error when a subscriber is installed already.
pub fn init<W>(format: LogFormat, filter: &str, otlp_endpoint: Option<&str>, writer: W) -> Result<(), String>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).map_err(|e| format!("invalid COURIER_LOG `{filter}`: {e}"))?;
    let acquire = AcquireTimes.with_filter(Targets::new().with_target(ACQUIRE_TARGET, Level::TRACE));
    let traces = otlp_endpoint.map(otel::layer).transpose()?;
    // Courier's spans when they are exported, nothing otherwise: an absent
    // layer without a filter of its own would enable every span and event
    // of every crate at every level, whatever COURIER_LOG says.
    let exported = match traces {
        Some(_) => Targets::new().with_target("courier", Level::DEBUG),
        None => Targets::new(),
    };
    let registry = tracing_subscriber::registry().with(acquire).with(traces.with_filter(exported));
    match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(writer)
                    .with_filter(filter),
            )
            .try_init(),
        // Colour only when a person reads it (stderr is a terminal), never in files or pipes.
        LogFormat::Pretty => registry
            .with(
                fmt::layer()
                    .with_target(false)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(writer)
                    .with_filter(filter),
            )
            .try_init(),
    }
    .map_err(|e| e.to_string())
}

/// Records `acquired_after_secs` of sqlx's acquire events.
struct AcquireTimes;

impl<S: Subscriber> Layer<S> for AcquireTimes {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        struct Seconds(Option<f64>);
        impl Visit for Seconds {
            fn record_f64(&mut self, field: &Field, value: f64) {
                if field.name() == "acquired_after_secs" {
                    self.0 = Some(value);
                }
            }
            fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
        }
        let mut seconds = Seconds(None);
        event.record(&mut seconds);
        if let Some(s) = seconds.0.filter(|s| s.is_finite() && *s >= 0.0) {
            metrics::acquired(Duration::from_secs_f64(s));
            crate::db::connection_acquired();
        }
    }
}

/// A duration in milliseconds rounded to 0.1 ms, as every `duration_ms`
/// (and `latency_ms`) field of the logs carries it.
pub fn ms(elapsed: Duration) -> f64 {
    (elapsed.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Logs panics as one structured `panic` line (with the request span's
/// IDs when a handler panicked) instead of the default multi-line report.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        tracing::error!(event = "panic", message = %message, location = %location, "a task panicked");
    }));
}

tokio::task_local! {
    static CORRELATION_ID: String;
}

/// Runs `fut` with `id` as the correlation ID that outbound calls carry.
pub fn with_correlation_id<F: Future>(id: String, fut: F) -> tokio::task::futures::TaskLocalFuture<String, F> {
    CORRELATION_ID.scope(id, fut)
}

/// The correlation ID of the request being served, if any: what an outbound
/// call (a card processor, a webhook) sends as `X-Correlation-ID`.
pub fn correlation_id() -> Option<String> {
    CORRELATION_ID.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_rounded_to_a_tenth_of_a_millisecond() {
        assert_eq!(ms(Duration::from_micros(1_234)), 1.2);
        assert_eq!(ms(Duration::from_micros(1_250)), 1.3);
        assert_eq!(ms(Duration::from_nanos(40_000)), 0.0);
        assert_eq!(ms(Duration::from_secs(2)), 2000.0);
    }
}
