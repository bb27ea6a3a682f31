//! Our producer: rdkafka's `FutureProducer` API (a future per record)
//! over a `BaseProducer` whose delivery reports are served by a thread
//! that does not spin.
//!
//! rdkafka 0.38's `FutureProducer` polls on a thread with a 100 ms
//! deadline, and its poll turns the deadline's remainder into whole
//! milliseconds: the last fraction of a millisecond of every 100 ms is
//! spent polling with a timeout of 0, in a loop. Measured idle in `rfq up`
//! (`perf`): each producer's thread took 0.8 % of a core, half of the
//! whole process. Here the thread polls for [`POLL`] at a time, so that
//! millisecond is spent every 3 s, not ten times a second (measured: the
//! six producers of `rfq up` took 0.43 % of a core together at a 1 s
//! poll); a delivery report is still served as soon as it arrives (the
//! poll serves every event as it comes).

use futures::channel::oneshot;
use rdkafka::{
    ClientConfig, ClientContext, Message as _, Timestamp,
    client::Client,
    config::{FromClientConfig, FromClientConfigAndContext as _},
    error::{KafkaError, KafkaResult, RDKafkaErrorCode},
    message::{OwnedMessage, ToBytes},
    producer::{
        BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext,
        future_producer::{Delivery, FutureRecord, OwnedDeliveryResult},
    },
    util::Timeout,
};
use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

/// How long the delivery thread polls at a time (and so, at most, how long
/// it outlives its producer).
pub const POLL: Duration = Duration::from_secs(3);

/// Sends each record's delivery report to the future waiting for it.
pub struct Deliveries;

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<oneshot::Sender<OwnedDeliveryResult>>;

    fn delivery(&self, result: &DeliveryResult<'_>, tx: Self::DeliveryOpaque) {
        let owned = match result {
            Ok(message) => Ok(Delivery {
                partition: message.partition(),
                offset: message.offset(),
                timestamp: message.timestamp(),
            }),
            Err((error, message)) => Err((error.clone(), message.detach())),
        };
        // Nobody waiting any more is fine: the record was still sent.
        let _ = tx.send(owned);
    }
}

/// A Kafka producer giving a future per record. Clones share one client.
#[derive(Clone)]
pub struct Producer {
    shared: Arc<Shared>,
}

struct Shared {
    base: Arc<BaseProducer<Deliveries>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The thread ends within one POLL and drops the client (which
        // purges and reports what was still queued).
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A record's delivery report, once the broker acknowledged it (or the
/// producer gave up); `Err(Canceled)` if the producer went first.
pub struct DeliveryFuture {
    rx: oneshot::Receiver<OwnedDeliveryResult>,
}

impl Future for DeliveryFuture {
    type Output = Result<OwnedDeliveryResult, oneshot::Canceled>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx)
    }
}

impl FromClientConfig for Producer {
    /// A producer with `config`, its delivery thread started.
    fn from_config(config: &ClientConfig) -> KafkaResult<Producer> {
        let base = Arc::new(BaseProducer::from_config_and_context(config, Deliveries)?);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (base, stop) = (Arc::clone(&base), Arc::clone(&stop));
            move || {
                while !stop.load(Ordering::Relaxed) {
                    base.poll(POLL);
                }
            }
        };
        std::thread::Builder::new()
            .name("rfq-delivery".into())
            .spawn(thread)
            .map_err(|error| {
                KafkaError::ClientCreation(format!("starting the delivery thread: {error}"))
            })?;
        Ok(Producer {
            shared: Arc::new(Shared { base, stop }),
        })
    }
}

impl Producer {
    /// Sends `record`, retrying while the local queue is full for up to
    /// `queue_timeout`, and waits for its delivery report (rdkafka's
    /// `FutureProducer::send`, whose result type this keeps).
    #[allow(clippy::result_large_err)]
    pub async fn send<K, P, T>(
        &self,
        record: FutureRecord<'_, K, P>,
        queue_timeout: T,
    ) -> OwnedDeliveryResult
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
        T: Into<Timeout>,
    {
        let started = Instant::now();
        let queue_timeout = queue_timeout.into();
        let mut record = record;
        loop {
            match self.send_result(record) {
                Ok(delivery) => {
                    return delivery.await.unwrap_or_else(|_| {
                        Err((
                            KafkaError::Canceled,
                            OwnedMessage::new(
                                None,
                                None,
                                String::new(),
                                Timestamp::NotAvailable,
                                -1,
                                -1,
                                None,
                            ),
                        ))
                    });
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if match queue_timeout {
                        Timeout::Never => true,
                        Timeout::After(limit) => started.elapsed() < limit,
                    } =>
                {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err((error, back)) => return Err((error, owned(&back))),
            }
        }
    }

    /// Enqueues `record`; its delivery report comes with the future.
    #[allow(clippy::result_large_err)]
    pub fn send_result<'a, K, P>(
        &self,
        record: FutureRecord<'a, K, P>,
    ) -> Result<DeliveryFuture, (KafkaError, FutureRecord<'a, K, P>)>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let (tx, rx) = oneshot::channel();
        let mut base = BaseRecord::with_opaque_to(record.topic, Box::new(tx));
        base.partition = record.partition;
        base.payload = record.payload;
        base.key = record.key;
        base.timestamp = record.timestamp;
        base.headers = record.headers;
        self.shared
            .base
            .send(base)
            .map(|()| DeliveryFuture { rx })
            .map_err(|(error, base)| {
                let mut back = FutureRecord::to(base.topic);
                back.partition = base.partition;
                back.payload = base.payload;
                back.key = base.key;
                back.timestamp = base.timestamp;
                back.headers = base.headers;
                (error, back)
            })
    }

    /// Waits until every queued record is delivered (or `timeout`).
    pub fn flush<T: Into<Timeout>>(&self, timeout: T) -> KafkaResult<()> {
        self.shared.base.flush(timeout)
    }

    /// Records queued or in flight.
    pub fn in_flight_count(&self) -> i32 {
        self.shared.base.in_flight_count()
    }

    /// The client underneath (metadata, watermarks).
    pub fn client(&self) -> &Client<Deliveries> {
        self.shared.base.client()
    }
}

/// `record` as an owned message, for an error report.
fn owned<K, P>(record: &FutureRecord<'_, K, P>) -> OwnedMessage
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    OwnedMessage::new(
        record.payload.map(|p| p.to_bytes().to_vec()),
        record.key.map(|k| k.to_bytes().to_vec()),
        record.topic.to_owned(),
        record
            .timestamp
            .map_or(Timestamp::NotAvailable, Timestamp::CreateTime),
        record.partition.unwrap_or(-1),
        0,
        record.headers.clone(),
    )
}
