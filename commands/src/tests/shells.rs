//! Shell tickets: bound to their sandbox, signed by this store, expiring
//! after a minute, and opening one shell only.

use crate::testing::Harness;
use crate::TerminalSize;

#[tokio::test]
async fn a_ticket_opens_one_shell_of_its_sandbox_within_a_minute() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 10).await;
    let other = h.running_sandbox(&owner, "nano", 10).await;

    let ticket = h.app.shell_ticket(&owner, &id).await.unwrap();
    assert!(
        h.app.redeem_shell_ticket(&other, &ticket).await.is_err(),
        "bound to its sandbox"
    );
    let forged = ticket.replacen("sst_", "sst_00", 1);
    assert!(
        h.app.redeem_shell_ticket(&id, &forged).await.is_err(),
        "signed"
    );
    let redeemed = h.app.redeem_shell_ticket(&id, &ticket).await.unwrap();
    assert_eq!(redeemed.principal, owner);
    let shell = h
        .app
        .open_shell(
            &redeemed.principal,
            &id,
            Some(redeemed.nonce.clone()),
            TerminalSize::default(),
        )
        .await
        .unwrap();
    let again = h
        .app
        .open_shell(
            &redeemed.principal,
            &id,
            Some(redeemed.nonce),
            TerminalSize::default(),
        )
        .await;
    assert!(again.is_err(), "single use");
    h.app
        .close_shell(&id, &shell.shell_id, &shell.container, (3, 5), "done")
        .await;

    let late = h.app.shell_ticket(&owner, &id).await.unwrap();
    h.clock.advance_ms(61_000);
    assert!(
        h.app.redeem_shell_ticket(&id, &late).await.is_err(),
        "expired"
    );
    let stranger = h.account(10).await;
    assert!(
        h.app.shell_ticket(&stranger, &id).await.is_err(),
        "only its owner"
    );
}
