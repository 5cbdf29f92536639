//! LNURL-withdraw links through which a wallet claims an ended Lightning
//! sandbox's unused sats: offering one, and claiming it. A payment that
//! arrives later adds to the link already held. A link is claimed through
//! the sandbox's one outgoing-payment reservation, so it pays once.

use crate::auth::hash_secret;
use crate::error::{lightning_error, AppError, ErrorCode};
use crate::lightning::payout::PayOut;
use crate::lightning::payouts::Payouts;
use crate::lightning::whole_sats::whole_sats;
use domain::sandbox::{RefundTarget, SandboxCommand};
use domain::Msats;

impl Payouts {
    /// Offer `amount` of an ended sandbox's balance behind a new link;
    /// returns its secret `k1`.
    pub(crate) async fn offer_withdraw(
        &self,
        sandbox_id: &str,
        amount: Msats,
    ) -> Result<String, AppError> {
        let (k1, nonce) = self
            .links
            .new_link(sandbox_id)
            .ok_or_else(|| AppError::Internal("could not derive a withdraw link".into()))?;
        let _guard = self.store.lock(sandbox_id).await;
        self.store
            .execute(
                sandbox_id,
                SandboxCommand::OfferWithdraw {
                    k1_hash: hash_secret(&k1),
                    nonce: Some(nonce),
                    amount,
                    now_ms: self.store.now_ms(),
                },
            )
            .await?;
        Ok(k1)
    }

    /// The URL of the link with secret `k1`.
    pub fn withdraw_url(&self, k1: &str) -> String {
        self.links.url(k1)
    }

    /// The LNURL-withdraw offer behind `k1`: (sandbox, amount claimable).
    pub async fn withdraw_offer(&self, k1: &str) -> Result<(String, Msats), AppError> {
        let not_found = || AppError::NotFound {
            code: ErrorCode::WithdrawNotFound,
            message: "no such withdraw link, or already claimed".into(),
        };
        let sandbox_id = self
            .queries
            .sandbox_for_withdraw(&hash_secret(k1))
            .ok_or_else(not_found)?;
        let sandbox = self
            .store
            .load(&sandbox_id)
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
