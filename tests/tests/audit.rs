//! The auditor: `sockt audit` passes on a store after a real credits
//! scenario, and fails — naming the stream and sequence — after an event row
//! is edited, deleted or reordered, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

use adapters::store::StoreLocation;
use domain::ports::{EventLogError, EventLogReader};
use serde_json::json;
use sqlx::Connection;
use std::path::Path;
use std::process::Command;
use tests::{sockt_binary, temp_dir, TestServer};

/// A credits scenario: create, exec, pause, resume, top up, terminate.
async fn scenario(server: &TestServer) -> String {
    let key = server.account(100).await;
    let id = server
        .running_sandbox(&key, json!({"tier": "small", "initial_credits_cents": 10}))
        .await;
    server
        .exec(&key, &id, json!({"command": "echo audited"}))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    server
        .post(&format!("/v1/sandboxes/{id}/pause"), &key, json!({}))
        .await;
    server
        .post(&format!("/v1/sandboxes/{id}/resume"), &key, json!({}))
        .await;
    server
        .post(
            &format!("/v1/sandboxes/{id}/balance"),
            &key,
            json!({"credits_cents": 5}),
        )
        .await;
    server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
    id
}

/// Run `sockt audit --json` on a store; (passed, report).
fn audit(store_args: &[&str]) -> (bool, serde_json::Value) {
    let output = Command::new(sockt_binary())
        .arg("audit")
        .arg("--json")
        .args(store_args)
        .env_remove("SOCKT_DATABASE_URL")
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stderr)));
    (output.status.success(), report)
}

/// `sockt audit` fails on the store and names the stream.
fn assert_caught(store_args: &[&str], stream: &str) {
    let (passed, report) = audit(store_args);
    assert!(!passed, "{report}");
    assert_names(&report, stream);
}

fn assert_names(report: &serde_json::Value, stream: &str) {
    let violations = report["violations"].as_array().unwrap();
    assert!(!violations.is_empty(), "{report}");
    assert!(
        violations
            .iter()
            .any(|v| v["aggregate_id"] == stream && v["sequence"].as_u64().unwrap() > 0),
        "{report}"
    );
}

async fn sqlite_copy(source: &Path, name: &str) -> String {
    let target = source.parent().unwrap().join(name);
    let mut connection = sqlx::SqliteConnection::connect(&format!("sqlite://{}", source.display()))
        .await
        .unwrap();
    sqlx::query(&format!("VACUUM INTO '{}'", target.display()))
        .execute(&mut connection)
        .await
        .unwrap();
    target.to_string_lossy().to_string()
}

async fn tamper_sqlite(db: &str, sql: &str) {
    let mut connection = sqlx::SqliteConnection::connect(&format!("sqlite://{db}"))
        .await
        .unwrap();
    for statement in sql.split(';') {
        let done = sqlx::query(statement)
            .execute(&mut connection)
            .await
            .unwrap();
        assert!(done.rows_affected() > 0, "{statement}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_auditor_passes_a_clean_sqlite_store_and_catches_tampering() {
    let server = TestServer::start().await;
    let id = scenario(&server).await;
    let data_dir = server.stop().await;
    let db = data_dir.join("events.db");
    let dir = data_dir.to_string_lossy().to_string();

    let (passed, report) = audit(&["--data-dir", &dir]);
    assert!(passed, "{report}");
    assert!(report["events"].as_u64().unwrap() > 10);
    assert_eq!(report["paid_in_msats"], 150_000);
    let in_process = projections::audit::audit(
        &StoreLocation::Sqlite(db.clone())
            .log()
            .read_all()
            .await
            .unwrap(),
    );
    assert!(in_process.passed());

    let charge = format!("SELECT rowid FROM events WHERE aggregate_id = '{id}' AND event_type = 'UsageCharged' ORDER BY sequence LIMIT 1");
    let cases = [
        ("edited.db", format!("UPDATE events SET payload = json_set(payload, '$.UsageCharged.amount', 1) WHERE rowid = ({charge})")),
        ("deleted.db", format!("DELETE FROM events WHERE rowid = ({charge})")),
        (
            "reordered.db",
            format!(
                "UPDATE events SET sequence = 999999 WHERE aggregate_id = '{id}' AND sequence = 3; \
                 UPDATE events SET sequence = 3 WHERE aggregate_id = '{id}' AND sequence = 4; \
                 UPDATE events SET sequence = 4 WHERE aggregate_id = '{id}' AND sequence = 999999"
            ),
        ),
    ];
    for (name, sql) in cases {
        let copy = sqlite_copy(&db, name).await;
        tamper_sqlite(&copy, &sql).await;
        let location = StoreLocation::Sqlite(copy.clone().into());
        let report = projections::audit::audit(&location.log().read_all().await.unwrap());
        assert!(!report.passed(), "{name} went unnoticed");
        assert_names(&serde_json::to_value(&report).unwrap(), &id);
    }
    // A payload that is no longer JSON is damage the reader reports, naming
    // the event, never an empty event an audit could pass over.
    let copy = sqlite_copy(&db, "garbled.db").await;
    tamper_sqlite(
        &copy,
        &format!("UPDATE events SET payload = '{{\"UsageCharged\": ' WHERE rowid = ({charge})"),
    )
    .await;
    let garbled = StoreLocation::Sqlite(copy.into()).log().read_all().await;
    match garbled {
        Err(EventLogError::Corrupt {
            aggregate_id,
            reason,
            ..
        }) => assert!(aggregate_id == id && !reason.is_empty(), "{reason}"),
        other => panic!("a garbled payload read as {other:?}"),
    }
    let missing = StoreLocation::Sqlite(data_dir.join("absent.db"))
        .log()
        .read_all()
        .await;
    assert!(
        matches!(missing, Err(EventLogError::Missing(ref path)) if path.ends_with("absent.db")),
        "{missing:?}"
    );
    // The command line says so with its exit status, naming the stream.
    let tampered_dir = temp_dir("sockt-audit");
    std::fs::copy(data_dir.join("edited.db"), tampered_dir.join("events.db")).unwrap();
    assert_caught(&["--data-dir", &tampered_dir.to_string_lossy()], &id);
    let _ = std::fs::remove_dir_all(tampered_dir);
    let _ = std::fs::remove_dir_all(data_dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_auditor_catches_tampering_in_postgres() {
    let Some(url) = tests::postgres_database().await else {
        return;
    };

    let server = TestServer::start_with(&["--database-url", &url]).await;
    let id = scenario(&server).await;
    server.stop().await;
    let (passed, report) = audit(&["--database-url", &url]);
    assert!(passed, "{report}");
    let mut connection = sqlx::PgConnection::connect(&url).await.unwrap();

    // Reordered (two events swap sequence numbers), then put back: each is seen.
    let swap = [
        format!("UPDATE events SET sequence = 999999 WHERE aggregate_id = '{id}' AND sequence = 3"),
        format!("UPDATE events SET sequence = 3 WHERE aggregate_id = '{id}' AND sequence = 4"),
        format!("UPDATE events SET sequence = 4 WHERE aggregate_id = '{id}' AND sequence = 999999"),
    ];
    for statement in &swap {
        sqlx::query(statement)
            .execute(&mut connection)
            .await
            .unwrap();
    }
    assert_caught(&["--database-url", &url], &id);
    for statement in &swap {
        sqlx::query(statement)
            .execute(&mut connection)
            .await
            .unwrap();
    }
    let (passed, report) = audit(&["--database-url", &url]);
    assert!(passed, "swapped back, the log is intact again: {report}");

    // Edited.
    let done = sqlx::query(&format!(
        "UPDATE events SET payload = jsonb_set(payload::jsonb, '{{UsageCharged,amount}}', '1')::json \
         WHERE aggregate_id = '{id}' AND sequence = (SELECT min(sequence) FROM events WHERE aggregate_id = '{id}' AND event_type = 'UsageCharged')"
    ))
    .execute(&mut connection)
    .await
    .unwrap();
    assert_eq!(done.rows_affected(), 1);
    assert_caught(&["--database-url", &url], &id);

    // Deleted.
    sqlx::query(&format!(
        "DELETE FROM events WHERE aggregate_id = '{id}' AND sequence = 2"
    ))
    .execute(&mut connection)
    .await
    .unwrap();
    assert_caught(&["--database-url", &url], &id);
}

#[tokio::test(flavor = "multi_thread")]
async fn rebuilt_projections_equal_the_live_ones() {
    let server = TestServer::start().await;
    scenario(&server).await;
    let key = server.account(50).await;
    let live_id = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 10}))
        .await;
    server
        .exec(&key, &live_id, json!({"command": "true"}))
        .await;
    server
        .delete(&format!("/v1/sandboxes/{live_id}"), &key)
        .await;
    let data_dir = server.data_dir.clone();
    let rebuilt = api::stores::rebuild(&StoreLocation::Sqlite(data_dir.join("events.db")))
        .await
        .unwrap();
    assert!(
        rebuilt.read.same_as(&server.read),
        "the rebuilt read model differs from the live one"
    );
    assert_eq!(rebuilt.read.counts(), server.read.counts());
    let text = tests::run_sockt(
        &[
            "projections",
            "rebuild",
            "--data-dir",
            &data_dir.to_string_lossy(),
        ],
        &[],
    );
    assert!(
        text.contains("events/s") && text.contains("identical"),
        "{text}"
    );
}
