//! BOLT11 decoding and checks. Invoices are parsed as signed raw invoices
//! (LNbits' FakeWallet omits the feature bits the strict parser wants) and
//! their signature is always verified.

use domain::lightning::LightningError;
use domain::Msats;
use lightning_invoice::SignedRawBolt11Invoice;

/// What a checked invoice says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub payment_hash: String,
    pub amount: Option<Msats>,
    pub description_hash: Option<[u8; 32]>,
    pub expires_at_ms: i64,
}

/// Parse `bolt11`, verify its signature, and read its fields.
pub fn decode(bolt11: &str) -> Result<Decoded, LightningError> {
    let signed: SignedRawBolt11Invoice = bolt11
        .trim()
        .parse()
        .map_err(|e| LightningError::InvalidInvoice(format!("not a BOLT11 invoice ({e:?})")))?;
    if !signed.check_signature() {
        return Err(LightningError::InvalidInvoice(
            "its signature does not verify".into(),
        ));
    }
    let raw = signed.raw_invoice();
    let hash = raw
        .payment_hash()
        .ok_or_else(|| LightningError::InvalidInvoice("it has no payment hash".into()))?;
    let issued = raw.data.timestamp.as_unix_timestamp() as i64;
    let expiry = raw.expiry_time().map(|e| e.as_seconds()).unwrap_or(3600) as i64;
    Ok(Decoded {
        payment_hash: hex::encode(hash.0),
        amount: raw.amount_pico_btc().map(|pico| Msats(pico / 10)),
        description_hash: raw.description_hash().map(|h| *h.0.as_ref()),
        expires_at_ms: (issued + expiry) * 1000,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A FakeWallet invoice from LNbits 1.6.2: 100 sats, memo "test".
    const FAKE_WALLET: &str = "lnbc1u1p4s0m0rdq8w3jhxaqxqzjcsp5z9g49nayffup8yurg308ts3pfaxwq2dexdqu85pm0x8d9utk25gqpp5tpvc2hxtpcw3adeg9zn6u9qfesh6qqa08lrycdmja823ncu297yqsf9ewn7pkv4xzlqggmc92dc7wajhww78405euc5y3nuuwkxlgcuhpzt0gza2kquq230qsq0k023aq5qfyf2jca29pxre3tgzn5tum2gpnvntwt";

    #[test]
    fn fake_wallet_invoices_decode_and_verify() {
        let decoded = decode(FAKE_WALLET).unwrap();
        assert_eq!(decoded.amount, Some(Msats(100_000)));
        assert_eq!(
            decoded.payment_hash,
            "5859855ccb0e1d1eb72828a7ae1409cc2fa003af3fc64c3772e9d519e38a2f88"
        );
        assert!(decoded.expires_at_ms > 1_700_000_000_000);
    }

    #[test]
    fn a_tampered_invoice_is_refused() {
        let mut chars: Vec<char> = FAKE_WALLET.chars().collect();
        let i = 40;
        chars[i] = if chars[i] == 'q' { 'p' } else { 'q' };
        let tampered: String = chars.into_iter().collect();
        assert!(decode(&tampered).is_err());
        assert!(decode("lnbc1garbage").is_err());
    }
}
