//! What operators do to a destination's dead letters: redrive (deliver
//! again) and discard. Both go through the destination's worker, one at a
//! time and between batches, so a letter redriven and discarded at once is
//! either delivered or discarded, never both, and never comes back.
//!
//! A redrive names sequences only; the worker reads each chunk's letters
//! from the DLQ when their turn comes (memory stays one chunk), and skips
//! any that left the DLQ meanwhile (discarded, or delivered by an earlier
//! redrive), so nothing is delivered twice.

use std::collections::VecDeque;
use std::time::SystemTime;

use tokio::sync::oneshot;

use super::reading::blocking;
use super::settle::Run;
use super::worker::Worker;
use crate::log::{
    AttemptOutcome, AttemptRecord, DeadLetter, DeliveryProgress, EventRecord, LogError, format_time,
};

/// An operator's request about dead letters.
pub enum Operator {
    /// Deliver these dead letters again, in log order. The reply comes
    /// once the request is queued.
    Redrive {
        sequences: Vec<u64>,
        reply: oneshot::Sender<Result<(), LogError>>,
    },
    /// Remove this dead letter without delivering it (`None`: it is not in
    /// the DLQ, e.g. a redrive delivered it first).
    Discard {
        sequence: u64,
        reply: oneshot::Sender<Result<Option<DeadLetter>, LogError>>,
    },
}

impl Worker {
    /// Carries out `request`; a redrive is queued on `redrives`.
    pub(super) async fn operate(&mut self, request: Operator, redrives: &mut VecDeque<u64>) {
        match request {
            Operator::Redrive { sequences, reply } => {
                redrives.extend(sequences);
                let _ = reply.send(Ok(()));
            }
            Operator::Discard { sequence, reply } => {
                let _ = reply.send(self.discard(sequence).await);
            }
        }
    }

    async fn discard(&mut self, sequence: u64) -> Result<Option<DeadLetter>, LogError> {
        let name = self.config.name.clone();
        let Some(letter) = blocking(&self.log, move |log| log.dead_letter(&name, sequence)).await?
        else {
            return Ok(None);
        };
        let attempt = AttemptRecord {
            destination: self.config.name.clone(),
            event_id: letter.event_id.clone(),
            sequence,
            attempt: 0,
            started_at: format_time(SystemTime::now()),
            duration_ms: 0,
            outcome: AttemptOutcome::Discarded,
            error_code: Some(letter.error_code.clone()),
            error_message: Some("removed from the dead-letter queue by an operator".into()),
            coordinates: Default::default(),
            plugins: Vec::new(),
            replay: None,
        };
        self.writer
            .write(DeliveryProgress {
                destination: self.config.name.clone(),
                attempts: vec![attempt],
                leave_dlq: vec![sequence],
                ..DeliveryProgress::default()
            })
            .await?;
        Ok(Some(letter))
    }

    /// Delivers the next chunk of queued redrives. Delivered letters leave
    /// the DLQ; the others stay with the new error. A chunk that cannot be
    /// read stays queued.
    pub(super) async fn redrive_step(&mut self, queue: &mut VecDeque<u64>) -> Result<(), LogError> {
        if queue.is_empty() {
            return Ok(());
        }
        let take = queue.len().min(self.config.batch.max_events);
        let mut wanted: Vec<u64> = queue.iter().take(take).copied().collect();
        // Two redrives queued before this step name the same letters: each
        // goes once (in later chunks, a delivered one has left the DLQ).
        wanted.sort_unstable();
        wanted.dedup();
        let name = self.config.name.clone();
        let letters = blocking(&self.log, move |log| {
            let mut letters = Vec::with_capacity(wanted.len());
            for sequence in wanted {
                letters.extend(log.dead_letter(&name, sequence)?);
            }
            Ok(letters)
        })
        .await?;
        queue.drain(..take);
        let mut records = Vec::with_capacity(letters.len());
        for letter in &letters {
            records.push(
                serde_json::from_str::<EventRecord>(letter.event.get()).map_err(|e| {
                    LogError::Unreadable {
                        sequence: letter.sequence,
                        source: e,
                    }
                })?,
            );
        }
        if records.is_empty() {
            return Ok(());
        }
        let settled = self.attempt(&records, Run::Redrive, 0).await;
        tracing::info!(
            destination = %self.config.name,
            delivered = settled.progress.leave_dlq.len(),
            still_dead = settled.progress.dead_letters.len(),
            "redrive batch done"
        );
        if let Some(error) = settled.last_error {
            self.live.set_last_error(error);
        }
        self.writer.write(settled.progress).await
    }
}
