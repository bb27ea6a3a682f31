//! The pipeline as separate `rfq` processes, each with its own log file,
//! and the faults a machine inflicts on them: `kill -9`, `SIGSTOP` /
//! `SIGCONT`, a graceful `SIGTERM`, a restart as a supervisor would do.

mod binary;
mod signals;

pub use binary::rfq_binary;

use std::{
    collections::HashMap,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

/// Waits until something accepts connections on `port` (a process we
/// started, listening), for at most a minute.
fn wait_for_port(port: u16) {
    let give_up = std::time::Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < give_up,
            "nothing listens on port {port} after a minute"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How a process is started again after a fault.
#[derive(Clone)]
struct Recipe {
    /// Arguments after `rfq`.
    args: Vec<String>,
    /// Log file.
    log: PathBuf,
}

/// How a scenario is deployed, besides its broker.
#[derive(Debug, Default, Clone)]
pub struct Deployment {
    /// Replication factor and `min.insync.replicas` of the topics, as
    /// `rfq migrate --replication-factor --min-insync-replicas` creates
    /// them on a cluster (and every process that creates a missing topic,
    /// the schema registry's first); `None`: the defaults (1 and 1).
    pub replication: Option<(u32, u32)>,
    /// ScyllaDB contact points (`SCYLLA_NODES`): the ScyllaDB store, in a
    /// keyspace of the scenario's own; `None`: the embedded store.
    pub scylla: Option<String>,
    /// More flags of the producer.
    pub producer: Vec<String>,
}

/// The running processes of one scenario, by name.
pub struct Cluster {
    /// Scratch directory: store, broker data, logs.
    pub dir: PathBuf,
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// Whether the broker is one we started (embedded tansu) or an outside Kafka.
    pub embedded_broker: bool,
    /// The quotes topic (its name is unique per scenario on an outside Kafka).
    pub quotes_topic: String,
    /// The providers topic (named as the quotes topic is).
    pub providers_topic: String,
    /// The change notices' topic (named as the quotes topic is).
    pub events_topic: String,
    /// Prefix of the consumer groups (`RFQ_GROUP_PREFIX`).
    pub group_prefix: String,
    /// The schema registry every process uses (an `rfq registry` process).
    pub registry_url: String,
    /// Environment of every process: topic names and group prefix of their own
    /// on an outside Kafka, which several scenarios share.
    env: Vec<(String, String)>,
    /// Path of the shared result store (when it is the embedded one).
    pub store: PathBuf,
    /// The ScyllaDB store's nodes and keyspace, when it is that one.
    pub scylla: Option<(Vec<String>, String)>,
    binary: PathBuf,
    children: HashMap<String, Child>,
    recipes: HashMap<String, Recipe>,
}

impl Cluster {
    /// A cluster in `dir`, against the outside Kafka `external` if given
    /// (with topics and groups of its own, created by `rfq migrate` as a
    /// deployment does), else an embedded broker process started here.
    pub fn new(dir: &Path, external: Option<&str>) -> Cluster {
        Cluster::deploy(dir, external, Deployment::default())
    }

    /// [`Cluster::new`], deployed as `deployment` says.
    pub fn deploy(dir: &Path, external: Option<&str>, deployment: Deployment) -> Cluster {
        let mut env = Vec::new();
        let run = uuid::Uuid::new_v4().simple().to_string();
        let mut prefix = String::new();
        if external.is_some() {
            prefix = format!("chaos{}.", &run[..10]);
            for (var, topic) in [
                ("RFQ_REQUESTS_TOPIC", "rfq.requests"),
                ("RFQ_QUOTES_TOPIC", "rfq.quotes"),
                ("RFQ_PROVIDERS_TOPIC", "rfq.providers"),
                ("RFQ_EVENTS_TOPIC", "rfq.events"),
                ("RFQ_DEAD_LETTER_TOPIC", "rfq.dead-letter"),
                ("RFQ_PROGRESS_TOPIC", "rfq.progress"),
                ("RFQ_SCHEMAS_TOPIC", "rfq.schemas"),
            ] {
                env.push((var.to_owned(), format!("{prefix}{topic}")));
            }
            env.push(("RFQ_GROUP_PREFIX".to_owned(), prefix.clone()));
        }
        let mut migrate_args = vec!["migrate".to_owned()];
        if let Some((factor, min_insync)) = deployment.replication {
            env.push(("RFQ_REPLICATION_FACTOR".to_owned(), factor.to_string()));
            env.push(("RFQ_MIN_INSYNC_REPLICAS".to_owned(), min_insync.to_string()));
            migrate_args.extend([
                "--replication-factor".to_owned(),
                factor.to_string(),
                "--min-insync-replicas".to_owned(),
                min_insync.to_string(),
            ]);
        }
        let scylla = deployment.scylla.map(|nodes| {
            let keyspace = format!("chaos_{}", &run[..10]);
            env.push(("SCYLLA_NODES".to_owned(), nodes.clone()));
            env.push(("RFQ_SCYLLA_KEYSPACE".to_owned(), keyspace.clone()));
            // One Cassandra node in the tests.
            env.push(("RFQ_SCYLLA_REPLICATION".to_owned(), "1".to_owned()));
            let nodes = nodes.split(',').map(str::to_owned).collect();
            (nodes, keyspace)
        });
        let registry_port = free_port();
        let registry_url = format!("http://127.0.0.1:{registry_port}");
        env.push(("RFQ_SCHEMA_REGISTRY_URL".to_owned(), registry_url.clone()));
        // The customer the load submits as, without the per-customer
        // limits (the load is one customer at many times a person's rate).
        let key = crate::helpers::api_key("test-customer");
        env.push(("RFQ_API_KEYS".to_owned(), format!("test-customer:{key}")));
        env.push(("RFQ_CUSTOMER_RATE".to_owned(), "1000000".to_owned()));
        env.push(("RFQ_CUSTOMER_BURST".to_owned(), "1000000".to_owned()));
        env.push((
            "RFQ_CUSTOMER_MAX_OPEN_RFQS".to_owned(),
            "1000000".to_owned(),
        ));
        let mut cluster = Cluster {
            registry_url,
            dir: dir.to_path_buf(),
            brokers: external
                .map(str::to_owned)
                .unwrap_or_else(|| format!("127.0.0.1:{}", free_port())),
            embedded_broker: external.is_none(),
            quotes_topic: format!("{prefix}rfq.quotes"),
            providers_topic: format!("{prefix}rfq.providers"),
            events_topic: format!("{prefix}rfq.events"),
            group_prefix: prefix,
            env,
            store: dir.join("results.db"),
            scylla,
            binary: rfq_binary(),
            children: HashMap::new(),
            recipes: HashMap::new(),
        };
        if cluster.embedded_broker {
            let args = vec![
                "broker".into(),
                "--kafka-addr".into(),
                cluster.brokers.clone(),
                "--data-dir".into(),
                dir.join("broker").display().to_string(),
            ];
            cluster.spawn("broker", args);
        }
        let mut args = vec!["registry".into()];
        args.extend(cluster.kafka_args());
        args.extend([
            "--schema-registry-addr".into(),
            format!("127.0.0.1:{registry_port}"),
        ]);
        cluster.spawn("registry", args);
        wait_for_port(registry_port);
        // Topics and schemas, as a deployment starts (the registry first:
        // migrate registers the schemas there).
        if !cluster.embedded_broker {
            let migrated = Command::new(&cluster.binary)
                .args(&migrate_args)
                .args(["--brokers", &cluster.brokers])
                .env("RFQ_STORE_PATH", &cluster.store)
                .envs(cluster.env.iter().map(|(k, v)| (k, v)))
                .status()
                .unwrap();
            assert!(migrated.success(), "rfq migrate failed");
        }
        cluster
    }

    /// The result store the processes share, as they open it.
    pub fn store_settings(&self) -> rfq_store::StoreSettings {
        match &self.scylla {
            Some((nodes, keyspace)) => rfq_store::StoreSettings {
                store_path: None,
                scylla: rfq_store::ScyllaSettings::new(nodes.clone(), keyspace),
            },
            None => rfq_store::StoreSettings::embedded(&self.store),
        }
    }

    /// Drops the ScyllaDB store's keyspace, if the store is that one.
    pub async fn drop_store(&self) {
        if let Some((nodes, keyspace)) = &self.scylla {
            let session = rfq_store::ScyllaSettings::new(nodes.clone(), keyspace)
                .connect()
                .await
                .unwrap();
            session
                .query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), ())
                .await
                .unwrap();
        }
    }

    /// The lines process `name` logged that contain `what`, with their
    /// timestamps, in order (every start of the process appends to one log).
    pub fn logged(&self, name: &str, what: &str) -> Vec<(chrono::DateTime<chrono::Utc>, String)> {
        let log = std::fs::read_to_string(&self.recipes[name].log).unwrap_or_default();
        log.lines()
            .filter(|line| line.contains(what))
            .filter_map(|line| {
                let (stamp, rest) = line.split_once(' ')?;
                let at = chrono::DateTime::parse_from_rfc3339(stamp).ok()?.to_utc();
                Some((at, rest.trim().to_owned()))
            })
            .collect()
    }

    /// Common arguments of a component that talks to Kafka.
    pub fn kafka_args(&self) -> Vec<String> {
        vec!["--brokers".into(), self.brokers.clone()]
    }

    /// Starts a process `name` running `rfq <args>`.
    pub fn spawn(&mut self, name: &str, args: Vec<String>) {
        let log = self.dir.join(format!("{name}.log"));
        self.recipes.insert(
            name.to_owned(),
            Recipe {
                args: args.clone(),
                log: log.clone(),
            },
        );
        self.start(name);
    }

    fn start(&mut self, name: &str) {
        let recipe = self.recipes[name].clone();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&recipe.log)
            .unwrap();
        let child = Command::new(&self.binary)
            .args(&recipe.args)
            .env("RFQ_STORE_PATH", &self.store)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        self.children.insert(name.to_owned(), child);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, child) in self.children.iter_mut() {
            // A frozen process must be resumed to die cleanly from SIGKILL's
            // point of view; kill works on stopped processes anyway.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `url` until it answers 2xx, or panics after `within`.
pub async fn wait_http(client: &reqwest::Client, url: &str, within: Duration) {
    let give_up = tokio::time::Instant::now() + within;
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status().is_success()
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "{url} not up within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sum of a Prometheus counter's samples (all label sets) in a scrape.
pub fn counter_sum(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .filter(|line| {
            line.starts_with(name)
                && matches!(line.as_bytes().get(name.len()), Some(b'{') | Some(b' '))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
