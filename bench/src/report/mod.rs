//! What a run measured: one row per figure, each next to its ceiling and
//! goal, with the machine and settings it was measured on.

pub mod markdown;
pub mod plot;

use serde::Serialize;

use crate::machine::Machine;
use crate::scale::Scale;
use crate::scenarios::{Context, Scenario};
use crate::stats::Summary;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    #[serde(rename = "events/s")]
    EventsPerSecond,
    #[serde(rename = "µs/event")]
    MicrosPerEvent,
    #[serde(rename = "ms")]
    Millis,
    #[serde(rename = "MiB")]
    Mebibytes,
    #[serde(rename = "s")]
    Seconds,
    /// CPU time per wall time, in percent of one core.
    #[serde(rename = "% of a core")]
    CorePercent,
    /// Kinesis PUT payload units billed per 1,000 events.
    #[serde(rename = "PUT units / 1,000 events")]
    PutUnitsPerThousand,
}

impl Unit {
    pub fn label(self) -> &'static str {
        match self {
            Unit::EventsPerSecond => "events/s",
            Unit::MicrosPerEvent => "µs/event",
            Unit::Millis => "ms",
            Unit::Mebibytes => "MiB",
            Unit::Seconds => "s",
            Unit::CorePercent => "% of a core",
            Unit::PutUnitsPerThousand => "PUT units / 1,000 events",
        }
    }

    /// A value in this unit, rounded for reading.
    pub fn format(self, value: f64) -> String {
        if !value.is_finite() {
            return "-".into();
        }
        match self {
            Unit::EventsPerSecond => group_thousands(value.round() as u64),
            Unit::MicrosPerEvent | Unit::Millis | Unit::Seconds if value < 10.0 => {
                format!("{value:.2}")
            }
            Unit::MicrosPerEvent | Unit::Millis | Unit::Seconds => format!("{value:.1}"),
            Unit::Mebibytes => format!("{value:.0}"),
            Unit::CorePercent => format!("{value:.2}"),
            Unit::PutUnitsPerThousand => format!("{value:.1}"),
        }
    }
}

/// 1234567 → "1,234,567".
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What ours is measured against, in the same run.
#[derive(Debug, Clone, Serialize)]
pub struct Ceiling {
    pub name: String,
    #[serde(flatten)]
    pub summary: Summary,
}

/// A published goal and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    pub text: String,
    pub met: bool,
}

/// One figure.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    pub scenario: Scenario,
    pub name: String,
    pub unit: Unit,
    pub ours: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<Ceiling>,
    /// Ours ÷ the ceiling's median.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal: Option<Goal>,
    /// The engine's CPU time (user + system) per event, µs: comparable
    /// across machines where events/s is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_cpu_us: Option<Summary>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub notes: String,
}

impl Measurement {
    pub fn new(scenario: Scenario, name: impl Into<String>, unit: Unit, ours: Vec<f64>) -> Self {
        Self {
            scenario,
            name: name.into(),
            unit,
            ours: Summary::of(ours),
            ceiling: None,
            ratio: None,
            goal: None,
            engine_cpu_us: None,
            notes: String::new(),
        }
    }

    pub fn against(mut self, name: impl Into<String>, rounds: Vec<f64>) -> Self {
        let summary = Summary::of(rounds);
        self.ratio = Some(self.ours.median / summary.median);
        self.ceiling = Some(Ceiling {
            name: name.into(),
            summary,
        });
        self
    }

    /// A goal on the ratio to the ceiling: at least `minimum` × the ceiling.
    pub fn goal_ratio(mut self, minimum: f64) -> Self {
        let met = self.ratio.is_some_and(|r| r >= minimum);
        self.goal = Some(Goal {
            text: format!("≥ {minimum}× ceiling"),
            met,
        });
        self
    }

    /// A goal on the value itself.
    pub fn goal(mut self, text: impl Into<String>, met: bool) -> Self {
        self.goal = Some(Goal {
            text: text.into(),
            met,
        });
        self
    }

    /// The engine's CPU µs per event in each round.
    pub fn cpu(mut self, rounds: Vec<f64>) -> Self {
        self.engine_cpu_us = Some(Summary::of(rounds));
        self
    }

    pub fn notes(mut self, notes: impl Into<String>) -> Self {
        self.notes = notes.into();
        self
    }

    /// `name: 1,234 events/s (1,200–1,250) vs ceiling 2,000 = 0.62×`.
    pub fn one_line(&self) -> String {
        let u = self.unit;
        let mut line = format!(
            "{}: {} {} ({}–{})",
            self.name,
            u.format(self.ours.median),
            u.label(),
            u.format(self.ours.min),
            u.format(self.ours.max)
        );
        if let (Some(c), Some(r)) = (&self.ceiling, self.ratio) {
            line += &format!(" vs {} {} = {r:.2}×", c.name, u.format(c.summary.median));
        }
        if let Some(cpu) = &self.engine_cpu_us {
            line += &format!("; engine CPU {:.1} µs/event", cpu.median);
        }
        if let Some(goal) = &self.goal {
            line += &format!(
                " [goal {}: {}]",
                goal.text,
                if goal.met { "met" } else { "missed" }
            );
        }
        line
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub suite: &'static str,
    pub format_version: u32,
    pub started_at: String,
    pub finished_at: String,
    pub machine: Machine,
    pub scale: Scale,
    pub scenarios: Vec<Scenario>,
    pub results: Vec<Measurement>,
}

impl Report {
    pub fn new(context: &Context, scenarios: &[Scenario]) -> Self {
        Self {
            suite: "pushrail-bench",
            format_version: 1,
            started_at: now(),
            finished_at: String::new(),
            machine: Machine::detect(),
            scale: context.scale.clone(),
            scenarios: scenarios.to_vec(),
            results: Vec::new(),
        }
    }

    pub fn finish(&mut self) {
        self.finished_at = now();
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_unit() {
        assert_eq!(Unit::EventsPerSecond.format(1_234_567.4), "1,234,567");
        assert_eq!(Unit::EventsPerSecond.format(999.0), "999");
        assert_eq!(Unit::MicrosPerEvent.format(1.234), "1.23");
        assert_eq!(Unit::Millis.format(123.45), "123.5");
        assert_eq!(Unit::Mebibytes.format(220.4), "220");
        assert_eq!(Unit::Seconds.format(f64::NAN), "-");
    }

    #[test]
    fn ratio_and_goals() {
        let m = Measurement::new(
            Scenario::Kafka,
            "x",
            Unit::EventsPerSecond,
            vec![80.0, 90.0, 85.0],
        )
        .against("raw", vec![100.0, 100.0, 100.0])
        .goal_ratio(0.8);
        assert_eq!(m.ratio, Some(0.85));
        assert!(m.goal.as_ref().is_some_and(|g| g.met));
        let missed = m.clone().goal_ratio(0.9);
        assert!(missed.goal.is_some_and(|g| !g.met));
    }
}
