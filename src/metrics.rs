//! Prometheus metrics, served at /metrics in the text exposition format.
//!
//! Every label takes its value from a fixed set of `&'static str` (end reasons, refusal
//! codes, Docker error kinds), so the number of series is bounded however long the server
//! runs; nothing per-session or per-address ever becomes a label.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DockerErrorLabels {
    pub op: &'static str,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StartLabels {
    /// "cold" (created on demand) or "warm" (taken from the pool).
    pub source: &'static str,
}

/// All of the service's metrics. Cheap to clone (every field is an `Arc` inside).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub sessions_active: Gauge,
    pub sessions_created: Counter,
    pub sessions_ended: Family<ReasonLabels, Counter>,
    pub admission_refused: Family<ReasonLabels, Counter>,
    pub container_start_seconds: Family<StartLabels, Histogram>,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub containers_reaped: Family<ReasonLabels, Counter>,
    pub orphans_removed: Counter,
    pub docker_errors: Family<DockerErrorLabels, Counter>,
    pub pool_ready: Gauge,
}

/// Start latencies from ~5 ms to ~20 s.
fn start_buckets() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 20.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("sandterm");
        let m = Metrics {
            registry: Arc::new(Registry::default()),
            sessions_active: Gauge::default(),
            sessions_created: Counter::default(),
            sessions_ended: Family::default(),
            admission_refused: Family::default(),
            container_start_seconds: Family::new_with_constructor(start_buckets),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            containers_reaped: Family::default(),
            orphans_removed: Counter::default(),
            docker_errors: Family::default(),
            pool_ready: Gauge::default(),
        };
        registry.register(
            "sessions_active",
            "Live sessions",
            m.sessions_active.clone(),
        );
        registry.register(
            "sessions_created",
            "Sessions admitted",
            m.sessions_created.clone(),
        );
        registry.register(
            "sessions_ended",
            "Sessions ended, by reason",
            m.sessions_ended.clone(),
        );
        registry.register(
            "admission_refused",
            "Session requests refused, by reason",
            m.admission_refused.clone(),
        );
        registry.register(
            "container_start_seconds",
            "Time from session admission until its container is attached and running",
            m.container_start_seconds.clone(),
        );
        registry.register(
            "input_bytes",
            "Bytes of input written to containers",
            m.bytes_in.clone(),
        );
        registry.register(
            "output_bytes",
            "Bytes of terminal output read from containers",
            m.bytes_out.clone(),
        );
        registry.register(
            "containers_reaped",
            "Sessions ended by the reaper, by reason",
            m.containers_reaped.clone(),
        );
        registry.register(
            "orphans_removed",
            "Containers removed that no live session owned (crash leftovers, lost removals)",
            m.orphans_removed.clone(),
        );
        registry.register(
            "docker_errors",
            "Failed Docker calls, by operation and kind",
            m.docker_errors.clone(),
        );
        registry.register(
            "pool_ready",
            "Warm containers ready to be claimed",
            m.pool_ready.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            ..m
        }
    }

    pub fn session_ended(&self, reason: &'static str) {
        self.sessions_ended
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub fn refused(&self, reason: &'static str) {
        self.admission_refused
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub fn docker_error(&self, op: &'static str, kind: &'static str) {
        self.docker_errors
            .get_or_create(&DockerErrorLabels { op, kind })
            .inc();
    }

    pub fn reaped(&self, reason: &'static str) {
        self.containers_reaped
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub fn started(&self, source: &'static str, seconds: f64) {
        self.container_start_seconds
            .get_or_create(&StartLabels { source })
            .observe(seconds);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_prefix_and_labels() {
        let m = Metrics::new();
        m.sessions_created.inc();
        m.session_ended("exit");
        m.refused("capacity");
        m.started("cold", 0.2);
        let text = m.render();
        assert!(text.contains("sandterm_sessions_created_total 1"), "{text}");
        assert!(text.contains("sandterm_sessions_ended_total{reason=\"exit\"} 1"));
        assert!(text.contains("sandterm_admission_refused_total{reason=\"capacity\"} 1"));
        assert!(text.contains("sandterm_container_start_seconds_count{source=\"cold\"} 1"));
        assert!(text.ends_with("# EOF\n"));
    }
}
