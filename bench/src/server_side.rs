//! What the server itself measured over a scenario: its request-latency
//! histogram (`/metrics`) read before and after, so a run reports the API's
//! own latency beside the client's (which also holds the client's own wait
//! for a core, and the network).

use super::client::Client;

/// The API's requests by latency bucket: (upper bound in ms, requests at
/// most that slow), cumulative and increasing, the last bound infinite.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram(Vec<(f64, u64)>);

/// Routes that are not the API an agent calls.
const NOT_THE_API: [&str; 2] = ["/healthz", "/metrics"];

impl Histogram {
    /// The server's histogram now (empty when it cannot be read).
    pub async fn of(client: &Client) -> Histogram {
        match client.metrics_text().await {
            Ok(text) => Histogram::parse(&text),
            Err(_) => Histogram::default(),
        }
    }

    /// Sum the `sockt_http_request_duration_ms` buckets of every API route.
    fn parse(text: &str) -> Histogram {
        let mut buckets: Vec<(f64, u64)> = Vec::new();
        for line in text.lines() {
            let Some(labels) = line.strip_prefix("sockt_http_request_duration_ms_bucket{") else {
                continue;
            };
            if NOT_THE_API
                .iter()
                .any(|route| labels.contains(&format!("route=\"{route}\"")))
            {
                continue;
            }
            let Some((labels, count)) = labels.rsplit_once("} ") else {
                continue;
            };
            let Some(bound) = labels
                .split("le=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
            else {
                continue;
            };
            let bound = match bound {
                "+Inf" => f64::INFINITY,
                number => match number.parse() {
                    Ok(ms) => ms,
                    Err(_) => continue,
                },
            };
            let Ok(count) = count.trim().parse::<u64>() else {
                continue;
            };
            match buckets.iter_mut().find(|(b, _)| *b == bound) {
                Some(bucket) => bucket.1 += count,
                None => buckets.push((bound, count)),
            }
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Histogram(buckets)
    }

    /// The requests answered between `before` and `self`.
    pub fn since(&self, before: &Histogram) -> Histogram {
        Histogram(
            self.0
                .iter()
                .map(|&(bound, count)| {
                    let earlier = before
                        .0
                        .iter()
                        .find(|(b, _)| *b == bound)
                        .map_or(0, |(_, c)| *c);
                    (bound, count.saturating_sub(earlier))
                })
                .collect(),
        )
    }

    fn total(&self) -> u64 {
        self.0.last().map_or(0, |(_, count)| *count)
    }

    /// The smallest bucket bound that holds `p` percent of the requests.
    fn percentile_bound(&self, p: f64) -> Option<f64> {
        let wanted = (self.total() as f64 * p / 100.0).ceil() as u64;
        self.0
            .iter()
            .find(|(_, count)| *count >= wanted)
            .map(|(bound, _)| *bound)
    }

    /// One line: how many requests, the p99's bucket, how many were slower than 50 ms.
    pub fn summary(&self) -> String {
        let total = self.total();
        if total == 0 {
            return "server side: no histogram (GET /metrics not readable)".into();
        }
        let over_50 = total
            - self
                .0
                .iter()
                .find(|(b, _)| *b == 50.0)
                .map_or(0, |(_, c)| *c);
        let p99 = match self.percentile_bound(99.0) {
            Some(bound) if bound.is_finite() => format!("p99 ≤ {bound} ms"),
            _ => "p99 past the largest bucket".into(),
        };
        format!(
            "server side (its own histogram): {total} requests, {p99}, {over_50} ({:.2}%) over 50 ms",
            over_50 as f64 * 100.0 / total as f64
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# TYPE sockt_http_request_duration_ms histogram
sockt_http_request_duration_ms_bucket{method="GET",route="/v1/sandboxes/{id}",status="200",le="25"} 10
sockt_http_request_duration_ms_bucket{method="GET",route="/v1/sandboxes/{id}",status="200",le="50"} 10
sockt_http_request_duration_ms_bucket{method="GET",route="/v1/sandboxes/{id}",status="200",le="+Inf"} 10
sockt_http_request_duration_ms_bucket{method="GET",route="/healthz",status="200",le="25"} 3
sockt_http_request_duration_ms_bucket{method="GET",route="/healthz",status="200",le="50"} 3
sockt_http_request_duration_ms_bucket{method="GET",route="/healthz",status="200",le="+Inf"} 3
"#;
    const AFTER: &str = r#"sockt_http_request_duration_ms_bucket{method="GET",route="/v1/sandboxes/{id}",status="200",le="25"} 205
sockt_http_request_duration_ms_bucket{method="GET",route="/v1/sandboxes/{id}",status="200",le="50"} 206
sockt_http_request_duration_ms_bucket{method="GET",route="/v1/sandboxes/{id}",status="200",le="+Inf"} 206
sockt_http_request_duration_ms_bucket{method="POST",route="/v1/sandboxes",status="201",le="25"} 1
sockt_http_request_duration_ms_bucket{method="POST",route="/v1/sandboxes",status="201",le="50"} 1
sockt_http_request_duration_ms_bucket{method="POST",route="/v1/sandboxes",status="201",le="+Inf"} 4
sockt_http_request_duration_ms_bucket{method="GET",route="/healthz",status="200",le="+Inf"} 900
sockt_http_request_duration_ms_sum{method="GET",route="/v1/sandboxes/{id}",status="200"} 12.5
"#;

    #[test]
    fn the_scenario_s_requests_are_the_difference_of_two_reads() {
        let during = Histogram::parse(AFTER).since(&Histogram::parse(BEFORE));
        // 196 status reads and 4 creates; health checks are not the API.
        assert_eq!(
            during,
            Histogram(vec![(25.0, 196), (50.0, 197), (f64::INFINITY, 200)])
        );
        assert_eq!(during.percentile_bound(50.0), Some(25.0));
        assert_eq!(during.percentile_bound(99.0), Some(f64::INFINITY));
        assert_eq!(
            during.summary(),
            "server side (its own histogram): 200 requests, p99 past the largest bucket, 3 (1.50%) over 50 ms"
        );
        assert_eq!(
            Histogram::default().summary(),
            "server side: no histogram (GET /metrics not readable)"
        );
    }
}
