//! The embedded Kafka-API broker of `rfq up` and of the tests.
//!
//! [tansu](https://crates.io/crates/tansu-broker) speaks the Kafka wire
//! protocol, so our components (and outside clients such as Python's
//! confluent-kafka, franz-go, Apache Kafka's Java client and kcat) talk to
//! it exactly as they would to a real cluster; only the process boundary is
//! saved. Records, topics and committed offsets live in one SQLite file
//! under the data directory and survive a restart.
//!
//! Clients reach tansu through our [`front`]: it listens on the advertised
//! address and tansu on a loopback port of its own (tansu advertises the
//! front's address, so metadata sends clients back to it). The front
//! answers ApiVersions (KIP-511 included), transcodes or refuses the
//! batches tansu could not serve back, parks empty fetches until a produce
//! wakes them, and keeps ListOffsets' end from lagging the records.
//!
//! Known limits of tansu 0.6 that remain (see `tests/README.md`, "What is
//! real here"): no topic auto-creation, no transactions, and a consumer
//! killed without leaving its group stays a member (persisted across
//! restarts), so our consumers take every partition directly instead of
//! joining a group when they see this broker's cluster id
//! ([`rfq_core::kafka::EMBEDDED_CLUSTER_ID`], see
//! [`rfq_core::kafka::PartitionAssignment`]).

pub mod admin;
pub mod front;

use anyhow::Context as _;
use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    time::Duration,
};
use tansu_broker::{broker::Broker, coordinator::group::administrator::Controller};
use tansu_storage::StorageContainer;
use tokio::time::Instant;
use url::Url;

/// Where the broker keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerStorage {
    /// One SQLite file: survives restarts. The default.
    Sqlite(PathBuf),
    /// Memory only: gone with the process (fast; for throw-away runs).
    Memory,
}

/// Settings of the embedded broker.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Storage engine.
    pub storage: BrokerStorage,
}

/// A running embedded broker; [`EmbeddedBroker::stop`] (or dropping it) stops it.
pub struct EmbeddedBroker {
    /// The address it listens on (and advertises).
    addr: SocketAddr,
    /// Tells the broker's thread to stop.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The broker's thread.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Starts the broker and waits until it accepts connections.
    ///
    /// The broker runs on a runtime of its own, on its own threads: the
    /// Kafka clients of the same process make blocking calls (a consumer's
    /// close, a synchronous commit) that wait for the broker, and a broker
    /// sharing their runtime could be starved by them.
    pub async fn start(settings: BrokerSettings) -> anyhow::Result<EmbeddedBroker> {
        Self::start_with(settings, None).await
    }

    /// [`EmbeddedBroker::start`], open to every client, or with
    /// `credentials` to authenticated clients only, each held to its
    /// rights (see [`front::sasl`] and [`front::tenancy`]).
    pub async fn start_with(
        settings: BrokerSettings,
        credentials: Option<std::sync::Arc<dyn front::sasl::Credentials>>,
    ) -> anyhow::Result<EmbeddedBroker> {
        // The front takes the advertised address; tansu a loopback port.
        let front = bind(settings.listen)?;
        let addr = front.local_addr().context("reading the chosen port")?;
        let internal = resolve_port(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let listener = Url::parse(&format!("tcp://{internal}")).context("listener URL")?;
        let advertised = Url::parse(&format!("tcp://{addr}")).context("advertised URL")?;
        let storage = match &settings.storage {
            BrokerStorage::Sqlite(path) => sqlite_url(path)?,
            BrokerStorage::Memory => Url::parse("memory://tansu/").context("memory URL")?,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kafka-broker")
            .enable_all()
            .build()
            .context("starting the broker's runtime")?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready) = tokio::sync::oneshot::channel::<Result<(), String>>();
        let thread = std::thread::Builder::new()
            .name("kafka-broker".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let built = Broker::<Controller<StorageContainer>, StorageContainer>::builder()
                        .node_id(tansu_broker::NODE_ID)
                        .cluster_id(rfq_core::kafka::EMBEDDED_CLUSTER_ID)
                        .incarnation_id(uuid::Uuid::new_v4())
                        .advertised_listener(advertised)
                        .storage(storage)
                        .listener(listener)
                        .silent(true)
                        .build()
                        .await;
                    let mut broker = match built {
                        Ok(broker) => broker,
                        Err(error) => {
                            let _ = ready_tx.send(Err(format!("building the broker: {error:?}")));
                            return;
                        }
                    };
                    let mut ready_tx = Some(ready_tx);
                    let fronted = async {
                        let front = async {
                            wait_until_listening(internal).await?;
                            let listener = tokio::net::TcpListener::from_std(front)
                                .context("serving the front")?;
                            anyhow::Ok((front::Front::new(internal, credentials).await?, listener))
                        };
                        match front.await {
                            Ok((front, listener)) => {
                                if let Some(ready) = ready_tx.take() {
                                    let _ = ready.send(Ok(()));
                                }
                                front.serve(listener).await;
                            }
                            Err(error) => {
                                if let Some(ready) = ready_tx.take() {
                                    let _ = ready.send(Err(format!("{error:#}")));
                                }
                            }
                        }
                    };
                    tokio::select! {
                        served = broker.serve(Instant::now()) => {
                            tracing::error!(?served, "the embedded broker stopped");
                        }
                        () = fronted => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime here ends the broker's remaining tasks.
            })
            .context("spawning the broker thread")?;
        match tokio::time::timeout(Duration::from_secs(30), ready).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(reason))) => {
                anyhow::bail!("embedded broker failed to start on {addr}: {reason}")
            }
            Ok(Err(_)) => anyhow::bail!("embedded broker failed to start on {addr}: it stopped"),
            Err(_) => anyhow::bail!("embedded broker did not serve on {addr} within 30 s"),
        }
        tracing::info!(%addr, %internal, "embedded Kafka broker listening");
        Ok(EmbeddedBroker {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address clients bootstrap from.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving. Every acknowledged write is already in storage.
    pub async fn stop(mut self) {
        self.shut_down().await;
    }

    async fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds the front's listener. A port already taken is refused here
/// (port 0 picks a free one).
fn bind(listen: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(listen).with_context(|| {
        format!("binding the embedded broker to {listen} (is the port in use? --kafka-addr chooses another)")
    })?;
    listener
        .set_nonblocking(true)
        .context("making the listener non-blocking")?;
    Ok(listener)
}

/// A free port for tansu's own listener (tansu binds it itself).
fn resolve_port(listen: SocketAddr) -> anyhow::Result<SocketAddr> {
    bind(listen)?
        .local_addr()
        .context("reading the chosen port")
}

/// The SQLite storage URL of `path`. tansu resolves the URL's path against
/// the working directory unless it stays absolute after one leading `/` is
/// removed, so an absolute path is written with four slashes.
fn sqlite_url(path: &Path) -> anyhow::Result<Url> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating broker data directory {}", parent.display()))?;
    }
    let absolute =
        std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?;
    let text = absolute
        .to_str()
        .with_context(|| format!("broker data path is not UTF-8: {}", absolute.display()))?;
    Url::parse(&format!("sqlite:///{text}")).with_context(|| format!("storage URL for {text}"))
}

/// Waits until tansu accepts connections on `addr` (at most 30 s).
async fn wait_until_listening(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "tansu did not listen on {addr} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_is_resolved_and_a_taken_port_refused() {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let resolved = resolve_port(any).unwrap();
        assert_ne!(resolved.port(), 0);
        let taken = TcpListener::bind(any).unwrap();
        let error = resolve_port(taken.local_addr().unwrap()).unwrap_err();
        assert!(
            format!("{error:#}").contains("is the port in use?"),
            "{error:#}"
        );
    }

    #[test]
    fn sqlite_urls_are_absolute_and_their_directory_exists() {
        let dir = tempfile::tempdir().unwrap();
        let url = sqlite_url(&dir.path().join("nested/broker.db")).unwrap();
        // Four slashes: tansu strips one and must still see an absolute path.
        assert!(url.as_str().starts_with("sqlite:////"), "{url}");
        assert!(url.as_str().ends_with("/nested/broker.db"), "{url}");
        assert!(dir.path().join("nested").is_dir());
        let relative = sqlite_url(Path::new("relative.db")).unwrap();
        assert!(relative.as_str().starts_with("sqlite:////"), "{relative}");
    }

    #[tokio::test]
    async fn starts_on_a_free_port_serves_and_stops() {
        let broker = EmbeddedBroker::start(BrokerSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            storage: BrokerStorage::Memory,
        })
        .await
        .unwrap();
        let addr = broker.addr();
        assert_ne!(addr.port(), 0);
        tokio::net::TcpStream::connect(addr).await.unwrap();
        broker.stop().await;
        // Stopped means the port is free again.
        TcpListener::bind(addr).unwrap();
    }

    #[tokio::test]
    async fn a_second_broker_on_a_taken_port_fails_with_the_reason() {
        let first = EmbeddedBroker::start(BrokerSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            storage: BrokerStorage::Memory,
        })
        .await
        .unwrap();
        let second = EmbeddedBroker::start(BrokerSettings {
            listen: first.addr(),
            storage: BrokerStorage::Memory,
        })
        .await;
        let error = second.err().expect("the port is taken");
        assert!(
            format!("{error:#}").contains("is the port in use?"),
            "{error:#}"
        );
        first.stop().await;
    }
}
