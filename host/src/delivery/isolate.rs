//! Finding the one event a plugin call fails on. A sandbox failure (trap,
//! time budget, memory cap) of a call over many events may come from one
//! poison event; failing them all would dead-letter good events with it.

use std::ops::Range;

use crate::runtime::CallError;

/// One result per item of a call over the items `0..len`, found by
/// calling again as long as [`Isolation::next`] names a range. A call that
/// fails with a sandbox failure is tried again in halves (each on a fresh
/// instance: a failed call poisons its instance), down to single items, and
/// a single item once more, before its items fail. At most about 2·log2(n)
/// failing calls are spent on this; other failures (a broken contract) fail
/// every item of the call at once.
///
/// (A loop at the caller rather than a function taking the call as a
/// closure: the closure would borrow the caller's pipeline across awaits.)
pub(super) struct Isolation<T> {
    results: Vec<Option<Result<T, CallError>>>,
    budget: usize,
    /// (items, tried alone already), the next on top.
    work: Vec<(Range<usize>, bool)>,
    /// The range handed out last, and whether it was tried alone already.
    calling: Option<(Range<usize>, bool)>,
}

impl<T> Isolation<T> {
    pub(super) fn new(len: usize) -> Self {
        Self {
            results: (0..len).map(|_| None).collect(),
            budget: 2 * (usize::BITS - len.leading_zeros()) as usize + 2,
            work: if len == 0 {
                Vec::new()
            } else {
                vec![(0..len, false)]
            },
            calling: None,
        }
    }

    /// The items to call with next, or `None` when every item has its result.
    pub(super) fn next(&mut self) -> Option<Range<usize>> {
        let (range, retried) = self.work.pop()?;
        self.calling = Some((range.clone(), retried));
        Some(range)
    }

    /// Takes the result of calling with the range [`Isolation::next`] gave
    /// (one answer per item when it succeeded). `plugin` and `destination`
    /// name a failed call in the log.
    pub(super) fn record(
        &mut self,
        result: Result<Vec<T>, CallError>,
        destination: &str,
        plugin: &str,
    ) {
        let (range, retried) = self.calling.take().expect("record follows next");
        let error = match result {
            Ok(answers) => {
                for (i, answer) in range.zip(answers) {
                    self.results[i] = Some(Ok(answer));
                }
                return;
            }
            Err(error) => error,
        };
        tracing::warn!(%destination, %plugin, events = range.len(), %error, "a plugin call failed as a whole");
        if !error.is_sandbox_failure() || self.budget == 0 || retried {
            for i in range {
                self.results[i] = Some(Err(error.clone()));
            }
            return;
        }
        self.budget -= 1;
        if range.len() == 1 {
            self.work.push((range, true));
        } else {
            let middle = range.start + range.len() / 2;
            self.work.push((middle..range.end, false));
            self.work.push((range.start..middle, false));
        }
    }

    /// One result per item.
    pub(super) fn finish(self) -> Vec<Result<T, CallError>> {
        self.results
            .into_iter()
            .map(|r| r.expect("every item gets a result"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls `answer` for each range the isolation asks for, as a pipeline does.
    fn run(
        len: usize,
        mut answer: impl FnMut(Range<usize>) -> Result<Vec<usize>, CallError>,
    ) -> (Vec<Result<usize, CallError>>, usize) {
        let mut isolation = Isolation::new(len);
        let mut calls = 0;
        while let Some(range) = isolation.next() {
            calls += 1;
            isolation.record(answer(range), "d", "p");
        }
        (isolation.finish(), calls)
    }

    #[test]
    fn a_poison_item_fails_alone_within_the_call_budget() {
        let poison = 6;
        let (results, calls) = run(10, |range| {
            if range.contains(&poison) {
                Err(CallError::Trap("unreachable".into()))
            } else {
                Ok(range.collect())
            }
        });
        for (i, result) in results.iter().enumerate() {
            match result {
                Ok(answer) => assert_eq!(*answer, i),
                Err(e) => {
                    assert_eq!(i, poison);
                    assert_eq!(e.code(), "plugin_trap");
                }
            }
        }
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        // 1 whole + halves down to the poison (4 failing, 4 passing) + once more alone.
        assert!(calls <= 10, "{calls} calls");
    }

    #[test]
    fn a_broken_contract_fails_the_whole_call_at_once() {
        let (results, calls) = run(8, |_| Err(CallError::Contract("2 for 8".into())));
        assert_eq!(calls, 1);
        assert!(results.iter().all(|r| r.is_err()));
    }

    #[test]
    fn nothing_to_call_for_no_items() {
        let (results, calls) = run(0, |_| unreachable!("no call for no items"));
        assert!(results.is_empty());
        assert_eq!(calls, 0);
    }
}
