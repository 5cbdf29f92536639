//! A client of the test LNbits (started by scripts/lnbits.sh): wallets that
//! play the agent's own Lightning wallet — funded, paying invoices, receiving
//! refunds, claiming LNURL-withdraw links.

use serde_json::{json, Value};

pub struct Lnbits {
    pub base: String,
    token: String,
    http: reqwest::Client,
}

pub struct Wallet {
    pub id: String,
    pub inkey: String,
    pub adminkey: String,
    /// Its Lightning Address, name@host:port.
    pub address: String,
}

impl Lnbits {
    /// The test LNbits, or None (loudly) where none is configured; in CI its absence fails.
    pub fn from_env() -> Option<Lnbits> {
        let (Ok(base), Ok(token)) = (
            std::env::var("SOCKT_TEST_LNBITS_URL"),
            std::env::var("SOCKT_TEST_LNBITS_TOKEN"),
        ) else {
            if std::env::var("CI").is_ok() {
                panic!("SOCKT_TEST_LNBITS_URL/TOKEN are not set: CI must run the Lightning tests (scripts/test.sh starts LNbits)");
            }
            eprintln!("SKIPPED: Lightning tests need a live LNbits (run scripts/test.sh, which starts one)");
            return None;
        };
        Some(Lnbits {
            base,
            token,
            http: reqwest::Client::new(),
        })
    }

    /// The LNbits at `base`, administered with the super user's `token`.
    pub fn connect(base: &str, token: &str) -> Lnbits {
        Lnbits {
            base: base.to_string(),
            token: token.to_string(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn wallet(&self, name: &str) -> Wallet {
        let account = json(
            self.http
                .post(format!("{}/api/v1/account", self.base))
                .json(&json!({ "name": name })),
        )
        .await;
        let host = self
            .base
            .trim_start_matches("http://")
            .trim_end_matches('/');
        Wallet {
            id: account["id"].as_str().unwrap().to_string(),
            inkey: account["inkey"].as_str().unwrap().to_string(),
            adminkey: account["adminkey"].as_str().unwrap().to_string(),
            address: format!("{}@{host}", account["lightning_address"].as_str().unwrap()),
        }
    }

    /// A new wallet holding `sats`.
    pub async fn funded_wallet(&self, name: &str, sats: u64) -> Wallet {
        let wallet = self.wallet(name).await;
        self.fund(&wallet, sats).await;
        wallet
    }

    pub async fn fund(&self, wallet: &Wallet, sats: u64) {
        let answer = json(
            self.http
                .put(format!("{}/users/api/v1/balance", self.base))
                .bearer_auth(&self.token)
                .json(&json!({ "id": wallet.id, "amount": sats })),
        )
        .await;
        assert_eq!(answer["success"], true, "{answer}");
    }

    /// Pay an invoice from `wallet`, as the agent's wallet (MCP server) would.
    pub async fn pay(&self, wallet: &Wallet, bolt11: &str) {
        let paid = json(
            self.http
                .post(format!("{}/api/v1/payments", self.base))
                .header("X-Api-Key", &wallet.adminkey)
                .json(&json!({ "out": true, "bolt11": bolt11 })),
        )
        .await;
        assert_eq!(paid["status"], "success", "{paid}");
    }

    /// Pay an invoice from `wallet`; an error when LNbits is down or the
    /// payment did not succeed (for load that runs through outages).
    pub async fn try_pay(&self, wallet: &Wallet, bolt11: &str) -> Result<(), String> {
        let paid = try_json(
            self.http
                .post(format!("{}/api/v1/payments", self.base))
                .header("X-Api-Key", &wallet.adminkey)
                .json(&json!({ "out": true, "bolt11": bolt11 })),
        )
        .await?;
        match paid["status"].as_str() {
            Some("success") => Ok(()),
            _ => Err(paid.to_string()),
        }
    }

    /// Claim a withdraw link into `wallet`; an error when anything is down.
    pub async fn try_claim_withdraw(&self, wallet: &Wallet, url: &str) -> Result<(), String> {
        let offer = try_json(self.http.get(url)).await?;
        let sats = offer["maxWithdrawable"].as_u64().ok_or(offer.to_string())? / 1000;
        let claimed = try_json(
            self.http
                .post(format!("{}/api/v1/payments", self.base))
                .header("X-Api-Key", &wallet.inkey)
                .json(&json!({ "out": false, "amount": sats, "memo": "claim", "lnurl_withdraw": offer })),
        )
        .await?;
        claimed["payment_hash"]
            .as_str()
            .map(drop)
            .ok_or(claimed.to_string())
    }

    /// Claim the link at `url` into `wallet` `claims` times at once, and
    /// check that exactly `amount` arrives (and nothing more a moment later).
    pub async fn claim_exactly(&self, wallet: &Wallet, url: &str, amount: u64, claims: usize) {
        let before = self.balance_msat(wallet).await;
        let answers =
            futures::future::join_all((0..claims).map(|_| self.claim_withdraw(wallet, url))).await;
        assert!(
            answers.iter().any(|c| c["payment_hash"].is_string()),
            "{answers:?}"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while self.balance_msat(wallet).await < before + amount {
            assert!(
                std::time::Instant::now() < deadline,
                "the withdrawal never arrived"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        assert_eq!(
            self.balance_msat(wallet).await,
            before + amount,
            "paid exactly once"
        );
    }

    pub async fn balance_msat(&self, wallet: &Wallet) -> u64 {
        let found = json(
            self.http
                .get(format!("{}/api/v1/wallet", self.base))
                .header("X-Api-Key", &wallet.inkey),
        )
        .await;
        found["balance"].as_u64().unwrap()
    }

    /// Every payment of `wallet` LNbits knows (incoming and outgoing, any
    /// status): (payment hash, signed amount in msat, status).
    pub async fn payments(&self, wallet: &Wallet) -> Vec<(String, i64, String)> {
        let found = json(
            self.http
                .get(format!("{}/api/v1/payments?limit=1000000", self.base))
                .header("X-Api-Key", &wallet.inkey),
        )
        .await;
        found
            .as_array()
            .unwrap_or_else(|| panic!("LNbits listed no payments: {found}"))
            .iter()
            .map(|p| {
                (
                    p["payment_hash"].as_str().unwrap_or_default().to_string(),
                    p["amount"].as_i64().unwrap_or_default(),
                    p["status"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Claim an LNURL-withdraw link (its plain URL) into `wallet`.
    pub async fn claim_withdraw(&self, wallet: &Wallet, url: &str) -> Value {
        let offer = json(self.http.get(url)).await;
        assert_eq!(offer["tag"], "withdrawRequest", "{offer}");
        let sats = offer["maxWithdrawable"].as_u64().unwrap() / 1000;
        json(self.http.post(format!("{}/api/v1/payments", self.base)).header("X-Api-Key", &wallet.inkey).json(
            &json!({ "out": false, "amount": sats, "memo": "claim", "lnurl_withdraw": offer }),
        ))
        .await
    }

    /// `sockt serve` flags for Lightning billing with `sockt` as Sockt's wallet.
    pub fn serve_flags<'a>(&'a self, sockt: &'a Wallet) -> Vec<&'a str> {
        vec![
            "--lnbits-url",
            self.base.as_str(),
            "--lnbits-admin-key",
            sockt.adminkey.as_str(),
            "--lnurl-allow-http",
            "true",
            "--lnurl-allow-private-hosts",
            "true",
            "--lightning-min-sats",
            "1",
        ]
    }
}

/// The JSON answer of a request sent with a timeout; an error (as text)
/// when LNbits is unreachable or answers no JSON.
async fn try_json(request: reqwest::RequestBuilder) -> Result<Value, String> {
    request
        .timeout(std::time::Duration::from_secs(20))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())
}

/// The JSON answer of a request.
async fn json(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}
