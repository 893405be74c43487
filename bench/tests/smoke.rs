//! Runs every benchmark scenario at smoke size (a few seconds each) against
//! the real engine, brokers and Kinesis server, and checks that the JSON,
//! Markdown and SVG it writes are well formed. Times are never asserted.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const SCENARIOS: [&str; 11] = [
    "ingest",
    "wasm",
    "kafka",
    "kinesis",
    "latency",
    "backlog",
    "recovery",
    "customers",
    "distance",
    "aggregation",
    "webhook",
];
const UNITS: [&str; 7] = [
    "events/s",
    "µs/event",
    "ms",
    "MiB",
    "s",
    "% of a core",
    "PUT units / 1,000 events",
];

/// The debug engine `cargo test --workspace` builds for the host's tests.
fn engine() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_pushrail-bench")).with_file_name("pushrail");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p pushrail` (cargo test --workspace builds it)",
        path.display()
    );
    path
}

fn positive(value: &Value, what: &str) -> f64 {
    let number = value
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {value}"));
    assert!(number.is_finite() && number > 0.0, "{what} = {number}");
    number
}

#[test]
fn every_scenario_runs_and_reports() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("results");
    let output = Command::new(env!("CARGO_BIN_EXE_pushrail-bench"))
        .args(["all", "--smoke", "--engine"])
        .arg(engine())
        .arg("--out")
        .arg(&out)
        .arg("--data-dir")
        .arg(scratch.path().join("data"))
        .output()
        .expect("run pushrail-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(report["suite"], "pushrail-bench");
    assert_eq!(report["scale"]["smoke"], true);
    assert!(report["machine"]["cores"].as_u64().unwrap() > 0);
    assert_eq!(report["machine"]["build"], "debug");
    let results = report["results"].as_array().unwrap();
    for scenario in SCENARIOS {
        assert!(
            results.iter().any(|r| r["scenario"] == scenario),
            "no figure for {scenario}"
        );
    }
    for r in results {
        let what = format!("{} / {}", r["scenario"], r["name"]);
        assert!(
            UNITS.contains(&r["unit"].as_str().unwrap()),
            "{what}: unit {}",
            r["unit"]
        );
        // Idle CPU over a smoke run's second may round to nothing.
        let ours = if r["unit"] == "% of a core" {
            r["ours"]["median"].as_f64().unwrap().max(f64::MIN_POSITIVE)
        } else {
            positive(&r["ours"]["median"], &format!("{what}: ours"))
        };
        assert_eq!(r["ours"]["rounds"].as_array().unwrap().len(), 1, "{what}");
        assert!(r["ours"]["min"].as_f64() <= r["ours"]["max"].as_f64());
        if let Some(ceiling) = r.get("ceiling") {
            assert!(!ceiling["name"].as_str().unwrap().is_empty(), "{what}");
            let theirs = positive(&ceiling["median"], &format!("{what}: ceiling"));
            let ratio = positive(&r["ratio"], &format!("{what}: ratio"));
            assert!(
                (ratio - ours / theirs).abs() < 1e-9 * ratio.max(1.0),
                "{what}"
            );
        }
        if let Some(goal) = r.get("goal") {
            assert!(goal["met"].is_boolean(), "{what}");
            assert!(!goal["text"].as_str().unwrap().is_empty(), "{what}");
        }
    }
    // The goals the issue publishes are all judged.
    let goals = results.iter().filter(|r| r.get("goal").is_some()).count();
    assert!(goals >= 8, "{goals} figures carry a goal");

    // Markdown: the table on stdout and in results.md, one row per figure.
    let markdown = std::fs::read_to_string(out.join("results.md")).unwrap();
    for text in [&markdown, &stdout.to_string()] {
        let rows = text
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| scenario"))
            .count();
        assert_eq!(rows, results.len(), "{text}");
    }
    assert!(markdown.contains("(smoke sizes: not figures to publish)"));
    assert!(markdown.contains("![throughput and latency](results.svg)"));

    // SVG: one document, balanced elements, a bar for ours and the ceiling
    // of every figure.
    let svg = std::fs::read_to_string(out.join("results.svg")).unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    assert!(!svg.contains("=\"NaN") && !svg.contains("=\"inf"));
    let bars = results.len()
        + results
            .iter()
            .filter(|r| r.get("ceiling").is_some())
            .count();
    // Plus the background and the two legend swatches.
    assert_eq!(svg.matches("<rect").count(), bars + 3);
}
