//! The report as an SVG bar chart: one panel per unit (throughput, latency,
//! per-event cost, memory, time), ours next to the ceiling on each row.

use std::fmt::Write as _;

use super::{Measurement, Report, Unit};

const WIDTH: f64 = 1080.0;
const LABEL_WIDTH: f64 = 380.0;
const BAR_AREA: f64 = 330.0;
const BAR: f64 = 13.0;
const ROW_GAP: f64 = 9.0;
const PANEL_HEADER: f64 = 34.0;
const OURS: &str = "#2f6fdf";
const CEILING: &str = "#a8adb7";

const PANELS: [(Unit, &str); 7] = [
    (
        Unit::EventsPerSecond,
        "Throughput, events/s (higher is better)",
    ),
    (
        Unit::Millis,
        "Latency post → delivered, ms (lower is better)",
    ),
    (Unit::MicrosPerEvent, "Cost per event, µs (lower is better)"),
    (Unit::Mebibytes, "Resident memory, MiB (lower is better)"),
    (Unit::Seconds, "Time, s (lower is better)"),
    (
        Unit::CorePercent,
        "CPU while idle, % of a core (lower is better)",
    ),
    (
        Unit::PutUnitsPerThousand,
        "Kinesis PUT payload units per 1,000 events (lower is better)",
    ),
];

pub fn svg(report: &Report) -> String {
    let mut body = String::new();
    let mut y = 56.0;
    for (unit, title) in PANELS {
        let rows: Vec<&Measurement> = report.results.iter().filter(|m| m.unit == unit).collect();
        if rows.is_empty() {
            continue;
        }
        y = panel(&mut body, y, title, &rows);
    }
    let height = y + 10.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r##"<rect width="100%" height="100%" fill="white"/><text x="10" y="22" font-size="16" font-weight="bold">Pushrail benchmarks</text><text x="10" y="40" fill="#555">{}</text>"##,
        escape(&format!(
            "{} · median of {} round(s) · {}",
            report.machine.summary(),
            report.scale.rounds,
            report.finished_at
        ))
    );
    let legend_x = WIDTH - 230.0;
    let _ = writeln!(
        out,
        r#"<rect x="{legend_x}" y="10" width="12" height="12" fill="{OURS}"/><text x="{}" y="21">pushrail</text><rect x="{}" y="10" width="12" height="12" fill="{CEILING}"/><text x="{}" y="21">ceiling</text>"#,
        legend_x + 16.0,
        legend_x + 90.0,
        legend_x + 106.0
    );
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

/// Draws one panel from `y`; returns where the next one starts.
fn panel(out: &mut String, mut y: f64, title: &str, rows: &[&Measurement]) -> f64 {
    let _ = writeln!(
        out,
        r#"<text x="10" y="{}" font-size="14" font-weight="bold">{}</text>"#,
        y + 18.0,
        escape(title)
    );
    y += PANEL_HEADER;
    let max = rows
        .iter()
        .flat_map(|m| {
            [
                Some(m.ours.max),
                m.ceiling.as_ref().map(|c| c.summary.median),
            ]
        })
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let scale = if max > 0.0 { BAR_AREA / max } else { 0.0 };
    for m in rows {
        let label = format!("{} · {}", m.scenario.name(), m.name);
        let _ = writeln!(
            out,
            r#"<text x="10" y="{}">{}</text>"#,
            y + BAR - 2.0,
            escape(&truncate(&label, 60))
        );
        bar(
            out,
            y,
            m.ours.median,
            scale,
            OURS,
            &m.unit.format(m.ours.median),
        );
        // The spread over rounds, as a whisker over our bar.
        if m.ours.rounds.len() > 1 && scale > 0.0 {
            let _ = writeln!(
                out,
                r##"<line x1="{:.1}" x2="{:.1}" y1="{y2:.1}" y2="{y2:.1}" stroke="#123" stroke-width="1.5"/>"##,
                LABEL_WIDTH + m.ours.min * scale,
                LABEL_WIDTH + m.ours.max * scale,
                y2 = y + BAR / 2.0
            );
        }
        y += BAR + 1.0;
        if let Some(c) = &m.ceiling {
            let text = format!(
                "{} ({}{})",
                m.unit.format(c.summary.median),
                truncate(&c.name, 28),
                m.ratio.map_or(String::new(), |r| format!(": ours {r:.2}×"))
            );
            bar(out, y, c.summary.median, scale, CEILING, &text);
            y += BAR + 1.0;
        }
        y += ROW_GAP;
    }
    y + 6.0
}

fn bar(out: &mut String, y: f64, value: f64, scale: f64, color: &str, text: &str) {
    let width = if value.is_finite() {
        (value * scale).max(1.0)
    } else {
        0.0
    };
    let _ = writeln!(
        out,
        r#"<rect x="{LABEL_WIDTH}" y="{y:.1}" width="{width:.1}" height="{BAR}" fill="{color}"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
        LABEL_WIDTH + width + 4.0,
        y + BAR - 2.5,
        escape(text)
    );
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max - 1).collect();
        short.push('…');
        short
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
