//! Following every partition of a topic: the one loop behind every
//! follower (the producer's provider registry and aggregator lag, the
//! aggregator's partner map, the read API's change notices).
//!
//! A follower is run by every instance over the whole topic, with no group
//! membership and no commits ([`consumer_of_every_partition`]); it reads
//! until shutdown, waits out the consumer errors librdkafka retries by
//! itself ([`on_consumer_error`]), and closes its consumer off the async
//! runtime. What it does with each record is the caller's ([`Follow`]).

use super::{KafkaSettings, consumer_of_every_partition, on_consumer_error};
use rdkafka::{Offset, consumer::StreamConsumer, message::BorrowedMessage};
use tokio_util::sync::CancellationToken;

/// What a follower does with each record it reads.
pub trait Follow: Send {
    /// Takes one record of the followed topic, in the order of its
    /// partition. An error ends the following.
    fn take(
        &mut self,
        message: &BorrowedMessage<'_>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// A consumer assigned every partition of a topic, to be run by
/// [`Follower::run`].
pub struct Follower {
    /// The consumer, assigned.
    consumer: StreamConsumer,
    /// The topic it follows.
    topic: String,
}

impl Follower {
    /// A follower named `name` (the consumer's client id) of every
    /// partition of `topic`, each from `start`. Returns once assigned.
    pub async fn every_partition(
        kafka: &KafkaSettings,
        name: &str,
        topic: &str,
        start: Offset,
    ) -> anyhow::Result<Follower> {
        let consumer = consumer_of_every_partition(kafka, name, topic, start).await?;
        Ok(Follower {
            consumer,
            topic: topic.to_owned(),
        })
    }

    /// Hands every record read to `follow` until `shutdown`, then closes
    /// the consumer. Ends with an error only if `follow` does or the
    /// broker fails for good.
    pub async fn run(
        self,
        mut follow: impl Follow,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let result = self.read(&mut follow, &shutdown).await;
        // Closing blocks.
        let consumer = self.consumer;
        let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
        result
    }

    async fn read(
        &self,
        follow: &mut impl Follow,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        loop {
            let message = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                message = self.consumer.recv() => match message {
                    Ok(message) => message,
                    Err(error) => {
                        on_consumer_error(error, &self.topic).await?;
                        continue;
                    }
                },
            };
            follow.take(&message).await?;
        }
    }
}
