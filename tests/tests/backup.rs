//! Backups: `sockt backup` copies a live store while agents create, run
//! and terminate sandboxes on it; `sockt restore` brings the copy back into
//! an empty data directory; `sockt audit` passes on it; and a server
//! started on it reconciles the engine as after any restart — sandboxes
//! made after the backup are strays and go, those ended after it fail and
//! stop billing, those alive in both run on — with the ledger exact.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tests::{docker, run_sockt, stream_text, temp_dir, TestServer};

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_under_load_restores_audits_and_serves() {
    let server = Arc::new(TestServer::start_with(&["--charge-interval-ms", "1000"]).await);
    let key = server.account(10_000).await;
    let kept = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 5}))
        .await;
    let ended_after = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 5}))
        .await;
    server
        .exec(&key, &kept, json!({"command": "echo before > /tmp/mark"}))
        .await;

    // Agents create, run and terminate sandboxes while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let mut agents = Vec::new();
    for _ in 0..3 {
        let (server, key, stop) = (server.clone(), key.clone(), stop.clone());
        agents.push(tokio::spawn(async move {
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = server
                    .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 5}))
                    .await;
                let poll = server
                    .exec(&key, &id, json!({"command": "echo busy"}))
                    .await;
                assert_eq!(stream_text(&poll, "stdout"), "busy\n");
                let (status, _) = server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
                assert!(status.is_success());
                rounds += 1;
            }
            rounds
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let backup = temp_dir("sockt-backup").join("events.backup");
    let data_dir = server.data_dir.to_string_lossy().to_string();
    let out = run_sockt(
        &["backup", "--data-dir", &data_dir, backup.to_str().unwrap()],
        &[],
    );
    assert!(out.starts_with("backed up "), "{out}");
    // A backup never overwrites.
    let refused = std::process::Command::new(tests::sockt_binary())
        .args(["backup", "--data-dir", &data_dir, backup.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("exists already"));

    // After the backup: one sandbox made, one ended.
    let made_after = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 5}))
        .await;
    let (status, _) = server
        .delete(&format!("/v1/sandboxes/{ended_after}"), &key)
        .await;
    assert!(status.is_success());
    stop.store(true, Ordering::Relaxed);
    for agent in agents {
        assert!(agent.await.unwrap() > 0, "every agent finished a round");
    }
    let server = Arc::into_inner(server).unwrap();
    server.assert_audit_passes().await;
    let old_dir = server.stop().await;

    // Restore into an empty data directory (the old one is gone), audit.
    std::fs::remove_dir_all(&old_dir).unwrap();
    let restored = temp_dir("sockt-restored");
    let restored_dir = restored.to_string_lossy().to_string();
    let out = run_sockt(
        &[
            "restore",
            "--data-dir",
            &restored_dir,
            backup.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.starts_with("restored "), "{out}");
    let audit = run_sockt(&["audit", "--data-dir", &restored_dir], &[]);
    assert!(audit.contains("audit passed"), "{audit}");
    let again = std::process::Command::new(tests::sockt_binary())
        .args([
            "restore",
            "--data-dir",
            &restored_dir,
            backup.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "a restore never overwrites a store"
    );

    // Served: what was alive in both runs on; the rest is reconciled.
    let server = TestServer::start_in(restored, &["--charge-interval-ms", "1000"]).await;
    let (_, status) = server.get(&format!("/v1/sandboxes/{kept}"), &key).await;
    assert_eq!(status["status"], "running", "{status}");
    let poll = server
        .exec(&key, &kept, json!({"command": "cat /tmp/mark"}))
        .await;
    assert_eq!(stream_text(&poll, "stdout"), "before\n");
    let (status, _) = server
        .get(&format!("/v1/sandboxes/{made_after}"), &key)
        .await;
    assert_eq!(status.as_u16(), 404, "the store never heard of it");
    assert_eq!(
        docker(&["ps", "-aq", "--filter", &format!("name=sockt-{made_after}")]),
        "",
        "its container was a stray, removed"
    );
    let ended = server.wait_for_state(&key, &ended_after, "failed").await;
    assert_eq!(ended["status"], "failed", "{ended}");
    let (status, _) = server.delete(&format!("/v1/sandboxes/{kept}"), &key).await;
    assert!(status.is_success());
    server.assert_audit_passes().await;
}
