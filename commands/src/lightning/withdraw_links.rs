//! LNURL-withdraw links (LUD-03) through which a wallet claims an ended
//! Lightning sandbox's unused sats. A link's secret `k1` is derived from the
//! store's link secret, the sandbox and a nonce (HMAC-SHA256), so only its
//! hash and the nonce are recorded, and the owner can be shown the same
//! link again in the sandbox's status — a payment that arrives later adds to
//! the link already held. A link is claimed through the sandbox's one
//! outgoing-payment reservation, so it pays once.

use crate::app::App;
use crate::auth::hash_secret;
use crate::error::{lightning_error, AppError, ErrorCode};
use crate::lightning::link_secret::LinkSecret;
use crate::lightning::payout::PayOut;
use crate::lightning::whole_sats::whole_sats;
use crate::queries::sandbox_status::WithdrawLink;
use domain::sandbox::{RefundTarget, Sandbox, SandboxCommand};
use domain::Msats;

/// The secret of the link `nonce` of `sandbox_id`.
fn derive_k1(link_secret: &LinkSecret, sandbox_id: &str, nonce: &str) -> Option<String> {
    link_secret.mac("lnurl-withdraw", &format!("{sandbox_id}:{nonce}"))
}

impl App {
    /// Offer `amount` of an ended sandbox's balance behind a new link;
    /// returns its secret `k1`.
    pub(crate) async fn offer_withdraw(
        &self,
        sandbox_id: &str,
        amount: Msats,
    ) -> Result<String, AppError> {
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let k1 = derive_k1(&self.config.link_secret, sandbox_id, &nonce)
            .ok_or_else(|| AppError::Internal("could not derive a withdraw link".into()))?;
        let _guard = self.locks.lock(sandbox_id).await;
        self.sandboxes
            .execute(
                sandbox_id,
                SandboxCommand::OfferWithdraw {
                    k1_hash: hash_secret(&k1),
                    nonce: Some(nonce),
                    amount,
                    now_ms: self.now_ms(),
                },
            )
            .await?;
        Ok(k1)
    }

    /// The URL of the link with secret `k1`.
    pub fn withdraw_url(&self, k1: &str) -> String {
        format!("{}/v1/lnurl/withdraw/{k1}", self.config.public_url)
    }

    /// The link an ended sandbox's owner can still claim its sats through,
    /// if there is one (not while a claim of it is being paid).
    pub fn withdraw_link(&self, sandbox_id: &str, sandbox: &Sandbox) -> Option<WithdrawLink> {
        let k1 = self.withdraw_k1(sandbox_id, sandbox)?;
        Some(WithdrawLink {
            url: self.withdraw_url(&k1),
            amount: whole_sats(sandbox.balance),
        })
    }

    /// The secret of the link offered for `sandbox`, while it can be claimed.
    pub(crate) fn withdraw_k1(&self, sandbox_id: &str, sandbox: &Sandbox) -> Option<String> {
        let nonce = sandbox.withdraw_nonce.as_deref()?;
        if whole_sats(sandbox.balance).is_zero() || sandbox.refund_in_flight.is_some() {
            return None;
        }
        let k1 = derive_k1(&self.config.link_secret, sandbox_id, nonce)?;
        (sandbox.withdraw_k1_hash.as_deref() == Some(hash_secret(&k1).as_str())).then_some(k1)
    }

    /// The LNURL-withdraw offer behind `k1`: (sandbox, amount claimable).
    pub async fn withdraw_offer(&self, k1: &str) -> Result<(String, Msats), AppError> {
        let not_found = || AppError::NotFound {
            code: ErrorCode::WithdrawNotFound,
            message: "no such withdraw link, or already claimed".into(),
        };
        let sandbox_id = self
            .read
            .sandbox_for_withdraw(&hash_secret(k1))
            .ok_or_else(not_found)?;
        let sandbox = self
            .load_sandbox(&sandbox_id)
            .await
            .map_err(|_| not_found())?;
        let amount = whole_sats(sandbox.balance);
        if amount.is_zero() || sandbox.withdraw_k1_hash.as_deref() != Some(hash_secret(k1).as_str())
        {
            return Err(not_found());
        }
        Ok((sandbox_id, amount))
    }

    /// Claim a withdraw offer with the wallet's invoice `bolt11`. Claims
    /// race through the sandbox's one reservation: one pays, the others are
    /// refused, in this process or another.
    pub async fn claim_withdraw(&self, k1: &str, bolt11: &str) -> Result<Msats, AppError> {
        let lightning = self.lightning()?;
        let (sandbox_id, offered) = self.withdraw_offer(k1).await?;
        let invoice = lightning.gateway.decode(bolt11).map_err(lightning_error)?;
        if invoice.amount.is_zero() || invoice.amount > offered {
            return Err(AppError::Invalid {
                code: ErrorCode::InvalidInvoice,
                message: format!("the invoice must be for at most {} msat", offered.0),
            });
        }
        let target = RefundTarget::Withdraw {
            k1_hash: hash_secret(k1),
        };
        match self.pay_out(&sandbox_id, &invoice, target).await {
            Ok(PayOut::Settled | PayOut::Pending) => Ok(invoice.amount),
            Ok(PayOut::Failed(e)) => Err(lightning_error(e)),
            Err(AppError::Conflict { .. }) | Err(AppError::NotFound { .. }) => {
                Err(AppError::Conflict {
                    code: ErrorCode::WithdrawClaimed,
                    message: "this withdraw link is being claimed or was claimed already".into(),
                })
            }
            Err(e) => Err(e),
        }
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
