//! The operator commands (`pushrail status`, `dlq`, `replay`): a thin
//! client of a running server's HTTP API, printing readable tables.

mod client;
mod table;

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::api::{DestinationStatus, DryRun, Items, PageBody, RedriveQueued, RunState};
use crate::delivery::{ReplayState, ReplayStatus};
use crate::log::DeadLetter;

pub use client::{Client, ClientError};
use table::Table;

/// Where the server is and how to authenticate.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// The server's base URL.
    #[arg(
        long,
        global = true,
        env = "PUSHRAIL_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// An API token (one of `server.api_tokens`), if the server has any.
    #[arg(long, global = true, env = "PUSHRAIL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum DlqCommand {
    /// List a destination's dead letters, oldest first.
    List {
        destination: String,
        /// Only this error code.
        #[arg(long)]
        error_code: Option<String>,
        /// At most this many (all pages are read).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one dead letter with its event.
    Show {
        destination: String,
        event_id: String,
    },
    /// Deliver dead letters again, in log order: all, these ids, or one error code.
    Redrive {
        destination: String,
        /// Event ids (all when none and no --error-code).
        ids: Vec<String>,
        #[arg(long)]
        error_code: Option<String>,
    },
    /// Drop a dead letter without delivering it (recorded in the attempt log).
    Discard {
        destination: String,
        event_id: String,
    },
}

/// `pushrail replay`.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    pub destination: String,
    /// First sequence (inclusive).
    #[arg(long)]
    pub from: Option<u64>,
    /// Last sequence (inclusive).
    #[arg(long)]
    pub to: Option<u64>,
    /// Events received at or after this RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Events received before this RFC 3339 time.
    #[arg(long)]
    pub until: Option<String>,
    /// Only this event type (`*` matches anything).
    #[arg(long)]
    pub event_type: Option<String>,
    /// Show what would be sent, after the transforms, without sending.
    #[arg(long)]
    pub dry_run: bool,
    /// Return once queued instead of following the progress.
    #[arg(long)]
    pub no_wait: bool,
}

/// Runs `f` with a client on a small runtime; prints the error and gives
/// exit code 1 when it fails.
pub fn run<F>(connection: &Connection, f: impl FnOnce(Client) -> F) -> std::process::ExitCode
where
    F: Future<Output = Result<(), ClientError>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let client = Client::new(&connection.server, connection.token.clone());
    match runtime.block_on(f(client)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `pushrail status`: every destination, one line each.
pub async fn status(client: Client) -> Result<(), ClientError> {
    let list: Items<DestinationStatus> = client.get("/v1/destinations").await?;
    let mut table = Table::new(&[
        "DESTINATION",
        "PLUGIN",
        "STATE",
        "CURSOR",
        "LAG",
        "LAG(S)",
        "IN FLIGHT",
        "DLQ",
        "LAST ERROR",
    ]);
    for d in list.items {
        let state = match d.state {
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Failed => "failed",
        };
        let last_error = d.last_error.map_or_else(|| "-".into(), |e| e.failure.code);
        table.row(vec![
            d.name,
            d.plugin,
            state.into(),
            d.cursor.to_string(),
            d.lag_events.to_string(),
            format!("{:.1}", d.lag_seconds),
            d.in_flight.to_string(),
            d.dead_letters.to_string(),
            last_error,
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

pub async fn dlq(client: Client, command: DlqCommand) -> Result<(), ClientError> {
    match command {
        DlqCommand::List {
            destination,
            error_code,
            limit,
        } => {
            let mut table = Table::new(&[
                "SEQUENCE",
                "EVENT",
                "ERROR",
                "ATTEMPTS",
                "DEAD-LETTERED AT",
                "MESSAGE",
            ]);
            let mut cursor: Option<String> = None;
            let mut shown = 0;
            loop {
                let mut path = format!(
                    "/v1/destinations/{destination}/dlq?limit={}",
                    limit.clamp(1, 1000)
                );
                if let Some(code) = &error_code {
                    path.push_str(&format!("&errorCode={code}"));
                }
                if let Some(c) = &cursor {
                    path.push_str(&format!("&cursor={c}"));
                }
                let page: PageBody<DeadLetter> = client.get(&path).await?;
                for letter in page.items {
                    if shown == limit {
                        break;
                    }
                    shown += 1;
                    table.row(vec![
                        letter.sequence.to_string(),
                        letter.event_id,
                        letter.error_code,
                        letter.attempts.to_string(),
                        letter.dead_lettered_at,
                        shorten(&letter.error_message, 60),
                    ]);
                }
                match page.next {
                    Some(next) if shown < limit => cursor = Some(next),
                    _ => break,
                }
            }
            print!("{}", table.render());
            println!("{shown} dead letter(s)");
        }
        DlqCommand::Show {
            destination,
            event_id,
        } => {
            let letter: Value = client
                .get(&format!("/v1/destinations/{destination}/dlq/{event_id}"))
                .await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&letter).unwrap_or_default()
            );
        }
        DlqCommand::Redrive {
            destination,
            ids,
            error_code,
        } => {
            let mut body = json!({});
            if !ids.is_empty() {
                body["ids"] = json!(ids);
            }
            if let Some(code) = error_code {
                body["errorCode"] = json!(code);
            }
            let queued: RedriveQueued = client
                .post(&format!("/v1/destinations/{destination}/dlq/redrive"), body)
                .await?;
            println!("queued {} dead letter(s) for redrive", queued.queued);
        }
        DlqCommand::Discard {
            destination,
            event_id,
        } => {
            let _: DeadLetter = client
                .delete(&format!("/v1/destinations/{destination}/dlq/{event_id}"))
                .await?;
            println!("discarded {event_id} from {destination}'s dead-letter queue");
        }
    }
    Ok(())
}

pub async fn replay(client: Client, args: ReplayArgs) -> Result<(), ClientError> {
    let mut body = json!({});
    for (key, value) in [
        ("fromSequence", args.from.map(|v| json!(v))),
        ("toSequence", args.to.map(|v| json!(v))),
        ("since", args.since.map(|v| json!(v))),
        ("until", args.until.map(|v| json!(v))),
        ("eventType", args.event_type.map(|v| json!(v))),
    ] {
        if let Some(value) = value {
            body[key] = value;
        }
    }
    let path = format!("/v1/destinations/{}/replay", args.destination);
    if args.dry_run {
        body["dryRun"] = json!(true);
        let dry: DryRun = client.post(&path, body).await?;
        println!(
            "{} event(s) would be replayed; the first {}:",
            dry.total,
            dry.items.len()
        );
        let mut table = Table::new(&["SEQUENCE", "EVENT", "KEY", "RECORDS", "NOTE"]);
        for item in dry.items {
            let records = item.records.len();
            let note = match item.error {
                Some(error) => error,
                None if records == 0 => "dropped by a transform".into(),
                None => String::new(),
            };
            table.row(vec![
                item.sequence.to_string(),
                item.event_id,
                item.partition_key,
                records.to_string(),
                note,
            ]);
        }
        print!("{}", table.render());
        return Ok(());
    }
    let started: ReplayStatus = client.post(&path, body).await?;
    let id = started.id;
    println!(
        "replay {id}: {} event(s) to {}",
        started.total, args.destination
    );
    if args.no_wait {
        return Ok(());
    }
    let tty = std::io::stderr().is_terminal();
    let mut last_printed = None;
    loop {
        let status: ReplayStatus = client.get(&format!("/v1/replays/{id}")).await?;
        let (done, total) = (status.done as u64, status.total as u64);
        let line = progress_bar(done, total);
        if tty {
            eprint!("\r{line}");
        } else if last_printed != Some(done) {
            eprintln!("{line}");
        }
        let _ = std::io::stderr().flush();
        last_printed = Some(done);
        if !matches!(status.state, ReplayState::Queued | ReplayState::Running) {
            if tty {
                eprintln!();
            }
            let state = serde_json::to_value(status.state).unwrap_or_default();
            println!(
                "{}: delivered {}, filtered {}, failed {}, missing {}, retries {}",
                state.as_str().unwrap_or("finished"),
                status.delivered,
                status.filtered,
                status.failed,
                status.missing,
                status.retries
            );
            if let Some(error) = status.last_error {
                println!(
                    "last error: {}: {}",
                    error.failure.code, error.failure.message
                );
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `pushrail keys rotate`: re-seals every stored secret under the primary key.
pub async fn rotate_keys(client: Client) -> Result<(), ClientError> {
    let rotation: crate::api::Rotation = client.post("/v1/admin/keys/rotate", json!({})).await?;
    println!(
        "re-sealed {} secret(s) under key {}",
        rotation.resealed, rotation.primary_key
    );
    for failure in &rotation.failed {
        println!(
            "cannot open {} of {}: {}",
            failure.field, failure.destination_id, failure.error
        );
    }
    Ok(())
}

/// `[#########-----------]  45% 450/1000`
fn progress_bar(done: u64, total: u64) -> String {
    const WIDTH: u64 = 30;
    // An empty replay is complete.
    let filled = (done * WIDTH)
        .checked_div(total)
        .unwrap_or(WIDTH)
        .min(WIDTH);
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    format!(
        "[{}{}] {percent:>3}% {done}/{total}",
        "#".repeat(filled as usize),
        "-".repeat((WIDTH - filled) as usize)
    )
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    #[test]
    fn progress_bars() {
        assert_eq!(
            super::progress_bar(0, 10),
            format!("[{}]   0% 0/10", "-".repeat(30))
        );
        assert_eq!(
            super::progress_bar(5, 10),
            format!("[{}{}]  50% 5/10", "#".repeat(15), "-".repeat(15))
        );
        assert_eq!(
            super::progress_bar(0, 0),
            format!("[{}] 100% 0/0", "#".repeat(30))
        );
    }
}
