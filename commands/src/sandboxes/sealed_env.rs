//! A sandbox's environment at create, kept in its `SandboxCreated` event
//! sealed (ChaCha20-Poly1305, from `ring`) under a key derived from the
//! store's secret and the sandbox id, with the sandbox id as associated
//! data: whichever process provisions the sandbox (after a payment, after a
//! restart) can open it, while the event log, its exports, the timeline and
//! the audit never show a value.

use crate::lightning::link_secret::LinkSecret;
use domain::env::{EnvVars, SealedEnv};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};

const PURPOSE: &str = "sandbox-env";

fn key_for(secret: &LinkSecret, sandbox_id: &str) -> Option<LessSafeKey> {
    let key = hex::decode(secret.mac(PURPOSE, sandbox_id)?).ok()?;
    Some(LessSafeKey::new(
        UnboundKey::new(&CHACHA20_POLY1305, &key).ok()?,
    ))
}

/// Seal `env` for `sandbox_id` (None when it is empty or sealing failed).
pub(crate) fn seal(secret: &LinkSecret, sandbox_id: &str, env: &EnvVars) -> Option<SealedEnv> {
    if env.is_empty() {
        return None;
    }
    let key = key_for(secret, sandbox_id)?;
    let nonce: [u8; NONCE_LEN] = rand::random();
    let mut sealed = env.to_json().into_bytes();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(sandbox_id.as_bytes()),
        &mut sealed,
    )
    .ok()?;
    Some(SealedEnv {
        names: env.names(),
        nonce: hex::encode(nonce),
        sealed: hex::encode(sealed),
    })
}

/// Open what `seal` made for `sandbox_id`.
pub(crate) fn open(
    secret: &LinkSecret,
    sandbox_id: &str,
    env: &SealedEnv,
) -> Result<EnvVars, String> {
    let refused = || "the sandbox's environment could not be opened (another store's?)".to_string();
    let key = key_for(secret, sandbox_id).ok_or_else(refused)?;
    let nonce: [u8; NONCE_LEN] = hex::decode(&env.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(refused)?;
    let mut sealed = hex::decode(&env.sealed).map_err(|_| refused())?;
    let json = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(sandbox_id.as_bytes()),
            &mut sealed,
        )
        .map_err(|_| refused())?;
    EnvVars::from_json(std::str::from_utf8(json).map_err(|_| refused())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn only_the_same_store_and_sandbox_open_it() {
        let secret = LinkSecret::random();
        let env = EnvVars::new(BTreeMap::from([(
            "TOKEN".to_string(),
            "s3cret".to_string(),
        )]))
        .unwrap();
        let sealed = seal(&secret, "sbx-1", &env).unwrap();
        assert_eq!(sealed.names, vec!["TOKEN"]);
        assert!(!serde_json::to_string(&sealed).unwrap().contains("s3cret"));
        assert_eq!(open(&secret, "sbx-1", &sealed).unwrap(), env);
        assert!(
            open(&secret, "sbx-2", &sealed).is_err(),
            "bound to its sandbox"
        );
        assert!(
            open(&LinkSecret::random(), "sbx-1", &sealed).is_err(),
            "bound to its store"
        );
        let mut bytes = hex::decode(&sealed.sealed).unwrap();
        bytes[0] ^= 1;
        let tampered = SealedEnv {
            sealed: hex::encode(bytes),
            ..sealed.clone()
        };
        assert!(
            open(&secret, "sbx-1", &tampered).is_err(),
            "tampering is detected"
        );
        assert!(seal(&secret, "sbx-1", &EnvVars::default()).is_none());
    }
}
