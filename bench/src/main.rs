//! The `sockt-bench` binary, also run as `sockt bench` (the `sockt` binary
//! hands its arguments over): Sockt against a running server, beside the
//! `docker` CLI and the engine's API in the same run.

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Measure Sockt against the plain docker CLI on this machine.
#[derive(Debug, Parser)]
#[command(name = "sockt bench", bin_name = "sockt bench", version)]
struct Cli {
    #[command(flatten)]
    config: sockt_bench::BenchConfig,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    sockt_bench::run(Cli::parse().config).await
}
