//! `pushrail-bench`: runs Pushrail's benchmark scenarios next to the ceiling
//! each one is measured against, and writes one table as Markdown, JSON and
//! an SVG plot.
//!
//! ```text
//! cargo run --release -p pushrail-bench -- all
//! cargo run --release -p pushrail-bench -- kafka latency --rounds 5
//! ```
//! Everything it needs (the engine, tansu, kinesalite, librdkafka's mock
//! cluster) runs on 127.0.0.1; see docs/performance.md.

mod engine;
mod events;
mod machine;
mod report;
mod scale;
mod scenarios;
mod services;
mod stats;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;

use report::Report;
use scale::Scale;
use scenarios::{Context, Scenario};

// The engine's allocator and settings: the WASM scenario runs the plugin
// runtime in this process and must pay per event what the engine pays.
pushrail::engine_allocator!();

#[derive(Parser)]
#[command(name = "pushrail-bench", about, version)]
struct Args {
    /// Scenarios to run: all, ingest, wasm, kafka, kinesis, latency, backlog, recovery, customers.
    #[arg(default_value = "all")]
    scenarios: Vec<String>,
    /// Interleaved rounds of ours and the ceiling per scenario.
    #[arg(long)]
    rounds: Option<usize>,
    /// Customers (one destination each) in the customers scenario.
    #[arg(long)]
    customers: Option<usize>,
    /// Events spread over them.
    #[arg(long)]
    customer_events: Option<usize>,
    /// A few seconds per scenario: checks that everything runs, measures nothing useful.
    #[arg(long)]
    smoke: bool,
    /// Where results.{json,md,svg} go.
    #[arg(long, default_value = default_out())]
    out: PathBuf,
    /// The `pushrail` binary to measure. Default: built with cargo next to this one.
    #[arg(long, env = "PUSHRAIL_BIN")]
    engine: Option<PathBuf>,
    /// Scratch space for logs (default: `bench-data` in the target dir, the disk
    /// a build uses).
    #[arg(long, env = "PUSHRAIL_BENCH_DIR")]
    data_dir: Option<PathBuf>,
}

fn default_out() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/results")
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pushrail-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let selected = Scenario::parse_all(&args.scenarios)?;
    let mut scale = if args.smoke {
        Scale::smoke()
    } else {
        Scale::full()
    };
    if let Some(rounds) = args.rounds {
        anyhow::ensure!(rounds > 0, "--rounds must be at least 1");
        scale.rounds = rounds;
    }
    if let Some(customers) = args.customers {
        anyhow::ensure!(customers > 0, "--customers must be at least 1");
        scale.customers = customers;
    }
    scale.customer_events = args.customer_events.unwrap_or(scale.customer_events);
    let engine = match args.engine {
        Some(path) => path,
        None => engine::build_engine()?,
    };
    anyhow::ensure!(
        engine.exists(),
        "the engine binary {} does not exist (--engine PATH)",
        engine.display()
    );
    let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&data_dir).with_context(|| format!("create {}", data_dir.display()))?;
    let context = Context {
        engine,
        data_dir,
        scale,
    };
    let mut report = Report::new(&context, &selected);
    eprintln!(
        "pushrail-bench: {} on {}; {} round(s){}",
        selected
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", "),
        report.machine.summary(),
        context.scale.rounds,
        if args.smoke { ", smoke sizes" } else { "" }
    );
    for scenario in &selected {
        eprintln!("\n== {} ==", scenario.title());
        let started = std::time::Instant::now();
        let measured = scenario
            .run(&context)
            .await
            .with_context(|| format!("scenario {}", scenario.name()))?;
        for m in &measured {
            eprintln!("  {}", m.one_line());
        }
        eprintln!("  ({:.0} s)", started.elapsed().as_secs_f64());
        report.results.extend(measured);
        // Its logs are scratch (the 1,000,000-event backlog alone is 2 GiB).
        if let Err(e) = clear(&context.data_dir) {
            eprintln!("  (could not clear {}: {e})", context.data_dir.display());
        }
    }
    report.finish();
    write_outputs(&report, &args.out)?;
    println!("{}", report::markdown::table(&report));
    eprintln!("wrote {}/results.{{json,md,svg}}", args.out.display());
    Ok(())
}

/// Removes what a scenario left in the data directory, keeping the directory.
fn clear(data_dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(data_dir)? {
        let path = entry?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(path)?;
        } else {
            std::fs::remove_file(path)?;
        }
    }
    Ok(())
}

fn write_outputs(report: &Report, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let write = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))
    };
    write("results.json", serde_json::to_string_pretty(report)?)?;
    write("results.md", report::markdown::document(report))?;
    write("results.svg", report::plot::svg(report))?;
    Ok(())
}

/// `<target dir>/bench-data`: the directory holding this executable's
/// profile directory (cargo marks it with CACHEDIR.TAG).
fn default_data_dir() -> PathBuf {
    engine::target_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("bench-data")
}
