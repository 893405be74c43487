//! Splitting records into PutRecords calls: at most `max_records` records
//! and 5 MiB (data plus partition key bytes) per call, in order.

/// Kinesis' limit on one PutRecords request.
pub const MAX_CALL_BYTES: usize = 5 * 1024 * 1024;

/// Groups `sizes` (bytes per record, in order) into consecutive calls;
/// returns index ranges. A record alone over the byte limit still gets a
/// call of its own, so that Kinesis reports its error for that record.
pub fn calls(sizes: &[usize], max_records: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, &size) in sizes.iter().enumerate() {
        let full = i - start == max_records || (bytes + size > MAX_CALL_BYTES && i > start);
        if full {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// Like [`calls`], but the records flagged `alone` each get a call of their
/// own (after the others); returns the positions in each call.
pub fn calls_with_alone(sizes: &[usize], alone: &[bool], max_records: usize) -> Vec<Vec<usize>> {
    let grouped: Vec<usize> = (0..sizes.len()).filter(|&i| !alone[i]).collect();
    let grouped_sizes: Vec<usize> = grouped.iter().map(|&i| sizes[i]).collect();
    let mut out: Vec<Vec<usize>> = calls(&grouped_sizes, max_records)
        .into_iter()
        .map(|range| grouped[range].to_vec())
        .collect();
    out.extend((0..sizes.len()).filter(|&i| alone[i]).map(|i| vec![i]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_a_rejected_call_go_one_by_one() {
        let sizes = [10; 5];
        assert_eq!(
            calls_with_alone(&sizes, &[false; 5], 500),
            [vec![0, 1, 2, 3, 4]]
        );
        assert_eq!(
            calls_with_alone(&sizes, &[false, true, false, true, false], 500),
            [vec![0, 2, 4], vec![1], vec![3]]
        );
    }

    #[test]
    fn splits_by_count_and_bytes() {
        assert_eq!(calls(&[1; 1200], 500), [0..500, 500..1000, 1000..1200]);
        let mib = 1024 * 1024;
        assert_eq!(calls(&[mib; 12], 500), [0..5, 5..10, 10..12]);
        assert_eq!(calls(&[10, 6 * mib, 10], 500), [0..1, 1..2, 2..3]);
        assert!(calls(&[], 500).is_empty());
    }
}
