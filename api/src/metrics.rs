//! Prometheus metrics in the text exposition format: request counts and
//! latencies by route, and gauges read from the projections.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

const BUCKETS_MS: [f64; 10] = [
    5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 10000.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum_ms: f64,
    buckets: [u64; BUCKETS_MS.len()],
}

/// A gauge: name, help text, and values by label set.
pub type Gauge<'a> = (&'a str, &'a str, Vec<(String, f64)>);

/// Series by method, route and status (nested, so that recording a known
/// series allocates nothing).
type Requests = BTreeMap<String, BTreeMap<String, BTreeMap<u16, Series>>>;

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<Requests>,
}

/// `work` on the map's entry for `key`, made (and its key allocated) only
/// when it is missing.
fn with_entry<V: Default, R>(
    map: &mut BTreeMap<String, V>,
    key: &str,
    work: impl FnOnce(&mut V) -> R,
) -> R {
    if let Some(value) = map.get_mut(key) {
        return work(value);
    }
    work(map.entry(key.to_string()).or_default())
}

impl Metrics {
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed_ms: f64) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        with_entry(&mut requests, method, |routes| {
            with_entry(routes, route, |statuses| {
                let series = statuses.entry(status).or_default();
                series.count += 1;
                series.sum_ms += elapsed_ms;
                for (i, bound) in BUCKETS_MS.iter().enumerate() {
                    if elapsed_ms <= *bound {
                        series.buckets[i] += 1;
                    }
                }
            })
        });
    }

    /// The exposition text, with `gauges` (name, help, labelled values) appended.
    pub fn render(&self, gauges: &[Gauge<'_>]) -> String {
        let mut out = String::new();
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "# HELP sockt_http_requests_total HTTP requests by method, route and status."
        );
        let _ = writeln!(out, "# TYPE sockt_http_requests_total counter");
        let series = || {
            requests.iter().flat_map(|(method, routes)| {
                routes.iter().flat_map(move |(route, statuses)| {
                    statuses
                        .iter()
                        .map(move |(status, s)| (method, route, status, s))
                })
            })
        };
        for (method, route, status, s) in series() {
            let _ = writeln!(out, "sockt_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}", s.count);
        }
        let _ = writeln!(
            out,
            "# HELP sockt_http_request_duration_ms HTTP request latency in milliseconds."
        );
        let _ = writeln!(out, "# TYPE sockt_http_request_duration_ms histogram");
        for (method, route, status, s) in series() {
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
            for (i, bound) in BUCKETS_MS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "sockt_http_request_duration_ms_bucket{{{labels},le=\"{bound}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "sockt_http_request_duration_ms_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "sockt_http_request_duration_ms_sum{{{labels}}} {}",
                s.sum_ms
            );
            let _ = writeln!(
                out,
                "sockt_http_request_duration_ms_count{{{labels}}} {}",
                s.count
            );
        }
        for (name, help, values) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            for (labels, value) in values {
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {value}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {value}");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.record("GET", "/healthz", 200, 3.0);
        m.record("GET", "/healthz", 200, 30.0);
        let text = m.render(&[(
            "sockt_sandboxes",
            "Sandboxes by state.",
            vec![("state=\"running\"".into(), 2.0)],
        )]);
        assert!(text.contains(
            "sockt_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
        ));
        assert!(text.contains("le=\"5\"} 1"));
        assert!(text.contains("sockt_sandboxes{state=\"running\"} 2"));
    }
}
