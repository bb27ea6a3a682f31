use super::*;
use rdkafka::types::RDKafkaErrorCode;

fn letter<'a>(key: Option<&'a [u8]>, value: Option<&'a [u8]>) -> DeadLetter<'a> {
    DeadLetter {
        key,
        value,
        source: DeadLetterSource {
            topic: "t",
            partition: 0,
            offset: 7,
        },
        destination: None,
        kind: DeadLetterKind::Decode,
        reason: "r",
        provider: None,
    }
}

#[test]
fn small_records_are_copied_whole_and_large_ones_cut() {
    let small = vec![1_u8; MAX_COPIED_VALUE];
    let whole = letter(Some(b"k"), Some(&small));
    assert_eq!(CopyMode::of(&whole), CopyMode::Whole);
    assert_eq!(
        CopyMode::Whole.apply(&whole),
        (Some(&b"k"[..]), Some(&small[..]))
    );

    let large = vec![2_u8; 1_000_000];
    let cut = letter(Some(b"k"), Some(&large));
    assert_eq!(CopyMode::of(&cut), CopyMode::Truncated);
    let (key, value) = CopyMode::Truncated.apply(&cut);
    assert_eq!(key, Some(&b"k"[..]));
    assert_eq!(value.map(<[u8]>::len), Some(MAX_COPIED_VALUE));

    let long_key = vec![3_u8; MAX_COPIED_KEY + 1];
    let cut = letter(Some(&long_key), None);
    assert_eq!(CopyMode::of(&cut), CopyMode::Truncated);
    let (key, value) = CopyMode::Truncated.apply(&cut);
    assert_eq!(key.map(<[u8]>::len), Some(MAX_COPIED_KEY));
    assert_eq!(value, None);

    assert_eq!(CopyMode::Reference.apply(&cut), (None, None));
    assert_eq!(CopyMode::of(&letter(None, None)), CopyMode::Whole);
}

#[test]
fn size_refusals_are_told_from_failures_of_the_moment() {
    let refused = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
    assert!(refused_for_good(&refused));
    let down = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
    assert!(!refused_for_good(&down));
    let transport = KafkaError::MessageProduction(RDKafkaErrorCode::BrokerTransportFailure);
    assert!(!refused_for_good(&transport));
}

#[test]
fn reasons_are_bounded_at_a_character_boundary() {
    assert_eq!(bounded("short", 10), "short");
    let long = "é".repeat(5_000);
    let cut = bounded(&long, MAX_REASON);
    assert!(cut.len() <= MAX_REASON + 32, "{}", cut.len());
    assert!(cut.ends_with("(10000 bytes)"), "{cut}");
}

#[test]
fn kinds_are_a_small_set_of_distinct_labels() {
    let labels: std::collections::HashSet<_> =
        DeadLetterKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(labels.len(), DeadLetterKind::ALL.len());
    assert!(
        labels
            .iter()
            .all(|l| l.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
    );
}
