//! The `sockt` binary: `serve`, `image build`, `accounts ...`, `audit`,
//! `backup`, `restore`, `projections rebuild`, `bench`.

use anyhow::Context;
use api::config::{
    AccountsCommand, Cli, Command, ImageCommand, ProjectionsCommand, ServeConfig, StoreConfig,
};
use clap::Parser;
use domain::ports::EventLogReader;
use secrecy::ExposeSecret;
use std::process::ExitCode;

/// mimalloc: the server allocates from many threads at once (the store's
/// worker, the runtime's); glibc's allocator spent a third of a replay in
/// its own locks and bookkeeping.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_logs(format: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("SOCKT_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "text" {
        builder.init();
    } else {
        builder.json().init();
    }
}

/// Hand over to `sockt-bench`: the one beside this binary, else the first
/// on the PATH (the benchmark is a crate of its own, not part of the server).
fn run_bench(args: Vec<std::ffi::OsString>) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let beside = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name("sockt-bench"))
        .filter(|path| path.is_file());
    let program = beside.unwrap_or_else(|| "sockt-bench".into());
    let error = std::process::Command::new(&program).args(args).exec();
    anyhow::bail!(
        "running {}: {error} (build it with `cargo build --release -p sockt-bench`)",
        program.display()
    )
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    init_logs(&config.log_format);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let address = listener.local_addr()?;
    let running = api::bootstrap(&config, address).await?;
    tracing::info!(%address, "sockt listening");
    eprintln!("sockt listening on http://{address}");
    let shutdown = running.shutdown.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(_) => return,
                };
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        shutdown.cancel();
    });
    api::serve(listener, api::router(running.state), running.shutdown).await?;
    let _ = running.background.await;
    Ok(())
}

fn location(store: &StoreConfig) -> adapters::store::StoreLocation {
    adapters::store::StoreLocation::choose(
        store.database_url.as_ref().map(|s| s.expose_secret()),
        &store.data_dir,
    )
}

/// The application over the store, for account commands (which touch no container).
async fn application(store: &StoreConfig) -> anyhow::Result<std::sync::Arc<commands::App>> {
    let stores = api::stores::open(&location(store)).await?;
    let clock = std::sync::Arc::new(adapters::clock::SystemClock);
    Ok(commands::App::new(
        stores.events.sandboxes,
        stores.events.accounts,
        stores.read,
        std::sync::Arc::new(adapters::no_containers::NoContainers),
        clock,
        commands::AppConfig::default(),
    ))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(config) => serve(*config).await,
        Command::Image {
            command: ImageCommand::Build(config),
        } => {
            let engine = adapters::docker::engine().await?;
            let outcome = adapters::image::ensure_image(
                &engine,
                &config.sandbox_image,
                &config.store.data_dir.join("image-build"),
                &|line| eprintln!("[image] {line}"),
            )
            .await?;
            println!("{}: {:?}", config.sandbox_image, outcome);
            Ok(())
        }
        Command::Accounts {
            command:
                AccountsCommand::Create {
                    store,
                    credits_cents,
                    name,
                },
        } => {
            let app = application(&store).await?;
            let (account, key) = app
                .billing()
                .open_account(&name, credits_cents)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "account {} opened with {} cents of credits",
                account.account_id,
                account.balance.whole_cents()
            );
            println!("API key (shown once, store it now):");
            println!("{key}");
            Ok(())
        }
        Command::Accounts {
            command:
                AccountsCommand::Deposit {
                    store,
                    account_id,
                    credits_cents,
                },
        } => {
            let account_id = domain::ids::AccountId::parse(&account_id)?;
            let app = application(&store).await?;
            let account = app
                .billing()
                .deposit_credits(&account_id, credits_cents)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "account {} now holds {} cents of credits",
                account.account_id,
                account.balance.whole_cents()
            );
            Ok(())
        }
        Command::Bench { args } => run_bench(args),
        Command::Audit { store, json } => {
            let events = location(&store).log().read_all().await?;
            let report = projections::audit::audit(&events);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_audit(&report);
            }
            if !report.passed() {
                anyhow::bail!("the audit found {} violation(s)", report.violations.len());
            }
            Ok(())
        }
        Command::Backup { store, destination } => {
            let copied = adapters::store::backup::backup(&location(&store), &destination).await?;
            println!(
                "backed up {} events of store {} into {} ({} bytes); check it with `sockt audit --data-dir` on a restore",
                copied.events,
                copied.instance,
                destination.display(),
                copied.bytes
            );
            Ok(())
        }
        Command::Restore { store, source } => {
            let location = location(&store);
            let copied = adapters::store::backup::restore(&source, &location).await?;
            println!(
                "restored {} events of store {} into {}; `sockt audit` checks it, and `sockt serve` on it reconciles the engine's containers",
                copied.events,
                copied.instance,
                store.data_dir.display()
            );
            Ok(())
        }
        Command::Projections {
            command: ProjectionsCommand::Rebuild { store },
        } => {
            let location = location(&store);
            let started = std::time::Instant::now();
            let first = api::stores::rebuild(&location).await?;
            let elapsed = started.elapsed();
            let second = api::stores::rebuild(&location).await?;
            let (sandboxes, executions, accounts) = first.read.counts();
            let replay = first.events.replay_time.as_secs_f64();
            println!(
                "rebuilt {sandboxes} sandboxes, {executions} executions and {accounts} accounts from {} events: replayed in {replay:.3} s ({:.0} events/s), {:.3} s in all with opening the store",
                first.events.replayed,
                first.events.replayed as f64 / replay.max(1e-9),
                elapsed.as_secs_f64(),
            );
            if !first.read.same_as(&second.read) {
                anyhow::bail!("two rebuilds of the same log differ");
            }
            println!("a second rebuild is identical");
            Ok(())
        }
    }
}

fn print_audit(report: &projections::audit::AuditReport) {
    use std::io::Write;
    // A closed pipe (e.g. `| head`) ends the listing quietly.
    let mut out = std::io::stdout().lock();
    let mut lines = vec![
        "| streams | events | sandboxes | accounts | paid in msat | charged msat | refunded msat | balance msat | violations |".to_string(),
        "|---|---|---|---|---|---|---|---|---|".to_string(),
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            report.streams, report.events, report.sandboxes, report.accounts, report.paid_in_msats, report.charged_msats, report.refunded_msats, report.balance_msats, report.violations.len()
        ),
    ];
    lines.extend(report.violations.iter().map(|v| {
        format!(
            "VIOLATION {} {} at sequence {}: {}",
            v.aggregate_type, v.aggregate_id, v.sequence, v.rule
        )
    }));
    if report.passed() {
        lines.push("audit passed: every chain is intact and paid = charged + refunded + reserved + balance for every sandbox".into());
    }
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sockt: {e:#}");
            ExitCode::FAILURE
        }
    }
}
