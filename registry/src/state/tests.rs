use super::*;

const V1: &str =
    r#"{"type":"record","name":"Quote","namespace":"t","fields":[{"name":"price","type":"long"}]}"#;
/// V1 plus an optional field with a default: BACKWARD compatible.
const V2: &str = r#"{"type":"record","name":"Quote","namespace":"t","fields":[{"name":"price","type":"long"},{"name":"note","type":["null","string"],"default":null}]}"#;
/// V1 plus a field without a default: a new reader cannot read old data.
const BREAKING: &str = r#"{"type":"record","name":"Quote","namespace":"t","fields":[{"name":"price","type":"long"},{"name":"eta","type":"int"}]}"#;

/// Registers through the state alone, applying what it decides.
fn register(state: &mut Schemas, subject: &str, text: &str) -> Result<Version, RegistryError> {
    match state.register(subject, text)? {
        Registration::Existing(version) => Ok(version),
        Registration::New(event) => {
            state.apply(&event);
            match event {
                Event::Schema { version, id, .. } => Ok(Version { version, id }),
                Event::Config { .. } => unreachable!(),
            }
        }
    }
}

#[test]
fn ids_are_global_and_a_schema_registered_twice_is_the_same_version() {
    let mut state = Schemas::default();
    let first = register(&mut state, "a-value", V1).unwrap();
    assert_eq!(first, Version { version: 1, id: 1 });
    // The same schema, written differently: the same version.
    let spaced = V1.replace(',', " , ");
    assert_eq!(register(&mut state, "a-value", &spaced).unwrap(), first);
    // The same schema under another subject shares its id.
    assert_eq!(
        register(&mut state, "b-value", V1).unwrap(),
        Version { version: 1, id: 1 }
    );
    assert_eq!(
        register(&mut state, "a-value", V2).unwrap(),
        Version { version: 2, id: 2 }
    );
    assert_eq!(state.lookup("a-value", V2).unwrap().version, 2);
    assert_eq!(state.version("a-value", VersionSpec::Latest).unwrap().id, 2);
    assert_eq!(state.subjects(), ["a-value", "b-value"]);
    assert_eq!(state.uses(1), [("a-value", 1), ("b-value", 1)]);
}

#[test]
fn backward_is_the_default_and_refuses_a_field_without_default() {
    let mut state = Schemas::default();
    register(&mut state, "q-value", V1).unwrap();
    let refused = register(&mut state, "q-value", BREAKING).unwrap_err();
    assert_eq!(refused.code(), 409);
    assert!(refused.to_string().contains("incompatible"), "{refused}");
    assert!(refused.to_string().contains("eta"), "{refused}");
    register(&mut state, "q-value", V2).unwrap();
    // NONE lets anything through.
    state.apply(&Event::Config {
        subject: Some("q-value".into()),
        level: Level::None,
    });
    assert_eq!(
        register(&mut state, "q-value", BREAKING).unwrap().version,
        3
    );
    assert_eq!(state.level(Some("q-value")), Level::None);
    assert_eq!(state.level(Some("other")), Level::Backward);
}

#[test]
fn forward_and_full_check_the_other_way() {
    let old = canonical(V2).unwrap().0;
    let new = canonical(V1).unwrap().0;
    // Dropping a field with a default: old readers fill it in.
    assert!(Level::Forward.allows(&old, &new).is_ok());
    assert!(Level::Backward.allows(&old, &new).is_ok());
    let breaking = canonical(BREAKING).unwrap().0;
    let v1 = canonical(V1).unwrap().0;
    assert!(Level::Forward.allows(&v1, &breaking).is_ok());
    assert!(Level::Full.allows(&v1, &breaking).is_err());
}

#[test]
fn unknown_things_are_named_with_confluent_codes() {
    let mut state = Schemas::default();
    register(&mut state, "a-value", V1).unwrap();
    assert_eq!(state.versions("nope").unwrap_err().code(), 40401);
    assert_eq!(
        state
            .version("a-value", VersionSpec::Number(9))
            .unwrap_err()
            .code(),
        40402
    );
    assert_eq!(state.schema(77).unwrap_err().code(), 40403);
    assert_eq!(state.lookup("a-value", V2).unwrap_err().code(), 40403);
    assert_eq!(VersionSpec::parse("x").unwrap_err().code(), 42202);
    assert_eq!(VersionSpec::parse("-1").unwrap(), VersionSpec::Latest);
    assert_eq!(state.register("a-value", "{").unwrap_err().code(), 42201);
    assert_eq!(Level::parse("SIDEWAYS").unwrap_err().code(), 42203);
    assert_eq!(
        Level::parse("FULL_TRANSITIVE").unwrap(),
        Level::FullTransitive
    );
}

#[test]
fn replaying_the_events_rebuilds_the_state() {
    let mut state = Schemas::default();
    let mut events = Vec::new();
    for (subject, text) in [("a-value", V1), ("a-value", V2), ("b-value", V1)] {
        if let Registration::New(event) = state.register(subject, text).unwrap() {
            state.apply(&event);
            events.push(event);
        }
    }
    let level = Event::Config {
        subject: None,
        level: Level::Full,
    };
    state.apply(&level);
    events.push(level);
    let json: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let mut replayed = Schemas::default();
    for text in &json {
        let event: Event = serde_json::from_str(text).unwrap();
        replayed.apply(&event);
        replayed.apply(&event); // a duplicate changes nothing
    }
    assert_eq!(replayed.subjects(), state.subjects());
    assert_eq!(
        replayed.versions("a-value").unwrap(),
        state.versions("a-value").unwrap()
    );
    assert_eq!(replayed.level(None), Level::Full);
    assert_eq!(replayed.schema(2).unwrap(), state.schema(2).unwrap());
}
