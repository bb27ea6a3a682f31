use std::collections::{BTreeSet, HashMap};

/// At-least-once bookkeeping for records processed concurrently.
///
/// A record's offset may be stored only once it and every earlier record of
/// its partition are done; otherwise a crash would skip the unfinished ones.
/// The tracker answers, for each completion, the offset that is now safe to
/// store (the next offset to consume), if it moved.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    /// Per partition: offsets begun but not completed, and the next offset
    /// after the highest one begun.
    partitions: HashMap<(String, i32), Partition>,
}

#[derive(Debug, Default)]
struct Partition {
    /// Offsets taken and not yet done.
    in_flight: BTreeSet<i64>,
    /// The offset after the highest one taken.
    next: i64,
    /// The offset last stored (the next record to read after a restart).
    stored: i64,
}

impl OffsetTracker {
    /// Records that `offset` of `topic`/`partition` is being processed.
    pub fn begin(&mut self, topic: &str, partition: i32, offset: i64) {
        let entry = self
            .partitions
            .entry((topic.to_owned(), partition))
            .or_insert_with(|| Partition {
                stored: offset,
                ..Partition::default()
            });
        entry.in_flight.insert(offset);
        entry.next = entry.next.max(offset + 1);
    }

    /// Records that `offset` is done; returns the offset to store if the
    /// safe point moved forward.
    pub fn complete(&mut self, topic: &str, partition: i32, offset: i64) -> Option<i64> {
        let entry = self.partitions.get_mut(&(topic.to_owned(), partition))?;
        entry.in_flight.remove(&offset);
        let safe = entry.in_flight.first().copied().unwrap_or(entry.next);
        (safe > entry.stored).then(|| {
            entry.stored = safe;
            safe
        })
    }

    /// Number of records begun and not completed.
    pub fn in_flight(&self) -> usize {
        self.partitions.values().map(|p| p.in_flight.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_only_past_contiguous_completions() {
        let mut t = OffsetTracker::default();
        for offset in 10..13 {
            t.begin("t", 0, offset);
        }
        assert_eq!(t.complete("t", 0, 11), None, "10 is still in flight");
        assert_eq!(t.complete("t", 0, 10), Some(12));
        assert_eq!(t.complete("t", 0, 12), Some(13));
        assert_eq!(t.in_flight(), 0);
        assert_eq!(t.complete("t", 1, 0), None, "unknown partition");
    }

    #[test]
    fn partitions_are_independent() {
        let mut t = OffsetTracker::default();
        t.begin("t", 0, 5);
        t.begin("t", 1, 7);
        assert_eq!(t.complete("t", 1, 7), Some(8));
        assert_eq!(t.in_flight(), 1);
        assert_eq!(t.complete("t", 0, 5), Some(6));
        assert_eq!(t.in_flight(), 0);
    }
}
