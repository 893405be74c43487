use std::collections::HashMap;
use std::time::Duration;

use redb::ReadableTableMetadata;
use serde_json::value::RawValue;

use super::*;
use crate::config::{GroupCommitConfig, StorageConfig};

fn storage(dir: &Path, window: Duration) -> StorageConfig {
    StorageConfig {
        data_dir: dir.to_owned(),
        idempotency_window: window,
        retention: Duration::from_secs(3600),
        attempt_retention: Duration::from_secs(3600),
        cache_size: 16 << 20,
        retention_interval: Duration::from_secs(60),
        group_commit: GroupCommitConfig {
            max_batch: 4096,
            max_wait: Duration::ZERO,
        },
    }
}

fn event(source: &str, key: &str) -> NewEvent {
    let payload = RawValue::from_string(format!("{{\"key\":\"{key}\"}}")).unwrap();
    let metadata = RawValue::from_string("{}".into()).unwrap();
    NewEvent::new(&EventBody {
        event_type: "test.event",
        occurred_at: "2026-05-26T14:21:08.493Z",
        source,
        customer_external_id: "acct_1",
        idempotency_key: key,
        correlation_id: None,
        payload: &payload,
        metadata: &metadata,
    })
}

fn set_cursor(log: &Log, destination: &str, next: u64) {
    let txn = log.inner.db.begin_write().unwrap();
    txn.open_table(CURSORS)
        .unwrap()
        .insert(destination, next)
        .unwrap();
    txn.commit().unwrap();
}

#[tokio::test]
async fn appends_get_increasing_sequences_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(&storage(dir.path(), Duration::from_secs(60))).unwrap();
    let first = log
        .append(vec![event("s", "a"), event("s", "b")])
        .await
        .unwrap();
    let second = log.append(vec![event("s", "c")]).await.unwrap();
    let sequences: Vec<u64> = first.iter().chain(&second).map(|a| a.sequence).collect();
    assert_eq!(sequences, [1, 2, 3]);
    assert!(
        first
            .iter()
            .all(|a| !a.duplicate && a.id.starts_with("evt_"))
    );

    let record = log.get_by_id(&second[0].id).unwrap().unwrap();
    assert_eq!((record.sequence, record.idempotency_key.as_str()), (3, "c"));
    assert_eq!(record.payload.get(), r#"{"key":"c"}"#);
    let all = log.read_from(2, 10).unwrap();
    assert_eq!(all.iter().map(|r| r.sequence).collect::<Vec<_>>(), [2, 3]);
    assert!(log.get_by_id("evt_unknown").unwrap().is_none());
    log.close();
}

#[tokio::test]
async fn idempotency_is_scoped_per_source_and_holds_inside_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(&storage(dir.path(), Duration::from_secs(60))).unwrap();
    let original = log
        .append(vec![event("billing", "k")])
        .await
        .unwrap()
        .remove(0);
    let again = log
        .append(vec![event("billing", "k")])
        .await
        .unwrap()
        .remove(0);
    assert!(again.duplicate);
    assert_eq!(
        (again.id.as_str(), again.sequence),
        (original.id.as_str(), original.sequence)
    );

    let other_source = log
        .append(vec![event("shipping", "k")])
        .await
        .unwrap()
        .remove(0);
    assert!(!other_source.duplicate);
    assert_ne!(other_source.id, original.id);

    let batch = log
        .append(vec![event("s", "twice"), event("s", "twice")])
        .await
        .unwrap();
    assert!(!batch[0].duplicate && batch[1].duplicate);
    assert_eq!(batch[0].id, batch[1].id);
    assert_eq!(log.read_from(0, 100).unwrap().len(), 3);
    assert_eq!(log.stats().duplicates.load(Ordering::Relaxed), 2);
    log.close();
}

#[tokio::test]
async fn a_key_outside_the_window_is_a_new_event() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(&storage(dir.path(), Duration::from_millis(50))).unwrap();
    let first = log.append(vec![event("s", "k")]).await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(120)).await;
    let second = log.append(vec![event("s", "k")]).await.unwrap().remove(0);
    assert!(!second.duplicate);
    assert_eq!(second.sequence, first.sequence + 1);
    log.close();
}

#[tokio::test]
async fn sequences_and_events_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let config = storage(dir.path(), Duration::from_secs(60));
    let log = Log::open(&config).unwrap();
    let stored = log
        .append(vec![event("s", "a"), event("s", "b")])
        .await
        .unwrap();
    log.close();
    drop(log);

    let log = Log::open(&config).unwrap();
    assert_eq!(log.next_sequence().unwrap(), 3);
    assert_eq!(log.get_by_id(&stored[1].id).unwrap().unwrap().sequence, 2);
    let dup = log.append(vec![event("s", "a")]).await.unwrap().remove(0);
    assert!(dup.duplicate, "idempotency keys are durable too");
    assert_eq!(
        log.append(vec![event("s", "c")]).await.unwrap()[0].sequence,
        3
    );
    log.close();
}

#[tokio::test]
async fn a_second_process_cannot_open_the_same_log() {
    let dir = tempfile::tempdir().unwrap();
    let config = storage(dir.path(), Duration::from_secs(60));
    let log = Log::open(&config).unwrap();
    match Log::open(&config) {
        Err(LogError::AlreadyOpen(path)) => assert!(path.ends_with(LOG_FILE)),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("opened twice"),
    }
    log.close();
}

#[tokio::test]
async fn concurrent_appends_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = storage(dir.path(), Duration::from_secs(60));
    config.group_commit.max_wait = Duration::from_millis(200);
    let log = Log::open(&config).unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { log.append(vec![event("s", &format!("k{i}"))]).await })
        })
        .collect();
    let mut sequences = Vec::new();
    for task in tasks {
        sequences.push(task.await.unwrap().unwrap()[0].sequence);
    }
    sequences.sort_unstable();
    assert_eq!(sequences, (1..=64).collect::<Vec<_>>());
    let commits = log.stats().commits.load(Ordering::Relaxed);
    assert!(commits < 32, "64 concurrent appends took {commits} commits");
    log.close();
}

#[tokio::test]
async fn retention_deletes_only_old_events_behind_every_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(&storage(dir.path(), Duration::from_millis(1))).unwrap();
    let stored = log
        .append((0..10).map(|i| event("s", &format!("k{i}"))).collect())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let scope = |name: &str, customer: Option<&str>| CursorScope {
        destination: name.to_owned(),
        customer: customer.map(Arc::from),
    };
    // The idle destination of a customer without events never wrote a
    // cursor, yet holds nothing back: none of these events is its.
    let destinations = vec![
        scope("kinesis", None),
        scope("kafka", None),
        scope("idle-customer", Some("acct_idle")),
    ];
    let retention = Duration::from_millis(10);

    assert_eq!(
        log.sweep(retention, &destinations).await.unwrap(),
        0,
        "no cursor yet: nothing delivered"
    );
    set_cursor(&log, "kinesis", 8);
    set_cursor(&log, "kafka", 5);
    assert_eq!(
        log.sweep(retention, &destinations).await.unwrap(),
        4,
        "sequences 1..=4 are behind both"
    );
    assert!(log.get_by_id(&stored[3].id).unwrap().is_none());
    assert!(log.get_by_id(&stored[4].id).unwrap().is_some());
    assert_eq!(log.read_from(0, 100).unwrap()[0].sequence, 5);

    assert_eq!(
        log.sweep(Duration::from_secs(3600), &[]).await.unwrap(),
        0,
        "too young"
    );
    assert_eq!(
        log.sweep(retention, &[]).await.unwrap(),
        6,
        "no destinations: age alone decides"
    );
    assert_eq!(
        log.next_sequence().unwrap(),
        11,
        "the sequence never goes back"
    );
    let fresh = log.append(vec![event("s", "k0")]).await.unwrap().remove(0);
    assert_eq!((fresh.sequence, fresh.duplicate), (11, false));
    log.close();
}

/// Waits (at most 10 s) until `done`: the writer merges after it answered.
async fn wait_for(done: impl Fn() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not done in 10 s");
}

/// Entries on disk in an index written late, and where its `mark` says it is complete.
fn on_disk<K: redb::Key + 'static, V: redb::Value + 'static>(
    log: &Log,
    index: redb::TableDefinition<K, V>,
    mark: &str,
) -> (u64, Option<u64>) {
    let txn = log.inner.db.begin_read().unwrap();
    let entries = txn.open_table(index).unwrap().len().unwrap();
    let mark = txn
        .open_table(META)
        .unwrap()
        .get(mark)
        .unwrap()
        .map(|g| g.value());
    (entries, mark)
}

fn idempotency_on_disk(log: &Log) -> (u64, Option<u64>) {
    on_disk(log, IDEMPOTENCY, tables::META_IDEMPOTENCY_INDEXED)
}

/// What a crash leaves: the idempotency entries the writer held in memory
/// never reached the index, which is complete only below `mark`.
fn forget_recent_idempotency_keys(log: &Log, mark: u64) {
    let txn = log.inner.db.begin_write().unwrap();
    {
        let events = txn.open_table(EVENTS).unwrap();
        let mut keys = txn.open_table(IDEMPOTENCY).unwrap();
        for entry in events.range(mark..).unwrap() {
            let (_, stored) = entry.unwrap();
            let record: EventRecord = serde_json::from_slice(stored.value()).unwrap();
            keys.remove((record.source.as_str(), record.idempotency_key.as_str()))
                .unwrap();
        }
        txn.open_table(META)
            .unwrap()
            .insert(tables::META_IDEMPOTENCY_INDEXED, mark)
            .unwrap();
    }
    txn.commit().unwrap();
}

#[tokio::test]
async fn the_sweep_leaves_no_idempotency_entry_behind() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(&storage(dir.path(), Duration::from_millis(1))).unwrap();
    log.append((0..10).map(|i| event("s", &format!("k{i}"))).collect())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(log.sweep(Duration::from_millis(10), &[]).await.unwrap(), 10);
    log.close();
    // Entries still in memory at the sweep would have been written after
    // it, pointing at deleted events.
    assert_eq!(idempotency_on_disk(&log), (0, Some(11)));
}

#[tokio::test]
async fn recent_idempotency_keys_are_merged_into_the_index_many_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(&storage(dir.path(), Duration::from_secs(60))).unwrap();
    log.append(vec![event("s", "first")]).await.unwrap();
    assert_eq!(
        idempotency_on_disk(&log),
        (0, Some(1)),
        "held in memory until a merge"
    );
    for chunk in 0..17 {
        log.append(
            (0..1000)
                .map(|i| event("s", &format!("k{chunk}-{i}")))
                .collect(),
        )
        .await
        .unwrap();
    }
    // The merge runs after the group's answers.
    let merged = || idempotency_on_disk(&log).0 > 0;
    wait_for(merged).await;
    let (entries, mark) = idempotency_on_disk(&log);
    assert!(entries >= 16_384, "{entries} entries merged");
    assert_eq!(Some(entries + 1), mark, "complete up to its mark");
    let again = log
        .append(vec![event("s", "first"), event("s", "k16-999")])
        .await
        .unwrap();
    assert!(again.iter().all(|a| a.duplicate), "{again:?}");
    assert_eq!(again[0].sequence, 1);
    log.close();
}

#[tokio::test]
async fn a_restart_after_a_crash_indexes_the_keys_held_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let short = storage(dir.path(), Duration::from_millis(50));
    let log = Log::open(&short).unwrap();
    let old = log.append(vec![event("s", "k")]).await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(120)).await;
    let new = log
        .append(vec![event("s", "k"), event("t", "k")])
        .await
        .unwrap();
    assert!(!new[0].duplicate && new[0].sequence == old.sequence + 1);
    log.close();
    forget_recent_idempotency_keys(&log, 1);
    drop(log);

    let log = Log::open(&storage(dir.path(), Duration::from_secs(60))).unwrap();
    assert_eq!(idempotency_on_disk(&log), (2, Some(4)));
    let again = log
        .append(vec![event("s", "k"), event("t", "k")])
        .await
        .unwrap();
    assert_eq!(
        again
            .iter()
            .map(|a| (a.sequence, a.duplicate))
            .collect::<Vec<_>>(),
        [(2, true), (3, true)],
        "the later event of a scope is the one remembered"
    );
    log.close();
}

#[tokio::test]
async fn retention_sweeps_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(&storage(dir.path(), Duration::from_millis(1))).unwrap();
    log.append((0..12).map(|i| event("s", &format!("k{i}"))).collect())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let outcome = log.prune(u64::MAX - 1, u64::MAX, 5).await.unwrap();
    assert_eq!(
        outcome,
        PruneOutcome {
            deleted: 5,
            more: true
        }
    );
    assert_eq!(log.read_from(0, 100).unwrap().len(), 7);
    log.close();
}

#[tokio::test]
async fn appends_after_close_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(&storage(dir.path(), Duration::from_secs(60))).unwrap();
    log.close();
    assert!(!log.is_ready());
    assert!(matches!(
        log.append(vec![event("s", "a")]).await,
        Err(LogError::Closed)
    ));
}

fn attempt(
    sequence: u64,
    attempt: u32,
    outcome: AttemptOutcome,
    started_at: &str,
) -> AttemptRecord {
    AttemptRecord {
        destination: "d".into(),
        event_id: format!("evt_{sequence}"),
        sequence,
        attempt,
        started_at: started_at.into(),
        duration_ms: 1,
        outcome,
        error_code: (outcome == AttemptOutcome::Retryable).then(|| "Throttled".into()),
        error_message: None,
        coordinates: Default::default(),
        plugins: vec![],
        replay: None,
    }
}

#[tokio::test]
async fn attempt_pages_visit_every_attempt_once_with_filters_and_prune_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(&storage(dir.path(), Duration::from_secs(60))).unwrap();
    let now = format_time(std::time::SystemTime::now());
    let mut attempts = Vec::new();
    for sequence in 1..=500u64 {
        attempts.push(attempt(
            sequence,
            1,
            AttemptOutcome::Retryable,
            "2020-01-01T00:00:00Z",
        ));
        attempts.push(attempt(sequence, 2, AttemptOutcome::Delivered, &now));
    }
    log.record(DeliveryProgress {
        destination: "d".into(),
        attempts,
        dead_letters: vec![],
        leave_dlq: vec![],
        cursor: 501,
    })
    .await
    .unwrap();

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = log
            .attempts_page("d", &ListFilter::default(), after, 7)
            .unwrap();
        assert!(page.items.len() <= 7);
        seen.extend(page.items.iter().map(|a| (a.sequence, a.attempt)));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 1000);
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, seen, "each once, in log order");

    let retried = ListFilter {
        status: Some(AttemptOutcome::Retryable),
        ..Default::default()
    };
    let page = log.attempts_page("d", &retried, None, 1000).unwrap();
    assert_eq!(page.items.len(), 500);
    assert!(page.items.iter().all(|a| a.attempt == 1));
    let old = ListFilter {
        until_ms: Some(1_500_000_000_000),
        ..Default::default()
    };
    assert_eq!(
        log.attempts_page("d", &old, None, 1000)
            .unwrap()
            .items
            .len(),
        0
    );
    assert!(
        log.attempts_page("other", &ListFilter::default(), None, 10)
            .unwrap()
            .items
            .is_empty()
    );

    // The 2020 attempts are past a one-day retention; today's stay.
    assert_eq!(
        log.prune_attempts(Duration::from_secs(86_400))
            .await
            .unwrap(),
        500
    );
    let left = log
        .attempts_page("d", &ListFilter::default(), None, 1000)
        .unwrap();
    assert_eq!(left.items.len(), 500);
    assert!(
        left.items
            .iter()
            .all(|a| a.outcome == AttemptOutcome::Delivered)
    );
}

async fn record_attempts(log: &Log, attempts: Vec<AttemptRecord>) {
    log.record(DeliveryProgress {
        destination: "d".into(),
        attempts,
        dead_letters: vec![],
        leave_dlq: vec![],
        cursor: 0,
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn every_attempt_gets_its_own_number_and_expires_by_its_own_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(&storage(dir.path(), Duration::from_secs(60))).unwrap();
    let now = format_time(std::time::SystemTime::now());
    let old = "2020-01-01T00:00:00Z";
    record_attempts(&log, vec![attempt(1, 1, AttemptOutcome::Retryable, old)]).await;
    // Delivered again after a restart, numbered 1 again by the worker: the
    // log gives it the next number instead of overwriting the first.
    record_attempts(&log, vec![attempt(1, 1, AttemptOutcome::Delivered, &now)]).await;
    record_attempts(&log, vec![attempt(2, 1, AttemptOutcome::Delivered, old)]).await;
    let numbers: Vec<(u32, AttemptOutcome)> = log
        .attempts("d", 1)
        .unwrap()
        .iter()
        .map(|a| (a.attempt, a.outcome))
        .collect();
    assert_eq!(
        numbers,
        [
            (1, AttemptOutcome::Retryable),
            (2, AttemptOutcome::Delivered)
        ]
    );

    let day = Duration::from_secs(86_400);
    assert_eq!(
        log.prune_attempts(day).await.unwrap(),
        2,
        "the two old ones"
    );
    let left = log
        .attempts_page("d", &ListFilter::default(), None, 10)
        .unwrap();
    let left: Vec<(u64, u32, &str)> = left
        .items
        .iter()
        .map(|a| (a.sequence, a.attempt, a.started_at.as_str()))
        .collect();
    assert_eq!(left, vec![(1, 2, now.as_str())]);
    assert_eq!(
        log.prune_attempts(day).await.unwrap(),
        0,
        "nothing left to find"
    );
    log.close();
}

#[tokio::test]
async fn a_log_from_before_the_start_index_is_indexed_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let config = storage(dir.path(), Duration::from_secs(60));
    let log = Log::open(&config).unwrap();
    let now = format_time(std::time::SystemTime::now());
    let attempts = (1..=300)
        .map(|s| attempt(s, 1, AttemptOutcome::Delivered, "2020-01-01T00:00:00Z"))
        .chain((301..=400).map(|s| attempt(s, 1, AttemptOutcome::Delivered, &now)))
        .collect();
    record_attempts(&log, attempts).await;
    log.close();
    drop(log);

    // Make it look like a log written before the index: no entries, no flag.
    {
        let db = redb::Database::open(dir.path().join("pushrail.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        txn.delete_table(tables::ATTEMPTS_BY_START).unwrap();
        txn.open_table(tables::META)
            .unwrap()
            .remove(tables::META_ATTEMPTS_INDEXED)
            .unwrap();
        txn.commit().unwrap();
    }

    let log = Log::open(&config).unwrap();
    assert_eq!(
        log.prune_attempts(Duration::from_secs(86_400))
            .await
            .unwrap(),
        300
    );
    let left = log
        .attempts_page("d", &ListFilter::default(), None, 1000)
        .unwrap();
    assert_eq!(left.items.len(), 100);
    assert!(left.items.iter().all(|a| a.sequence > 300));
    log.close();
}

/// #12 defect 2: a DLQ page of 1,000 dead letters of 1 MiB each was 1 GB in
/// memory. A page stops after 8 MiB and says where to go on.
#[tokio::test]
async fn dead_letter_pages_are_bounded_in_bytes_and_miss_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(&storage(dir.path(), Duration::from_secs(60))).unwrap();
    let big = RawValue::from_string(format!("{{\"pad\":\"{}\"}}", "x".repeat(1 << 20))).unwrap();
    let letters = (1..=20)
        .map(|sequence| DeadLetter {
            destination: "d".into(),
            sequence,
            event_id: format!("evt_{sequence}"),
            error_code: "Rejected".into(),
            error_message: "no".into(),
            attempts: 1,
            dead_lettered_at: format_time(std::time::SystemTime::now()),
            event: big.clone(),
        })
        .collect();
    log.record(DeliveryProgress {
        destination: "d".into(),
        dead_letters: letters,
        ..DeliveryProgress::default()
    })
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = log
            .dead_letters_page("d", &ListFilter::default(), after, 1_000)
            .unwrap();
        assert!(
            page.items.len() <= 9,
            "{} letters of 1 MiB in one page",
            page.items.len()
        );
        seen.extend(page.items.iter().map(|l| l.sequence));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, (1..=20).collect::<Vec<_>>());
    log.close();
}

fn customer_event(customer: &str, key: &str) -> NewEvent {
    let payload = RawValue::from_string("{}".into()).unwrap();
    let metadata = RawValue::from_string("{}".into()).unwrap();
    NewEvent::new(&EventBody {
        event_type: "test.event",
        occurred_at: "2026-05-26T14:21:08.493Z",
        source: "s",
        customer_external_id: customer,
        idempotency_key: key,
        correlation_id: None,
        payload: &payload,
        metadata: &metadata,
    })
}

fn sequences(read: &CustomerRead) -> Vec<u64> {
    read.records.iter().map(|(r, _)| r.sequence).collect()
}

#[tokio::test]
async fn a_customer_reads_and_is_woken_for_only_its_own_events() {
    let dir = tempfile::tempdir().unwrap();
    let config = storage(dir.path(), Duration::from_secs(60));
    let log = Log::open(&config).unwrap();
    let mut woken = log.subscribe_customer("acct_a");
    let batch = ["a", "b", "b", "a", "b"]
        .iter()
        .enumerate()
        .map(|(i, c)| customer_event(&format!("acct_{c}"), &format!("k{i}")))
        .collect();
    log.append(batch).await.unwrap();
    assert!(woken.has_changed().unwrap(), "woken for its events");
    woken.borrow_and_update();

    let all = log
        .read_customer_bounded("acct_a", 1, 100, usize::MAX)
        .unwrap();
    assert_eq!(sequences(&all), [1, 4]);
    assert_eq!((all.through, all.caught_up), (5, true));
    let first = log
        .read_customer_bounded("acct_a", 1, 1, usize::MAX)
        .unwrap();
    assert_eq!(sequences(&first), [1]);
    assert_eq!(
        (first.through, first.caught_up),
        (3, false),
        "up to the event before its next one"
    );
    let rest = log
        .read_customer_bounded("acct_a", 5, 100, usize::MAX)
        .unwrap();
    assert_eq!(
        (sequences(&rest), rest.through, rest.caught_up),
        (vec![], 5, true)
    );

    log.append(vec![customer_event("acct_b", "k5")])
        .await
        .unwrap();
    assert!(
        !woken.has_changed().unwrap(),
        "another customer's events wake nobody waiting on acct_a"
    );
    assert_eq!(log.customer_cursor("acct_a", 2).unwrap(), 4);
    assert_eq!(
        log.customer_cursor("acct_a", 5).unwrap(),
        7,
        "the end of the log"
    );
    let scope = CursorScope {
        destination: "a".into(),
        customer: Some(Arc::from("acct_a")),
    };
    assert_eq!(
        log.position(&scope).unwrap(),
        (1, 2),
        "its first event, two waiting"
    );

    // Retention removes index entries with their events.
    let pruned = log.prune(u64::MAX, 3, 100).await.unwrap();
    assert_eq!(pruned.deleted, 2);
    let left = log
        .read_customer_bounded("acct_a", 1, 100, usize::MAX)
        .unwrap();
    assert_eq!(sequences(&left), [4]);
    assert_eq!(log.position(&scope).unwrap(), (4, 1));
    log.close();
    drop(log);

    // A log written before the index is indexed when opened.
    {
        let db = redb::Database::open(dir.path().join("pushrail.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        txn.delete_table(tables::EVENTS_BY_CUSTOMER).unwrap();
        txn.open_table(tables::META)
            .unwrap()
            .remove(tables::META_CUSTOMERS_INDEXED)
            .unwrap();
        txn.commit().unwrap();
    }
    let log = Log::open(&config).unwrap();
    let b = log
        .read_customer_bounded("acct_b", 1, 100, usize::MAX)
        .unwrap();
    assert_eq!(sequences(&b), [3, 5, 6]);
}

/// Every sequence of `customer` from 1 on, read in pages of `page` events.
fn read_all(log: &Log, customer: &str, page: usize) -> Vec<u64> {
    let mut from = 1;
    let mut all = Vec::new();
    loop {
        let read = log
            .read_customer_bounded(customer, from, page, usize::MAX)
            .unwrap();
        all.extend(sequences(&read));
        from = read.through + 1;
        if read.caught_up {
            return all;
        }
    }
}

#[tokio::test]
async fn customers_read_the_same_events_from_memory_the_index_and_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let config = storage(dir.path(), Duration::from_secs(60));
    let log = Log::open(&config).unwrap();
    let mut expected: HashMap<String, Vec<u64>> = HashMap::new();
    let mut append = async |chunk: usize, n: usize| {
        let customers: Vec<String> = (0..n)
            .map(|i| format!("acct_{}", (i * 7 + chunk) % 5))
            .collect();
        let batch = customers
            .iter()
            .enumerate()
            .map(|(i, c)| customer_event(c, &format!("k{chunk}-{i}")))
            .collect();
        for (customer, appended) in customers.iter().zip(log.append(batch).await.unwrap()) {
            expected
                .entry(customer.clone())
                .or_default()
                .push(appended.sequence);
        }
    };
    // 17,000 events: the last batch fills the memory and merges it.
    for chunk in 0..17 {
        append(chunk, 1000).await;
    }
    let on_disk = |log: &Log| {
        on_disk(
            log,
            tables::EVENTS_BY_CUSTOMER,
            tables::META_CUSTOMERS_INDEXED_UPTO,
        )
    };
    wait_for(|| on_disk(&log).0 > 0).await;
    assert_eq!(on_disk(&log), (17_000, Some(17_001)));
    append(17, 10).await; // held in memory
    assert_eq!(on_disk(&log), (17_000, Some(17_001)));
    let check = |log: &Log| {
        for (customer, sequences) in &expected {
            assert_eq!(
                &read_all(log, customer, usize::MAX),
                sequences,
                "{customer}"
            );
            assert_eq!(
                &read_all(log, customer, 333),
                sequences,
                "{customer} in pages"
            );
            let scope = CursorScope {
                destination: customer.clone(),
                customer: Some(Arc::from(customer.as_str())),
            };
            assert_eq!(
                log.position(&scope).unwrap(),
                (sequences[0], sequences.len() as u64)
            );
            let last = *sequences.last().unwrap();
            assert_eq!(log.customer_cursor(customer, last).unwrap(), last);
            assert_eq!(log.customer_cursor(customer, last + 1).unwrap(), 17_011);
        }
    };
    check(&log);
    log.close();
    // What a crash leaves: the last 10 never reached the index.
    {
        let txn = log.inner.db.begin_write().unwrap();
        {
            let mut index = txn.open_table(tables::EVENTS_BY_CUSTOMER).unwrap();
            for (customer, sequences) in &expected {
                for sequence in sequences.iter().filter(|s| **s >= 17_001) {
                    index.remove((customer.as_str(), *sequence)).unwrap();
                }
            }
            txn.open_table(META)
                .unwrap()
                .insert(tables::META_CUSTOMERS_INDEXED_UPTO, 17_001)
                .unwrap();
        }
        txn.commit().unwrap();
    }
    drop(log);
    let log = Log::open(&config).unwrap();
    assert_eq!(on_disk(&log), (17_010, Some(17_011)), "indexed when opened");
    check(&log);
    log.close();
}

#[tokio::test]
async fn a_destination_resumes_past_events_finished_ahead_of_its_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(&storage(dir.path(), Duration::from_secs(60))).unwrap();
    let now = format_time(std::time::SystemTime::now());
    let replayed = AttemptRecord {
        replay: Some("rpl_1".into()),
        ..attempt(7, 1, AttemptOutcome::Delivered, &now)
    };
    log.record(DeliveryProgress {
        destination: "d".into(),
        attempts: vec![
            attempt(2, 1, AttemptOutcome::Delivered, &now),
            // The cursor's own event is still retrying.
            attempt(3, 1, AttemptOutcome::Retryable, &now),
            attempt(4, 1, AttemptOutcome::Delivered, &now),
            attempt(5, 1, AttemptOutcome::DeadLettered, &now),
            attempt(6, 1, AttemptOutcome::Filtered, &now),
            // A replay's attempt says nothing about live delivery.
            replayed,
            attempt(8, 1, AttemptOutcome::Retryable, &now),
        ],
        dead_letters: vec![],
        leave_dlq: vec![],
        cursor: 3,
    })
    .await
    .unwrap();
    let resume = log.resume("d").unwrap();
    assert_eq!(resume.cursor, 3);
    assert_eq!(
        resume.finished.into_iter().collect::<Vec<_>>(),
        [4, 5, 6],
        "finished past the cursor; 2 is behind it, 3 and 8 retry, 7 was a replay"
    );
    assert_eq!(
        log.resume("other").unwrap(),
        Resume {
            cursor: 1,
            ..Resume::default()
        }
    );
}
