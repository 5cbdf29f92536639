//! LNURL-withdraw links (LUD-03) as values: a link's secret `k1` is derived
//! from the store's link secret, the sandbox and a nonce (HMAC-SHA256), so
//! only its hash and the nonce are recorded, and the owner can be shown the
//! same link again in the sandbox's status.

use crate::auth::hash_secret;
use crate::lightning::link_secret::LinkSecret;
use crate::lightning::whole_sats::whole_sats;
use crate::queries::sandbox_status::WithdrawLink;
use domain::sandbox::Sandbox;

/// Makes and recognises the withdraw links of this store.
#[derive(Clone)]
pub(crate) struct WithdrawLinks {
    link_secret: LinkSecret,
    public_url: String,
}

/// The secret of the link `nonce` of `sandbox_id`.
fn derive_k1(link_secret: &LinkSecret, sandbox_id: &str, nonce: &str) -> Option<String> {
    link_secret.mac("lnurl-withdraw", &format!("{sandbox_id}:{nonce}"))
}

impl WithdrawLinks {
    pub(crate) fn new(link_secret: LinkSecret, public_url: String) -> WithdrawLinks {
        WithdrawLinks {
            link_secret,
            public_url,
        }
    }

    /// A new link's secret `k1` and its nonce.
    pub(crate) fn new_link(&self, sandbox_id: &str) -> Option<(String, String)> {
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let k1 = derive_k1(&self.link_secret, sandbox_id, &nonce)?;
        Some((k1, nonce))
    }

    /// The URL of the link with secret `k1`.
    pub(crate) fn url(&self, k1: &str) -> String {
        format!("{}/v1/lnurl/withdraw/{k1}", self.public_url)
    }

    /// The link an ended sandbox's owner can still claim its sats through,
    /// if there is one (not while a claim of it is being paid).
    pub(crate) fn withdraw_link(
        &self,
        sandbox_id: &str,
        sandbox: &Sandbox,
    ) -> Option<WithdrawLink> {
        let k1 = self.k1_of(sandbox_id, sandbox)?;
        Some(WithdrawLink {
            url: self.url(&k1),
            amount: whole_sats(sandbox.balance),
        })
    }

    /// The secret of the link offered for `sandbox`, while it can be claimed.
    pub(crate) fn k1_of(&self, sandbox_id: &str, sandbox: &Sandbox) -> Option<String> {
        let nonce = sandbox.withdraw_nonce.as_deref()?;
        if whole_sats(sandbox.balance).is_zero() || sandbox.refund_in_flight.is_some() {
            return None;
        }
        let k1 = derive_k1(&self.link_secret, sandbox_id, nonce)?;
        (sandbox.withdraw_k1_hash.as_deref() == Some(hash_secret(&k1).as_str())).then_some(k1)
    }
}

#[cfg(test)]
mod tests {
    use super::derive_k1;
    use crate::lightning::link_secret::LinkSecret;

    #[test]
    fn a_link_secret_depends_on_the_store_secret_the_sandbox_and_the_nonce() {
        let secret = LinkSecret::new("secret".into());
        let k1 = derive_k1(&secret, "s", "n");
        assert_eq!(k1.as_ref().map(String::len), Some(64));
        assert_eq!(k1, derive_k1(&secret, "s", "n"));
        assert_ne!(k1, derive_k1(&LinkSecret::new("other".into()), "s", "n"));
        assert_ne!(k1, derive_k1(&secret, "t", "n"));
        assert_ne!(k1, derive_k1(&secret, "s", "m"));
        assert!(!format!("{secret:?}").contains("secret\""));
    }
}
