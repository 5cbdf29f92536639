//! Status reads driven by `wrk`, when it is installed: a load generator in C
//! spends far less of the two cores per request than the benchmark's own
//! client, which shares them with the server. The API key reaches wrk's
//! script through its environment, never its command line.

use anyhow::Context;
use std::process::Stdio;

/// What wrk measured.
pub struct WrkReport {
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Answers that were not 2xx or 3xx, and socket errors.
    pub errors: u64,
}

/// Whether `wrk` is on the PATH.
pub fn available() -> bool {
    std::process::Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// `connections` connections reading the statuses of `ids` for `seconds`.
pub async fn reads(
    url: &str,
    key: &str,
    ids: &[String],
    connections: usize,
    seconds: u64,
) -> anyhow::Result<WrkReport> {
    let dir = std::env::temp_dir().join(format!("sockt-bench-wrk-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("reads.lua");
    std::fs::write(&script, lua_script(ids))?;
    let output = tokio::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(url)
        .env("SOCKT_BENCH_KEY", key)
        .output()
        .await
        .context("running wrk")?;
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(output.status.success(), "wrk failed: {text}");
    parse(&text).with_context(|| format!("reading wrk's report: {text}"))
}

/// A script cycling through the sandboxes, the key from the environment.
fn lua_script(ids: &[String]) -> String {
    let quoted: Vec<String> = ids.iter().map(|id| format!("{id:?}")).collect();
    format!(
        r#"local ids = {{ {} }}
local key = os.getenv("SOCKT_BENCH_KEY")
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/v1/sandboxes/" .. ids[(i % #ids) + 1], {{ ["Authorization"] = "Bearer " .. key }})
end
"#,
        quoted.join(", ")
    )
}

fn parse(text: &str) -> Option<WrkReport> {
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let count = |prefix: &str| -> u64 {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|rest| {
                rest.split(|c: char| !c.is_ascii_digit())
                    .filter_map(|n| n.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0)
    };
    let max = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("Latency"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(millis)?;
    Some(WrkReport {
        rate: field("Requests/sec:")?.parse().ok()?,
        p50_ms: millis(field("50%")?)?,
        p99_ms: millis(field("99%")?)?,
        max_ms: max,
        errors: count("Non-2xx or 3xx responses:") + count("Socket errors:"),
    })
}

/// wrk's durations (`812.00us`, `1.23ms`, `2.01s`) in milliseconds.
fn millis(value: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = value.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = value.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrks_report() {
        let report = "Running 10s test @ http://127.0.0.1:18081
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.52ms    0.90ms  25.10ms   90.00%
    Req/Sec    16.50k     1.20k   19.00k    70.00%
  Latency Distribution
     50%    1.30ms
     75%    1.80ms
     90%    2.40ms
     99%  812.00us
  330000 requests in 10.00s, 400.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  33000.50
Transfer/sec:     40.00MB
";
        let parsed = parse(report).expect("parsed");
        assert_eq!(parsed.rate, 33000.5);
        assert_eq!(parsed.p50_ms, 1.3);
        assert!((parsed.p99_ms - 0.812).abs() < 1e-9);
        assert_eq!(parsed.max_ms, 25.1);
        assert_eq!(parsed.errors, 7);
    }

    #[test]
    fn the_script_takes_the_key_from_the_environment() {
        let script = lua_script(&["a".into(), "b".into()]);
        assert!(script.contains(r#"local ids = { "a", "b" }"#));
        assert!(script.contains(r#"os.getenv("SOCKT_BENCH_KEY")"#));
    }
}
