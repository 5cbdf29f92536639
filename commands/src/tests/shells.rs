//! Shell tickets: bound to their sandbox, signed by this store, expiring
//! after a minute, and opening one shell only.

use crate::testing::sid;
use crate::testing::Harness;
use crate::TerminalSize;

#[tokio::test]
async fn a_ticket_opens_one_shell_of_its_sandbox_within_a_minute() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 10).await;
    let other = h.running_sandbox(&owner, "nano", 10).await;

    let ticket = h
        .app
        .sandboxes()
        .shell_ticket(&owner, &sid(&id))
        .await
        .unwrap();
    assert!(
        h.app
            .sandboxes()
            .redeem_shell_ticket(&sid(&other), &ticket)
            .await
            .is_err(),
        "bound to its sandbox"
    );
    let forged = ticket.replacen("sst_", "sst_00", 1);
    assert!(
        h.app
            .sandboxes()
            .redeem_shell_ticket(&sid(&id), &forged)
            .await
            .is_err(),
        "signed"
    );
    let redeemed = h
        .app
        .sandboxes()
        .redeem_shell_ticket(&sid(&id), &ticket)
        .await
        .unwrap();
    assert_eq!(redeemed.principal, owner);
    let shell = h
        .app
        .sandboxes()
        .open_shell(
            &redeemed.principal,
            &sid(&id),
            Some(redeemed.nonce.clone()),
            TerminalSize::default(),
        )
        .await
        .unwrap();
    let again = h
        .app
        .sandboxes()
        .open_shell(
            &redeemed.principal,
            &sid(&id),
            Some(redeemed.nonce),
            TerminalSize::default(),
        )
        .await;
    assert!(again.is_err(), "single use");
    h.app
        .sandboxes()
        .close_shell(&sid(&id), &shell.shell_id, &shell.container, (3, 5), "done")
        .await;

    let late = h
        .app
        .sandboxes()
        .shell_ticket(&owner, &sid(&id))
        .await
        .unwrap();
    h.clock.advance_ms(61_000);
    assert!(
        h.app
            .sandboxes()
            .redeem_shell_ticket(&sid(&id), &late)
            .await
            .is_err(),
        "expired"
    );
    let stranger = h.account(10).await;
    assert!(
        h.app
            .sandboxes()
            .shell_ticket(&stranger, &sid(&id))
            .await
            .is_err(),
        "only its owner"
    );
}

/// A shell's billing watch: a low balance is told once, a requested pause
/// closes the shell without a notice, running dry is told and closes it,
/// and so does the end of the sandbox.
#[tokio::test]
async fn the_billing_watch_tells_each_notice_once_and_closes_when_billing_stops() {
    use crate::{ShellBillingWatch, ShellNotice};
    let h = Harness::new();
    let owner = h.account(100).await;
    // nano: 1 cent is 20 s of running, under the 60 s low-balance mark.
    let id = h.running_sandbox(&owner, "nano", 1).await;
    let mut watch = ShellBillingWatch::new(&sid(&id));
    let first = watch.look(h.app.queries());
    let told: Vec<ShellNotice> = first.notices.iter().map(|(n, _)| *n).collect();
    assert_eq!(told, [ShellNotice::LowBalance]);
    assert_eq!(
        first.notices[0].0.message(&first.notices[0].1),
        "balance low: about 20 s left"
    );
    assert!(first.close.is_none());
    let again = watch.look(h.app.queries());
    assert!(
        again.notices.is_empty() && again.close.is_none(),
        "{again:?}"
    );

    h.app.sandboxes().pause(&owner, &sid(&id)).await.unwrap();
    let paused = watch.look(h.app.queries());
    assert!(paused.notices.is_empty(), "{paused:?}");
    assert_eq!(
        paused.close.as_deref(),
        Some("the sandbox was paused; resume it and open a new shell")
    );

    h.app.sandboxes().resume(&owner, &sid(&id)).await.unwrap();
    let mut watch = ShellBillingWatch::new(&sid(&id));
    h.clock.advance_ms(25_000);
    h.app.meter_tick().await;
    let dry = watch.look(h.app.queries());
    let told: Vec<ShellNotice> = dry.notices.iter().map(|(n, _)| *n).collect();
    assert_eq!(told, [ShellNotice::OutOfBalance]);
    assert_eq!(dry.close.as_deref(), Some("out of balance"));

    h.app
        .sandboxes()
        .terminate(&owner, &sid(&id), None)
        .await
        .unwrap();
    let ended = ShellBillingWatch::new(&sid(&id)).look(h.app.queries());
    assert_eq!(ended.close.as_deref(), Some("the sandbox is terminated"));
}
