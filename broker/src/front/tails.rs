//! What the front knows of each partition's tail: the end of what it has
//! seen acknowledged or served, and when a produce to it last landed.
//!
//! Produces wake parked fetches through one counter: each acknowledged
//! produce bumps it and stamps its partitions with the new value, so a
//! fetch parked at value `v` wakes when any of its partitions is stamped
//! after `v`, and a produce between its snapshot and its wait is never
//! missed.

use std::{collections::HashMap, sync::Mutex};
use tokio::sync::watch;

/// A partition: topic name and index.
pub type Partition = (String, i32);

#[derive(Debug, Default, Clone, Copy)]
struct Tail {
    /// One past the last offset seen acknowledged or served.
    end: i64,
    /// The counter's value when a produce to it last landed.
    produced_at: u64,
}

/// The tails of every partition the front has seen, and the produce counter.
#[derive(Debug)]
pub struct Tails {
    tails: Mutex<HashMap<Partition, Tail>>,
    counter: watch::Sender<u64>,
}

impl Default for Tails {
    fn default() -> Self {
        Tails {
            tails: Mutex::new(HashMap::new()),
            counter: watch::Sender::new(0),
        }
    }
}

impl Tails {
    /// Produces acknowledged: each partition's new end. Wakes the fetches
    /// parked on them.
    pub fn produced(&self, ends: impl IntoIterator<Item = (Partition, i64)>) {
        let mut ends = ends.into_iter().peekable();
        if ends.peek().is_none() {
            return;
        }
        // The stamps are written before the counter moves, under the same
        // lock: a fetch woken by the counter always finds its partition
        // stamped (stamping after waking let a woken fetch miss the produce
        // and sleep its whole wait), and concurrent produces stamp in
        // counter order.
        let mut tails = self.lock();
        let stamp = *self.counter.borrow() + 1;
        for (partition, end) in ends {
            let tail = tails.entry(partition).or_default();
            tail.end = tail.end.max(end);
            tail.produced_at = stamp;
        }
        self.counter.send_replace(stamp);
    }

    /// Records served from `partition` up to `end` (exclusive).
    pub fn served(&self, partition: Partition, end: i64) {
        let mut tails = self.lock();
        let tail = tails.entry(partition).or_default();
        tail.end = tail.end.max(end);
    }

    /// The end seen for `partition`: 0 if none.
    pub fn end(&self, topic: &str, partition: i32) -> i64 {
        self.lock()
            .get(&(topic.to_owned(), partition))
            .map_or(0, |tail| tail.end)
    }

    /// Watches the produce counter.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.counter.subscribe()
    }

    /// Whether a produce to one of `partitions` landed after the counter was `since`.
    pub fn produced_since(&self, partitions: &[Partition], since: u64) -> bool {
        let tails = self.lock();
        partitions.iter().any(|partition| {
            tails
                .get(partition)
                .is_some_and(|tail| tail.produced_at > since)
        })
    }

    /// Those of `partitions` a produce landed on after the counter was `since`.
    pub fn produced_after(&self, partitions: &[Partition], since: u64) -> Vec<Partition> {
        let tails = self.lock();
        partitions
            .iter()
            .filter(|partition| {
                tails
                    .get(*partition)
                    .is_some_and(|tail| tail.produced_at > since)
            })
            .cloned()
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Partition, Tail>> {
        // A panic while holding the lock leaves plain numbers: still usable.
        self.tails
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_produce_after_the_snapshot_is_seen_and_ends_only_grow() {
        let tails = Tails::default();
        let a = ("t".to_owned(), 0);
        let b = ("t".to_owned(), 1);
        let since = *tails.watch().borrow();
        assert!(!tails.produced_since(std::slice::from_ref(&a), since));
        tails.produced([(b.clone(), 5)]);
        assert!(!tails.produced_since(std::slice::from_ref(&a), since));
        assert!(tails.produced_since(std::slice::from_ref(&b), since));
        tails.served(b.clone(), 3);
        assert_eq!(tails.end("t", 1), 5);
        tails.served(b, 9);
        assert_eq!(tails.end("t", 1), 9);
        assert_eq!(tails.end("t", 0), 0);
    }

    /// A counter value a fetch can see always has its stamps written: a
    /// reader on another thread never sees the counter ahead of them.
    #[test]
    fn the_counter_never_runs_ahead_of_the_stamps() {
        let tails = std::sync::Arc::new(Tails::default());
        let partition = ("t".to_owned(), 0);
        let writer = {
            let tails = tails.clone();
            let partition = partition.clone();
            std::thread::spawn(move || {
                for end in 1..=200_000 {
                    tails.produced([(partition.clone(), end)]);
                }
            })
        };
        let watch = tails.watch();
        let mut seen = 0;
        while !writer.is_finished() {
            let counter = *watch.borrow();
            let stamped = tails
                .lock()
                .get(&partition)
                .map_or(0, |tail| tail.produced_at);
            assert!(
                stamped >= counter,
                "counter {counter} ahead of the stamp {stamped}"
            );
            seen += 1;
        }
        assert!(seen > 0);
        writer.join().unwrap();
    }
}
