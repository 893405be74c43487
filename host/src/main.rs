//! The `pushrail` command line: `serve` runs the engine, `check` validates a
//! config; `status`, `dlq`, `replay` and `keys` operate a running server.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use pushrail::cli;
use pushrail::config::{Config, ConfigError};

pushrail::engine_allocator!();

#[derive(Parser)]
#[command(name = "pushrail", version, about = "Durable, ordered event delivery")]
struct Cli {
    /// Log output format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "PUSHRAIL_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// After adding a new primary_key to security.master_keys: re-seal every
    /// secret under it, so that the old keys can be removed.
    Rotate,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine. Without --config it runs on the embedded default:
    /// 127.0.0.1:8080, log under ./pushrail-data/.
    Serve {
        #[arg(long, short, env = "PUSHRAIL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Validate a config file and print every problem; exit code 2 on errors.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Show every destination of a running server: cursor, lag, DLQ, last error.
    Status {
        #[command(flatten)]
        connection: cli::Connection,
    },
    /// Inspect and act on a destination's dead-letter queue.
    Dlq {
        #[command(flatten)]
        connection: cli::Connection,
        #[command(subcommand)]
        command: cli::DlqCommand,
    },
    /// Re-seal every stored secret under the primary master key (`keys rotate`).
    Keys {
        #[command(flatten)]
        connection: cli::Connection,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Deliver a range of the log to a destination again, with a progress bar.
    Replay {
        #[command(flatten)]
        connection: cli::Connection,
        #[command(flatten)]
        args: cli::ReplayArgs,
    },
}

/// Exit code for an invalid config or bad usage.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    #[cfg(not(target_os = "linux"))]
    pushrail::allocator::tune();
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match cli.command {
        Command::Check { config } => check(&config),
        Command::Serve { config } => serve(config),
        Command::Status { connection } => cli::run(&connection, cli::status),
        Command::Dlq {
            connection,
            command,
        } => cli::run(&connection, |client| cli::dlq(client, command)),
        Command::Keys {
            connection,
            command: KeysCommand::Rotate,
        } => cli::run(&connection, cli::rotate_keys),
        Command::Replay { connection, args } => {
            cli::run(&connection, |client| cli::replay(client, args))
        }
    }
}

fn check(path: &Path) -> ExitCode {
    match Config::load(path) {
        Ok(config) => {
            let problems = match check_plugins(&config) {
                Ok(problems) => problems,
                Err(e) => vec![e],
            };
            if !problems.is_empty() {
                eprintln!(
                    "error: {} plugin problem(s) in {}:",
                    problems.len(),
                    path.display()
                );
                for problem in problems {
                    eprintln!("  {problem}");
                }
                return ExitCode::from(EXIT_CONFIG);
            }
            println!(
                "{}: OK ({} destination(s), listening on {}, data in {})",
                path.display(),
                config.destinations.len(),
                config.server.listen,
                config.storage.data_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => config_failure(&e),
    }
}

/// Loads the plugins the config names and starts each destination's
/// plugins once, with no sink bound, so that `check` reports what `serve`
/// would refuse.
fn check_plugins(config: &Config) -> Result<Vec<String>, String> {
    use pushrail::runtime::{Limits, Runtime};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let limits = Limits::from_config(&config.plugins);
        let engine = Runtime::new(limits, None).map_err(|e| e.to_string())?;
        let registry = engine
            .load_plugins(config.plugins.dir.as_deref())
            .map_err(|e| e.to_string())?;
        let plugin_versions = pushrail::runtime::PluginVersions::new(&registry);
        let problems = pushrail::delivery::validate(config, engine, &plugin_versions).await;
        Ok(problems.iter().map(ToString::to_string).collect())
    })
}

fn config_failure(error: &ConfigError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(EXIT_CONFIG)
}

fn serve(path: Option<PathBuf>) -> ExitCode {
    let config = match &path {
        Some(path) => match Config::load(path) {
            Ok(config) => config,
            Err(e) => return config_failure(&e),
        },
        None => {
            tracing::info!("no --config given: running on the embedded default");
            Config::embedded_default()
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.server.worker_threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(pushrail::app::run(
        config,
        path,
        pushrail::app::shutdown_signal(),
    ));
    // Everything durable is closed by now; a blocking call still waiting
    // on a broker (a Kafka flush, up to delivery_timeout) must not hold
    // the exit. Its events were not recorded and are delivered again.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "pushrail stopped");
            eprintln!("error: {e}");
            if e.is_config_problem() {
                ExitCode::from(EXIT_CONFIG)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("PUSHRAIL_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
