//! The `rfq` command line as a user types it: every subcommand parses with
//! its declared defaults, and the layers (defaults < settings file <
//! environment < flags) reach the settings each role receives. Parsing
//! only: nothing is started.

use rfq::cli::{Cli, Command};
use rfq_core::settings::parse_layered;
use std::io::Write as _;

fn parse(argv: &[&str]) -> Result<Cli, clap::Error> {
    parse_layered::<Cli>(argv.iter().copied())
}

fn up(argv: &[&str]) -> rfq::UpSettings {
    match parse(argv).unwrap().command {
        Command::Up(settings) => *settings,
        other => panic!("parsed {other:?}"),
    }
}

fn settings_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

/// The repository's example file, as the README shows it.
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../rfq.example.yaml");

#[test]
fn every_subcommand_parses_with_its_defaults() {
    for sub in [
        "up",
        "broker",
        "producer",
        "adapter",
        "aggregator",
        "api",
        "migrate",
    ] {
        parse(&["rfq", sub]).unwrap_or_else(|e| panic!("rfq {sub}: {e}"));
    }
    let settings = up(&["rfq", "up"]);
    assert_eq!(
        settings.intake.pipeline.kafka.brokers, None,
        "rfq up starts its own broker"
    );
    assert_eq!(
        settings.intake.producer.limits.default_deadline_seconds,
        300
    );
    assert_eq!(settings.intake.producer.limits.max_deadline_seconds, 3600);
    assert_eq!(settings.adapter.name, "berlin");
    assert_eq!(settings.aggregator.group_id, "rfq-aggregator");
    assert!(settings.adapters.is_none());
    assert!(settings.adapter.partners.partners.is_empty());
}

#[test]
fn http_partners_are_named_urls_from_flags_env_or_the_file() {
    let settings = up(&[
        "rfq",
        "up",
        "--partner",
        "acme=http://127.0.0.1:9000/api",
        "--partner",
        "zeta=https://quotes.zeta.example/",
        "--partner-breaker-failures",
        "3",
    ]);
    let partners = &settings.adapter.partners;
    let names: Vec<&str> = partners.partners.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["acme", "zeta"]);
    assert_eq!(
        partners.partners[0].url.as_str(),
        "http://127.0.0.1:9000/api/"
    );
    assert_eq!(partners.breaker_failures, 3);
    for bad in ["acme", "Acme=http://x/", "acme=ftp://x/"] {
        let error = parse(&["rfq", "adapter", "--partner", bad]).unwrap_err();
        assert!(error.to_string().contains("--partner"), "{bad}: {error}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rfq.yaml");
    std::fs::write(
        &file,
        "adapter:\n  partner:\n    - acme=http://127.0.0.1:9000/\n    - zeta=http://127.0.0.1:9001/\n",
    )
    .unwrap();
    let settings = parse(&["rfq", "--config", file.to_str().unwrap(), "adapter"]).unwrap();
    let Command::Adapter(args) = settings.command else {
        panic!("rfq adapter")
    };
    assert_eq!(args.adapter.partners.partners.len(), 2);
}

#[test]
fn doors_are_partner_names_from_flags_or_the_file() {
    let settings = up(&["rfq", "up", "--door", "acme", "--door", "bolt"]);
    let names: Vec<&str> = settings.adapter.doors.iter().map(|p| p.as_str()).collect();
    assert_eq!(names, ["acme", "bolt"]);
    for bad in ["Acme", "acme-x", "a"] {
        let error = parse(&["rfq", "adapter", "--door", bad]).unwrap_err();
        assert!(error.to_string().contains("--door"), "{bad}: {error}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rfq.yaml");
    std::fs::write(&file, "adapter:\n  doors:\n    - acme\n    - bolt\n").unwrap();
    let settings = parse(&["rfq", "--config", file.to_str().unwrap(), "adapter"]).unwrap();
    let Command::Adapter(args) = settings.command else {
        panic!("rfq adapter")
    };
    let names: Vec<&str> = args.adapter.doors.iter().map(|p| p.as_str()).collect();
    assert_eq!(names, ["acme", "bolt"]);
}

#[test]
fn rfq_up_takes_every_role_setting() {
    let settings = up(&[
        "rfq",
        "up",
        "--kafka-option",
        "linger.ms=20",
        "--region-precision",
        "6",
        "--vicinity-radius-m",
        "2500",
        "--default-deadline-seconds",
        "30",
        "--aggregator-batch",
        "50",
        "--fleet-per-region",
        "2",
        "--public-url",
        "https://rides.example",
        "--brokers",
        "kafka:9092",
    ]);
    assert_eq!(
        settings.intake.pipeline.kafka.options,
        [("linger.ms".to_owned(), "20".to_owned())]
    );
    assert_eq!(settings.intake.pipeline.region_precision.chars(), 6);
    assert_eq!(settings.intake.pipeline.vicinity_radius.metres(), 2_500);
    assert_eq!(settings.intake.producer.limits.default_deadline_seconds, 30);
    assert_eq!(settings.aggregator.max_batch, 50);
    assert_eq!(settings.adapter.fleet.per_region, 2);
    assert_eq!(
        settings.intake.producer.links.public_url.as_deref(),
        Some("https://rides.example")
    );
    assert_eq!(settings.intake.pipeline.kafka.brokers(), "kafka:9092");
}

#[test]
fn the_example_settings_file_is_read_by_the_real_command_line() {
    // Values that differ from the defaults: the file's sections are read.
    let settings = up(&["rfq", "--config", EXAMPLE, "up"]);
    assert_eq!(settings.intake.pipeline.kafka.options.len(), 2);
    assert_eq!(settings.adapter.fleet.silent_per_region, 1);
    assert_eq!(
        settings.intake.producer.max_open_rfqs, 100_000,
        "the producer section is not up's"
    );
    match parse(&["rfq", "--config", EXAMPLE, "producer"])
        .unwrap()
        .command
    {
        Command::Producer(args) => assert_eq!(args.producer.max_open_rfqs, 50_000),
        other => panic!("parsed {other:?}"),
    }
    match parse(&["rfq", "--config", EXAMPLE, "migrate"])
        .unwrap()
        .command
    {
        Command::Migrate(args) => assert_eq!(args.schema_compatibility, "BACKWARD"),
        other => panic!("parsed {other:?}"),
    }
    let refused = parse(&["rfq", "migrate", "--schema-compatibility", "LOOSE"]).unwrap_err();
    assert!(refused.to_string().contains("FULL_TRANSITIVE"), "{refused}");
}

#[test]
fn flags_beat_the_file_which_beats_the_defaults() {
    let file = settings_file(
        "default-deadline-seconds: 60\nmax-deadline-seconds: 120\nup:\n  fleet-per-region: 7\n",
    );
    let path = file.path().to_str().unwrap();
    let settings = up(&[
        "rfq",
        "--config",
        path,
        "up",
        "--max-deadline-seconds",
        "90",
    ]);
    assert_eq!(settings.intake.producer.limits.default_deadline_seconds, 60);
    assert_eq!(settings.intake.producer.limits.max_deadline_seconds, 90);
    assert_eq!(settings.adapter.fleet.per_region, 7);
    // The file's top-level keys reach the producer too.
    match parse(&["rfq", "producer", "--config", path])
        .unwrap()
        .command
    {
        Command::Producer(args) => assert_eq!(args.producer.limits.default_deadline_seconds, 60),
        other => panic!("parsed {other:?}"),
    }
}

#[test]
fn the_registry_is_reached_with_basic_auth_and_tls_settings_from_file_or_flags() {
    let file = settings_file(
        "schema-registry-url: https://registry.example:8081\nschema-registry-user: pipeline\nschema-registry-password: s3cret\nschema-registry-ca: /etc/rfq/registry-ca.pem\n",
    );
    let path = file.path().to_str().unwrap();
    let argv = [
        "rfq",
        "--config",
        path,
        "aggregator",
        "--schema-registry-identity",
        "/etc/rfq/client.pem",
    ];
    let Command::Aggregator(args) = parse(&argv).unwrap().command else {
        panic!("not the aggregator")
    };
    let registry = args.pipeline.registry;
    assert_eq!(registry.url(), "https://registry.example:8081");
    assert_eq!(registry.registry_user.as_deref(), Some("pipeline"));
    assert_eq!(registry.registry_password.as_deref(), Some("s3cret"));
    assert_eq!(
        registry.registry_ca.as_deref(),
        Some(std::path::Path::new("/etc/rfq/registry-ca.pem"))
    );
    assert_eq!(
        registry.registry_identity.as_deref(),
        Some(std::path::Path::new("/etc/rfq/client.pem"))
    );
    let help = parse(&["rfq", "--config", path, "adapter", "--help"])
        .unwrap_err()
        .to_string();
    assert!(help.contains("--schema-registry-ca"), "{help}");
    assert!(!help.contains("s3cret"), "{help}");
}

#[test]
fn a_secret_from_the_file_is_not_shown_by_help() {
    let file = settings_file("scylla-password: s3cret\nbrokers: kafka:9092\n");
    let path = file.path().to_str().unwrap();
    let help = parse(&["rfq", "--config", path, "api", "--help"])
        .unwrap_err()
        .to_string();
    assert!(help.contains("--scylla-password"), "{help}");
    assert!(!help.contains("s3cret"), "{help}");
    let help = parse(&["rfq", "--config", path, "producer", "--help"])
        .unwrap_err()
        .to_string();
    assert!(
        help.contains("kafka:9092"),
        "other values from the file are shown"
    );
}

#[test]
fn bad_settings_are_refused_with_a_reason() {
    let refused = |argv: &[&str]| parse(argv).unwrap_err().to_string();
    // Beyond a day: the ScyllaDB store's answers would expire first.
    assert!(refused(&["rfq", "up", "--max-deadline-seconds", "86401"]).contains("86401"));
    assert!(refused(&["rfq", "up", "--region-precision", "13"]).contains("1 to 12"));
    for radius in ["0", "100001", "5km"] {
        let error = refused(&["rfq", "up", "--vicinity-radius-m", radius]);
        assert!(error.contains("vicinity-radius-m"), "{radius}: {error}");
    }
    // Every role that uses Kafka reads it: a deployment sets it once.
    for role in ["producer", "adapter", "aggregator", "migrate"] {
        let error = refused(&["rfq", role, "--vicinity-radius-m", "0"]);
        assert!(error.contains("1 to 100000 metres"), "{role}: {error}");
    }
    assert!(refused(&["rfq", "up", "--kafka-option", "novalue"]).contains("KEY=VALUE"));
    let file = settings_file("fleet-per-regoin: 3\n");
    let path = file.path().to_str().unwrap();
    let error = refused(&["rfq", "--config", path, "up"]);
    assert!(error.contains("fleet-per-regoin"), "{error}");
    let file = settings_file("brokers: [a:9092, b:9092]\n");
    let path = file.path().to_str().unwrap();
    let error = refused(&["rfq", "--config", path, "up"]);
    assert!(error.contains("brokers takes one value"), "{error}");
    let file = settings_file("aggregator:\n  http-addr: 127.0.0.1:1\n");
    let path = file.path().to_str().unwrap();
    let error = refused(&["rfq", "--config", path, "aggregator"]);
    assert!(
        error.contains("`rfq aggregator` has no setting \"http-addr\""),
        "{error}"
    );
}
