//! `rfq up`: broker, producer, adapters, aggregator and read API in one
//! process, all talking Kafka through rdkafka to the embedded broker. Its
//! settings are in [`settings`]; the one place each component, and each
//! simulated fleet, is built is [`Pipeline::start`].

mod doors;
mod settings;

pub use settings::{
    EmbeddedBrokerSettings, IntakeSettings, OPERATOR_PROPERTIES, OPERATOR_USER, UpSettings,
};

use anyhow::Context as _;
use axum::Router;
use rfq_adapters::{AdapterSettings, fleet::Fleet};
use rfq_api::{ApiSettings, live::LiveEvents};
use rfq_broker::EmbeddedBroker;
use rfq_core::{
    ProviderId,
    auth::partners::CachedPartners,
    kafka::{KafkaSettings, ensure_topics},
};
use rfq_producer::Intake;
use rfq_registry::{KafkaLog, Registry};
use rfq_store::Store;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The running pipeline.
pub struct Pipeline {
    /// The embedded broker, unless the pipeline runs against an outside Kafka.
    broker: Option<EmbeddedBroker>,
    /// How the components reach Kafka.
    kafka: KafkaSettings,
    /// Where the HTTP API listens.
    http_addr: SocketAddr,
    /// The schema registry the components use (the embedded one unless
    /// another was given).
    registry_url: String,
    /// The components' tasks, each named.
    tasks: JoinSet<(&'static str, anyhow::Result<()>)>,
    /// Stops every component.
    shutdown: CancellationToken,
    /// The producer's provider registry (who is registered where).
    providers: rfq_producer::Registry,
    /// `rfq up`'s demo API key, when no key was configured.
    demo_key: Option<rfq_core::auth::ApiKey>,
    /// The embedded registry's operator credentials (user, password), which
    /// the components use; none with another registry.
    registry_operator: Option<(String, String)>,
}

impl Pipeline {
    /// Starts everything and returns once the HTTP API serves and every
    /// simulated unicorn is registered (so the first RFQ reaches the whole fleet).
    pub async fn start(mut settings: UpSettings) -> anyhow::Result<Pipeline> {
        // The store first: the embedded broker authenticates partners
        // from it.
        std::fs::create_dir_all(&settings.broker.data_dir)
            .with_context(|| format!("creating {}", settings.broker.data_dir.display()))?;
        let store_settings = settings
            .intake
            .store
            .clone()
            .in_data_dir(&settings.broker.data_dir);
        let store: Arc<dyn Store> = store_settings
            .open()
            .await
            .with_context(|| format!("opening the result store ({})", store_settings.describe()))?;
        let broker = match &settings.intake.pipeline.kafka.brokers {
            Some(_) => None,
            None => Some(
                settings
                    .broker
                    .start_for(
                        &mut settings.intake.pipeline.kafka,
                        Arc::new(rfq_store::StorePartners(store.clone())),
                    )
                    .await?,
            ),
        };
        let kafka = settings.intake.pipeline.kafka.clone();
        ensure_topics(&kafka, &settings.intake.pipeline.topics).await?;
        let shutdown = CancellationToken::new();
        // No key configured: the demo customer's, kept in the data directory.
        let demo_key = match settings.intake.producer.auth.is_empty() {
            true => Some(crate::demo_key::demo_key(&settings.broker.data_dir)?),
            false => None,
        };
        if let Some(key) = &demo_key {
            let pair = format!("{}:{}", crate::demo_key::DEMO_CUSTOMER, key.expose());
            settings.intake.producer.auth.api_keys.push(pair);
            // And the demo operator's (scorecards): kept, not printed.
            let operator = crate::demo_key::demo_operator_key(&settings.broker.data_dir)?;
            let demo = crate::demo_key::DEMO_OPERATOR;
            let pair = format!("operator:{demo}:{}", operator.expose());
            settings.intake.producer.auth.api_keys.push(pair);
        }
        let mut pipeline = Pipeline {
            demo_key,
            broker,
            kafka,
            http_addr: settings.intake.http_addr,
            registry_url: settings.intake.pipeline.registry.url().to_owned(),
            tasks: JoinSet::new(),
            shutdown: shutdown.clone(),
            providers: rfq_producer::Registry::default(),
            registry_operator: None,
        };
        // Its own registry, unless the settings name another one; our
        // components reach it as its operator.
        let registry = match settings.intake.pipeline.registry.registry_url {
            Some(_) => Ok(()),
            None => pipeline.spawn_registry(&settings, store.clone()).await,
        };
        if registry.is_ok() && settings.intake.pipeline.registry.registry_url.is_none() {
            let ours = &mut settings.intake.pipeline.registry;
            ours.registry_url = Some(pipeline.schema_registry_url());
            if let Some((user, password)) = &pipeline.registry_operator {
                ours.registry_user = Some(user.clone());
                ours.registry_password = Some(password.clone());
            }
        }
        let started = match registry {
            Ok(()) => pipeline.spawn_components(&settings, store).await,
            Err(error) => Err(error),
        };
        match started {
            Ok(http_addr) => {
                pipeline.http_addr = http_addr;
                tracing::info!(%http_addr, kafka = %pipeline.kafka.brokers(), "pipeline up");
                Ok(pipeline)
            }
            Err(error) => {
                // Stop what did start before reporting the failure.
                let _ = pipeline.stop().await;
                Err(error)
            }
        }
    }

    /// Serves the schema registry, its state replayed from its topic, to
    /// the operator (a password from the settings or made now) and the
    /// partners of `store`.
    async fn spawn_registry(
        &mut self,
        settings: &UpSettings,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<()> {
        let password = match &settings.registry.operator_password {
            Some(password) => rfq_core::auth::ApiKey::parse(password)
                .context("--registry-operator-password (RFQ_REGISTRY_OPERATOR_PASSWORD)")?,
            None => rfq_core::auth::ApiKey::generate(),
        };
        let partners = CachedPartners::new(Arc::new(rfq_store::StorePartners(store)));
        let access = rfq_registry::Access::new(&password, Arc::new(partners));
        self.registry_operator = Some((
            rfq_registry::OPERATOR.to_owned(),
            password.expose().to_owned(),
        ));
        let topics = &settings.intake.pipeline.topics;
        let log = KafkaLog::open(
            &self.kafka,
            &settings.registry.schemas_topic,
            topics.replication_factor,
        )
        .await?;
        let registry = Registry::open(Box::new(log))
            .await
            .context("replaying the schema registry")?;
        let addr = settings.registry.schema_registry_addr;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the schema registry to {addr}"))?;
        self.registry_url = format!("http://{}", listener.local_addr()?);
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            let router = rfq_registry::guarded(registry, access);
            let result = rfq_core::http::serve(listener, router, shutdown).await;
            ("schema registry", result.map_err(anyhow::Error::from))
        });
        Ok(())
    }

    async fn spawn_components(
        &mut self,
        settings: &UpSettings,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<SocketAddr> {
        let codec = crate::cli::open_codec(&settings.intake.pipeline).await?;
        let pipeline = &settings.intake.pipeline;
        let shutdown = self.shutdown.clone();
        let tasks = &mut self.tasks;
        tasks.spawn({
            let (pipeline, aggregator) = (pipeline.clone(), settings.aggregator.clone());
            let (store, codec, shutdown) = (store.clone(), codec.clone(), shutdown.clone());
            async move {
                let result =
                    rfq_aggregator::run(pipeline, aggregator, store, codec, shutdown).await;
                ("aggregator", result)
            }
        });
        let mut unicorns: Vec<ProviderId> = Vec::new();
        // `rfq up`'s own adapters: the fleet's hosts a door for every
        // partner in the store too (`rfq partners add` while it runs).
        let (adapters, follow) = match &settings.adapters {
            Some(adapters) => (adapters.clone(), false),
            None => (beside_the_fleet(&settings.adapter), true),
        };
        for (index, adapter) in adapters.iter().enumerate() {
            // Built once, here: its unicorns are waited for below. An HTTP
            // partners' adapter registers whatever they list.
            let fleet = adapter
                .partners
                .partners
                .is_empty()
                .then(|| Fleet::generate(&adapter.name, &adapter.fleet, &pipeline.vicinity()));
            // `rfq up --door`: the fleet stays, the doors join it.
            let hosted = fleet.iter().flat_map(Fleet::unicorns);
            unicorns.extend(hosted.map(|unicorn| unicorn.id.clone()));
            let fixed = adapter.doors.iter().cloned().collect();
            let doors = match follow && index == 0 {
                true => doors::follow_partners(store.clone(), fixed, shutdown.clone()).await,
                false => tokio::sync::watch::channel(fixed).1,
            };
            let (pipeline, adapter) = (pipeline.clone(), adapter.clone());
            let (codec, shutdown) = (codec.clone(), shutdown.clone());
            tasks.spawn(async move {
                let result = rfq_adapters::run_hosting_doors(
                    pipeline, adapter, fleet, codec, doors, shutdown,
                )
                .await;
                ("adapter", result)
            });
        }

        let explainer = rfq_explain::Explainer::new(
            self.kafka.clone(),
            pipeline.topics.clone(),
            codec.clone(),
            store.clone(),
        );
        let producer = Intake::start(
            pipeline.clone(),
            settings.intake.producer.clone(),
            store.clone(),
            codec,
            shutdown.clone(),
        )
        .await?;
        tasks.spawn({
            let producer = producer.clone();
            async move { ("producer", producer.stopped().await) }
        });
        self.providers = producer.registry().clone();
        producer
            .registry()
            .wait_for(&unicorns, Duration::from_secs(60))
            .await?;

        let addr = settings.intake.http_addr;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the HTTP API to {addr}"))?;
        let http_addr = listener.local_addr()?;
        let api = ApiSettings {
            links: settings.intake.producer.links.clone(),
            live: settings.live.clone(),
        };
        let live = LiveEvents::new(api.live.clone(), shutdown.clone());
        let follower = live.follow(&self.kafka, &pipeline.topics).await?;
        tasks.spawn(async move { ("live events", follower.await) });
        // One address serves the producer, the read API and the page: its
        // document describes them all.
        let document = rfq_core::openapi::document([producer.openapi(), rfq_api::openapi::part()]);
        let router = Router::new()
            .merge(producer.router())
            .merge(rfq_api::router(
                store,
                api,
                live,
                producer.authenticator().clone(),
                explainer,
            ))
            .merge(rfq_core::metrics::router())
            .merge(rfq_core::openapi::router(document));
        tasks.spawn({
            let shutdown = shutdown.clone();
            async move {
                let result = rfq_core::http::serve(listener, router, shutdown).await;
                ("http", result.map_err(anyhow::Error::from))
            }
        });
        Ok(http_addr)
    }

    /// Where the HTTP API listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The URL of the schema registry the components use (Confluent's
    /// REST API): the embedded one unless another was given.
    pub fn schema_registry_url(&self) -> String {
        self.registry_url.clone()
    }

    /// The embedded registry's operator credentials (user, password), to
    /// reach it as `rfq up`'s own components do; none with another
    /// registry.
    pub fn registry_operator(&self) -> Option<(&str, &str)> {
        self.registry_operator
            .as_ref()
            .map(|(user, password)| (user.as_str(), password.as_str()))
    }

    /// The Kafka bootstrap servers the components use (the embedded
    /// broker's address unless an outside Kafka was given).
    pub fn brokers(&self) -> &str {
        self.kafka.brokers()
    }

    /// The Kafka settings the components use.
    pub fn kafka(&self) -> &KafkaSettings {
        &self.kafka
    }

    /// The demo API key (customer `demo`), when none was configured.
    pub fn demo_key(&self) -> Option<&rfq_core::auth::ApiKey> {
        self.demo_key.as_ref()
    }

    /// The producer's provider registry: waiting on it tells when
    /// providers registered from outside (partners) will be addressed.
    pub fn providers(&self) -> &rfq_producer::Registry {
        &self.providers
    }

    /// The token that stops the pipeline.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until the shutdown token is cancelled (or a component fails),
    /// then drains every component and stops the broker.
    ///
    /// Components run until shutdown: one that ends before shutdown was
    /// requested failed, even if it ended without an error, and the
    /// pipeline then stops with an error naming it (so `rfq up` exits
    /// non-zero with the reason).
    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        let mut first_error = None;
        while let Some(joined) = self.tasks.join_next().await {
            // Asked before the pipeline's own cancel below, which only
            // follows a component's end.
            let requested = self.shutdown.is_cancelled();
            let (component, result) = joined.unwrap_or_else(|e| ("task", Err(e.into())));
            let result = match result {
                Ok(()) if !requested => Err(anyhow::anyhow!(
                    "stopped although no shutdown was requested"
                )),
                other => other,
            };
            if let Err(error) = result {
                tracing::error!(
                    component,
                    error = format!("{error:#}"),
                    "component failed; stopping"
                );
                first_error.get_or_insert(error.context(format!("component {component} failed")));
            }
            // One component ending (failed or not) stops the others.
            self.shutdown.cancel();
        }
        if let Some(broker) = self.broker {
            broker.stop().await;
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops the pipeline and waits until it is down.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.run_until_stopped().await
    }
}

/// `rfq up`'s adapters from its one `adapter` settings: the simulated
/// fleet, and with `--partner`, beside it, an adapter `NAME-partners`
/// hosting those HTTP partners (`rfq adapter --partner` hosts them instead).
/// The fleet's adapter hosts the doors (`--door`) too.
fn beside_the_fleet(adapter: &AdapterSettings) -> Vec<AdapterSettings> {
    if adapter.partners.partners.is_empty() {
        return vec![adapter.clone()];
    }
    let mut fleet = adapter.clone();
    fleet.partners.partners.clear();
    let mut partners = adapter.clone();
    partners.name = format!("{}-partners", adapter.name);
    // The doors are hosted once, beside the fleet.
    partners.doors.clear();
    vec![fleet, partners]
}
