use super::*;
use crate::front::batches::tests::batch;
use kafka_protocol::records::Compression;

#[test]
fn the_end_of_served_batches_counts_whole_batches_only() {
    let one = batch(Compression::None, 3, 4);
    let mut two = one.to_vec();
    two.extend_from_slice(&one);
    // The second batch as if at base offset 3.
    let at = one.len();
    two[at..at + 8].copy_from_slice(&3i64.to_be_bytes());
    assert_eq!(end_of(&one), Some(3));
    assert_eq!(end_of(&two), Some(6));
    assert_eq!(
        end_of(&two[..two.len() - 1]),
        Some(3),
        "a cut batch is not counted"
    );
    assert_eq!(end_of(&[]), None);
}

fn answer(partitions: &[(i32, i64)]) -> FetchResponse {
    use kafka_protocol::messages::{
        TopicName,
        fetch_response::{FetchableTopicResponse, PartitionData},
    };
    FetchResponse::default().with_responses(vec![
        FetchableTopicResponse::default()
            .with_topic(TopicName("t".into()))
            .with_partitions(
                partitions
                    .iter()
                    .map(|(index, hw)| {
                        PartitionData::default()
                            .with_partition_index(*index)
                            .with_high_watermark(*hw)
                    })
                    .collect(),
            ),
    ])
}

fn request(partitions: &[i32]) -> FetchRequest {
    use kafka_protocol::messages::{
        TopicName,
        fetch_request::{FetchPartition, FetchTopic},
    };
    FetchRequest::default()
        .with_max_wait_ms(500)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName("t".into()))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|p| FetchPartition::default().with_partition(*p))
                        .collect(),
                ),
        ])
}

#[test]
fn a_woken_fetch_asks_for_its_woken_partitions_and_keeps_the_others_answer() {
    let fetch = request(&[0, 1, 2, 3]);
    let woken = vec![("t".to_owned(), 2)];
    let asked = narrowed(&fetch, &woken, true);
    assert_eq!(asked.max_wait_ms, 0);
    assert_eq!(asked.topics.len(), 1);
    let asked: Vec<i32> = asked.topics[0]
        .partitions
        .iter()
        .map(|p| p.partition)
        .collect();
    assert_eq!(asked, vec![2]);
    assert_eq!(
        narrowed(&fetch, &woken, false).topics[0].partitions.len(),
        4
    );

    let all = merged(answer(&[(0, 5), (1, 6), (2, 7), (3, 8)]), answer(&[(2, 9)]));
    let marks: Vec<(i32, i64)> = all.responses[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.high_watermark))
        .collect();
    assert_eq!(marks, vec![(0, 5), (1, 6), (2, 9), (3, 8)]);
}

#[test]
fn a_partition_answered_empty_below_an_acknowledged_end_is_lagging() {
    let tails = Arc::new(Tails::default());
    let filter = Fetch::new(tails.clone());
    let fetch = request(&[0, 1]);
    tails.produced([(("t".to_owned(), 1), 4)]);
    // Both asked at offset 0, both answered without records.
    let lagging = filter.lagging(&fetch, &answer(&[(0, 0), (1, 0)]));
    assert_eq!(lagging, vec![("t".to_owned(), 1)]);
}

#[test]
fn the_same_fetch_in_another_order_is_the_same_fetch() {
    let a = request(&[0, 1, 2]);
    let b = request(&[2, 0, 1]);
    let frame = |f: &FetchRequest| {
        let header = kafka_protocol::messages::RequestHeader::default()
            .with_request_api_key(ApiKey::Fetch as i16)
            .with_request_api_version(11)
            .with_correlation_id(7);
        super::super::wire::request_frame(ApiKey::Fetch, &header, f)
    };
    let (ra, rb) = (
        Request::parse(frame(&a).unwrap()).unwrap(),
        Request::parse(frame(&b).unwrap()).unwrap(),
    );
    assert_eq!(fingerprint(&ra, &a).unwrap(), fingerprint(&rb, &b).unwrap());
    assert_ne!(ra.frame, rb.frame);
}
