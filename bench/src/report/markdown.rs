//! The report as Markdown: one table, then the machine and how to rerun.

use std::fmt::Write as _;

use super::{Measurement, Report};

/// One row per figure: ours (median and spread), the ceiling, the ratio, the goal.
pub fn table(report: &Report) -> String {
    let mut out = String::from(
        "| scenario | measurement | unit | pushrail: median (min–max) | engine CPU µs/event | ceiling | ceiling: median | ours ÷ ceiling | goal |\n\
         |---|---|---|---:|---:|---|---:|---:|---|\n",
    );
    for m in &report.results {
        let _ = writeln!(out, "{}", row(m));
    }
    out
}

fn row(m: &Measurement) -> String {
    let u = m.unit;
    let ours = if m.ours.rounds.len() > 1 {
        format!(
            "**{}** ({}–{})",
            u.format(m.ours.median),
            u.format(m.ours.min),
            u.format(m.ours.max)
        )
    } else {
        format!("**{}**", u.format(m.ours.median))
    };
    let (ceiling, ceiling_value) = match &m.ceiling {
        Some(c) => (c.name.clone(), u.format(c.summary.median)),
        None => ("-".into(), "-".into()),
    };
    let cpu = m
        .engine_cpu_us
        .as_ref()
        .map_or("-".into(), |c| format!("{:.1}", c.median));
    let ratio = m.ratio.map_or("-".into(), |r| format!("{r:.2}×"));
    let goal = m.goal.as_ref().map_or("-".into(), |g| {
        format!("{} {}", if g.met { "✅" } else { "❌" }, g.text)
    });
    let name = if m.notes.is_empty() {
        m.name.clone()
    } else {
        format!("{} <br><sub>{}</sub>", m.name, m.notes)
    };
    format!(
        "| {} | {name} | {} | {ours} | {cpu} | {ceiling} | {ceiling_value} | {ratio} | {goal} |",
        m.scenario.name(),
        u.label()
    )
}

/// A standalone document: the table, the plot, the machine and settings.
pub fn document(report: &Report) -> String {
    let m = &report.machine;
    let mut out = String::new();
    let _ = writeln!(out, "# pushrail-bench results\n");
    let _ = writeln!(
        out,
        "Run {} → {}, {} round(s) per scenario{}.\n",
        report.started_at,
        report.finished_at,
        report.scale.rounds,
        if report.scale.smoke {
            " (smoke sizes: not figures to publish)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "Machine: {} × {}, {} GiB RAM, {}, kernel {}; {}; {} build of `{}`.\n",
        m.cores, m.cpu, m.memory_gib, m.os, m.kernel, m.rustc, m.build, m.commit
    );
    out.push_str(&table(report));
    let _ = writeln!(out, "\n![throughput and latency](results.svg)\n");
    let _ = writeln!(
        out,
        "Rerun: `cargo run --release -p pushrail-bench -- {}`",
        report
            .scenarios
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(" ")
    );
    out
}
