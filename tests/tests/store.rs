//! The event store suite, run on SQLite and on a real PostgreSQL (started by
//! scripts/postgres.sh, URL in SOCKT_TEST_DATABASE_URL): events written
//! through the command buses replay into an identical read model, the store
//! keeps its identity, and a server keeps its state across restarts.
#![allow(clippy::unwrap_used)]

use adapters::store::StoreLocation;
use api::stores;
use domain::account::AccountCommand;
use domain::execution::{ExecutionStatus, OutputDigest};
use domain::ports::AccountDirectory;
use domain::sandbox::{BillingMethod, Funding, FundingSource, PauseReason, SandboxCommand};
use domain::{Msats, TierName};
use reqwest::StatusCode;
use serde_json::json;
use tests::{postgres_database, temp_dir, TestServer};

async fn store_suite(location: StoreLocation) {
    let live = stores::open(&location).await.unwrap();
    let t0 = 1_800_000_000_000i64;
    let account = "acct-1";
    open_funded_account(&live, account, "ab12", 100, t0).await;
    live.events
        .accounts
        .execute(
            account,
            AccountCommand::AllocateCredits {
                sandbox_id: "sb-1".into(),
                transfer_id: "sb-1:fund".into(),
                amount: Msats(200_000),
                now_ms: t0,
            },
        )
        .await
        .unwrap();
    let sandbox_commands = vec![
        SandboxCommand::CreateSandbox {
            owner: Some(account.into()),
            tier: TierName::Small,
            billing: BillingMethod::Credits,
            label: Some("ünï label".into()),
            image: "img".into(),
            token_hash: Some("th".into()),
            network: Default::default(),
            runtime: None,
            lifetime: Default::default(),
            env: None,
            initial_funding: Some(Funding {
                amount: Msats(200_000),
                source: FundingSource::Account {
                    account_id: account.into(),
                    transfer_id: Some("sb-1:fund".into()),
                },
            }),
            now_ms: t0,
        },
        SandboxCommand::RecordStarted {
            container_id: "c".into(),
            now_ms: t0 + 500,
        },
        SandboxCommand::StartExecution {
            execution_id: "e1".into(),
            command: "echo '\"quoted\"'".into(),
            working_dir: "/home/sandbox".into(),
            timeout_ms: 1000,
            runner: None,
            now_ms: t0 + 600,
        },
        SandboxCommand::FinishExecution {
            execution_id: "e1".into(),
            status: ExecutionStatus::Completed,
            exit_code: Some(0),
            error: None,
            duration_ms: 5,
            output: OutputDigest::default(),
            now_ms: t0 + 605,
        },
        SandboxCommand::ChargeUsage {
            now_ms: t0 + 10_500,
            low_balance_secs: 60,
        },
        SandboxCommand::PauseSandbox {
            reason: PauseReason::Requested,
            now_ms: t0 + 12_000,
        },
        SandboxCommand::ResumeSandbox {
            now_ms: t0 + 20_000,
        },
        SandboxCommand::TerminateSandbox {
            now_ms: t0 + 21_000,
        },
    ];
    for command in sandbox_commands {
        live.events
            .sandboxes
            .execute("sb-1", command)
            .await
            .unwrap();
    }
    // A command against the ended stream is refused and stores nothing.
    assert!(live
        .events
        .sandboxes
        .execute(
            "sb-1",
            SandboxCommand::ResumeSandbox {
                now_ms: t0 + 30_000
            }
        )
        .await
        .is_err());

    let view = live.read.sandbox("sb-1").unwrap();
    // Running 11.5 s before the pause and 1 s after the resume, at 2 500 msat/s.
    assert_eq!(view.charged, Msats(28_750 + 2_500));
    assert_eq!(
        view.paid_in.0,
        view.charged.0 + view.refunded.0 + view.balance.0
    );

    // A second handle replays exactly what the first one built live.
    let replayed = stores::open(&location).await.unwrap();
    assert_eq!(replayed.events.replayed, 3 + 12);
    assert_eq!(replayed.read.sandbox("sb-1"), live.read.sandbox("sb-1"));
    assert_eq!(replayed.read.ledger("sb-1"), live.read.ledger("sb-1"));
    assert_eq!(replayed.read.execution("e1"), live.read.execution("e1"));
    assert_eq!(replayed.read.account(account), live.read.account(account));
    assert_eq!(
        replayed.events.instance_id, live.events.instance_id,
        "the store keeps its identity"
    );
    assert_eq!(
        replayed
            .read
            .open_transfers(i64::MIN)
            .into_iter()
            .map(|(id, _)| id)
            .collect::<Vec<_>>(),
        vec!["sb-1:refund".to_string()],
        "the credit return is still due"
    );

    // Accounts another process opens are found by key hash.
    let other = stores::open(&location).await.unwrap();
    other
        .events
        .accounts
        .execute(
            "acct-2",
            AccountCommand::OpenAccount {
                name: "late".into(),
                key_hash: "cd34".into(),
                now_ms: t0,
            },
        )
        .await
        .unwrap();
    let directory = live.events.directory.clone();
    assert!(live.read.account_by_key_hash("cd34").is_none());
    assert_eq!(
        directory.account_for_key_hash("cd34").await.as_deref(),
        Some("acct-2")
    );
    assert_eq!(
        live.read.account_by_key_hash("cd34").unwrap().account_id,
        "acct-2",
        "the account found is delivered to the read model"
    );
    assert_eq!(directory.account_for_key_hash("ffff").await, None);
    assert_eq!(directory.account_for_key_hash("%' OR 1=1 --").await, None);

    two_processes_write_one_account(&live, &other, account, t0).await;
    commits_at_once_each_read_their_own_write(&live, t0).await;
    one_accounts_commands_at_once(&live, &other, t0).await;
}

/// Sixty allocations of one account at once, from two processes, for more
/// than it holds: each process decides its queued commands in turn and
/// commits them together; exactly the fifty the balance covers land, the
/// other ten are refused alone, each caller sees its own outcome in the
/// read model, and on SQLite the commands took far fewer commits.
async fn one_accounts_commands_at_once(live: &stores::Stores, other: &stores::Stores, t0: i64) {
    let account = "acct-busy";
    open_funded_account(live, account, "busy01", 1, t0).await;
    let each = domain::money::MSATS_PER_CENT / 50;
    let commits_before = commit_count(live);
    let allocations = (0..60).map(|i| {
        let process = if i % 4 == 0 { other } else { live };
        let (accounts, read) = (process.events.accounts.clone(), process.read.clone());
        async move {
            let transfer_id = format!("busy-{i}");
            let outcome = accounts
                .execute(
                    account,
                    AccountCommand::AllocateCredits {
                        sandbox_id: format!("sb-busy-{i}"),
                        transfer_id: transfer_id.clone(),
                        amount: Msats(each),
                        now_ms: t0,
                    },
                )
                .await;
            let seen = read
                .account(account)
                .is_some_and(|a| a.balance.0 <= domain::money::MSATS_PER_CENT - each);
            (outcome, seen)
        }
    });
    let outcomes = futures::future::join_all(allocations).await;
    let landed = outcomes.iter().filter(|(o, _)| o.is_ok()).count();
    assert_eq!(landed, 50, "{outcomes:?}");
    for (outcome, seen) in &outcomes {
        match outcome {
            Ok(()) => assert!(seen, "a caller sees its own allocation"),
            Err(e) => assert!(
                matches!(
                    e,
                    cqrs_es::AggregateError::UserError(
                        domain::account::AccountError::InsufficientCredits { .. }
                    )
                ),
                "{e}"
            ),
        }
    }
    let stored = live.events.accounts.load(account).await.unwrap();
    assert_eq!(stored.balance, Msats(0));
    if let Some(commits) = commit_count(live) {
        let taken = commits - commits_before.unwrap_or(0);
        assert!(
            taken <= 20,
            "45 commands of one process took {taken} commits"
        );
    }
}

/// Open `account` (found by `key_hash`) with `cents` of credits.
async fn open_funded_account(
    stores: &stores::Stores,
    account: &str,
    key_hash: &str,
    cents: u64,
    now_ms: i64,
) {
    let commands = [
        AccountCommand::OpenAccount {
            name: account.into(),
            key_hash: key_hash.into(),
            now_ms,
        },
        AccountCommand::DepositCredits { cents, now_ms },
    ];
    for command in commands {
        stores
            .events
            .accounts
            .execute(account, command)
            .await
            .unwrap();
    }
}

fn commit_count(stores: &stores::Stores) -> Option<u64> {
    let stats = stores.events.commit_stats.as_ref()?;
    Some(stats.commits.load(std::sync::atomic::Ordering::SeqCst))
}

/// Fifty commits at once (their catch-ups coalesce): each caller finds its
/// own write in the read model the moment its command returns.
async fn commits_at_once_each_read_their_own_write(live: &stores::Stores, t0: i64) {
    let opens = (0..50).map(|i| {
        let live = live.clone();
        async move {
            let key_hash = format!("burst{i:02}");
            live.events
                .accounts
                .execute(
                    &format!("burst-{i}"),
                    AccountCommand::OpenAccount {
                        name: "burst".into(),
                        key_hash: key_hash.clone(),
                        now_ms: t0,
                    },
                )
                .await
                .unwrap();
            live.read.account_by_key_hash(&key_hash).is_some()
        }
    });
    let seen = futures::future::join_all(opens).await;
    assert!(seen.iter().all(|s| *s), "{seen:?}");
}

/// Both processes keep the account's state in memory; each acts on a state
/// the other has moved past, and the store keeps the account exact.
async fn two_processes_write_one_account(
    live: &stores::Stores,
    other: &stores::Stores,
    account: &str,
    t0: i64,
) {
    let balance = |s: &stores::Stores| {
        let s = s.events.accounts.clone();
        let account = account.to_string();
        async move { s.load(&account).await.unwrap().balance }
    };
    let start = balance(live).await;
    let allocate = |transfer: &str, amount: u64| AccountCommand::AllocateCredits {
        sandbox_id: format!("sb-{transfer}"),
        transfer_id: transfer.to_string(),
        amount: Msats(amount),
        now_ms: t0,
    };
    let return_a = || AccountCommand::ReturnCredits {
        sandbox_id: "sb-a".into(),
        transfer_id: "a".into(),
        amount: Msats(10_000),
        now_ms: t0,
    };
    // `live` remembers the account; `other` deposits behind its back.
    live.events
        .accounts
        .execute(account, allocate("a", 10_000))
        .await
        .unwrap();
    other
        .events
        .accounts
        .execute(
            account,
            AccountCommand::DepositCredits {
                cents: 1_000,
                now_ms: t0,
            },
        )
        .await
        .unwrap();
    // Only possible with the deposit: refused on the remembered state, so
    // checked against the stored one.
    let deposited = 1_000 * domain::money::MSATS_PER_CENT;
    live.events
        .accounts
        .execute(account, allocate("b", start.0 - 10_000 + deposited / 2))
        .await
        .expect("allowed by the deposit another process made");
    // `other`'s state is stale now: its commit is refused by the store and
    // made again on the stored state.
    other
        .events
        .accounts
        .execute(account, return_a())
        .await
        .unwrap();
    // A repeat decided on `live`'s stale state (where "a" is not returned
    // yet) would return it twice: the store refuses that commit, and on the
    // stored state the repeat records nothing.
    live.events
        .accounts
        .execute(account, return_a())
        .await
        .unwrap();
    let expected = Msats(deposited / 2 + 10_000);
    assert_eq!(balance(live).await, expected);
    assert_eq!(balance(other).await, expected);
    // A refusal the stored state confirms stays a refusal.
    assert!(live
        .events
        .accounts
        .execute(account, allocate("c", expected.0 + 1))
        .await
        .is_err());
}

#[tokio::test]
async fn sqlite_store_suite() {
    let dir = temp_dir("sockt-store");
    store_suite(StoreLocation::Sqlite(dir.join("events.db"))).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn postgres_store_suite() {
    let Some(url) = postgres_database().await else {
        return;
    };
    store_suite(StoreLocation::Postgres(url)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_on_postgres_keeps_its_state_across_restarts() {
    let Some(url) = postgres_database().await else {
        return;
    };
    let server = TestServer::start_with(&["--database-url", &url]).await;
    let (_, health) = server
        .call(reqwest::Method::GET, "/healthz", None, None)
        .await;
    assert_eq!(health["store"], "postgres");
    let key = server.account(100).await;
    let id = server.running_sandbox(&key, json!({"tier": "nano"})).await;
    let poll = server.exec(&key, &id, json!({"command": "echo pg"})).await;
    assert_eq!(poll["exit_code"], 0);
    let data_dir = server.stop().await;

    let server = TestServer::start_in(data_dir, &["--database-url", &url]).await;
    let (status, view) = server.get(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(
        (status, view["status"].as_str()),
        (StatusCode::OK, Some("running"))
    );
    let (status, _) = server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(status, StatusCode::OK);
}

/// Stored JSON of every event variant, as first written, still loads through
/// the store (upcasters, aggregate, snapshots-off path) and the replay.
#[tokio::test]
async fn stored_events_of_every_version_load_through_the_store() {
    use cqrs_es::Aggregate;
    use domain::account::{Account, AccountEvent};
    use domain::sandbox::{Sandbox, SandboxEvent};

    let dir = temp_dir("sockt-fixtures");
    let db = dir.join("events.db");
    let location = StoreLocation::Sqlite(db.clone());
    drop(stores::open(&location).await.unwrap());
    let fixtures: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../../domain/fixtures/events-1.0.json")).unwrap();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let (mut sandbox, mut account) = (Sandbox::default(), Account::default());
    let mut sequences = std::collections::HashMap::new();
    for row in &fixtures {
        let aggregate_type = row["aggregate_type"].as_str().unwrap();
        let id = format!("fixture-{aggregate_type}");
        let sequence = sequences.entry(id.clone()).or_insert(0i64);
        *sequence += 1;
        sqlx::query("INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) VALUES (?, ?, ?, ?, ?, ?, '{}')")
            .bind(aggregate_type)
            .bind(&id)
            .bind(*sequence)
            .bind(row["event_type"].as_str().unwrap())
            .bind(row["event_version"].as_str().unwrap())
            .bind(row["payload"].to_string())
            .execute(&pool)
            .await
            .unwrap();
        match aggregate_type {
            "Sandbox" => sandbox
                .apply(serde_json::from_value::<SandboxEvent>(row["payload"].clone()).unwrap()),
            _ => account
                .apply(serde_json::from_value::<AccountEvent>(row["payload"].clone()).unwrap()),
        }
    }
    pool.close().await;

    let reopened = stores::open(&location).await.unwrap();
    assert_eq!(reopened.events.replayed, fixtures.len());
    assert_eq!(
        reopened
            .events
            .sandboxes
            .load("fixture-Sandbox")
            .await
            .unwrap(),
        sandbox
    );
    assert_eq!(
        reopened
            .events
            .accounts
            .load("fixture-Account")
            .await
            .unwrap(),
        account
    );
    assert!(reopened.read.sandbox("fixture-Sandbox").is_some());
    let _ = std::fs::remove_dir_all(dir);
}

/// `sockt accounts deposit`, run by hand while a server runs, shows in that
/// server's API within a second.
async fn a_deposit_from_the_cli_is_visible_within_a_second(
    server: TestServer,
    store_flags: &[&str],
) {
    let key = server.account(100).await;
    let (_, account) = server.get("/v1/account", &key).await;
    let account_id = account["account_id"].as_str().unwrap().to_string();
    let dir = server.data_dir.to_string_lossy().to_string();
    let mut args = vec![
        "accounts",
        "deposit",
        "--data-dir",
        &dir,
        "--account-id",
        &account_id,
        "--credits-cents",
        "250",
    ];
    args.extend_from_slice(store_flags);
    tests::run_sockt(&args, &[]);
    let deposited = std::time::Instant::now();
    loop {
        let (_, account) = server.get("/v1/account", &key).await;
        if account["credits_cents"] == 350 {
            break;
        }
        assert!(
            deposited.elapsed() < std::time::Duration::from_secs(1),
            "the deposit is not visible after 1 s: {account}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cli_deposit_reaches_a_running_sqlite_server() {
    a_deposit_from_the_cli_is_visible_within_a_second(TestServer::start().await, &[]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cli_deposit_reaches_a_running_postgres_server() {
    let Some(url) = postgres_database().await else {
        return;
    };
    let server = TestServer::start_with(&["--database-url", &url]).await;
    a_deposit_from_the_cli_is_visible_within_a_second(server, &["--database-url", &url]).await;
}

/// A restart starts the read model from the checkpoint written at shutdown
/// and replays only what came after it — and ends up identical to a full
/// rebuild from the events.
#[tokio::test(flavor = "multi_thread")]
async fn a_restart_resumes_the_read_model_from_its_checkpoint() {
    let server = TestServer::start().await;
    let key = server.account(100).await;
    let id = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 5}))
        .await;
    let poll = server.exec(&key, &id, json!({"command": "echo hi"})).await;
    assert_eq!(poll["exit_code"], 0);
    let data_dir = server.stop().await;

    let server = TestServer::start_in(data_dir.clone(), &[]).await;
    let (_, health) = server
        .call(reqwest::Method::GET, "/healthz", None, None)
        .await;
    let from = health["read_model"]["checkpoint_position"]
        .as_i64()
        .unwrap();
    let replayed = health["read_model"]["replayed_at_start"].as_i64().unwrap();
    assert!(from >= 8, "started from the checkpoint: {health}");
    assert_eq!(
        replayed, 0,
        "nothing was written after the checkpoint: {health}"
    );
    let rebuilt = stores::rebuild(&StoreLocation::Sqlite(data_dir.join("events.db")))
        .await
        .unwrap();
    assert_eq!(rebuilt.events.replayed as i64, from);
    assert!(
        rebuilt.read.same_as(&server.read),
        "a checkpoint restores exactly what a rebuild builds"
    );
    let (status, _) = server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(status, StatusCode::OK);
}
