//! A destination's queue of operator requests (redrive, discard, replay):
//! bounded, async on both ends, and small while empty. Every destination
//! has two, and a tokio mpsc channel allocates ~1.6 KiB up front (its
//! padded state and a first block of 32 slots): 31 MiB for 10,000
//! customers' destinations that are almost never asked anything. This one
//! is one allocation of ~200 bytes until a request arrives.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, Semaphore};

/// The worker is gone: the request was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the destination's worker has stopped")]
pub struct Closed;

struct Shared<T> {
    /// `None` once the receiver is gone.
    queue: Mutex<Option<VecDeque<T>>>,
    /// Free places; a sender waits for one.
    room: Semaphore,
    /// Wakes the receiver.
    ready: Notify,
}

/// A queue holding at most `capacity` requests.
pub fn inbox<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Some(VecDeque::new())),
        room: Semaphore::new(capacity),
        ready: Notify::new(),
    });
    (Sender(shared.clone()), Receiver(shared))
}

pub struct Sender<T>(Arc<Shared<T>>);

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Sender<T> {
    /// Queues `value`, waiting while the queue is full.
    pub async fn send(&self, value: T) -> Result<(), Closed> {
        let place = self.0.room.acquire().await.map_err(|_| Closed)?;
        let mut queue = self.0.queue.lock().unwrap_or_else(|p| p.into_inner());
        let queue = queue.as_mut().ok_or(Closed)?;
        // The receiver gives the place back when it takes the value.
        place.forget();
        queue.push_back(value);
        self.0.ready.notify_one();
        Ok(())
    }
}

pub struct Receiver<T>(Arc<Shared<T>>);

impl<T> Receiver<T> {
    /// The oldest request, if one is queued.
    pub fn try_recv(&mut self) -> Option<T> {
        let value = self
            .0
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
            .and_then(VecDeque::pop_front);
        if value.is_some() {
            self.0.room.add_permits(1);
        }
        value
    }

    /// Waits for the next request. Cancel-safe: dropped while waiting, it
    /// takes nothing.
    pub async fn recv(&mut self) -> T {
        loop {
            if let Some(value) = self.try_recv() {
                return value;
            }
            self.0.ready.notified().await;
        }
    }
}

impl<T> Drop for Receiver<T> {
    /// Refuses further requests, and drops the queued ones (their reply
    /// channels tell the waiting callers).
    fn drop(&mut self) {
        self.0.room.close();
        let queued = self
            .0
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(queued);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn requests_come_out_in_order_and_a_full_queue_waits() {
        let (tx, mut rx) = inbox(2);
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        let third = tokio::time::timeout(Duration::from_millis(50), tx.send(3)).await;
        assert!(third.is_err(), "full: the sender waits");
        assert_eq!(rx.recv().await, 1);
        tx.send(3).await.unwrap();
        assert_eq!(rx.try_recv(), Some(2));
        assert_eq!(rx.recv().await, 3);
        assert_eq!(rx.try_recv(), None);
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_a_request() {
        let (tx, mut rx) = inbox(1);
        let receiving = tokio::spawn(async move { rx.recv().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send("redrive").await.unwrap();
        assert_eq!(receiving.await.unwrap(), "redrive");
    }

    #[tokio::test]
    async fn a_gone_receiver_refuses_requests_and_drops_the_queued_ones() {
        let (tx, rx) = inbox(4);
        let (reply, answer) = tokio::sync::oneshot::channel::<()>();
        tx.send(Some(reply)).await.unwrap();
        drop(rx);
        assert!(
            answer.await.is_err(),
            "the caller learns its request is gone"
        );
        assert_eq!(tx.send(None).await, Err(Closed));
    }

    #[test]
    fn an_empty_inbox_is_small() {
        let shared = std::mem::size_of::<Shared<super::super::Operator>>();
        assert!(shared <= 256, "{shared} bytes");
    }
}
