//! A destination's lanes: copies of its pipeline, one per batch in flight,
//! so that the next batch goes out while earlier ones wait for the sink.
//! A lane holds its own plugin instances; it is started on demand from
//! the pipeline the destination started with, and kept for the next batch.

use super::pipeline::Pipeline;

pub struct Lanes {
    /// Started with the destination to check its config; never runs a
    /// batch, only copied.
    template: Pipeline,
    /// Lanes not running a batch.
    idle: Vec<Pipeline>,
    /// Lanes running a batch.
    out: usize,
    /// Most lanes out at once (`batch.in_flight`).
    max: usize,
}

impl Lanes {
    pub fn new(template: Pipeline, max: usize) -> Self {
        Self {
            template,
            idle: Vec::new(),
            out: 0,
            max: max.max(1),
        }
    }

    /// A lane with room for its instances, for one more batch: an idle one
    /// that has it, or one that gets it now without waiting — `None` when
    /// `batch.in_flight` are out, when no room is free, or when instances
    /// are scarce over all destinations and one is out already (then each
    /// destination keeps one batch in flight rather than a few holding
    /// every instance). A batch never waits for room holding its events:
    /// with none out, the worker waits for it first ([`Lanes::admit`]).
    pub fn take(&mut self) -> Option<Pipeline> {
        if self.out >= self.max {
            return None;
        }
        let lane = match self.idle.iter().rposition(Pipeline::admitted) {
            Some(at) => self.idle.swap_remove(at),
            None if self.out > 0 && self.template.instances_scarce() => return None,
            None => {
                let mut lane = self.idle.pop().unwrap_or_else(|| self.template.spare());
                if !lane.try_admit() {
                    self.idle.push(lane);
                    return None;
                }
                lane
            }
        };
        self.out += 1;
        Some(lane)
    }

    /// A lane is back from its batch.
    pub fn give_back(&mut self, lane: Pipeline) {
        self.out -= 1;
        self.keep(lane);
    }

    /// A lane was lost with its batch (its task failed).
    pub fn lost(&mut self) {
        self.out -= 1;
    }

    /// A lane to run something on in place, between batches (a redrive,
    /// a replay chunk, a dry run): an idle one, or a new one while all are
    /// out (dropped when it comes back past `batch.in_flight`).
    pub fn home(&mut self) -> &mut Pipeline {
        if self.idle.is_empty() {
            self.idle.push(self.template.spare());
        }
        self.idle.last_mut().expect("pushed above")
    }

    fn keep(&mut self, lane: Pipeline) {
        if self.idle.len() + self.out < self.max {
            self.idle.push(lane);
        }
    }

    /// Lets the idle lanes' plugin instances go (see [`Pipeline::release`])
    /// and keeps at most one lane: a waiting destination holds no instance.
    pub fn release(&mut self) {
        self.idle.truncate(1);
        for lane in &mut self.idle {
            lane.release();
        }
    }

    /// True while an idle lane holds room for its plugin instances
    /// (started or not): what the destination gives back when idle.
    pub fn admitted(&self) -> bool {
        self.idle.iter().any(Pipeline::admitted)
    }

    /// Gives back room taken for instances that were never started (a
    /// read that found nothing to send): a caught-up destination holds none.
    pub fn release_unstarted(&mut self) {
        for lane in self.idle.iter_mut().filter(|l| !l.holds_instances()) {
            lane.release();
        }
    }

    /// Waits until an idle lane has room for its instances (see
    /// [`Pipeline::admit`]); the next batch goes out on it.
    pub async fn admit(&mut self) {
        self.home().admit().await;
    }

    /// See [`Pipeline::instances_scarce`].
    pub fn instances_scarce(&self) -> bool {
        self.template.instances_scarce()
    }

    /// [`Lanes::release`] when instances are scarce over all destinations
    /// (see [`Pipeline::instances_scarce`]): a destination that waits gives
    /// its idle ones back at once, for others (or its own batches out) to use.
    pub fn release_if_scarce(&mut self) {
        if self.instances_scarce() {
            self.release();
        }
    }
}
