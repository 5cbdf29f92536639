//! A sandbox's network policy: checked at create, recorded in its events,
//! and handed to the runtime by whichever process provisions it.

use crate::testing::Harness;
use crate::{CreateSandbox, ErrorCode, NetworkRequest};
use domain::network::NetworkPolicy;
use domain::sandbox::SandboxState;

fn request(network: NetworkRequest) -> CreateSandbox {
    CreateSandbox {
        tier: "nano".into(),
        initial_credits_cents: Some(10),
        network: Some(network),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_policy_is_recorded_and_reaches_the_runtime() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let (view, _) = h
        .app
        .sandboxes()
        .create_sandbox(
            &owner,
            request(NetworkRequest {
                internet: Some(false),
                allow: vec!["203.0.113.0/24".into(), "PyPI.org".into()],
                deny: vec![],
            }),
        )
        .await
        .unwrap();
    h.until_state(&view.sandbox_id, SandboxState::Running).await;
    let expected =
        NetworkPolicy::new(false, &["203.0.113.0/24".into(), "pypi.org".into()], &[]).unwrap();
    assert_eq!(h.sandbox(&view.sandbox_id).await.network, expected);
    assert_eq!(
        h.runtime.network_of(&view.sandbox_id),
        Some(expected.clone())
    );
    assert_eq!(
        h.app
            .queries()
            .read_model()
            .sandbox(&view.sandbox_id)
            .unwrap()
            .network,
        expected
    );

    let plain = h.running_sandbox(&owner, "nano", 10).await;
    assert!(h.runtime.network_of(&plain).unwrap().is_open());
}

#[tokio::test]
async fn a_bad_policy_is_refused_before_any_credit_moves() {
    let h = Harness::new();
    let owner = h.account(100).await;
    for bad in [
        NetworkRequest {
            allow: vec!["10.0.0.0/33".into()],
            ..Default::default()
        },
        NetworkRequest {
            deny: vec!["::1".into()],
            ..Default::default()
        },
        NetworkRequest {
            deny: (0..65).map(|i| format!("203.0.113.{i}")).collect(),
            ..Default::default()
        },
    ] {
        let refused = h
            .app
            .sandboxes()
            .create_sandbox(&owner, request(bad))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), ErrorCode::InvalidNetworkPolicy, "{refused}");
    }
    assert_eq!(
        h.app.queries().account(&owner).unwrap().balance,
        domain::Msats::from_cents(100).unwrap()
    );
}
