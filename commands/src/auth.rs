//! Who is calling, and the secrets that say so. Keys and tokens are random,
//! shown once, and stored only as sha256 hashes.

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};

pub const API_KEY_PREFIX: &str = "sockt_live_";
pub const SANDBOX_TOKEN_PREFIX: &str = "sbx_";

/// The caller of an application function, already authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An API key's account.
    Account(String),
    /// The operator, with the admin token.
    Admin,
    /// A sandbox token: exactly one sandbox.
    SandboxToken(String),
    Anonymous,
}

impl Principal {
    /// The account that pays for what this caller creates with credits.
    pub fn account_id(&self) -> Option<&str> {
        match self {
            Principal::Account(id) => Some(id),
            _ => None,
        }
    }

    /// The one visibility rule: the admin sees every sandbox, an account the
    /// sandboxes it owns, a sandbox token its own sandbox; nobody else any.
    pub fn may_see(&self, owner: Option<&str>, token_hash: Option<&str>) -> bool {
        match self {
            Principal::Admin => true,
            Principal::Account(account) => owner == Some(account.as_str()),
            Principal::SandboxToken(hash) => token_hash == Some(hash.as_str()),
            Principal::Anonymous => false,
        }
    }
}

/// Lower-case hex sha256 of a secret, as stored.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub(crate) fn random_suffix(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A fresh API key (about 190 bits of randomness).
pub fn new_api_key() -> String {
    format!("{API_KEY_PREFIX}{}", random_suffix(32))
}

/// Constant-time comparison, so response timing reveals nothing of a secret.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A fresh sandbox token.
pub fn new_sandbox_token() -> String {
    format!("{SANDBOX_TOKEN_PREFIX}{}", random_suffix(32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_random_and_hash_stably() {
        let a = new_api_key();
        let b = new_api_key();
        assert!(a.starts_with(API_KEY_PREFIX) && a.len() == API_KEY_PREFIX.len() + 32);
        assert_ne!(a, b);
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_ne!(hash_secret(&a), hash_secret(&b));
        assert!(new_sandbox_token().starts_with(SANDBOX_TOKEN_PREFIX));
    }
}
