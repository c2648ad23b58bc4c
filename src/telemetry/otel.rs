//! Optional OpenTelemetry traces over OTLP/HTTP (`COURIER_OTLP_ENDPOINT`;
//! off by default). Spans: one per HTTP request (the `request` span), one
//! per dataloader batch (`dataloader_batch`) and one per SQL statement
//! (`sql`, made from the statement metrics after the fact, with its real
//! start and end). There is no span per field: async-graphql's Tracing
//! extension would make one, and it costs throughput.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{Span as _, SpanKind, Tracer as _, TracerProvider as _};
use opentelemetry::{KeyValue, global};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

/// The instrumentation scope of Courier's spans.
const SCOPE: &str = "courier";

static ON: AtomicBool = AtomicBool::new(false);
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The tracing layer exporting spans to `endpoint` (an OTLP/HTTP traces
/// URL such as `http://collector:4318/v1/traces`).
pub fn layer<S>(endpoint: &str) -> Result<impl Layer<S>, String>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    use opentelemetry_otlp::{SpanExporter, WithExportConfig};
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("COURIER_OTLP_ENDPOINT: {e}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(SCOPE).build())
        .build();
    let tracer = provider.tracer(SCOPE);
    global::set_tracer_provider(provider.clone());
    let _ = PROVIDER.set(provider);
    ON.store(true, Ordering::Relaxed);
    Ok(tracing_opentelemetry::layer().with_tracer(tracer))
}

/// Whether traces are exported.
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// A finished SQL statement as a span under the current span.
pub fn sql_span(sql: &str, elapsed: Duration, failed: bool) {
    if !enabled() {
        return;
    }
    let parent = tracing::Span::current().context();
    let end = SystemTime::now();
    let tracer = global::tracer(SCOPE);
    let statement: String = sql.chars().take(2048).collect();
    let mut span = tracer
        .span_builder("sql")
        .with_kind(SpanKind::Client)
        .with_start_time(end.checked_sub(elapsed).unwrap_or(end))
        .with_attributes([KeyValue::new("db.query.text", statement), KeyValue::new("error", failed)])
        .start_with_context(&tracer, &parent);
    span.end_with_timestamp(end);
}

/// Flushes and stops the exporter (at exit).
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.shutdown();
    }
}
