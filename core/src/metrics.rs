//! Prometheus metrics: one process-wide registry, helpers to register
//! typed metrics in it, and the `/metrics` route every HTTP server mounts.

use crate::http::Routes;
use axum::{Router, http::header, response::IntoResponse};
use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, TextEncoder,
};

/// Registers a metric in the default registry. A metric is registered once
/// (from a `LazyLock`); a second registration of the same name is a
/// programming error that we report rather than panic on.
fn register<M: prometheus::core::Collector + Clone + 'static>(metric: M) -> M {
    if let Err(error) = prometheus::register(Box::new(metric.clone())) {
        tracing::error!(%error, "metric registered twice");
    }
    metric
}

/// A counter with labels.
pub fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    match IntCounterVec::new(Opts::new(name, help), labels) {
        Ok(metric) => register(metric),
        Err(error) => unreachable_metric(name, error),
    }
}

/// A counter.
pub fn counter(name: &str, help: &str) -> IntCounter {
    match IntCounter::new(name, help) {
        Ok(metric) => register(metric),
        Err(error) => unreachable_metric(name, error),
    }
}

/// A gauge.
pub fn gauge(name: &str, help: &str) -> IntGauge {
    match IntGauge::new(name, help) {
        Ok(metric) => register(metric),
        Err(error) => unreachable_metric(name, error),
    }
}

/// A gauge with labels.
pub fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    match IntGaugeVec::new(Opts::new(name, help), labels) {
        Ok(metric) => register(metric),
        Err(error) => unreachable_metric(name, error),
    }
}

/// A gauge of fractional values (seconds, say) with labels.
pub fn float_gauge_vec(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    match GaugeVec::new(Opts::new(name, help), labels) {
        Ok(metric) => register(metric),
        Err(error) => unreachable_metric(name, error),
    }
}

/// A histogram with the given bucket bounds.
pub fn histogram(name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    match Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)) {
        Ok(metric) => register(metric),
        Err(error) => unreachable_metric(name, error),
    }
}

/// A histogram with labels and the given bucket bounds.
pub fn histogram_vec(name: &str, help: &str, labels: &[&str], buckets: Vec<f64>) -> HistogramVec {
    match HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels) {
        Ok(metric) => register(metric),
        Err(error) => unreachable_metric(name, error),
    }
}

/// Metric names and help texts are constants of this program; an invalid
/// one is a bug caught by the first test that touches it.
fn unreachable_metric(name: &str, error: prometheus::Error) -> ! {
    panic!("invalid metric definition {name}: {error}")
}

/// The text exposition of every registered metric.
pub fn render() -> String {
    let mut buffer = Vec::new();
    let encoder = TextEncoder::new();
    if let Err(error) = encoder.encode(&prometheus::gather(), &mut buffer) {
        tracing::error!(%error, "encoding metrics");
    }
    String::from_utf8(buffer).unwrap_or_default()
}

/// `GET /metrics` in the Prometheus text format, and `GET /health` (200
/// `{"status":"ok"}` while the process serves HTTP: the liveness probe of
/// containers).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    routes().into_router()
}

/// The routes of [`router`], with what they serve.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Routes<S> {
    Routes::new()
        .get("/health", || async {
            (
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"status":"ok"}"#,
            )
        })
        .get("/metrics", || async {
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                render(),
            )
                .into_response()
        })
}
