//! The Kafka-protocol front of the embedded broker: what clients connect
//! to. It listens on the advertised address and passes each request
//! through a chain of filters to tansu, which listens on a loopback port of
//! its own, over one connection per client connection.
//!
//! The filters, in order (each may answer, rewrite, pass on, and change
//! the reply, like Kroxylicious's):
//! - [`versions::Versions`]: answers ApiVersions itself (KIP-511 for a
//!   version it does not know);
//! - with credentials (`rfq up`): [`sasl::Sasl`] authenticates each
//!   connection (SCRAM-SHA-256) and [`tenancy::Tenancy`] holds a partner
//!   to its own door, before anything reaches the broker;
//! - [`produce::Produce`]: checks each batch ([`batches`]), transcodes what
//!   tansu cannot serve back, refuses what nobody could, and wakes fetches;
//! - [`fetch::Fetch`]: parks an empty fetch until a produce lands;
//! - [`offsets::Ends`]: ListOffsets never answers an end behind the records.
//!
//! Requests on one connection are handled one at a time, in order, as
//! Kafka does (a parked fetch holds its connection's later requests).

pub mod batches;
pub mod fetch;
pub mod offsets;
pub mod produce;
pub mod sasl;
pub mod tails;
pub mod tenancy;
pub mod versions;
pub mod wire;

use anyhow::Context as _;
use std::{net::SocketAddr, sync::Arc};
use tokio::{
    io::{BufReader, BufWriter},
    net::{TcpListener, TcpStream},
};
use wire::{Reply, Request};

/// One step of the chain: answers `request` itself, or passes it (as it
/// is or changed) to `next`, any number of times, and returns the reply.
#[async_trait::async_trait]
pub trait Filter: Send + Sync {
    /// Handles one request.
    async fn handle(&self, request: Request, next: &mut Next<'_>) -> anyhow::Result<Reply>;
}

/// What filters keep for one client connection (an authorization filter
/// would keep the authenticated partner here).
#[derive(Debug, Default)]
pub struct Session {
    /// The connection's last fetch answered empty ([`fetch::Fetch`]).
    pub empty_fetch: Option<fetch::EmptyFetch>,
    /// Who the connection authenticated as (none yet, or an open front).
    pub principal: Option<tenancy::access::Principal>,
    /// Where its SASL exchange is ([`sasl::Sasl`]).
    pub sasl: sasl::Exchange,
}

/// The rest of the chain, then the broker.
pub struct Next<'a> {
    filters: &'a [Arc<dyn Filter>],
    upstream: &'a mut Upstream,
    session: &'a mut Session,
}

impl Next<'_> {
    /// Passes `request` down the chain and returns its reply.
    pub async fn run(&mut self, request: Request) -> anyhow::Result<Reply> {
        match self.filters.split_first() {
            Some((first, rest)) => {
                let mut next = Next {
                    filters: rest,
                    upstream: &mut *self.upstream,
                    session: &mut *self.session,
                };
                first.handle(request, &mut next).await
            }
            None => {
                tracing::trace!(key = ?request.key, "to the broker");
                self.upstream.call(&request).await
            }
        }
    }

    /// The client connection's session.
    pub fn session(&mut self) -> &mut Session {
        self.session
    }
}

/// The connection to the broker behind the front, for one client connection.
pub struct Upstream {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: BufWriter<tokio::net::tcp::OwnedWriteHalf>,
}

impl Upstream {
    async fn connect(addr: SocketAddr) -> anyhow::Result<Upstream> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to the broker at {addr}"))?;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        Ok(Upstream {
            reader: BufReader::new(reader),
            writer: BufWriter::new(writer),
        })
    }

    /// Sends `request` to the broker and reads its reply.
    async fn call(&mut self, request: &Request) -> anyhow::Result<Reply> {
        wire::write_frame(&mut self.writer, &request.frame).await?;
        let frame = wire::read_frame(&mut self.reader).await?.with_context(|| {
            format!(
                "the broker closed the connection on a {:?} v{} request",
                request.key,
                request.version()
            )
        })?;
        anyhow::ensure!(
            frame.len() >= 4 && frame[..4] == request.header.correlation_id.to_be_bytes(),
            "the broker answered another request than the {:?} sent",
            request.key
        );
        Ok(Reply {
            frame,
            to_client: true,
        })
    }
}

/// The front, serving until its task is dropped.
pub struct Front {
    chain: Arc<[Arc<dyn Filter>]>,
    upstream: SocketAddr,
}

impl Front {
    /// A front for the broker at `upstream`: open to every client, or,
    /// given `credentials`, to authenticated ones only, each held to its
    /// rights ([`sasl`], [`tenancy`]). Asks the broker for its versions first.
    pub async fn new(
        upstream: SocketAddr,
        credentials: Option<Arc<dyn sasl::Credentials>>,
    ) -> anyhow::Result<Front> {
        let mut versions = versions::Versions::new(&versions::Versions::ask(upstream).await?);
        if credentials.is_some() {
            versions.offer_sasl();
        }
        let tails = Arc::new(tails::Tails::default());
        let mut chain: Vec<Arc<dyn Filter>> = vec![Arc::new(versions)];
        if let Some(credentials) = credentials {
            chain.push(Arc::new(sasl::Sasl::new(credentials)));
            chain.push(Arc::new(tenancy::Tenancy));
        }
        chain.push(Arc::new(produce::Produce::new(tails.clone())));
        chain.push(Arc::new(fetch::Fetch::new(tails.clone())));
        chain.push(Arc::new(offsets::Ends::new(tails)));
        Ok(Front {
            chain: chain.into(),
            upstream,
        })
    }

    /// Accepts clients on `listener` and serves each on a task of its own.
    pub async fn serve(self, listener: TcpListener) {
        loop {
            let (client, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accepting a Kafka client");
                    continue;
                }
            };
            let chain = self.chain.clone();
            let upstream = self.upstream;
            tokio::spawn(async move {
                if let Err(error) = serve_client(client, upstream, &chain).await {
                    tracing::debug!(%peer, error = %format!("{error:#}"), "Kafka client connection ended");
                }
            });
        }
    }
}

/// Serves one client connection until it closes.
async fn serve_client(
    client: TcpStream,
    upstream: SocketAddr,
    chain: &[Arc<dyn Filter>],
) -> anyhow::Result<()> {
    client.set_nodelay(true)?;
    let mut upstream = Upstream::connect(upstream).await?;
    let (reader, writer) = client.into_split();
    let mut reader = BufReader::new(reader);
    let mut writer = BufWriter::new(writer);
    let mut session = Session::default();
    while let Some(frame) = wire::read_frame(&mut reader).await? {
        let request = Request::parse(frame)?;
        tracing::trace!(key = ?request.key, version = request.version(), "request");
        let mut next = Next {
            filters: chain,
            upstream: &mut upstream,
            session: &mut session,
        };
        let reply = next.run(request).await?;
        if reply.to_client {
            wire::write_frame(&mut writer, &reply.frame).await?;
        }
    }
    Ok(())
}
