//! An LNbits of a test's own (scripts/lnbits.sh), which the test may stop
//! and start again on the same data and port — for chaos tests that take
//! the Lightning gateway away under load.

use std::path::PathBuf;
use std::process::Command;

pub struct LnbitsProcess {
    pub url: String,
    /// LIGHTNING_INVOICE_EXPIRY it runs with (a restart keeps it).
    expiry: String,
    pub token: String,
    run: String,
    port: String,
    pid: Option<String>,
    /// Keep its data folder when dropped (a failed test's evidence).
    keep: bool,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/lnbits.sh")
}

/// Run the script with `env`; its `NAME=value` lines.
fn run_script(env: &[(&str, &str)]) -> Vec<(String, String)> {
    let output = Command::new("bash")
        .arg(script())
        .envs(env.iter().copied())
        .output()
        .expect("running scripts/lnbits.sh");
    assert!(
        output.status.success(),
        "scripts/lnbits.sh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn value(lines: &[(String, String)], name: &str) -> String {
    lines
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("scripts/lnbits.sh printed no {name}"))
}

impl LnbitsProcess {
    /// A fresh LNbits on a free port, whose own invoices (Lightning
    /// Address payments, withdraw claims) expire after `invoice_expiry_secs`.
    pub fn start(invoice_expiry_secs: u64) -> LnbitsProcess {
        let expiry = invoice_expiry_secs.to_string();
        let lines = run_script(&[("LIGHTNING_INVOICE_EXPIRY", expiry.as_str())]);
        let url = value(&lines, "SOCKT_TEST_LNBITS_URL");
        let port = url.rsplit(':').next().unwrap_or_default().to_string();
        LnbitsProcess {
            token: value(&lines, "SOCKT_TEST_LNBITS_TOKEN"),
            run: value(&lines, "SOCKT_TEST_LNBITS_RUN"),
            pid: Some(value(&lines, "SOCKT_TEST_LNBITS_PID")),
            url,
            port,
            expiry,
            keep: false,
        }
    }

    /// Leave its data folder (database and log) behind when dropped; the
    /// folder's path, for a failing test's message.
    pub fn keep_data(&mut self) -> &str {
        self.keep = true;
        &self.run
    }

    /// Kill it (`kill -9`): payments in flight are cut off.
    pub fn stop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let kill = |signal: &str| {
                Command::new("kill")
                    .args([signal, pid.as_str()])
                    .stderr(std::process::Stdio::null())
                    .status()
            };
            let _ = kill("-9");
            for _ in 0..100 {
                let gone = !kill("-0").map(|s| s.success()).unwrap_or(false);
                if gone {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }

    /// Start it again on its data, at the same address.
    pub fn restart(&mut self) {
        self.stop();
        let lines = run_script(&[
            ("SOCKT_TEST_LNBITS_RUN", self.run.as_str()),
            ("SOCKT_TEST_LNBITS_PORT", self.port.as_str()),
            ("LIGHTNING_INVOICE_EXPIRY", self.expiry.as_str()),
        ]);
        self.pid = Some(value(&lines, "SOCKT_TEST_LNBITS_PID"));
    }
}

impl Drop for LnbitsProcess {
    fn drop(&mut self) {
        self.stop();
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.run);
        }
    }
}
